package mls

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// tcChain is the stored layout of a group's ratchet tree records: the
// chain of change records after the last whole one, its cost as
// treeChainFull counts it, and the whole record's epoch and size.
type tcChain struct {
	cost, len, whole int
	wholeEpoch       uint64
}

// tcStoredChain reads the ratchet tree records of group id and checks
// their layout: exactly the epochs from to cur (nothing older, nothing
// newer: pruned), the first of them whole, and the chain of change records
// after the last whole one costing at most half of it (their bytes plus
// treeRecordCost each, as treeChainFull counts; computed here from the
// stored bytes).
func tcStoredChain(t testing.TB, s providers.Storage, id []byte, from, cur uint64) tcChain {
	t.Helper()
	epochs := gtMust(s.ListRatchetTrees(id))(t)
	want := make([]uint64, 0, cur-from+1)
	for e := from; e <= cur; e++ {
		want = append(want, e)
	}
	if !slices.Equal(epochs, want) {
		t.Fatalf("ratchet tree records of epochs %v, want %d to %d", epochs, from, cur)
	}
	var c tcChain
	for _, e := range epochs {
		b := gtMust(s.ReadRatchetTree(id, e))(t)
		var rec record.RatchetTreeRecord
		if err := rec.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		switch {
		case rec.Type == record.TreeRecordTypeWhole:
			c = tcChain{whole: len(b), wholeEpoch: e}
		case e == from:
			t.Fatalf("the oldest ratchet tree record kept (epoch %d) is a change", e)
		default:
			c.len++
			c.cost += len(b) + treeRecordCost
		}
	}
	if c.cost > c.whole/2 {
		t.Fatalf("a chain of %d changes costing %d B after a whole tree of %d B", c.len, c.cost, c.whole)
	}
	return c
}

// tcGroup is a group of n members, two of them active: a (the creator)
// and b, each with its own store, and MaxPastEpochs past.
func tcGroup(t *testing.T, n, past int) (a, b *gtMember) {
	t.Helper()
	p := defaultcrypto.New()
	cfg := GroupConfig{MaxPastEpochs: past}
	a = gtNewMember(t, p, stSuite, "a")
	a.g = gtMust(NewGroup(a.c, stSuite, cfg, nil))(t)
	b = gtNewMember(t, p, stSuite, "b")
	kps := []*codec.KeyPackage{b.keyPackage(t)}
	for i := range n - 2 {
		kps = append(kps, gtNewMember(t, p, stSuite, fmt.Sprintf("m%d", i)).keyPackage(t))
	}
	res := gtMust(a.g.AddMembers(kps...))(t)
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	b.g = gtMust(JoinFromWelcome(b.c, res.Welcome, a.g.RatchetTree(), cfg))(t)
	return a, b
}

// tcOldestKept is the first epoch whose tree the group keeps.
func tcOldestKept(g *Group) uint64 {
	oldest := g.Epoch()
	for _, p := range g.past {
		oldest = min(oldest, p.epoch)
	}
	return oldest
}

// tcFrom is the epoch of the last whole record at or before the oldest
// epoch g keeps, found from the stored records.
func tcFrom(t testing.TB, g *Group, s providers.Storage) uint64 {
	t.Helper()
	return tcWholeBefore(t, s, g.GroupID(), tcOldestKept(g))
}

// tcWholeBefore is the epoch of the last whole record of group id at or
// before epoch oldest.
func tcWholeBefore(t testing.TB, s providers.Storage, id []byte, oldest uint64) uint64 {
	t.Helper()
	recs := stTreeRecords(t, s, id)
	for e := oldest; ; e-- {
		rec, ok := recs[e]
		if !ok {
			t.Fatalf("no ratchet tree record of epoch %d", e)
		}
		if rec.Type == record.TreeRecordTypeWhole {
			return e
		}
	}
}

// TestRatchetTreeChainBound: the chain of change records after a whole
// tree is bounded by its cost (bytes plus treeRecordCost a record) to half
// the whole tree, not by a number of records, and a whole tree is
// written only when the next change would pass that bound: so a merged
// Commit writes O(its change), amortized. The records kept are exactly
// those from the last whole one the oldest kept epoch needs to the
// current epoch, for own and received Commits, across reloads.
func TestRatchetTreeChainBound(t *testing.T) {
	a, b := tcGroup(t, 24, 1)
	id := a.g.GroupID()
	prev := tcStoredChain(t, a.c.Storage, id, tcFrom(t, a.g, a.c.Storage), a.g.Epoch())
	wholes, deltas, maxDelta, longest := 0, 0, 0, 0
	var deltaBytes, wholeBytes int
	for i := range 60 {
		// a and b commit in turn, the other processes and merges.
		committer, other := a, b
		if i%3 == 2 {
			committer, other = b, a
		}
		res := gtMust(committer.g.SelfUpdate(nil))(t)
		if err := committer.g.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		pm := gtMust(other.g.ProcessMessage(res.Commit))(t)
		if err := other.g.MergeStagedCommit(pm.Commit); err != nil {
			t.Fatal(err)
		}
		if i%11 == 5 {
			a.reload(t, fmt.Sprintf("commit %d", i))
		}
		e := a.g.Epoch()
		cur := tcStoredChain(t, a.c.Storage, id, tcFrom(t, a.g, a.c.Storage), e)
		size := len(gtMust(a.c.Storage.ReadRatchetTree(id, e))(t))
		if cur.wholeEpoch == e {
			wholes++
			wholeBytes += size
			// Not before the chain was full: the change it replaced
			// (about the size of the others) would have passed half
			// the tree.
			if !treeChainFull(prev.cost, maxDelta, prev.whole) {
				t.Errorf("epoch %d: a whole tree after a chain of %d records costing %d B, half the tree being %d B", e, prev.len, prev.cost, prev.whole/2)
			}
		} else {
			deltas++
			deltaBytes += size
			maxDelta = max(maxDelta, size)
			if cur.len != prev.len+1 || cur.wholeEpoch != prev.wholeEpoch {
				t.Fatalf("epoch %d: a chain of %d after %d", e, cur.len, prev.len)
			}
		}
		longest = max(longest, cur.len)
		prev = cur
	}
	t.Logf("60 commits, 24 members: %d change records (%d B, at most %d B each, chains of up to %d), %d whole trees (%d B)", deltas, deltaBytes, maxDelta, longest, wholes, wholeBytes)
	if wholes < 2 || deltas < 2*wholes {
		t.Fatalf("%d whole trees and %d changes: the test wants several chains", wholes, deltas)
	}
	// Amortized: each whole tree written after the first chain was paid
	// for by at least half a tree of changes.
	if wholeBytes > 2*(deltaBytes+deltas*treeRecordCost)+2*prev.whole {
		t.Errorf("%d B of whole trees for %d B of changes", wholeBytes, deltaBytes)
	}
	a.reload(t, "end")
	b.reload(t, "end")
}

// TestTreeChainFull: the bound itself.
func TestTreeChainFull(t *testing.T) {
	for _, c := range []struct {
		cost, n, whole int
		full           bool
	}{
		{0, 100, 2 * (100 + treeRecordCost), false},
		{0, 101, 2 * (100 + treeRecordCost), true},
		{1000, 100, 2 * (1100 + treeRecordCost), false},
		{1000, 100, 2*(1100+treeRecordCost) - 2, true},
		// A record of no bytes still counts: no chain of empty changes
		// without bound.
		{0, 0, 2*treeRecordCost - 2, true},
	} {
		if got := treeChainFull(c.cost, c.n, c.whole); got != c.full {
			t.Errorf("treeChainFull(%d, %d, %d) = %v, want %v", c.cost, c.n, c.whole, got, c.full)
		}
	}
}

// TestRatchetTreeChainFaults: merges that extend the chain, restart it
// with a whole tree, and prune a chain no longer needed (own and received
// Commits, with a past epoch kept or not) each fail at every one of their
// storage operations in turn: the group is unchanged in memory, the store
// still holds exactly the records of the state before (LoadGroup gives
// it), and the merge, retried on the group in memory or on the loaded
// one, stores the layout a merge without a fault stores.
func TestRatchetTreeChainFaults(t *testing.T) {
	for _, past := range []int{0, 1} {
		t.Run(fmt.Sprintf("past=%d", past), func(t *testing.T) {
			a, b := tcGroup(t, 16, past)
			id := a.g.GroupID()
			f := a.c.Storage.(*storagetest.Faulty)
			kinds := map[string]int{}
			failures := 0
			for i := range 24 {
				// a's merge, of its own Commit or of b's, fails at each
				// operation in turn.
				own := i%2 == 0
				var commit []byte
				var sc *StagedCommit
				stage := func() {
					if !own {
						sc = gtMust(a.g.ProcessMessage(commit))(t).Commit
					}
				}
				merge := a.g.MergePendingCommit
				if own {
					commit = gtMust(a.g.SelfUpdate(nil))(t).Commit
				} else {
					commit = gtMust(b.g.SelfUpdate(nil))(t).Commit
					if err := b.g.MergePendingCommit(); err != nil {
						t.Fatal(err)
					}
					stage()
					merge = func() error { return a.g.MergeStagedCommit(sc) }
				}
				before := snapshotOf(t, a.g)
				from, e := tcFrom(t, a.g, a.c.Storage), a.g.Epoch()
				for k := 1; ; k++ {
					f.FailAt(k)
					err := merge()
					failed := len(f.Failed()) > 0
					f.Reset()
					if !failed {
						if err != nil {
							t.Fatalf("commit %d: merge: %v", i, err)
						}
						break
					}
					if !errors.Is(err, storagetest.ErrInjected) {
						t.Fatalf("commit %d, op %d: %v", i, k, err)
					}
					failures++
					step := fmt.Sprintf("commit %d (own %v), failed op %d", i, own, k)
					if !snapshotOf(t, a.g).equal(before) {
						t.Fatalf("%s: the group changed in memory", step)
					}
					tcStoredChain(t, a.c.Storage, id, from, e)
					if k%2 == 1 {
						// LoadGroup gives the state before; the loaded
						// group merges next.
						a.reload(t, step)
						if own {
							merge = a.g.MergePendingCommit
						} else {
							stage()
						}
					}
				}
				if own {
					pm := gtMust(b.g.ProcessMessage(commit))(t)
					if err := b.g.MergeStagedCommit(pm.Commit); err != nil {
						t.Fatal(err)
					}
				}
				newFrom := tcFrom(t, a.g, a.c.Storage)
				cur := tcStoredChain(t, a.c.Storage, id, newFrom, a.g.Epoch())
				switch {
				case cur.wholeEpoch == a.g.Epoch():
					kinds["whole"]++
				case newFrom > from:
					kinds["prune"]++
				default:
					kinds["change"]++
				}
				a.reload(t, fmt.Sprintf("commit %d merged", i))
			}
			t.Logf("%d failed operations; merges: %v", failures, kinds)
			want := []string{"whole", "change"}
			if past > 0 {
				// The whole tree's chain is pruned a Commit later.
				want = append(want, "prune")
			}
			for _, k := range want {
				if kinds[k] == 0 {
					t.Errorf("no merge of kind %q", k)
				}
			}
			b.reload(t, "end")
			if a.g.Epoch() != b.g.Epoch() || !slices.Equal(a.g.EpochAuthenticator(), b.g.EpochAuthenticator()) {
				t.Fatal("a and b disagree")
			}
		})
	}
}
