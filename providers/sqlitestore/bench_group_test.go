package sqlitestore_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/cputime"
	"github.com/mlskit/mlskit/internal/groupbench"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/sqlitestore"
)

// storeKinds are the stores the group benchmarks compare.
var storeKinds = []struct {
	name string
	opts *sqlitestore.Options // nil: memstore
}{
	{"memory", nil},
	{"sqlite-FULL", &sqlitestore.Options{Synchronous: sqlitestore.SyncFull}},
	{"sqlite-NORMAL", &sqlitestore.Options{Synchronous: sqlitestore.SyncNormal}},
	{"sqlite-NORMAL-erase-on-checkpoint", &sqlitestore.Options{Synchronous: sqlitestore.SyncNormal, Erasure: sqlitestore.EraseOnCheckpoint}},
}

// benchGroup is an n-member group in which alice (leaf 0) and bob (leaf 1)
// keep their state in the store under test and the others in memory.
type benchGroup struct {
	alice, bob     *mls.Group
	aStore, bStore *groupbench.CountingStore
}

func newBenchGroup(b *testing.B, n int, opts *sqlitestore.Options) *benchGroup {
	p := defaultcrypto.New()
	newStore := func(name string) providers.Storage { return memstore.New() }
	if opts != nil {
		db, err := sqlitestore.Open(filepath.Join(b.TempDir(), "bench.db"), opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		newStore = func(name string) providers.Storage { return db.Store([]byte(name)) }
	}
	bg := &benchGroup{
		aStore: groupbench.NewCountingStore(newStore("alice")),
		bStore: groupbench.NewCountingStore(newStore("bob")),
	}
	alice, _ := newClient(b, p, bg.aStore, "alice")
	bob, bobKP := newClient(b, p, bg.bStore, "bob")
	kps := []*codec.KeyPackage{bobKP}
	for i := 2; i < n; i++ {
		_, kp := newClient(b, p, memstore.New(), fmt.Sprintf("member-%d", i))
		kps = append(kps, kp)
	}
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true}
	var err error
	if bg.alice, err = mls.NewGroup(alice, suite, cfg, nil); err != nil {
		b.Fatal(err)
	}
	res, err := bg.alice.AddMembers(kps...)
	if err != nil {
		b.Fatal(err)
	}
	if err := bg.alice.MergePendingCommit(); err != nil {
		b.Fatal(err)
	}
	if bg.bob, err = mls.JoinFromWelcome(bob, res.Welcome, nil, cfg); err != nil {
		b.Fatal(err)
	}
	return bg
}

// BenchmarkGroupOps times alice's and bob's operations on each store; the
// difference from "memory" is the store's cost per operation, and
// written-B/op the bytes of the values the operation wrote.
//
//	go test -run '^$' -bench GroupOps -benchtime 50x ./providers/sqlitestore
func BenchmarkGroupOps(b *testing.B) {
	for _, n := range []int{2, 100, 1000} {
		for _, sk := range storeKinds {
			b.Run(fmt.Sprintf("N=%d/%s", n, sk.name), func(b *testing.B) {
				bg := newBenchGroup(b, n, sk.opts)
				msg := make([]byte, 100)
				written := func(b *testing.B, s *groupbench.CountingStore, f func()) {
					b.Helper()
					b0, _ := s.Written()
					f()
					b1, _ := s.Written()
					b.ReportMetric(float64(b1-b0)/float64(b.N), "written-B/op")
				}
				b.Run("send", func(b *testing.B) {
					written(b, bg.aStore, func() {
						for b.Loop() {
							if _, err := bg.alice.SendApplicationMessage(msg, nil); err != nil {
								b.Fatal(err)
							}
						}
					})
				})
				b.Run("receive", func(b *testing.B) {
					cts := make([][]byte, b.N)
					for i := range cts {
						var err error
						if cts[i], err = bg.alice.SendApplicationMessage(msg, nil); err != nil {
							b.Fatal(err)
						}
					}
					written(b, bg.bStore, func() {
						b.ResetTimer()
						for i := range b.N {
							if _, err := bg.bob.ProcessMessage(cts[i]); err != nil {
								b.Fatal(err)
							}
						}
					})
				})
				// A self-update Commit by alice, merged (timed), processed
				// and merged by bob (timed separately, below).
				var commits [][]byte
				b.Run("update-commit+merge", func(b *testing.B) {
					written(b, bg.aStore, func() {
						for b.Loop() {
							res, err := bg.alice.SelfUpdate(nil)
							if err != nil {
								b.Fatal(err)
							}
							if err := bg.alice.MergePendingCommit(); err != nil {
								b.Fatal(err)
							}
							commits = append(commits, res.Commit)
						}
					})
				})
				b.Run("update-process+merge", func(b *testing.B) {
					// Bob catches up with the commits of the previous
					// benchmark (untimed), then processes new ones.
					process := func(c []byte) {
						pm, err := bg.bob.ProcessMessage(c)
						if err != nil {
							b.Fatal(err)
						}
						if err := bg.bob.MergeStagedCommit(pm.Commit); err != nil {
							b.Fatal(err)
						}
					}
					for _, c := range commits {
						process(c)
					}
					commits = nil
					fresh := make([][]byte, b.N)
					for i := range fresh {
						res, err := bg.alice.SelfUpdate(nil)
						if err != nil {
							b.Fatal(err)
						}
						if err := bg.alice.MergePendingCommit(); err != nil {
							b.Fatal(err)
						}
						fresh[i] = res.Commit
					}
					written(b, bg.bStore, func() {
						b.ResetTimer()
						for i := range b.N {
							process(fresh[i])
						}
					})
				})
			})
		}
	}
}

// BenchmarkOpenAndLoad measures, in a database holding many groups of 100
// members (alice's view; MLSKIT_BENCH_GROUPS, default 100), opening the
// file and loading one group with mls.LoadGroup, in wall and process CPU
// time (the target: 1,000 groups, ≤ 20 ms).
//
//	MLSKIT_BENCH_GROUPS=1000 go test -run '^$' -bench OpenAndLoad -benchtime 20x ./providers/sqlitestore
func BenchmarkOpenAndLoad(b *testing.B) {
	groups := 100
	if v, err := strconv.Atoi(os.Getenv("MLSKIT_BENCH_GROUPS")); err == nil && v > 0 {
		groups = v
	}
	const members = 100
	p := defaultcrypto.New()
	path := filepath.Join(b.TempDir(), "groups.db")
	opts := &sqlitestore.Options{Synchronous: sqlitestore.SyncNormal, Erasure: sqlitestore.EraseOnCheckpoint}
	db, err := sqlitestore.Open(path, opts)
	if err != nil {
		b.Fatal(err)
	}
	alice, _ := newClient(b, p, db.Store([]byte("alice")), "alice")
	var kps []*codec.KeyPackage
	for i := 1; i < members; i++ {
		_, kp := newClient(b, p, memstore.New(), fmt.Sprintf("member-%d", i))
		kps = append(kps, kp)
	}
	ids := make([][]byte, groups)
	for g := range groups {
		ids[g] = fmt.Appendf(nil, "group-%06d", g)
		grp, err := mls.NewGroup(alice, suite, mls.GroupConfig{UseRatchetTreeExtension: true}, &mls.CreateOptions{GroupID: ids[g]})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := grp.AddMembers(kps...); err != nil {
			b.Fatal(err)
		}
		if err := grp.MergePendingCommit(); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	b.Logf("%d groups of %d members: %d KiB", groups, members, st.Size()>>10)
	var open, load, openCPU, loadCPU time.Duration
	for i := 0; b.Loop(); i++ {
		c0, t0 := cputime.Process(), time.Now()
		db, err := sqlitestore.Open(path, opts)
		if err != nil {
			b.Fatal(err)
		}
		c1, t1 := cputime.Process(), time.Now()
		c := *alice
		c.Storage = db.Store([]byte("alice"))
		g, err := mls.LoadGroup(&c, ids[(i*7919)%groups])
		if err != nil || g.MemberCount() != members {
			b.Fatalf("LoadGroup: %v", err)
		}
		open, load = open+t1.Sub(t0), load+time.Since(t1)
		openCPU, loadCPU = openCPU+c1-c0, loadCPU+cputime.Process()-c1
		b.StopTimer()
		db.Close() // not timed: a checkpoint
		b.StartTimer()
	}
	b.ReportMetric(float64(open.Microseconds())/float64(b.N), "open-µs/op")
	b.ReportMetric(float64(load.Microseconds())/float64(b.N), "load-µs/op")
	b.ReportMetric(float64(openCPU.Microseconds())/float64(b.N), "open-cpu-µs/op")
	b.ReportMetric(float64(loadCPU.Microseconds())/float64(b.N), "load-cpu-µs/op")
}

// BenchmarkProcessMessages compares receiving application messages one by
// one (ProcessMessage: one transaction, with SQLite FULL a flush to stable
// storage and a checkpoint, per message) with receiving them in batches of
// 100 (ProcessMessages: one transaction per batch, each changed record
// written once), per message, in memory and in SQLite with its default
// settings. The messages are alice's, received by bob, in a group of 100.
//
//	go test -run '^$' -bench ProcessMessages -benchmem -benchtime 2000x ./providers/sqlitestore
func BenchmarkProcessMessages(b *testing.B) {
	const batch = 100
	for _, sk := range storeKinds[:2] { // memory, sqlite-FULL (the default)
		b.Run(sk.name, func(b *testing.B) {
			bg := newBenchGroup(b, 100, sk.opts)
			msg := make([]byte, 100)
			prepare := func(b *testing.B) [][]byte {
				cts := make([][]byte, b.N)
				for i := range cts {
					var err error
					if cts[i], err = bg.alice.SendApplicationMessage(msg, nil); err != nil {
						b.Fatal(err)
					}
				}
				return cts
			}
			written := func(b *testing.B, w0 int64) {
				w1, _ := bg.bStore.Written()
				b.ReportMetric(float64(w1-w0)/float64(b.N), "written-B/op")
			}
			b.Run("one-by-one", func(b *testing.B) {
				cts := prepare(b)
				w0, _ := bg.bStore.Written()
				b.ResetTimer()
				for i := range b.N {
					if _, err := bg.bob.ProcessMessage(cts[i]); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				written(b, w0)
			})
			b.Run(fmt.Sprintf("batch-%d", batch), func(b *testing.B) {
				cts := prepare(b)
				w0, _ := bg.bStore.Written()
				b.ResetTimer()
				for i := 0; i < b.N; i += batch {
					res, err := bg.bob.ProcessMessages(cts[i:min(i+batch, b.N)])
					if err != nil {
						b.Fatal(err)
					}
					for _, r := range res {
						if r.Err != nil {
							b.Fatal(r.Err)
						}
					}
				}
				b.StopTimer()
				written(b, w0)
			})
		})
	}
}
