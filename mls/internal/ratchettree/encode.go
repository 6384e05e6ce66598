package ratchettree

import (
	"fmt"

	"github.com/mlskit/mlskit/codec"
)

// treeEncoding is a tree's state in the form of the ratchet_tree
// extension (RFC 9420 §12.4.3.3, `optional<Node> ratchet_tree<V>`): data
// is the vector, as codec.RatchetTree.AppendTo writes it, hdr the length
// of its varint length prefix, and element x (node x, up to the last
// non-blank node len(off)-2) is data[hdr+off[x]:hdr+off[x+1]].
//
// A Tree keeps the encoding of its state at generation gen (up to maxKept
// bytes) once it has been asked for it (Tree.EncodedRatchetTree, or a Diff's, which encodes
// its base first) until its next Merge, so that the GroupInfos of one
// epoch (each Commit's, §12.4.3, and the group's for external joiners)
// encode the whole tree once, and a Diff's encoding is its base's with the
// elements of its changed nodes replaced (O(change) encoding and a copy of
// the rest). Node values are never modified in place (see Tree), so an
// unchanged node's element is still its encoding. A Diff's encoding
// becomes its Tree's on Merge when the Diff's state is the one it encoded
// (the same change set, compared node by node by identity).
type treeEncoding struct {
	gen  uint64
	data []byte
	hdr  int
	off  []uint32
	// n and changes are, for a Diff's encoding, the change set it encodes
	// (Diff.Changes), to recognize it later and at Merge.
	n       LeafCount
	changes []NodeChange
}

func (e *treeEncoding) body() []byte { return e.data[e.hdr:] }

// lastNonBlank returns the last non-blank node of v, or -1.
func lastNonBlank(v view) int {
	for x := int(width(v)) - 1; x >= 0; x-- {
		if !isBlank(v, NodeIndex(x)) {
			return x
		}
	}
	return -1
}

// maxPrefix is the room left before the body for the vector's varint
// length prefix (codec.FrameRatchetTree).
const maxPrefix = codec.MaxVarintLen

// withPrefix makes the ratchet_tree vector of the body buf[maxPrefix:]
// (codec.FrameRatchetTree writes its length prefix into the room before
// it) and returns the vector and the prefix's length.
func withPrefix(buf []byte) ([]byte, int, error) {
	v, err := codec.FrameRatchetTree(buf, maxPrefix)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: ratchet tree of %d bytes: %w", ErrMalformedTree, len(buf)-maxPrefix, err)
	}
	return v[:len(v):len(v)], len(v) - (len(buf) - maxPrefix), nil
}

// maxKept is the size of the largest encoding a Tree or Diff keeps (about
// 40,000 members): beyond it, the heap a member's group state keeps
// matters more than the encoding time it would save (at 100,000 members
// the encoding is 21 MB, a fifth of the 100 MiB a member's state may
// hold), and each encoding is made for its use and dropped.
const maxKept = 8 << 20

// keepMax is the largest encoding t and its Diffs keep: maxKept, or the
// smaller bound a test set.
func (t *Tree) keepMax() int {
	if t.maxKeptTest > 0 {
		return t.maxKeptTest
	}
	return maxKept
}

// encodeView encodes every node of v (hint: the expected size).
func encodeView(v view, hint int) (*treeEncoding, error) {
	last := lastNonBlank(v)
	e := &treeEncoding{off: make([]uint32, last+2)}
	if hint <= 0 {
		hint = 64 * (last + 1)
	}
	buf := make([]byte, maxPrefix, maxPrefix+hint+hint/64+1024)
	var err error
	for x := 0; x <= last; x++ {
		e.off[x] = uint32(len(buf) - maxPrefix)
		if buf, err = codec.AppendRatchetTreeElement(buf, nodeOf(v, NodeIndex(x))); err != nil {
			return nil, nodeErr(NodeIndex(x), ErrMalformedTree, err)
		}
	}
	e.off[last+1] = uint32(len(buf) - maxPrefix)
	if e.data, e.hdr, err = withPrefix(buf); err != nil {
		return nil, err
	}
	return e, nil
}

// encoding returns the encoding of t's current state: the one t keeps for
// its generation, or one made now (and kept unless larger than maxKept).
func (t *Tree) encoding() (*treeEncoding, error) {
	if e := t.encoded; e != nil && e.gen == t.gen {
		return e, nil
	}
	t.encoded = nil
	e, err := encodeView(t, t.encodedLen)
	if err != nil {
		return nil, err
	}
	e.gen = t.gen
	t.encodedLen = len(e.data)
	if len(e.data) <= t.keepMax() {
		t.encoded = e
	}
	return e, nil
}

// EncodedRatchetTree returns t in the form of the ratchet_tree extension
// (RFC 9420 §12.4.3.3): the bytes of codec.RatchetTree.Marshal of
// t.RatchetTree(). The first call after each Merge encodes the tree and
// keeps the encoding (see treeEncoding), which later calls return: the
// caller must not modify it.
func (t *Tree) EncodedRatchetTree() ([]byte, error) {
	e, err := t.encoding()
	if err != nil {
		return nil, err
	}
	return e.data, nil
}

// EncodedRatchetTree returns the staged tree in the form of the
// ratchet_tree extension: the bytes of codec.RatchetTree.Marshal of
// d.RatchetTree(), which the caller must not modify. It is the base
// Tree's encoding (made if the Tree has none for its generation) with the
// elements of the changed nodes (Changes) encoded anew and the others
// copied; the Diff keeps it while its state stays the same, and Merge
// hands it to the Tree.
func (d *Diff) EncodedRatchetTree() ([]byte, error) {
	if d.stale() {
		return nil, ErrStaleDiff
	}
	n, changes := d.Changes()
	if e := d.encoded; e != nil && sameChangeSet(n, changes, e) {
		return e.data, nil
	}
	d.encoded = nil
	if e := d.base.encoded; (e == nil || e.gen != d.base.gen) && d.base.encodedLen > d.base.keepMax() {
		// A large tree whose encoding is not kept: encoded whole.
		e, err := encodeView(d, d.base.encodedLen)
		if err != nil {
			return nil, err
		}
		return e.data, nil
	}
	be, err := d.base.encoding()
	if err != nil {
		return nil, err
	}
	bbody := be.body()
	// The element of a blank node beyond the base's last element.
	blank, err := codec.AppendRatchetTreeElement(nil, nil)
	if err != nil {
		return nil, err
	}
	last := lastNonBlank(d)
	baseEnd := len(be.off) - 1 // elements of the base's encoding
	// The changed nodes' elements first, so that the body's size is known
	// before it is written.
	var scratch []byte
	cut := make([]int, 0, len(changes)+1)
	size, prev := 0, 0 // prev: the next node not accounted for
	for _, c := range changes {
		x := int(c.Node)
		if x > last {
			break
		}
		size += spanLen(be, prev, x, baseEnd, len(blank))
		cut = append(cut, len(scratch))
		if scratch, err = codec.AppendRatchetTreeElement(scratch, c.Value); err != nil {
			return nil, nodeErr(c.Node, ErrMalformedTree, err)
		}
		prev = x + 1
	}
	cut = append(cut, len(scratch))
	size += len(scratch) + spanLen(be, prev, last+1, baseEnd, len(blank))
	buf := make([]byte, maxPrefix+size)
	body := buf[maxPrefix:]
	e := &treeEncoding{off: make([]uint32, last+2), n: n, changes: changes}
	pos := 0
	copySpan := func(from, to int) {
		// Nodes [from, to): the base's elements, then blanks beyond it.
		if b := min(to, baseEnd); b > from {
			shift := uint32(pos) - be.off[from]
			for x := from; x < b; x++ {
				e.off[x] = be.off[x] + shift
			}
			pos += copy(body[pos:], bbody[be.off[from]:be.off[b]])
			from = b
		}
		for x := from; x < to; x++ {
			e.off[x] = uint32(pos)
			pos += copy(body[pos:], blank)
		}
	}
	prev = 0
	for i, c := range changes {
		x := int(c.Node)
		if x > last {
			break
		}
		copySpan(prev, x)
		e.off[x] = uint32(pos)
		pos += copy(body[pos:], scratch[cut[i]:cut[i+1]])
		prev = x + 1
	}
	copySpan(prev, last+1)
	e.off[last+1] = uint32(pos)
	if pos != size {
		return nil, fmt.Errorf("ratchettree: encoded %d bytes of %d", pos, size)
	}
	if e.data, e.hdr, err = withPrefix(buf); err != nil {
		return nil, err
	}
	if len(e.data) <= d.base.keepMax() {
		d.encoded = e
	}
	return e.data, nil
}

// spanLen is the size of the elements of nodes [from, to) of a Diff's
// encoding that are not changed: the base's, and blank bytes per blank
// node beyond the base's last element.
func spanLen(be *treeEncoding, from, to, baseEnd, blank int) int {
	if to <= from {
		return 0
	}
	n := 0
	if b := min(to, baseEnd); b > from {
		n += int(be.off[b] - be.off[from])
		from = b
	}
	return n + (to-from)*blank
}

func sameChangeSet(n LeafCount, changes []NodeChange, e *treeEncoding) bool {
	if n != e.n || len(changes) != len(e.changes) {
		return false
	}
	for i, c := range changes {
		o := e.changes[i]
		if c.Node != o.Node || !sameNode(c.Value, o.Value) {
			return false
		}
	}
	return true
}

// sameNode compares two node values of a change set by identity.
func sameNode(a, b *codec.Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.NodeType == b.NodeType && a.LeafNode == b.LeafNode && a.ParentNode == b.ParentNode
}

// adoptEncoding gives t, just merged from d (whose change set was n and
// changes), d's encoding if d encoded exactly that state.
func (t *Tree) adoptEncoding(d *Diff, n LeafCount, changes []NodeChange) {
	e := d.encoded
	t.encoded = nil
	if e == nil || !sameChangeSet(n, changes, e) {
		return
	}
	t.encoded = &treeEncoding{gen: t.gen, data: e.data, hdr: e.hdr, off: e.off}
	t.encodedLen = len(e.data)
}
