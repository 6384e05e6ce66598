// Command mlsdemo runs a real MLS session (RFC 9420) among N in-process
// clients and checks after every phase that all members see the same group.
//
//	mlsdemo [-n 10] [-suite 1] [-messages 1] [-updates 3] [-workers 0] [-batch 1000]
//		[-store sqlite|memory] [-dir DIR] [-cpuprofile FILE] [-quiet]
//
// The phases:
//
//  1. every client makes a signature key pair, a basic credential and a key
//     package (§10);
//  2. Alice (member 0) creates the group and adds everyone else in one
//     Commit whose Welcome carries the ratchet_tree extension (§12.4.3.3);
//  3. every other client joins from the Welcome;
//  4. every member sends -messages application messages that all others
//     decrypt (§6.3), each receiver in batches of at most -batch messages
//     (mls.Group.ProcessMessages: one storage transaction per batch);
//  5. restart: with -store sqlite the database is closed and reopened, and
//     every member reloads its group from it (mls.LoadGroup); with -store
//     memory every member reloads from its in-memory store;
//  6. -updates members in turn commit a self-update (a fresh path, §12.4.1)
//     that everyone else processes and merges;
//  7. Alice removes the last member (§12.1.3), everyone processes the
//     Commit, and the removed member can no longer read the group.
//
// After each phase the views of all active members are compared: epoch,
// epoch authenticator (§8.7), member list, tree hash (§7.8) and an exporter
// secret (§8.5). The command prints each phase and its time (and the
// process's CPU time in it), shows progress on standard error for large
// groups, and exits with status 1 when any check fails. Independent
// members work in parallel (-workers, default GOMAXPROCS): each has its own
// Group, storage and keys.
//
// Storage is SQLite by default (-store sqlite, providers/sqlitestore): one
// database file, mlsdemo.db in -dir or in a temporary directory removed at
// the end, in which every member has its own namespace; its default
// settings (synchronous=FULL, deleted records erased at every commit) make
// each transaction durable: a flush to stable storage and a checkpoint
// per transaction. Every send is one transaction; a receiver's batch of
// messages is one (RFC 9420 §9.2: the keys the batch consumed are deleted
// durably before its messages are accepted), so the messages phase costs
// about what it costs with -store memory (providers/memstore) plus one
// transaction per batch; twice as many receivers as workers are in flight,
// so that the cores stay busy while a batch waits for its flush, and eight
// times as many senders, whose transactions the store commits in groups
// (one flush for all the senders waiting).
// -cpuprofile FILE writes a CPU profile of the messages phase (go tool
// pprof).
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/cputime"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/sqlitestore"
)

func main() {
	var cfg config
	suite := flag.Uint("suite", 1, "cipher suite (RFC 9420 §17.1 registry value)")
	flag.IntVar(&cfg.n, "n", 10, "group size (at least 2)")
	flag.IntVar(&cfg.messages, "messages", 1, "application messages each member sends")
	flag.IntVar(&cfg.updates, "updates", 3, "self-update commits (by different members)")
	flag.IntVar(&cfg.workers, "workers", 0, "members processed in parallel (0: GOMAXPROCS)")
	flag.IntVar(&cfg.batch, "batch", defaultBatch, "most messages a member processes in one batch (one storage transaction)")
	flag.StringVar(&cfg.store, "store", "sqlite", "members' storage: sqlite (one database file) or memory")
	flag.StringVar(&cfg.dir, "dir", "", "directory of the SQLite database (default: a temporary directory, removed at the end)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the messages phase to this file (go tool pprof)")
	quiet := flag.Bool("quiet", false, "no progress indicator")
	flag.Parse()
	if *suite > 0xffff {
		fmt.Fprintln(os.Stderr, "mlsdemo: -suite out of range")
		os.Exit(2)
	}
	cfg.suite = codec.CipherSuite(*suite)
	if !*quiet && cfg.n >= 100 {
		cfg.progress = os.Stderr
		// A terminal gets a line redrawn in place; a pipe or file gets a
		// line every few seconds instead of megabytes of redraws.
		cfg.progressTerminal = isTerminal(os.Stderr)
	}
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mlsdemo: FAILED:", err)
		os.Exit(1)
	}
}

// defaultBatch is the default bound of a receiver's batch: a member of a
// group of 1,000 processes the 999 messages of the messages phase in one
// batch (one storage transaction), while with more members or -messages the
// results a batch holds until its transaction commits stay bounded (a few
// hundred KiB).
const defaultBatch = 1000

// config is the demo's parameters.
type config struct {
	n        int
	suite    codec.CipherSuite
	messages int
	updates  int
	workers  int
	// batch bounds the messages a receiver processes in one
	// ProcessMessages call (0: defaultBatch).
	batch int
	// progress, when not nil, receives a progress indicator: redrawn in
	// place (carriage returns) if progressTerminal, otherwise one line
	// every progressEvery (default 5 s).
	progress         io.Writer
	progressTerminal bool
	progressEvery    time.Duration
	// store is "sqlite" or "memory" ("" is memory); dir is the SQLite
	// database's directory ("" for a temporary one).
	store string
	dir   string
	// cpuProfile, when set, is the file that receives a CPU profile of
	// the messages phase.
	cpuProfile string
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// member is one client and, once it joined, its view of the group.
type member struct {
	name   string
	client *mls.Client
	kp     *mls.KeyPackageBundle
	group  *mls.Group
	// removed is set once the member merged the Commit removing it.
	removed bool
}

// demo is a running session.
type demo struct {
	cfg      config
	out      io.Writer
	provider providers.Provider
	gcfg     mls.GroupConfig
	members  []*member
	// welcome is the Welcome of the creating Commit, until all joined.
	welcome []byte
	// db is the members' database with -store sqlite, at dbPath.
	db     *sqlitestore.DB
	dbPath string
}

// phase is one step of the session.
type phase struct {
	name string
	fn   func() error
}

// newDemo checks cfg and prepares a session.
func newDemo(cfg config, out io.Writer) (*demo, error) {
	if cfg.n < 2 {
		return nil, fmt.Errorf("-n %d: a group needs at least 2 members", cfg.n)
	}
	if cfg.messages < 0 || cfg.updates < 0 {
		return nil, errors.New("-messages and -updates must not be negative")
	}
	if cfg.workers <= 0 {
		cfg.workers = runtime.GOMAXPROCS(0)
	}
	if cfg.batch < 0 {
		return nil, errors.New("-batch must not be negative")
	}
	if cfg.batch == 0 {
		cfg.batch = defaultBatch
	}
	d := &demo{
		cfg:      cfg,
		out:      out,
		provider: defaultcrypto.New(),
		// Welcomes carry the ratchet tree, so joiners need nothing else.
		gcfg: mls.GroupConfig{UseRatchetTreeExtension: true},
	}
	if _, err := d.provider.CipherSuite(cfg.suite); err != nil {
		return nil, err
	}
	switch cfg.store {
	case "", "memory", "sqlite":
	default:
		return nil, fmt.Errorf("-store %q: want sqlite or memory", cfg.store)
	}
	return d, nil
}

// phases returns the session's steps in order.
func (d *demo) phases() []phase {
	return []phase{
		{"key packages", d.keyPackages},
		{"create and add", d.createAndAdd},
		{"join", d.join},
		{"messages", d.sendMessages},
		{"restart", d.restart},
		{"self-updates", d.selfUpdates},
		{"remove", d.remove},
	}
}

// run runs the whole session and returns the first failed check.
func run(cfg config, out io.Writer) error {
	d, err := newDemo(cfg, out)
	if err != nil {
		return err
	}
	cfg = d.cfg
	fmt.Fprintf(out, "MLS demo: %d members, cipher suite 0x%04x (%v), %d worker(s)\n", cfg.n, uint16(cfg.suite), cfg.suite, cfg.workers)
	cleanup, err := d.openStore()
	if err != nil {
		return err
	}
	defer cleanup()
	total := time.Now()
	phases := d.phases()
	for i, p := range phases {
		fmt.Fprintf(out, "[%d/%d] %s\n", i+1, len(phases), p.name)
		stopProfile, err := d.profile(p.name)
		if err != nil {
			return err
		}
		start, cpu := time.Now(), cputime.Process()
		err = p.fn()
		stopProfile()
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Fprintf(out, "      %-16s %v%s\n", p.name+":", round(time.Since(start)), cpuNote(cpu))
	}
	fmt.Fprintf(out, "OK: all checks passed in %v\n", round(time.Since(total)))
	return nil
}

// profile starts the CPU profile of the phase name if it is the one
// profiled (-cpuprofile: the messages phase); the returned function stops
// it.
func (d *demo) profile(name string) (func(), error) {
	if d.cfg.cpuProfile == "" || name != "messages" {
		return func() {}, nil
	}
	f, err := os.Create(d.cfg.cpuProfile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// keyPackages gives every client a signature key pair and a credential, and
// everyone but Alice a key package in its storage.
func (d *demo) keyPackages() error {
	d.members = make([]*member, d.cfg.n)
	err := d.parallel("key packages", d.cfg.n, func(i int) error {
		name := fmt.Sprintf("member-%04d", i)
		if i == 0 {
			name = "alice"
		}
		signer, err := mls.GenerateSignatureKeyPair(d.provider, d.cfg.suite)
		if err != nil {
			return err
		}
		m := &member{name: name, client: &mls.Client{
			Provider:   d.provider,
			Storage:    d.storage(name),
			Signer:     signer,
			Credential: mls.NewBasicCredential([]byte(name)),
		}}
		if i > 0 {
			b := &mls.KeyPackageBuilder{Provider: d.provider, CipherSuite: d.cfg.suite, Credential: m.client.Credential, Signer: signer}
			if m.kp, err = b.BuildAndStore(m.client.Storage); err != nil {
				return err
			}
		}
		d.members[i] = m
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "      %d signature key pairs, %d key packages\n", d.cfg.n, d.cfg.n-1)
	return nil
}

// openStore opens the SQLite database (-store sqlite) and says where it is;
// the returned function closes it and removes a temporary directory.
func (d *demo) openStore() (func(), error) {
	if d.cfg.store != "sqlite" {
		fmt.Fprintln(d.out, "storage: in memory (providers/memstore), one store per member")
		return func() {}, nil
	}
	dir, tmp := d.cfg.dir, false
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "mlsdemo-"); err != nil {
			return nil, err
		}
		tmp = true
	}
	d.dbPath = filepath.Join(dir, "mlsdemo.db")
	var err error
	if d.db, err = sqlitestore.Open(d.dbPath, nil); err != nil {
		if tmp {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	where := d.dbPath
	if tmp {
		where += " (temporary, removed at the end; -dir keeps it)"
	}
	fmt.Fprintf(d.out, "storage: SQLite (providers/sqlitestore) %s, a namespace per member, synchronous=FULL, erase on commit\n", where)
	return func() {
		if d.db != nil {
			d.db.Close()
		}
		if tmp {
			os.RemoveAll(dir)
		}
	}, nil
}

// storage returns the storage of the member name.
func (d *demo) storage(name string) providers.Storage {
	if d.db != nil {
		return d.db.Store([]byte(name))
	}
	return memstore.New()
}

// restart closes and reopens the database (with -store sqlite) and has
// every member reload its group from storage.
func (d *demo) restart() error {
	if d.db != nil {
		if err := d.db.Close(); err != nil {
			return err
		}
		var err error
		if d.db, err = sqlitestore.Open(d.dbPath, nil); err != nil {
			return err
		}
	}
	groupID := d.members[0].group.GroupID()
	epoch := d.members[0].group.Epoch()
	err := d.parallel("reload", d.cfg.n, func(i int) error {
		m := d.members[i]
		if d.db != nil {
			m.client.Storage = d.db.Store([]byte(m.name))
		}
		g, err := mls.LoadGroup(m.client, groupID)
		if err != nil {
			return fmt.Errorf("%s: LoadGroup: %w", m.name, err)
		}
		m.group = g
		return nil
	})
	if err != nil {
		return err
	}
	if d.db != nil {
		fmt.Fprintf(d.out, "      closed and reopened the database; %d members reloaded their group from it\n", d.cfg.n)
	} else {
		fmt.Fprintf(d.out, "      %d members reloaded their group from their in-memory store\n", d.cfg.n)
	}
	return d.check(epoch, d.cfg.n)
}

// createAndAdd: Alice creates the group and adds everyone in one Commit.
func (d *demo) createAndAdd() error {
	alice := d.members[0]
	g, err := mls.NewGroup(alice.client, d.cfg.suite, d.gcfg, nil)
	if err != nil {
		return err
	}
	alice.group = g
	kps := make([]*codec.KeyPackage, 0, d.cfg.n-1)
	for _, m := range d.members[1:] {
		kps = append(kps, &m.kp.KeyPackage)
	}
	res, err := g.AddMembers(kps...)
	if err != nil {
		return err
	}
	if err := g.MergePendingCommit(); err != nil {
		return err
	}
	d.welcome = res.Welcome
	fmt.Fprintf(d.out, "      alice created group %x… and added %d members: Commit %d B, Welcome %d B (with ratchet tree), epoch %d\n",
		g.GroupID()[:4], len(kps), len(res.Commit), len(res.Welcome), g.Epoch())
	return d.check(1, d.cfg.n)
}

// join: every other client joins from the Welcome.
func (d *demo) join() error {
	err := d.parallel("join", d.cfg.n-1, func(i int) error {
		m := d.members[i+1]
		g, err := mls.JoinFromWelcome(m.client, d.welcome, nil, d.gcfg)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		if g.OwnLeafIndex() != mls.LeafIndex(i+1) {
			return fmt.Errorf("%s: joined at leaf %d, want %d", m.name, g.OwnLeafIndex(), i+1)
		}
		m.group = g
		return nil
	})
	if err != nil {
		return err
	}
	d.welcome = nil
	fmt.Fprintf(d.out, "      %d members joined from the Welcome\n", d.cfg.n-1)
	return d.check(1, d.cfg.n)
}

// sendMessages: every member sends its messages, then every member decrypts
// all the others' (members work in parallel; each Group is used by one
// goroutine at a time). A receiver processes its incoming messages in
// batches of at most cfg.batch (mls.Group.ProcessMessages): each batch is
// one storage transaction, so with SQLite one durable commit per batch
// instead of one per message. Every message is checked: accepted, its
// plaintext, and its sender's identity.
func (d *demo) sendMessages() error {
	n, k := d.cfg.n, d.cfg.messages
	type outgoing struct {
		ct, plain []byte
		sender    int
	}
	msgs := make([][]outgoing, n)
	start := time.Now()
	// With SQLite a send waits for its transaction's flush: many senders
	// at once share flushes (sqlitestore's group commit).
	senders := d.cfg.workers
	if d.db != nil {
		senders *= 8
	}
	err := d.parallelOn(senders, "send", n, func(i int) error {
		m := d.members[i]
		for j := range k {
			p := plaintext(m.name, j)
			ct, err := m.group.SendApplicationMessage(p, nil)
			if err != nil {
				return fmt.Errorf("%s sends: %w", m.name, err)
			}
			msgs[i] = append(msgs[i], outgoing{ct: ct, plain: p, sender: i})
		}
		return nil
	})
	if err != nil {
		return err
	}
	sent := time.Since(start)
	names := make([][]byte, n)
	for i, m := range d.members {
		names[i] = []byte(m.name)
	}
	start = time.Now()
	var decrypted, batches atomic.Int64
	// With SQLite a batch ends with a flush to stable storage, during
	// which its receiver waits: twice as many receivers as workers keep
	// the cores busy meanwhile.
	receivers := d.cfg.workers
	if d.db != nil {
		receivers *= 2
	}
	err = d.parallelOn(receivers, "receive", n, func(r int) error {
		rm := d.members[r]
		batch := make([][]byte, 0, min(d.cfg.batch, (n-1)*k))
		what := make([]outgoing, 0, cap(batch))
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			res, err := rm.group.ProcessMessages(batch)
			if err != nil {
				return fmt.Errorf("%s storing a batch of %d messages: %w", rm.name, len(batch), err)
			}
			for i, x := range res {
				w := what[i]
				s := d.members[w.sender]
				if x.Err != nil {
					return fmt.Errorf("%s decrypting a message of %s: %w", rm.name, s.name, x.Err)
				}
				pm := x.Message
				if pm.Kind != mls.KindApplication || !bytes.Equal(pm.ApplicationData, w.plain) {
					return fmt.Errorf("%s got a wrong message from %s", rm.name, s.name)
				}
				if !bytes.Equal(pm.SenderCredential.Identity(), names[w.sender]) {
					return fmt.Errorf("%s: message of %s attributed to %q", rm.name, s.name, pm.SenderCredential.Identity())
				}
			}
			decrypted.Add(int64(len(res)))
			batches.Add(1)
			batch, what = batch[:0], what[:0]
			return nil
		}
		for s := range n {
			if s == r {
				continue
			}
			for _, m := range msgs[s] {
				batch, what = append(batch, m.ct), append(what, m)
				if len(batch) == d.cfg.batch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		return flush()
	})
	if err != nil {
		return err
	}
	recv := time.Since(start)
	fmt.Fprintf(d.out, "      %d messages sent (%v), %d decryptions by the other members in %d batches (%v)\n", n*k, round(sent), decrypted.Load(), batches.Load(), round(recv))
	return d.check(1, n)
}

func plaintext(sender string, j int) []byte {
	return fmt.Appendf(nil, "message %d from %s", j, sender)
}

// selfUpdates: members spread over the tree commit a self-update in turn;
// everyone else processes and merges it.
func (d *demo) selfUpdates() error {
	n := d.cfg.n
	for u := range d.cfg.updates {
		c := (u + 1) * n / (d.cfg.updates + 1) % n
		committer := d.members[c]
		start := time.Now()
		res, err := committer.group.SelfUpdate(nil)
		if err != nil {
			return fmt.Errorf("%s commits: %w", committer.name, err)
		}
		if err := committer.group.MergePendingCommit(); err != nil {
			return err
		}
		created := time.Since(start)
		start = time.Now()
		if err := d.processAll(fmt.Sprintf("update %d", u+1), c, res.Commit, -1); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "      %s committed a self-update (%d B, %v); %d members processed it (%v); epoch %d\n",
			committer.name, len(res.Commit), round(created), n-1, round(time.Since(start)), committer.group.Epoch())
		if err := d.check(committer.group.Epoch(), n); err != nil {
			return err
		}
	}
	return nil
}

// processAll has every active member but the committer process and merge a
// Commit; the member at leaf removed, if any, must find itself removed.
func (d *demo) processAll(label string, committer int, commit []byte, removed int) error {
	return d.parallel(label, d.cfg.n, func(i int) error {
		m := d.members[i]
		if i == committer || m.removed {
			return nil
		}
		pm, err := m.group.ProcessMessage(commit)
		if err != nil {
			return fmt.Errorf("%s processing the Commit: %w", m.name, err)
		}
		if pm.Kind != mls.KindCommit {
			return fmt.Errorf("%s: processed a %v, not a Commit", m.name, pm.Kind)
		}
		if got, want := pm.Commit.SelfRemoved(), i == removed; got != want {
			return fmt.Errorf("%s: SelfRemoved = %v, want %v", m.name, got, want)
		}
		if err := m.group.MergeStagedCommit(pm.Commit); err != nil {
			return fmt.Errorf("%s merging the Commit: %w", m.name, err)
		}
		if i == removed {
			m.removed = true
			if m.group.Active() {
				return fmt.Errorf("%s is still active after its removal", m.name)
			}
		}
		return nil
	})
}

// remove: Alice removes the last member; afterwards the removed member
// cannot decrypt the group's messages.
func (d *demo) remove() error {
	n := d.cfg.n
	alice, gone := d.members[0], d.members[n-1]
	start := time.Now()
	res, err := alice.group.RemoveMembers(gone.group.OwnLeafIndex())
	if err != nil {
		return err
	}
	if err := alice.group.MergePendingCommit(); err != nil {
		return err
	}
	created := time.Since(start)
	start = time.Now()
	if err := d.processAll("remove", 0, res.Commit, n-1); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "      alice removed %s (Commit %d B, %v); %d members processed it (%v); epoch %d, %d members\n",
		gone.name, len(res.Commit), round(created), n-1, round(time.Since(start)), alice.group.Epoch(), alice.group.MemberCount())
	if err := d.check(alice.group.Epoch(), n-1); err != nil {
		return err
	}
	// The removed member keeps its last state but cannot read the new epoch.
	ct, err := alice.group.SendApplicationMessage([]byte("after the removal"), nil)
	if err != nil {
		return err
	}
	if _, err := gone.group.ProcessMessage(ct); err == nil {
		return fmt.Errorf("%s decrypted a message sent after its removal", gone.name)
	}
	if _, err := gone.group.SendApplicationMessage([]byte("still here?"), nil); !errors.Is(err, mls.ErrInactive) {
		return fmt.Errorf("%s could still send after its removal: %v", gone.name, err)
	}
	for _, m := range d.members[1 : n-1] {
		pm, err := m.group.ProcessMessage(ct)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		if string(pm.ApplicationData) != "after the removal" {
			return fmt.Errorf("%s decrypted the wrong message", m.name)
		}
		if n > 40 { // one remaining member suffices to show it for large groups
			break
		}
	}
	fmt.Fprintf(d.out, "      %s can neither read nor send any more\n", gone.name)
	return nil
}

// view is what every member of an epoch must agree on.
type view struct {
	epoch         uint64
	authenticator []byte
	treeHash      []byte
	exporter      []byte
	// members is a digest of the member list (leaf index, identity,
	// signature key, encryption key).
	members [32]byte
	count   int
}

func viewOf(g *mls.Group) (view, error) {
	exp, err := g.Export("mlsdemo", []byte("view check"), 32)
	if err != nil {
		return view{}, err
	}
	// Each member's leaf index (4 bytes) and length-prefixed identity,
	// signature key and encryption key, in one buffer.
	h := sha256.New()
	ms := g.Members()
	var buf []byte
	for _, m := range ms {
		buf = binary.BigEndian.AppendUint32(buf[:0], uint32(m.Index))
		for _, f := range [][]byte{m.Credential.Identity(), m.SignatureKey, m.EncryptionKey} {
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(f)))
			buf = append(buf, f...)
		}
		h.Write(buf)
	}
	v := view{epoch: g.Epoch(), authenticator: g.EpochAuthenticator(), treeHash: g.TreeHash(), exporter: exp, count: len(ms)}
	h.Sum(v.members[:0])
	return v, nil
}

func (v *view) diff(o *view) string {
	switch {
	case v.epoch != o.epoch:
		return fmt.Sprintf("epoch %d vs %d", v.epoch, o.epoch)
	case !bytes.Equal(v.authenticator, o.authenticator):
		return "epoch authenticator differs"
	case !bytes.Equal(v.treeHash, o.treeHash):
		return "tree hash differs"
	case v.members != o.members:
		return "member list differs"
	case !bytes.Equal(v.exporter, o.exporter):
		return "exporter secret differs"
	}
	return ""
}

// check compares the views of all active members with Alice's, and checks
// the epoch and the member count.
func (d *demo) check(epoch uint64, count int) error {
	ref, err := viewOf(d.members[0].group)
	if err != nil {
		return err
	}
	if ref.epoch != epoch || ref.count != count {
		return fmt.Errorf("alice is in epoch %d with %d members, want epoch %d with %d", ref.epoch, ref.count, epoch, count)
	}
	active := 1
	var mu sync.Mutex
	err = d.parallel("check", d.cfg.n-1, func(i int) error {
		m := d.members[i+1]
		if m.removed || m.group == nil {
			return nil
		}
		v, err := viewOf(m.group)
		if err != nil {
			return err
		}
		if s := v.diff(&ref); s != "" {
			return fmt.Errorf("check failed: %s and alice disagree: %s", m.name, s)
		}
		mu.Lock()
		active++
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "      check: %d view(s) agree on epoch %d, authenticator %x…, tree hash %x…, %d members, exporter %x…\n",
		active, ref.epoch, ref.authenticator[:6], ref.treeHash[:6], ref.count, ref.exporter[:6])
	return nil
}

// parallel runs fn(0..n-1) on cfg.workers goroutines and returns the first
// error; it shows a progress indicator when configured.
func (d *demo) parallel(label string, n int, fn func(i int) error) error {
	return d.parallelOn(d.cfg.workers, label, n, fn)
}

// parallelOn is parallel on the given number of goroutines.
func (d *demo) parallelOn(workers int, label string, n int, fn func(i int) error) error {
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
		mu         sync.Mutex
		first      error
		failed     atomic.Bool
	)
	stop, stopped := make(chan struct{}), make(chan struct{})
	if d.cfg.progress != nil && n >= 100 {
		every := 200 * time.Millisecond
		if !d.cfg.progressTerminal {
			every = d.cfg.progressEvery
			if every <= 0 {
				every = 5 * time.Second
			}
		}
		go func() {
			defer close(stopped)
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-stop:
					if d.cfg.progressTerminal {
						fmt.Fprint(d.cfg.progress, "\r\033[K")
					}
					return
				case <-t.C:
					if d.cfg.progressTerminal {
						fmt.Fprintf(d.cfg.progress, "\r      %-10s %d/%d", label, done.Load(), n)
					} else {
						fmt.Fprintf(d.cfg.progress, "      %-10s %d/%d\n", label, done.Load(), n)
					}
				}
			}
		}()
	}
	workers = min(workers, n)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					failed.Store(true)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if d.cfg.progress != nil && n >= 100 {
		<-stopped
	}
	return first
}

// cpuNote returns the process CPU time used since cpu (read from
// cputime.Process before a phase) as " (CPU …)", or nothing where the
// platform cannot tell. On a shared machine the wall time of a phase
// depends on the other work; its CPU time much less.
func cpuNote(cpu time.Duration) string {
	if !cputime.ProcessAvailable() {
		return ""
	}
	return fmt.Sprintf(" (CPU %v)", round(cputime.Process()-cpu))
}

func round(t time.Duration) time.Duration {
	switch {
	case t >= time.Second:
		return t.Round(time.Millisecond)
	case t >= time.Millisecond:
		return t.Round(10 * time.Microsecond)
	}
	return t.Round(time.Microsecond)
}
