package ratchettree

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/mlskit/mlskit/codec"
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

// TestSetPathNodes: merging a path with the parent hashes SetPathKeys
// computes gives the same tree (encoding and tree hash) as SetPathKeys, on
// random trees, with SetPathNodes and with SetCheckedPathNodes (whose
// merged tree's key index finds the new keys and forgets the old ones); a
// wrong number of parent hashes or keys, or a blank or out-of-range leaf,
// is refused and changes nothing.
func TestSetPathNodes(t *testing.T) {
	t.Run("SetPathNodes", func(t *testing.T) { testSetPathNodes(t, (*Diff).SetPathNodes) })
	t.Run("SetCheckedPathNodes", func(t *testing.T) { testSetPathNodes(t, (*Diff).SetCheckedPathNodes) })
}

func testSetPathNodes(t *testing.T, set func(*Diff, LeafIndex, []codec.HPKEPublicKey, [][]byte) error) {
	seed := testseed.Seed(t)
	cs := suite(t, 1)
	for i := range 20 {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		g := &keyGen{}
		tr := buildTree(t, cs, g, 2+r.IntN(40), r.IntN(2) == 0)
		var members []LeafIndex
		tr.Members(func(l LeafIndex, _ *codec.LeafNode) bool { members = append(members, l); return true })
		l := members[r.IntN(len(members))]
		a, b := tr.Stage(), tr.Stage()
		path, _, err := a.FilteredDirectPath(l)
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]codec.HPKEPublicKey, len(path))
		for j := range keys {
			keys[j] = g.key('p')
		}
		if _, err := a.SetPathKeys(l, keys); err != nil {
			t.Fatal(err)
		}
		phs := make([][]byte, len(path))
		for j, x := range path {
			phs[j] = a.Parent(x).ParentHash
		}
		before, err := b.TreeHash()
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []struct {
			name string
			l    LeafIndex
			keys []codec.HPKEPublicKey
			phs  [][]byte
			want error
		}{
			{"one parent hash short", l, keys, phs[:len(phs)-1], ErrPathLength},
			{"one parent hash too many", l, keys, append(phs[:len(phs):len(phs)], nil), ErrPathLength},
			{"one key short", l, keys[:len(keys)-1], phs, ErrPathLength},
			{"leaf out of range", LeafIndex(b.LeafCount()), keys, phs, ErrLeafOutOfRange},
		} {
			if err := set(b, bad.l, bad.keys, bad.phs); !errors.Is(err, bad.want) {
				t.Errorf("case %d, %s: %v, want %v", i, bad.name, err, bad.want)
			}
			if after, err := b.TreeHash(); err != nil || !bytes.Equal(after, before) {
				t.Errorf("case %d, %s: the tree changed", i, bad.name)
			}
		}
		var old [][]byte // the keys the path replaces
		for _, x := range path {
			if p := b.Parent(x); p != nil {
				old = append(old, p.EncryptionKey)
			}
		}
		if err := set(b, l, keys, phs); err != nil {
			t.Fatal(err)
		}
		ha, err := a.TreeHash()
		if err != nil {
			t.Fatal(err)
		}
		hb, err := b.TreeHash()
		if err != nil {
			t.Fatal(err)
		}
		ea, err := a.RatchetTree().Marshal()
		if err != nil {
			t.Fatal(err)
		}
		eb, err := b.RatchetTree().Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ha, hb) || !bytes.Equal(ea, eb) {
			t.Errorf("case %d: SetPathNodes gives another tree than SetPathKeys", i)
		}
		merged, err := b.Merge()
		if err != nil {
			t.Fatal(err)
		}
		for j, k := range keys {
			if x, ok := merged.FindEncryptionKey(k); !ok || x != path[j] {
				t.Errorf("case %d: key of path node %d found at %d (%v)", i, path[j], x, ok)
			}
		}
		for _, k := range old {
			if x, ok := merged.FindEncryptionKey(k); ok {
				t.Errorf("case %d: replaced key still found at %d", i, x)
			}
		}
	}
}
