package ratchettree

import (
	"fmt"
	"slices"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// NodeChange is one node of a Diff's change set (see Diff.Changes): the
// node's staged value, or nil if the Diff makes it blank.
type NodeChange struct {
	Node  NodeIndex
	Value *codec.Node
}

// Changes describes the Diff as a change set relative to its base Tree: the
// staged leaf count n and, in ascending node order, every node below
// NodeWidth(n) whose staged value is not the base's (a node not listed has
// the base's value, or is blank if it is beyond the base's width; a node
// is listed when its value is another *codec.LeafNode or *codec.ParentNode
// than the base's, even if equal in content). Its size is that of the
// change, not of the tree: O(changed nodes), plus the nodes a truncation
// blanked. Tree.StageChanges on an equal base rebuilds an equal Diff, whose
// Changes are the same list, so a pending Commit can be stored without the
// whole next-epoch tree and stored again, identically, after loading.
// Values are shared with the Diff (never modify them), and so is the list,
// which the Diff keeps while it does not change: storing a merged Commit's
// change and merging it list the changes once. The result of a stale Diff
// describes no meaningful tree.
func (d *Diff) Changes() (n LeafCount, nodes []NodeChange) {
	if d.chValid {
		return d.n, d.changes
	}
	n, nodes = d.listChanges()
	d.changes, d.chValid = nodes, true
	return n, nodes
}

// listChanges computes Changes.
func (d *Diff) listChanges() (n LeafCount, nodes []NodeChange) {
	w := NodeIndex(treemath.NodeWidth(d.n))
	baseW := NodeIndex(treemath.NodeWidth(d.base.n))
	nodes = make([]NodeChange, 0, len(d.over))
	for x, e := range d.over {
		if x >= w {
			continue
		}
		// A node set back to the base's value (by identity; nil for a
		// node beyond the base) is not a change: the list is canonical,
		// so that a restaged Diff lists the same changes.
		if x.IsLeaf() && e.leaf == d.base.leafAt(LeafIndex(x>>1)) || !x.IsLeaf() && e.parent == d.base.parentAt(x) {
			continue
		}
		nodes = append(nodes, NodeChange{Node: x, Value: nodeOf(d, x)})
	}
	// Nodes a truncation blanked (and a later extension did not set):
	// listed when the base holds something there.
	for x := d.blankFrom; x < min(w, baseW); x++ {
		if _, ok := d.over[x]; ok {
			continue
		}
		if x.IsLeaf() && d.base.leafAt(LeafIndex(x>>1)) != nil || !x.IsLeaf() && d.base.parentAt(x) != nil {
			nodes = append(nodes, NodeChange{Node: x})
		}
	}
	slices.SortFunc(nodes, func(a, b NodeChange) int { return int(a.Node) - int(b.Node) })
	return d.n, nodes
}

// StageChanges returns a new Diff on t whose state is t changed by a change
// set of Diff.Changes: n leaves (a power of two; the tree is extended with
// blanks or truncated), and each listed node set to its value. It is the
// inverse of Changes: staged on a Tree equal to the original Diff's base, it
// gives a Diff with the same nodes, tree hash, key indices and members, on
// which further changes and Merge behave as on the original.
//
// It checks the structure of the change set (ErrMalformedTree for a leaf
// count that is not a power of two, a node listed twice, a leaf value at a
// parent index or the reverse, a missing arm, or a leaf count above t's
// without a leaf in the right half; ErrNodeOutOfRange for a
// node beyond the width; ErrTreeFull) and the uniqueness of encryption and
// signature keys in the resulting tree (ErrDuplicateEncryptionKey,
// ErrDuplicateSignatureKey), not the validity of the tree (see Validate);
// t is never changed. The values are retained, not copied.
func (t *Tree) StageChanges(n LeafCount, nodes []NodeChange) (*Diff, error) {
	if n > treemath.MaxLeafCount {
		return nil, fmt.Errorf("%w: %d leaves", ErrTreeFull, n)
	}
	if n == 0 || n&(n-1) != 0 {
		return nil, fmt.Errorf("%w: leaf count %d is not a power of two", ErrMalformedTree, n)
	}
	w := NodeIndex(treemath.NodeWidth(n))
	seen := make(map[NodeIndex]struct{}, len(nodes))
	for _, c := range nodes {
		x := c.Node
		if x >= w {
			return nil, nodeErr(x, ErrNodeOutOfRange, fmt.Errorf("tree of %d leaves", n))
		}
		if _, dup := seen[x]; dup {
			return nil, nodeErr(x, ErrMalformedTree, fmt.Errorf("node changed twice"))
		}
		seen[x] = struct{}{}
		if v := c.Value; v != nil {
			if x.IsLeaf() && (v.NodeType != codec.NodeTypeLeaf || v.LeafNode == nil || v.ParentNode != nil) {
				return nil, nodeErr(x, ErrMalformedTree, fmt.Errorf("expected a leaf node"))
			}
			if !x.IsLeaf() && (v.NodeType != codec.NodeTypeParent || v.ParentNode == nil || v.LeafNode != nil) {
				return nil, nodeErr(x, ErrMalformedTree, fmt.Errorf("expected a parent node"))
			}
		}
	}
	if n > t.n {
		// A Diff grows only by an Add into the new right half, and a
		// Remove that empties the right half truncates: an extended change
		// set holds a leaf in its right half (which also bounds the size of
		// the Diff by that of the change set).
		right := false
		for _, c := range nodes {
			right = right || c.Node.IsLeaf() && c.Value != nil && uint32(c.Node>>1) >= uint32(n/2)
		}
		if !right {
			return nil, fmt.Errorf("%w: extended to %d leaves with an empty right half", ErrMalformedTree, n)
		}
	}
	d := t.Stage()
	if n == t.n && len(nodes) == 0 {
		return d, nil
	}
	d.own()
	for d.n < n {
		d.extend()
	}
	if d.n > n {
		d.shrink(n)
	}
	// Clear every listed node first, so that a key may move from one
	// listed node to another, then set the new values, checking each key
	// against the tree as it is at that point.
	for _, c := range nodes {
		if x := c.Node; x.IsLeaf() {
			if d.leafAt(LeafIndex(x>>1)) != nil {
				d.setLeaf(LeafIndex(x>>1), nil)
			}
		} else if d.parentAt(x) != nil {
			d.setParent(x, nil)
		}
	}
	for _, c := range nodes {
		x := c.Node
		switch {
		case c.Value == nil:
		case x.IsLeaf():
			ln := c.Value.LeafNode
			if o, ok := d.encOwner(ln.EncryptionKey); ok {
				return nil, nodeErr(x, ErrDuplicateEncryptionKey, fmt.Errorf("also in node %d", o))
			}
			if o, ok := d.sigOwner(ln.SignatureKey); ok {
				return nil, nodeErr(x, ErrDuplicateSignatureKey, fmt.Errorf("also in leaf %d", o))
			}
			d.setLeaf(LeafIndex(x>>1), ln)
		default:
			p := c.Value.ParentNode
			if o, ok := d.encOwner(p.EncryptionKey); ok {
				return nil, nodeErr(x, ErrDuplicateEncryptionKey, fmt.Errorf("also in node %d", o))
			}
			d.setParent(x, p)
		}
	}
	return d, nil
}

// shrink truncates the Diff to n leaves (a smaller power of two), blanking
// every node beyond the new width first so that the key indices, counters
// and bitsets forget them.
func (d *Diff) shrink(n LeafCount) {
	newW := NodeIndex(treemath.NodeWidth(n))
	oldW := NodeIndex(treemath.NodeWidth(d.n))
	for x := newW; x < oldW; x++ {
		if x.IsLeaf() {
			if d.leafAt(LeafIndex(x>>1)) != nil {
				d.setLeaf(LeafIndex(x>>1), nil)
			}
		} else if d.parentAt(x) != nil {
			d.setParent(x, nil)
		}
	}
	d.cut(n)
}

// Generation counts the Diffs merged into t (0 for a new, decoded or cloned
// Tree).
func (t *Tree) Generation() uint64 { return t.gen }

// LastMerge returns the change set (as Diff.Changes) of the Diff merged
// last into t, which made generation gen: StageChanges(n, nodes) on a copy
// of t as it was before that merge gives t. It lets a merged epoch's tree
// be stored as its change of the previous one, in O(change). ok is false if
// no Diff was merged into t.
func (t *Tree) LastMerge() (gen uint64, n LeafCount, nodes []NodeChange, ok bool) {
	if t.gen == 0 {
		return 0, 0, nil, false
	}
	return t.gen, t.lastN, t.last, true
}
