package ratchettree

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
)

type treeKEMCase struct {
	CipherSuite uint16               `json:"cipher_suite"`
	GroupID     testvectors.HexBytes `json:"group_id"`
	RatchetTree testvectors.HexBytes `json:"ratchet_tree"`
	UpdatePaths []struct {
		Sender        uint32               `json:"sender"`
		UpdatePath    testvectors.HexBytes `json:"update_path"`
		TreeHashAfter testvectors.HexBytes `json:"tree_hash_after"`
	} `json:"update_paths"`
}

// TestTreeKEMVectorsPublicMerge checks the public half of merging an
// UpdatePath (RFC 9420 §7.5, §7.9) against treekem.json: SetPathKeys must
// yield the parent hash that the sender's new leaf carries, and after
// ReplaceLeaf the tree hash must be tree_hash_after; the merged tree is
// parent-hash valid. (Path secrets and private keys are package treekem's.)
func TestTreeKEMVectorsPublicMerge(t *testing.T) {
	var cases []treeKEMCase
	testvectors.Load(t, "treekem.json", &cases)
	ran := testvectors.Expect(t, "treekem.json", len(cases))
	passed, total := 0, 0
	for i, c := range cases {
		cs := suite(t, c.CipherSuite)
		tr, err := DecodeRatchetTree(cs, c.RatchetTree)
		if err != nil {
			t.Errorf("case %d: %v", i, err)
			continue
		}
		if err := tr.Validate(&TreeValidation{GroupID: c.GroupID}); err != nil {
			t.Errorf("case %d: tree invalid: %v", i, err)
		}
		for j, up := range c.UpdatePaths {
			total++
			var p codec.UpdatePath
			if err := p.Unmarshal(up.UpdatePath); err != nil {
				t.Errorf("case %d path %d: %v", i, j, err)
				continue
			}
			keys := make([]codec.HPKEPublicKey, len(p.Nodes))
			for k := range p.Nodes {
				keys[k] = p.Nodes[k].EncryptionKey
			}
			l := LeafIndex(up.Sender)
			d := tr.Stage()
			if err := d.ValidateLeafNode(&p.LeafNode, &LeafValidation{Source: codec.LeafNodeSourceCommit, GroupID: c.GroupID, Leaf: l}); err != nil {
				t.Errorf("case %d path %d: leaf: %v", i, j, err)
				continue
			}
			ph, err := d.SetPathKeys(l, keys)
			if err != nil {
				t.Errorf("case %d path %d: SetPathKeys: %v", i, j, err)
				continue
			}
			if !bytes.Equal(ph, p.LeafNode.ParentHash) {
				t.Errorf("case %d path %d: leaf parent hash %x, want %x", i, j, ph, p.LeafNode.ParentHash)
				continue
			}
			if err := d.ReplaceLeaf(l, &p.LeafNode); err != nil {
				t.Errorf("case %d path %d: ReplaceLeaf: %v", i, j, err)
				continue
			}
			th, err := d.TreeHash()
			if err != nil || !bytes.Equal(th, up.TreeHashAfter) {
				t.Errorf("case %d path %d: tree hash after %x (%v), want %x", i, j, th, err, up.TreeHashAfter)
				continue
			}
			if err := d.VerifyParentHashes(); err != nil {
				t.Errorf("case %d path %d: merged tree: %v", i, j, err)
				continue
			}
			if j == 0 { // full validation (all signatures) once per case
				if err := d.Validate(&TreeValidation{GroupID: c.GroupID, TreeHash: up.TreeHashAfter}); err != nil {
					t.Errorf("case %d path %d: merged tree invalid: %v", i, j, err)
					continue
				}
			}
			// A wrong key count is rejected without changing anything.
			d2 := tr.Stage()
			if _, err := d2.SetPathKeys(l, append(keys, keys[0])); !errors.Is(err, ErrPathLength) {
				t.Errorf("case %d path %d: extra key: %v", i, j, err)
			}
			passed++
			ran.Ran()
		}
	}
	t.Logf("treekem.json (public merge of update paths): %d/%d paths in %d cases passed, 0 skipped", passed, total, len(cases))
}
