package ratchettree

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

func TestNewAndExtendTruncate(t *testing.T) {
	cs := suite(t, 1)
	g := &keyGen{}
	if _, err := New(cs, nil); !errors.Is(err, ErrNilNode) {
		t.Fatalf("New(nil): %v", err)
	}
	tr, err := New(cs, g.fakeLeaf(codec.LeafNodeSourceKeyPackage))
	if err != nil {
		t.Fatal(err)
	}
	if tr.LeafCount() != 1 || tr.MemberCount() != 1 {
		t.Fatalf("new tree: %d leaves, %d members", tr.LeafCount(), tr.MemberCount())
	}
	d := tr.Stage()
	for i := 1; i <= 4; i++ {
		l, err := d.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage))
		if err != nil || l != LeafIndex(i) {
			t.Fatalf("add %d: leaf %d, %v", i, l, err)
		}
	}
	if d.LeafCount() != 8 || tr.LeafCount() != 1 {
		t.Fatalf("after adds: diff %d leaves, tree %d", d.LeafCount(), tr.LeafCount())
	}
	// Removing leaf 2 leaves a hole that the next Add fills (leftmost).
	if err := d.Remove(2); err != nil {
		t.Fatal(err)
	}
	if l, _ := d.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage)); l != 2 {
		t.Fatalf("add after remove went to %d, want 2", l)
	}
	// Removing leaf 4 empties the right half: truncate to 4 leaves.
	if err := d.Remove(4); err != nil {
		t.Fatal(err)
	}
	if d.LeafCount() != 4 {
		t.Fatalf("after removing leaf 4: %d leaves, want 4", d.LeafCount())
	}
	if err := d.Remove(4); !errors.Is(err, ErrLeafOutOfRange) {
		t.Fatalf("remove out of range: %v", err)
	}
	if err := d.Remove(1); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(1); !errors.Is(err, ErrBlankLeaf) {
		t.Fatalf("remove blank: %v", err)
	}
	if err := d.Update(1, g.fakeLeaf(codec.LeafNodeSourceUpdate)); !errors.Is(err, ErrBlankLeaf) {
		t.Fatalf("update blank: %v", err)
	}
	if _, err := d.SetPathKeys(1, nil); !errors.Is(err, ErrBlankLeaf) {
		t.Fatalf("path from blank: %v", err)
	}
	// Leaves 0, 2, 3 remain.
	var got []LeafIndex
	d.Members(func(l LeafIndex, _ *codec.LeafNode) bool { got = append(got, l); return true })
	if len(got) != 3 || got[0] != 0 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("members %v", got)
	}
	if l, ok := d.FindLeaf(d.Leaf(3)); !ok || l != 3 {
		t.Fatalf("FindLeaf: %d %v", l, ok)
	}
	if _, ok := tr.FindLeaf(d.Leaf(3)); ok {
		t.Fatal("staged leaf visible in the tree")
	}
	want := referenceTreeHash(t, cs, d.RatchetTree())
	if _, err := d.Merge(); err != nil {
		t.Fatal(err)
	}
	if th, _ := tr.TreeHash(); !bytes.Equal(th, want) {
		t.Fatal("merged tree hash differs from the reference")
	}
	if err := checkIndex(tr); err != nil {
		t.Fatal(err)
	}
	// Removing everyone but leaf 0 truncates to one leaf.
	d = tr.Stage()
	for _, l := range []LeafIndex{3, 2} {
		if err := d.Remove(l); err != nil {
			t.Fatal(err)
		}
	}
	if d.LeafCount() != 1 {
		t.Fatalf("%d leaves, want 1", d.LeafCount())
	}
	c := tr.Clone()
	if _, err := d.Merge(); err != nil {
		t.Fatal(err)
	}
	if tr.LeafCount() != 1 || c.LeafCount() != 4 {
		t.Fatalf("clone not independent: %d, %d", tr.LeafCount(), c.LeafCount())
	}
	if err := checkIndex(tr); err != nil {
		t.Fatal(err)
	}
	if err := checkIndex(c); err != nil {
		t.Fatal(err)
	}
}

func TestStaleDiffs(t *testing.T) {
	cs := suite(t, 1)
	g := &keyGen{}
	tr := buildTree(t, cs, g, 5, true)
	before, _ := tr.TreeHash()
	d1, d2 := tr.Stage(), tr.Stage()
	if _, err := d1.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage)); err != nil {
		t.Fatal(err)
	}
	if err := d2.Remove(1); err != nil {
		t.Fatal(err)
	}
	if th, _ := tr.TreeHash(); !bytes.Equal(th, before) {
		t.Fatal("staging changed the tree")
	}
	if _, err := d1.Merge(); err != nil {
		t.Fatal(err)
	}
	if _, err := d1.Merge(); !errors.Is(err, ErrStaleDiff) {
		t.Fatalf("second merge: %v", err)
	}
	if _, err := d2.Merge(); !errors.Is(err, ErrStaleDiff) {
		t.Fatalf("merge of a diff staged before another merge: %v", err)
	}
	if err := d2.Remove(0); !errors.Is(err, ErrStaleDiff) {
		t.Fatalf("stale remove: %v", err)
	}
	if err := d2.Update(0, g.fakeLeaf(codec.LeafNodeSourceUpdate)); !errors.Is(err, ErrStaleDiff) {
		t.Fatalf("stale update: %v", err)
	}
	if _, err := d2.SetPathKeys(0, nil); !errors.Is(err, ErrStaleDiff) {
		t.Fatalf("stale path: %v", err)
	}
	if err := d2.ReplaceLeaf(0, g.fakeLeaf(codec.LeafNodeSourceCommit)); !errors.Is(err, ErrStaleDiff) {
		t.Fatalf("stale replace: %v", err)
	}
}

func TestFilteredDirectPathFigure11(t *testing.T) {
	// RFC 9420 §4.1.2, Figure 11: members A B _ _ E F G _, with T, X, Y, W
	// set (U, V, Z blank).
	cs := suite(t, 1)
	g := &keyGen{}
	leaf := func() *codec.Node {
		return &codec.Node{NodeType: codec.NodeTypeLeaf, LeafNode: g.fakeLeaf(codec.LeafNodeSourceKeyPackage)}
	}
	parent := func() *codec.Node {
		return &codec.Node{NodeType: codec.NodeTypeParent, ParentNode: &codec.ParentNode{EncryptionKey: g.key('p')}}
	}
	rt := codec.RatchetTree{
		leaf(), parent(), leaf(), nil, nil, nil, nil, // A T B U _ V _
		parent(),                                   // W
		leaf(), parent(), leaf(), parent(), leaf(), // E X F Y G
	}
	tr, err := FromRatchetTree(cs, rt)
	if err != nil {
		t.Fatal(err)
	}
	const T, U, W, X, Y, Z = 1, 3, 7, 9, 11, 13
	for l, want := range map[LeafIndex][]NodeIndex{
		0: {T, W}, 1: {T, W}, 4: {X, Y, W}, 5: {X, Y, W}, 6: {Y, W},
	} {
		got, cp, err := tr.FilteredDirectPath(l)
		if err != nil || len(got) != len(want) || len(cp) != len(want) {
			t.Fatalf("leaf %d: %v %v %v, want %v", l, got, cp, err, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("leaf %d: %v, want %v", l, got, want)
			}
			if p, _ := treemath.Parent(cp[i], tr.LeafCount()); p != got[i] {
				t.Fatalf("leaf %d: copath %v does not match %v", l, cp, got)
			}
		}
	}
	if _, _, err := tr.FilteredDirectPath(8); !errors.Is(err, ErrLeafOutOfRange) {
		t.Fatalf("out of range: %v", err)
	}
	// Resolution excluding a leaf (new members of a Commit, §7.6).
	if res := tr.Resolution(U); len(res) != 1 || res[0] != T {
		t.Fatalf("resolution of U: %v", res)
	}
	if res := tr.Resolution(Z); len(res) != 1 || res[0] != 12 {
		t.Fatalf("resolution of Z: %v", res)
	}
	if res := tr.AppendResolution(nil, Z, func(l LeafIndex) bool { return l == 6 }); len(res) != 0 {
		t.Fatalf("resolution of Z without G: %v", res)
	}
}

// TestTruncateThenExtend shrinks and regrows the tree inside one Diff: the
// regrown half must read as blank, not as the Tree's old nodes.
func TestTruncateThenExtend(t *testing.T) {
	cs := suite(t, 1)
	g := &keyGen{}
	tr := buildTree(t, cs, g, 8, true)
	if _, err := tr.TreeHash(); err != nil { // warm the Tree's cache
		t.Fatal(err)
	}
	d := tr.Stage()
	for l := LeafIndex(4); l < 8; l++ {
		if err := d.Remove(l); err != nil {
			t.Fatal(err)
		}
	}
	if d.LeafCount() != 4 {
		t.Fatalf("%d leaves after truncation", d.LeafCount())
	}
	if _, err := d.TreeHash(); err != nil {
		t.Fatal(err)
	}
	g.commit(t, d, 1)
	for range 2 {
		if _, err := d.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage)); err != nil {
			t.Fatal(err)
		}
	}
	if d.LeafCount() != 8 || d.Leaf(6) != nil || d.Parent(13) != nil || d.Parent(11) != nil {
		t.Fatalf("regrown half not blank: %d leaves", d.LeafCount())
	}
	rt := d.RatchetTree()
	if err := compareWithFresh(cs, d, rt); err != nil {
		t.Fatal(err)
	}
	want := referenceTreeHash(t, cs, rt)
	if th, _ := d.TreeHash(); !bytes.Equal(th, want) {
		t.Fatal("diff tree hash differs from the reference")
	}
	if _, err := d.Merge(); err != nil {
		t.Fatal(err)
	}
	if th, _ := tr.TreeHash(); !bytes.Equal(th, want) {
		t.Fatal("merged tree hash differs from the reference")
	}
	if err := checkIndex(tr); err != nil {
		t.Fatal(err)
	}
	if err := tr.VerifyParentHashes(); err != nil {
		t.Fatal(err)
	}
	if err := verifyUnmerged(tr); err != nil {
		t.Fatal(err)
	}
}

// TestDiffSharesOccupancy: a Diff shares its Tree's occupancy bitsets
// until it changes a bit, so that a self-update over non-blank parents
// copies nothing of size N; a change of occupancy (a removal, an extension)
// copies them and never shows in the Tree before Merge.
func TestDiffSharesOccupancy(t *testing.T) {
	cs := suite(t, 1)
	g := &keyGen{}
	tr := buildTree(t, cs, g, 256, true)
	// A first commit of leaf 5 sets every parent of its direct path.
	d := tr.Stage()
	g.commit(t, d, 5)
	if _, err := d.Merge(); err != nil {
		t.Fatal(err)
	}
	occ, pocc := slices.Clone(tr.occ), slices.Clone(tr.pocc)

	d = tr.Stage()
	g.commit(t, d, 5)
	if &d.occ[0] != &tr.occ[0] || &d.pocc[0] != &tr.pocc[0] {
		t.Fatalf("a self-update over non-blank parents copied the occupancy (leaves %v, parents %v)",
			&d.occ[0] != &tr.occ[0], &d.pocc[0] != &tr.pocc[0])
	}
	if err := d.Remove(7); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tr.occ, occ) || !slices.Equal(tr.pocc, pocc) {
		t.Fatal("removing a leaf in a Diff changed its Tree's occupancy")
	}
	if d.occupied(7) || !tr.occupied(7) {
		t.Fatalf("leaf 7 after its removal: staged %v, tree %v", d.occupied(7), tr.occupied(7))
	}
	if _, err := d.Merge(); err != nil {
		t.Fatal(err)
	}
	if tr.occupied(7) || !tr.occupied(6) || tr.MemberCount() != 255 {
		t.Fatalf("merged: leaf 7 %v, leaf 6 %v, %d members", tr.occupied(7), tr.occupied(6), tr.MemberCount())
	}

	// A full tree extended by an Add: the Tree keeps its width and bits.
	full := buildTree(t, cs, g, 64, false)
	occ, pocc = slices.Clone(full.occ), slices.Clone(full.pocc)
	d = full.Stage()
	if l, err := d.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage)); err != nil || l != 64 {
		t.Fatalf("add to a full tree: leaf %d, %v", l, err)
	}
	if !slices.Equal(full.occ, occ) || !slices.Equal(full.pocc, pocc) || full.occupied(64) || full.LeafCount() != 64 {
		t.Fatal("extending a Diff changed its Tree")
	}
	if !d.occupied(64) || d.LeafCount() != 128 {
		t.Fatalf("staged: leaf 64 %v, %d leaves", d.occupied(64), d.LeafCount())
	}
}

// TestSeedTreeHashesGuards checks that SeedTreeHashes seeds nothing
// unless it is given hashes of the right size for a whole direct path of
// the leaf, every node of which changed since it was hashed: a Diff that
// did not change, or whose path hashes are already cached, keeps the
// tree hash computed from its nodes.
func TestSeedTreeHashesGuards(t *testing.T) {
	cs := suite(t, 1)
	g := &keyGen{}
	tr := buildTree(t, cs, g, 8, true)
	l := LeafIndex(3)
	dp, _ := treemath.DirectPath(l.Node(), tr.LeafCount())
	junk := func(n, size int) [][]byte {
		hs := make([][]byte, n)
		for i := range hs {
			hs[i] = bytes.Repeat([]byte{0xee}, size)
		}
		return hs
	}
	check := func(name string, d *Diff) {
		t.Helper()
		got, err := d.TreeHash()
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := FromRatchetTree(cs, d.RatchetTree())
		if err != nil {
			t.Fatal(err)
		}
		want, _ := fresh.TreeHash()
		if !bytes.Equal(got, want) {
			t.Errorf("%s: seeded tree hash %x, computed %x", name, got, want)
		}
	}

	// Nothing changed: nothing is dirty.
	d := tr.Stage()
	d.SeedTreeHashes(l, dp, junk(len(dp)+1, cs.HashSize()))
	check("unchanged diff", d)

	// A changed path, hashes already computed (cached).
	d = tr.Stage()
	g.commit(t, d, l)
	if _, err := d.TreeHash(); err != nil {
		t.Fatal(err)
	}
	d.SeedTreeHashes(l, dp, junk(len(dp)+1, cs.HashSize()))
	check("cached path", d)

	// A changed path, wrong shapes.
	for _, c := range []struct {
		name   string
		leaf   LeafIndex
		path   []NodeIndex
		hashes [][]byte
	}{
		{"too few hashes", l, dp, junk(len(dp), cs.HashSize())},
		{"short hashes", l, dp, junk(len(dp)+1, cs.HashSize()-1)},
		{"another leaf's path", l ^ 1, dp, junk(len(dp)+1, cs.HashSize())},
		{"leaf outside the tree", 99, dp, junk(len(dp)+1, cs.HashSize())},
		{"partial path", l, dp[:len(dp)-1], junk(len(dp), cs.HashSize())},
	} {
		d = tr.Stage()
		g.commit(t, d, l)
		d.SeedTreeHashes(c.leaf, c.path, c.hashes)
		check(c.name, d)
	}
}

// TestSharedNodeTreeHash: SharedNodeTreeHash gives every node's tree hash
// (§7.8) as NodeTreeHash does, unchanged and uncached nodes alike, after
// a change of the Diff; its capacity ends at its end (an append cannot
// reach the hashes next to it), and it is not a copy.
func TestSharedNodeTreeHash(t *testing.T) {
	g := &keyGen{}
	tr := buildTree(t, suite(t, 1), g, 13, true)
	d := tr.Stage()
	g.commit(t, d, 4)
	for x := NodeIndex(0); uint32(x) < treemath.NodeWidth(d.n); x++ {
		want, err := d.NodeTreeHash(x)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.SharedNodeTreeHash(x)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || cap(got) != len(got) {
			t.Fatalf("node %d: shared hash %x (capacity %d), want %x", x, got, cap(got), want)
		}
		again, _ := d.SharedNodeTreeHash(x)
		if &again[0] != &got[0] {
			t.Fatalf("node %d: the shared hash is a copy", x)
		}
	}
	if _, err := d.SharedNodeTreeHash(NodeIndex(treemath.NodeWidth(d.n))); !errors.Is(err, ErrNodeOutOfRange) {
		t.Fatalf("node out of range: %v", err)
	}
}
