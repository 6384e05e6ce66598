package secrettree

import (
	"bytes"
	"fmt"
	"math"
	"slices"

	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// A [Tree] is persisted as the generated storage records of
// schema/state.tls (package mls/internal/record), which it exports and
// imports directly: the whole tree as a record.SecretTree (Export, Import),
// or node by node as NodeContents, a leaf's ratchets as a
// record.LeafRatchets. They hold exactly the secrets the tree still holds.
// Secrets the tree deleted (consumed node secrets, used or expired keys,
// RFC 9420 §9.2) are not in them, so a tree rebuilt by [Import] cannot
// derive them again. They hold secrets: erase them with [ZeroRecord] and
// [NodeContent.Zero] when done.

// ratchetOf returns the ratchet rt of a leaf's record.
func ratchetOf(l *record.LeafRatchets, rt RatchetType) *record.SenderRatchet {
	if rt == Handshake {
		return &l.Handshake
	}
	return &l.Application
}

// ZeroRecord erases every secret of s.
func ZeroRecord(s *record.SecretTree) {
	if s == nil {
		return
	}
	for i := range s.Nodes {
		clear(s.Nodes[i].Secret)
	}
	for i := range s.Leaves {
		zeroLeaf(&s.Leaves[i])
	}
}

// zeroLeaf erases the secrets of a leaf's ratchets.
func zeroLeaf(l *record.LeafRatchets) {
	for _, r := range []*record.SenderRatchet{&l.Handshake, &l.Application} {
		clear(r.Secret)
		for k := range r.Kept {
			clear(r.Kept[k].Key)
			clear(r.Kept[k].Nonce)
		}
	}
}

// Export returns a copy of what t holds. The tree is unchanged.
func (t *Tree) Export() *record.SecretTree { return t.export(nil, nil) }

// export is Export, with the change of a live Staged s applied when s is
// not nil: the ancestor its path derivation consumes is left out, the
// siblings it derives are added, and leaf s.leaf is ls.
func (t *Tree) export(s *Staged, ls *leafState) *record.SecretTree {
	st := &record.SecretTree{LeafCount: uint32(t.n), Nodes: make([]record.NodeSecret, 0, len(t.nodes)+1), Leaves: make([]record.LeafRatchets, 0, len(t.leaves)+1)}
	for x, sec := range t.nodes {
		if s != nil && s.path != nil && x == s.path.from {
			continue
		}
		st.Nodes = append(st.Nodes, record.NodeSecret{Node: uint32(x), Secret: bytes.Clone(sec.b[:t.nh])})
	}
	if s != nil && s.path != nil {
		for i, x := range s.path.siblings {
			st.Nodes = append(st.Nodes, record.NodeSecret{Node: uint32(x), Secret: bytes.Clone(s.path.secrets[i].b[:t.nh])})
		}
	}
	slices.SortFunc(st.Nodes, func(a, b record.NodeSecret) int { return int64cmp(int64(a.Node), int64(b.Node)) })
	exportLeaf := func(l treemath.LeafIndex, ls *leafState) {
		e := record.LeafRatchets{Leaf: uint32(l)}
		t.exportLeaf(ls, &e)
		st.Leaves = append(st.Leaves, e)
	}
	for l, cur := range t.leaves {
		if s != nil && l == s.leaf {
			continue
		}
		exportLeaf(l, cur)
	}
	if s != nil {
		exportLeaf(s.leaf, ls)
	}
	slices.SortFunc(st.Leaves, func(a, b record.LeafRatchets) int { return int64cmp(int64(a.Leaf), int64(b.Leaf)) })
	return st
}

func int64cmp(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Import rebuilds a Tree from its record s, of the suite cs, with the receiving
// bounds cfg. It copies the secrets (the caller still zeroes s) and checks
// that s could have been exported by a Tree: the leaf count, node and leaf
// indices within the tree and in ascending order, secret, key and nonce
// sizes of the suite, past generations ascending and below the ratchet's
// next one, and no stored secret below another stored secret or below a
// started leaf (which would give back consumed secrets). Errors wrap
// ErrInvalidSecret or ErrLeafOutOfRange.
func Import(cs providers.CipherSuite, s *record.SecretTree, cfg Config) (*Tree, error) {
	nh, nk, nn := cs.HashSize(), cs.AEADKeySize(), cs.AEADNonceSize()
	if nh > MaxHashSize || nk > MaxKeySize || nn > MaxNonceSize {
		return nil, fmt.Errorf("%w: suite 0x%04x", ErrInvalidSecret, uint16(cs.ID()))
	}
	if s == nil {
		return nil, fmt.Errorf("%w: nil state", ErrInvalidSecret)
	}
	n := treemath.LeafCount(s.LeafCount)
	if n == 0 || n > treemath.MaxLeafCount {
		return nil, fmt.Errorf("%w: leaf count %d", ErrLeafOutOfRange, n)
	}
	// Derivation walks the full tree: in a tree whose leaf count is not a
	// power of two, siblings on the right may lie beyond NodeWidth(n).
	width := treemath.NodeIndex(treemath.NodeWidth(treemath.FullLeafCount(n)))
	t := &Tree{
		cs: cs, cfg: cfg, n: n, nh: nh,
		nodes:  make(map[treemath.NodeIndex]*secret, len(s.Nodes)),
		leaves: make(map[treemath.LeafIndex]*leafState, len(s.Leaves)),
		info:   make([]byte, 0, 160),
	}
	fail := func(format string, args ...any) (*Tree, error) {
		t.Zero()
		return nil, fmt.Errorf("%w: %s", ErrInvalidSecret, fmt.Sprintf(format, args...))
	}
	stored := make([]secret, len(s.Nodes))
	for i, ns := range s.Nodes {
		if treemath.NodeIndex(ns.Node) >= width {
			return fail("node %d outside a tree of %d leaves", ns.Node, n)
		}
		if i > 0 && ns.Node <= s.Nodes[i-1].Node {
			return fail("nodes not in ascending order")
		}
		if len(ns.Secret) != nh {
			return fail("node %d secret of %d bytes, want %d", ns.Node, len(ns.Secret), nh)
		}
		copy(stored[i].b[:], ns.Secret)
		t.nodes[treemath.NodeIndex(ns.Node)] = &stored[i]
	}
	// A stored secret below another one could be derived from it again;
	// the tree never holds both (§9.2).
	hasStoredAncestor := func(x treemath.NodeIndex, self bool) bool {
		if self {
			if _, ok := t.nodes[x]; ok {
				return true
			}
		}
		for {
			p, ok := treemath.Parent(x, n)
			if !ok {
				return false
			}
			if _, ok := t.nodes[p]; ok {
				return true
			}
			x = p
		}
	}
	for _, ns := range s.Nodes {
		if hasStoredAncestor(treemath.NodeIndex(ns.Node), false) {
			return fail("node %d is below another stored node", ns.Node)
		}
	}
	for i := range s.Leaves {
		e := &s.Leaves[i]
		l := treemath.LeafIndex(e.Leaf)
		if !n.HasLeaf(l) {
			return fail("leaf %d outside a tree of %d leaves", e.Leaf, n)
		}
		if i > 0 && e.Leaf <= s.Leaves[i-1].Leaf {
			return fail("leaves not in ascending order")
		}
		if hasStoredAncestor(l.Node(), true) {
			return fail("leaf %d has ratchets and a stored ancestor secret", e.Leaf)
		}
		ls := new(leafState)
		t.leaves[l] = ls
		for j := range ls.r {
			rs := ratchetOf(e, RatchetType(j))
			r := &ls.r[j]
			exhausted := rs.Exhausted == record.BoolTrue
			if len(rs.Secret) != nh {
				return fail("leaf %d ratchet secret of %d bytes, want %d", e.Leaf, len(rs.Secret), nh)
			}
			if exhausted && rs.Next != math.MaxUint32 {
				return fail("leaf %d ratchet exhausted at generation %d", e.Leaf, rs.Next)
			}
			copy(r.secret.b[:], rs.Secret)
			r.next, r.exhausted = rs.Next, exhausted
			if len(rs.Kept) > 0 {
				r.past = make([]KeyNonce, len(rs.Kept))
			}
			for k, pk := range rs.Kept {
				below := pk.Generation < rs.Next || (exhausted && pk.Generation == rs.Next)
				if !below || (k > 0 && pk.Generation <= rs.Kept[k-1].Generation) {
					return fail("leaf %d kept generation %d out of order (next %d)", e.Leaf, pk.Generation, rs.Next)
				}
				if len(pk.Key) != nk || len(pk.Nonce) != nn {
					return fail("leaf %d kept key of %d/%d bytes, want %d/%d", e.Leaf, len(pk.Key), len(pk.Nonce), nk, nn)
				}
				kn := &r.past[k]
				kn.Generation, kn.keyLen, kn.nonceLen = pk.Generation, uint8(nk), uint8(nn)
				copy(kn.key[:], pk.Key)
				copy(kn.nonce[:], pk.Nonce)
			}
		}
	}
	return t, nil
}

// Changed returns, in ascending order, the nodes whose content changed since
// t was built by [New] or [Import], or since the last [Tree.ClearChanged]:
// a node secret derived or consumed, or a leaf's ratchets started or
// advanced. A node's content is what [Tree.ExportNode] returns. A message
// sent or received changes one node (its sender's leaf), a sender's first
// message in the epoch also the O(log n) nodes of its derivation, so that
// storing a tree node by node as it changes costs O(1) per message,
// whatever the number of senders. A new tree's root is changed. During a
// run of changes (Mark), a node that held nothing at the mark, was not
// changed then, and holds nothing now (a secret derived and consumed within
// the run) is not changed: its store has nothing to delete.
func (t *Tree) Changed() []treemath.NodeIndex {
	return t.AppendChanged(make([]treemath.NodeIndex, 0, len(t.changed)))
}

// AppendChanged appends the nodes of [Tree.Changed] to dst: a caller that
// stores the changes of one message passes room for a few on its stack.
func (t *Tree) AppendChanged(dst []treemath.NodeIndex) []treemath.NodeIndex {
	out := dst[len(dst):]
	for x := range t.changed {
		if t.undo != nil && t.unchangedEmpty(x) {
			continue
		}
		out = append(out, x)
	}
	slices.Sort(out)
	return append(dst, out...)
}

// ClearChanged forgets the changes, once the caller has stored them.
func (t *Tree) ClearChanged() { clear(t.changed) }

// MarkAllChanged marks every node that holds something as changed, for a
// tree imported from a whole record that is to be stored node by node.
func (t *Tree) MarkAllChanged() {
	for x := range t.nodes {
		t.markChanged(x)
	}
	for l := range t.leaves {
		t.markChanged(l.Node())
	}
}

// NodeContent is what a [Tree] holds at one node: a node secret not yet
// consumed, the ratchets of a started leaf (at the leaf's node), or
// nothing. A node never holds both. It holds secrets: call Zero when done.
type NodeContent struct {
	Node treemath.NodeIndex
	// Secret is the node secret, or nil.
	Secret []byte
	// Leaf holds the leaf's ratchets (its record, at the leaf's node), or
	// is nil.
	Leaf *record.LeafRatchets
}

// Empty reports whether the node holds nothing.
func (c *NodeContent) Empty() bool { return c.Secret == nil && c.Leaf == nil }

// Zero erases the secrets of c.
func (c *NodeContent) Zero() {
	clear(c.Secret)
	if c.Leaf != nil {
		zeroLeaf(c.Leaf)
	}
}

// ExportNode returns a copy of what t holds at node x. The tree is
// unchanged.
func (t *Tree) ExportNode(x treemath.NodeIndex) NodeContent {
	return t.ExportNodeTo(x, nil)
}

// ExportNodeTo is ExportNode with a leaf's ratchets exported into lr (its
// previous content replaced) if lr is not nil.
func (t *Tree) ExportNodeTo(x treemath.NodeIndex, lr *LeafRecord) NodeContent {
	c := NodeContent{Node: x}
	if sec, ok := t.nodes[x]; ok {
		c.Secret = bytes.Clone(sec.b[:t.nh])
		return c
	}
	if x%2 == 1 {
		return c
	}
	l := treemath.LeafIndex(x / 2)
	if ls, ok := t.leaves[l]; ok {
		if lr == nil {
			lr = new(LeafRecord)
		}
		c.Leaf = t.leafRecordIn(lr, l, ls)
	}
	return c
}

// LeafRecord is a leaf's record together with the storage of its two
// ratchet secrets: one allocation where the record and a copy of each
// secret made three, for the leaf of every message sent or received; none
// for a caller that keeps one to export into ([Tree.ExportStagedNodesTo]).
type LeafRecord struct {
	rec     record.LeafRatchets
	secrets [2][MaxHashSize]byte
}

// leafRecordIn returns the record of leaf l's ratchets ls, made in lr
// (whose previous content it replaces): its secrets are copies that the
// record's Zero (zeroLeaf) erases.
func (t *Tree) leafRecordIn(lr *LeafRecord, l treemath.LeafIndex, ls *leafState) *record.LeafRatchets {
	lr.rec = record.LeafRatchets{Leaf: uint32(l)}
	t.exportLeafTo(ls, &lr.rec, &lr.secrets)
	return &lr.rec
}

// exportLeaf copies ls's ratchets into e.
func (t *Tree) exportLeaf(ls *leafState, e *record.LeafRatchets) {
	t.exportLeafTo(ls, e, nil)
}

// exportLeafTo copies ls's ratchets into e, the ratchet secrets into
// secrets if not nil (else into new buffers).
func (t *Tree) exportLeafTo(ls *leafState, e *record.LeafRatchets, secrets *[2][MaxHashSize]byte) {
	for i := range ls.r {
		r := &ls.r[i]
		var sec []byte
		if secrets != nil {
			sec = append(secrets[i][:0:t.nh], r.secret.b[:t.nh]...)
		} else {
			sec = bytes.Clone(r.secret.b[:t.nh])
		}
		rs := record.SenderRatchet{Next: r.next, Exhausted: record.BoolFalse, Secret: sec, Kept: make([]record.KeptKey, len(r.past))}
		if r.exhausted {
			rs.Exhausted = record.BoolTrue
		}
		for j := range r.past {
			rs.Kept[j] = record.KeptKey{Generation: r.past[j].Generation, Key: bytes.Clone(r.past[j].Key()), Nonce: bytes.Clone(r.past[j].Nonce())}
		}
		*ratchetOf(e, RatchetType(i)) = rs
	}
}

// ExportNodes returns a copy of every node's content that t holds, in
// ascending node order: the content of [Tree.Export], node by node.
func (t *Tree) ExportNodes() []NodeContent {
	out := make([]NodeContent, 0, len(t.nodes)+len(t.leaves))
	for x := range t.nodes {
		out = append(out, t.ExportNode(x))
	}
	for l := range t.leaves {
		out = append(out, t.ExportNode(l.Node()))
	}
	slices.SortFunc(out, func(a, b NodeContent) int { return int64cmp(int64(a.Node), int64(b.Node)) })
	return out
}

// RecordOf assembles the record of a tree of n leaves from its nodes'
// contents (in any order; empty ones are skipped), for [Import], which
// checks them. The record aliases the contents' secrets. A leaf's content
// must be at the leaf's node.
func RecordOf(n treemath.LeafCount, nodes []NodeContent) (*record.SecretTree, error) {
	s := &record.SecretTree{LeafCount: uint32(n)}
	for i := range nodes {
		c := &nodes[i]
		switch {
		case c.Secret != nil && c.Leaf != nil:
			return nil, fmt.Errorf("%w: node %d holds a secret and a leaf's ratchets", ErrInvalidSecret, c.Node)
		case c.Secret != nil:
			s.Nodes = append(s.Nodes, record.NodeSecret{Node: uint32(c.Node), Secret: c.Secret})
		case c.Leaf != nil:
			if c.Node%2 == 1 || c.Leaf.Leaf != uint32(c.Node/2) {
				return nil, fmt.Errorf("%w: ratchets of leaf %d at node %d", ErrInvalidSecret, c.Leaf.Leaf, c.Node)
			}
			s.Leaves = append(s.Leaves, *c.Leaf)
		}
	}
	slices.SortFunc(s.Nodes, func(a, b record.NodeSecret) int { return int64cmp(int64(a.Node), int64(b.Node)) })
	slices.SortFunc(s.Leaves, func(a, b record.LeafRatchets) int { return int64cmp(int64(a.Leaf), int64(b.Leaf)) })
	return s, nil
}
