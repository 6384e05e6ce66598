package ratchettree

import (
	"bytes"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

type treeValidationCase struct {
	CipherSuite uint16                 `json:"cipher_suite"`
	Tree        testvectors.HexBytes   `json:"tree"`
	GroupID     testvectors.HexBytes   `json:"group_id"`
	Resolutions [][]uint32             `json:"resolutions"`
	TreeHashes  []testvectors.HexBytes `json:"tree_hashes"`
}

func suite(t testing.TB, id uint16) providers.CipherSuite {
	t.Helper()
	cs, err := defaultcrypto.New().CipherSuite(codec.CipherSuite(id))
	if err != nil {
		t.Fatalf("suite %d: %v", id, err)
	}
	return cs
}

func TestTreeValidationVectors(t *testing.T) {
	var cases []treeValidationCase
	testvectors.Load(t, "tree-validation.json", &cases)
	ran := testvectors.Expect(t, "tree-validation.json", len(cases))
	passed := 0
	for i, c := range cases {
		cs := suite(t, c.CipherSuite)
		tr, err := DecodeRatchetTree(cs, c.Tree)
		if err != nil {
			t.Errorf("case %d (suite %d): decode: %v", i, c.CipherSuite, err)
			continue
		}
		ok := true
		if got, want := int(treemath.NodeWidth(tr.LeafCount())), len(c.Resolutions); got != want {
			t.Errorf("case %d: width %d, vector has %d resolutions", i, got, want)
			ok = false
		}
		for x, want := range c.Resolutions {
			got := tr.Resolution(NodeIndex(x))
			if len(got) != len(want) {
				t.Errorf("case %d node %d: resolution %v, want %v", i, x, got, want)
				ok = false
				continue
			}
			for j := range got {
				if uint32(got[j]) != want[j] {
					t.Errorf("case %d node %d: resolution %v, want %v", i, x, got, want)
					ok = false
					break
				}
			}
		}
		for x, want := range c.TreeHashes {
			got, err := tr.NodeTreeHash(NodeIndex(x))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("case %d node %d: tree hash %x (%v), want %x", i, x, got, err, want)
				ok = false
			}
		}
		if err := tr.VerifyParentHashes(); err != nil {
			t.Errorf("case %d: parent hashes: %v", i, err)
			ok = false
		}
		if err := tr.Validate(&TreeValidation{GroupID: c.GroupID, TreeHash: c.TreeHashes[treemath.Root(tr.LeafCount())]}); err != nil {
			t.Errorf("case %d: validate: %v", i, err)
			ok = false
		}
		// Round trip of the serialization.
		enc, err := tr.RatchetTree().Marshal()
		if err != nil || !bytes.Equal(enc, c.Tree) {
			t.Errorf("case %d: re-encoding differs (%v)", i, err)
			ok = false
		}
		if ok {
			passed++
			ran.Ran()
		}
	}
	t.Logf("tree-validation.json: %d/%d cases passed, 0 skipped", passed, len(cases))
}

type treeOperationsCase struct {
	CipherSuite    uint16               `json:"cipher_suite"`
	TreeBefore     testvectors.HexBytes `json:"tree_before"`
	Proposal       testvectors.HexBytes `json:"proposal"`
	ProposalSender uint32               `json:"proposal_sender"`
	TreeHashBefore testvectors.HexBytes `json:"tree_hash_before"`
	TreeAfter      testvectors.HexBytes `json:"tree_after"`
	TreeHashAfter  testvectors.HexBytes `json:"tree_hash_after"`
}

func TestTreeOperationsVectors(t *testing.T) {
	var cases []treeOperationsCase
	testvectors.Load(t, "tree-operations.json", &cases)
	ran := testvectors.Expect(t, "tree-operations.json", len(cases))
	passed := 0
	for i, c := range cases {
		cs := suite(t, c.CipherSuite)
		tr, err := DecodeRatchetTree(cs, c.TreeBefore)
		if err != nil {
			t.Errorf("case %d: decode: %v", i, err)
			continue
		}
		before := tr.RatchetTree()
		th, err := tr.TreeHash()
		if err != nil || !bytes.Equal(th, c.TreeHashBefore) {
			t.Errorf("case %d: tree hash before %x (%v), want %x", i, th, err, c.TreeHashBefore)
			continue
		}
		var p codec.Proposal
		if err := p.Unmarshal(c.Proposal); err != nil {
			t.Errorf("case %d: proposal: %v", i, err)
			continue
		}
		d := tr.Stage()
		switch p.ProposalType {
		case codec.ProposalTypeAdd:
			_, err = d.Add(&p.Add.KeyPackage.LeafNode)
		case codec.ProposalTypeUpdate:
			err = d.Update(LeafIndex(c.ProposalSender), &p.Update.LeafNode)
		case codec.ProposalTypeRemove:
			err = d.Remove(LeafIndex(p.Remove.Removed))
		default:
			t.Errorf("case %d: unexpected proposal type %v", i, p.ProposalType)
			continue
		}
		if err != nil {
			t.Errorf("case %d (%v): apply: %v", i, p.ProposalType, err)
			continue
		}
		// The staged diff leaves the tree unchanged.
		if !sameTree(t, before, tr.RatchetTree()) {
			t.Errorf("case %d: staging changed the tree", i)
		}
		check := func(what string, v interface {
			RatchetTree() codec.RatchetTree
			TreeHash() ([]byte, error)
		}) bool {
			enc, err := v.RatchetTree().Marshal()
			if err != nil || !bytes.Equal(enc, c.TreeAfter) {
				t.Errorf("case %d (%v) %s: tree after differs (%v)", i, p.ProposalType, what, err)
				return false
			}
			th, err := v.TreeHash()
			if err != nil || !bytes.Equal(th, c.TreeHashAfter) {
				t.Errorf("case %d (%v) %s: tree hash after %x (%v), want %x", i, p.ProposalType, what, th, err, c.TreeHashAfter)
				return false
			}
			return true
		}
		okDiff := check("diff", d)
		if _, err := d.Merge(); err != nil {
			t.Errorf("case %d: merge: %v", i, err)
			continue
		}
		if okDiff && check("merged", tr) {
			passed++
			ran.Ran()
		}
	}
	t.Logf("tree-operations.json: %d/%d cases passed, 0 skipped", passed, len(cases))
}

func sameTree(t testing.TB, a, b codec.RatchetTree) bool {
	t.Helper()
	ea, err1 := a.Marshal()
	eb, err2 := b.Marshal()
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb)
}
