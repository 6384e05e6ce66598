package ratchettree

import (
	"fmt"
	"slices"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// treeEncoding is a tree's state in the form of the ratchet_tree
// extension (RFC 9420 §12.4.3.3, `optional<Node> ratchet_tree<V>`): data
// is the vector of an earlier state, as codec.RatchetTree.AppendTo writes
// it, hdr the length of its varint length prefix, and element x (node x,
// up to that state's last non-blank node len(off)-2) is
// data[hdr+off[x]:hdr+off[x+1]]. The state at generation gen is that one
// with the nodes of over (ascending) set to their values, and every other
// node at or beyond minW blank (a truncation since removed it).
//
// A Tree keeps such an encoding (up to maxKept bytes; from minShared
// bytes on, its nodes alias it: Tree.share) once it has been asked for
// one (Tree.EncodedRatchetTree, or a Diff's Encoder, which needs its
// base's) and carries it across each Merge by adding the merged change
// set to over (O(change)), so that the tree is encoded
// whole once, not once per epoch. A GroupInfo's ratchet_tree (§12.4.3,
// each Commit's and the group's for external joiners) is then written
// from it in one pass into the GroupInfo's own buffer (Encoder): the
// unchanged nodes' elements copied, the changed ones encoded anew. Node
// values are never modified in place (see Tree), so an unchanged node's
// element is still its encoding. A treeEncoding is never modified once
// made (a merge makes a new one sharing data), and over is flattened into
// a new data once it grows past maxOver.
type treeEncoding struct {
	gen  uint64
	data []byte
	hdr  int
	off  []uint32
	over []NodeChange
	minW NodeIndex
}

// elems is the number of leading elements of e.data that are still the
// encoding of their nodes (unless over lists them): those below minW.
func (e *treeEncoding) elems() int { return min(len(e.off)-1, int(e.minW)) }

// flat reports whether data is the encoding of e's state: no node
// changed or removed since it was made.
func (e *treeEncoding) flat() bool { return len(e.over) == 0 && len(e.off)-1 <= int(e.minW) }

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

// maxKept is the size of the largest encoding a Tree keeps (about
// 150,000 members; 21 MB at 100,000): beyond it, each encoding is made
// for its use and dropped.
const maxKept = 32 << 20

// minShared is the size from which a Tree shares the encoding it keeps
// with its nodes (Tree.share), so that keeping it costs no second copy
// of the nodes' bytes: at 100,000 members a second copy would be 21 MB, a
// fifth of the 100 MiB a member's group state may hold. Smaller
// encodings (up to about 40,000 members) are kept as a copy, which is
// cheaper than decoding the tree again each time one is made.
const minShared = 8 << 20

// keepMax is the largest encoding t keeps: maxKept, or the smaller bound
// a test set.
func (t *Tree) keepMax() int {
	if t.maxKeptTest > 0 {
		return t.maxKeptTest
	}
	return maxKept
}

// shareMin is the smallest encoding t shares with its nodes: minShared,
// or the smaller bound a test set.
func (t *Tree) shareMin() int {
	if t.minSharedTest > 0 {
		return t.minSharedTest
	}
	return minShared
}

// keep records e, a flat encoding of t's current generation just made
// (whole or flattened), and keeps it unless it is larger than keepMax;
// one of at least shareMin bytes is kept only once t's nodes share it.
func (t *Tree) keep(e *treeEncoding) {
	t.encodedLen = len(e.data)
	t.encoded = nil
	if len(e.data) > t.keepMax() {
		return
	}
	if len(e.data) >= t.shareMin() {
		if err := t.share(e); err != nil {
			// Not shared (our own encoding that does not decode as
			// t's nodes: a bug, which the tests catch): not kept
			// either, as if too large, so that t never holds its
			// nodes' bytes twice. The encoding made is still correct
			// for its use.
			return
		}
	}
	t.encoded = e
}

// decodedTree is a ratchet_tree (RFC 9420 §12.4.3.3) that a Tree's
// nodes were decoded from in place (KeepDecoded), to become its kept
// encoding when one is first needed (adoptDecoded): its element offsets
// take a pass over every node (~10 ms at 100,000 members), which a join
// or a load (with the merges of the chain of changes it replays) that
// never makes an encoding does not pay. Merges carry it at generation
// gen by recording, for each node up to data's last element (last) that
// they change for the first time, the size of its element in data
// (sizes), which its new value no longer gives: every other node up to
// last is still the one decoded from data, and the nodes recorded and
// those beyond last are the overlay of the encoding made from it
// (treeEncoding.over), taken from the tree when it is made. A merge that
// truncates the tree makes it the kept encoding first (the nodes it drops
// would need their sizes too; rare, as truncations are).
type decodedTree struct {
	gen   uint64
	data  []byte
	last  int
	w     NodeIndex // the tree's width when decoded
	sizes map[NodeIndex]int
}

// KeepDecoded records data, the ratchet_tree extension (RFC 9420
// §12.4.3.3) whose decoding in place (a codec.Reader over data, no copy)
// t was just built from (FromRatchetTree), to be t's kept encoding
// (decodedTree): t's first encoding (EncodedRatchetTree, an Encoder) then
// neither encodes the tree again nor, from minShared bytes on, decodes it
// again to share it (Tree.share), since the nodes' byte fields already
// alias data. The decoding is canonical (package codec rejects
// non-minimal varints, presence bytes other than 0 and 1 and unknown
// closed enum values), so data is what codec.RatchetTree.Marshal gives,
// and its element offsets follow from the nodes' sizes. An encoding
// larger than maxKept is not kept (t only notes its size). KeepDecoded
// fails only if data is not a ratchet_tree vector; bytes t's nodes were
// not decoded from are found out when they would become the encoding
// (decodedEncoding), and then not kept. The caller must never modify
// data afterwards.
func (t *Tree) KeepDecoded(data []byte) error {
	r := codec.NewReader(data)
	n, err := r.ReadVarintLength()
	if err == nil && r.Offset()+n != len(data) {
		err = fmt.Errorf("%d bytes in %d", n, len(data)-r.Offset())
	}
	if err != nil {
		return fmt.Errorf("%w: ratchet tree: %w", ErrMalformedTree, err)
	}
	t.encoded, t.encodedLen, t.decoded = nil, len(data), nil
	if len(data) <= t.keepMax() {
		t.decoded = &decodedTree{gen: t.gen, data: data, last: lastNonBlank(t), w: NodeIndex(width(t))}
	}
	return nil
}

// adoptDecoded makes the bytes recorded by KeepDecoded t's kept encoding,
// if they describe its current generation and check out
// (decodedEncoding); t then keeps nothing else.
func (t *Tree) adoptDecoded() {
	p := t.decoded
	t.decoded = nil
	if p == nil || p.gen != t.gen {
		return
	}
	e, err := decodedEncoding(t, p)
	if err != nil {
		// Not the nodes' bytes (a bug, which the tests catch): t
		// encodes itself when asked, as if it had kept nothing.
		return
	}
	t.encoded = e
}

// foldDecoded carries t's decodedTree across the merge of a Diff of
// change set (n, changes), before t's nodes change (Merge): the size of
// the element of each node it changes first is recorded. A truncating merge
// makes the bytes t's kept encoding first (foldEncoding carries it then);
// one after which the changed nodes pass twice maxOver (as an overlay
// foldEncoding drops) drops them.
func (t *Tree) foldDecoded(n LeafCount, changes []NodeChange) {
	p := t.decoded
	if p == nil || p.gen != t.gen {
		t.decoded = nil
		return
	}
	if n < t.n {
		t.adoptDecoded()
		return
	}
	for _, c := range changes {
		x := c.Node
		if int(x) > p.last {
			break // ascending: the rest are beyond data's elements too
		}
		if _, ok := p.sizes[x]; ok {
			continue
		}
		if p.sizes == nil {
			p.sizes = make(map[NodeIndex]int)
		}
		p.sizes[x] = elementSize(t, x)
	}
	if len(p.sizes) > 2*maxOver(NodeIndex(treemath.NodeWidth(n))) {
		t.decoded = nil
		return
	}
	p.gen = t.gen + 1
}

// elementSize is the size of node x's element in t's ratchet_tree
// (codec.AppendRatchetTreeElement): a presence byte, then the Node (its
// node_type and the leaf or parent node) if x is not blank.
func elementSize(t *Tree, x NodeIndex) int {
	if x.IsLeaf() {
		if ln := t.leafAt(LeafIndex(x >> 1)); ln != nil {
			return 2 + ln.Size()
		}
	} else if p := t.parentAt(x); p != nil {
		return 2 + p.Size()
	}
	return 1
}

// KeptEncoding returns the encoding t keeps of its current state without
// an overlay (the bytes EncodedRatchetTree would return without making
// them), or nil if it keeps none: for tests of what keeps it. The caller
// must not modify it.
func (t *Tree) KeptEncoding() []byte {
	if t.decoded != nil {
		t.adoptDecoded()
	}
	if e := t.encoded; e != nil && e.gen == t.gen && e.flat() {
		return e.data
	}
	return nil
}

// decodedEncoding returns the treeEncoding of t that is p's: p.data with
// the nodes changed since overlaid. It checks that each node p did not record as
// changed (so still the one decoded from p.data) has an element of its
// node type that starts where the node's first field, encryption_key,
// was decoded from (the same address), and that the elements fill p.data
// exactly (so the last one is the last non-blank node, as §12.4.3.3
// requires of the extension).
func decodedEncoding(t *Tree, p *decodedTree) (*treeEncoding, error) {
	data := p.data
	r := codec.NewReader(data)
	n, err := r.ReadVarintLength()
	if err != nil {
		return nil, fmt.Errorf("%w: ratchet tree's length: %w", ErrMalformedTree, err)
	}
	hdr := r.Offset()
	if hdr+n != len(data) {
		return nil, fmt.Errorf("%w: ratchet tree of %d bytes in %d", ErrMalformedTree, n, len(data)-hdr)
	}
	body := data[hdr:]
	off := make([]uint32, p.last+2)
	pos := 0
	for x := 0; x <= p.last; x++ {
		off[x] = uint32(pos)
		if pos >= len(body) {
			return nil, fmt.Errorf("ratchettree: node %d beyond the %d bytes it was decoded from", x, len(body))
		}
		if s, ok := p.sizes[NodeIndex(x)]; ok {
			pos += s
			continue
		}
		var (
			key  []byte
			size int
			typ  codec.NodeType
		)
		if x%2 == 0 {
			if ln := t.leaves[x>>1]; ln != nil {
				key, size, typ = ln.EncryptionKey, ln.Size(), codec.NodeTypeLeaf
			}
		} else if pn := t.parents[x>>1]; pn != nil {
			key, size, typ = pn.EncryptionKey, pn.Size(), codec.NodeTypeParent
		}
		if typ == 0 {
			if body[pos] != 0 {
				return nil, fmt.Errorf("ratchettree: blank node %d not decoded from its element", x)
			}
			pos++
			continue
		}
		// The presence byte, node_type, then encryption_key's length
		// and bytes.
		k := pos + 2 + codec.VarintSize(len(key))
		if len(key) == 0 || k >= len(body) || body[pos] != 1 || body[pos+1] != byte(typ) || &body[k] != &key[0] {
			return nil, fmt.Errorf("ratchettree: node %d not decoded from the element at %d", x, pos)
		}
		pos += 2 + size
	}
	off[p.last+1] = uint32(pos)
	if pos != len(body) {
		return nil, fmt.Errorf("ratchettree: %d bytes of nodes decoded from %d", pos, len(body))
	}
	// The overlay: the nodes changed up to last, then every non-blank
	// one beyond it (the encoding's nodes beyond its elements are blank).
	over := make([]NodeChange, 0, len(p.sizes))
	for x := range p.sizes {
		over = append(over, NodeChange{Node: x, Value: nodeOf(t, x)})
	}
	slices.SortFunc(over, func(a, b NodeChange) int { return int(a.Node) - int(b.Node) })
	for x := NodeIndex(p.last + 1); x < NodeIndex(width(t)); x++ {
		if nd := nodeOf(t, x); nd != nil {
			over = append(over, NodeChange{Node: x, Value: nd})
		}
	}
	return &treeEncoding{gen: p.gen, data: data[:len(data):len(data)], hdr: hdr, off: off, over: over, minW: p.w}, nil
}

// share replaces each non-blank node of t by its decoding from e, a flat
// encoding of t's current state (RFC 9420 §12.4.3.3): an equal value
// whose byte fields alias e.data (codec.Reader), so that the nodes' bytes
// are held once, in the encoding t keeps, and the buffers the nodes were
// decoded from (or built in) are released. Node values are never
// modified in place: those replaced stay valid for whoever holds them.
// A Diff of t staged before reads the new ones, equal (at worst it lists
// a node it set to the old value as changed, to an equal value). t is
// left unchanged if e does not decode as t's nodes. e.data is never
// modified (see treeEncoding).
func (t *Tree) share(e *treeEncoding) error {
	if !e.flat() || e.gen != t.gen {
		return fmt.Errorf("ratchettree: sharing an encoding of generation %d with overlay, tree at %d", e.gen, t.gen)
	}
	var rt codec.RatchetTree
	r := codec.NewReader(e.data)
	if err := rt.Decode(r); err != nil {
		return err
	}
	if err := r.Finish(); err != nil {
		return err
	}
	if len(rt) != len(e.off)-1 || len(rt) > int(width(t)) {
		return fmt.Errorf("ratchettree: %d nodes decoded of an encoding of %d", len(rt), len(e.off)-1)
	}
	for i, nd := range rt {
		x := NodeIndex(i)
		switch {
		case nd == nil:
			if !isBlank(t, x) {
				return fmt.Errorf("ratchettree: node %d decoded blank", x)
			}
		case isBlank(t, x),
			x.IsLeaf() && (nd.NodeType != codec.NodeTypeLeaf || nd.LeafNode == nil),
			!x.IsLeaf() && (nd.NodeType != codec.NodeTypeParent || nd.ParentNode == nil):
			return fmt.Errorf("ratchettree: node %d decoded as another", x)
		}
	}
	for i, nd := range rt {
		switch x := NodeIndex(i); {
		case nd == nil:
		case x.IsLeaf():
			t.leaves[x>>1] = nd.LeafNode
		default:
			t.parents[x>>1] = nd.ParentNode
		}
	}
	return nil
}

// maxOver is the number of changed nodes over which a kept encoding is
// flattened (written anew, with those nodes in place) before its next
// use: each Encoder encodes the nodes of over, so over stays a small part
// of the tree while flattening, a copy of the whole, stays rare (a path
// per epoch: every few dozen epochs).
func maxOver(w NodeIndex) int { return 64 + int(w)/64 }

// encodeView encodes every node of v (hint: the expected size).
func encodeView(v view, hint int) (*treeEncoding, error) {
	last := lastNonBlank(v)
	e := &treeEncoding{off: make([]uint32, last+2), minW: NodeIndex(width(v))}
	if hint <= 0 {
		hint = 64 * (last + 1)
	}
	buf := make([]byte, maxPrefix, maxPrefix+hint+hint/64+1024)
	var err error
	for x := 0; x <= last; x++ {
		e.off[x] = uint32(len(buf) - maxPrefix)
		if buf, err = appendElement(buf, v, NodeIndex(x)); err != nil {
			return nil, nodeErr(NodeIndex(x), ErrMalformedTree, err)
		}
	}
	e.off[last+1] = uint32(len(buf) - maxPrefix)
	if cap(buf)-len(buf) > len(buf)/32+1024 {
		// Grown by append past a missing or wrong hint: up to twice
		// the room needed, which a kept encoding would hold. Copied to
		// a buffer of its size.
		buf = append(make([]byte, 0, len(buf)), buf...)
	}
	if e.data, e.hdr, err = withPrefix(buf); err != nil {
		return nil, err
	}
	return e, nil
}

// appendElement appends node x of v as an element of the ratchet_tree
// vector (codec.AppendRatchetTreeElement of nodeOf(v, x)), with the Node
// on the stack: encoding a whole tree makes no allocation per node.
func appendElement(buf []byte, v view, x NodeIndex) ([]byte, error) {
	var n codec.Node
	p := &n
	if x.IsLeaf() {
		n = codec.Node{NodeType: codec.NodeTypeLeaf, LeafNode: v.leafAt(LeafIndex(x >> 1))}
		if n.LeafNode == nil {
			p = nil
		}
	} else {
		n = codec.Node{NodeType: codec.NodeTypeParent, ParentNode: v.parentAt(x)}
		if n.ParentNode == nil {
			p = nil
		}
	}
	return codec.AppendRatchetTreeElement(buf, p)
}

// kept returns t's encoding for its current generation: the one t keeps,
// or one made now (encoded whole) and kept unless larger than keepMax;
// nil if t's last encoding was larger than that (the caller encodes what
// it needs whole). flat asks for an encoding without over (flattened if
// needed); otherwise over is flattened only past maxOver.
func (t *Tree) kept(flat bool) (*treeEncoding, error) {
	if t.decoded != nil {
		t.adoptDecoded()
	}
	e := t.encoded
	if e == nil || e.gen != t.gen {
		t.encoded = nil
		if t.encodedLen > t.keepMax() {
			return nil, nil
		}
		e, err := encodeView(t, t.encodedLen)
		if err != nil {
			return nil, err
		}
		e.gen = t.gen
		t.keep(e)
		return e, nil
	}
	if e.flat() || !flat && len(e.over) <= maxOver(NodeIndex(width(t))) {
		return e, nil
	}
	enc, err := t.plan(e, nil, 0, t)
	if err != nil {
		return nil, err
	}
	f, err := enc.flatten()
	if err != nil {
		return nil, err
	}
	f.gen = t.gen
	t.keep(f)
	return f, nil
}

// EncodedRatchetTree returns t in the form of the ratchet_tree extension
// (RFC 9420 §12.4.3.3): the bytes of codec.RatchetTree.Marshal of
// t.RatchetTree(). t keeps the encoding (see treeEncoding), which later
// calls return while t does not change: the caller must not modify it.
func (t *Tree) EncodedRatchetTree() ([]byte, error) {
	e, err := t.kept(true)
	if err != nil {
		return nil, err
	}
	if e == nil {
		// Too large to keep: made for this use.
		if e, err = encodeView(t, t.encodedLen); err != nil {
			return nil, err
		}
		t.encodedLen = len(e.data)
	}
	return e.data, nil
}

// EncodedRatchetTree returns the staged tree in the form of the
// ratchet_tree extension: the bytes of codec.RatchetTree.Marshal of
// d.RatchetTree(), in a new buffer (Encoder's AppendTo).
func (d *Diff) EncodedRatchetTree() ([]byte, error) {
	enc, err := d.Encoder()
	if err != nil {
		return nil, err
	}
	b, err := enc.AppendTo(make([]byte, maxPrefix, maxPrefix+enc.Len()))
	if err != nil {
		return nil, err
	}
	return b[maxPrefix:len(b):len(b)], nil
}

// Encoder is a tree's ratchet_tree extension (RFC 9420 §12.4.3.3) ready
// to be written: Len bytes, the bytes of codec.RatchetTree.Marshal of its
// state, which AppendTo writes where the caller wants them (a GroupInfo's
// extension, written in place: codec.GroupInfoTBS.AppendHeadAt). It is
// valid until its tree (or its Diff's base) next changes.
type Encoder struct {
	be      *treeEncoding // the elements of unchanged nodes, or the whole
	baseEnd int           // be's usable elements (treeEncoding.elems)
	changes []NodeChange  // the nodes whose element is not be's, ascending
	scratch []byte        // their elements
	cut     []int         // changes[i]'s element is scratch[cut[i]:cut[i+1]]
	last    int           // the last non-blank node
	blank   []byte        // a blank node's element
	body    int           // the vector's content length
	whole   bool          // be is the state's own encoding, written as is
}

// Encoder returns the Encoder of t's state.
func (t *Tree) Encoder() (*Encoder, error) {
	e, err := t.kept(false)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return wholeEncoder(t, &t.encodedLen)
	}
	return t.plan(e, nil, 0, t)
}

// Encoder returns the Encoder of the staged tree: its base's kept
// encoding with the Diff's changed nodes (Changes) encoded anew, or, for
// a base too large to keep its encoding, the staged tree encoded whole.
func (d *Diff) Encoder() (*Encoder, error) {
	if d.stale() {
		return nil, ErrStaleDiff
	}
	e, err := d.base.kept(false)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return wholeEncoder(d, &d.base.encodedLen)
	}
	_, changes := d.Changes()
	return d.base.plan(e, changes, NodeIndex(treemath.NodeWidth(d.n)), d)
}

// wholeEncoder encodes every node of v, with *hint the expected size,
// which it updates.
func wholeEncoder(v view, hint *int) (*Encoder, error) {
	e, err := encodeView(v, *hint)
	if err != nil {
		return nil, err
	}
	*hint = len(e.data)
	return &Encoder{be: e, whole: true, body: len(e.body())}, nil
}

// plan makes the Encoder of the state v: t's own (dw 0), whose kept
// encoding is e, or a Diff's of t, of change set dch relative to t and
// width dw. Each node's element is dch's value's, else e.over's, else e's
// element below e.elems(), else a blank's: nodes at or beyond t's width
// are blank in t unless dch sets them, and e.minW is at most t's width.
func (t *Tree) plan(e *treeEncoding, dch []NodeChange, dw NodeIndex, v view) (*Encoder, error) {
	changes := e.over
	if dw != 0 {
		changes = overlay(e.over, dch, dw)
	}
	last := lastNonBlank(v)
	blank, err := codec.AppendRatchetTreeElement(nil, nil)
	if err != nil {
		return nil, err
	}
	enc := &Encoder{be: e, baseEnd: e.elems(), last: last, blank: blank}
	// The changed nodes' elements first, so that the body's size is known
	// before it is written.
	enc.cut = make([]int, 0, len(changes)+1)
	size, prev := 0, 0 // prev: the next node not accounted for
	for _, c := range changes {
		x := int(c.Node)
		if x > last {
			break
		}
		size += enc.spanLen(prev, x)
		enc.cut = append(enc.cut, len(enc.scratch))
		if enc.scratch, err = codec.AppendRatchetTreeElement(enc.scratch, c.Value); err != nil {
			return nil, nodeErr(c.Node, ErrMalformedTree, err)
		}
		prev = x + 1
	}
	enc.changes = changes[:len(enc.cut)]
	enc.cut = append(enc.cut, len(enc.scratch))
	enc.body = size + len(enc.scratch) + enc.spanLen(prev, last+1)
	return enc, nil
}

// overlay returns the change set a, then b, below width w: ascending,
// b's value for a node both list.
func overlay(a, b []NodeChange, w NodeIndex) []NodeChange {
	out := make([]NodeChange, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var c NodeChange
		switch {
		case j == len(b) || i < len(a) && a[i].Node < b[j].Node:
			c = a[i]
			i++
		case i == len(a) || b[j].Node < a[i].Node:
			c = b[j]
			j++
		default: // the same node: b's
			c = b[j]
			i++
			j++
		}
		if c.Node < w {
			out = append(out, c)
		}
	}
	return out
}

// spanLen is the size of the elements of unchanged nodes [from, to): e's,
// and a blank's for each node beyond its usable elements.
func (enc *Encoder) spanLen(from, to int) int {
	if to <= from {
		return 0
	}
	n := 0
	if b := min(to, enc.baseEnd); b > from {
		n += int(enc.be.off[b] - enc.be.off[from])
		from = b
	}
	return n + (to-from)*len(enc.blank)
}

// Len is the length of the encoding: the ratchet_tree vector's length
// prefix and content.
func (enc *Encoder) Len() int { return codec.VarintSize(enc.body) + enc.body }

// AppendTo appends the encoding (Len bytes) to b.
func (enc *Encoder) AppendTo(b []byte) ([]byte, error) {
	out, _, err := enc.write(b, false)
	return out, err
}

// write appends the encoding to b and, if offs, returns the offsets of
// its elements in the content (a treeEncoding's off).
func (enc *Encoder) write(b []byte, offs bool) ([]byte, []uint32, error) {
	k := codec.VarintSize(enc.body)
	at := len(b)
	if at+k < maxPrefix {
		// Room for the length prefix's framing (codec.FrameRatchetTree).
		v, off, err := enc.write(make([]byte, maxPrefix, maxPrefix+enc.Len()), offs)
		if err != nil {
			return b, nil, err
		}
		return append(b, v[maxPrefix:]...), off, nil
	}
	buf := slices.Grow(b, k+enc.body)[:at+k]
	var off []uint32
	if enc.whole {
		buf = append(buf, enc.be.body()...)
		if offs {
			off = enc.be.off
		}
	} else {
		if offs {
			off = make([]uint32, enc.last+2)
		}
		body := at + k // the content's start in buf
		bbody := enc.be.body()
		copySpan := func(from, to int) {
			// Nodes [from, to): e's elements, then blanks beyond them.
			if e := min(to, enc.baseEnd); e > from {
				if off != nil {
					shift := uint32(len(buf)-body) - enc.be.off[from]
					for x := from; x < e; x++ {
						off[x] = enc.be.off[x] + shift
					}
				}
				buf = append(buf, bbody[enc.be.off[from]:enc.be.off[e]]...)
				from = e
			}
			for x := from; x < to; x++ {
				if off != nil {
					off[x] = uint32(len(buf) - body)
				}
				buf = append(buf, enc.blank...)
			}
		}
		prev := 0
		for i, c := range enc.changes {
			x := int(c.Node)
			copySpan(prev, x)
			if off != nil {
				off[x] = uint32(len(buf) - body)
			}
			buf = append(buf, enc.scratch[enc.cut[i]:enc.cut[i+1]]...)
			prev = x + 1
		}
		copySpan(prev, enc.last+1)
		if off != nil {
			off[enc.last+1] = uint32(len(buf) - body)
		}
	}
	if len(buf)-at-k != enc.body {
		return b, nil, fmt.Errorf("ratchettree: encoded %d bytes of %d", len(buf)-at-k, enc.body)
	}
	v, err := codec.FrameRatchetTree(buf, at+k)
	if err != nil {
		return b, nil, fmt.Errorf("%w: ratchet tree of %d bytes: %w", ErrMalformedTree, enc.body, err)
	}
	if len(v) != k+enc.body {
		return b, nil, fmt.Errorf("ratchettree: a length prefix of %d bytes, not %d", len(v)-enc.body, k)
	}
	return buf, off, nil
}

// flatten writes enc into a new kept encoding (no over).
func (enc *Encoder) flatten() (*treeEncoding, error) {
	buf, off, err := enc.write(make([]byte, maxPrefix, maxPrefix+enc.Len()), true)
	if err != nil {
		return nil, err
	}
	data := buf[maxPrefix:len(buf):len(buf)]
	return &treeEncoding{data: data, hdr: len(data) - enc.body, off: off, minW: NodeIndex(len(off) - 1)}, nil
}

// foldEncoding carries t's kept encoding across the Merge that made its
// generation t.gen from prev, of the change set (n, changes): the same
// data, with the changes added to over and the nodes beyond the new
// width dropped. An encoding not used for long (a member that merges
// others' Commits and makes no GroupInfo) is dropped once over passes
// twice maxOver, so that a merge's cost stays that of its change.
func (t *Tree) foldEncoding(prev uint64, n LeafCount, changes []NodeChange) {
	e := t.encoded
	t.encoded = nil
	if e == nil || e.gen != prev {
		return
	}
	w := NodeIndex(treemath.NodeWidth(n))
	over := overlay(e.over, changes, w)
	if len(over) > 2*maxOver(w) {
		return
	}
	t.encoded = &treeEncoding{gen: t.gen, data: e.data, hdr: e.hdr, off: e.off, over: over, minW: min(e.minW, w)}
}
