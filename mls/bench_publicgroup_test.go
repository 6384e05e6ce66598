package mls_test

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mlskit/mlskit/internal/cputime"
	"github.com/mlskit/mlskit/internal/groupbench"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

// The PublicGroup benchmark: a server (a Delivery Service) follows an
// N-member group with a PublicGroup and processes a member's self-update
// Commit (with a path): ProcessMessage (signature, proposal rules, the
// UpdatePath's checks and parent hashes, tree hash, transcript hash) and
// MergeStagedCommit (the new state written to an in-memory storage, one
// transaction, O(change)). The group is the fixture of the other
// benchmarks (groupbench: alice added everyone, the copaths of leaves 0
// and 1 filled by self-updates) built with the MixedPlaintext wire format
// policy, so that the Commits are PublicMessages; it is its own fixture,
// since the benchmark moves member 1 through the epochs. Per iteration,
// untimed, member 1 commits a self-update and merges it (and the garbage
// of that is collected when it exceeds 1 MB); timed, the PublicGroup
// processes and merges it. cpu-ns/op is the process CPU time of
// both, process-cpu-ns/op of ProcessMessage alone; stored-B/op is what the
// merge writes.
//
//	go test -run '^$' -bench 'BenchmarkPublicGroupProcessCommit' -benchmem ./mls/
//	MLSKIT_BENCH_10K=1 go test -run '^$' -bench 'BenchmarkPublicGroupProcessCommit/N=10000$' -benchtime=200x -benchmem -timeout 60m ./mls/

var (
	pgFixturesMu sync.Mutex
	pgFixtures   = map[int]*benchFixtureOnce{}
)

// pgFixtureFor returns the plaintext n-member fixture, built on first use.
func pgFixtureFor(b *testing.B, n int) *benchFixture {
	b.Helper()
	pgFixturesMu.Lock()
	fo := pgFixtures[n]
	if fo == nil {
		fo = &benchFixtureOnce{}
		pgFixtures[n] = fo
	}
	pgFixturesMu.Unlock()
	fo.once.Do(func() {
		b.StopTimer()
		defer b.StartTimer()
		start := time.Now()
		fo.f, fo.err = groupbench.NewWithPolicy(defaultcrypto.New(), benchSuite, n, os.Getenv("MLSKIT_BENCH_FRESH_TREE") == "1", mls.MixedPlaintext())
		if fo.err == nil {
			b.Logf("plaintext fixture of %d members built in %v", n, time.Since(start).Round(time.Millisecond))
		}
	})
	if fo.err != nil {
		b.Fatalf("building the %d-member group: %v", n, fo.err)
	}
	return fo.f
}

// BenchmarkPublicGroupProcessCommit: a PublicGroup processes and merges a
// self-update Commit of an N-member group (see above).
func BenchmarkPublicGroupProcessCommit(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			f := pgFixtureFor(b, n)
			store := groupbench.NewCountingStore(memstore.New())
			ds := &mls.Client{Provider: f.Provider, Storage: store}
			pg, err := f.M1Group.PublicGroup(ds, mls.PublicGroupConfig{})
			if err != nil {
				b.Fatal(err)
			}
			written, _ := store.Written()
			var process time.Duration
			c := startClock(b)
			for range b.N {
				c.stop()
				a := heapAllocs()
				res, err := f.M1Group.SelfUpdate(nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := f.M1Group.MergePendingCommit(); err != nil {
					b.Fatal(err)
				}
				// Collect the garbage of making the Commit now (as
				// benchProcess does), not during the timed part.
				if heapAllocs()-a > 1<<20 {
					runtime.GC()
				}
				c.start()
				t0 := cputime.Process()
				pm, err := pg.ProcessMessage(res.Commit)
				if err != nil {
					b.Fatal(err)
				}
				process += cputime.Process() - t0
				if err := pg.MergeStagedCommit(pm.Commit); err != nil {
					b.Fatal(err)
				}
			}
			c.done()
			if pg.Epoch() != f.M1Group.Epoch() || pg.MemberCount() != n {
				b.Fatalf("public group in epoch %d with %d members; member 1 in %d", pg.Epoch(), pg.MemberCount(), f.M1Group.Epoch())
			}
			if b.N > 0 {
				b.ReportMetric(float64(process.Nanoseconds())/float64(b.N), "process-cpu-ns/op")
				after, _ := store.Written()
				b.ReportMetric(float64(after-written)/float64(b.N), "stored-B/op")
			}
		})
	}
}
