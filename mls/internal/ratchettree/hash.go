package ratchettree

import (
	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// computeParentHash returns Hash(ParentHashInput{key, parentHash,
// siblingHash}) (RFC 9420 §7.9). buf is scratch space.
func computeParentHash(cs providers.CipherSuite, key, parentHash, siblingHash []byte, buf *[]byte) ([]byte, error) {
	in := codec.ParentHashInput{EncryptionKey: key, ParentHash: parentHash, OriginalSiblingTreeHash: siblingHash}
	b, err := in.AppendTo((*buf)[:0])
	if err != nil {
		return nil, err
	}
	*buf = b
	return cs.Hash(nil, b), nil
}

// ParentHash returns the parent hash of the non-blank parent node p with
// copath child s (RFC 9420 §7.9): Hash(ParentHashInput{p.encryption_key,
// p.parent_hash, original_sibling_tree_hash}), where the original sibling
// tree hash is the tree hash of s with p's unmerged leaves blanked and
// removed from every unmerged_leaves list.
func (t *Tree) ParentHash(p, s NodeIndex) ([]byte, error) { return parentHashOf(t, p, s, nil) }

// ParentHash is Tree.ParentHash on the staged state.
func (d *Diff) ParentHash(p, s NodeIndex) ([]byte, error) { return parentHashOf(d, p, s, nil) }

// parentHashOf computes ParentHash(p, s); buf is optional scratch space.
func parentHashOf(v view, p, s NodeIndex, buf *[]byte) ([]byte, error) {
	pn := v.parentAt(p)
	if pn == nil {
		return nil, nodeErr(p, ErrNodeOutOfRange)
	}
	sh, err := originalTreeHash(v, s, pn.UnmergedLeaves)
	if err != nil {
		return nil, err
	}
	if buf == nil {
		buf = new([]byte)
	}
	h, err := computeParentHash(v.suite(), pn.EncryptionKey, pn.ParentHash, sh, buf)
	if err != nil {
		return nil, nodeErr(p, ErrEncoding, err)
	}
	return h, nil
}

// originalTreeHash returns the tree hash of x in the tree where the leaves
// in removed (sorted) are blank and absent from all unmerged_leaves
// (RFC 9420 §7.9). Subtrees without a removed leaf use the cached hash, so
// the cost is O(|removed| log N) hash computations.
func originalTreeHash(v view, x NodeIndex, removed []uint32) ([]byte, error) {
	lo, hi := subtreeLeaves(x)
	var sub []uint32
	for _, r := range removed {
		if r >= lo && r < hi {
			sub = append(sub, r)
		}
	}
	if len(sub) == 0 {
		return v.hash(x)
	}
	cs := v.suite()
	var b []byte
	var err error
	if x.IsLeaf() {
		// The only leaf of the subtree is removed: it is blank.
		b, err = leafHashInput(nil, LeafIndex(x>>1), nil)
	} else {
		l, _ := treemath.Left(x)
		r, _ := treemath.Right(x)
		var lh, rh []byte
		if lh, err = originalTreeHash(v, l, sub); err != nil {
			return nil, err
		}
		if rh, err = originalTreeHash(v, r, sub); err != nil {
			return nil, err
		}
		pn := v.parentAt(x)
		if pn != nil {
			u := make([]uint32, 0, len(pn.UnmergedLeaves))
			for _, m := range pn.UnmergedLeaves {
				if !contains(sub, m) {
					u = append(u, m)
				}
			}
			pn = &codec.ParentNode{EncryptionKey: pn.EncryptionKey, ParentHash: pn.ParentHash, UnmergedLeaves: u}
		}
		b, err = parentHashInputTH(nil, pn, lh, rh)
	}
	if err != nil {
		return nil, nodeErr(x, ErrEncoding, err)
	}
	return cs.Hash(nil, b), nil
}

func contains(s []uint32, v uint32) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

// VerifyParentHashes checks that every non-blank parent node is parent-hash
// valid (RFC 9420 §7.9.2), "top down": for each non-blank parent P, exactly
// one descendant D is such that D's parent_hash is the parent hash of P with
// the copath child S, D is in the resolution of the other child C, and the
// resolution of C without D equals P's unmerged leaves under C. Leaves
// carry a parent hash only if their leaf_node_source is commit. Failures
// are a *NodeError wrapping ErrParentHashMismatch.
func (t *Tree) VerifyParentHashes() error { return verifyParentHashes(t) }

// VerifyParentHashes is Tree.VerifyParentHashes on the staged state.
func (d *Diff) VerifyParentHashes() error { return verifyParentHashes(d) }

func verifyParentHashes(v view) error {
	w := width(v)
	// resolution sizes, computed once bottom-up (in-order layout: a node's
	// children are computed before it when iterating by level).
	rs := resolutionSizes(v)
	var res []NodeIndex
	var buf []byte
	for x := NodeIndex(1); uint32(x) < w; x += 2 {
		pn := v.parentAt(x)
		if pn == nil {
			continue
		}
		l, _ := treemath.Left(x)
		r, _ := treemath.Right(x)
		matches := 0
		for _, cs := range [2][2]NodeIndex{{l, r}, {r, l}} {
			c, s := cs[0], cs[1]
			// P's unmerged leaves under C.
			lo, hi := subtreeLeaves(c)
			var um []NodeIndex
			for _, u := range pn.UnmergedLeaves {
				if u >= lo && u < hi {
					um = append(um, LeafIndex(u).Node())
				}
			}
			if uint32(c) >= w || rs[c] != len(um)+1 {
				continue
			}
			res = appendResolution(v, res[:0], c, nil)
			var d NodeIndex
			found := 0
			for _, y := range res {
				if !containsNode(um, y) {
					d = y
					found++
				}
			}
			if found != 1 {
				continue
			}
			dph, ok := parentHashField(v, d)
			if !ok {
				continue
			}
			ph, err := parentHashOf(v, x, s, &buf)
			if err != nil {
				return err
			}
			if string(ph) == string(dph) {
				matches++
			}
		}
		if matches != 1 {
			return nodeErr(x, ErrParentHashMismatch)
		}
	}
	return nil
}

func containsNode(s []NodeIndex, v NodeIndex) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

// parentHashField returns the parent_hash of a non-blank node: a parent's,
// or a leaf's if its leaf_node_source is commit.
func parentHashField(v view, x NodeIndex) ([]byte, bool) {
	if x.IsLeaf() {
		ln := v.leafAt(LeafIndex(x >> 1))
		if ln == nil || ln.LeafNodeSource != codec.LeafNodeSourceCommit {
			return nil, false
		}
		return ln.ParentHash, true
	}
	p := v.parentAt(x)
	if p == nil {
		return nil, false
	}
	return p.ParentHash, true
}

// resolutionSizes returns the length of the resolution of every node.
func resolutionSizes(v view) []int {
	w := width(v)
	rs := make([]int, w)
	for x := NodeIndex(0); uint32(x) < w; x += 2 {
		if v.leafAt(LeafIndex(x>>1)) != nil {
			rs[x] = 1
		}
	}
	for k := 1; uint32(1)<<k <= w; k++ {
		// nodes at level k: x = (2^k - 1) + i*2^(k+1)
		for x := uint32(1)<<k - 1; x < w; x += uint32(1) << (k + 1) {
			if p := v.parentAt(NodeIndex(x)); p != nil {
				rs[x] = 1 + len(p.UnmergedLeaves)
				continue
			}
			l, _ := treemath.Left(NodeIndex(x))
			r, _ := treemath.Right(NodeIndex(x))
			rs[x] = rs[l]
			if uint32(r) < w {
				rs[x] += rs[r]
			}
		}
	}
	return rs
}
