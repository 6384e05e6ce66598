package ratchettree

import (
	"math/rand/v2"
	"testing"

	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// naiveSubtreeBlank visits every node under x.
func naiveSubtreeBlank(v view, x NodeIndex) bool {
	if uint32(x) >= width(v) {
		return true
	}
	if !isBlank(v, x) {
		return false
	}
	if x.IsLeaf() {
		return true
	}
	l, _ := treemath.Left(x)
	r, _ := treemath.Right(x)
	return naiveSubtreeBlank(v, l) && naiveSubtreeBlank(v, r)
}

// TestSubtreeBlank: SubtreeBlank, read from the occupancy bitsets, agrees
// with a walk of every node of the subtree, for every node of random
// trees (members added, removed, updated, paths committed), on the Diff
// and on the Tree it is merged into, and is true beyond the tree.
func TestSubtreeBlank(t *testing.T) {
	seed := testseed.Seed(t)
	cs := suite(t, 1)
	for i := range 20 {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		g := &keyGen{}
		tr := buildTree(t, cs, g, 1+r.IntN(40), r.IntN(2) == 0)
		d := tr.Stage()
		if err := randomOps(t, d, g, r, 1+r.IntN(12)); err != nil {
			t.Fatal(err)
		}
		blanks := 0
		check := func(name string, v view, sb func(NodeIndex) bool) {
			for x := range NodeIndex(width(v) + 3) {
				want := naiveSubtreeBlank(v, x)
				if got := sb(x); got != want {
					t.Fatalf("case %d, %s of %d leaves: SubtreeBlank(%d) = %v, a walk says %v", i, name, v.leafCount(), x, got, want)
				}
				if want {
					blanks++
				}
			}
		}
		check("diff", d, d.SubtreeBlank)
		merged, err := d.Merge()
		if err != nil {
			t.Fatal(err)
		}
		check("tree", merged, merged.SubtreeBlank)
		if blanks == 0 {
			t.Errorf("case %d: no blank subtree to check", i)
		}
	}
}
