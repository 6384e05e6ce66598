// Package treemath implements the index arithmetic of the array-based ratchet
// tree of RFC 9420, Section 4 and Appendix C.
//
// # Representation
//
// Nodes are numbered in-order: the leaf with index i is node 2i, and parent
// (intermediate) nodes have odd indices (RFC 9420, Appendix C, Figure 32).
// The level of a node is the number of trailing one bits of its index; leaves
// are at level 0.
//
// # Trees that are not a power of two
//
// RFC 9420 trees are always full: a tree with n leaves, for n a power of two,
// has 2n-1 nodes (Section 4.1.1), and adding or removing leaves doubles or
// halves the tree (Section 7.7). A node vector with trailing blank nodes
// truncated (as in the ratchet_tree extension, Section 12.4.3.3) describes
// the same full tree. This package follows Appendix C exactly, so for a leaf
// count n that is not a power of two, the tree is the full tree of
// FullLeafCount(n) leaves, of which only the first NodeWidth(n) = 2n-1 nodes
// are stored; the others are truncated trailing blank nodes. Consequently
// Parent, Sibling, Right, DirectPath and Copath may return indices at or
// beyond NodeWidth(n); such nodes are blank. This is not the "left-balanced"
// tree of early drafts, whose parent function skipped over missing nodes;
// those semantics would give different tree and parent hashes than RFC 9420.
//
// # Limits and errors
//
// Indices are uint32, so a tree has at most MaxLeafCount = 2^31 leaves (its
// widest node index, 2^32-2, still fits). Leaf counts above MaxLeafCount are
// treated as an empty tree. Nothing in this package panics: operations that
// are undefined (the children of a leaf, the parent of the root, any relation
// of a node outside the tree) report ok == false.
//
// All functions except DirectPath and Copath are allocation-free;
// AppendDirectPath and AppendCopath append to a caller's slice.
package treemath

import (
	"math"
	"math/bits"
	"slices"
)

// LeafIndex is the index of a leaf among the leaves of a ratchet tree,
// counted from 0 at the left (RFC 9420, Section 4.1.1).
type LeafIndex uint32

// NodeIndex is the index of a node in the array representation of a ratchet
// tree (RFC 9420, Appendix C): leaf i is node 2i, parent nodes are odd.
type NodeIndex uint32

// LeafCount is a number of leaves in a ratchet tree.
type LeafCount uint32

// MaxLeafCount is the largest number of leaves of a tree whose node indices
// fit in a NodeIndex: its nodes are numbered 0 through 2^32-2.
const MaxLeafCount LeafCount = 1 << 31

// InvalidNode is a node index that lies outside every tree with at most
// MaxLeafCount leaves. LeafIndex.Node maps out-of-range leaves to it so that
// any later tree operation on the result reports ok == false.
const InvalidNode NodeIndex = math.MaxUint32

// Node returns the node index of leaf l, which is 2l (RFC 9420, Appendix C).
// A leaf index of MaxLeafCount or more belongs to no representable tree; for
// such l, Node returns InvalidNode rather than a wrapped-around index.
func (l LeafIndex) Node() NodeIndex {
	if l >= LeafIndex(MaxLeafCount) {
		return InvalidNode
	}
	return NodeIndex(l) << 1
}

// IsLeaf reports whether x is a leaf node, that is, whether x is even
// (RFC 9420, Appendix C).
func (x NodeIndex) IsLeaf() bool {
	return x&1 == 0
}

// Leaf returns the leaf index of node x. It reports false if x is a parent
// node (odd), which has no leaf index.
func (x NodeIndex) Leaf() (LeafIndex, bool) {
	if x&1 != 0 {
		return 0, false
	}
	return LeafIndex(x >> 1), true
}

// HasLeaf reports whether l is a leaf of a tree with n leaves, that is,
// whether l < n and n <= MaxLeafCount.
func (n LeafCount) HasLeaf(l LeafIndex) bool {
	return n <= MaxLeafCount && uint32(l) < uint32(n)
}

// valid reports whether n describes a non-empty representable tree.
func (n LeafCount) valid() bool {
	return n != 0 && n <= MaxLeafCount
}

// NodeWidth returns the number of nodes needed to represent a tree with n
// leaves: 2n-1 for n >= 1 and 0 for n == 0 (node_width in RFC 9420,
// Appendix C). For a power of two this is the whole tree (Section 4.1.1);
// otherwise the nodes from NodeWidth(n) up to the full tree's width are
// truncated blanks. NodeWidth returns 0 for n > MaxLeafCount.
func NodeWidth(n LeafCount) uint32 {
	if !n.valid() {
		return 0
	}
	return 2*uint32(n) - 1
}

// FullLeafCount returns the number of leaves of the full tree that a tree
// with n leaves is part of: the smallest power of two that is at least n
// (RFC 9420, Section 7.7). It returns 0 for n == 0 and for n > MaxLeafCount.
func FullLeafCount(n LeafCount) LeafCount {
	if !n.valid() {
		return 0
	}
	return 1 << bits.Len32(uint32(n)-1)
}

// FullNodeWidth returns the number of nodes of the full tree that a tree
// with n leaves is part of, 2*FullLeafCount(n)-1, or 0 if n is 0 or
// exceeds MaxLeafCount. The nodes of the tree are 0 through
// FullNodeWidth(n)-1.
func FullNodeWidth(n LeafCount) uint32 {
	if !n.valid() {
		return 0
	}
	return 2*uint32(FullLeafCount(n)) - 1
}

// InTree reports whether x is a node of the tree with n leaves, including
// the truncated blank nodes of a tree whose leaf count is not a power of two
// (see the package documentation): 0 <= x < FullNodeWidth(n).
func InTree(x NodeIndex, n LeafCount) bool {
	return uint32(x) < FullNodeWidth(n)
}

// Root returns the index of the root node of a tree with n leaves
// (root in RFC 9420, Appendix C): 2^k-1 where 2^k is the largest power of
// two not exceeding NodeWidth(n). As in Appendix C, Root(0) is 0; an empty
// tree has no nodes, so callers must not use that value as a node. For
// n > MaxLeafCount Root also returns 0.
func Root(n LeafCount) NodeIndex {
	if !n.valid() {
		return 0
	}
	return NodeIndex(FullLeafCount(n) - 1)
}

// Level returns the level of node x: leaves are at level 0, their parents at
// level 1, and so on (level in RFC 9420, Appendix C). It is the number of
// trailing one bits of x.
func Level(x NodeIndex) int {
	return bits.TrailingZeros32(^uint32(x))
}

// ancestorAt returns the ancestor of x at level k >= Level(x) in the
// unbounded in-order numbering (RFC 9420, Appendix C: parent=01x => left=00x,
// right=10x): the bits of x above bit k, bit k clear, and the k low bits set.
// It computes in 64 bits so that k may be as large as 32.
func ancestorAt(x NodeIndex, k int) uint64 {
	return (uint64(x)>>(k+1))<<(k+1) | (uint64(1)<<k - 1)
}

// Left returns the left child of parent node x (left in RFC 9420,
// Appendix C). It reports false if x is a leaf, which has no children.
func Left(x NodeIndex) (NodeIndex, bool) {
	k := Level(x)
	if k == 0 {
		return 0, false
	}
	return x ^ NodeIndex(1)<<(k-1), true
}

// Right returns the right child of parent node x (right in RFC 9420,
// Appendix C). It reports false if x is a leaf, or if the child would not be
// representable as a NodeIndex (only for x = InvalidNode). In a tree whose
// leaf count is not a power of two the right child may be a truncated blank
// node at or beyond NodeWidth(n).
func Right(x NodeIndex) (NodeIndex, bool) {
	k := Level(x)
	if k == 0 {
		return 0, false
	}
	r := uint64(x) ^ uint64(3)<<(k-1)
	if r > math.MaxUint32 {
		return 0, false
	}
	return NodeIndex(r), true
}

// Parent returns the parent of node x in a tree with n leaves (parent in
// RFC 9420, Appendix C). It reports false if x is the root or is not a node
// of the tree (see InTree).
func Parent(x NodeIndex, n LeafCount) (NodeIndex, bool) {
	if !InTree(x, n) || x == Root(n) {
		return 0, false
	}
	// x is below the root, whose level is at most 31, so k <= 30.
	k := Level(x)
	b := (x >> (k + 1)) & 1
	return (x | 1<<k) ^ (b << (k + 1)), true
}

// Sibling returns the other child of the parent of node x in a tree with n
// leaves (sibling in RFC 9420, Appendix C; Section 4.1 calls nodes that share
// a parent siblings). It reports false if x is the root or is not a node of
// the tree.
func Sibling(x NodeIndex, n LeafCount) (NodeIndex, bool) {
	if !InTree(x, n) || x == Root(n) {
		return 0, false
	}
	// The two children of a parent at level k+1 differ only in bit k+1.
	return x ^ NodeIndex(2)<<Level(x), true
}

// DirectPathLen returns the length of the direct path of node x in a tree
// with n leaves, which is also the length of its copath: the difference
// between the level of the root and the level of x. It reports false if x is
// not a node of the tree.
func DirectPathLen(x NodeIndex, n LeafCount) (int, bool) {
	if !InTree(x, n) {
		return 0, false
	}
	return Level(Root(n)) - Level(x), true
}

// DirectPath returns the direct path of node x in a tree with n leaves,
// ordered from x's parent to the root (RFC 9420, Section 4.1.2; direct_path
// in Appendix C). The direct path of the root is empty. It reports false if
// x is not a node of the tree. DirectPath allocates its result; see
// AppendDirectPath.
func DirectPath(x NodeIndex, n LeafCount) ([]NodeIndex, bool) {
	return AppendDirectPath(nil, x, n)
}

// AppendDirectPath appends the direct path of node x in a tree with n leaves
// to dst, as described for DirectPath, and returns the extended slice. It
// allocates only if dst lacks capacity. If x is not a node of the tree it
// returns dst unchanged and false.
func AppendDirectPath(dst []NodeIndex, x NodeIndex, n LeafCount) ([]NodeIndex, bool) {
	m, ok := DirectPathLen(x, n)
	if !ok {
		return dst, false
	}
	dst = slices.Grow(dst, m)
	// The full tree has a node at every level between x and the root, so
	// the direct path is x's ancestor at each of those levels in turn.
	for k := Level(x) + 1; m > 0; k, m = k+1, m-1 {
		dst = append(dst, NodeIndex(ancestorAt(x, k)))
	}
	return dst, true
}

// Copath returns the copath of node x in a tree with n leaves: the sibling
// of x followed by the siblings of the nodes of its direct path except the
// root, ordered from x's level upwards (RFC 9420, Section 4.1.2; copath in
// Appendix C). The copath of the root is empty. It reports false if x is not
// a node of the tree. Copath allocates its result; see AppendCopath.
//
// In a tree whose leaf count is not a power of two, copath nodes may be
// truncated blank nodes at or beyond NodeWidth(n); their resolution is empty.
func Copath(x NodeIndex, n LeafCount) ([]NodeIndex, bool) {
	return AppendCopath(nil, x, n)
}

// AppendCopath appends the copath of node x in a tree with n leaves to dst,
// as described for Copath, and returns the extended slice. It allocates only
// if dst lacks capacity. If x is not a node of the tree it returns dst
// unchanged and false.
func AppendCopath(dst []NodeIndex, x NodeIndex, n LeafCount) ([]NodeIndex, bool) {
	m, ok := DirectPathLen(x, n)
	if !ok {
		return dst, false
	}
	dst = slices.Grow(dst, m)
	// The i-th copath node is the sibling of x's ancestor at level
	// Level(x)+i (x itself for i == 0); siblings at level k differ in bit k+1.
	for k := Level(x); m > 0; k, m = k+1, m-1 {
		dst = append(dst, NodeIndex(ancestorAt(x, k)^uint64(2)<<k))
	}
	return dst, true
}

// CommonAncestor returns the lowest common ancestor of nodes x and y: the
// node of lowest level that lies in both {x} ∪ DirectPath(x) and
// {y} ∪ DirectPath(y) (common_ancestor_semantic and common_ancestor_direct
// in RFC 9420, Appendix C). If one node is an ancestor of the other, that
// node is the result; CommonAncestor(x, x) is x.
//
// The result does not depend on the tree size: if x and y are nodes of a
// tree, so is their common ancestor, and it lies between x and y.
func CommonAncestor(x, y NodeIndex) NodeIndex {
	// The ancestor of x at level k >= Level(x) is determined by the bits of
	// x above bit k; x and y share the ancestor at level k iff those bits
	// agree, i.e. iff bits.Len32(x^y) <= k+1. Take the lowest such k that is
	// also at least the level of each node.
	k := max(Level(x), Level(y), bits.Len32(uint32(x^y))-1)
	// All nodes up to 2^32-1 lie in the full tree of 2^32 leaves, and the
	// ancestor lies between x and y, so it fits in uint32.
	return NodeIndex(ancestorAt(x, k))
}

// IsAncestor reports whether a is a proper ancestor of x, that is, whether a
// lies on the direct path of x (RFC 9420, Section 4.1: x is a descendant of
// a). A node is not its own ancestor. As with CommonAncestor, the relation
// does not depend on the tree size: if x is a node of a tree, every node of
// that tree for which IsAncestor(a, x) holds is on x's direct path.
func IsAncestor(a, x NodeIndex) bool {
	k := Level(a)
	return k > Level(x) && uint64(a)>>(k+1) == uint64(x)>>(k+1)
}
