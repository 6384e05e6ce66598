package treekem

import (
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// TestExternalJoin has members join by external Commit into a full tree
// (which must grow), into a tree with a blank leaf left by a Remove, and
// after other Commits, on both trees; every member agrees each time.
func TestExternalJoin(t *testing.T) {
	cs, err := defaultcrypto.New().CipherSuite(codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range impls {
		t.Run(f.name, func(t *testing.T) {
			s, err := newSim(cs, 3, f)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.commit(0, 3, nil); err != nil { // 4 members: full
				t.Fatal(err)
			}
			if err := s.externalJoin(); err != nil {
				t.Fatal(err)
			}
			if n := s.tree.LeafCount(); n != 8 || s.members[4] == nil {
				t.Fatalf("after joining a full tree of 4: %d leaves, member 4 present: %v", n, s.members[4] != nil)
			}
			if err := s.commit(2, 0, []treemath.LeafIndex{1}); err != nil {
				t.Fatal(err)
			}
			if err := s.externalJoin(); err != nil { // takes blank leaf 1
				t.Fatal(err)
			}
			if s.members[1] == nil {
				t.Fatalf("the joiner did not take the blank leaf 1")
			}
			for _, c := range []treemath.LeafIndex{1, 4, 0} {
				if err := s.commit(c, 1, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.externalJoin(); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d members in %d leaves after %d commits", len(s.members), s.tree.LeafCount(), s.commits)

			// Without External, the placed leaf's key counts as reused.
			ln, m, err := s.newMemberLeaf(99)
			if err != nil {
				t.Fatal(err)
			}
			st := s.tree.stage()
			l, _ := st.addLeaf(ln)
			cr, err := CreateUpdatePath(st, &CreateParams{Suite: cs, Leaf: l, LeafNode: ln, Signer: m.signer, GroupID: s.groupID, Context: s.ctx()})
			if err != nil {
				t.Fatal(err)
			}
			v := s.tree.stage()
			pl := cr.Path.LeafNode
			if _, err := v.addLeaf(&pl); err != nil {
				t.Fatal(err)
			}
			_, err = ApplyUpdatePath(v, &ApplyParams{Suite: cs, Sender: l, Path: cr.Path, GroupID: s.groupID,
				Self: 0, Keys: s.members[0].keys, Context: s.ctx()})
			if !errorsIs(err, ErrEncryptionKeyReuse) {
				t.Errorf("external path without External: %v", err)
			}
		})
	}
}
