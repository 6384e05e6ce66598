package treekem

import (
	"bytes"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// naiveTree is a deliberately simple Tree for tests: an array of nodes whose
// tree hashes are recomputed from scratch on every call, independent of
// package ratchettree, so that TreeKEM is checked against a second
// implementation of the tree.
type naiveTree struct {
	cs    providers.CipherSuite
	n     treemath.LeafCount
	nodes []*codec.Node // NodeWidth(n) entries
	cache [][]byte      // memoized tree hashes, cleared up the path on a set
}

// invalidate forgets the cached tree hashes of x and its ancestors.
func (t *naiveTree) invalidate(x treemath.NodeIndex) {
	if t.cache == nil {
		return
	}
	t.cache[x] = nil
	dp, _ := treemath.DirectPath(x, t.n)
	for _, a := range dp {
		t.cache[a] = nil
	}
}

func newNaiveTree(cs providers.CipherSuite, rt codec.RatchetTree) (*naiveTree, error) {
	n := treemath.LeafCount(1)
	for int(treemath.NodeWidth(n)) < len(rt) {
		n *= 2
	}
	t := &naiveTree{cs: cs, n: n, nodes: make([]*codec.Node, treemath.NodeWidth(n))}
	for i, nd := range rt {
		if nd == nil {
			continue
		}
		if (i%2 == 0) != (nd.NodeType == codec.NodeTypeLeaf) {
			return nil, fmt.Errorf("node %d has the wrong type", i)
		}
		t.nodes[i] = nd
	}
	return t, nil
}

func (t *naiveTree) clone() *naiveTree {
	c := *t
	c.nodes = append([]*codec.Node(nil), t.nodes...)
	if t.cache != nil {
		c.cache = append([][]byte(nil), t.cache...)
	}
	return &c
}

func (t *naiveTree) LeafCount() treemath.LeafCount { return t.n }

func (t *naiveTree) Leaf(l treemath.LeafIndex) *codec.LeafNode {
	x := int(l.Node())
	if !t.n.HasLeaf(l) || t.nodes[x] == nil {
		return nil
	}
	return t.nodes[x].LeafNode
}

func (t *naiveTree) Parent(x treemath.NodeIndex) *codec.ParentNode {
	if x%2 == 0 || int(x) >= len(t.nodes) || t.nodes[x] == nil {
		return nil
	}
	return t.nodes[x].ParentNode
}

func (t *naiveTree) setLeaf(l treemath.LeafIndex, ln *codec.LeafNode) error {
	if !t.n.HasLeaf(l) {
		return fmt.Errorf("leaf %d out of range", l)
	}
	t.invalidate(l.Node())
	if ln == nil {
		t.nodes[l.Node()] = nil
	} else {
		t.nodes[l.Node()] = &codec.Node{NodeType: codec.NodeTypeLeaf, LeafNode: ln}
	}
	return nil
}

func (t *naiveTree) setParent(x treemath.NodeIndex, pn *codec.ParentNode) error {
	if x%2 == 0 || int(x) >= len(t.nodes) {
		return fmt.Errorf("node %d is not a parent", x)
	}
	t.invalidate(x)
	if pn == nil {
		t.nodes[x] = nil
	} else {
		t.nodes[x] = &codec.Node{NodeType: codec.NodeTypeParent, ParentNode: pn}
	}
	return nil
}

func (t *naiveTree) NodeTreeHash(x treemath.NodeIndex) ([]byte, error) {
	if t.cache != nil && int(x) < len(t.cache) && t.cache[x] != nil {
		return t.cache[x], nil
	}
	var in codec.TreeHashInput
	if l, ok := x.Leaf(); ok {
		in = codec.TreeHashInput{NodeType: codec.NodeTypeLeaf,
			LeafNode: &codec.LeafNodeHashInput{LeafIndex: uint32(l), LeafNode: t.Leaf(l)}}
	} else {
		left, _ := treemath.Left(x)
		right, _ := treemath.Right(x)
		lh, err := t.NodeTreeHash(left)
		if err != nil {
			return nil, err
		}
		rh, err := t.NodeTreeHash(right)
		if err != nil {
			return nil, err
		}
		in = codec.TreeHashInput{NodeType: codec.NodeTypeParent,
			ParentNode: &codec.ParentNodeHashInput{ParentNode: t.Parent(x), LeftHash: lh, RightHash: rh}}
	}
	b, err := in.Marshal()
	if err != nil {
		return nil, err
	}
	h := t.cs.Hash(nil, b)
	if t.cache != nil && int(x) < len(t.cache) {
		t.cache[x] = h
	}
	return h, nil
}

func (t *naiveTree) FindEncryptionKey(key []byte) (treemath.NodeIndex, bool) {
	for x, nd := range t.nodes {
		switch {
		case nd == nil:
		case nd.LeafNode != nil && bytes.Equal(nd.LeafNode.EncryptionKey, key):
			return treemath.NodeIndex(x), true
		case nd.ParentNode != nil && bytes.Equal(nd.ParentNode.EncryptionKey, key):
			return treemath.NodeIndex(x), true
		}
	}
	return 0, false
}

// SetPathKeys merges the public keys of an UpdatePath from l (§7.5, §7.9),
// computing the filtered direct path and the parent hashes itself.
func (t *naiveTree) SetPathKeys(l treemath.LeafIndex, keys []codec.HPKEPublicKey) ([]byte, error) {
	if !t.n.HasLeaf(l) {
		return nil, fmt.Errorf("leaf %d out of range", l)
	}
	dp, _ := treemath.DirectPath(l.Node(), t.n)
	cp, _ := treemath.Copath(l.Node(), t.n)
	var fdp, sib []treemath.NodeIndex
	for i := range dp {
		if len(appendResolution(nil, t, t.n, cp[i], nil)) > 0 {
			fdp = append(fdp, dp[i])
			sib = append(sib, cp[i])
		}
	}
	if len(keys) != len(fdp) {
		return nil, fmt.Errorf("%d keys for %d nodes", len(keys), len(fdp))
	}
	nodes := make([]*codec.ParentNode, len(fdp))
	var ph []byte
	for i := len(fdp) - 1; i >= 0; i-- {
		sh, err := t.NodeTreeHash(sib[i])
		if err != nil {
			return nil, err
		}
		nodes[i] = &codec.ParentNode{EncryptionKey: keys[i], ParentHash: ph}
		b, _ := (&codec.ParentHashInput{EncryptionKey: keys[i], ParentHash: ph, OriginalSiblingTreeHash: sh}).Marshal()
		ph = t.cs.Hash(nil, b)
	}
	for _, x := range dp {
		_ = t.setParent(x, nil)
	}
	for i, x := range fdp {
		_ = t.setParent(x, nodes[i])
	}
	return ph, nil
}

// ReplaceLeaf sets leaf l.
func (t *naiveTree) ReplaceLeaf(l treemath.LeafIndex, ln *codec.LeafNode) error {
	return t.setLeaf(l, ln)
}

// verifyParentHashes checks that every non-blank parent node of t is
// parent-hash valid (§7.9.2), top down: exactly one descendant D of P
// (through its left or right child C) has parent_hash = ph(P with copath
// child S), D in the resolution of C, and P.unmerged_leaves ∩ subtree(C) =
// resolution(C) \ {D}.
func (t *naiveTree) verifyParentHashes() error {
	for x := 1; x < len(t.nodes); x += 2 {
		p := t.Parent(treemath.NodeIndex(x))
		if p == nil {
			continue
		}
		left, _ := treemath.Left(treemath.NodeIndex(x))
		right, _ := treemath.Right(treemath.NodeIndex(x))
		found := 0
		for _, pair := range [][2]treemath.NodeIndex{{left, right}, {right, left}} {
			c, s := pair[0], pair[1]
			sth, err := t.originalTreeHash(s, p.UnmergedLeaves)
			if err != nil {
				return err
			}
			in := codec.ParentHashInput{EncryptionKey: p.EncryptionKey, ParentHash: p.ParentHash, OriginalSiblingTreeHash: sth}
			b, _ := in.Marshal()
			ph := t.cs.Hash(nil, b)
			res := appendResolution(nil, t, t.n, c, nil)
			for _, d := range res {
				var dph []byte
				if l, ok := d.Leaf(); ok {
					ln := t.Leaf(l)
					if ln.LeafNodeSource != codec.LeafNodeSourceCommit {
						continue
					}
					dph = ln.ParentHash
				} else {
					dph = t.Parent(d).ParentHash
				}
				if !bytes.Equal(dph, ph) {
					continue
				}
				// unmerged(P) ∩ subtree(C) == res(C) \ {D}
				var want []treemath.NodeIndex
				for _, r := range res {
					if r != d {
						want = append(want, r)
					}
				}
				var got []treemath.NodeIndex
				for _, u := range p.UnmergedLeaves {
					un := treemath.LeafIndex(u).Node()
					if un == c || treemath.IsAncestor(c, un) {
						got = append(got, un)
					}
				}
				if fmt.Sprint(got) == fmt.Sprint(want) {
					found++
				}
			}
		}
		if found != 1 {
			return fmt.Errorf("parent node %d is parent-hash valid through %d descendants, want 1", x, found)
		}
	}
	return nil
}

// originalTreeHash is the tree hash of s with the leaves in unmerged blanked
// and removed from the unmerged lists (§7.9).
func (t *naiveTree) originalTreeHash(s treemath.NodeIndex, unmerged []uint32) ([]byte, error) {
	if len(unmerged) == 0 {
		return t.NodeTreeHash(s)
	}
	c := t.clone()
	c.cache = nil
	drop := map[uint32]bool{}
	for _, u := range unmerged {
		drop[u] = true
		if t.n.HasLeaf(treemath.LeafIndex(u)) {
			c.nodes[2*u] = nil
		}
	}
	for x := 1; x < len(c.nodes); x += 2 {
		if pn := c.Parent(treemath.NodeIndex(x)); pn != nil {
			cp := *pn
			cp.UnmergedLeaves = nil
			for _, u := range pn.UnmergedLeaves {
				if !drop[u] {
					cp.UnmergedLeaves = append(cp.UnmergedLeaves, u)
				}
			}
			c.nodes[x] = &codec.Node{NodeType: codec.NodeTypeParent, ParentNode: &cp}
		}
	}
	return c.NodeTreeHash(s)
}

// resize changes the leaf count to n (a power of two), keeping the nodes
// that remain in range.
func (t *naiveTree) resize(n treemath.LeafCount) {
	w := int(treemath.NodeWidth(n))
	nodes := make([]*codec.Node, w)
	copy(nodes, t.nodes)
	t.n, t.nodes = n, nodes
	if t.cache != nil {
		t.cache = make([][]byte, w)
	}
}

// addLeaf inserts ln at the leftmost blank leaf, extending the tree if there
// is none, and records it as unmerged at its non-blank ancestors (§12.1.1).
func (t *naiveTree) addLeafNode(ln *codec.LeafNode) treemath.LeafIndex {
	l := treemath.LeafIndex(0)
	for ; uint64(l) < uint64(t.n) && t.Leaf(l) != nil; l++ {
	}
	if uint64(l) == uint64(t.n) {
		t.resize(2 * t.n)
	}
	dp, _ := treemath.DirectPath(l.Node(), t.n)
	for _, a := range dp {
		if pn := t.Parent(a); pn != nil {
			cp := *pn
			cp.UnmergedLeaves = append(append([]uint32(nil), pn.UnmergedLeaves...), uint32(l))
			_ = t.setParent(a, &cp)
		}
	}
	_ = t.setLeaf(l, ln)
	return l
}

// removeLeaf blanks leaf l and its direct path, then truncates the tree while
// its right half is blank (§12.1.3, §7.7).
func (t *naiveTree) removeLeafNode(l treemath.LeafIndex) {
	_ = t.setLeaf(l, nil)
	dp, _ := treemath.DirectPath(l.Node(), t.n)
	for _, a := range dp {
		_ = t.setParent(a, nil)
	}
	for t.n > 1 {
		half := int(t.n) // first node of the right half is node 2*(n/2) = n
		blank := true
		for x := half; x < len(t.nodes); x++ {
			if t.nodes[x] != nil {
				blank = false
				break
			}
		}
		if !blank {
			break
		}
		t.resize(t.n / 2)
	}
}
