package treekem

import (
	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// The group logic passes ratchettree's types directly.
var (
	_ Tree     = (*ratchettree.Diff)(nil)
	_ KeyIndex = (*ratchettree.Diff)(nil)
	_ TreeView = (*ratchettree.Tree)(nil)
)

// committed is a group's merged tree; staged views of it take a Commit's
// proposals and UpdatePath.
type committed interface {
	TreeView
	stage() staged
	merge(s staged) (committed, error)
	verifyParentHashes() error
}

// staged is a staged tree the tests drive.
type staged interface {
	Tree
	KeyIndex
	rootHash() ([]byte, error)
	verifyParentHashes() error
	addLeaf(ln *codec.LeafNode) (treemath.LeafIndex, error)
	removeLeaf(l treemath.LeafIndex) error
}

// impl builds committed trees of one implementation.
type impl struct {
	name   string
	fromRT func(cs providers.CipherSuite, rt codec.RatchetTree) (committed, error)
}

// Every test runs on package ratchettree's Diff, the Tree the group logic
// uses, and on naiveTree, an independent implementation written for the
// tests.
var impls = []impl{
	{"ratchettree", func(cs providers.CipherSuite, rt codec.RatchetTree) (committed, error) {
		t, err := ratchettree.FromRatchetTree(cs, rt)
		if err != nil {
			return nil, err
		}
		return rtCommitted{t}, nil
	}},
	{"naive", func(cs providers.CipherSuite, rt codec.RatchetTree) (committed, error) {
		t, err := newNaiveTree(cs, rt)
		if err != nil {
			return nil, err
		}
		t.cache = make([][]byte, len(t.nodes))
		return t, nil
	}},
}

// naiveTree is both committed and staged: staging copies it.

func (t *naiveTree) stage() staged { return t.clone() }

func (t *naiveTree) merge(s staged) (committed, error) { return s.(*naiveTree), nil }

func (t *naiveTree) rootHash() ([]byte, error) { return t.NodeTreeHash(treemath.Root(t.n)) }

func (t *naiveTree) addLeaf(ln *codec.LeafNode) (treemath.LeafIndex, error) {
	return t.addLeafNode(ln), nil
}

func (t *naiveTree) removeLeaf(l treemath.LeafIndex) error {
	t.removeLeafNode(l)
	return nil
}

type rtCommitted struct{ *ratchettree.Tree }

func (c rtCommitted) stage() staged { return rtStaged{c.Tree.Stage()} }

func (c rtCommitted) merge(s staged) (committed, error) {
	t, err := s.(rtStaged).Merge()
	if err != nil {
		return nil, err
	}
	return rtCommitted{t}, nil
}

func (c rtCommitted) verifyParentHashes() error { return c.Tree.VerifyParentHashes() }

type rtStaged struct{ *ratchettree.Diff }

func (d rtStaged) rootHash() ([]byte, error) { return d.Diff.TreeHash() }
func (d rtStaged) verifyParentHashes() error { return d.Diff.VerifyParentHashes() }
func (d rtStaged) addLeaf(ln *codec.LeafNode) (treemath.LeafIndex, error) {
	return d.Diff.Add(ln)
}
func (d rtStaged) removeLeaf(l treemath.LeafIndex) error { return d.Diff.Remove(l) }
