package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/cputime"
	"github.com/mlskit/mlskit/mls"
)

// TestDemo runs the whole session for a small group.
func TestDemo(t *testing.T) {
	for _, n := range []int{2, 7} {
		var out bytes.Buffer
		cfg := config{n: n, suite: codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519, messages: 2, updates: 2}
		if err := run(cfg, &out); err != nil {
			t.Fatalf("n=%d: %v\n%s", n, err, out.String())
		}
		if !strings.Contains(out.String(), "OK: all checks passed") {
			t.Fatalf("n=%d: no success line:\n%s", n, out.String())
		}
		// Each phase's time comes with its CPU time where it can be read.
		if cputime.ProcessAvailable() && strings.Count(out.String(), " (CPU ") != 7 {
			t.Errorf("n=%d: want the CPU time of each of the 7 phases:\n%s", n, out.String())
		}
		if testing.Verbose() {
			t.Logf("n=%d:\n%s", n, out.String())
		}
	}
}

// TestDemoOtherSuite runs it with a P-256 suite and a single worker.
func TestDemoOtherSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	var out bytes.Buffer
	cfg := config{n: 4, suite: codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256, messages: 1, updates: 1, workers: 1}
	if err := run(cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
}

// TestDemoCheckFails shows that the view check catches a member whose
// state diverged, and that bad parameters are refused.
func TestDemoCheckFails(t *testing.T) {
	var out bytes.Buffer
	d, err := newDemo(config{n: 4, suite: codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519, messages: 1}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range d.phases()[:3] { // key packages, create, join
		if err := p.fn(); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
	}
	if err := d.check(1, 4); err != nil {
		t.Fatalf("check of a healthy group: %v", err)
	}
	// Member 2 alone merges a self-update: its view moves to epoch 2.
	m := d.members[2]
	if _, err := m.group.SelfUpdate(nil); err != nil {
		t.Fatal(err)
	}
	if err := m.group.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	err = d.check(1, 4)
	if err == nil || !strings.Contains(err.Error(), "member-0002 and alice disagree") {
		t.Fatalf("check of a diverged member: %v", err)
	}
	// Its member list differs too: its own leaf has a new encryption key.
	ref, err := viewOf(d.members[0].group)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := viewOf(m.group)
	if err != nil {
		t.Fatal(err)
	}
	if ref.members == moved.members {
		t.Fatal("the member list digest does not cover the encryption keys")
	}
	// A member in another group of the same epoch and size also differs.
	g, err := mls.NewGroup(d.members[3].client, d.cfg.suite, d.gcfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.members[2].group = d.members[1].group
	d.members[3].group = g
	if err := d.check(1, 4); err == nil {
		t.Fatal("check accepted a member of another group")
	}

	for _, cfg := range []config{{n: 1, suite: 1}, {n: 3, suite: 0x7777}, {n: 3, suite: 1, messages: -1}} {
		if err := run(cfg, &out); err == nil {
			t.Errorf("run(%+v) succeeded", cfg)
		}
	}
}

// TestProgressLines: without a terminal, progress comes as whole lines (no
// carriage returns or escape sequences), at the configured interval.
//
// The first item waits until a progress line has been written: timing the
// work against the ticker instead would fail whenever the ticker's
// goroutine is not scheduled before the work ends (a loaded machine), and
// once stop and a tick are both ready, select picks either.
func TestProgressLines(t *testing.T) {
	var progress lockedBuffer
	d := &demo{cfg: config{workers: 2, progress: &progress, progressEvery: time.Millisecond}}
	work := func(i int) error {
		for i == 0 && !strings.Contains(progress.String(), "\n") {
			time.Sleep(time.Millisecond)
		}
		return nil
	}
	if err := d.parallel("work", 100, work); err != nil {
		t.Fatal(err)
	}
	out := progress.String()
	if strings.ContainsAny(out, "\r\033") {
		t.Fatalf("progress has redraws: %q", out)
	}
	if !strings.Contains(out, "work") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("progress lines missing: %q", out)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDemoSQLite runs the session on a SQLite database, with the restart
// that reloads every member from it.
func TestDemoSQLite(t *testing.T) {
	var out bytes.Buffer
	cfg := config{n: 3, suite: codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519, messages: 1, updates: 1, store: "sqlite", dir: t.TempDir()}
	if err := run(cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"storage: SQLite", "reloaded their group", "OK: all checks passed"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
}
