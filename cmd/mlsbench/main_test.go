package main

import (
	"bytes"
	"fmt"
	"regexp"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/groupbench"
	"github.com/mlskit/mlskit/internal/primcount"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// TestRun measures every operation once or twice for tiny groups and checks
// the table has a line per operation and size.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	cfg := config{sizes: []int{2, 4}, suite: 1, reps: 1, budget: time.Millisecond}
	if err := run(cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"sign", "verify", "HPKE seal", "HPKE open", "DeriveKeyPair", "operation"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	ops := []string{"create group", "join", "send", "receive", "update commit", "update process", "add commit", "add process", "remove commit", "remove process", "first send", "first receive", "busy send", "busy receive"}
	for _, op := range ops {
		count := len(rowsOf(s, op))
		want := 2
		switch op {
		case "remove process", "first receive", "busy send", "busy receive":
			want = 1 // not measured for N=2
		}
		if count != want {
			t.Errorf("%d lines for %q, want %d", count, op, want)
		}
	}
	if !strings.Contains(s, "busy/quiet cpu after") {
		t.Error("output lacks the busy/quiet line")
	}
	if !strings.Contains(s, "first/quiet cpu of a sender's first message") {
		t.Error("output lacks the first/quiet line")
	}
	if got := strings.Count(s, "first send: the send's primitives alone"); got != 2 {
		t.Errorf("%d lines on the first send's primitives, want one per size", got)
	}
	if !strings.Contains(s, "(the send's primitives alone ") {
		t.Error("the busy/quiet line lacks the send's primitives alone")
	}
	for _, op := range []string{"update commit", "update process"} {
		checkPrimsLines(t, s, op, 2)
	}
	if got := strings.Count(s, "ratchet tree stored"); got != 2 {
		t.Errorf("%d lines on how the ratchet tree is stored, want one per size", got)
	}
	if testing.Verbose() {
		t.Log("\n" + s)
	}
}

// rowsOf returns the table rows of op in the output s.
func rowsOf(s, op string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), op+" ") {
			out = append(out, l)
		}
	}
	return out
}

// TestRunOps measures only the operations -ops names, and first receive
// at most N-2 times (one member that has not spoken for each) however
// many repetitions -reps allows.
func TestRunOps(t *testing.T) {
	ops, err := parseOps("join, first receive,update process")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cfg := config{sizes: []int{5}, suite: 1, reps: 5, budget: time.Hour, ops: ops}
	if err := run(cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, op := range operations {
		want := 0
		if ops[op] {
			want = 1
		}
		if got := len(rowsOf(s, op)); got != want {
			t.Errorf("%d rows of %q, want %d:\n%s", got, op, want, s)
		}
	}
	if r := rowsOf(s, "first receive"); len(r) == 1 {
		if f := strings.Fields(r[0]); len(f) < 6 || f[len(f)-5] != "3" { // reps, then written and store (2 fields each)
			t.Errorf("first receive not measured 3 times: %q", r[0])
		}
	}
	if !strings.Contains(s, "first receive: the senders' secret-tree paths took 0×1 1×1 2×1 steps") {
		// Leaves 4, 3, 2 of 5 (a tree of 8) after alice's path: 2 steps
		// from the root's right child, then 1 from the parent of 2 and 3,
		// then 0 (2 is 3's sibling), in some order.
		t.Errorf("first receive's path steps not given, or not 0, 1, 2 once each:\n%s", s)
	}
	if r := rowsOf(s, "update process"); len(r) == 1 && strings.Count(r[0], "—") > 2 {
		t.Errorf("update process row lacks its floors: %q", r[0])
	}
	if r := rowsOf(s, "join"); len(r) == 1 && strings.Contains(r[0], "—") {
		t.Errorf("join row lacks its floor or primitive floor: %q", r[0])
	}
	for _, bad := range []string{"join,bogus", "Join"} {
		if _, err := parseOps(bad); err == nil {
			t.Errorf("parseOps accepted %q", bad)
		}
	}
	if ops, err := parseOps(""); err != nil || ops != nil {
		t.Errorf("parseOps(\"\") = %v, %v", ops, err)
	}
}

func TestFloors(t *testing.T) {
	p := prims{verify: 50 * time.Microsecond, open: 40 * time.Microsecond}
	for _, c := range []struct {
		op   string
		n    int
		want time.Duration
	}{
		{"send", 1000, 27 * time.Microsecond},
		{"receive", 2, 54 * time.Microsecond},
		{"update commit", 2, 166 * time.Microsecond},
		{"update commit", 1024, 949 * time.Microsecond},
		{"update commit", 10, (79 + 4*87) * time.Microsecond},
		{"update commit", 1000, 949 * time.Microsecond},
		{"update commit", 10000, (79 + 14*87) * time.Microsecond},
		{"update process", 10, us(200 + 290.0*3/13)},
		{"update process", 2, 200 * time.Microsecond},
		{"update process", 10000, 490 * time.Microsecond},
		{"add commit", 2, 223 * time.Microsecond},
		{"add commit", 10000, 9700 * time.Microsecond},
		{"join", 1000, 50*time.Millisecond + 90*time.Microsecond},
		{"busy send", 1000, 27 * time.Microsecond},
		{"first send", 10000, 27 * time.Microsecond},
		{"busy receive", 10000, 54 * time.Microsecond},
	} {
		got := floorOf(c.op, c.n, 1, 0, p).single
		if d := got - c.want; d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("floor of %s at N=%d = %v, want %v", c.op, c.n, got, c.want)
		}
	}
	if f := floorOf("join", 1000, 2, 0, p); f.wall != 25*time.Millisecond+90*time.Microsecond {
		t.Errorf("join floor on 2 cores = %v", f.wall)
	}
	// The join floor's GroupInfo verify and HPKE open are priced for the
	// GroupInfo's size: a 2 MiB TBS hashed for the verify (3 ms a MiB)
	// and 2 MiB + 141 bytes of info hashed by SHA-256 (2 ms a MiB).
	big := p
	big.verifyMiB, big.hashMiB = 3*time.Millisecond, 2*time.Millisecond
	msg := 2<<20 + 16 + 65 + 100
	want := 25*time.Millisecond + 90*time.Microsecond + 6*time.Millisecond + 4*time.Millisecond
	if f := floorOf("join", 1000, 2, msg, big); f.wall-want < 0 || f.wall-want > time.Microsecond {
		t.Errorf("join floor on 2 cores for a %d-byte GroupInfo = %v, want %v", msg, f.wall, want)
	}
	if f := floorOf("join", 1000, 2, msg, p); f.wall != 25*time.Millisecond+90*time.Microsecond {
		t.Errorf("join floor without per-MiB costs = %v", f.wall)
	}
	if f := floorOf("join", 1000, 2, 40, big); f.wall != 25*time.Millisecond+90*time.Microsecond {
		t.Errorf("join floor for a GroupInfo shorter than the primitives' inputs = %v", f.wall)
	}
	rows := []row{{op: "verify", s: sample{cpu: 40 * time.Microsecond}}, {op: "verify 1MiB", s: sample{cpu: 3040 * time.Microsecond}},
		{op: "SHA-256 100B", s: sample{cpu: time.Microsecond}}, {op: "SHA-256 1MiB", s: sample{cpu: 2001 * time.Microsecond}}}
	if v, h := joinMiBCosts(rows); v != 3*time.Millisecond || h != 2*time.Millisecond {
		t.Errorf("joinMiBCosts = %v, %v, want 3ms, 2ms", v, h)
	}
	if v, h := joinMiBCosts(rows[:2]); v != 0 || h != 0 {
		t.Errorf("joinMiBCosts without SHA-256 = %v, %v, want 0", v, h)
	}
	if f := floorOf("create group", 10, 1, 0, p); f.single != 0 {
		t.Errorf("create group has no floor, got %v", f.single)
	}
	if _, err := parseSizes("2,x"); err == nil {
		t.Error("parseSizes accepted x")
	}
	if _, err := parseSizes("1"); err == nil {
		t.Error("parseSizes accepted 1")
	}
}

// TestPathLevels counts, with a counting provider, the key pairs and
// HPKE encryptions of alice's self-update and the key pairs of her
// processing of member 1's in the benchmark's groups, and checks that the
// floors count as many levels: a self-update derives the leaf's key pair
// and one per level, and encrypts one path secret per level (one
// resolution node each); its processing derives one key pair per level.
// A floor on log2 N levels (3.3 at N=10) would miss the fourth level's
// work that a 10-member group's 16-leaf tree requires.
func TestPathLevels(t *testing.T) {
	sizes := []int{2, 3, 10, 13}
	if testing.Short() {
		sizes = []int{2, 10}
	}
	for _, n := range sizes {
		p := primcount.NewProvider(defaultcrypto.New())
		f, err := groupbench.New(p, codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519, n, false)
		if err != nil {
			t.Fatal(err)
		}
		p.Reset()
		res, err := f.AliceGroup.SelfUpdate(nil)
		if err != nil {
			t.Fatal(err)
		}
		commit := p.Counts()
		if err := f.AliceGroup.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		if err := groupbench.MergeCommit(f.M1Group, res.Commit); err != nil {
			t.Fatal(err)
		}
		if res, err = f.M1Group.SelfUpdate(nil); err != nil {
			t.Fatal(err)
		}
		if err := f.M1Group.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		p.Reset()
		if err := groupbench.MergeCommit(f.AliceGroup, res.Commit); err != nil {
			t.Fatal(err)
		}
		process := p.Counts()

		d := pathLevels(n)
		if commit.SealBase != d || commit.DeriveKeyPair != d+1 || process.DeriveKeyPair != d {
			t.Errorf("N=%d: %d levels, but the self-update made %d encryptions and %d key pairs, its processing %d key pairs",
				n, d, commit.SealBase, commit.DeriveKeyPair, process.DeriveKeyPair)
		}
		pr := prims{}
		if got, want := floorOf("update commit", n, 1, 0, pr).single, us(79+87*float64(commit.SealBase)); got != want {
			t.Errorf("N=%d: update commit floor %v, want %v for %d levels", n, got, want, commit.SealBase)
		}
		if got, want := floorOf("update process", n, 1, 0, pr).single, us(200+290*float64(process.DeriveKeyPair-1)/13); got != want {
			t.Errorf("N=%d: update process floor %v, want %v for %d levels", n, got, want, process.DeriveKeyPair)
		}
	}
}

// TestFirstReceivePrimFloor: the first receive's primitive floor is
// Receive's and the median repetition's path: 2 HMACs a step, and 2 for
// the leaf's ratchet secrets.
func TestFirstReceivePrimFloor(t *testing.T) {
	k := primcount.Costs{X25519Base: 20 * time.Microsecond, X25519DH: 30 * time.Microsecond, HMAC: time.Microsecond,
		Hash: time.Microsecond, Sign: 20 * time.Microsecond, Verify: 50 * time.Microsecond, AEAD: time.Microsecond}
	if f := firstReceiveFloor(nil, k); f != 0 {
		t.Errorf("floor without steps: %v", f)
	}
	if f := firstReceiveFloor([]int{1}, primcount.Costs{}); f != 0 {
		t.Errorf("floor without costs: %v", f)
	}
	receive := k.Floor(primcount.Receive(), 0)
	for _, c := range []struct {
		steps []int
		hmacs int
	}{
		{[]int{0}, 2},
		{[]int{9, 0, 1, 0, 0}, 2},      // median 0
		{[]int{9, 0, 1, 1, 2}, 2 + 2},  // median 1
		{[]int{13, 3, 3, 0}, 2 + 2*3},  // lower middle 3
		{[]int{13, 13, 13, 0}, 2 + 26}, // median 13
	} {
		if got, want := firstReceiveFloor(c.steps, k), receive+time.Duration(c.hmacs)*k.HMAC; got != want {
			t.Errorf("steps %v: floor %v, want %v", c.steps, got, want)
		}
	}
}

// TestAddCommitPrimFloor: the add commit's primitive floor needs the
// Commit's and the GroupInfo's sizes, and each GroupInfo byte adds its
// signing, AEAD and hashing costs.
func TestAddCommitPrimFloor(t *testing.T) {
	k := primcount.Costs{X25519Base: 20 * time.Microsecond, X25519DH: 30 * time.Microsecond, HMAC: time.Microsecond,
		Hash: time.Microsecond, HashByte: 2, Sign: 20 * time.Microsecond, SignByte: 5,
		Verify: 50 * time.Microsecond, VerifyByte: 3, AEAD: time.Microsecond, AEADByte: 1,
		SignMiB: 5 << 20, AEADMiB: 1 << 20, HashMiB: 2 << 20}
	if f := primFloorOf("add commit", 100, false, 0, 1000, k); f != 0 {
		t.Errorf("floor without the Commit's size: %v", f)
	}
	if f := primFloorOf("add commit", 100, false, 500, 0, k); f != 0 {
		t.Errorf("floor without the GroupInfo's size: %v", f)
	}
	small := primFloorOf("add commit", 100, false, 500, 1000, k)
	big := primFloorOf("add commit", 100, false, 500, 2000, k)
	if small <= 0 || big-small != 1000*(5+1+2) {
		t.Errorf("floors %v and %v for GroupInfos of 1000 and 2000 bytes", small, big)
	}
	// Two signature checks, two signatures and one HPKE seal at least.
	if min := 2*k.Verify + 2*k.Sign + k.X25519Base + k.X25519DH; small < min {
		t.Errorf("floor %v below its signatures and seal %v", small, min)
	}
}

// TestPrimCostsBase: the fixed-base multiplication is priced at most at
// the provider's DeriveKeyPair less its two HMACs, and at its own
// measurement when that is lower.
func TestPrimCostsBase(t *testing.T) {
	rows := func(base, dkp, hmac time.Duration) []row {
		return []row{{op: "X25519 base", s: sample{cpu: base}}, {op: "DeriveKeyPair", s: sample{cpu: dkp}},
			{op: "HMAC", s: sample{cpu: hmac}}, {op: "X25519 DH", s: sample{cpu: 31 * time.Microsecond}}}
	}
	us := time.Microsecond
	for _, c := range []struct{ base, dkp, hmac, want time.Duration }{
		{29 * us, 21700 * time.Nanosecond, 300, 21100 * time.Nanosecond},
		{20 * us, 21700 * time.Nanosecond, 300, 20 * us},
		{29 * us, 0, 300, 29 * us}, // no DeriveKeyPair measured
	} {
		k := primCosts(rows(c.base, c.dkp, c.hmac))
		if k.X25519Base != c.want {
			t.Errorf("base %v, DeriveKeyPair %v, HMAC %v: X25519Base %v, want %v", c.base, c.dkp, c.hmac, k.X25519Base, c.want)
		}
		if k.X25519DH != 31*us {
			t.Errorf("X25519DH %v", k.X25519DH)
		}
	}
}

// TestRunSQLite runs the table once on the SQLite store.
func TestRunSQLite(t *testing.T) {
	st, err := parseStore("sqlite", "normal", "checkpoint", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.cleanup()
	var out bytes.Buffer
	cfg := config{sizes: []int{2}, suite: 1, reps: 1, budget: time.Millisecond, stores: []*stores{st}}
	if err := run(cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"storage: sqlite", "synchronous=NORMAL", "update process"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRunCompare runs the table on several stores, built once and
// restored to each, and checks the comparison has a line per operation
// and store.
func TestRunCompare(t *testing.T) {
	sts, err := parseStores("memory,sqlite:normal:1s,sqlite", "full", "commit", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range sts {
			s.cleanup()
		}
	}()
	var out bytes.Buffer
	cfg := config{sizes: []int{4}, suite: 1, reps: 1, budget: time.Millisecond, stores: sts}
	if err := run(cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	cmp := s[strings.Index(s, "compared with memory"):]
	for _, op := range []string{"send", "receive", "update commit", "update process", "busy receive"} {
		for _, st := range []string{"memory", "sqlite NORMAL, erase within 1s", "sqlite FULL, erase on commit"} {
			found := false
			for _, l := range strings.Split(cmp, "\n") {
				if strings.HasPrefix(l, op+" ") && strings.Contains(l, st) {
					found = true
				}
			}
			if !found {
				t.Errorf("no comparison line for %q on %q:\n%s", op, st, cmp)
			}
		}
	}
	for _, bad := range []string{"memory:full", "sqlite:fast", "sqlite:full:never", "sqlite:full:1s:x", "disk"} {
		if _, err := parseStores(bad, "full", "commit", t.TempDir()); err == nil {
			t.Errorf("parseStores accepted %q", bad)
		}
	}
	if testing.Verbose() {
		t.Log("\n" + s)
	}
}

// gcCycles returns the number of garbage collections completed so far.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestMeasureCollectsFirst: as testing.B, measure collects the garbage
// left by what ran before it, once, before the first repetition and
// outside it, so that a row is not charged for the rows before it.
// Automatic collections are off, so that only measure's can run.
func TestMeasureCollectsFirst(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	garbage := make([][]byte, 64)
	for i := range garbage {
		garbage[i] = make([]byte, 4096)
	}
	garbage = nil
	_ = garbage
	before := gcCycles()
	var seen []uint64
	cfg := config{reps: 3, budget: time.Hour, store: &stores{kind: "memory"}}
	if _, err := cfg.measure(nil, func() error { seen = append(seen, gcCycles()); return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Fatalf("%d repetitions, want 3", len(seen))
	}
	if seen[0] != before+1 {
		t.Errorf("%d collections before the first repetition, want 1", seen[0]-before)
	}
	if seen[2] != seen[0] {
		t.Errorf("%d collections between the repetitions of an op without setup, want 0", seen[2]-seen[0])
	}
}

// TestCreateGroupDeleted: the groups the create group row creates are
// deleted from alice's storage, so that the rows after it find the
// storage they would find without it.
func TestCreateGroupDeleted(t *testing.T) {
	st := &stores{kind: "memory"}
	f, err := groupbench.NewWithStorage(defaultcrypto.New(), 1, 3, false, st.newStorage)
	if err != nil {
		t.Fatal(err)
	}
	before, err := f.Alice.Storage.ListGroups()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{reps: 4, budget: time.Hour, store: st, ops: map[string]bool{"create group": true}}
	rows, _, err := cfg.groupOps(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].s.reps != 4 {
		t.Fatalf("rows %+v, want one of 4 repetitions", rows)
	}
	after, err := f.Alice.Storage.ListGroups()
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) || len(before) == 0 || !bytes.Equal(after[0], f.AliceGroup.GroupID()) {
		t.Errorf("alice's groups: %d before create group, %d after, want the fixture's only", len(before), len(after))
	}
}

// callLog is a cipher suite that logs the inputs of the calls whose
// sizes primitiveCalls chooses: the plaintext sizes of its AEAD seals,
// the output sizes of its Expand calls, how many of those were made alone
// (CipherSuite.Expand) and how many keys its Expanders were given. Its
// signers log the sizes they sign. order lists those calls as they were
// made: sign, seal, expand (alone or an Expander's), key (SetKey).
type callLog struct {
	providers.CipherSuite
	seals, expands, signs []int
	alone, keys           int
	order                 []string
}

func (l *callLog) reset() { *l = callLog{CipherSuite: l.CipherSuite} }

func (l *callLog) Seal(dst, key, nonce, pt, aad []byte) ([]byte, error) {
	l.seals = append(l.seals, len(pt))
	l.order = append(l.order, "seal")
	return l.CipherSuite.Seal(dst, key, nonce, pt, aad)
}

func (l *callLog) Expand(dst, prk, info []byte, n int) ([]byte, error) {
	l.alone++
	l.expands = append(l.expands, n)
	l.order = append(l.order, "expand")
	return l.CipherSuite.Expand(dst, prk, info, n)
}

func (l *callLog) NewExpander() providers.Expander {
	return &logExpander{Expander: providers.NewExpander(l.CipherSuite), l: l}
}

// signer returns a new signer of the suite that logs what it signs.
func (l *callLog) signer(t *testing.T) providers.Signer {
	t.Helper()
	priv, _, err := l.GenerateSignatureKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return logSigner{Signer: s, l: l}
}

type logExpander struct {
	providers.Expander
	l *callLog
}

func (x *logExpander) SetKey(prk []byte) error {
	x.l.keys++
	x.l.order = append(x.l.order, "key")
	return x.Expander.SetKey(prk)
}

func (x *logExpander) Expand(dst, info []byte, n int) ([]byte, error) {
	x.l.expands = append(x.l.expands, n)
	x.l.order = append(x.l.order, "expand")
	return x.Expander.Expand(dst, info, n)
}

type logSigner struct {
	providers.Signer
	l *callLog
}

func (s logSigner) Sign(msg []byte) ([]byte, error) {
	s.l.signs = append(s.l.signs, len(msg))
	s.l.order = append(s.l.order, "sign")
	return s.Signer.Sign(msg)
}

// newCallLog returns a callLog of suite 1 whose calls p counts.
func newCallLog(t *testing.T) (*primcount.Provider, *callLog) {
	t.Helper()
	p := primcount.NewProvider(defaultcrypto.New())
	cs, err := p.CipherSuite(1)
	if err != nil {
		t.Fatal(err)
	}
	return p, &callLog{CipherSuite: cs}
}

// TestSendPrimitives: the primitive calls that the first send's and the
// busy send's lines measure alone (primitiveCalls with sendInputs) are
// those the prim floor counts for a send (primcount.Send), each made once,
// on a send's inputs and in a send's order: a signature of 100 bytes, 3
// Expand calls under one key (the ratchet's key, nonce and next secret),
// the seal of the content, 2 under another (the sender data's key and
// nonce), the seal of the 12-byte SenderData.
func TestSendPrimitives(t *testing.T) {
	p, l := newCallLog(t)
	signer := l.signer(t)
	op, err := primitiveCalls(l, signer, nil, primcount.Send(), sendInputs(170))
	if err != nil {
		t.Fatal(err)
	}
	nh, nk, nn := l.HashSize(), l.AEADKeySize(), l.AEADNonceSize()
	for i := range 2 {
		p.Reset()
		l.reset()
		if err := op(); err != nil {
			t.Fatal(err)
		}
		if got, want := p.Counts(), primcount.Send(); got != want {
			t.Errorf("call %d: %v, want primcount.Send's %v", i, got, want)
		}
		if fmt.Sprint(l.signs) != "[100]" || fmt.Sprint(l.seals) != "[170 12]" {
			t.Errorf("call %d: signed %v and sealed %v bytes, want [100] and [170 12]", i, l.signs, l.seals)
		}
		if want := fmt.Sprint([]int{nk, nn, nh, nk, nn}); fmt.Sprint(l.expands) != want || l.keys != 2 || l.alone != 0 {
			t.Errorf("call %d: Expand of %v under %d Expander keys and %d alone, want %s under 2 keys", i, l.expands, l.keys, l.alone, want)
		}
		if got, want := strings.Join(l.order, " "), "sign key expand expand expand seal key expand expand seal"; got != want {
			t.Errorf("call %d: calls in the order %q, want %q", i, got, want)
		}
	}
	if _, err := primitiveCalls(l, signer, nil, primcount.Counts{Expand: 4}, sendInputs(170)); err == nil {
		t.Error("5 Expand calls grouped by key replayed as 4")
	}
}

// TestSendPrimsLine: the first send's line splits its excess over the
// quiet send into the primitives' (first − quiet) and the rest, signed;
// a negative part is named as noise, never clamped or left unexplained.
func TestSendPrimsLine(t *testing.T) {
	const note = "not a saving but noise between the medians of separate runs"
	sp := sendPrims{quiet: 20 * time.Microsecond, first: 22 * time.Microsecond}
	l := sp.firstLine(10000, 27*time.Microsecond, 24*time.Microsecond)
	for _, want := range []string{"take 22.0 µs cpu right after the same Commit, 20.0 µs warm", "of the first send's 3.0 µs over the quiet send, 2.0 µs is its primitives running cold, 1.0 µs the rest (mlskit's code running cold)"} {
		if !strings.Contains(l, want) {
			t.Errorf("line %q lacks %q", l, want)
		}
	}
	if strings.Contains(l, "negative") {
		t.Errorf("a line without a negative part explains one: %q", l)
	}
	for _, tc := range []struct {
		name        string
		sp          sendPrims
		first       time.Duration
		split, what string
	}{
		// The primitives ran 2 µs colder, the send only 1 µs: the rest
		// comes out at -1 µs.
		{"rest", sp, 25 * time.Microsecond, "of the first send's 1.0 µs over the quiet send, 2.0 µs is its primitives running cold, -1.0 µs the rest", "negative: the rest (-1.0 µs), " + note},
		// The primitives measured faster right after the Commit.
		{"primitives", sendPrims{quiet: 20 * time.Microsecond, first: 19500 * time.Nanosecond}, 27 * time.Microsecond, "of the first send's 3.0 µs over the quiet send, -0.5 µs is its primitives running cold, 3.5 µs the rest", "negative: the primitives' part (-0.5 µs), " + note},
		// The first send measured faster than the quiet one.
		{"excess", sendPrims{quiet: 20 * time.Microsecond, first: 21 * time.Microsecond}, 23 * time.Microsecond, "of the first send's -1.0 µs over the quiet send, 1.0 µs is its primitives running cold, -2.0 µs the rest", "negative: the excess (-1.0 µs) and the rest (-2.0 µs), " + note},
	} {
		l := tc.sp.firstLine(10, tc.first, 24*time.Microsecond)
		if !strings.Contains(l, tc.split) || !strings.HasSuffix(l, tc.what+", at least that large: what running cold costs there is below what this run resolves") {
			t.Errorf("negative %s: line %q lacks %q or does not end with %q", tc.name, l, tc.split, tc.what)
		}
	}
}

// primsLineRE matches a line of primsInPlace.line: the row, then X (in
// place), Y (the prim floor), Z (the row over it), A and B.
var primsLineRE = regexp.MustCompile(`^\s*\d+ ([a-z ]+): the floor's primitive calls alone take (\S+ \S+) cpu in place \((\S+ \S+) hot, the prim floor; \S+ \S+ back to back\): of the row's (\S+ \S+) over the prim floor, (\S+ \S+) is its primitives in place, (\S+ \S+) the rest \(mlskit's own code\)$`)

// parseDur parses a duration as fmtDur and fmtSigned print it, and
// returns the resolution it was printed at.
func parseDur(t *testing.T, s string) (d, res time.Duration) {
	t.Helper()
	num, unit, _ := strings.Cut(s, " ")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	switch unit {
	case "µs":
		return time.Duration(v * float64(time.Microsecond)), 100 * time.Nanosecond
	case "ms":
		return time.Duration(v * float64(time.Millisecond)), 10 * time.Microsecond
	}
	t.Fatalf("duration %q: unit %q", s, unit)
	return 0, 0
}

// checkPrimsLines checks that s, mlsbench's output for sizes sizes,
// has one line per size on op's primitives in place, after op's row of
// that size, consistent with it: its prim floor is the row's, the row's
// excess is its CPU time less that floor, and the excess splits into the
// primitives' (in place less the floor) and the rest.
func checkPrimsLines(t *testing.T, s, op string, sizes int) {
	t.Helper()
	rows := rowsOf(s, op)
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if m := primsLineRE.FindStringSubmatch(l); m != nil && m[1] == op {
			lines = append(lines, l)
		}
	}
	if len(lines) != sizes || len(rows) != sizes {
		t.Fatalf("%d rows and %d lines on %s's primitives in place, want %d each", len(rows), len(lines), op, sizes)
	}
	near := func(a, b, res time.Duration) bool { return a-b <= res && b-a <= res }
	for i, l := range lines {
		m := primsLineRE.FindStringSubmatch(l)
		f := strings.Fields(rows[i])
		cpu, r0 := parseDur(t, f[5]+" "+f[6])
		x, r1 := parseDur(t, m[2])
		y, r2 := parseDur(t, m[3])
		z, r3 := parseDur(t, m[4])
		a, r4 := parseDur(t, m[5])
		b, r5 := parseDur(t, m[6])
		res := max(r0, r1, r2, r3, r4, r5)
		if !strings.Contains(rows[i], " "+m[3]+" ") {
			t.Errorf("%s: the line's prim floor %s is not the row's: %q", op, m[3], rows[i])
		}
		if !near(z, cpu-y, 2*res) || !near(a, x-y, 2*res) || !near(a+b, z, 3*res) {
			t.Errorf("%s: inconsistent line (row cpu %v): %q", op, cpu, l)
		}
	}
}

// TestUpdatePrimitives: the primitive calls that the update rows' lines
// measure alone (primitiveCalls with handshakeInputs) are those the prim
// floor counts for the row (primcount.UpdateCommit,
// primcount.UpdateProcess), each made once per call, whatever the tree's
// depth, on the inputs primcount.Costs.Floor prices: the first signature
// over 100+msgLen bytes, the first seal over 32+msgLen, the others short,
// and each Expand under its own key.
func TestUpdatePrimitives(t *testing.T) {
	p, l := newCallLog(t)
	signer, peer := l.signer(t), l.signer(t)
	for _, tc := range []struct {
		name string
		c    primcount.Counts
	}{
		{"update commit d=1", primcount.UpdateCommit(1, 1)},
		{"update commit d=4", primcount.UpdateCommit(4, 4)},
		{"update commit fresh N=10", primcount.UpdateCommit(4, 9)},
		{"update process d=1", primcount.UpdateProcess(1)},
		{"update process d=14", primcount.UpdateProcess(14)},
		{"send", primcount.Send()},
		{"receive", primcount.Receive()},
		{"other calls", primcount.Counts{GenerateKeyPair: 2, HPKEPublicKey: 3, Extract: 1}},
	} {
		for _, msgLen := range []int{0, 1234} {
			t.Run(fmt.Sprintf("%s msg %d", tc.name, msgLen), func(t *testing.T) {
				op, err := primitiveCalls(l, signer, peer, tc.c, handshakeInputs(msgLen))
				if err != nil {
					t.Fatal(err)
				}
				for i := range 2 {
					p.Reset()
					l.reset()
					if err := op(); err != nil {
						t.Fatal(err)
					}
					if got := p.Counts(); got != tc.c {
						t.Errorf("call %d: %v, want %v", i, got, tc.c)
					}
					if tc.c.Sign > 0 && l.signs[0] != 100+msgLen {
						t.Errorf("call %d: signed %v bytes, the first %d", i, l.signs, 100+msgLen)
					}
					if tc.c.AEADSeal > 0 && l.seals[0] != 32+msgLen {
						t.Errorf("call %d: sealed %v bytes, the first %d", i, l.seals, 32+msgLen)
					}
					if l.alone != tc.c.Expand || l.keys != 0 {
						t.Errorf("call %d: %d Expand calls alone and %d Expander keys, want %d alone", i, l.alone, l.keys, tc.c.Expand)
					}
				}
			})
		}
	}
	if _, err := primitiveCalls(l, signer, peer, primcount.Counts{Export: 1}, handshakeInputs(0)); err == nil {
		t.Error("an HPKE export replayed, which the floor does not price")
	}
}

// TestPrimsInPlaceLine: the line splits the row's excess over its prim
// floor into its primitives' in place (in place − floor) and the rest.
func TestPrimsInPlaceLine(t *testing.T) {
	p := primsInPlace{inPlace: 150 * time.Microsecond, hot: 145 * time.Microsecond}
	l := p.line("update process", 10000, 190*time.Microsecond, 140*time.Microsecond)
	for _, want := range []string{"update process: the floor's primitive calls alone take 150.0 µs cpu in place (140.0 µs hot, the prim floor; 145.0 µs back to back)", "of the row's 50.0 µs over the prim floor, 10.0 µs is its primitives in place, 40.0 µs the rest (mlskit's own code)"} {
		if !strings.Contains(l, want) {
			t.Errorf("line %q lacks %q", l, want)
		}
	}
	if !primsLineRE.MatchString(l) {
		t.Errorf("line %q does not match primsLineRE", l)
	}
	if l := p.line("update commit", 2, 145*time.Microsecond, 148*time.Microsecond); !strings.Contains(l, "of the row's -3.0 µs over the prim floor, 2.0 µs is its primitives in place, -5.0 µs the rest") {
		t.Errorf("negative differences are not shown as such: %q", l)
	}
}
