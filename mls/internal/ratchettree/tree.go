package ratchettree

import (
	"bytes"
	"fmt"
	"math/bits"
	"slices"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// Re-exported index types of package treemath, for convenience.
type (
	// LeafIndex is treemath.LeafIndex.
	LeafIndex = treemath.LeafIndex
	// NodeIndex is treemath.NodeIndex.
	NodeIndex = treemath.NodeIndex
	// LeafCount is treemath.LeafCount.
	LeafCount = treemath.LeafCount
)

// Tree is the public state of a ratchet tree (RFC 9420 §4, §7): a full
// binary tree of 2^d leaves whose nodes are blank, a codec.LeafNode (even
// indices) or a codec.ParentNode (odd indices), in the array layout of
// RFC 9420 Appendix C. It keeps, next to the nodes:
//
//   - a tree-hash cache (§7.8), filled lazily; changing one path through a
//     Diff recomputes O(log N) hashes;
//   - indices from every encryption key to its node and from every
//     signature key to its leaf, so that uniqueness checks (§7.3) cost one
//     map lookup;
//   - a bitset of occupied leaves and counters of credential types in use
//     and supported, so that the leftmost blank leaf and the credential
//     checks of §7.3 are cheap.
//
// A Tree changes only by merging a Diff (see Tree.Stage). Node values
// (*codec.LeafNode, *codec.ParentNode) are shared, never modified in place:
// callers must not modify nodes they pass in or get back.
//
// A Tree and its Diffs are not safe for concurrent use (reads fill the hash
// cache), except that Validate itself uses several goroutines internally.
type Tree struct {
	cs      providers.CipherSuite
	nh      int
	n       LeafCount           // a power of two, >= 1
	leaves  []*codec.LeafNode   // n entries
	parents []*codec.ParentNode // n-1 entries; node x (odd) is parents[x>>1]
	hashes  []byte              // (2n-1)*nh bytes: tree hash of each node
	hvalid  []uint64            // bitset over nodes: hashes[x] is valid
	occ     []uint64            // bitset over leaves: leaf is non-blank
	pocc    []uint64            // bitset over parents (x>>1): parent is non-blank
	members int                 // number of non-blank leaves
	enc     keyIndex            // encryption key -> node
	sig     keyIndex            // signature key -> leaf
	creds   credCounts
	gen     uint64 // incremented by every merge
	// lastN and last are the change set of the last merge (Diff.Changes
	// relative to the tree before it); see LastMerge.
	lastN LeafCount
	last  []NodeChange
	// undo is the log of the next Merge's replaced leaves, once a
	// LeafSnapshot was taken (snapshot.go).
	undo *undoLog
	buf  []byte // scratch for hash inputs
	// encoded is the tree's kept ratchet_tree encoding, valid for its
	// generation gen (encode.go); encodedLen the length of the last one
	// made.
	encoded    *treeEncoding
	encodedLen int
	// decoded, if not nil, is the ratchet_tree t's nodes were decoded
	// from in place, to become its kept encoding (KeepDecoded).
	decoded *decodedTree
	// maxKeptTest and minSharedTest, if set, replace maxKept and
	// minShared (tests of large trees).
	maxKeptTest, minSharedTest int
	// spare holds the emptied maps of the last Diff merged, for the next
	// Diff (Diff.own).
	spare *diffMaps
}

// credCounts counts, over the non-blank leaves, how many use each credential
// type and how many list it in their capabilities (RFC 9420 §7.3).
type credCounts struct {
	use     map[codec.CredentialType]int
	support map[codec.CredentialType]int
}

func (c credCounts) clone() credCounts {
	d := credCounts{use: make(map[codec.CredentialType]int, len(c.use)), support: make(map[codec.CredentialType]int, len(c.support))}
	for k, v := range c.use {
		d.use[k] = v
	}
	for k, v := range c.support {
		d.support[k] = v
	}
	return d
}

// add adjusts the counters for leaf ln entering (delta 1) or leaving
// (delta -1) the tree.
func (c credCounts) add(ln *codec.LeafNode, delta int) {
	if ln == nil {
		return
	}
	bump(c.use, ln.Credential.CredentialType, delta)
	list := ln.Capabilities.Credentials
	for i, t := range list {
		dup := false
		for _, u := range list[:i] {
			if u == t {
				dup = true
				break
			}
		}
		if !dup {
			bump(c.support, t, delta)
		}
	}
}

// sameCreds reports whether leaves a and b (either may be nil) count the
// same in credCounts: both blank, or the same credential type and the same
// list of supported credential types.
func sameCreds(a, b *codec.LeafNode) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Credential.CredentialType == b.Credential.CredentialType && slices.Equal(a.Capabilities.Credentials, b.Capabilities.Credentials)
}

func bump(m map[codec.CredentialType]int, k codec.CredentialType, delta int) {
	if v := m[k] + delta; v != 0 {
		m[k] = v
	} else {
		delete(m, k)
	}
}

// New returns a one-leaf tree holding the creator's LeafNode, as when
// creating a group (RFC 9420 §11).
func New(cs providers.CipherSuite, creator *codec.LeafNode) (*Tree, error) {
	if creator == nil {
		return nil, ErrNilNode
	}
	t := newTree(cs, 1)
	if err := t.place(0, &codec.Node{NodeType: codec.NodeTypeLeaf, LeafNode: creator}); err != nil {
		return nil, err
	}
	return t, nil
}

func newTree(cs providers.CipherSuite, n LeafCount) *Tree {
	nh := cs.HashSize()
	w := int(treemath.NodeWidth(n))
	t := &Tree{
		cs:      cs,
		nh:      nh,
		n:       n,
		leaves:  make([]*codec.LeafNode, n),
		parents: make([]*codec.ParentNode, n-1),
		hashes:  make([]byte, w*nh),
		hvalid:  make([]uint64, (w+63)/64),
		occ:     make([]uint64, (int(n)+63)/64),
		pocc:    make([]uint64, (int(n)+63)/64),
		creds:   credCounts{use: map[codec.CredentialType]int{}, support: map[codec.CredentialType]int{}},
	}
	t.enc = newKeyIndex(t, false, 0)
	t.sig = newKeyIndex(t, true, 0)
	return t
}

// FromRatchetTree builds a Tree from the nodes of a ratchet_tree extension
// (RFC 9420 §12.4.3.3), whose trailing blank nodes are omitted: the last
// node must be non-blank, and the tree is extended with blanks to the next
// full width. It checks structure (leaves at even, parents at odd indices,
// selected arms present) and the uniqueness of encryption and signature keys
// (§7.3, §12.4.3.1); everything else is left to Validate. The nodes are
// retained, not copied.
func FromRatchetTree(cs providers.CipherSuite, rt codec.RatchetTree) (*Tree, error) {
	if len(rt) == 0 {
		return nil, fmt.Errorf("%w: no nodes", ErrMalformedTree)
	}
	if rt[len(rt)-1] == nil {
		return nil, fmt.Errorf("%w: last node is blank", ErrMalformedTree)
	}
	if uint64(len(rt)) > uint64(treemath.NodeWidth(treemath.MaxLeafCount)) {
		return nil, fmt.Errorf("%w: %d nodes", ErrMalformedTree, len(rt))
	}
	n := treemath.FullLeafCount(LeafCount(len(rt)/2 + 1))
	t := newTree(cs, n)
	nodes, leaves := 0, 0
	for i, nd := range rt {
		if nd != nil {
			nodes++
			leaves += 1 - i%2
		}
	}
	t.enc = newKeyIndex(t, false, nodes)
	t.sig = newKeyIndex(t, true, leaves)
	for i, nd := range rt {
		if nd == nil {
			continue
		}
		if err := t.place(NodeIndex(i), nd); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// DecodeRatchetTree decodes a TLS-serialized ratchet_tree (RFC 9420
// §12.4.3.3) from a copy of data (DecodeOwnedRatchetTree).
func DecodeRatchetTree(cs providers.CipherSuite, data []byte) (*Tree, error) {
	return DecodeOwnedRatchetTree(cs, bytes.Clone(data))
}

// DecodeOwnedRatchetTree decodes a TLS-serialized ratchet_tree (RFC 9420
// §12.4.3.3) in place and calls FromRatchetTree: the nodes alias data,
// which the tree keeps as its encoding (KeepDecoded), so that its first
// encoding costs nothing. The caller must never modify data afterwards.
func DecodeOwnedRatchetTree(cs providers.CipherSuite, data []byte) (*Tree, error) {
	var rt codec.RatchetTree
	r := codec.NewReader(data)
	err := rt.Decode(r)
	if err == nil {
		err = r.Finish()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedTree, err)
	}
	t, err := FromRatchetTree(cs, rt)
	if err != nil {
		return nil, err
	}
	if err := t.KeepDecoded(data); err != nil {
		return nil, err
	}
	return t, nil
}

// place stores a node during construction, maintaining the indices.
func (t *Tree) place(x NodeIndex, nd *codec.Node) error {
	if x.IsLeaf() {
		if nd.NodeType != codec.NodeTypeLeaf || nd.LeafNode == nil {
			return nodeErr(x, ErrMalformedTree, fmt.Errorf("expected a leaf node"))
		}
		l := LeafIndex(x >> 1)
		ln := nd.LeafNode
		if o, dup := t.enc.get(ln.EncryptionKey); dup {
			return nodeErr(x, ErrDuplicateEncryptionKey, fmt.Errorf("also in node %d", o))
		}
		if o, dup := t.sig.get(ln.SignatureKey); dup {
			return nodeErr(x, ErrDuplicateSignatureKey, fmt.Errorf("also in leaf %d", o))
		}
		t.leaves[l] = ln
		t.enc.put(ln.EncryptionKey, uint32(x))
		t.sig.put(ln.SignatureKey, uint32(l))
		t.occ[l/64] |= 1 << (l % 64)
		t.members++
		t.creds.add(ln, 1)
		return nil
	}
	if nd.NodeType != codec.NodeTypeParent || nd.ParentNode == nil {
		return nodeErr(x, ErrMalformedTree, fmt.Errorf("expected a parent node"))
	}
	p := nd.ParentNode
	if o, dup := t.enc.get(p.EncryptionKey); dup {
		return nodeErr(x, ErrDuplicateEncryptionKey, fmt.Errorf("also in node %d", o))
	}
	t.parents[x>>1] = p
	t.enc.put(p.EncryptionKey, uint32(x))
	t.pocc[x>>7] |= 1 << ((x >> 1) % 64)
	return nil
}

// Suite returns the tree's cipher suite.
func (t *Tree) Suite() providers.CipherSuite { return t.cs }

// Clone returns an independent copy of t sharing the (immutable) node
// values. It costs O(N); staging a Diff is usually what is wanted.
func (t *Tree) Clone() *Tree {
	c := &Tree{
		cs: t.cs, nh: t.nh, n: t.n,
		leaves:  append([]*codec.LeafNode(nil), t.leaves...),
		parents: append([]*codec.ParentNode(nil), t.parents...),
		hashes:  append([]byte(nil), t.hashes...),
		hvalid:  append([]uint64(nil), t.hvalid...),
		occ:     append([]uint64(nil), t.occ...),
		pocc:    append([]uint64(nil), t.pocc...),
		members: t.members,
		creds:   t.creds.clone(),
	}
	c.enc = t.enc.clone(c)
	c.sig = t.sig.clone(c)
	return c
}

// ---- the read-only view shared by Tree and Diff ----

// view is the read access that the algorithms of this package need; Tree
// and Diff implement it.
type view interface {
	suite() providers.CipherSuite
	leafCount() LeafCount
	leafAt(l LeafIndex) *codec.LeafNode     // nil if blank or out of range
	parentAt(x NodeIndex) *codec.ParentNode // nil if blank or out of range
	occupied(l LeafIndex) bool
	occWords() []uint64  // leaf occupancy bitset
	poccWords() []uint64 // parent occupancy bitset, indexed by x>>1
	hash(x NodeIndex) ([]byte, error)
	encOwner(key []byte) (NodeIndex, bool)
	sigOwner(key []byte) (LeafIndex, bool)
	memberCount() int
	credCounts() credCounts
}

func (t *Tree) suite() providers.CipherSuite { return t.cs }
func (t *Tree) leafCount() LeafCount         { return t.n }
func (t *Tree) leafAt(l LeafIndex) *codec.LeafNode {
	if uint32(l) >= uint32(t.n) {
		return nil
	}
	return t.leaves[l]
}
func (t *Tree) parentAt(x NodeIndex) *codec.ParentNode {
	if x.IsLeaf() || uint32(x>>1) >= uint32(len(t.parents)) {
		return nil
	}
	return t.parents[x>>1]
}
func (t *Tree) occupied(l LeafIndex) bool {
	return uint32(l) < uint32(t.n) && t.occ[l/64]&(1<<(l%64)) != 0
}
func (t *Tree) occWords() []uint64  { return t.occ }
func (t *Tree) poccWords() []uint64 { return t.pocc }
func (t *Tree) encOwner(key []byte) (NodeIndex, bool) {
	x, ok := t.enc.get(key)
	return NodeIndex(x), ok
}
func (t *Tree) sigOwner(key []byte) (LeafIndex, bool) {
	l, ok := t.sig.get(key)
	return LeafIndex(l), ok
}
func (t *Tree) memberCount() int       { return t.members }
func (t *Tree) credCounts() credCounts { return t.creds }

// hash returns the cached tree hash of node x (RFC 9420 §7.8), computing
// missing entries. The returned slice aliases the cache.
func (t *Tree) hash(x NodeIndex) ([]byte, error) {
	if uint32(x) >= treemath.NodeWidth(t.n) {
		return nil, nodeErr(x, ErrNodeOutOfRange)
	}
	off := int(x) * t.nh
	if t.hvalid[x/64]&(1<<(x%64)) != 0 {
		return t.hashes[off : off+t.nh : off+t.nh], nil
	}
	var err error
	var in []byte
	if x.IsLeaf() {
		in, err = leafHashInput(t.buf, LeafIndex(x>>1), t.leaves[x>>1])
	} else {
		l, _ := treemath.Left(x)
		r, _ := treemath.Right(x)
		var lh, rh []byte
		if lh, err = t.hash(l); err != nil {
			return nil, err
		}
		if rh, err = t.hash(r); err != nil {
			return nil, err
		}
		in, err = parentHashInputTH(t.buf, t.parents[x>>1], lh, rh)
	}
	if err != nil {
		return nil, nodeErr(x, ErrEncoding, err)
	}
	t.buf = in
	t.cs.Hash(t.hashes[off:off:off+t.nh], in)
	t.hvalid[x/64] |= 1 << (x % 64)
	return t.hashes[off : off+t.nh : off+t.nh], nil
}

// leafHashInput returns the TreeHashInput of a leaf (RFC 9420 §7.8),
// encoded in scratch, the buffer of the previous input (nil for none),
// emptied, or in a new one of its exact size if scratch is smaller: a
// tree's (and a Diff's) scratch grows to its largest input, never by
// append from nothing.
func leafHashInput(scratch []byte, l LeafIndex, ln *codec.LeafNode) ([]byte, error) {
	leaf := codec.LeafNodeHashInput{LeafIndex: uint32(l), LeafNode: ln}
	in := codec.TreeHashInput{NodeType: codec.NodeTypeLeaf, LeafNode: &leaf}
	return in.AppendTo(codec.Scratch(scratch, in.Size()))
}

// parentHashInputTH returns the TreeHashInput of a parent node (RFC 9420
// §7.8), encoded in scratch as leafHashInput does.
func parentHashInputTH(scratch []byte, p *codec.ParentNode, lh, rh []byte) ([]byte, error) {
	parent := codec.ParentNodeHashInput{ParentNode: p, LeftHash: lh, RightHash: rh}
	in := codec.TreeHashInput{NodeType: codec.NodeTypeParent, ParentNode: &parent}
	return in.AppendTo(codec.Scratch(scratch, in.Size()))
}

// ---- exported read API (Tree) ----

// LeafCount returns the number of leaves of the full tree, blank ones
// included: always a power of two (RFC 9420 §7.7).
func (t *Tree) LeafCount() LeafCount { return t.n }

// MemberCount returns the number of non-blank leaves.
func (t *Tree) MemberCount() int { return t.members }

// Leaf returns the LeafNode at leaf l, or nil if it is blank or out of
// range. The caller must not modify it.
func (t *Tree) Leaf(l LeafIndex) *codec.LeafNode { return t.leafAt(l) }

// Parent returns the ParentNode at parent node x, or nil if x is blank, a
// leaf, or out of range. The caller must not modify it.
func (t *Tree) Parent(x NodeIndex) *codec.ParentNode { return t.parentAt(x) }

// Node returns node x as a codec.Node, or nil if it is blank or out of
// range.
func (t *Tree) Node(x NodeIndex) *codec.Node { return nodeOf(t, x) }

// IsBlank reports whether node x is blank (nodes out of range are blank).
func (t *Tree) IsBlank(x NodeIndex) bool { return isBlank(t, x) }

// Resolution returns the resolution of node x (RFC 9420 §4.1.1): node
// indices, unmerged leaves as their node indices. Nodes out of range have an
// empty resolution.
func (t *Tree) Resolution(x NodeIndex) []NodeIndex { return appendResolution(t, nil, x, nil) }

// SubtreeBlank reports whether every node of the subtree rooted at x is
// blank (nodes outside the tree are), from the occupancy bitsets: in
// O(leaves under x / 64), without visiting the nodes.
func (t *Tree) SubtreeBlank(x NodeIndex) bool { return resolutionEmpty(t, x) }

// AppendResolution appends to dst the resolution of node x, leaving out
// every leaf l for which exclude(l) is true (used to omit the leaves added
// by the current Commit, RFC 9420 §7.6); exclude may be nil.
func (t *Tree) AppendResolution(dst []NodeIndex, x NodeIndex, exclude func(LeafIndex) bool) []NodeIndex {
	return appendResolution(t, dst, x, exclude)
}

// FilteredDirectPath returns the filtered direct path of leaf l
// (RFC 9420 §4.1.2): its direct path without the nodes whose copath child
// has an empty resolution, from the leaf's parent to the root, together
// with the copath child of each returned node (the node whose resolution the
// path secret is encrypted to, §7.5).
func (t *Tree) FilteredDirectPath(l LeafIndex) (path, copath []NodeIndex, err error) {
	return filteredDirectPath(t, l)
}

// TreeHash returns the tree hash of the root (RFC 9420 §7.8), the value of
// GroupContext.tree_hash. The result is a new slice.
func (t *Tree) TreeHash() ([]byte, error) { return rootHash(t) }

// NodeTreeHash returns the tree hash of node x (RFC 9420 §7.8). The result
// is a new slice.
func (t *Tree) NodeTreeHash(x NodeIndex) ([]byte, error) { return cloneHash(t.hash(x)) }

// FindEncryptionKey returns the node whose encryption_key is key.
func (t *Tree) FindEncryptionKey(key []byte) (NodeIndex, bool) { return t.encOwner(key) }

// FindSignatureKey returns the leaf whose signature_key is key.
func (t *Tree) FindSignatureKey(key []byte) (LeafIndex, bool) { return t.sigOwner(key) }

// FindLeaf returns the leaf holding a LeafNode equal to ln (the same
// encoding), as a joiner finds its own leaf (RFC 9420 §12.4.3.1).
func (t *Tree) FindLeaf(ln *codec.LeafNode) (LeafIndex, bool) { return findLeaf(t, ln) }

// Members calls f for each non-blank leaf in increasing order, stopping
// early if f returns false.
func (t *Tree) Members(f func(LeafIndex, *codec.LeafNode) bool) { members(t, f) }

// RatchetTree returns the tree as a ratchet_tree extension value: the nodes
// in array order, trailing blank nodes omitted (RFC 9420 §12.4.3.3). The
// node values are shared with the tree and must not be modified.
func (t *Tree) RatchetTree() codec.RatchetTree { return ratchetTree(t) }

// ---- shared implementations ----

func nodeOf(v view, x NodeIndex) *codec.Node {
	if x.IsLeaf() {
		if ln := v.leafAt(LeafIndex(x >> 1)); ln != nil {
			return &codec.Node{NodeType: codec.NodeTypeLeaf, LeafNode: ln}
		}
		return nil
	}
	if p := v.parentAt(x); p != nil {
		return &codec.Node{NodeType: codec.NodeTypeParent, ParentNode: p}
	}
	return nil
}

func isBlank(v view, x NodeIndex) bool {
	if x.IsLeaf() {
		return v.leafAt(LeafIndex(x>>1)) == nil
	}
	return v.parentAt(x) == nil
}

func width(v view) uint32 { return treemath.NodeWidth(v.leafCount()) }

func appendResolution(v view, dst []NodeIndex, x NodeIndex, exclude func(LeafIndex) bool) []NodeIndex {
	if uint32(x) >= width(v) {
		return dst
	}
	if x.IsLeaf() {
		l := LeafIndex(x >> 1)
		if v.leafAt(l) != nil && (exclude == nil || !exclude(l)) {
			dst = append(dst, x)
		}
		return dst
	}
	if p := v.parentAt(x); p != nil {
		dst = append(dst, x)
		for _, u := range p.UnmergedLeaves {
			if exclude == nil || !exclude(LeafIndex(u)) {
				dst = append(dst, LeafIndex(u).Node())
			}
		}
		return dst
	}
	// A blank subtree without members has an empty resolution.
	if !subtreeHasMembers(v, x) && !subtreeHasParents(v, x) {
		return dst
	}
	l, _ := treemath.Left(x)
	r, _ := treemath.Right(x)
	dst = appendResolution(v, dst, l, exclude)
	return appendResolution(v, dst, r, exclude)
}

// subtreeLeaves returns the leaves [lo, hi) under node x.
func subtreeLeaves(x NodeIndex) (lo, hi uint32) {
	k := treemath.Level(x)
	lo = (uint32(x) >> (k + 1)) << k
	return lo, lo + 1<<k
}

// subtreeHasMembers reports whether a non-blank leaf lies under x.
func subtreeHasMembers(v view, x NodeIndex) bool {
	lo, hi := subtreeLeaves(x)
	if hi > uint32(v.leafCount()) {
		hi = uint32(v.leafCount())
	}
	return anyBit(v.occWords(), lo, hi)
}

// anyBit reports whether a bit in [lo, hi) is set.
func anyBit(w []uint64, lo, hi uint32) bool {
	for lo < hi {
		i := lo / 64
		word := w[i] >> (lo % 64)
		span := 64 - lo%64
		if hi-lo < span {
			word &= (1 << (hi - lo)) - 1
			span = hi - lo
		}
		if word != 0 {
			return true
		}
		lo += span
	}
	return false
}

// subtreeHasParents reports whether a non-blank parent lies under (or at)
// x. Only needed for member-less subtrees, which in a valid tree have none.
// The parents under x are the odd nodes between its first and last leaf,
// i.e. parent slots [lo, hi-1) for x's leaf range [lo, hi).
func subtreeHasParents(v view, x NodeIndex) bool {
	lo, hi := subtreeLeaves(x)
	hi--
	if n := uint32(v.leafCount()); hi > n-1 {
		hi = n - 1
	}
	return anyBit(v.poccWords(), lo, hi)
}

// resolutionEmpty reports whether the resolution of x is empty.
func resolutionEmpty(v view, x NodeIndex) bool {
	if uint32(x) >= width(v) {
		return true
	}
	return !subtreeHasMembers(v, x) && !subtreeHasParents(v, x)
}

func filteredDirectPath(v view, l LeafIndex) (path, copath []NodeIndex, err error) {
	n := v.leafCount()
	if !n.HasLeaf(l) {
		return nil, nil, leafErr(l, ErrLeafOutOfRange)
	}
	dp, _ := treemath.DirectPath(l.Node(), n)
	cp, _ := treemath.Copath(l.Node(), n)
	path, copath = dp[:0], cp[:0]
	for i := range dp {
		if resolutionEmpty(v, cp[i]) {
			continue
		}
		path = append(path, dp[i])
		copath = append(copath, cp[i])
	}
	return path, copath, nil
}

func rootHash(v view) ([]byte, error) {
	return cloneHash(v.hash(treemath.Root(v.leafCount())))
}

func cloneHash(h []byte, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), h...), nil
}

func findLeaf(v view, ln *codec.LeafNode) (LeafIndex, bool) {
	if ln == nil {
		return 0, false
	}
	l, ok := v.sigOwner(ln.SignatureKey)
	if !ok {
		return 0, false
	}
	have := v.leafAt(l)
	a, err1 := ln.Marshal()
	b, err2 := have.Marshal()
	if err1 != nil || err2 != nil || string(a) != string(b) {
		return 0, false
	}
	return l, true
}

func members(v view, f func(LeafIndex, *codec.LeafNode) bool) {
	w := v.occWords()
	n := uint32(v.leafCount())
	for i, word := range w {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &= word - 1
			l := uint32(i)*64 + uint32(b)
			if l >= n {
				return
			}
			if !f(LeafIndex(l), v.leafAt(LeafIndex(l))) {
				return
			}
		}
	}
}

func ratchetTree(v view) codec.RatchetTree {
	w := width(v)
	last := -1
	for x := int(w) - 1; x >= 0; x-- {
		if !isBlank(v, NodeIndex(x)) {
			last = x
			break
		}
	}
	// The Node values come from one array, not one allocation each (a
	// 100,000-member tree has 200,000 nodes).
	rt := make(codec.RatchetTree, last+1)
	nodes := make([]codec.Node, last+1)
	for x := 0; x <= last; x++ {
		if NodeIndex(x).IsLeaf() {
			if ln := v.leafAt(LeafIndex(x >> 1)); ln != nil {
				nodes[x] = codec.Node{NodeType: codec.NodeTypeLeaf, LeafNode: ln}
				rt[x] = &nodes[x]
			}
		} else if p := v.parentAt(NodeIndex(x)); p != nil {
			nodes[x] = codec.Node{NodeType: codec.NodeTypeParent, ParentNode: p}
			rt[x] = &nodes[x]
		}
	}
	return rt
}
