package ratchettree

import "github.com/mlskit/mlskit/codec"

// LeafSnapshot is a read-only view of a tree's leaves as they were when it
// was taken (Tree.LeafSnapshot), for instance those of a past epoch whose
// late messages are still accepted: the senders' leaves and signature keys.
// Unlike Clone it costs nothing to take; each later Merge of the tree
// records the leaves it replaces (O(changed leaves)), and a lookup walks
// the records of the merges since the snapshot. It is as safe for
// concurrent use as the Tree it views.
type LeafSnapshot struct {
	t   *Tree
	n   LeafCount
	log *undoLog
}

// undoLog holds the values that the leaves a Merge changed had before it,
// and links to the log of the next Merge. The tree references only its
// newest log; older ones live as long as a snapshot refers to them.
type undoLog struct {
	old  map[LeafIndex]*codec.LeafNode
	next *undoLog
}

// LeafSnapshot returns a view of t's current leaves that later Merges do
// not change.
func (t *Tree) LeafSnapshot() *LeafSnapshot {
	if t.undo == nil {
		t.undo = &undoLog{}
	}
	return &LeafSnapshot{t: t, n: t.n, log: t.undo}
}

// LeafCount returns the number of leaves the tree had.
func (s *LeafSnapshot) LeafCount() LeafCount { return s.n }

// Leaf returns the leaf node at l as it was, or nil if it was blank or out
// of range.
func (s *LeafSnapshot) Leaf(l LeafIndex) *codec.LeafNode {
	if uint32(l) >= uint32(s.n) {
		return nil
	}
	for u := s.log; u != nil; u = u.next {
		if v, ok := u.old[l]; ok {
			return v
		}
	}
	return s.t.leafAt(l)
}

// recordUndo records, before d is merged into t, the leaves the merge
// changes, if a snapshot may need them.
func (t *Tree) recordUndo(d *Diff) {
	u := t.undo
	if u == nil {
		return
	}
	oldW := NodeIndex(2*uint32(t.n) - 1)
	u.old = make(map[LeafIndex]*codec.LeafNode, len(d.over))
	rec := func(x NodeIndex) {
		l := LeafIndex(x >> 1)
		if _, ok := u.old[l]; !ok {
			u.old[l] = t.leafAt(l)
		}
	}
	for x := range d.over {
		if x.IsLeaf() && x < oldW {
			rec(x)
		}
	}
	// Blanked, or cut off by a shrink.
	for x := d.blankFrom &^ 1; x < oldW; x += 2 {
		rec(x)
	}
	u.next = &undoLog{}
	t.undo = u.next
}
