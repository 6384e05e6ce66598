package treemath

import (
	"math"
	"slices"
	"testing"

	"github.com/mlskit/mlskit/internal/testvectors"
)

// treeMathVector is one case of tree-math.json (FORMAT.md, "Tree Math").
// A null entry means the relation is undefined for that node.
type treeMathVector struct {
	NLeaves LeafCount    `json:"n_leaves"`
	NNodes  uint32       `json:"n_nodes"`
	Root    NodeIndex    `json:"root"`
	Left    []*NodeIndex `json:"left"`
	Right   []*NodeIndex `json:"right"`
	Parent  []*NodeIndex `json:"parent"`
	Sibling []*NodeIndex `json:"sibling"`
}

func TestVectors(t *testing.T) {
	var cases []treeMathVector
	testvectors.Load(t, "tree-math.json", &cases)
	ran := testvectors.Expect(t, "tree-math.json", len(cases))
	passed := 0
	for _, tc := range cases {
		n := tc.NLeaves
		ok := true
		fail := func(format string, args ...any) {
			t.Helper()
			t.Errorf("n_leaves=%d: "+format, append([]any{n}, args...)...)
			ok = false
		}
		if got := NodeWidth(n); got != tc.NNodes {
			fail("NodeWidth = %d, want %d", got, tc.NNodes)
		}
		if got := Root(n); got != tc.Root {
			fail("Root = %d, want %d", got, tc.Root)
		}
		for _, rel := range []struct {
			name string
			want []*NodeIndex
			f    func(NodeIndex) (NodeIndex, bool)
		}{
			{"left", tc.Left, Left},
			{"right", tc.Right, Right},
			{"parent", tc.Parent, func(x NodeIndex) (NodeIndex, bool) { return Parent(x, n) }},
			{"sibling", tc.Sibling, func(x NodeIndex) (NodeIndex, bool) { return Sibling(x, n) }},
		} {
			if uint32(len(rel.want)) != tc.NNodes {
				fail("%s has %d entries, want n_nodes=%d", rel.name, len(rel.want), tc.NNodes)
				continue
			}
			for i, w := range rel.want {
				got, gotOK := rel.f(NodeIndex(i))
				switch {
				case w == nil && gotOK:
					fail("%s(%d) = %d, want undefined", rel.name, i, got)
				case w != nil && !gotOK:
					fail("%s(%d) undefined, want %d", rel.name, i, *w)
				case w != nil && got != *w:
					fail("%s(%d) = %d, want %d", rel.name, i, got, *w)
				}
			}
		}
		if ok {
			passed++
		}
		ran.Ran()
	}
	t.Logf("tree-math.json: %d of %d cases passed", passed, len(cases))
}

// Reference implementation: a transliteration of the Python of RFC 9420,
// Appendix C, used to check the bit-twiddling versions on trees of every
// size, including sizes that are not a power of two.

func refLog2(x uint64) int {
	if x == 0 {
		return 0
	}
	k := 0
	for (x >> k) > 0 {
		k++
	}
	return k - 1
}

func refLevel(x uint64) int {
	if x&1 == 0 {
		return 0
	}
	k := 0
	for (x>>k)&1 == 1 {
		k++
	}
	return k
}

func refNodeWidth(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return 2*(n-1) + 1
}

func refRoot(n uint64) uint64 {
	return (1 << refLog2(refNodeWidth(n))) - 1
}

func refLeft(x uint64) (uint64, bool) {
	k := refLevel(x)
	if k == 0 {
		return 0, false
	}
	return x ^ (1 << (k - 1)), true
}

func refRight(x uint64) (uint64, bool) {
	k := refLevel(x)
	if k == 0 {
		return 0, false
	}
	return x ^ (3 << (k - 1)), true
}

func refParent(x, n uint64) (uint64, bool) {
	if x == refRoot(n) {
		return 0, false
	}
	k := refLevel(x)
	b := (x >> (k + 1)) & 1
	return (x | (1 << k)) ^ (b << (k + 1)), true
}

func refSibling(x, n uint64) (uint64, bool) {
	p, ok := refParent(x, n)
	if !ok {
		return 0, false
	}
	if x < p {
		return refRight(p)
	}
	return refLeft(p)
}

func refDirectPath(x, n uint64) []uint64 {
	r := refRoot(n)
	var d []uint64
	for x != r {
		x, _ = refParent(x, n)
		d = append(d, x)
	}
	return d
}

func refCopath(x, n uint64) []uint64 {
	if x == refRoot(n) {
		return nil
	}
	d := append([]uint64{x}, refDirectPath(x, n)...)
	d = d[:len(d)-1]
	var c []uint64
	for _, y := range d {
		s, _ := refSibling(y, n)
		c = append(c, s)
	}
	return c
}

func refCommonAncestor(x, y, n uint64) uint64 {
	dx := append([]uint64{x}, refDirectPath(x, n)...)
	dy := append([]uint64{y}, refDirectPath(y, n)...)
	best, bestLevel := uint64(0), math.MaxInt
	for _, a := range dx {
		if slices.Contains(dy, a) && refLevel(a) < bestLevel {
			best, bestLevel = a, refLevel(a)
		}
	}
	return best
}

func nodes(s []uint64) []NodeIndex {
	out := make([]NodeIndex, len(s))
	for i, v := range s {
		out[i] = NodeIndex(v)
	}
	return out
}

func checkRel(t *testing.T, name string, x NodeIndex, got NodeIndex, gotOK bool, want uint64, wantOK bool) {
	t.Helper()
	if gotOK != wantOK || (wantOK && uint64(got) != want) {
		t.Fatalf("%s(%d) = %d, %v; want %d, %v", name, x, got, gotOK, want, wantOK)
	}
}

// TestAgainstAppendixC compares every function with the Appendix C
// reference for all trees of up to 70 leaves, on every node of the full tree.
func TestAgainstAppendixC(t *testing.T) {
	for n := LeafCount(1); n <= 70; n++ {
		nn := uint64(n)
		if got, want := NodeWidth(n), uint32(refNodeWidth(nn)); got != want {
			t.Fatalf("NodeWidth(%d) = %d, want %d", n, got, want)
		}
		root := Root(n)
		if uint64(root) != refRoot(nn) {
			t.Fatalf("Root(%d) = %d, want %d", n, root, refRoot(nn))
		}
		full := FullNodeWidth(n)
		if full != 2*uint32(root)+1 || full < NodeWidth(n) {
			t.Fatalf("FullNodeWidth(%d) = %d, root %d", n, full, root)
		}
		for x := NodeIndex(0); uint32(x) < full; x++ {
			xx := uint64(x)
			if !InTree(x, n) {
				t.Fatalf("InTree(%d, %d) = false", x, n)
			}
			if Level(x) != refLevel(xx) {
				t.Fatalf("Level(%d) = %d, want %d", x, Level(x), refLevel(xx))
			}
			got, ok := Left(x)
			want, wok := refLeft(xx)
			checkRel(t, "Left", x, got, ok, want, wok)
			got, ok = Right(x)
			want, wok = refRight(xx)
			checkRel(t, "Right", x, got, ok, want, wok)
			got, ok = Parent(x, n)
			want, wok = refParent(xx, nn)
			checkRel(t, "Parent", x, got, ok, want, wok)
			got, ok = Sibling(x, n)
			want, wok = refSibling(xx, nn)
			checkRel(t, "Sibling", x, got, ok, want, wok)

			dp, ok := DirectPath(x, n)
			if !ok || !slices.Equal(dp, nodes(refDirectPath(xx, nn))) {
				t.Fatalf("DirectPath(%d, %d) = %v, %v; want %v", x, n, dp, ok, refDirectPath(xx, nn))
			}
			cp, ok := Copath(x, n)
			if !ok || !slices.Equal(cp, nodes(refCopath(xx, nn))) {
				t.Fatalf("Copath(%d, %d) = %v, %v; want %v", x, n, cp, ok, refCopath(xx, nn))
			}
			for y := NodeIndex(0); uint32(y) < full; y++ {
				want := refCommonAncestor(xx, uint64(y), nn)
				if got := CommonAncestor(x, y); uint64(got) != want {
					t.Fatalf("CommonAncestor(%d, %d) = %d, want %d", x, y, got, want)
				}
				isAnc := slices.Contains(dp, y)
				if got := IsAncestor(y, x); got != isAnc {
					t.Fatalf("IsAncestor(%d, %d) = %v, want %v", y, x, got, isAnc)
				}
			}
		}
		// The first node outside the full tree is rejected everywhere.
		x := NodeIndex(full)
		if InTree(x, n) {
			t.Fatalf("InTree(%d, %d) = true", x, n)
		}
		if _, ok := Parent(x, n); ok {
			t.Fatalf("Parent(%d, %d) defined outside the tree", x, n)
		}
		if _, ok := Sibling(x, n); ok {
			t.Fatalf("Sibling(%d, %d) defined outside the tree", x, n)
		}
		if dst, ok := AppendDirectPath([]NodeIndex{7}, x, n); ok || !slices.Equal(dst, []NodeIndex{7}) {
			t.Fatalf("AppendDirectPath outside the tree = %v, %v", dst, ok)
		}
		if dst, ok := AppendCopath([]NodeIndex{7}, x, n); ok || !slices.Equal(dst, []NodeIndex{7}) {
			t.Fatalf("AppendCopath outside the tree = %v, %v", dst, ok)
		}
	}
}

// TestFigure11 checks the direct paths and copaths of RFC 9420, Section
// 4.1.2, Figure 11 and Table 2.
func TestFigure11(t *testing.T) {
	const (
		A, B, E, F, G, H = 0, 2, 8, 10, 12, 14
		T, U, V, W       = 1, 3, 5, 7
		X, Y, Z          = 9, 11, 13
	)
	for _, tc := range []struct {
		leaf           NodeIndex
		direct, copath []NodeIndex
	}{
		{A, []NodeIndex{T, U, W}, []NodeIndex{B, V, Y}},
		{B, []NodeIndex{T, U, W}, []NodeIndex{A, V, Y}},
		{E, []NodeIndex{X, Y, W}, []NodeIndex{F, Z, U}},
		{F, []NodeIndex{X, Y, W}, []NodeIndex{E, Z, U}},
		{G, []NodeIndex{Z, Y, W}, []NodeIndex{H, X, U}},
	} {
		dp, _ := DirectPath(tc.leaf, 8)
		cp, _ := Copath(tc.leaf, 8)
		if !slices.Equal(dp, tc.direct) || !slices.Equal(cp, tc.copath) {
			t.Errorf("leaf node %d: direct path %v, copath %v; want %v, %v", tc.leaf, dp, cp, tc.direct, tc.copath)
		}
	}
}

func TestConversions(t *testing.T) {
	for _, l := range []LeafIndex{0, 1, 2, 1000, 1<<31 - 1} {
		x := l.Node()
		if x != NodeIndex(2*uint64(l)) || !x.IsLeaf() {
			t.Errorf("LeafIndex(%d).Node() = %d", l, x)
		}
		if back, ok := x.Leaf(); !ok || back != l {
			t.Errorf("NodeIndex(%d).Leaf() = %d, %v", x, back, ok)
		}
	}
	for _, l := range []LeafIndex{1 << 31, math.MaxUint32} {
		if x := l.Node(); x != InvalidNode {
			t.Errorf("LeafIndex(%d).Node() = %d, want InvalidNode", l, x)
		}
	}
	if InTree(InvalidNode, MaxLeafCount) {
		t.Error("InvalidNode is in the largest tree")
	}
	for _, x := range []NodeIndex{1, 3, 7, InvalidNode} {
		if x.IsLeaf() {
			t.Errorf("NodeIndex(%d).IsLeaf() = true", x)
		}
		if _, ok := x.Leaf(); ok {
			t.Errorf("NodeIndex(%d).Leaf() ok", x)
		}
	}
	if !LeafCount(3).HasLeaf(2) || LeafCount(3).HasLeaf(3) || LeafCount(0).HasLeaf(0) ||
		!MaxLeafCount.HasLeaf(1<<31-1) || (MaxLeafCount + 1).HasLeaf(0) {
		t.Error("HasLeaf")
	}
}

func TestEmptyAndOversizedTrees(t *testing.T) {
	for _, n := range []LeafCount{0, MaxLeafCount + 1, math.MaxUint32} {
		if NodeWidth(n) != 0 || FullNodeWidth(n) != 0 || FullLeafCount(n) != 0 || Root(n) != 0 {
			t.Errorf("n=%d: NodeWidth %d, FullNodeWidth %d, FullLeafCount %d, Root %d",
				n, NodeWidth(n), FullNodeWidth(n), FullLeafCount(n), Root(n))
		}
		if InTree(0, n) {
			t.Errorf("n=%d: InTree(0)", n)
		}
		if _, ok := Parent(0, n); ok {
			t.Errorf("n=%d: Parent(0) defined", n)
		}
		if _, ok := Sibling(0, n); ok {
			t.Errorf("n=%d: Sibling(0) defined", n)
		}
		if _, ok := DirectPath(0, n); ok {
			t.Errorf("n=%d: DirectPath(0) defined", n)
		}
		if _, ok := Copath(0, n); ok {
			t.Errorf("n=%d: Copath(0) defined", n)
		}
	}
}

// TestLargestTrees exercises trees near 2^31 leaves, where a careless
// implementation overflows uint32.
func TestLargestTrees(t *testing.T) {
	for _, n := range []LeafCount{1<<30 + 1, 3 << 29, MaxLeafCount - 1, MaxLeafCount} {
		if got := NodeWidth(n); uint64(got) != 2*uint64(n)-1 {
			t.Fatalf("NodeWidth(%d) = %d", n, got)
		}
		if FullLeafCount(n) != MaxLeafCount || FullNodeWidth(n) != math.MaxUint32 {
			t.Fatalf("n=%d: FullLeafCount %d, FullNodeWidth %d", n, FullLeafCount(n), FullNodeWidth(n))
		}
		root := Root(n)
		if root != 1<<31-1 || Level(root) != 31 {
			t.Fatalf("Root(%d) = %d", n, root)
		}
		if _, ok := Parent(root, n); ok {
			t.Fatalf("Parent(root) defined")
		}
		if _, ok := Sibling(root, n); ok {
			t.Fatalf("Sibling(root) defined")
		}
		if l, ok := Left(root); !ok || l != 1<<30-1 {
			t.Fatalf("Left(root) = %d, %v", l, ok)
		}
		if r, ok := Right(root); !ok || r != 3<<30-1 {
			t.Fatalf("Right(root) = %d, %v", r, ok)
		}
		last := LeafIndex(n - 1).Node()
		for _, x := range []NodeIndex{0, last, math.MaxUint32 - 1, 1<<31 + 1, 3<<30 - 1} {
			xx, nn := uint64(x), uint64(n)
			if !InTree(x, n) {
				t.Fatalf("InTree(%d, %d) = false", x, n)
			}
			got, ok := Parent(x, n)
			want, wok := refParent(xx, nn)
			checkRel(t, "Parent", x, got, ok, want, wok)
			got, ok = Sibling(x, n)
			want, wok = refSibling(xx, nn)
			checkRel(t, "Sibling", x, got, ok, want, wok)
			dp, ok := DirectPath(x, n)
			if !ok || !slices.Equal(dp, nodes(refDirectPath(xx, nn))) {
				t.Fatalf("DirectPath(%d, %d) = %v, want %v", x, n, dp, refDirectPath(xx, nn))
			}
			cp, ok := Copath(x, n)
			if !ok || !slices.Equal(cp, nodes(refCopath(xx, nn))) {
				t.Fatalf("Copath(%d, %d) = %v, want %v", x, n, cp, refCopath(xx, nn))
			}
			if x.IsLeaf() && len(dp) != 31 {
				t.Fatalf("len(DirectPath(%d)) = %d, want 31", x, len(dp))
			}
		}
		if got := CommonAncestor(0, math.MaxUint32-1); got != root {
			t.Fatalf("CommonAncestor(first, last) = %d, want %d", got, root)
		}
		if InTree(math.MaxUint32, n) {
			t.Fatalf("InTree(2^32-1, %d)", n)
		}
	}
	// InvalidNode is the root of the 2^32-leaf tree: it has a left child but
	// its right child is not representable.
	if l, ok := Left(InvalidNode); !ok || l != 1<<31-1 {
		t.Fatalf("Left(InvalidNode) = %d, %v", l, ok)
	}
	if _, ok := Right(InvalidNode); ok {
		t.Fatal("Right(InvalidNode) defined")
	}
	if got := CommonAncestor(0, InvalidNode); got != InvalidNode {
		t.Fatalf("CommonAncestor(0, InvalidNode) = %d", got)
	}
}

func TestAppendReusesBuffer(t *testing.T) {
	buf := make([]NodeIndex, 0, 32)
	prefix := []NodeIndex{99}
	buf = append(buf, prefix...)
	out, ok := AppendDirectPath(buf, 0, 8)
	if !ok || !slices.Equal(out, []NodeIndex{99, 1, 3, 7}) || &out[0] != &buf[0] {
		t.Fatalf("AppendDirectPath = %v, %v", out, ok)
	}
	out, ok = AppendCopath(out[:1], 0, 8)
	if !ok || !slices.Equal(out, []NodeIndex{99, 2, 5, 11}) || &out[0] != &buf[0] {
		t.Fatalf("AppendCopath = %v, %v", out, ok)
	}
	if p, ok := DirectPath(Root(8), 8); !ok || len(p) != 0 {
		t.Fatalf("DirectPath(root) = %v, %v", p, ok)
	}
	if p, ok := Copath(Root(8), 8); !ok || len(p) != 0 {
		t.Fatalf("Copath(root) = %v, %v", p, ok)
	}
}

func TestAllocations(t *testing.T) {
	buf := make([]NodeIndex, 0, 32)
	const n = LeafCount(1000)
	allocs := testing.AllocsPerRun(100, func() {
		for x := NodeIndex(0); x < 100; x++ {
			buf, _ = AppendDirectPath(buf[:0], x, n)
			buf, _ = AppendCopath(buf[:0], x, n)
			Parent(x, n)
			Sibling(x, n)
			CommonAncestor(x, 77)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}
