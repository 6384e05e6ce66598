package secrettree

import (
	"maps"
	"slices"

	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// Undoing a run of changes.
//
// A caller that applies several changes to a tree in memory (a batch of
// received messages, each committing a generation in turn so that the next
// one sees it) and stores them all at once must be able to undo them if
// storing fails: the keys they deleted are still in storage, and the tree
// must again hold exactly what is stored (RFC 9420 §9.2 deletes a key once
// its deletion is durable, never before the caller can tell). [Tree.Mark]
// starts such a run; until [Tree.Release] or [Tree.Undo] the tree keeps a
// copy of each node and leaf as it was before the run first changed it.

// undoLog holds what the nodes and leaves a run changed held before it:
// the copies are in slices (so that they can be erased in place), indexed
// by node and by leaf.
type undoLog struct {
	nodes    map[treemath.NodeIndex]int // index in nodeImgs
	leaves   map[treemath.LeafIndex]int // index in leafImgs
	nodeImgs []nodeImage
	leafImgs []leafImage
	changed  map[treemath.NodeIndex]struct{}
}

type nodeImage struct {
	present bool
	s       secret
}

type leafImage struct {
	present bool
	ls      leafState
}

// Mark starts a run of changes that [Tree.Undo] can undo: every change of
// the tree until [Tree.Release] or Undo keeps the previous content of what
// it changes. Marking a tree already marked keeps the first mark.
func (t *Tree) Mark() {
	if t.undo != nil {
		return
	}
	u := t.spare
	t.spare = nil
	if u == nil {
		u = &undoLog{
			nodes:   make(map[treemath.NodeIndex]int),
			leaves:  make(map[treemath.LeafIndex]int),
			changed: make(map[treemath.NodeIndex]struct{}, len(t.changed)),
		}
	}
	maps.Copy(u.changed, t.changed)
	t.undo = u
}

// Marked reports whether a run of changes is being recorded (Mark).
func (t *Tree) Marked() bool { return t.undo != nil }

// Release ends the run of changes started by Mark, keeping them; the
// copies of what they replaced are erased.
func (t *Tree) Release() {
	if t.undo == nil {
		return
	}
	t.undo.zero()
	t.keepSpare(t.undo)
	t.undo = nil
}

// keepSpare keeps an emptied log for the next Mark, unless a long run made
// it large (a batch of many messages): a tree does not hold on to that.
func (t *Tree) keepSpare(u *undoLog) {
	if cap(u.nodeImgs) > maxSpare || cap(u.leafImgs) > maxSpare {
		return
	}
	t.spare = u
}

// maxSpare bounds the copies a kept log has room for.
const maxSpare = 16

// Undo restores what the tree held at Mark, including its set of changed
// nodes (Changed), erases what the run derived, and ends the run. Staged
// generations of the tree (Stage) are stale afterwards.
func (t *Tree) Undo() {
	u := t.undo
	if u == nil {
		return
	}
	t.undo = nil
	for x, i := range u.nodes {
		img := &u.nodeImgs[i]
		if s, ok := t.nodes[x]; ok {
			clear(s.b[:])
			delete(t.nodes, x)
		}
		if img.present {
			s := new(secret)
			*s = img.s
			t.nodes[x] = s
		}
	}
	for l, i := range u.leaves {
		img := &u.leafImgs[i]
		if ls, ok := t.leaves[l]; ok {
			ls.zeroAll()
			delete(t.leaves, l)
		}
		if img.present {
			ls := new(leafState)
			*ls = img.ls
			for j := range img.ls.r { // the kept keys now belong to the tree
				img.ls.r[j].past = nil
			}
			t.leaves[l] = ls
		}
	}
	clear(t.changed)
	for x := range u.changed {
		t.markChanged(x)
	}
	u.zero()
	t.keepSpare(u)
	t.version++
}

// saveNode records node x's secret before a run changes it.
func (t *Tree) saveNode(x treemath.NodeIndex) {
	u := t.undo
	if u == nil {
		return
	}
	if _, ok := u.nodes[x]; ok {
		return
	}
	u.nodes[x] = len(u.nodeImgs)
	u.nodeImgs = append(u.nodeImgs, nodeImage{})
	img := &u.nodeImgs[len(u.nodeImgs)-1]
	if s, ok := t.nodes[x]; ok {
		img.present, img.s = true, *s
	}
}

// saveLeaf records leaf l's ratchets before a run changes them.
func (t *Tree) saveLeaf(l treemath.LeafIndex) {
	u := t.undo
	if u == nil {
		return
	}
	if _, ok := u.leaves[l]; ok {
		return
	}
	u.leaves[l] = len(u.leafImgs)
	u.leafImgs = append(u.leafImgs, leafImage{})
	img := &u.leafImgs[len(u.leafImgs)-1]
	if ls, ok := t.leaves[l]; ok {
		img.present, img.ls = true, *ls
		for i := range img.ls.r {
			img.ls.r[i].past = slices.Clone(ls.r[i].past)
		}
	}
}

// unchangedEmpty reports whether node x held nothing at Mark, was not
// changed then either, and holds nothing now: a run that derived and
// consumed its secret left nothing to store (Changed skips it).
func (t *Tree) unchangedEmpty(x treemath.NodeIndex) bool {
	u := t.undo
	if u == nil {
		return false
	}
	if _, ok := u.changed[x]; ok {
		return false
	}
	if _, ok := t.nodes[x]; ok {
		return false
	}
	if i, ok := u.nodes[x]; ok && u.nodeImgs[i].present {
		return false
	}
	if x%2 == 0 {
		l := treemath.LeafIndex(x / 2)
		if _, ok := t.leaves[l]; ok {
			return false
		}
		if i, ok := u.leaves[l]; ok && u.leafImgs[i].present {
			return false
		}
	}
	return true
}

// zero erases the copies and empties the log, for reuse.
func (u *undoLog) zero() {
	clear(u.changed)
	clear(u.nodes)
	clear(u.leaves)
	for i := range u.nodeImgs {
		clear(u.nodeImgs[i].s.b[:])
	}
	u.nodeImgs = u.nodeImgs[:0]
	for i := range u.leafImgs {
		u.leafImgs[i].ls.zeroAll()
	}
	u.leafImgs = u.leafImgs[:0]
}

// zeroAll erases both ratchets of ls and their kept keys.
func (ls *leafState) zeroAll() {
	for i := range ls.r {
		r := &ls.r[i]
		clear(r.secret.b[:])
		for j := range r.past {
			r.past[j].Zero()
		}
		r.past = nil
	}
}
