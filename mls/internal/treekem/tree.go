package treekem

import (
	"slices"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// Tree is the view of a staged ratchet tree (RFC 9420 §7) that TreeKEM
// reads and changes: the copy of the group's tree that a Commit's proposals
// have been applied to and that is merged only when the Commit is accepted.
// *ratchettree.Diff implements it.
//
// Nodes outside the tree are blank. Nodes returned by the getters are not
// modified by this package.
type Tree interface {
	TreeView
	// NodeTreeHash returns the tree hash of the subtree rooted at node x
	// as the tree currently is (§7.8).
	NodeTreeHash(x treemath.NodeIndex) ([]byte, error)
	// SetPathKeys merges the public keys of an UpdatePath from leaf l
	// (§7.5 steps 1–3): it blanks l's direct path, sets each node of its
	// filtered direct path to the corresponding key with no unmerged leaves
	// and the parent hash of the node above (§7.9), and returns the parent
	// hash l's new leaf node must carry. It changes nothing on error.
	SetPathKeys(l treemath.LeafIndex, keys []codec.HPKEPublicKey) (leafParentHash []byte, err error)
	// ReplaceLeaf sets the leaf node of leaf l (§7.5 step 4).
	ReplaceLeaf(l treemath.LeafIndex, ln *codec.LeafNode) error
}

// HashReader is implemented by trees that can lend the tree hash of a
// node without copying it (*ratchettree.Diff): SharedNodeTreeHash is
// NodeTreeHash, whose result the caller only reads, before the tree
// changes. TreeKEM hashes the copath's tree hashes into the parent and
// tree hashes of a path (§7.8, §7.9), a copy per level otherwise.
type HashReader interface {
	SharedNodeTreeHash(x treemath.NodeIndex) ([]byte, error)
}

// nodeTreeHash is t's NodeTreeHash, without a copy if t is a HashReader;
// the caller only reads it, before t changes.
func nodeTreeHash(t Tree, x treemath.NodeIndex) ([]byte, error) {
	if r, ok := t.(HashReader); ok {
		return r.SharedNodeTreeHash(x)
	}
	return t.NodeTreeHash(x)
}

// PathSetter is implemented by trees that merge a path with the parent
// hashes TreeKEM computed (*ratchettree.Diff): SetPathNodes is SetPathKeys
// with parentHashes[i] the parent_hash of the i-th node of the filtered
// direct path, computed on the tree's current state (§7.9), so that a
// path's parent hashes are computed once, not once to check or sign the
// leaf's parent_hash and again to merge. It changes nothing on error.
type PathSetter interface {
	SetPathNodes(l treemath.LeafIndex, keys []codec.HPKEPublicKey, parentHashes [][]byte) error
	// SetCheckedPathNodes is SetPathNodes for keys found distinct and
	// new to the tree (checkKeyReuse) on the tree's current state: it
	// does not look them up again.
	SetCheckedPathNodes(l treemath.LeafIndex, keys []codec.HPKEPublicKey, parentHashes [][]byte) error
}

// HashSeeder is implemented by trees that cache the tree hashes of their
// changed nodes (*ratchettree.Diff). Right after a path is merged,
// SeedTreeHashes gives the tree hashes of its leaf and of each node of its
// direct path, which TreeKEM computed for the provisional GroupContext on the tree as
// the merge makes it (§7.8, §12.4.1), so that the tree's hash for the new
// GroupContext (§8.1) is not computed a second time: hashes[0] is leaf
// l's, hashes[i+1] that of directPath[i], l's direct path. The tree takes
// the slices.
type HashSeeder interface {
	SeedTreeHashes(l treemath.LeafIndex, directPath []treemath.NodeIndex, hashes [][]byte)
}

// TreeView is the read-only part of a ratchet tree that [PrivateKeys]
// consults; *ratchettree.Tree and *ratchettree.Diff implement it.
type TreeView interface {
	// LeafCount returns the number of leaves of the tree (§7.7).
	LeafCount() treemath.LeafCount
	// Leaf returns the leaf node of leaf l, or nil if it is blank or out
	// of range.
	Leaf(l treemath.LeafIndex) *codec.LeafNode
	// Parent returns the parent node at node index x, or nil if it is
	// blank, a leaf or out of range.
	Parent(x treemath.NodeIndex) *codec.ParentNode
}

// KeyIndex is implemented by trees that index the encryption keys they
// hold (such as *ratchettree.Diff). When the tree given to [ApplyUpdatePath]
// implements it, the public keys of the UpdatePath are checked not to
// appear in the tree already (§12.4.2).
type KeyIndex interface {
	FindEncryptionKey(key []byte) (treemath.NodeIndex, bool)
}

// BlankIndex is implemented by trees that know which of their subtrees
// are blank without visiting their nodes (*ratchettree.Tree and
// *ratchettree.Diff, from their occupancy bitsets). Resolutions and
// filtered direct paths (§4.1.1, §4.1.2) then skip blank subtrees at once:
// a tree's leaf count is a power of two, so a group of 100,000 members has
// 31,072 blank leaves on its right, which a walk would visit one by one
// for every path that has them on its copath.
type BlankIndex interface {
	// SubtreeBlank reports whether every node of the subtree rooted at x
	// (x included) is blank.
	SubtreeBlank(x treemath.NodeIndex) bool
}

// leafSet is a small set of leaves, such as the leaves an Add proposal
// inserts in the Commit whose UpdatePath must leave them out (§7.6).
type leafSet []treemath.LeafIndex

func newLeafSet(ls []treemath.LeafIndex) leafSet {
	if len(ls) == 0 {
		return nil
	}
	s := slices.Clone(ls)
	slices.Sort(s)
	return slices.Compact(s)
}

func (s leafSet) has(l treemath.LeafIndex) bool {
	if len(s) == 0 {
		return false
	}
	_, ok := slices.BinarySearch(s, l)
	return ok
}

// leftmostLeaf returns the leftmost leaf below (or at) node x.
func leftmostLeaf(x treemath.NodeIndex) treemath.LeafIndex {
	k := treemath.Level(x)
	return treemath.LeafIndex((uint64(x) - (uint64(1)<<k - 1)) / 2)
}

// AppendResolution appends the resolution of node x (RFC 9420 §4.1.1) in t
// to dst, leaving out the leaves of exclude and returns the extended slice.
// The resolution of a non-blank node is the node followed by its unmerged
// leaves, that of a blank leaf is empty, and that of a blank parent is the
// resolution of its left child followed by that of its right child.
func AppendResolution(dst []treemath.NodeIndex, t TreeView, x treemath.NodeIndex, exclude []treemath.LeafIndex) []treemath.NodeIndex {
	return appendResolution(dst, t, t.LeafCount(), x, newLeafSet(exclude))
}

func appendResolution(dst []treemath.NodeIndex, t TreeView, n treemath.LeafCount, x treemath.NodeIndex, excl leafSet) []treemath.NodeIndex {
	if uint64(leftmostLeaf(x)) >= uint64(n) {
		return dst // wholly beyond the stored leaves: blank
	}
	if l, ok := x.Leaf(); ok {
		if !excl.has(l) && t.Leaf(l) != nil {
			dst = append(dst, x)
		}
		return dst
	}
	if pn := t.Parent(x); pn != nil {
		dst = append(dst, x)
		for _, u := range pn.UnmergedLeaves {
			if !excl.has(treemath.LeafIndex(u)) {
				dst = append(dst, treemath.LeafIndex(u).Node())
			}
		}
		return dst
	}
	if bi, ok := t.(BlankIndex); ok && bi.SubtreeBlank(x) {
		return dst
	}
	left, _ := treemath.Left(x)
	right, _ := treemath.Right(x)
	dst = appendResolution(dst, t, n, left, excl)
	return appendResolution(dst, t, n, right, excl)
}

// hasNonBlank reports whether the subtree under x has a non-blank node, that
// is, whether the resolution of x is not empty.
func hasNonBlank(t TreeView, n treemath.LeafCount, x treemath.NodeIndex) bool {
	if uint64(leftmostLeaf(x)) >= uint64(n) {
		return false
	}
	if l, ok := x.Leaf(); ok {
		return t.Leaf(l) != nil
	}
	if t.Parent(x) != nil {
		return true
	}
	if bi, ok := t.(BlankIndex); ok {
		return !bi.SubtreeBlank(x)
	}
	left, _ := treemath.Left(x)
	right, _ := treemath.Right(x)
	return hasNonBlank(t, n, left) || hasNonBlank(t, n, right)
}

// pathPlan is the shape of an UpdatePath from one leaf (§4.1.2, §7.5).
type pathPlan struct {
	n          treemath.LeafCount
	leaf       treemath.LeafIndex
	directPath []treemath.NodeIndex // whole direct path, leaf's parent to root
	fullCopath []treemath.NodeIndex // copath, sibling of the leaf first
	fdp        []treemath.NodeIndex // filtered direct path
	copath     []treemath.NodeIndex // copath child of each node of fdp
	res        [][]treemath.NodeIndex
	resTotal   int
}

// FilteredDirectPath returns the filtered direct path of leaf l in t (RFC
// 9420 §4.1.2): the direct path without the nodes whose child on the copath
// of l has an empty resolution, ordered from the leaf up, together with the
// copath child of each returned node. It reports false if l is not a leaf of
// t.
func FilteredDirectPath(t TreeView, l treemath.LeafIndex) (fdp, copath []treemath.NodeIndex, ok bool) {
	p, ok := planPath(t, l, nil, false)
	if !ok {
		return nil, nil, false
	}
	return p.fdp, p.copath, true
}

// planPath computes the filtered direct path of leaf (with the resolution
// of each copath child, leaving out excl, when withRes is set).
func planPath(t TreeView, leaf treemath.LeafIndex, excl leafSet, withRes bool) (*pathPlan, bool) {
	n := t.LeafCount()
	if !n.HasLeaf(leaf) {
		return nil, false
	}
	x := leaf.Node()
	dp, ok := treemath.DirectPath(x, n)
	if !ok {
		return nil, false
	}
	cp, _ := treemath.Copath(x, n)
	p := &pathPlan{n: n, leaf: leaf, directPath: dp, fullCopath: cp,
		fdp:    make([]treemath.NodeIndex, 0, len(dp)),
		copath: make([]treemath.NodeIndex, 0, len(dp)),
	}
	if withRes {
		p.res = make([][]treemath.NodeIndex, 0, len(dp))
	}
	for i, c := range cp {
		if withRes {
			r := appendResolution(nil, t, n, c, nil)
			if len(r) == 0 {
				continue
			}
			if len(excl) > 0 {
				r = slices.DeleteFunc(r, func(y treemath.NodeIndex) bool {
					l, isLeaf := y.Leaf()
					return isLeaf && excl.has(l)
				})
			}
			p.res = append(p.res, r)
			p.resTotal += len(r)
		} else if !hasNonBlank(t, n, c) {
			continue
		}
		p.fdp = append(p.fdp, dp[i])
		p.copath = append(p.copath, c)
	}
	return p, true
}
