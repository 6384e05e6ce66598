// Package secrettree implements the secret tree and the per-sender hash
// ratchets of RFC 9420 §9, with the deletion schedule of §9.2.
//
// A [Tree] is built from an epoch's encryption_secret and the number of
// leaves of the ratchet tree. Node secrets are derived lazily: the first key
// of a sender walks from the lowest stored ancestor down to the sender's
// leaf, keeping only the secrets of the siblings of that path, and deletes
// every parent secret as soon as both of its children are derived. A
// sender's first message in an epoch therefore costs O(log N) derivations,
// and a tree for a group of 10,000 members costs nothing until used.
//
// Each leaf starts two ratchets (handshake and application, §9.1). The
// sending side takes keys with [Tree.Next]; the receiving side asks for a
// generation with [Tree.Get] (or [Tree.Stage] and [Staged.Commit], which
// change the tree only once the caller has authenticated the message), under
// a [Config] that bounds how far ahead a generation may jump and how long
// the keys of skipped generations are kept for out-of-order messages. Keys
// are deleted from the tree as soon as they are handed out.
//
// A Tree is not safe for concurrent use.
package secrettree

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// Size limits of the key material a Tree stores inline. Every cipher suite
// of RFC 9420 §17.1 fits: Nh <= 64, Nk <= 32, Nn = 12.
const (
	MaxHashSize  = 64
	MaxKeySize   = 32
	MaxNonceSize = 24
)

// Config bounds the receiving side of the sender ratchets, like OpenMLS's
// SenderRatchetConfiguration.
type Config struct {
	// OutOfOrderTolerance is how many generations below the highest
	// generation received so far from a sender (in one ratchet) can still be
	// decrypted: the keys of skipped generations within this window are kept
	// until used; older ones are deleted.
	OutOfOrderTolerance uint32
	// MaximumForwardDistance is how many generations a message may skip
	// ahead of the next expected one; it bounds the work one message can
	// cause.
	MaximumForwardDistance uint32
}

// DefaultConfig returns OpenMLS's default sender ratchet configuration:
// an out-of-order tolerance of 5 and a maximum forward distance of 1000.
func DefaultConfig() Config {
	return Config{OutOfOrderTolerance: 5, MaximumForwardDistance: 1000}
}

// RatchetType selects one of a leaf's two ratchets (RFC 9420 §9).
type RatchetType uint8

const (
	// Handshake is the ratchet for proposals and commits.
	Handshake RatchetType = iota
	// Application is the ratchet for application messages.
	Application
)

func (r RatchetType) String() string {
	switch r {
	case Handshake:
		return "handshake"
	case Application:
		return "application"
	}
	return fmt.Sprintf("RatchetType(%d)", uint8(r))
}

// RatchetFor returns the ratchet that protects content of type ct (§6.3.1:
// application messages use the application ratchet, proposals and commits
// the handshake ratchet).
func RatchetFor(ct codec.ContentType) RatchetType {
	if ct == codec.ContentTypeApplication {
		return Application
	}
	return Handshake
}

// Errors of the secret tree. Generation errors come wrapped in a
// *GenerationError.
var (
	// ErrLeafOutOfRange: the leaf index is not a leaf of the tree.
	ErrLeafOutOfRange = errors.New("secrettree: leaf index out of range")
	// ErrGenerationReused: the generation's key was already used (or
	// handed out for sending) and deleted (§9.2).
	ErrGenerationReused = errors.New("secrettree: generation already used")
	// ErrGenerationTooOld: the generation lies below the out-of-order window
	// and its key was deleted.
	ErrGenerationTooOld = errors.New("secrettree: generation too old")
	// ErrGenerationTooFar: the generation is more than the maximum forward
	// distance ahead of the ratchet.
	ErrGenerationTooFar = errors.New("secrettree: generation too far ahead")
	// ErrRatchetExhausted: the ratchet reached generation 2^32-1.
	ErrRatchetExhausted = errors.New("secrettree: ratchet exhausted")
	// ErrSecretDeleted: the secrets needed were deleted, for example by Zero.
	ErrSecretDeleted = errors.New("secrettree: secret deleted")
	// ErrStaleStage: a Staged key was committed after the tree changed.
	ErrStaleStage = errors.New("secrettree: staged key is stale")
	// ErrInvalidSecret: the encryption secret does not have the suite's
	// hash length, or the suite's sizes exceed the package limits.
	ErrInvalidSecret = errors.New("secrettree: invalid secret or suite sizes")
)

// GenerationError reports a generation the tree refuses to give a key for.
// It wraps ErrGenerationReused, ErrGenerationTooOld, ErrGenerationTooFar or
// ErrRatchetExhausted.
type GenerationError struct {
	Leaf       treemath.LeafIndex
	Ratchet    RatchetType
	Generation uint32 // the generation asked for
	Next       uint32 // the ratchet's next underived generation
	Err        error
}

func (e *GenerationError) Error() string {
	return fmt.Sprintf("%v (leaf %d, %v ratchet, generation %d, next %d)", e.Err, e.Leaf, e.Ratchet, e.Generation, e.Next)
}

func (e *GenerationError) Unwrap() error { return e.Err }

// KeyNonce is the key and nonce of one ratchet generation (§9.1), or of the
// sender data (§6.3.2). It holds the bytes inline; call Zero when done.
type KeyNonce struct {
	Generation uint32
	key        [MaxKeySize]byte
	nonce      [MaxNonceSize]byte
	keyLen     uint8
	nonceLen   uint8
}

// Key returns the AEAD key. The slice aliases k.
func (k *KeyNonce) Key() []byte { return k.key[:k.keyLen] }

// Nonce returns the AEAD nonce. The slice aliases k.
func (k *KeyNonce) Nonce() []byte { return k.nonce[:k.nonceLen] }

// Zero erases the key and nonce.
func (k *KeyNonce) Zero() {
	clear(k.key[:])
	clear(k.nonce[:])
}

// secret is a KDF.Nh-byte secret stored inline.
type secret struct {
	b [MaxHashSize]byte
}

// ratchet is one sender ratchet (§9.1): the secret of generation next, and
// the keys of skipped generations kept for out-of-order messages.
type ratchet struct {
	secret secret
	next   uint32
	// exhausted is set once generation 2^32-1 was derived.
	exhausted bool
	past      []KeyNonce // ascending generations, all < next
}

type leafState struct {
	r [2]ratchet
}

// Tree is the secret tree of one epoch (RFC 9420 §9).
type Tree struct {
	cs     providers.CipherSuite
	cfg    Config
	n      treemath.LeafCount
	nh     int
	nodes  map[treemath.NodeIndex]*secret // derived, unconsumed node secrets
	leaves map[treemath.LeafIndex]*leafState
	// changed holds the nodes whose content (node secret, leaf ratchets or
	// nothing) changed since the tree was built or imported, or since the
	// last ClearChanged (see Changed).
	changed map[treemath.NodeIndex]struct{}
	// undo, when not nil, records what a run of changes replaced (Mark).
	undo    *undoLog
	spare   *undoLog // an empty log for the next Mark
	version uint64
	// x derives the secrets of one KDF key (setKey): both children of a
	// node, a leaf's two ratchet secrets, a generation's key, nonce and
	// next secret; made on first use.
	x        providers.Expander
	info     []byte            // scratch for encoded KDFLabels
	out      [MaxHashSize]byte // scratch for KDF output, erased after use
	nodeInfo *nodeLabels       // the KDFLabels of a path step, encoded once
	// key is the running secret of a derivation, the KDF key of each of
	// its steps: derivePath's node secret, Stage's ratchet secret (one at
	// a time). It lives in the tree because setKey hands it to the
	// Expander, an interface, through which a stack variable would be
	// moved to the heap: one allocation per message sent or received.
	// Erased after each derivation.
	key secret
}

// nodeLabels are the encoded KDFLabels (§8) that derive the children of a
// node, tree_node_[left] and tree_node_[right] ("tree", "left" or "right",
// KDF.Nh), and a leaf's handshake and application ratchet secrets
// ("handshake" or "application", "", KDF.Nh) (§9): the same in every step
// of every path of a tree.
type nodeLabels struct {
	left, right, handshake, application []byte
}

// New returns the secret tree of an epoch with the given encryption_secret
// (§8) for a ratchet tree of n leaves. The tree keeps a copy of the secret;
// the caller should erase its own.
func New(cs providers.CipherSuite, encryptionSecret []byte, n treemath.LeafCount, cfg Config) (*Tree, error) {
	nh := cs.HashSize()
	if nh > MaxHashSize || cs.AEADKeySize() > MaxKeySize || cs.AEADNonceSize() > MaxNonceSize {
		return nil, fmt.Errorf("%w: suite 0x%04x", ErrInvalidSecret, uint16(cs.ID()))
	}
	if len(encryptionSecret) != nh {
		return nil, fmt.Errorf("%w: encryption_secret has %d bytes, want %d", ErrInvalidSecret, len(encryptionSecret), nh)
	}
	if n == 0 || n > treemath.MaxLeafCount {
		return nil, fmt.Errorf("%w: leaf count %d", ErrLeafOutOfRange, n)
	}
	t := &Tree{
		cs:     cs,
		cfg:    cfg,
		n:      n,
		nh:     nh,
		nodes:  make(map[treemath.NodeIndex]*secret, treemath.Level(treemath.Root(n))+1),
		leaves: make(map[treemath.LeafIndex]*leafState, 2),
		info:   make([]byte, 0, 160),
	}
	root := new(secret)
	copy(root.b[:], encryptionSecret)
	t.nodes[treemath.Root(n)] = root
	t.markChanged(treemath.Root(n))
	return t, nil
}

// LeafCount returns the number of leaves the tree was built for.
func (t *Tree) LeafCount() treemath.LeafCount { return t.n }

// Suite returns the cipher suite of the tree.
func (t *Tree) Suite() providers.CipherSuite { return t.cs }

// Zero erases every secret and key the tree holds. Afterwards every request
// fails with ErrSecretDeleted.
func (t *Tree) Zero() {
	for k, s := range t.nodes {
		clear(s.b[:])
		delete(t.nodes, k)
	}
	for k, l := range t.leaves {
		for i := range l.r {
			r := &l.r[i]
			clear(r.secret.b[:])
			for j := range r.past {
				r.past[j].Zero()
			}
			r.past = nil
		}
		delete(t.leaves, k)
	}
	clear(t.info[:cap(t.info)])
	clear(t.key.b[:])
	t.forget()
	clear(t.changed)
	if t.undo != nil {
		t.undo.zero()
		t.undo = nil
	}
	t.spare = nil
	t.version++
}

// markChanged records that node x's content changed.
func (t *Tree) markChanged(x treemath.NodeIndex) {
	if t.changed == nil {
		t.changed = make(map[treemath.NodeIndex]struct{}, 4)
	}
	t.changed[x] = struct{}{}
}

// setKey makes sec the KDF key of the derivations that follow (expand,
// expandInfo), until the next setKey or forget.
func (t *Tree) setKey(sec []byte) error {
	if t.x == nil {
		t.x = providers.NewExpander(t.cs)
	}
	return t.x.SetKey(sec)
}

// forget erases the KDF key and what was derived with it.
func (t *Tree) forget() {
	if t.x != nil {
		t.x.Zero()
	}
}

// kdfLabel appends the encoded KDFLabel{length, "MLS 1.0 " + label,
// context} (§8) to b, with the generated encoder.
func kdfLabel(b []byte, label string, context []byte, length int) ([]byte, error) {
	if length <= 0 || length > MaxHashSize {
		return nil, fmt.Errorf("secrettree: invalid derived length %d", length)
	}
	var lb [32]byte
	kl := codec.KDFLabel{
		Length:  uint16(length),
		Label:   append(append(lb[:0], providers.LabelPrefix...), label...),
		Context: context,
	}
	return kl.AppendTo(b)
}

// expand computes ExpandWithLabel(key, label, context, length) (§8) for
// the key of the last setKey into dst, which must have room for length
// bytes, without allocating.
func (t *Tree) expand(dst []byte, label string, context []byte, length int) error {
	info, err := kdfLabel(t.info[:0], label, context, length)
	if err != nil {
		return err
	}
	t.info = info[:0]
	return t.expandInfo(dst, info, length)
}

// expandInfo is expand with the KDFLabel already encoded, as info.
func (t *Tree) expandInfo(dst, info []byte, length int) error {
	// Expand writes into the tree's own buffer, so that callers' stack
	// buffers do not escape through the interface call.
	out, err := t.x.Expand(t.out[:0], info, length)
	if err != nil {
		return err
	}
	if len(out) != length {
		clear(out)
		return fmt.Errorf("secrettree: Expand returned %d bytes, want %d", len(out), length)
	}
	copy(dst, out)
	clear(out)
	return nil
}

// nodeLabels returns the KDFLabels of a path step, encoding them on first
// use.
func (t *Tree) nodeLabels() (*nodeLabels, error) {
	if t.nodeInfo != nil {
		return t.nodeInfo, nil
	}
	nl := new(nodeLabels)
	var b []byte
	for _, l := range []struct {
		dst     *[]byte
		label   string
		context []byte
	}{
		{&nl.left, "tree", []byte("left")},
		{&nl.right, "tree", []byte("right")},
		{&nl.handshake, "handshake", nil},
		{&nl.application, "application", nil},
	} {
		n := len(b)
		var err error
		if b, err = kdfLabel(b, l.label, l.context, t.nh); err != nil {
			return nil, err
		}
		// Capped: a later append that moves b leaves this label intact.
		*l.dst = b[n:len(b):len(b)]
	}
	t.nodeInfo = nl
	return nl, nil
}

// deriveTree computes DeriveTreeSecret(key, label, generation, length)
// (§9.1) for the key of the last setKey into dst.
func (t *Tree) deriveTree(dst []byte, label string, generation uint32, length int) error {
	var g [4]byte // the generation, a uint32, as the codec encodes it
	return t.expand(dst, label, codec.AppendUint32(g[:0], generation), length)
}

// keyNonce derives the key and nonce of generation g from the ratchet
// secret set by setKey (§9.1).
func (t *Tree) keyNonce(kn *KeyNonce, g uint32) error {
	nk, nn := t.cs.AEADKeySize(), t.cs.AEADNonceSize()
	kn.Generation = g
	kn.keyLen, kn.nonceLen = uint8(nk), uint8(nn)
	if err := t.deriveTree(kn.key[:nk], "key", g, nk); err != nil {
		return err
	}
	return t.deriveTree(kn.nonce[:nn], "nonce", g, nn)
}

// pathDerivation is the not yet applied result of deriving a leaf's ratchet
// secrets from its lowest stored ancestor.
type pathDerivation struct {
	from     treemath.NodeIndex // stored ancestor, deleted on commit
	siblings []treemath.NodeIndex
	secrets  []secret // secrets of siblings, in the same order
	roots    [2]secret
}

func (p *pathDerivation) zero() {
	for i := range p.secrets {
		clear(p.secrets[i].b[:])
	}
	clear(p.roots[0].b[:])
	clear(p.roots[1].b[:])
}

// derivePath derives the two ratchet roots of leaf l (§9, Figures 25 and
// 26) without changing the tree.
func (t *Tree) derivePath(l treemath.LeafIndex) (*pathDerivation, error) {
	target := l.Node()
	// Find the lowest stored ancestor of the leaf.
	from := target
	var start *secret
	for {
		if s, ok := t.nodes[from]; ok {
			start = s
			break
		}
		p, ok := treemath.Parent(from, t.n)
		if !ok {
			return nil, ErrSecretDeleted
		}
		from = p
	}
	depth := treemath.Level(from)
	p := &pathDerivation{
		from:     from,
		siblings: make([]treemath.NodeIndex, 0, depth),
		secrets:  make([]secret, depth),
	}
	nl, err := t.nodeLabels()
	if err != nil {
		return nil, err
	}
	// Both children of a node, and both ratchet secrets of the leaf, are
	// derived under one key (§9: tree_node_[left], tree_node_[right];
	// handshake_ratchet_secret, application_ratchet_secret).
	defer t.forget()
	cur := &t.key
	var left, right secret
	defer clear(cur.b[:])
	defer clear(left.b[:])
	defer clear(right.b[:])
	*cur = *start
	x := from
	for i := 0; x != target; i++ {
		lx, _ := treemath.Left(x)
		rx, _ := treemath.Right(x)
		if err := t.setKey(cur.b[:t.nh]); err != nil {
			return nil, err
		}
		if err := t.expandInfo(left.b[:t.nh], nl.left, t.nh); err != nil {
			return nil, err
		}
		if err := t.expandInfo(right.b[:t.nh], nl.right, t.nh); err != nil {
			return nil, err
		}
		if target < x { // in-order numbering: the left subtree holds smaller indices
			p.siblings = append(p.siblings, rx)
			p.secrets[i] = right
			*cur, x = left, lx
		} else {
			p.siblings = append(p.siblings, lx)
			p.secrets[i] = left
			*cur, x = right, rx
		}
	}
	if err := t.setKey(cur.b[:t.nh]); err != nil {
		return nil, err
	}
	if err := t.expandInfo(p.roots[Handshake].b[:t.nh], nl.handshake, t.nh); err != nil {
		return nil, err
	}
	if err := t.expandInfo(p.roots[Application].b[:t.nh], nl.application, t.nh); err != nil {
		return nil, err
	}
	return p, nil
}

// applyPath stores the result of derivePath: the siblings' secrets and the
// leaf's ratchets; the consumed ancestor is deleted (§9.2).
func (t *Tree) applyPath(l treemath.LeafIndex, p *pathDerivation) *leafState {
	if t.undo != nil {
		t.saveNode(p.from)
		for _, x := range p.siblings {
			t.saveNode(x)
		}
		t.saveLeaf(l)
	}
	if s, ok := t.nodes[p.from]; ok {
		clear(s.b[:])
		delete(t.nodes, p.from)
	}
	t.markChanged(p.from)
	// One allocation holds the siblings' secrets; each is erased when
	// consumed, and the memory is freed once all are.
	stored := make([]secret, len(p.siblings))
	for i, x := range p.siblings {
		stored[i] = p.secrets[i]
		t.nodes[x] = &stored[i]
		t.markChanged(x)
	}
	ls := new(leafState)
	ls.r[Handshake].secret = p.roots[Handshake]
	ls.r[Application].secret = p.roots[Application]
	t.leaves[l] = ls
	t.markChanged(l.Node())
	p.zero()
	return ls
}

// leaf returns the state of leaf l, deriving it if needed.
func (t *Tree) leaf(l treemath.LeafIndex) (*leafState, error) {
	if !t.n.HasLeaf(l) {
		return nil, fmt.Errorf("%w: leaf %d of %d", ErrLeafOutOfRange, l, t.n)
	}
	if ls, ok := t.leaves[l]; ok {
		return ls, nil
	}
	p, err := t.derivePath(l)
	if err != nil {
		return nil, err
	}
	return t.applyPath(l, p), nil
}

// Prepare derives the ratchets of leaf l now, if they were not yet (§9:
// from the lowest stored ancestor down, keeping the siblings' secrets and
// deleting the consumed ancestor, as the first message of l would). A
// member prepares its own leaf when an epoch begins, so that its first
// message of the epoch costs what any other does: the O(log n) derivation
// moves into the Commit that starts the epoch.
func (t *Tree) Prepare(l treemath.LeafIndex) error {
	_, err := t.leaf(l)
	return err
}

// Next returns the key and nonce of the next unused generation of leaf l's
// ratchet rt, for encrypting a message (§6.3.1), and deletes them and the
// ratchet secret they came from (§9.2).
func (t *Tree) Next(l treemath.LeafIndex, rt RatchetType) (KeyNonce, error) {
	var kn KeyNonce
	if rt > Application {
		return kn, fmt.Errorf("secrettree: invalid ratchet type %d", rt)
	}
	ls, err := t.leaf(l)
	if err != nil {
		return kn, err
	}
	r := &ls.r[rt]
	if r.exhausted {
		return kn, &GenerationError{Leaf: l, Ratchet: rt, Generation: r.next, Next: r.next, Err: ErrRatchetExhausted}
	}
	g := r.next
	// The key, nonce and next secret are derived under one key (§9.1).
	defer t.forget()
	if err := t.setKey(r.secret.b[:t.nh]); err != nil {
		return KeyNonce{}, err
	}
	if err := t.keyNonce(&kn, g); err != nil {
		return KeyNonce{}, err
	}
	t.saveLeaf(l)
	if err := t.advance(r); err != nil {
		kn.Zero()
		return KeyNonce{}, err
	}
	t.markChanged(l.Node())
	t.version++
	return kn, nil
}

// advance replaces r's secret by the secret of the next generation; the
// KDF key is r's secret (setKey).
func (t *Tree) advance(r *ratchet) error {
	var nxt secret
	if err := t.deriveTree(nxt.b[:t.nh], "secret", r.next, t.nh); err != nil {
		return err
	}
	r.secret = nxt
	clear(nxt.b[:])
	if r.next == math.MaxUint32 {
		r.exhausted = true
	} else {
		r.next++
	}
	return nil
}

// Staged is the key and nonce of a generation asked for by Stage, together
// with the change to the tree that Commit applies: the deletion of that key
// and of the secrets it came from, and the keeping of skipped generations'
// keys within the out-of-order window.
type Staged struct {
	KeyNonce

	tree    *Tree
	version uint64
	leaf    treemath.LeafIndex
	rt      RatchetType
	done    bool

	path *pathDerivation // nil if the leaf's ratchets already exist

	// forward: the generation was at or above the ratchet's next one.
	forward   bool
	newSecret secret
	newNext   uint32
	exhausted bool
	skipped   []KeyNonce
	// pastIndex: index in ratchet.past of the key used (when !forward).
	pastIndex int
}

// Stage returns the key and nonce of generation g of leaf l's ratchet rt,
// for decrypting a message, without changing the tree. Call Commit once the
// message is authenticated (the key is then deleted, §9.2), or Discard.
//
// Errors: ErrLeafOutOfRange, and *GenerationError wrapping
// ErrGenerationReused (the key was used already), ErrGenerationTooOld
// (below the out-of-order window), ErrGenerationTooFar (beyond the maximum
// forward distance) or ErrRatchetExhausted.
func (t *Tree) Stage(l treemath.LeafIndex, rt RatchetType, g uint32) (Staged, error) {
	st := Staged{tree: t, version: t.version, leaf: l, rt: rt}
	if rt > Application {
		return Staged{}, fmt.Errorf("secrettree: invalid ratchet type %d", rt)
	}
	if !t.n.HasLeaf(l) {
		return Staged{}, fmt.Errorf("%w: leaf %d of %d", ErrLeafOutOfRange, l, t.n)
	}
	var base []byte
	var next uint32
	var r *ratchet
	if ls, ok := t.leaves[l]; ok {
		r = &ls.r[rt]
		base, next = r.secret.b[:t.nh], r.next
		if r.exhausted && g >= next {
			return Staged{}, &GenerationError{Leaf: l, Ratchet: rt, Generation: g, Next: r.next, Err: ErrRatchetExhausted}
		}
	}
	if r != nil && g < next {
		if uint64(next)-1-uint64(g) > uint64(t.cfg.OutOfOrderTolerance) {
			return Staged{}, &GenerationError{Leaf: l, Ratchet: rt, Generation: g, Next: next, Err: ErrGenerationTooOld}
		}
		for i := range r.past {
			if r.past[i].Generation == g {
				st.KeyNonce = r.past[i]
				st.pastIndex = i
				return st, nil
			}
		}
		return Staged{}, &GenerationError{Leaf: l, Ratchet: rt, Generation: g, Next: next, Err: ErrGenerationReused}
	}
	if uint64(g)-uint64(next) > uint64(t.cfg.MaximumForwardDistance) {
		return Staged{}, &GenerationError{Leaf: l, Ratchet: rt, Generation: g, Next: next, Err: ErrGenerationTooFar}
	}
	if r == nil {
		p, err := t.derivePath(l)
		if err != nil {
			return Staged{}, err
		}
		st.path = p
		base = p.roots[rt].b[:t.nh]
	}
	// Ratchet forward from next to g, keeping the keys of skipped
	// generations that stay within the window once g is received.
	st.forward = true
	cur := &t.key
	var nxt secret
	defer clear(cur.b[:])
	defer clear(nxt.b[:])
	copy(cur.b[:], base)
	keepFrom := uint64(0)
	if uint64(g) > uint64(t.cfg.OutOfOrderTolerance) {
		keepFrom = uint64(g) - uint64(t.cfg.OutOfOrderTolerance)
	}
	// Each generation's key, nonce and next secret are derived under one
	// key, the generation's secret (§9.1).
	defer t.forget()
	for i := uint64(next); ; i++ {
		gi := uint32(i)
		if err := t.setKey(cur.b[:t.nh]); err != nil {
			st.Discard()
			return Staged{}, err
		}
		if gi == g {
			if err := t.keyNonce(&st.KeyNonce, gi); err != nil {
				st.Discard()
				return Staged{}, err
			}
		} else if i >= keepFrom {
			var kn KeyNonce
			if err := t.keyNonce(&kn, gi); err != nil {
				st.Discard()
				return Staged{}, err
			}
			st.skipped = append(st.skipped, kn)
		}
		if err := t.deriveTree(nxt.b[:t.nh], "secret", gi, t.nh); err != nil {
			st.Discard()
			return Staged{}, err
		}
		*cur = nxt
		if gi == g {
			break
		}
	}
	st.newSecret = *cur
	if g == math.MaxUint32 {
		st.exhausted = true
		st.newNext = g
	} else {
		st.newNext = g + 1
	}
	return st, nil
}

// Commit applies the staged change: the key of the generation and the
// secrets it came from are deleted (§9.2), and the keys of skipped
// generations within the out-of-order window are kept. The Staged key
// remains usable by the caller until it calls Zero or Discard.
func (s *Staged) Commit() error {
	t := s.tree
	if t == nil || s.done {
		return ErrStaleStage
	}
	if s.version != t.version {
		s.Discard()
		return ErrStaleStage
	}
	s.done = true
	t.version++
	var ls *leafState
	if s.path != nil {
		ls = t.applyPath(s.leaf, s.path)
		s.path = nil
	} else {
		t.saveLeaf(s.leaf)
		ls = t.leaves[s.leaf]
	}
	t.markChanged(s.leaf.Node())
	t.commitRatchet(&ls.r[s.rt], s, true)
	return nil
}

// commitRatchet applies s's change to the ratchet r: r is the tree's own
// (consume: s's pending secrets are moved into it and erased from s) or a
// copy of it (ExportStaged: s is left as it was).
func (t *Tree) commitRatchet(r *ratchet, s *Staged, consume bool) {
	if !s.forward {
		r.past[s.pastIndex].Zero()
		r.past = append(r.past[:s.pastIndex], r.past[s.pastIndex+1:]...)
		return
	}
	r.secret = s.newSecret
	r.next = s.newNext
	r.exhausted = s.exhausted
	r.past = append(r.past, s.skipped...)
	if consume {
		clear(s.newSecret.b[:])
		for i := range s.skipped {
			s.skipped[i].Zero()
		}
		s.skipped = nil
	}
	// Delete keys that fell out of the window (§9.2).
	newest := uint64(r.next) - 1
	if r.exhausted {
		newest = math.MaxUint32
	}
	drop := 0
	for drop < len(r.past) && newest-uint64(r.past[drop].Generation) > uint64(t.cfg.OutOfOrderTolerance) {
		r.past[drop].Zero()
		drop++
	}
	if drop > 0 {
		n := copy(r.past, r.past[drop:])
		for i := n; i < len(r.past); i++ {
			r.past[i].Zero()
		}
		r.past = r.past[:n]
	}
}

// StageNext is Next staged: the key and nonce of the next unused generation
// of leaf l's ratchet rt, for encrypting a message, with the change that
// deletes them (Commit) or leaves the tree as it was (Discard). A sender
// persists the tree as ExportStaged gives it before it lets the ciphertext
// out, and then commits.
func (t *Tree) StageNext(l treemath.LeafIndex, rt RatchetType) (Staged, error) {
	if rt > Application {
		return Staged{}, fmt.Errorf("secrettree: invalid ratchet type %d", rt)
	}
	if !t.n.HasLeaf(l) {
		return Staged{}, fmt.Errorf("%w: leaf %d of %d", ErrLeafOutOfRange, l, t.n)
	}
	var next uint32
	if ls, ok := t.leaves[l]; ok {
		r := &ls.r[rt]
		if r.exhausted {
			return Staged{}, &GenerationError{Leaf: l, Ratchet: rt, Generation: r.next, Next: r.next, Err: ErrRatchetExhausted}
		}
		next = r.next
	}
	return t.Stage(l, rt, next)
}

// ExportStaged returns what t would hold after s.Commit() (as Export
// would then return it), without changing t or s: the record to persist
// before the change is applied in memory. s must be a live Staged of t
// (ErrStaleStage otherwise).
func (t *Tree) ExportStaged(s *Staged) (*record.SecretTree, error) {
	var ls leafState
	if err := t.stagedLeaf(s, &ls); err != nil {
		return nil, err
	}
	st := t.export(s, &ls)
	ls.zero(s.rt)
	return st, nil
}

// ExportStagedNodesTo is ExportStaged node by node: it appends to dst the
// contents, as ExportNode returns them after s.Commit(), of the nodes
// s.Commit() changes (the ancestor a first derivation consumes, the
// siblings it derives, the sender's leaf), in ascending order, without
// changing t or s. The leaf's record goes in lr (its previous content
// replaced), or a new one if lr is nil: a caller that stores one
// message's change at a time keeps both, and exports without allocating.
func (t *Tree) ExportStagedNodesTo(dst []NodeContent, lr *LeafRecord, s *Staged) ([]NodeContent, error) {
	var ls leafState
	if err := t.stagedLeaf(s, &ls); err != nil {
		return nil, err
	}
	defer ls.zero(s.rt)
	if lr == nil {
		lr = new(LeafRecord)
	}
	n := 1 // the leaf
	if s.path != nil {
		n += 1 + len(s.path.siblings)
	}
	dst = slices.Grow(dst, n)
	out := dst[len(dst):]
	if s.path != nil {
		out = append(out, NodeContent{Node: s.path.from})
		for i, x := range s.path.siblings {
			out = append(out, NodeContent{Node: x, Secret: bytes.Clone(s.path.secrets[i].b[:t.nh])})
		}
	}
	leaf := NodeContent{Node: s.leaf.Node(), Leaf: t.leafRecordIn(lr, s.leaf, &ls)}
	if s.path != nil && s.path.from == leaf.Node {
		out = out[1:] // the leaf's own secret is consumed into its ratchets
	}
	out = append(out, leaf)
	slices.SortFunc(out, func(a, b NodeContent) int { return int64cmp(int64(a.Node), int64(b.Node)) })
	return append(dst, out...), nil
}

// stagedLeaf sets ls to a copy of the ratchets of s's leaf as s.Commit()
// leaves them.
func (t *Tree) stagedLeaf(s *Staged, ls *leafState) error {
	if s == nil || s.tree != t || s.done || s.version != t.version {
		return ErrStaleStage
	}
	if s.path != nil {
		ls.r[Handshake].secret = s.path.roots[Handshake]
		ls.r[Application].secret = s.path.roots[Application]
	} else {
		old := t.leaves[s.leaf]
		*ls = *old
		ls.r[s.rt].past = slices.Clone(old.r[s.rt].past)
	}
	t.commitRatchet(&ls.r[s.rt], s, false)
	return nil
}

// zero erases a copy of a leaf's ratchets made by stagedLeaf (whose
// ratchet rt owns its kept keys).
func (ls *leafState) zero(rt RatchetType) {
	for i := range ls.r {
		clear(ls.r[i].secret.b[:])
	}
	for i := range ls.r[rt].past {
		ls.r[rt].past[i].Zero()
	}
}

// Discard erases the staged key and pending secrets without changing the
// tree.
func (s *Staged) Discard() {
	s.KeyNonce.Zero()
	clear(s.newSecret.b[:])
	for i := range s.skipped {
		s.skipped[i].Zero()
	}
	s.skipped = nil
	if s.path != nil {
		s.path.zero()
		s.path = nil
	}
	s.done = true
}

// Get returns the key and nonce of generation g of leaf l's ratchet rt and
// deletes them from the tree at once: Stage followed by Commit.
func (t *Tree) Get(l treemath.LeafIndex, rt RatchetType, g uint32) (KeyNonce, error) {
	st, err := t.Stage(l, rt, g)
	if err != nil {
		return KeyNonce{}, err
	}
	if err := st.Commit(); err != nil {
		return KeyNonce{}, err
	}
	return st.KeyNonce, nil
}

// SenderDataKeyNonce derives the key and nonce that protect a
// PrivateMessage's sender data (§6.3.2) from the epoch's sender_data_secret
// and the content ciphertext, of which the first KDF.Nh bytes (or all, if
// shorter) are the sample. It uses t's scratch space and suite.
func (t *Tree) SenderDataKeyNonce(senderDataSecret, ciphertext []byte) (KeyNonce, error) {
	var kn KeyNonce
	sample := ciphertext
	if len(sample) > t.nh {
		sample = sample[:t.nh]
	}
	nk, nn := t.cs.AEADKeySize(), t.cs.AEADNonceSize()
	kn.keyLen, kn.nonceLen = uint8(nk), uint8(nn)
	// Both under one key, the sender_data_secret.
	defer t.forget()
	if err := t.setKey(senderDataSecret); err != nil {
		return KeyNonce{}, err
	}
	if err := t.expand(kn.key[:nk], "key", sample, nk); err != nil {
		return KeyNonce{}, err
	}
	if err := t.expand(kn.nonce[:nn], "nonce", sample, nn); err != nil {
		return KeyNonce{}, err
	}
	return kn, nil
}

// SenderDataKeyNonce is Tree.SenderDataKeyNonce for callers without a tree.
func SenderDataKeyNonce(cs providers.CipherSuite, senderDataSecret, ciphertext []byte) (KeyNonce, error) {
	if cs.AEADKeySize() > MaxKeySize || cs.AEADNonceSize() > MaxNonceSize || cs.HashSize() > MaxHashSize {
		return KeyNonce{}, ErrInvalidSecret
	}
	t := Tree{cs: cs, nh: cs.HashSize()}
	return t.SenderDataKeyNonce(senderDataSecret, ciphertext)
}
