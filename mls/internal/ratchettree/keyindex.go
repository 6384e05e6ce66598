package ratchettree

import (
	"bytes"
	"hash/maphash"
	"slices"
)

// keyIndex maps public keys to positions in a Tree (node indices for
// encryption keys, leaf indices for signature keys) in O(1) while storing
// only 64-bit keyed hashes of the keys (hash/maphash with a random seed per
// index): the key bytes stay in the nodes only, which keeps a 10,000-member
// tree's indices under 1 MiB. A lookup confirms the candidate against the
// key held at its position. Distinct keys with equal hashes (practically
// never, and not steerable without the seed) are still handled exactly: the
// later one goes to an overflow map keyed by the key bytes.
//
// The hashes and positions are an open-addressing table (linear probing,
// at most three quarters full, deletion by backward shift) rather than a Go
// map: the uniqueness checks of RFC 9420 §7.3 look up keys that are
// absent, which in a large tree costs a cache miss or more each; such a
// lookup here reads a run of hashes, usually within one cache line, where a
// map lookup walks its directory, table and group. The positions are in an
// array of their own, read only for a hash found.
type keyIndex struct {
	t    *Tree
	sig  bool // signature keys (by leaf) rather than encryption keys (by node)
	seed maphash.Seed
	// hs and ps are the table: hs[i] is a hash (0: empty slot), ps[i]
	// its position. Their length is a power of two (or zero); used
	// counts the full slots.
	hs   []uint64
	ps   []uint32
	used int
	over map[string]uint32
	hash func([]byte) uint64 // nil: maphash; tests force collisions
}

func newKeyIndex(t *Tree, sig bool, hint int) keyIndex {
	k := keyIndex{t: t, sig: sig, seed: maphash.MakeSeed()}
	if hint > 0 {
		k.alloc(tableSize(hint))
	}
	return k
}

func (k *keyIndex) alloc(n int) {
	k.hs, k.ps = make([]uint64, n), make([]uint32, n)
}

// tableSize is the table length for n keys: a power of two, at least 8,
// with n at most three quarters of it.
func tableSize(n int) int {
	s := 8
	for 4*n > 3*s {
		s *= 2
	}
	return s
}

// sum is the key's hash in the table: never 0, which marks an empty slot
// (a hash of 0 is taken as 1; keys are confirmed against their bytes).
func (k *keyIndex) sum(key []byte) uint64 {
	var h uint64
	if k.hash != nil {
		h = k.hash(key)
	} else {
		h = maphash.Bytes(k.seed, key)
	}
	return max(h, 1)
}

// sumString is sum of a key held as a string, as a Diff's key maps hold
// them: maphash.String hashes a string as maphash.Bytes its bytes, and
// the key is not converted (which would allocate a copy, the key
// escaping into k.hash).
func (k *keyIndex) sumString(key string) uint64 {
	var h uint64
	if k.hash != nil {
		h = k.hash([]byte(key))
	} else {
		h = maphash.String(k.seed, key)
	}
	return max(h, 1)
}

// find returns the slot holding hash h, or the empty slot where it would
// go (found false). The table must not be empty.
func (k *keyIndex) find(h uint64) (i int, found bool) {
	mask := len(k.hs) - 1
	for i = int(h) & mask; ; i = (i + 1) & mask {
		switch k.hs[i] {
		case h:
			return i, true
		case 0:
			return i, false
		}
	}
}

// lookup returns the position mapped to hash h.
func (k *keyIndex) lookup(h uint64) (uint32, bool) {
	if len(k.hs) == 0 {
		return 0, false
	}
	if i, ok := k.find(h); ok {
		return k.ps[i], true
	}
	return 0, false
}

// set maps hash h to position p.
func (k *keyIndex) set(h uint64, p uint32) {
	if 4*(k.used+1) > 3*len(k.hs) {
		k.grow()
	}
	i, found := k.find(h)
	if !found {
		k.used++
	}
	k.hs[i], k.ps[i] = h, p
}

// grow doubles the table (or makes the first one).
func (k *keyIndex) grow() {
	hs, ps := k.hs, k.ps
	k.alloc(max(2*len(hs), tableSize(k.used+1)))
	for j, h := range hs {
		if h != 0 {
			i, _ := k.find(h)
			k.hs[i], k.ps[i] = h, ps[j]
		}
	}
}

// remove empties slot i, moving back the entries of its probe run that
// would no longer be found (backward-shift deletion).
func (k *keyIndex) remove(i int) {
	mask := len(k.hs) - 1
	for j := (i + 1) & mask; k.hs[j] != 0; j = (j + 1) & mask {
		// The entry at j moves to i if i lies between its home slot
		// and j (cyclically): its probe run would otherwise break at i.
		if home := int(k.hs[j]) & mask; (j-home)&mask >= (j-i)&mask {
			k.hs[i], k.ps[i] = k.hs[j], k.ps[j]
			i = j
		}
	}
	k.hs[i], k.ps[i] = 0, 0
	k.used--
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
	if p, ok := k.lookup(k.sum(key)); ok && bytes.Equal(k.keyAt(p), key) {
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
func (k *keyIndex) put(key []byte, p uint32) { putKey(k, k.sum(key), key, p) }

// putString is put of a key held as a string (Diff.Merge).
func (k *keyIndex) putString(key string, p uint32) { putKey(k, k.sumString(key), key, p) }

// putKey is put of key, of hash h, held as bytes or as a string: the
// comparison converts without copying, and only a key that goes to the
// overflow map is copied (as the map's string).
func putKey[K string | []byte](k *keyIndex, h uint64, key K, p uint32) {
	if q, ok := k.lookup(h); ok && q != p && string(k.keyAt(q)) != string(key) {
		if k.over == nil {
			k.over = make(map[string]uint32)
		}
		k.over[string(key)] = p
		return
	}
	k.set(h, p)
}

// delString removes key, held as a string (Diff.Merge's key maps hold
// them so), which the node at its position must still hold.
func (k *keyIndex) delString(key string) {
	h := k.sumString(key)
	if len(k.hs) > 0 {
		if i, ok := k.find(h); ok && string(k.keyAt(k.ps[i])) == key {
			k.remove(i)
			k.promoteOver(h)
			return
		}
	}
	delete(k.over, key)
}

// promoteOver moves a key of hash h from the overflow map into the table,
// whose slot for h a deletion just emptied.
func (k *keyIndex) promoteOver(h uint64) {
	for s, p := range k.over {
		if k.sumString(s) == h {
			delete(k.over, s)
			k.set(h, p)
			break
		}
	}
}

func (k *keyIndex) len() int { return k.used + len(k.over) }

// clone returns a copy of k for tree c.
func (k *keyIndex) clone(c *Tree) keyIndex {
	d := keyIndex{t: c, sig: k.sig, seed: k.seed, hash: k.hash, used: k.used}
	if k.hs != nil {
		d.hs, d.ps = slices.Clone(k.hs), slices.Clone(k.ps)
	}
	if len(k.over) > 0 {
		d.over = make(map[string]uint32, len(k.over))
		for s, p := range k.over {
			d.over[s] = p
		}
	}
	return d
}
