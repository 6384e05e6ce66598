package mls_test

// Benchmarks of the group operations the performance chapter of the OpenMLS
// book lists (group creation, join, send and receive an application
// message, send and receive an update, add a member, remove a member), for
// cipher suite 1 and groups of 2, 10, 100 and 1,000 members (10,000 with
// MLSKIT_BENCH_10K=1: its setup alone takes minutes), next to the
// primitives they are made of, so that ratios come from one run:
//
//	go test -run '^$' -bench . -benchmem -benchtime=200ms ./mls/
//	MLSKIT_BENCH_10K=1 go test -run '^$' -bench '/N=10000$' -benchmem -timeout 60m ./mls/
//
// Each operation reports wall time (ns/op) and the process CPU time per
// operation (cpu-ns/op): on a machine shared with other work, wall time
// includes waiting for a core, and operations that run in parallel (Welcome
// encryption, path encryption, tree validation) use more CPU than wall
// time. The process CPU time includes the garbage collector's, so untimed
// preparation that allocates more than 1 MB is followed by runtime.GC().
//
// The N-member group is built once per size and shared by all benchmarks
// (fixtureFor): alice creates it by adding everyone in one Commit, member 1
// joins, and then the members at leaves 2, 4, 8, … commit a self-update each,
// so that every node of the copaths of leaves 0 and 1 is set: the state of a
// group whose members have updated (the OpenMLS book's "tree where every
// member has sent an update"), in which a path is encrypted to one key per
// level, as the floors assume. Right after creation, instead, all
// parent nodes are blank and a path is encrypted to every other leaf
// (MLSKIT_BENCH_FRESH_TREE=1 measures that state). Nothing is merged after
// setup, so every benchmark starts in the same epoch: creating a Commit is
// measured as Commit+ClearPendingCommit; processing one as ProcessMessage of
// a fresh Commit made by another member with the timer stopped (a
// PrivateMessage's key is consumed when it is processed, RFC 9420 §9.2, so a
// Commit cannot be processed twice). Who sends what keeps every sender
// ratchet in step: alice (leaf 0) creates the Commits and application
// messages measured on the sending side and nobody receives them; member 1
// creates those alice receives, and alice processes each exactly once, in
// order. The busy-epoch benchmarks (…Busy) run last: min(N/2, 5000) members
// speak first (groupbench.MakeBusy, with messages made from a copy of the
// epoch's secret tree and the members' signers), and send and receive must
// then cost what they cost in the quiet epoch. Send and receive also report
// the bytes written to alice's storage per operation (stored-B/op).

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/cputime"
	"github.com/mlskit/mlskit/internal/groupbench"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

const benchSuite = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519

// benchSizes are the group sizes: 2, 10, 100, 1,000 and, with
// MLSKIT_BENCH_10K=1, 10,000, and with MLSKIT_BENCH_100K=1, 100,000.
func benchSizes() []int {
	s := []int{2, 10, 100, 1000}
	if os.Getenv("MLSKIT_BENCH_10K") == "1" {
		s = append(s, 10000)
	}
	if os.Getenv("MLSKIT_BENCH_100K") == "1" {
		s = append(s, 100000)
	}
	return s
}

// benchFixture is the n-member group of package groupbench.
type benchFixture = groupbench.Fixture

var (
	fixturesMu sync.Mutex
	fixtures   = map[int]*benchFixtureOnce{}
)

type benchFixtureOnce struct {
	once sync.Once
	f    *benchFixture
	err  error
}

// fixtureFor returns the n-member fixture, building it on first use. The
// timer is stopped while it is built.
func fixtureFor(b *testing.B, n int) *benchFixture {
	b.Helper()
	fixturesMu.Lock()
	fo := fixtures[n]
	if fo == nil {
		fo = &benchFixtureOnce{}
		fixtures[n] = fo
	}
	fixturesMu.Unlock()
	fo.once.Do(func() {
		b.StopTimer()
		defer b.StartTimer()
		start := time.Now()
		fo.f, fo.err = newBenchFixture(n)
		if fo.err == nil {
			b.Logf("fixture of %d members built in %v", n, time.Since(start).Round(time.Millisecond))
		}
	})
	if fo.err != nil {
		b.Fatalf("building the %d-member group: %v", n, fo.err)
	}
	return fo.f
}

func newBenchFixture(n int) (*benchFixture, error) {
	return groupbench.New(defaultcrypto.New(), benchSuite, n, os.Getenv("MLSKIT_BENCH_FRESH_TREE") == "1")
}

// cpuClock measures the process CPU time of the timed part of a benchmark
// (reported as cpu-ns/op); stop and start bracket untimed work together
// with b.StopTimer and b.StartTimer.
type cpuClock struct {
	b       *testing.B
	total   time.Duration
	started time.Duration
}

// heapAllocs returns the bytes allocated on the heap so far.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// startClock resets the benchmark timer and starts both clocks.
func startClock(b *testing.B) *cpuClock {
	b.ReportAllocs()
	b.ResetTimer()
	return &cpuClock{b: b, started: cputime.Process()}
}

func (c *cpuClock) stop() {
	c.b.StopTimer()
	c.total += cputime.Process() - c.started
}

func (c *cpuClock) start() {
	c.started = cputime.Process()
	c.b.StartTimer()
}

// done stops the clocks and reports cpu-ns/op.
func (c *cpuClock) done() {
	c.stop()
	if c.b.N > 0 {
		c.b.ReportMetric(float64(c.total.Nanoseconds())/float64(c.b.N), "cpu-ns/op")
	}
}

// forSizes runs bench as a sub-benchmark N=<n> for every size; min skips
// the sizes the operation needs more members for.
func forSizes(b *testing.B, min int, bench func(b *testing.B, f *benchFixture)) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			if n < min {
				b.Skipf("needs at least %d members", min)
			}
			bench(b, fixtureFor(b, n))
		})
	}
}

// BenchmarkCreateGroup: alice creates a group and adds n-1 members in one
// Commit (with the Welcome for all of them), and merges it.
func BenchmarkCreateGroup(b *testing.B) {
	forSizes(b, 2, func(b *testing.B, f *benchFixture) {
		c := startClock(b)
		for range b.N {
			if _, _, err := f.CreateGroup(); err != nil {
				b.Fatal(err)
			}
		}
		c.done()
	})
}

// BenchmarkJoinFromWelcome: the last member joins from the Welcome of the
// creating Commit, validating the whole tree it carries.
func BenchmarkJoinFromWelcome(b *testing.B) {
	forSizes(b, 2, func(b *testing.B, f *benchFixture) {
		i := len(f.Members) - 1
		c := startClock(b)
		for range b.N {
			c.stop()
			client, err := f.FreshJoiner(i)
			if err != nil {
				b.Fatal(err)
			}
			c.start()
			g, err := mls.JoinFromWelcome(client, f.Welcome, nil, f.Config)
			if err != nil {
				b.Fatal(err)
			}
			if g.OwnLeafIndex() != mls.LeafIndex(i+1) {
				b.Fatalf("joined at leaf %d", g.OwnLeafIndex())
			}
		}
		c.done()
	})
}

// BenchmarkFirstGroupInfoAfterJoin: the last member, just joined from the
// Welcome (untimed), makes its first GroupInfo with the ratchet tree: the
// tree's encoding is the GroupInfo's ratchet_tree extension it was decoded
// from, not made again (ratchettree.Tree.KeepDecoded).
func BenchmarkFirstGroupInfoAfterJoin(b *testing.B) {
	forSizes(b, 2, func(b *testing.B, f *benchFixture) {
		i := len(f.Members) - 1
		c := startClock(b)
		for range b.N {
			c.stop()
			client, err := f.FreshJoiner(i)
			if err != nil {
				b.Fatal(err)
			}
			g, err := mls.JoinFromWelcome(client, f.Welcome, nil, f.Config)
			if err != nil {
				b.Fatal(err)
			}
			c.start()
			if _, err := g.GroupInfo(true); err != nil {
				b.Fatal(err)
			}
		}
		c.done()
	})
}

// BenchmarkFirstGroupInfoAfterLoad: alice's group, just loaded from her
// storage (untimed), makes its first GroupInfo with the ratchet tree: the
// tree's encoding is the stored record it was decoded from, not made
// again.
func BenchmarkFirstGroupInfoAfterLoad(b *testing.B) {
	forSizes(b, 2, func(b *testing.B, f *benchFixture) {
		c := startClock(b)
		for range b.N {
			c.stop()
			g, err := mls.LoadGroup(f.Alice, f.AliceGroup.GroupID())
			if err != nil {
				b.Fatal(err)
			}
			c.start()
			if _, err := g.GroupInfo(true); err != nil {
				b.Fatal(err)
			}
		}
		c.done()
	})
}

// BenchmarkLoadGroup: alice's group is loaded from her storage (its
// ratchet tree from the last whole record and the chain of changes
// after it).
func BenchmarkLoadGroup(b *testing.B) {
	forSizes(b, 2, func(b *testing.B, f *benchFixture) {
		c := startClock(b)
		for range b.N {
			if _, err := mls.LoadGroup(f.Alice, f.AliceGroup.GroupID()); err != nil {
				b.Fatal(err)
			}
		}
		c.done()
	})
}

var benchMessage = make([]byte, 100)

// BenchmarkSendApplicationMessage: alice encrypts a 100-byte message.
func BenchmarkSendApplicationMessage(b *testing.B) {
	forSizes(b, 2, func(b *testing.B, f *benchFixture) {
		w, _ := f.AliceStore.Written()
		c := startClock(b)
		for range b.N {
			if _, err := f.AliceGroup.SendApplicationMessage(benchMessage, nil); err != nil {
				b.Fatal(err)
			}
		}
		c.done()
		reportWritten(b, f, w)
	})
}

// BenchmarkReceiveApplicationMessage: alice decrypts and verifies a
// 100-byte message of member 1 (made beforehand, untimed).
func BenchmarkReceiveApplicationMessage(b *testing.B) {
	forSizes(b, 2, func(b *testing.B, f *benchFixture) {
		msgs := make([][]byte, b.N)
		for i := range msgs {
			var err error
			if msgs[i], err = f.M1Group.SendApplicationMessage(benchMessage, nil); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		w, _ := f.AliceStore.Written()
		c := startClock(b)
		for i := range b.N {
			pm, err := f.AliceGroup.ProcessMessage(msgs[i])
			if err != nil {
				b.Fatal(err)
			}
			if pm.Kind != mls.KindApplication {
				b.Fatal(pm.Kind)
			}
		}
		c.done()
		reportWritten(b, f, w)
	})
}

// benchCreate measures creating a Commit (and Welcome, GroupInfo) by alice
// and dropping it: Commit + ClearPendingCommit.
func benchCreate(b *testing.B, f *benchFixture, commit func(g *mls.Group) (*mls.CommitResult, error)) {
	c := startClock(b)
	for range b.N {
		if _, err := commit(f.AliceGroup); err != nil {
			b.Fatal(err)
		}
		if err := f.AliceGroup.ClearPendingCommit(); err != nil {
			b.Fatal(err)
		}
	}
	c.done()
}

// benchProcess measures alice processing (staging) a Commit that member 1
// created untimed; the staged Commit is discarded. Member 1 makes each
// Commit from the same saved state (groupbench.RestoreMember1): processing
// a Commit does not consume its generation, so Commits made one after the
// other would be ever further ahead of alice's ratchet (and refused past
// its window); each is instead the next handshake message alice has not
// consumed, as in a group.
func benchProcess(b *testing.B, f *benchFixture, commit func(g *mls.Group) (*mls.CommitResult, error)) {
	saved, err := f.SaveMember1()
	if err != nil {
		b.Fatal(err)
	}
	c := startClock(b)
	for range b.N {
		c.stop()
		a := heapAllocs()
		if err := f.RestoreMember1(saved); err != nil {
			b.Fatal(err)
		}
		res, err := commit(f.M1Group)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.M1Group.ClearPendingCommit(); err != nil {
			b.Fatal(err)
		}
		// Collect the garbage of making the Commit (MBs at N=1000) now, or
		// the GC would run, and count, during the processing; not after
		// small Commits, as a forced GC leaves the caches cold.
		if heapAllocs()-a > 1<<20 {
			runtime.GC()
		}
		c.start()
		pm, err := f.AliceGroup.ProcessMessage(res.Commit)
		if err != nil {
			b.Fatal(err)
		}
		if pm.Kind != mls.KindCommit {
			b.Fatal(pm.Kind)
		}
		pm.Commit.Discard()
	}
	c.done()
}

func selfUpdate(g *mls.Group) (*mls.CommitResult, error) { return g.SelfUpdate(nil) }

// BenchmarkSelfUpdateCommit: alice creates a self-update Commit (a fresh
// path, RFC 9420 §12.4.1) with its GroupInfo.
func BenchmarkSelfUpdateCommit(b *testing.B) {
	forSizes(b, 2, func(b *testing.B, f *benchFixture) { benchCreate(b, f, selfUpdate) })
}

// BenchmarkSelfUpdateProcess: alice processes member 1's self-update.
func BenchmarkSelfUpdateProcess(b *testing.B) {
	forSizes(b, 2, func(b *testing.B, f *benchFixture) { benchProcess(b, f, selfUpdate) })
}

// BenchmarkAddMemberCommit: alice commits the Add of one member and makes
// its Welcome (with the ratchet tree).
func BenchmarkAddMemberCommit(b *testing.B) {
	forSizes(b, 2, func(b *testing.B, f *benchFixture) {
		benchCreate(b, f, func(g *mls.Group) (*mls.CommitResult, error) { return g.AddMembers(f.Extra) })
	})
}

// BenchmarkAddMemberProcess: alice processes member 1's Commit adding one
// member.
func BenchmarkAddMemberProcess(b *testing.B) {
	forSizes(b, 2, func(b *testing.B, f *benchFixture) {
		benchProcess(b, f, func(g *mls.Group) (*mls.CommitResult, error) { return g.AddMembers(f.Extra) })
	})
}

// removed is the leaf the Remove benchmarks remove: leaf 3 (leaf N-1 in
// smaller groups). Removing a leaf blanks its direct path (RFC 9420
// §12.1.3); leaf 3's is, but for node 5, that of leaves 0 and 1, which
// the committer's path replaces, so the Remove costs what a self-update
// does plus the blank node, in the updated tree as in a full one.
func removedLeaf(f *benchFixture) mls.LeafIndex { return mls.LeafIndex(min(3, f.N-1)) }

// BenchmarkRemoveMemberCommit: alice commits the removal of one member (a
// Remove requires a path).
func BenchmarkRemoveMemberCommit(b *testing.B) {
	forSizes(b, 2, func(b *testing.B, f *benchFixture) {
		benchCreate(b, f, func(g *mls.Group) (*mls.CommitResult, error) { return g.RemoveMembers(removedLeaf(f)) })
	})
}

// BenchmarkRemoveMemberProcess: alice processes member 1's Commit removing
// one member (needs a third member to remove).
func BenchmarkRemoveMemberProcess(b *testing.B) {
	forSizes(b, 3, func(b *testing.B, f *benchFixture) {
		benchProcess(b, f, func(g *mls.Group) (*mls.CommitResult, error) { return g.RemoveMembers(removedLeaf(f)) })
	})
}

// makeBusy lets min(N/2, 5000) members speak in the fixture's epoch (alice
// receives a message from each), once per fixture; the busy benchmarks
// come after the others, which measure the quiet epoch.
func makeBusy(b *testing.B, f *benchFixture) {
	b.Helper()
	busyMu.Lock()
	defer busyMu.Unlock()
	if busyDone[f] {
		return
	}
	b.StopTimer()
	defer b.StartTimer()
	if _, err := f.MakeBusy(groupbench.BusySenders(f.N), benchMessage); err != nil {
		b.Fatal(err)
	}
	busyDone[f] = true
}

var (
	busyMu   sync.Mutex
	busyDone = map[*benchFixture]bool{}
)

// reportWritten reports the bytes alice's storage received per operation.
func reportWritten(b *testing.B, f *benchFixture, before int64) {
	after, _ := f.AliceStore.Written()
	if b.N > 0 {
		b.ReportMetric(float64(after-before)/float64(b.N), "stored-B/op")
	}
}

// BenchmarkSendApplicationMessageBusy: alice encrypts a 100-byte message
// after min(N/2, 5000) members have spoken in the epoch: it must cost what
// it costs in a quiet epoch.
func BenchmarkSendApplicationMessageBusy(b *testing.B) {
	forSizes(b, 4, func(b *testing.B, f *benchFixture) {
		makeBusy(b, f)
		w, _ := f.AliceStore.Written()
		c := startClock(b)
		for range b.N {
			if _, err := f.AliceGroup.SendApplicationMessage(benchMessage, nil); err != nil {
				b.Fatal(err)
			}
		}
		c.done()
		reportWritten(b, f, w)
	})
}

// BenchmarkReceiveApplicationMessageBusy: alice decrypts and verifies a
// message of member 1 after min(N/2, 5000) members have spoken.
func BenchmarkReceiveApplicationMessageBusy(b *testing.B) {
	forSizes(b, 4, func(b *testing.B, f *benchFixture) {
		makeBusy(b, f)
		msgs := make([][]byte, b.N)
		for i := range msgs {
			var err error
			if msgs[i], err = f.M1Group.SendApplicationMessage(benchMessage, nil); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		w, _ := f.AliceStore.Written()
		c := startClock(b)
		for i := range b.N {
			pm, err := f.AliceGroup.ProcessMessage(msgs[i])
			if err != nil {
				b.Fatal(err)
			}
			if pm.Kind != mls.KindApplication {
				b.Fatal(pm.Kind)
			}
		}
		c.done()
		reportWritten(b, f, w)
	})
}

// BenchmarkPrimitives: the primitives of suite 1 through the provider, in
// the same run as the group benchmarks so that ratios are meaningful.
func BenchmarkPrimitives(b *testing.B) {
	cs, err := defaultcrypto.New().CipherSuite(benchSuite)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 100)
	sigPriv, sigPub, err := cs.GenerateSignatureKeyPair(nil)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := cs.NewSigner(sigPriv)
	if err != nil {
		b.Fatal(err)
	}
	sig, err := signer.Sign(msg)
	if err != nil {
		b.Fatal(err)
	}
	priv, pub, err := cs.GenerateKeyPair(nil)
	if err != nil {
		b.Fatal(err)
	}
	pt, info := make([]byte, 32), make([]byte, 40)
	enc, ct, err := cs.SealBase(pub, info, nil, pt)
	if err != nil {
		b.Fatal(err)
	}
	ikm := make([]byte, cs.HashSize())
	for _, p := range []struct {
		name string
		op   func() error
	}{
		{"Ed25519Sign", func() error { _, err := signer.Sign(msg); return err }},
		{"Ed25519Verify", func() error { return cs.Verify(sigPub, msg, sig) }},
		{"HPKESeal", func() error { _, _, err := cs.SealBase(pub, info, nil, pt); return err }},
		{"HPKEOpen", func() error { _, err := cs.OpenBase(priv, enc, info, nil, ct); return err }},
		{"DeriveKeyPair", func() error { _, _, err := cs.DeriveKeyPair(ikm); return err }},
	} {
		b.Run(p.name, func(b *testing.B) {
			c := startClock(b)
			for range b.N {
				if err := p.op(); err != nil {
					b.Fatal(err)
				}
			}
			c.done()
		})
	}
}
