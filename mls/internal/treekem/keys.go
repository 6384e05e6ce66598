package treekem

import (
	"bytes"
	"crypto/subtle"
	"slices"

	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// PrivateKeys is a member's private TreeKEM state: the HPKE private keys it
// holds for its own leaf and for nodes of its direct path (RFC 9420 §4.2
// tree invariant, §7.4), each stored with its public key so that stale
// entries can be recognized without public-key arithmetic. The zero value
// is not usable; call [NewPrivateKeys]. A PrivateKeys is not safe for
// concurrent use.
//
// Keys enter it only through [PrivateKeys.Set], [PrivateKeys.SetPathSecret],
// [PrivateKeys.SetWelcomePathSecret] and [PrivateKeys.Merge]; replaced and
// deleted keys are zeroed.
type PrivateKeys struct {
	keys map[treemath.NodeIndex]keyPair
}

// NewPrivateKeys returns an empty private key store.
func NewPrivateKeys() *PrivateKeys {
	return &PrivateKeys{keys: make(map[treemath.NodeIndex]keyPair)}
}

// Set stores a copy of the key pair of node x, zeroing any key it replaces.
func (k *PrivateKeys) Set(x treemath.NodeIndex, priv, pub []byte) {
	k.put(x, keyPair{priv: bytes.Clone(priv), pub: bytes.Clone(pub)})
}

func (k *PrivateKeys) put(x treemath.NodeIndex, kp keyPair) {
	if old, ok := k.keys[x]; ok && subtle.ConstantTimeCompare(old.priv, kp.priv) != 1 {
		clear(old.priv)
	}
	k.keys[x] = kp
}

// SetPathSecret derives the key pair of node x from its path secret (§7.4)
// and stores it, as a member does with the path secret it receives in a
// Welcome (§12.4.3.1).
func (k *PrivateKeys) SetPathSecret(cs providers.CipherSuite, x treemath.NodeIndex, pathSecret []byte) error {
	priv, pub, err := NodeKeyPair(cs, pathSecret)
	if err != nil {
		return err
	}
	k.put(x, keyPair{priv, pub})
	return nil
}

// Get returns the private and public key held for node x. The caller must
// not modify them.
func (k *PrivateKeys) Get(x treemath.NodeIndex) (priv, pub []byte, ok bool) {
	kp, ok := k.keys[x]
	return kp.priv, kp.pub, ok
}

// Delete zeroes and forgets the key of node x.
func (k *PrivateKeys) Delete(x treemath.NodeIndex) {
	if kp, ok := k.keys[x]; ok {
		clear(kp.priv)
		delete(k.keys, x)
	}
}

// Len returns the number of keys held.
func (k *PrivateKeys) Len() int { return len(k.keys) }

// Nodes returns the nodes whose keys are held, in ascending order.
func (k *PrivateKeys) Nodes() []treemath.NodeIndex {
	out := make([]treemath.NodeIndex, 0, len(k.keys))
	for x := range k.keys {
		out = append(out, x)
	}
	slices.Sort(out)
	return out
}

// Clone returns an independent deep copy.
func (k *PrivateKeys) Clone() *PrivateKeys {
	c := &PrivateKeys{keys: make(map[treemath.NodeIndex]keyPair, len(k.keys))}
	for x, kp := range k.keys {
		c.keys[x] = keyPair{priv: bytes.Clone(kp.priv), pub: bytes.Clone(kp.pub)}
	}
	return c
}

// Next returns the private keys of the epoch a Commit begins, and leaves
// k as it is (the keys of the current epoch, until the Commit is merged):
// what Clone, Merge(p) and Prune(t) give, t being the new epoch's tree
// with the Commit's path p merged (nil: no path), without copying the keys
// Merge would replace at once nor reading p's nodes back from t. k's keys
// off the direct path of p's sender are copied unless their node is blank
// in t or holds another public key (§7.5, §12.4.2); p's keys are then
// moved in (p no longer owns them). p's keys are not checked against t:
// they are the keys CreateUpdatePath or ApplyUpdatePath set those nodes
// to, and nothing changes the tree after its path (§12.4.2).
func (k *PrivateKeys) Next(p *PathKeys, t TreeView) *PrivateKeys {
	n := len(k.keys)
	if p != nil {
		n += len(p.keys)
	}
	c := &PrivateKeys{keys: make(map[treemath.NodeIndex]keyPair, n)}
	for x, kp := range k.keys {
		if p != nil && slices.Contains(p.directPath, x) {
			continue
		}
		if pub := nodeKey(t, x); pub == nil || !bytes.Equal(pub, kp.pub) {
			continue
		}
		c.keys[x] = keyPair{priv: bytes.Clone(kp.priv), pub: bytes.Clone(kp.pub)}
	}
	if p != nil {
		for _, nk := range p.keys {
			c.put(nk.node, nk.kp)
		}
		p.keys = nil
	}
	return c
}

// Zero zeroes and forgets every key.
func (k *PrivateKeys) Zero() {
	for x, kp := range k.keys {
		clear(kp.priv)
		delete(k.keys, x)
	}
}

// Merge installs the keys of an UpdatePath that was created or applied, when
// its Commit is merged (§7.5: "store the derived private keys"; delete "each
// outdated node key pair that was replaced by the update"): it zeroes the
// keys held for every node of the sender's direct path (and for the sender's
// leaf if the keys include it), then moves in the new keys. p no longer owns
// them afterwards, so p.Zero does not erase the installed keys.
//
// Merge does not look at the tree; call [PrivateKeys.Prune] with the merged
// tree to drop keys of nodes that proposals blanked or replaced.
func (k *PrivateKeys) Merge(p *PathKeys) {
	if p == nil {
		return
	}
	for _, x := range p.directPath {
		k.Delete(x)
	}
	for _, nk := range p.keys {
		k.put(nk.node, nk.kp)
	}
	p.keys = nil
}

// Prune zeroes and forgets every key whose node is blank in t or holds a
// different public key (§7.5, §12.4.2: a member keeps no key for a node it
// no longer knows), for instance after an Update or Remove proposal blanked
// the node.
func (k *PrivateKeys) Prune(t TreeView) {
	for x, kp := range k.keys {
		if pub := nodeKey(t, x); pub == nil || !bytes.Equal(pub, kp.pub) {
			k.Delete(x)
		}
	}
}

// Check verifies that every key held belongs to its node in t: the node is
// not blank, its public key is the stored one, and the private key yields it
// under cs (§12.4.3.1: "verify that the private keys ... correspond to the
// public keys"). It returns a *PathError matching ErrPrivateKeyMismatch.
func (k *PrivateKeys) Check(cs providers.CipherSuite, t TreeView) error {
	for _, x := range k.Nodes() {
		kp := k.keys[x]
		pub := nodeKey(t, x)
		if pub == nil {
			return pathErr(ErrPrivateKeyMismatch, x, nil, "node is blank")
		}
		if !bytes.Equal(pub, kp.pub) {
			return pathErr(ErrPrivateKeyMismatch, x, nil, "stored public key differs from the tree")
		}
		derived, err := cs.HPKEPublicKey(kp.priv)
		if err != nil {
			return pathErr(ErrPrivateKeyMismatch, x, err, "")
		}
		if !bytes.Equal(derived, pub) {
			return pathErr(ErrPrivateKeyMismatch, x, nil, "private key does not yield the node's public key")
		}
	}
	return nil
}

// nodeKey returns the encryption key of node x in t, or nil if it is blank.
func nodeKey(t TreeView, x treemath.NodeIndex) []byte {
	if l, ok := x.Leaf(); ok {
		if ln := t.Leaf(l); ln != nil {
			return ln.EncryptionKey
		}
		return nil
	}
	if pn := t.Parent(x); pn != nil {
		return pn.EncryptionKey
	}
	return nil
}

// NodeKey is the key pair of one tree node.
type NodeKey struct {
	Node treemath.NodeIndex
	Priv []byte
	Pub  []byte
}

type nodeKeyPair struct {
	node treemath.NodeIndex
	kp   keyPair
}

// PathKeys are the private keys an UpdatePath gives a member (§7.4, §7.5):
// for the committer its new leaf key and the keys of its whole filtered
// direct path; for a receiver the keys of the sender's filtered direct path
// from the common ancestor up. They take effect only through
// [PrivateKeys.Merge], when the Commit is merged.
type PathKeys struct {
	sender     treemath.LeafIndex
	directPath []treemath.NodeIndex // nodes whose old keys are outdated
	keys       []nodeKeyPair
}

// Sender returns the leaf whose UpdatePath produced the keys.
func (p *PathKeys) Sender() treemath.LeafIndex { return p.sender }

// Keys returns the new key pairs, ordered from the lowest node up. The
// caller must not modify them.
func (p *PathKeys) Keys() []NodeKey {
	out := make([]NodeKey, len(p.keys))
	for i, nk := range p.keys {
		out[i] = NodeKey{Node: nk.node, Priv: nk.kp.priv, Pub: nk.kp.pub}
	}
	return out
}

// Zero zeroes the private keys p still owns (those not merged).
func (p *PathKeys) Zero() {
	if p == nil {
		return
	}
	for _, nk := range p.keys {
		clear(nk.kp.priv)
	}
	p.keys = nil
}

// SetWelcomePathSecret installs the keys a new member learns from the path
// secret in its Welcome (RFC 9420 §12.4.3.1): pathSecret belongs to the
// lowest common ancestor of self and committer, which must be on the
// committer's filtered direct path in t (the tree of the new epoch); the
// path secrets of the nodes above it on that path are derived in turn
// (§7.4), and each derived public key must equal the one in t
// (ErrPublicKeyMismatch). On error k is unchanged.
func (k *PrivateKeys) SetWelcomePathSecret(cs providers.CipherSuite, t TreeView, self, committer treemath.LeafIndex, pathSecret []byte) error {
	plan, ok := planPath(t, committer, nil, false)
	if !ok || !t.LeafCount().HasLeaf(self) || self == committer {
		return pathErr(ErrInvalidLeaf, self.Node(), nil, "no common ancestor of leaves %d and %d", self, committer)
	}
	a := treemath.CommonAncestor(self.Node(), committer.Node())
	pos := slices.Index(plan.fdp, a)
	if pos < 0 {
		return pathErr(ErrInvalidLeaf, a, nil, "common ancestor is not on the committer's filtered direct path")
	}
	pd, err := derivePath(cs, pathSecret, len(plan.fdp)-pos, false)
	if err != nil {
		return err
	}
	kps, err := deriveNodeKeys(cs, pd.nodes, noParallel)
	pd.zero()
	if err != nil {
		return err
	}
	for i := range kps {
		x := plan.fdp[pos+i]
		if !bytes.Equal(kps[i].pub, nodeKey(t, x)) {
			for j := range kps {
				clear(kps[j].priv)
			}
			return pathErr(ErrPublicKeyMismatch, x, nil, "path secret from the Welcome")
		}
	}
	for i := range kps {
		k.put(plan.fdp[pos+i], kps[i])
	}
	return nil
}
