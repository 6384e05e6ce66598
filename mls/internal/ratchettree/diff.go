package ratchettree

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// Diff is a staged, copy-on-write change to a Tree: proposals and an
// UpdatePath are applied to it (Add, Remove, Update, ReplaceLeaf,
// SetPathKeys) without touching the Tree, which keeps serving reads. Merge
// turns the Tree into the Diff's state in O(changes); dropping an unmerged
// Diff costs nothing. A Diff has the same read API as a Tree (see View);
// its reads see the staged state.
//
// Internally a Diff is an overlay of changed nodes over the Tree, with its
// own tree-hash cache for the nodes whose subtree changed (the changed nodes
// and their ancestors: O(log N) per changed path) and overlays of the key
// indices. Staging allocates only the Diff; the first change of a leaf's or
// parent's occupancy (a node made blank or non-blank, not a node replaced)
// copies that occupancy bitset (N/64 words), and nothing else of size N is
// copied: a self-update copies neither.
//
// Every mutating method either succeeds or leaves the Diff unchanged and
// returns an error. Once a Diff is merged, it and every other Diff of the
// same Tree become stale: their mutations and Merge return ErrStaleDiff,
// and their reads, though safe, describe no meaningful tree.
type Diff struct {
	base      *Tree
	gen       uint64
	done      bool
	owned     bool // see own
	n         LeafCount
	over      map[NodeIndex]ovNode
	blankFrom NodeIndex // nodes >= blankFrom that are not in over are blank
	dirty     map[NodeIndex]struct{}
	hcache    map[NodeIndex][]byte
	occ       []uint64
	pocc      []uint64
	members   int
	encAdd    map[string]NodeIndex
	encDel    map[string]struct{}
	sigAdd    map[string]LeafIndex
	sigDel    map[string]struct{}
	creds     credCounts
	buf       []byte
	// occOwned and poccOwned: occ and pocc are the Diff's own copies, not
	// the base Tree's (see setOcc); credsOwned: creds is (see ownCreds).
	occOwned, poccOwned, credsOwned bool
	// changes is the result of Changes while chValid: every change of the
	// Diff's nodes or width clears chValid (markDirty, extend, cut).
	changes []NodeChange
	chValid bool
}

type ovNode struct {
	leaf   *codec.LeafNode
	parent *codec.ParentNode
}

// Stage returns a new Diff on t.
func (t *Tree) Stage() *Diff {
	return &Diff{
		base:      t,
		gen:       t.gen,
		n:         t.n,
		blankFrom: NodeIndex(treemath.NodeWidth(t.n)),
		occ:       t.occ,
		pocc:      t.pocc,
		members:   t.members,
		creds:     t.creds,
	}
}

// own gives the Diff its own copies of the state it changes, before its
// first change: until then it shares the Tree's bitsets and counters (so
// Stage allocates only the Diff itself). Reads of nil maps are fine.
func (d *Diff) own() {
	if d.owned {
		return
	}
	d.owned = true
	// The maps of the last Diff merged into the Tree, emptied, if it left
	// them (leaveMaps).
	if m := d.base.spare; m != nil {
		d.base.spare = nil
		d.over, d.dirty, d.encAdd, d.encDel, d.sigAdd, d.sigDel = m.over, m.dirty, m.encAdd, m.encDel, m.sigAdd, m.sigDel
		if d.hcache == nil {
			d.hcache = m.hcache
		}
		return
	}
	// Room for a path (its nodes and its leaf: the nodes, old and new
	// keys a self-update changes) without rehashing; a larger change grows
	// the maps. (A larger hint costs more than a path's work in
	// allocating and clearing the tables.)
	hint := int(treemath.Level(treemath.Root(d.n))) + 2
	d.over = make(map[NodeIndex]ovNode, hint)
	d.dirty = make(map[NodeIndex]struct{}, hint)
	if d.hcache == nil {
		d.hcache = make(map[NodeIndex][]byte, hint)
	}
	d.encAdd = make(map[string]NodeIndex, hint)
	d.encDel = make(map[string]struct{}, hint)
	d.sigAdd = make(map[string]LeafIndex)
	d.sigDel = make(map[string]struct{})
}

// diffMaps are the maps of a Diff, which a merged Diff leaves to its Tree
// for the next Diff's (Merge, own): a received Commit's path then
// allocates none (seven maps, each a table to clear).
type diffMaps struct {
	over   map[NodeIndex]ovNode
	dirty  map[NodeIndex]struct{}
	hcache map[NodeIndex][]byte
	encAdd map[string]NodeIndex
	encDel map[string]struct{}
	sigAdd map[string]LeafIndex
	sigDel map[string]struct{}
}

// maxSpare bounds the entries of the maps a merged Diff leaves to its Tree
// (more than a few paths' worth: a large change's maps are dropped, so
// that their tables are neither kept nor cleared again).
const maxSpare = 256

// leaveMaps empties a merged Diff's maps and leaves them to its Tree
// (spare), unless one is large or hcache is not the Diff's own; the Diff
// keeps none (reads of a stale Diff see its Tree).
func (d *Diff) leaveMaps() {
	if !d.owned || d.hcache == nil {
		return
	}
	for _, n := range []int{len(d.over), len(d.dirty), len(d.hcache), len(d.encAdd), len(d.encDel), len(d.sigAdd), len(d.sigDel)} {
		if n > maxSpare {
			return
		}
	}
	m := &diffMaps{over: d.over, dirty: d.dirty, hcache: d.hcache, encAdd: d.encAdd, encDel: d.encDel, sigAdd: d.sigAdd, sigDel: d.sigDel}
	clear(m.over)
	clear(m.dirty)
	clear(m.hcache)
	clear(m.encAdd)
	clear(m.encDel)
	clear(m.sigAdd)
	clear(m.sigDel)
	d.over, d.dirty, d.hcache, d.encAdd, d.encDel, d.sigAdd, d.sigDel = nil, nil, nil, nil, nil, nil, nil
	d.base.spare = m
}

// ownCreds gives the Diff its own copy of the credential counters, which
// it shares with its base Tree until a leaf enters or leaves with other
// credentials than the one it replaces (not in a self-update).
func (d *Diff) ownCreds() {
	if !d.credsOwned {
		d.creds, d.credsOwned = d.creds.clone(), true
	}
}

// ownOcc gives the Diff its own copies of the occupancy bitsets, which it
// shares with its base Tree until it changes them.
func (d *Diff) ownOcc() {
	ownBits(&d.occ, &d.occOwned)
	ownBits(&d.pocc, &d.poccOwned)
}

// setOcc sets leaf l's occupancy bit to on, copying the leaf bitset first
// if it is the Tree's and the bit changes.
func (d *Diff) setOcc(l LeafIndex, on bool) {
	setBit(&d.occ, &d.occOwned, int(l/64), uint64(1)<<(l%64), on)
}

// setPocc is setOcc for parent node x's bit.
func (d *Diff) setPocc(x NodeIndex, on bool) {
	setBit(&d.pocc, &d.poccOwned, int(x>>7), uint64(1)<<((x>>1)%64), on)
}

// ownBits replaces *bits, shared with the base Tree unless *owned, with a
// copy of its own.
func ownBits(bits *[]uint64, owned *bool) {
	if !*owned {
		*bits, *owned = slices.Clone(*bits), true
	}
}

// setBit sets the bit b of word w of *bits to on, first taking a copy of
// the bitset (ownBits) if the bit changes.
func setBit(bits *[]uint64, owned *bool, w int, b uint64, on bool) {
	if (*bits)[w]&b != 0 == on {
		return
	}
	ownBits(bits, owned)
	(*bits)[w] ^= b
}

// Base returns the Tree the Diff was staged on.
func (d *Diff) Base() *Tree { return d.base }

func (d *Diff) stale() bool { return d.done || d.gen != d.base.gen }

// Stale reports whether the Diff can no longer be merged: it was merged, or
// another Diff of its Tree was.
func (d *Diff) Stale() bool { return d.stale() }

// ---- view implementation ----

func (d *Diff) suite() providers.CipherSuite { return d.base.cs }
func (d *Diff) leafCount() LeafCount         { return d.n }
func (d *Diff) leafAt(l LeafIndex) *codec.LeafNode {
	if uint32(l) >= uint32(d.n) {
		return nil
	}
	x := l.Node()
	if e, ok := d.over[x]; ok {
		return e.leaf
	}
	if x >= d.blankFrom {
		return nil
	}
	return d.base.leafAt(l)
}
func (d *Diff) parentAt(x NodeIndex) *codec.ParentNode {
	if x.IsLeaf() || uint32(x) >= treemath.NodeWidth(d.n) {
		return nil
	}
	if e, ok := d.over[x]; ok {
		return e.parent
	}
	if x >= d.blankFrom {
		return nil
	}
	return d.base.parentAt(x)
}
func (d *Diff) occupied(l LeafIndex) bool {
	return uint32(l) < uint32(d.n) && d.occ[l/64]&(1<<(l%64)) != 0
}
func (d *Diff) occWords() []uint64  { return d.occ }
func (d *Diff) poccWords() []uint64 { return d.pocc }
func (d *Diff) encOwner(key []byte) (NodeIndex, bool) {
	if x, ok := d.encAdd[string(key)]; ok {
		return x, true
	}
	if _, ok := d.encDel[string(key)]; ok {
		return 0, false
	}
	return d.base.encOwner(key)
}
func (d *Diff) sigOwner(key []byte) (LeafIndex, bool) {
	if l, ok := d.sigAdd[string(key)]; ok {
		return l, true
	}
	if _, ok := d.sigDel[string(key)]; ok {
		return 0, false
	}
	return d.base.sigOwner(key)
}
func (d *Diff) memberCount() int       { return d.members }
func (d *Diff) credCounts() credCounts { return d.creds }

func (d *Diff) hash(x NodeIndex) ([]byte, error) {
	if uint32(x) >= treemath.NodeWidth(d.n) {
		return nil, nodeErr(x, ErrNodeOutOfRange)
	}
	if h, ok := d.hcache[x]; ok {
		return h, nil
	}
	if x < d.blankFrom {
		if _, dirty := d.dirty[x]; !dirty {
			return d.base.hash(x)
		}
	}
	var err error
	var in []byte
	if x.IsLeaf() {
		l := LeafIndex(x >> 1)
		in, err = leafHashInput(d.buf, l, d.leafAt(l))
	} else {
		l, _ := treemath.Left(x)
		r, _ := treemath.Right(x)
		var lh, rh []byte
		if lh, err = d.hash(l); err != nil {
			return nil, err
		}
		if rh, err = d.hash(r); err != nil {
			return nil, err
		}
		in, err = parentHashInputTH(d.buf, d.parentAt(x), lh, rh)
	}
	if err != nil {
		return nil, nodeErr(x, ErrEncoding, err)
	}
	d.buf = in
	h := d.base.cs.Hash(make([]byte, 0, d.base.nh), in)
	if d.hcache == nil {
		d.hcache = make(map[NodeIndex][]byte)
	}
	d.hcache[x] = h
	return h, nil
}

// ---- internal mutation primitives (no checks) ----

// markDirty records that the subtree of x changed: x and its ancestors
// lose their cached hashes. Invariant: if a node is in hcache, so is every
// dirty descendant (hash computes and caches them first); hence a node
// that is already dirty and uncached has only dirty, uncached ancestors,
// and the walk stops there (a path of k changed nodes costs O(k + log N)).
func (d *Diff) markDirty(x NodeIndex) {
	d.chValid = false
	for {
		_, wasDirty := d.dirty[x]
		_, cached := d.hcache[x]
		if wasDirty && !cached {
			return
		}
		delete(d.hcache, x)
		d.dirty[x] = struct{}{}
		p, ok := treemath.Parent(x, d.n)
		if !ok {
			return
		}
		x = p
	}
}

func (d *Diff) addEnc(key []byte, x NodeIndex) {
	delete(d.encDel, string(key))
	d.encAdd[string(key)] = x
}

// delEnc removes a node's encryption key from the index. Keys are unique (an
// invariant of Tree and Diff), so the key's entry is x's.
func (d *Diff) delEnc(key []byte) {
	delete(d.encAdd, string(key))
	d.encDel[string(key)] = struct{}{}
}

func (d *Diff) setLeaf(l LeafIndex, ln *codec.LeafNode) {
	x := l.Node()
	old := d.leafAt(l)
	if !sameCreds(old, ln) {
		d.ownCreds()
		d.creds.add(old, -1)
		d.creds.add(ln, 1)
	}
	if old != nil {
		d.delEnc(old.EncryptionKey)
		delete(d.sigAdd, string(old.SignatureKey))
		d.sigDel[string(old.SignatureKey)] = struct{}{}
		d.members--
	}
	if ln != nil {
		d.addEnc(ln.EncryptionKey, x)
		delete(d.sigDel, string(ln.SignatureKey))
		d.sigAdd[string(ln.SignatureKey)] = l
		d.members++
	}
	d.setOcc(l, ln != nil)
	d.over[x] = ovNode{leaf: ln}
	d.markDirty(x)
}

func (d *Diff) setParent(x NodeIndex, p *codec.ParentNode) { d.putParent(x, p, p != nil) }

// putParent is setParent with the occupancy bit given: setPath blanks the
// nodes it sets again at once without clearing their bits, so that a path
// over non-blank parents does not copy the parent bitset.
func (d *Diff) putParent(x NodeIndex, p *codec.ParentNode, occupied bool) {
	if old := d.parentAt(x); old != nil {
		d.delEnc(old.EncryptionKey)
	}
	if p != nil {
		d.addEnc(p.EncryptionKey, x)
	}
	d.setPocc(x, occupied)
	d.over[x] = ovNode{parent: p}
	d.markDirty(x)
}

// blankDirectPath blanks the parent nodes on the direct path of leaf l.
func (d *Diff) blankDirectPath(l LeafIndex) {
	dp, _ := treemath.DirectPath(l.Node(), d.n)
	for _, y := range dp {
		if d.parentAt(y) != nil {
			d.setParent(y, nil)
		}
	}
}

// extend doubles the tree (RFC 9420 §7.7): the new right half is blank.
func (d *Diff) extend() {
	d.chValid = false
	d.n *= 2
	d.ownOcc() // append must not write into the Tree's arrays
	for len(d.occ) < (int(d.n)+63)/64 {
		d.occ = append(d.occ, 0)
		d.pocc = append(d.pocc, 0)
	}
}

// truncate halves the tree while its right half has no non-blank leaf
// (RFC 9420 §7.7, §12.1.3).
func (d *Diff) truncate() {
	for d.n > 1 && !anyBit(d.occ, uint32(d.n/2), uint32(d.n)) {
		half := d.n / 2
		// Drop the discarded nodes' keys from the index (the old root may
		// be non-blank; other dropped parents only in an invalid tree).
		for i := uint32(half - 1); i < uint32(d.n-1); i++ {
			if i%64 == 0 && d.pocc[i/64] == 0 {
				i += 63
				continue
			}
			if x := NodeIndex(2*i + 1); d.pocc[i/64]&(1<<(i%64)) != 0 {
				d.delEnc(d.parentAt(x).EncryptionKey)
			}
		}
		d.cut(half)
	}
}

// cut makes the Diff n leaves wide (a smaller power of two) once the nodes
// beyond the new width no longer matter: it forgets their overlay entries
// and cached hashes, and trims the occupancy bitsets. The nodes below the
// new width form the leftmost subtree of n leaves; none of them is an
// ancestor of a dropped node, so their cached hashes hold.
func (d *Diff) cut(n LeafCount) {
	d.chValid = false
	newW := NodeIndex(treemath.NodeWidth(n))
	for x := range d.over {
		if x >= newW {
			delete(d.over, x)
		}
	}
	for x := range d.dirty {
		if x >= newW {
			delete(d.dirty, x)
		}
	}
	for x := range d.hcache {
		if x >= newW {
			delete(d.hcache, x)
		}
	}
	d.blankFrom = min(d.blankFrom, newW)
	d.n = n
	d.ownOcc()
	d.occ = d.occ[:(int(n)+63)/64]
	d.pocc = d.pocc[:(int(n)+63)/64]
	if r := n % 64; r != 0 {
		d.occ[len(d.occ)-1] &= 1<<r - 1
	}
	// Parent slots >= n-1 are gone (the old root is slot n-1).
	for i := uint32(n - 1); i < uint32(len(d.pocc))*64; i++ {
		d.pocc[i/64] &^= 1 << (i % 64)
	}
}

// leftmostBlank returns the leftmost blank leaf, if any.
func (d *Diff) leftmostBlank() (LeafIndex, bool) {
	for i, w := range d.occ {
		if w != ^uint64(0) {
			l := uint32(i)*64 + uint32(trailingOnes(w))
			if l < uint32(d.n) {
				return LeafIndex(l), true
			}
			return 0, false
		}
	}
	return 0, false
}

func trailingOnes(w uint64) int {
	n := 0
	for w&1 == 1 {
		w >>= 1
		n++
	}
	return n
}

// ---- exported mutations ----

func (d *Diff) checkNewKeys(ln *codec.LeafNode, self LeafIndex, hasSelf bool) error {
	if o, ok := d.encOwner(ln.EncryptionKey); ok && !(hasSelf && o == self.Node()) {
		return nodeErr(o, ErrDuplicateEncryptionKey)
	}
	if o, ok := d.sigOwner(ln.SignatureKey); ok && !(hasSelf && o == self) {
		return leafErr(o, ErrDuplicateSignatureKey)
	}
	return nil
}

// Add applies an Add (RFC 9420 §12.1.1): ln goes into the leftmost blank
// leaf, or, if there is none, the tree is extended (§7.7) and ln goes into
// the leftmost new leaf; the new leaf is added to the unmerged_leaves of
// every non-blank parent on its direct path. It returns the new leaf's
// index. The encryption and signature keys of ln must not be in the tree
// (ErrDuplicateEncryptionKey, ErrDuplicateSignatureKey). ln is retained.
// Add does not validate ln otherwise; see ValidateLeafNode.
func (d *Diff) Add(ln *codec.LeafNode) (LeafIndex, error) {
	if d.stale() {
		return 0, ErrStaleDiff
	}
	if ln == nil {
		return 0, ErrNilNode
	}
	if err := d.checkNewKeys(ln, 0, false); err != nil {
		return 0, err
	}
	d.own()
	l, ok := d.leftmostBlank()
	if !ok {
		if d.n >= treemath.MaxLeafCount {
			return 0, ErrTreeFull
		}
		l = LeafIndex(d.n)
		d.extend()
	}
	d.setLeaf(l, ln)
	dp, _ := treemath.DirectPath(l.Node(), d.n)
	for _, y := range dp {
		if p := d.parentAt(y); p != nil {
			d.setParent(y, withUnmerged(p, l))
		}
	}
	return l, nil
}

// withUnmerged returns a copy of p with l inserted into its sorted
// unmerged_leaves.
func withUnmerged(p *codec.ParentNode, l LeafIndex) *codec.ParentNode {
	u := make([]uint32, 0, len(p.UnmergedLeaves)+1)
	i, found := slices.BinarySearch(p.UnmergedLeaves, uint32(l))
	u = append(u, p.UnmergedLeaves[:i]...)
	if !found {
		u = append(u, uint32(l))
	}
	u = append(u, p.UnmergedLeaves[i:]...)
	return &codec.ParentNode{EncryptionKey: p.EncryptionKey, ParentHash: p.ParentHash, UnmergedLeaves: u}
}

// Remove applies a Remove (RFC 9420 §12.1.3): leaf l (which must be
// non-blank) and the parent nodes on its direct path are blanked, and the
// tree is truncated (§7.7) until its right half holds a non-blank leaf.
func (d *Diff) Remove(l LeafIndex) error {
	if d.stale() {
		return ErrStaleDiff
	}
	if !d.n.HasLeaf(l) {
		return leafErr(l, ErrLeafOutOfRange)
	}
	if d.leafAt(l) == nil {
		return leafErr(l, ErrBlankLeaf)
	}
	d.own()
	d.setLeaf(l, nil)
	d.blankDirectPath(l)
	d.truncate()
	return nil
}

// Update applies an Update (RFC 9420 §12.1.2): the LeafNode at leaf l
// (which must be non-blank) is replaced by ln and the parent nodes on its
// direct path are blanked. ln's encryption key must differ from the
// replaced one (ErrEncryptionKeyNotUpdated) and be new to the tree; its
// signature key may be the replaced leaf's own.
func (d *Diff) Update(l LeafIndex, ln *codec.LeafNode) error {
	if d.stale() {
		return ErrStaleDiff
	}
	if ln == nil {
		return ErrNilNode
	}
	if !d.n.HasLeaf(l) {
		return leafErr(l, ErrLeafOutOfRange)
	}
	old := d.leafAt(l)
	if old == nil {
		return leafErr(l, ErrBlankLeaf)
	}
	if bytes.Equal(old.EncryptionKey, ln.EncryptionKey) {
		return leafErr(l, ErrEncryptionKeyNotUpdated)
	}
	if err := d.checkNewKeys(ln, l, true); err != nil {
		return err
	}
	d.own()
	d.setLeaf(l, ln)
	d.blankDirectPath(l)
	return nil
}

// ReplaceLeaf sets the LeafNode of the non-blank leaf l to ln without
// touching its direct path: the last step of merging an UpdatePath
// (RFC 9420 §7.5 step 4), after SetPathKeys. ln's keys must be new to the
// tree or the replaced leaf's own.
func (d *Diff) ReplaceLeaf(l LeafIndex, ln *codec.LeafNode) error {
	if d.stale() {
		return ErrStaleDiff
	}
	if ln == nil {
		return ErrNilNode
	}
	if !d.n.HasLeaf(l) {
		return leafErr(l, ErrLeafOutOfRange)
	}
	if d.leafAt(l) == nil {
		return leafErr(l, ErrBlankLeaf)
	}
	if err := d.checkNewKeys(ln, l, true); err != nil {
		return err
	}
	d.own()
	d.setLeaf(l, ln)
	return nil
}

// SetPathKeys merges the public keys of an UpdatePath sent by leaf l
// (RFC 9420 §7.5 steps 1–3, §7.9): it blanks the direct path of l, sets
// each node of l's filtered direct path (computed on the current state of
// the Diff, i.e. after the Commit's proposals) to a ParentNode with the
// corresponding key of keys (ordered from the leaf's side to the root, as in
// UpdatePath.nodes), empty unmerged_leaves and the parent hash of the next
// node up the path (§7.9.1; empty for the root), and returns the parent hash
// that l's new LeafNode must carry (the parent hash of the lowest path node,
// or empty if the filtered direct path is empty).
//
// The caller then sets the leaf with ReplaceLeaf: a committer after signing
// a LeafNode carrying the returned hash; a receiver after checking that the
// UpdatePath's leaf_node carries it (ErrParentHashMismatch otherwise).
// Errors: ErrLeafOutOfRange, ErrBlankLeaf, ErrPathLength,
// ErrDuplicateEncryptionKey (a key repeated or present in a node off l's
// direct path).
func (d *Diff) SetPathKeys(l LeafIndex, keys []codec.HPKEPublicKey) (leafParentHash []byte, err error) {
	path, copath, err := d.checkPathKeys(l, keys)
	if err != nil {
		return nil, err
	}
	// The copath subtrees are not changed by the path, so their tree
	// hashes are the original sibling tree hashes (§7.9: the path resets
	// the unmerged leaves of its nodes).
	nodes := make([]*codec.ParentNode, len(path))
	ph := []byte{}
	for i := len(path) - 1; i >= 0; i-- {
		sh, err := d.hash(copath[i])
		if err != nil {
			return nil, err
		}
		p := &codec.ParentNode{EncryptionKey: keys[i], ParentHash: ph, UnmergedLeaves: []uint32{}}
		nodes[i] = p
		if ph, err = computeParentHash(d.base.cs, p.EncryptionKey, p.ParentHash, sh, &d.buf); err != nil {
			return nil, nodeErr(path[i], ErrEncoding, err)
		}
	}
	d.setPath(l, path, nodes)
	return ph, nil
}

// SetPathNodes is SetPathKeys with the parent hashes given rather than
// computed: parentHashes[i] is the parent_hash field of the i-th node of
// l's filtered direct path (the parent hash of the node above it, empty
// for the top one, §7.9), as a caller that validated an UpdatePath
// against this Diff's current state computed them (treekem checks the
// leaf's parent_hash with them), so that they are not computed twice. It
// makes the same checks as SetPathKeys, and ErrPathLength if the number of
// parent hashes differs from the number of keys.
func (d *Diff) SetPathNodes(l LeafIndex, keys []codec.HPKEPublicKey, parentHashes [][]byte) error {
	path, _, err := d.checkPathKeys(l, keys)
	if err != nil {
		return err
	}
	return d.setPathNodes(l, path, keys, parentHashes)
}

// SetCheckedPathNodes is SetPathNodes for keys that the caller found, on
// this Diff's current state, distinct and held by no node of the tree
// (RFC 9420 §7.3; treekem's check of a received UpdatePath, stricter than
// the one SetPathNodes makes): it makes the other checks of SetPathNodes
// but not that one again, which costs a lookup in the key index (a cache
// miss in a large tree) per key. Keys that break the condition corrupt
// the key index.
func (d *Diff) SetCheckedPathNodes(l LeafIndex, keys []codec.HPKEPublicKey, parentHashes [][]byte) error {
	path, _, err := d.checkPath(l, keys)
	if err != nil {
		return err
	}
	return d.setPathNodes(l, path, keys, parentHashes)
}

// setPathNodes is the end of SetPathNodes, after its checks of the keys.
func (d *Diff) setPathNodes(l LeafIndex, path []NodeIndex, keys []codec.HPKEPublicKey, parentHashes [][]byte) error {
	if len(parentHashes) != len(path) {
		return leafErr(l, ErrPathLength, fmt.Errorf("%d parent hashes for %d nodes", len(parentHashes), len(path)))
	}
	// The path's nodes in one allocation: they are replaced together.
	vals := make([]codec.ParentNode, len(path))
	nodes := make([]*codec.ParentNode, len(path))
	for i := range path {
		ph := parentHashes[i]
		if ph == nil {
			ph = []byte{}
		}
		vals[i] = codec.ParentNode{EncryptionKey: keys[i], ParentHash: ph, UnmergedLeaves: []uint32{}}
		nodes[i] = &vals[i]
	}
	d.setPath(l, path, nodes)
	return nil
}

// checkPathKeys makes the checks of SetPathKeys and returns l's filtered
// direct path and its copath.
func (d *Diff) checkPathKeys(l LeafIndex, keys []codec.HPKEPublicKey) (path, copath []NodeIndex, err error) {
	if path, copath, err = d.checkPath(l, keys); err != nil {
		return nil, nil, err
	}
	for i, k := range keys {
		if o, ok := d.encOwner(k); ok && !treemath.IsAncestor(o, l.Node()) {
			return nil, nil, nodeErr(o, ErrDuplicateEncryptionKey)
		}
		for _, k2 := range keys[:i] {
			if bytes.Equal(k, k2) {
				return nil, nil, nodeErr(path[i], ErrDuplicateEncryptionKey)
			}
		}
	}
	return path, copath, nil
}

// checkPath makes the checks of checkPathKeys but the uniqueness of the
// keys.
func (d *Diff) checkPath(l LeafIndex, keys []codec.HPKEPublicKey) (path, copath []NodeIndex, err error) {
	if d.stale() {
		return nil, nil, ErrStaleDiff
	}
	if !d.n.HasLeaf(l) {
		return nil, nil, leafErr(l, ErrLeafOutOfRange)
	}
	if d.leafAt(l) == nil {
		return nil, nil, leafErr(l, ErrBlankLeaf)
	}
	path, copath, err = filteredDirectPath(d, l)
	if err != nil {
		return nil, nil, err
	}
	if len(keys) != len(path) {
		return nil, nil, leafErr(l, ErrPathLength, fmt.Errorf("%d keys for %d nodes", len(keys), len(path)))
	}
	return path, copath, nil
}

// setPath blanks l's direct path and sets the nodes of its filtered direct
// path (path, in the direct path's order). Every old key is dropped from the
// key index before any new one is added; a node of path keeps its
// occupancy bit while it is blank in between.
func (d *Diff) setPath(l LeafIndex, path []NodeIndex, nodes []*codec.ParentNode) {
	d.own()
	dp, _ := treemath.DirectPath(l.Node(), d.n)
	j := 0
	for _, y := range dp {
		kept := j < len(path) && path[j] == y
		if kept {
			j++
		}
		if d.parentAt(y) != nil {
			d.putParent(y, nil, kept)
		}
	}
	for i, x := range path {
		d.setParent(x, nodes[i])
	}
}

// Merge makes the Diff's state the state of its Tree, in time proportional
// to the size of the change, and makes the Diff (and any other Diff of the
// Tree) stale. It returns the Tree.
func (d *Diff) Merge() (*Tree, error) {
	if d.stale() {
		return nil, ErrStaleDiff
	}
	t := d.base
	t.recordUndo(d)
	t.lastN, t.last = d.Changes()
	if t.decoded != nil {
		// Before the nodes change: it records the sizes of those the
		// merge replaces.
		t.foldDecoded(t.lastN, t.last)
	}
	// Index deletions first: keyIndex confirms a key against the node
	// still holding it.
	for k := range d.encDel {
		t.enc.delString(k)
	}
	for k := range d.sigDel {
		t.sig.delString(k)
	}
	oldW := NodeIndex(treemath.NodeWidth(t.n))
	newW := NodeIndex(treemath.NodeWidth(d.n))
	if d.n != t.n {
		keepN := min(t.n, d.n)
		keepW := NodeIndex(treemath.NodeWidth(keepN))
		leaves := make([]*codec.LeafNode, d.n)
		copy(leaves, t.leaves[:keepN])
		parents := make([]*codec.ParentNode, d.n-1)
		copy(parents, t.parents[:keepN-1])
		hashes := make([]byte, int(newW)*t.nh)
		copy(hashes, t.hashes[:int(keepW)*t.nh])
		hvalid := make([]uint64, (int(newW)+63)/64)
		for x := NodeIndex(0); x < keepW; x += 64 {
			hvalid[x/64] = t.hvalid[x/64]
		}
		if r := keepW % 64; r != 0 {
			hvalid[keepW/64] &= 1<<r - 1
		}
		t.leaves, t.parents, t.hashes, t.hvalid = leaves, parents, hashes, hvalid
	}
	setBlank := func(x NodeIndex) {
		if x.IsLeaf() {
			t.leaves[x>>1] = nil
		} else {
			t.parents[x>>1] = nil
		}
		t.hvalid[x/64] &^= 1 << (x % 64)
	}
	for x := d.blankFrom; x < min(oldW, newW); x++ {
		setBlank(x)
	}
	for x, e := range d.over {
		if x >= newW {
			continue
		}
		if x.IsLeaf() {
			t.leaves[x>>1] = e.leaf
		} else {
			t.parents[x>>1] = e.parent
		}
	}
	for x := range d.dirty {
		if x < newW {
			t.hvalid[x/64] &^= 1 << (x % 64)
		}
	}
	for x, h := range d.hcache {
		if x < newW {
			copy(t.hashes[int(x)*t.nh:], h)
			t.hvalid[x/64] |= 1 << (x % 64)
		}
	}
	t.n = d.n
	for k, v := range d.encAdd {
		t.enc.putString(k, uint32(v))
	}
	for k, v := range d.sigAdd {
		t.sig.putString(k, uint32(v))
	}
	t.occ = d.occ
	t.pocc = d.pocc
	t.members = d.members
	t.creds = d.creds
	t.gen++
	t.foldEncoding(t.gen-1, t.lastN, t.last)
	d.done = true
	d.leaveMaps()
	return t, nil
}

// ---- exported read API (Diff): the same as Tree's ----

// Suite returns the tree's cipher suite.
func (d *Diff) Suite() providers.CipherSuite { return d.base.cs }

// LeafCount returns the number of leaves of the staged full tree.
func (d *Diff) LeafCount() LeafCount { return d.n }

// MemberCount returns the number of non-blank leaves.
func (d *Diff) MemberCount() int { return d.members }

// Leaf returns the LeafNode at leaf l, or nil if blank or out of range.
func (d *Diff) Leaf(l LeafIndex) *codec.LeafNode { return d.leafAt(l) }

// Parent returns the ParentNode at node x, or nil if blank, a leaf or out
// of range.
func (d *Diff) Parent(x NodeIndex) *codec.ParentNode { return d.parentAt(x) }

// Node returns node x as a codec.Node, or nil if blank or out of range.
func (d *Diff) Node(x NodeIndex) *codec.Node { return nodeOf(d, x) }

// IsBlank reports whether node x is blank.
func (d *Diff) IsBlank(x NodeIndex) bool { return isBlank(d, x) }

// Resolution returns the resolution of node x (RFC 9420 §4.1.1).
func (d *Diff) Resolution(x NodeIndex) []NodeIndex { return appendResolution(d, nil, x, nil) }

// SubtreeBlank is Tree.SubtreeBlank on the staged state.
func (d *Diff) SubtreeBlank(x NodeIndex) bool { return resolutionEmpty(d, x) }

// AppendResolution is Tree.AppendResolution on the staged state.
func (d *Diff) AppendResolution(dst []NodeIndex, x NodeIndex, exclude func(LeafIndex) bool) []NodeIndex {
	return appendResolution(d, dst, x, exclude)
}

// FilteredDirectPath is Tree.FilteredDirectPath on the staged state.
func (d *Diff) FilteredDirectPath(l LeafIndex) (path, copath []NodeIndex, err error) {
	return filteredDirectPath(d, l)
}

// TreeHash returns the tree hash of the staged tree's root (RFC 9420 §7.8).
func (d *Diff) TreeHash() ([]byte, error) { return rootHash(d) }

// SeedTreeHashes caches the tree hashes of leaf l and its direct path
// (hashes[0] l's, hashes[i+1] that of directPath[i]) that the caller
// computed on the Diff as it now is, right after merging a path from l
// (treekem's pathTreeHash, for the provisional GroupContext, RFC 9420
// §12.4.1): TreeHash then does not compute them again (§7.8). The Diff
// takes the slices. Only nodes that changed since their hash was last
// cached are seeded, all or none, and only a path of l in this tree: the
// cache then keeps its invariant (a cached node's dirty descendants are
// cached: the path's copath subtrees were hashed, and so cached, to
// compute those hashes).
func (d *Diff) SeedTreeHashes(l LeafIndex, directPath []NodeIndex, hashes [][]byte) {
	if d.stale() || !d.n.HasLeaf(l) || len(hashes) != len(directPath)+1 {
		return
	}
	dp, _ := treemath.DirectPath(l.Node(), d.n)
	if !slices.Equal(dp, directPath) {
		return
	}
	for i := -1; i < len(directPath); i++ {
		x := l.Node()
		if i >= 0 {
			x = directPath[i]
		}
		_, dirty := d.dirty[x]
		_, cached := d.hcache[x]
		if !dirty || cached || len(hashes[i+1]) != d.base.nh {
			return
		}
	}
	if d.hcache == nil {
		d.hcache = make(map[NodeIndex][]byte, len(hashes))
	}
	d.hcache[l.Node()] = hashes[0]
	for i, x := range directPath {
		d.hcache[x] = hashes[i+1]
	}
}

// NodeTreeHash returns the tree hash of node x in the staged tree.
func (d *Diff) NodeTreeHash(x NodeIndex) ([]byte, error) { return cloneHash(d.hash(x)) }

// SharedNodeTreeHash is NodeTreeHash without the copy: the hash the Diff
// (or its Tree) holds, which the caller must only read, and only until
// the Diff changes (treekem.HashReader). Its capacity ends at its end.
func (d *Diff) SharedNodeTreeHash(x NodeIndex) ([]byte, error) {
	h, err := d.hash(x)
	return h[:len(h):len(h)], err
}

// FindEncryptionKey returns the node whose encryption_key is key.
func (d *Diff) FindEncryptionKey(key []byte) (NodeIndex, bool) { return d.encOwner(key) }

// FindSignatureKey returns the leaf whose signature_key is key.
func (d *Diff) FindSignatureKey(key []byte) (LeafIndex, bool) { return d.sigOwner(key) }

// FindLeaf returns the leaf holding a LeafNode equal to ln.
func (d *Diff) FindLeaf(ln *codec.LeafNode) (LeafIndex, bool) { return findLeaf(d, ln) }

// Members calls f for each non-blank leaf in increasing order, stopping
// early if f returns false.
func (d *Diff) Members(f func(LeafIndex, *codec.LeafNode) bool) { members(d, f) }

// RatchetTree returns the staged tree as a ratchet_tree extension value.
func (d *Diff) RatchetTree() codec.RatchetTree { return ratchetTree(d) }
