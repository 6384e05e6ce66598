package ratchettree

import (
	"encoding/binary"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/leafnode"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// keyGen hands out distinct fake keys (their content is never used as a
// key: only hashing and uniqueness are exercised).
type keyGen struct{ next uint64 }

func (g *keyGen) key(tag byte) []byte {
	g.next++
	k := make([]byte, 32)
	k[0] = tag
	binary.BigEndian.PutUint64(k[24:], g.next)
	return k
}

func defaultCaps() codec.Capabilities {
	return codec.Capabilities{
		Versions:     []codec.ProtocolVersion{codec.ProtocolVersionMLS10},
		CipherSuites: []codec.CipherSuite{1},
		Credentials:  []codec.CredentialType{codec.CredentialTypeBasic},
	}
}

// fakeLeaf returns an unsigned LeafNode with fresh keys.
func (g *keyGen) fakeLeaf(src codec.LeafNodeSource) *codec.LeafNode {
	ln := &codec.LeafNode{
		EncryptionKey:  g.key('e'),
		SignatureKey:   g.key('s'),
		Credential:     codec.Credential{CredentialType: codec.CredentialTypeBasic, Identity: g.key('i')[24:]},
		Capabilities:   defaultCaps(),
		LeafNodeSource: src,
		Signature:      make([]byte, 64),
	}
	if src == codec.LeafNodeSourceKeyPackage {
		ln.Lifetime = &codec.Lifetime{NotBefore: 0, NotAfter: 1 << 62}
	}
	if src == codec.LeafNodeSourceCommit {
		ln.ParentHash = []byte{}
	}
	return ln
}

// signLeaf signs ln in place (RFC 9420 §7.2).
func signLeaf(t testing.TB, s providers.Signer, ln *codec.LeafNode, groupID []byte, l LeafIndex) {
	t.Helper()
	ln.SignatureKey = s.PublicKey()
	if err := leafnode.Sign(s, ln, groupID, uint32(l)); err != nil {
		t.Fatal(err)
	}
}

// commit simulates the public part of a Commit with an UpdatePath from
// leaf l on d: fresh path keys, then a commit-source leaf carrying the
// parent hash (RFC 9420 §7.5, §7.9).
func (g *keyGen) commit(t testing.TB, d *Diff, l LeafIndex) {
	t.Helper()
	path, _, err := d.FilteredDirectPath(l)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]codec.HPKEPublicKey, len(path))
	for i := range keys {
		keys[i] = g.key('p')
	}
	ph, err := d.SetPathKeys(l, keys)
	if err != nil {
		t.Fatal(err)
	}
	ln := g.fakeLeaf(codec.LeafNodeSourceCommit)
	ln.SignatureKey = d.Leaf(l).SignatureKey
	ln.ParentHash = ph
	if err := d.ReplaceLeaf(l, ln); err != nil {
		t.Fatal(err)
	}
}

// referenceTreeHash computes the tree hash of a ratchet_tree value from
// scratch, without any cache (RFC 9420 §7.8).
func referenceTreeHash(t testing.TB, cs providers.CipherSuite, rt codec.RatchetTree) []byte {
	t.Helper()
	n := treemath.FullLeafCount(LeafCount(len(rt)/2 + 1))
	node := func(x NodeIndex) *codec.Node {
		if int(x) < len(rt) {
			return rt[x]
		}
		return nil
	}
	var th func(x NodeIndex) []byte
	th = func(x NodeIndex) []byte {
		var in codec.TreeHashInput
		if x.IsLeaf() {
			in.NodeType = codec.NodeTypeLeaf
			in.LeafNode = &codec.LeafNodeHashInput{LeafIndex: uint32(x >> 1)}
			if nd := node(x); nd != nil {
				in.LeafNode.LeafNode = nd.LeafNode
			}
		} else {
			l, _ := treemath.Left(x)
			r, _ := treemath.Right(x)
			in.NodeType = codec.NodeTypeParent
			in.ParentNode = &codec.ParentNodeHashInput{LeftHash: th(l), RightHash: th(r)}
			if nd := node(x); nd != nil {
				in.ParentNode.ParentNode = nd.ParentNode
			}
		}
		b, err := in.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return cs.Hash(nil, b)
	}
	return th(treemath.Root(n))
}

// buildTree returns a tree of n members with fake keys: leaf 0 creates the
// group, adds everyone in one commit, and commits a path, so every parent
// on leaf 0's direct path is set. If dense, every leaf also commits once
// in turn afterwards (one diff per commit), which sets most parent nodes.
func buildTree(t testing.TB, cs providers.CipherSuite, g *keyGen, n int, dense bool) *Tree {
	t.Helper()
	tr, err := New(cs, g.fakeLeaf(codec.LeafNodeSourceKeyPackage))
	if err != nil {
		t.Fatal(err)
	}
	d := tr.Stage()
	for i := 1; i < n; i++ {
		if _, err := d.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage)); err != nil {
			t.Fatal(err)
		}
	}
	g.commit(t, d, 0)
	if _, err := d.Merge(); err != nil {
		t.Fatal(err)
	}
	if dense {
		for i := 1; i < n; i += 2 {
			d := tr.Stage()
			g.commit(t, d, LeafIndex(i))
			if _, err := d.Merge(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tr
}

// signedTree is a tree whose leaves carry real signatures (suite's
// signature scheme), for validation tests and benchmarks.
type signedTree struct {
	cs      providers.CipherSuite
	tr      *Tree
	groupID []byte
	g       keyGen
	signers map[string]providers.Signer // by signature public key
}

func newSignedTree(t testing.TB, cs providers.CipherSuite, n int) *signedTree {
	t.Helper()
	st := &signedTree{cs: cs, groupID: []byte("signed group"), signers: map[string]providers.Signer{}}
	tr, err := New(cs, st.keyPackageLeaf(t))
	if err != nil {
		t.Fatal(err)
	}
	st.tr = tr
	d := tr.Stage()
	for i := 1; i < n; i++ {
		if _, err := d.Add(st.keyPackageLeaf(t)); err != nil {
			t.Fatal(err)
		}
	}
	st.commit(t, d, 0)
	if _, err := d.Merge(); err != nil {
		t.Fatal(err)
	}
	return st
}

func (st *signedTree) signer(t testing.TB) providers.Signer {
	t.Helper()
	priv, _, err := st.cs.GenerateSignatureKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.cs.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	st.signers[string(s.PublicKey())] = s
	return s
}

func (st *signedTree) keyPackageLeaf(t testing.TB) *codec.LeafNode {
	ln := st.g.fakeLeaf(codec.LeafNodeSourceKeyPackage)
	signLeaf(t, st.signer(t), ln, nil, 0)
	return ln
}

// addBadlySignedLeaf adds a KeyPackage leaf whose signature is broken,
// commits leaf 0's path over it and merges: a tree whose parent hashes hold
// but one of whose leaves fails its signature check. It returns that leaf
// and where it went.
func (st *signedTree) addBadlySignedLeaf(t testing.TB) (*codec.LeafNode, LeafIndex) {
	t.Helper()
	bad := st.keyPackageLeaf(t)
	bad.Signature[3] ^= 1
	d := st.tr.Stage()
	l, err := d.Add(bad)
	if err != nil {
		t.Fatal(err)
	}
	st.commit(t, d, 0)
	if _, err := d.Merge(); err != nil {
		t.Fatal(err)
	}
	return bad, l
}

// commit is keyGen.commit with a properly signed committer leaf.
func (st *signedTree) commit(t testing.TB, d *Diff, l LeafIndex) {
	t.Helper()
	path, _, err := d.FilteredDirectPath(l)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]codec.HPKEPublicKey, len(path))
	for i := range keys {
		keys[i] = st.g.key('p')
	}
	ph, err := d.SetPathKeys(l, keys)
	if err != nil {
		t.Fatal(err)
	}
	ln := st.g.fakeLeaf(codec.LeafNodeSourceCommit)
	ln.ParentHash = ph
	signLeaf(t, st.signers[string(d.Leaf(l).SignatureKey)], ln, st.groupID, l)
	if err := d.ReplaceLeaf(l, ln); err != nil {
		t.Fatal(err)
	}
}
