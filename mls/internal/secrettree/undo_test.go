package secrettree_test

import (
	"math/rand/v2"
	"testing"

	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
)

// TestUndoProperty runs random runs of requests between Mark and Undo or
// Release on a tree stored node by node (store.sync):
//   - after Undo the tree holds exactly what it held at Mark (Export), has
//     no changes to store, and answers later requests as a tree loaded
//     from the store does (a key consumed in the undone run is there again);
//   - after Release, storing only Changed once for the whole run leaves the
//     store equal to the tree, and Changed names no node that held nothing
//     at Mark and holds nothing now.
func TestUndoProperty(t *testing.T) {
	runs := 150
	if testing.Short() {
		runs = 30
	}
	cfg := secrettree.Config{OutOfOrderTolerance: 4, MaximumForwardDistance: 12}
	seed := testseed.Seed(t)
	for run := range runs {
		r := rand.New(rand.NewPCG(seed, uint64(run)))
		n := 1 + r.IntN(40)
		a := newTree(t, n, cfg)
		s := store{}
		s.sync(a)
		for step := range 12 {
			before := a.Export()
			a.Mark()
			if !a.Marked() {
				t.Fatal("Marked is false after Mark")
			}
			for range 1 + r.IntN(12) {
				randomOp(r, n).apply(a)
			}
			if r.IntN(2) == 0 {
				a.Undo()
				if a.Marked() {
					t.Fatal("Marked after Undo")
				}
				after := a.Export()
				if !statesEqual(before, after) {
					t.Fatalf("run %d step %d: the tree after Undo differs from the tree at Mark", run, step)
				}
				secrettree.ZeroRecord(after)
				if c := a.Changed(); len(c) != 0 {
					t.Fatalf("run %d step %d: changes %v after Undo of a stored tree", run, step, c)
				}
				b := s.load(t, a, cfg)
				for range 10 {
					o := randomOp(r, n)
					if ka, kb := o.apply(a), o.apply(b); !ka.equal(kb) {
						t.Fatalf("run %d step %d %+v: after Undo %v, loaded %v", run, step, o, ka.err, kb.err)
					}
				}
				b.Zero()
				s.sync(a)
			} else {
				for _, x := range a.Changed() {
					c := a.ExportNode(x)
					_, stored := s[x]
					if c.Empty() && !stored {
						t.Fatalf("run %d step %d: node %d changed from nothing to nothing", run, step, x)
					}
					c.Zero()
				}
				a.Release()
				if a.Marked() {
					t.Fatal("Marked after Release")
				}
				s.sync(a)
				b := s.load(t, a, cfg)
				ea, eb := a.Export(), b.Export()
				if !statesEqual(ea, eb) {
					t.Fatalf("run %d step %d: the store after one sync of the run differs from the tree", run, step)
				}
				secrettree.ZeroRecord(ea)
				secrettree.ZeroRecord(eb)
				b.Zero()
			}
			secrettree.ZeroRecord(before)
		}
	}
}

// TestUndoRestoresConsumedKey: a generation received during a run is
// refused as reused until Undo, and given again (the same key) after it.
func TestUndoRestoresConsumedKey(t *testing.T) {
	cfg := secrettree.DefaultConfig()
	tr := newTree(t, 8, cfg)
	tr.ClearChanged()
	tr.Mark()
	k1, err := tr.Get(5, secrettree.Application, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Get(5, secrettree.Application, 3); err == nil {
		t.Fatal("a generation consumed in the run is given again before Undo")
	}
	tr.Undo()
	k2, err := tr.Get(5, secrettree.Application, 3)
	if err != nil {
		t.Fatalf("after Undo: %v", err)
	}
	if !outcome(k1, nil).equal(outcome(k2, nil)) {
		t.Fatal("after Undo the generation has another key")
	}
	// Zero during a run drops the run: Undo then restores nothing.
	tr.Mark()
	tr.Zero()
	tr.Undo()
	if _, err := tr.Get(5, secrettree.Application, 4); err == nil {
		t.Fatal("Undo after Zero brought secrets back")
	}
}
