package ratchettree

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// vectorTree returns a freshly decoded copy of the tree of case i of
// tree-validation.json with its group id and root tree hash.
func vectorTree(t *testing.T, i int) (codec.RatchetTree, []byte, []byte, uint16) {
	t.Helper()
	var cases []treeValidationCase
	testvectors.Load(t, "tree-validation.json", &cases)
	c := cases[i]
	var rt codec.RatchetTree
	if err := rt.Unmarshal(c.Tree); err != nil {
		t.Fatal(err)
	}
	n := treemath.FullLeafCount(LeafCount(len(rt)/2 + 1))
	return rt, c.GroupID, c.TreeHashes[treemath.Root(n)], c.CipherSuite
}

// unmergedCase returns the index of a suite-1 case with a non-empty
// unmerged_leaves list.
func unmergedCase(t *testing.T) int {
	var cases []treeValidationCase
	testvectors.Load(t, "tree-validation.json", &cases)
	for i, c := range cases {
		var rt codec.RatchetTree
		if err := rt.Unmarshal(c.Tree); err != nil {
			t.Fatal(err)
		}
		for _, nd := range rt {
			if nd != nil && nd.ParentNode != nil && len(nd.ParentNode.UnmergedLeaves) > 0 && c.CipherSuite == 1 {
				return i
			}
		}
	}
	t.Fatal("no vector with unmerged leaves")
	return 0
}

func wantNodeErr(t *testing.T, err, sentinel error, node NodeIndex) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("got %v, want %v", err, sentinel)
	}
	var ne *NodeError
	if !errors.As(err, &ne) || ne.Node != node {
		t.Fatalf("got %v, want a NodeError at node %d", err, node)
	}
}

func TestTamperedParentHash(t *testing.T) {
	rt, gid, th, cs := vectorTree(t, 2) // get_tree(8): full tree
	rt[3].ParentNode.ParentHash = bytes.Clone(rt[3].ParentNode.ParentHash)
	rt[3].ParentNode.ParentHash[0] ^= 1
	tr, err := FromRatchetTree(suite(t, cs), rt)
	if err != nil {
		t.Fatal(err)
	}
	// Node 3's own chain is broken: nothing below it carries its new
	// parent hash, and node 1 no longer matches either... the lowest
	// failing node is reported.
	err = tr.VerifyParentHashes()
	if !errors.Is(err, ErrParentHashMismatch) {
		t.Fatalf("got %v", err)
	}
	if err := tr.Validate(&TreeValidation{GroupID: gid}); !errors.Is(err, ErrParentHashMismatch) {
		t.Fatalf("Validate: %v", err)
	}
	if err := tr.Validate(&TreeValidation{GroupID: gid, TreeHash: th}); !errors.Is(err, ErrTreeHashMismatch) {
		t.Fatalf("Validate with the GroupInfo tree hash: %v", err)
	}
}

func TestTamperedParentKey(t *testing.T) {
	rt, gid, _, cs := vectorTree(t, 2)
	rt[7].ParentNode.EncryptionKey = bytes.Clone(rt[7].ParentNode.EncryptionKey)
	rt[7].ParentNode.EncryptionKey[1] ^= 1
	tr, err := FromRatchetTree(suite(t, cs), rt)
	if err != nil {
		t.Fatal(err)
	}
	wantNodeErr(t, tr.Validate(&TreeValidation{GroupID: gid}), ErrParentHashMismatch, 7)
}

func TestDuplicateEncryptionKey(t *testing.T) {
	rt, _, _, cs := vectorTree(t, 2)
	rt[2].LeafNode.EncryptionKey = rt[0].LeafNode.EncryptionKey
	_, err := FromRatchetTree(suite(t, cs), rt)
	wantNodeErr(t, err, ErrDuplicateEncryptionKey, 2)

	rt, _, _, _ = vectorTree(t, 2)
	rt[5].ParentNode.EncryptionKey = rt[0].LeafNode.EncryptionKey
	_, err = FromRatchetTree(suite(t, cs), rt)
	wantNodeErr(t, err, ErrDuplicateEncryptionKey, 5)

	rt, _, _, _ = vectorTree(t, 2)
	rt[4].LeafNode.SignatureKey = rt[0].LeafNode.SignatureKey
	_, err = FromRatchetTree(suite(t, cs), rt)
	wantNodeErr(t, err, ErrDuplicateSignatureKey, 4)

	// Through a Diff: rejected, and the Diff is unchanged.
	rt, _, _, _ = vectorTree(t, 2)
	tr, err := FromRatchetTree(suite(t, cs), rt)
	if err != nil {
		t.Fatal(err)
	}
	d := tr.Stage()
	g := &keyGen{}
	ln := g.fakeLeaf(codec.LeafNodeSourceKeyPackage)
	ln.EncryptionKey = rt[3].ParentNode.EncryptionKey
	before, _ := d.RatchetTree().Marshal()
	if _, err := d.Add(ln); !errors.Is(err, ErrDuplicateEncryptionKey) {
		t.Fatalf("Add: %v", err)
	}
	ln = g.fakeLeaf(codec.LeafNodeSourceUpdate)
	ln.SignatureKey = rt[0].LeafNode.SignatureKey
	if err := d.Update(1, ln); !errors.Is(err, ErrDuplicateSignatureKey) {
		t.Fatalf("Update: %v", err)
	}
	ln = g.fakeLeaf(codec.LeafNodeSourceUpdate)
	ln.EncryptionKey = rt[2].LeafNode.EncryptionKey
	if err := d.Update(1, ln); !errors.Is(err, ErrEncryptionKeyNotUpdated) {
		t.Fatalf("Update with the same key: %v", err)
	}
	path, _, _ := d.FilteredDirectPath(0)
	keys := make([]codec.HPKEPublicKey, len(path))
	for i := range keys {
		keys[i] = g.key('p')
	}
	keys[1] = rt[6].LeafNode.EncryptionKey
	if _, err := d.SetPathKeys(0, keys); !errors.Is(err, ErrDuplicateEncryptionKey) {
		t.Fatalf("SetPathKeys: %v", err)
	}
	keys[1] = keys[0]
	if _, err := d.SetPathKeys(0, keys); !errors.Is(err, ErrDuplicateEncryptionKey) {
		t.Fatalf("SetPathKeys with a repeated key: %v", err)
	}
	if _, err := d.SetPathKeys(0, keys[:1]); !errors.Is(err, ErrPathLength) {
		t.Fatalf("SetPathKeys with too few keys: %v", err)
	}
	// Reusing the keys of the path being replaced is allowed.
	for i, x := range path {
		keys[i] = d.Parent(x).EncryptionKey
	}
	after, _ := d.RatchetTree().Marshal()
	if !bytes.Equal(before, after) {
		t.Fatal("failed operations changed the diff")
	}
	if _, err := d.SetPathKeys(0, keys); err != nil {
		t.Fatalf("SetPathKeys reusing the path's own keys: %v", err)
	}
}

func TestBadLeafSignature(t *testing.T) {
	// Tampering with a signature in a vector tree also breaks the parent
	// hashes whose sibling subtree holds the leaf (checked first).
	rt, gid, _, cs := vectorTree(t, 3) // 32 leaves
	rt[10].LeafNode.Signature = bytes.Clone(rt[10].LeafNode.Signature)
	rt[10].LeafNode.Signature[5] ^= 1
	tr, err := FromRatchetTree(suite(t, cs), rt)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Validate(&TreeValidation{GroupID: gid}); !errors.Is(err, ErrParentHashMismatch) {
		t.Fatalf("tampered vector: %v", err)
	}
	// A tree whose parent hashes were computed over a badly signed leaf.
	st := newSignedTree(t, suite(t, 1), 40)
	_, l := st.addBadlySignedLeaf(t)
	if err := st.tr.VerifyParentHashes(); err != nil {
		t.Fatal(err)
	}
	wantNodeErr(t, st.tr.Validate(&TreeValidation{GroupID: st.groupID}), ErrBadLeafSignature, l.Node())
	wantNodeErr(t, st.tr.Validate(&TreeValidation{GroupID: st.groupID, Workers: 1}), ErrBadLeafSignature, l.Node())
	// Wrong group id: the committer's leaf fails.
	wantNodeErr(t, st.tr.Validate(&TreeValidation{GroupID: []byte("other")}), ErrBadLeafSignature, 0)
}

func TestUnmergedLeavesInconsistent(t *testing.T) {
	// The vector tree with unmerged leaves is valid.
	i := unmergedCase(t)
	rt, gid, th, cs := vectorTree(t, i)
	tr, err := FromRatchetTree(suite(t, cs), rt)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Validate(&TreeValidation{GroupID: gid, TreeHash: th}); err != nil {
		t.Fatalf("untampered case %d: %v", i, err)
	}
	var x NodeIndex
	for y, nd := range rt {
		if nd != nil && nd.ParentNode != nil && len(nd.ParentNode.UnmergedLeaves) > 0 {
			x = NodeIndex(y)
		}
	}
	tamper := func(rt codec.RatchetTree, x NodeIndex, f func([]uint32) []uint32) *Tree {
		t.Helper()
		p := *rt[x].ParentNode
		p.UnmergedLeaves = f(slices.Clone(p.UnmergedLeaves))
		rt[x] = &codec.Node{NodeType: codec.NodeTypeParent, ParentNode: &p}
		tr, err := FromRatchetTree(suite(t, cs), rt)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	// An entry naming a leaf outside the node's subtree.
	_, hi := subtreeLeaves(x)
	tr = tamper(rt, x, func(u []uint32) []uint32 { return append(u, hi) })
	wantNodeErr(t, tr.Validate(&TreeValidation{GroupID: gid}), ErrUnmergedLeaves, x)
	// Unsorted.
	rt, _, _, _ = vectorTree(t, i)
	tr = tamper(rt, x, func(u []uint32) []uint32 { return append([]uint32{u[len(u)-1]}, u...) })
	wantNodeErr(t, tr.Validate(&TreeValidation{GroupID: gid}), ErrUnmergedLeaves, x)

	// A leaf unmerged at two nodes, dropped from the lower one.
	g := &keyGen{}
	cs1 := suite(t, 1)
	tr2 := buildTree(t, cs1, g, 7, true)
	d := tr2.Stage()
	l, _ := d.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage))
	if _, err := d.Merge(); err != nil {
		t.Fatal(err)
	}
	if err := tr2.VerifyParentHashes(); err != nil {
		t.Fatal(err)
	}
	if err := verifyUnmerged(tr2); err != nil {
		t.Fatal(err)
	}
	var holders []NodeIndex
	dp, _ := treemath.DirectPath(l.Node(), tr2.LeafCount())
	for _, y := range dp {
		if p := tr2.Parent(y); p != nil && slices.Contains(p.UnmergedLeaves, uint32(l)) {
			holders = append(holders, y)
		}
	}
	if len(holders) < 2 {
		t.Fatalf("leaf %d unmerged at %v only", l, holders)
	}
	rt = tr2.RatchetTree()
	tr = tamper(rt, holders[0], func([]uint32) []uint32 { return nil })
	wantNodeErr(t, tr.Validate(nil), ErrUnmergedLeaves, holders[0])

	// A blank unmerged leaf (white-box: blank the leaf, keep the entries).
	tr2.leaves[l] = nil
	wantNodeErr(t, verifyUnmerged(tr2), ErrUnmergedLeaves, slices.Min(holders))
}

func TestMalformedTrees(t *testing.T) {
	cs := suite(t, 1)
	g := &keyGen{}
	leaf := &codec.Node{NodeType: codec.NodeTypeLeaf, LeafNode: g.fakeLeaf(codec.LeafNodeSourceKeyPackage)}
	parent := &codec.Node{NodeType: codec.NodeTypeParent, ParentNode: &codec.ParentNode{EncryptionKey: g.key('p')}}
	for name, rt := range map[string]codec.RatchetTree{
		"empty":          {},
		"trailing blank": {leaf, nil, nil},
		"parent at 0":    {parent},
		"leaf at 1":      {leaf, leaf},
		"missing arm":    {{NodeType: codec.NodeTypeLeaf}},
	} {
		if _, err := FromRatchetTree(cs, rt); !errors.Is(err, ErrMalformedTree) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if _, err := DecodeRatchetTree(cs, []byte{0x05, 0x01}); !errors.Is(err, ErrMalformedTree) {
		t.Errorf("truncated bytes: %v", err)
	}
}

// TestMutatedVectorsNoPanic decodes and validates byte-mutated vector trees:
// errors are fine, panics are not.
func TestMutatedVectorsNoPanic(t *testing.T) {
	var cases []treeValidationCase
	testvectors.Load(t, "tree-validation.json", &cases)
	// The first 14 cases: one of each tree shape, all of suite 1.
	ran := testvectors.Expect(t, "tree-validation.json", 14)
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	for i, c := range cases[:14] {
		ran.Ran()
		cs := suite(t, c.CipherSuite)
		for r := range rounds {
			b := bytes.Clone(c.Tree)
			pos := (r*7919 + i*104729) % len(b)
			b[pos] ^= byte(1 + r%255)
			tr, err := DecodeRatchetTree(cs, b)
			if err != nil {
				continue
			}
			_ = tr.Validate(&TreeValidation{GroupID: c.GroupID, Workers: 1})
			_, _ = tr.TreeHash()
			for l := range tr.LeafCount() {
				_, _, _ = tr.FilteredDirectPath(LeafIndex(l))
			}
		}
	}
}
