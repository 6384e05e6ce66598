package ratchettree

import (
	"bytes"
	"hash/maphash"
)

// keyIndex maps public keys to positions in a Tree (node indices for
// encryption keys, leaf indices for signature keys) in O(1) while storing
// only 64-bit keyed hashes of the keys (hash/maphash with a random seed per
// index): the key bytes stay in the nodes only, which keeps a 10,000-member
// tree's indices under 1 MiB. A lookup confirms the candidate against the
// key held at its position. Distinct keys with equal hashes (practically
// never, and not steerable without the seed) are still handled exactly: the
// later one goes to an overflow map keyed by the key bytes.
type keyIndex struct {
	t    *Tree
	sig  bool // signature keys (by leaf) rather than encryption keys (by node)
	seed maphash.Seed
	m    map[uint64]uint32
	over map[string]uint32
	hash func([]byte) uint64 // nil: maphash; tests force collisions
}

func newKeyIndex(t *Tree, sig bool, hint int) keyIndex {
	return keyIndex{t: t, sig: sig, seed: maphash.MakeSeed(), m: make(map[uint64]uint32, hint)}
}

func (k *keyIndex) sum(key []byte) uint64 {
	if k.hash != nil {
		return k.hash(key)
	}
	return maphash.Bytes(k.seed, key)
}

// keyAt returns the key currently held at position p of the tree.
func (k *keyIndex) keyAt(p uint32) []byte {
	t := k.t
	if k.sig {
		if p < uint32(len(t.leaves)) && t.leaves[p] != nil {
			return t.leaves[p].SignatureKey
		}
		return nil
	}
	x := NodeIndex(p)
	if x.IsLeaf() {
		if ln := t.leafAt(LeafIndex(x >> 1)); ln != nil {
			return ln.EncryptionKey
		}
		return nil
	}
	if pn := t.parentAt(x); pn != nil {
		return pn.EncryptionKey
	}
	return nil
}

func (k *keyIndex) get(key []byte) (uint32, bool) {
	if p, ok := k.m[k.sum(key)]; ok && bytes.Equal(k.keyAt(p), key) {
		return p, true
	}
	if len(k.over) > 0 {
		p, ok := k.over[string(key)]
		return p, ok
	}
	return 0, false
}

// put maps key to p. The node at p must already hold key, and key must not
// be mapped to another position.
func (k *keyIndex) put(key []byte, p uint32) {
	h := k.sum(key)
	if q, ok := k.m[h]; ok && q != p && !bytes.Equal(k.keyAt(q), key) {
		if k.over == nil {
			k.over = make(map[string]uint32)
		}
		k.over[string(key)] = p
		return
	}
	k.m[h] = p
}

// del removes key, which the node at its position must still hold.
func (k *keyIndex) del(key []byte) {
	h := k.sum(key)
	if q, ok := k.m[h]; ok && bytes.Equal(k.keyAt(q), key) {
		delete(k.m, h)
		for s, p := range k.over {
			if k.sum([]byte(s)) == h {
				delete(k.over, s)
				k.m[h] = p
				break
			}
		}
		return
	}
	delete(k.over, string(key))
}

func (k *keyIndex) len() int { return len(k.m) + len(k.over) }

// clone returns a copy of k for tree c.
func (k *keyIndex) clone(c *Tree) keyIndex {
	d := keyIndex{t: c, sig: k.sig, seed: k.seed, hash: k.hash, m: make(map[uint64]uint32, len(k.m))}
	for h, p := range k.m {
		d.m[h] = p
	}
	if len(k.over) > 0 {
		d.over = make(map[string]uint32, len(k.over))
		for s, p := range k.over {
			d.over[s] = p
		}
	}
	return d
}
