package sqlitestore_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/sqlitestore"
)

// The kill test (TestKilledGroupSession) runs an MLS session of
// killMembers members, each in its own namespace of one database file, in
// a child process (this test binary, re-executed with killDirEnv set) and
// kills that child with SIGKILL at random moments.
//
// The child plays the delivery service too: it appends every message it
// produces, and every step a member completed (a message accepted, a
// Commit merged), to a log file in the same directory, one line per event
// written with a single write(2) once the step has returned. A SIGKILL
// loses no completed write(2) (the page cache survives the process), so
// after a kill the log says exactly what the members did, except for the
// one step in flight, which may or may not have reached the database (its
// line, if the kill cut it short, is removed by readKillLog).
//
// Log lines (byte strings in hex):
//
//	M <seq> <sender> <epoch> <app|commit> <message>   a message was produced
//	P <member> <seq> <epoch> <authenticator>          a member completed message seq:
//	                                                  accepted it (application), merged it
//	                                                  (Commit, the committer's own too);
//	                                                  epoch and authenticator are its own after
//
// After every kill the parent checks the database and every group, replays
// already accepted application messages (which must be refused), completes
// the interrupted step the way an application would (merge a pending
// Commit that was sent, clear one that was not, deliver what is
// undelivered), checks that the members converge on one epoch and
// authenticator, and runs a round of messages before the next child.
const (
	killDirEnv   = "SQLITESTORE_KILL_CHILD_DIR"
	killSeedEnv  = "SQLITESTORE_KILL_CHILD_SEED"
	killModeEnv  = "SQLITESTORE_KILL_CHILD_MODE"
	killCountEnv = "MLS_KILLS" // number of kills (default 150)
)

var (
	killMembers = []string{"alice", "bob", "carol", "dave"}
	killGroupID = []byte("kill-group")
	killConfig  = mls.GroupConfig{UseRatchetTreeExtension: true, MaxPastEpochs: 2}
)

func killOptions(mode string) *sqlitestore.Options {
	if mode == "normal" {
		return &sqlitestore.Options{Synchronous: sqlitestore.SyncNormal, Erasure: sqlitestore.EraseOnCheckpoint}
	}
	return nil // the defaults: SyncFull, EraseOnCommit
}

// killLog appends events to the session's log file.
type killLog struct{ f *os.File }

func openKillLog(dir string) (*killLog, error) {
	f, err := os.OpenFile(filepath.Join(dir, "events.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	return &killLog{f}, err
}

// event writes one line with one write(2).
func (l *killLog) event(format string, args ...any) error {
	_, err := l.f.Write([]byte(fmt.Sprintf(format, args...) + "\n"))
	return err
}

type killMsg struct {
	seq, sender int
	epoch       uint64
	commit      bool
	data        []byte
}

// killState is the log read back.
type killState struct {
	msgs []killMsg
	done []map[int]bool // per member: seqs completed
	// last P line of each member
	epoch []uint64
	auth  [][]byte
	// authOf is the authenticator of every epoch someone logged.
	authOf map[uint64][]byte
}

func readKillLog(dir string) (*killState, error) {
	b, err := os.ReadFile(filepath.Join(dir, "events.log"))
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(b, '\n'); i+1 != len(b) {
		// A torn last line: a SIGKILL can cut a write(2) to a regular
		// file short (the kernel checks for fatal signals between pages),
		// so a long line may be half written. The event did not complete;
		// cut it from the file too, or the next child's first line would
		// be appended to it.
		b = b[:i+1]
		if err := os.Truncate(filepath.Join(dir, "events.log"), int64(len(b))); err != nil {
			return nil, err
		}
	}
	st := &killState{authOf: map[uint64][]byte{}}
	for range killMembers {
		st.done = append(st.done, map[int]bool{})
	}
	st.epoch = make([]uint64, len(killMembers))
	st.auth = make([][]byte, len(killMembers))
	for n, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.Fields(line)
		bad := fmt.Errorf("log line %d: %q", n+1, line)
		switch {
		case len(f) == 6 && f[0] == "M":
			seq, e1 := strconv.Atoi(f[1])
			sender, e2 := strconv.Atoi(f[2])
			epoch, e3 := strconv.ParseUint(f[3], 10, 64)
			data, e4 := hex.DecodeString(f[5])
			if e1 != nil || e2 != nil || e3 != nil || e4 != nil || seq != len(st.msgs) {
				return nil, bad
			}
			st.msgs = append(st.msgs, killMsg{seq: seq, sender: sender, epoch: epoch, commit: f[4] == "commit", data: data})
		case len(f) == 5 && f[0] == "P":
			m, e1 := strconv.Atoi(f[1])
			seq, e2 := strconv.Atoi(f[2])
			epoch, e3 := strconv.ParseUint(f[3], 10, 64)
			auth, e4 := hex.DecodeString(f[4])
			if e1 != nil || e2 != nil || e3 != nil || e4 != nil || m < 0 || m >= len(killMembers) {
				return nil, bad
			}
			st.done[m][seq] = true
			st.epoch[m], st.auth[m] = epoch, auth
			if a, ok := st.authOf[epoch]; ok && !bytes.Equal(a, auth) {
				return nil, fmt.Errorf("%w: two authenticators for epoch %d", bad, epoch)
			}
			st.authOf[epoch] = auth
		default:
			return nil, bad
		}
	}
	return st, nil
}

// steps lists the steps of the session in the order the child runs them:
// for each message, the committer's merge of its own Commit, then each
// other member's processing.
func (st *killState) steps() [][2]int {
	var out [][2]int
	for _, m := range st.msgs {
		if m.commit {
			out = append(out, [2]int{m.seq, m.sender})
		}
		for j := range killMembers {
			if j != m.sender {
				out = append(out, [2]int{m.seq, j})
			}
		}
	}
	return out
}

// killSession is the members' groups on one open database.
type killSession struct {
	db      *sqlitestore.DB
	clients []*mls.Client
	groups  []*mls.Group
	log     *killLog
	next    int // the next message's seq
}

func killClient(db *sqlitestore.DB, i int) *mls.Client {
	return &mls.Client{
		Provider:   defaultcrypto.New(),
		Storage:    db.Store([]byte(killMembers[i])),
		Credential: mls.NewBasicCredential([]byte(killMembers[i])),
	}
}

// setupKillSession creates the group: the first member adds the others.
func setupKillSession(dir string) error {
	db, err := sqlitestore.Open(filepath.Join(dir, "mls.db"), killOptions("normal"))
	if err != nil {
		return err
	}
	defer db.Close()
	l, err := openKillLog(dir)
	if err != nil {
		return err
	}
	defer l.f.Close()
	var clients []*mls.Client
	var kps []*codec.KeyPackage
	for i := range killMembers {
		c := killClient(db, i)
		signer, err := mls.GenerateSignatureKeyPair(c.Provider, suite)
		if err != nil {
			return err
		}
		if err := signer.Store(c.Storage); err != nil {
			return err
		}
		c.Signer = signer
		b := &mls.KeyPackageBuilder{Provider: c.Provider, CipherSuite: suite, Credential: c.Credential, Signer: signer}
		kp, err := b.BuildAndStore(c.Storage)
		if err != nil {
			return err
		}
		clients = append(clients, c)
		kps = append(kps, &kp.KeyPackage)
	}
	g, err := mls.NewGroup(clients[0], suite, killConfig, &mls.CreateOptions{GroupID: killGroupID})
	if err != nil {
		return err
	}
	res, err := g.AddMembers(kps[1:]...)
	if err != nil {
		return err
	}
	if err := g.MergePendingCommit(); err != nil {
		return err
	}
	if err := l.event("P 0 -1 %d %x", g.Epoch(), g.EpochAuthenticator()); err != nil {
		return err
	}
	for i := 1; i < len(killMembers); i++ {
		gi, err := mls.JoinFromWelcome(clients[i], res.Welcome, nil, killConfig)
		if err != nil {
			return err
		}
		if err := l.event("P %d -1 %d %x", i, gi.Epoch(), gi.EpochAuthenticator()); err != nil {
			return err
		}
	}
	return nil
}

// openKillSession opens the database and loads every member's group.
func openKillSession(dir, mode string) (*killSession, error) {
	db, err := sqlitestore.Open(filepath.Join(dir, "mls.db"), killOptions(mode))
	if err != nil {
		return nil, fmt.Errorf("Open: %w", err)
	}
	s := &killSession{db: db}
	if s.log, err = openKillLog(dir); err != nil {
		db.Close()
		return nil, err
	}
	for i := range killMembers {
		c := killClient(db, i)
		g, err := mls.LoadGroup(c, killGroupID)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("LoadGroup(%s): %w", killMembers[i], err)
		}
		s.clients = append(s.clients, c)
		s.groups = append(s.groups, g)
	}
	return s, nil
}

func (s *killSession) close() {
	s.log.f.Close()
	s.db.Close()
}

func killText(seq int) []byte { return fmt.Appendf(nil, "message %d", seq) }

// completed logs that member j completed message seq.
func (s *killSession) completed(j, seq int) error {
	g := s.groups[j]
	return s.log.event("P %d %d %d %x", j, seq, g.Epoch(), g.EpochAuthenticator())
}

// deliver has member j process message m (and merge it if it is a Commit).
func (s *killSession) deliver(j int, m killMsg) error {
	g := s.groups[j]
	pm, err := g.ProcessMessage(m.data)
	if err != nil {
		return fmt.Errorf("%s processing message %d: %w", killMembers[j], m.seq, err)
	}
	if m.commit {
		if pm.Commit == nil {
			return fmt.Errorf("%s: message %d is no Commit", killMembers[j], m.seq)
		}
		if err := g.MergeStagedCommit(pm.Commit); err != nil {
			return fmt.Errorf("%s merging message %d: %w", killMembers[j], m.seq, err)
		}
	} else if !bytes.Equal(pm.ApplicationData, killText(m.seq)) {
		return fmt.Errorf("%s: message %d reads %q", killMembers[j], m.seq, pm.ApplicationData)
	}
	return s.completed(j, m.seq)
}

// send has member i send an application message or a self-update Commit,
// which every member then completes.
func (s *killSession) send(i int, commit bool) error {
	g := s.groups[i]
	m := killMsg{seq: s.next, sender: i, epoch: g.Epoch(), commit: commit}
	kind := "app"
	if commit {
		kind = "commit"
		res, err := g.SelfUpdate(nil)
		if err != nil {
			return fmt.Errorf("%s: SelfUpdate: %w", killMembers[i], err)
		}
		m.data = res.Commit
	} else {
		var err error
		if m.data, err = g.SendApplicationMessage(killText(m.seq), nil); err != nil {
			return fmt.Errorf("%s: SendApplicationMessage: %w", killMembers[i], err)
		}
	}
	if err := s.log.event("M %d %d %d %s %x", m.seq, i, m.epoch, kind, m.data); err != nil {
		return err
	}
	s.next++
	if commit {
		if err := g.MergePendingCommit(); err != nil {
			return fmt.Errorf("%s: MergePendingCommit: %w", killMembers[i], err)
		}
		if err := s.completed(i, m.seq); err != nil {
			return err
		}
	}
	for j := range killMembers {
		if j != i {
			if err := s.deliver(j, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// killChild runs the session until it is killed.
func killChild(dir string) {
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(1)
	}
	seed, _ := strconv.ParseUint(os.Getenv(killSeedEnv), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))
	st, err := readKillLog(dir)
	if err != nil {
		fail(err)
	}
	s, err := openKillSession(dir, os.Getenv(killModeEnv))
	if err != nil {
		fail(err)
	}
	s.next = len(st.msgs)
	fmt.Println("ready")
	for {
		if err := s.send(rng.IntN(len(killMembers)), rng.IntN(4) == 0); err != nil {
			fail(err)
		}
	}
}

func killEnvInt(t *testing.T, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return n
	}
	return def
}

// TestKilledGroupSession kills a process running an MLS session on an
// on-disk store with SIGKILL at random points, MLS_KILLS times (default
// 200, bounded by MLS_KILL_BUDGET, default 100s; MLS_KILL_SEED replays a
// run), and checks after every kill that every member loads, is at the
// epoch it last merged or the next, refuses replays of what it accepted,
// and converges with the others.
func TestKilledGroupSession(t *testing.T) {
	if dir := os.Getenv(killDirEnv); dir != "" {
		killChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("short")
	}
	kills := killEnvInt(t, killCountEnv, 150)
	seed := testseed.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	if err := setupKillSession(dir); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var stats killStats
	k := 0
	for ; k < kills; k++ {
		mode := "full"
		if k%2 == 1 {
			mode = "normal"
		}
		killOnce(t, dir, k, mode, rng.Uint64(), rng)
		checkAfterKill(t, dir, k, &stats)
	}
	st, err := readKillLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kills in %v: %d messages (%d Commits, last epoch %d); after the kills %d interrupted steps were found done, %d redone, %d pending Commits merged, %d cleared; %d replays refused",
		k, time.Since(start).Round(time.Millisecond), len(st.msgs), stats.commits(st), st.epoch[0],
		stats.foundDone, stats.redone, stats.merged, stats.cleared, stats.replays)
}

type killStats struct {
	foundDone, redone, merged, cleared, replays int
}

func (killStats) commits(st *killState) int {
	n := 0
	for _, m := range st.msgs {
		if m.commit {
			n++
		}
	}
	return n
}

// killOnce runs a child and kills it at a random moment: mostly after it
// loaded the groups (0-200 ms into the session), sometimes while it opens
// the database and loads the groups.
func killOnce(t *testing.T, dir string, k int, mode string, seed uint64, rng *rand.Rand) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledGroupSession$")
	cmd.Env = append(os.Environ(), killDirEnv+"="+dir, killSeedEnv+"="+strconv.FormatUint(seed, 10), killModeEnv+"="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var kill <-chan time.Time
	if rng.IntN(8) == 0 {
		kill = time.After(time.Duration(rng.IntN(30_000)) * time.Microsecond)
	}
	timeout := time.After(60 * time.Second)
	killed := false
	for lines != nil {
		select {
		case l, ok := <-lines:
			switch {
			case !ok:
				lines = nil
			case l == "ready" && kill == nil && !killed:
				kill = time.After(time.Duration(rng.IntN(200_000)) * time.Microsecond)
			case l != "ready":
				cmd.Process.Kill()
				t.Fatalf("kill %d: child: %s", k, l)
			}
		case <-kill:
			cmd.Process.Signal(syscall.SIGKILL)
			kill, killed = nil, true
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("kill %d: the child made no progress", k)
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("kill %d: the child ended otherwise than by SIGKILL: %v", k, err)
	}
}

// checkAfterKill checks the database and the groups after kill k, completes
// the interrupted step, and runs a round of messages.
func checkAfterKill(t *testing.T, dir string, k int, stats *killStats) {
	t.Helper()
	fatal := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("kill %d: %s", k, fmt.Sprintf(format, args...))
	}
	st, err := readKillLog(dir)
	if err != nil {
		fatal("%v", err)
	}
	s, err := openKillSession(dir, "normal")
	if err != nil {
		fatal("%v", err)
	}
	defer s.close()
	if err := s.db.Check(); err != nil {
		fatal("%v", err)
	}
	s.next = len(st.msgs)

	// The one step that may have reached the database without its P line.
	inflight := [2]int{-1, -1}
	for _, step := range st.steps() {
		if !st.done[step[1]][step[0]] {
			inflight = step
			break
		}
	}

	// Every member is at the epoch it last logged or, if its step in flight
	// was a merge, the next one; the authenticator is the logged one.
	for j, g := range s.groups {
		e := g.Epoch()
		switch {
		case e == st.epoch[j]:
		case e == st.epoch[j]+1 && inflight[1] == j && st.msgs[inflight[0]].commit:
		default:
			fatal("%s loaded at epoch %d, but last merged epoch %d (step in flight: message %d, member %d)",
				killMembers[j], e, st.epoch[j], inflight[0], inflight[1])
		}
		if a, ok := st.authOf[e]; ok && !bytes.Equal(a, g.EpochAuthenticator()) {
			fatal("%s at epoch %d has another epoch authenticator than the log", killMembers[j], e)
		}
	}

	// Replays of the application messages a member accepted are refused
	// (the most recent 24 of each member: the current and past epochs).
	for j, g := range s.groups {
		n := 0
		for i := len(st.msgs) - 1; i >= 0 && n < 24; i-- {
			m := st.msgs[i]
			if m.commit || !st.done[j][m.seq] {
				continue
			}
			n++
			if pm, err := g.ProcessMessage(m.data); err == nil {
				fatal("%s accepted message %d (epoch %d, %q) again after the restart", killMembers[j], m.seq, m.epoch, pm.ApplicationData)
			}
			stats.replays++
		}
	}

	// Complete the interrupted session as the application would: a
	// pending Commit that was sent is merged, one that was not is cleared.
	for j, g := range s.groups {
		if !g.HasPendingCommit() {
			continue
		}
		if inflight[1] == j && st.msgs[inflight[0]].commit && st.msgs[inflight[0]].sender == j && st.msgs[inflight[0]].epoch == g.Epoch() {
			if err := g.MergePendingCommit(); err != nil {
				fatal("%s: merging the pending Commit that was sent: %v", killMembers[j], err)
			}
			if err := s.completed(j, inflight[0]); err != nil {
				fatal("%v", err)
			}
			stats.merged++
			st.done[j][inflight[0]] = true
		} else {
			if err := g.ClearPendingCommit(); err != nil {
				fatal("%s: ClearPendingCommit: %v", killMembers[j], err)
			}
			stats.cleared++
		}
	}
	// Then every undelivered step, in order; only the step in flight may
	// turn out done already (a Commit merged, a message accepted).
	for _, step := range st.steps() {
		seq, j := step[0], step[1]
		if st.done[j][seq] {
			continue
		}
		m, g := st.msgs[seq], s.groups[j]
		if step == inflight {
			if m.commit && g.Epoch() == m.epoch+1 {
				stats.foundDone++
				if err := s.completed(j, seq); err != nil {
					fatal("%v", err)
				}
				continue
			}
			if !m.commit {
				pm, err := g.ProcessMessage(m.data)
				if err != nil {
					// Accepted before the kill: the key is used up.
					stats.foundDone++
				} else if !bytes.Equal(pm.ApplicationData, killText(seq)) {
					fatal("%s: message %d reads %q", killMembers[j], seq, pm.ApplicationData)
				} else {
					stats.redone++
				}
				if err := s.completed(j, seq); err != nil {
					fatal("%v", err)
				}
				continue
			}
			stats.redone++
		}
		if m.sender == j { // a Commit of j's that j no longer has pending
			fatal("%s: its Commit (message %d) was sent but neither merged nor pending", killMembers[j], seq)
		}
		if err := s.deliver(j, m); err != nil {
			fatal("%v", err)
		}
	}

	// The members agree.
	for j, g := range s.groups {
		if g.Epoch() != s.groups[0].Epoch() || !bytes.Equal(g.EpochAuthenticator(), s.groups[0].EpochAuthenticator()) {
			fatal("%s at epoch %d, %s at epoch %d, or other authenticators", killMembers[j], g.Epoch(), killMembers[0], s.groups[0].Epoch())
		}
		if g.HasPendingCommit() {
			fatal("%s still has a pending Commit", killMembers[j])
		}
	}
	// And go on: each member sends a message the others read.
	for i := range s.groups {
		if err := s.send(i, false); err != nil {
			fatal("after the restart: %v", err)
		}
	}
}
