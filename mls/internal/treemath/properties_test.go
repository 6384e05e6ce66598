package treemath

import (
	"slices"
	"strconv"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/mlskit/mlskit/internal/testseed"
)

const maxPropLeaves = 1 << 20

// genLeafCount generates leaf counts from 1 to 2^20, most of them not a
// power of two.
func genLeafCount() gopter.Gen {
	return gen.UInt32Range(1, maxPropLeaves).Map(func(v uint32) LeafCount { return LeafCount(v) })
}

// nodeIn maps an arbitrary r to a node of the tree with n leaves (including
// its truncated blank nodes).
func nodeIn(r uint32, n LeafCount) NodeIndex {
	return NodeIndex(r % FullNodeWidth(n))
}

// chain returns x followed by its direct path.
func chain(x NodeIndex, n LeafCount) []NodeIndex {
	dp, _ := AppendDirectPath([]NodeIndex{x}, x, n)
	return dp
}

func TestProperties(t *testing.T) {
	params := testseed.Gopter(t)
	params.MinSuccessfulTests = 2000
	props := gopter.NewProperties(params)

	props.Property("children of a parent node have it as parent", prop.ForAll(
		func(n LeafCount, r uint32) bool {
			x := nodeIn(r, n)
			l, lok := Left(x)
			rt, rok := Right(x)
			if x.IsLeaf() {
				return !lok && !rok
			}
			pl, plok := Parent(l, n)
			pr, prok := Parent(rt, n)
			return lok && rok && plok && prok && pl == x && pr == x &&
				l < x && x < rt && Level(l) == Level(x)-1 && Level(rt) == Level(x)-1
		},
		genLeafCount(), gen.UInt32(),
	))

	props.Property("sibling is symmetric and shares the parent", prop.ForAll(
		func(n LeafCount, r uint32) bool {
			x := nodeIn(r, n)
			s, ok := Sibling(x, n)
			if x == Root(n) {
				return !ok
			}
			ss, sok := Sibling(s, n)
			px, _ := Parent(x, n)
			ps, psok := Parent(s, n)
			return ok && sok && psok && ss == x && s != x && px == ps &&
				Level(s) == Level(x) && InTree(s, n)
		},
		genLeafCount(), gen.UInt32(),
	))

	props.Property("direct path climbs one level at a time to the root", prop.ForAll(
		func(n LeafCount, r uint32) bool {
			x := nodeIn(r, n)
			dp, ok := DirectPath(x, n)
			if !ok {
				return false
			}
			if x == Root(n) {
				return len(dp) == 0
			}
			if len(dp) == 0 || dp[len(dp)-1] != Root(n) {
				return false
			}
			prev := x
			for _, p := range dp {
				want, pok := Parent(prev, n)
				if !pok || p != want || Level(p) != Level(prev)+1 || !IsAncestor(p, x) {
					return false
				}
				prev = p
			}
			m, _ := DirectPathLen(x, n)
			return m == len(dp)
		},
		genLeafCount(), gen.UInt32(),
	))

	props.Property("copath[i] is the sibling of the i-th node of x's chain", prop.ForAll(
		func(n LeafCount, r uint32) bool {
			x := nodeIn(r, n)
			cp, ok := Copath(x, n)
			c := chain(x, n)
			if !ok || len(cp) != len(c)-1 {
				return false
			}
			for i, s := range cp {
				want, sok := Sibling(c[i], n)
				if !sok || s != want || IsAncestor(s, x) {
					return false
				}
			}
			return true
		},
		genLeafCount(), gen.UInt32(),
	))

	props.Property("leaves of a full tree have direct paths as long as the root's level", prop.ForAll(
		func(d uint8, r uint32) bool {
			n := LeafCount(1) << d
			leaf := LeafIndex(r % uint32(n))
			x := leaf.Node()
			dp, ok := DirectPath(x, n)
			back, lok := x.Leaf()
			return ok && lok && back == leaf && len(dp) == Level(Root(n)) && len(dp) == int(d) &&
				FullLeafCount(n) == n && NodeWidth(n) == FullNodeWidth(n)
		},
		gen.UInt8Range(0, 20), gen.UInt32(),
	))

	props.Property("CommonAncestor is the lowest node in both chains", prop.ForAll(
		func(n LeafCount, r1, r2 uint32) bool {
			x, y := nodeIn(r1, n), nodeIn(r2, n)
			cx, cy := chain(x, n), chain(y, n)
			var want NodeIndex
			found := false
			for _, a := range cx {
				if slices.Contains(cy, a) && (!found || Level(a) < Level(want)) {
					want, found = a, true
				}
			}
			got := CommonAncestor(x, y)
			return found && got == want && CommonAncestor(y, x) == got &&
				min(x, y) <= got && got <= max(x, y) &&
				(got == x || IsAncestor(got, x)) && (got == y || IsAncestor(got, y))
		},
		genLeafCount(), gen.UInt32(), gen.UInt32(),
	))

	props.Property("common ancestor of two leaves of the same parent is that parent", prop.ForAll(
		func(n LeafCount, r uint32) bool {
			x := nodeIn(r, n)
			s, ok := Sibling(x, n)
			if !ok {
				return x == Root(n)
			}
			p, _ := Parent(x, n)
			return CommonAncestor(x, s) == p
		},
		genLeafCount(), gen.UInt32(),
	))

	props.TestingRun(t)
}

func BenchmarkAppendDirectPath(b *testing.B) {
	for _, n := range []LeafCount{2, 1000, 1 << 20, MaxLeafCount} {
		b.Run(leafCountName(n), func(b *testing.B) {
			buf := make([]NodeIndex, 0, 32)
			x := LeafIndex(n / 3).Node()
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendDirectPath(buf[:0], x, n)
			}
		})
	}
}

func BenchmarkAppendCopath(b *testing.B) {
	for _, n := range []LeafCount{2, 1000, 1 << 20, MaxLeafCount} {
		b.Run(leafCountName(n), func(b *testing.B) {
			buf := make([]NodeIndex, 0, 32)
			x := LeafIndex(n / 3).Node()
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendCopath(buf[:0], x, n)
			}
		})
	}
}

func BenchmarkDirectPath(b *testing.B) {
	const n = LeafCount(1000)
	x := LeafIndex(n / 3).Node()
	b.ReportAllocs()
	for b.Loop() {
		DirectPath(x, n)
	}
}

func BenchmarkCopath(b *testing.B) {
	const n = LeafCount(1000)
	x := LeafIndex(n / 3).Node()
	b.ReportAllocs()
	for b.Loop() {
		Copath(x, n)
	}
}

func BenchmarkParentSibling(b *testing.B) {
	const n = LeafCount(1000)
	b.ReportAllocs()
	var x NodeIndex
	for b.Loop() {
		p, _ := Parent(x, n)
		s, _ := Sibling(x, n)
		x = (x + p + s) % NodeIndex(FullNodeWidth(n))
	}
}

func BenchmarkCommonAncestor(b *testing.B) {
	b.ReportAllocs()
	var x, y NodeIndex = 12345, 67890
	for b.Loop() {
		x = CommonAncestor(x, y) ^ 0x55
	}
}

func leafCountName(n LeafCount) string {
	switch n {
	case MaxLeafCount:
		return "leaves=2^31"
	case 1 << 20:
		return "leaves=2^20"
	}
	return "leaves=" + strconv.FormatUint(uint64(n), 10)
}
