package treekem

import (
	"bytes"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

type hx = testvectors.HexBytes

type treekemVector struct {
	CipherSuite             uint16 `json:"cipher_suite"`
	GroupID                 hx     `json:"group_id"`
	Epoch                   uint64 `json:"epoch"`
	ConfirmedTranscriptHash hx     `json:"confirmed_transcript_hash"`
	RatchetTree             hx     `json:"ratchet_tree"`
	LeavesPrivate           []struct {
		Index          uint32 `json:"index"`
		EncryptionPriv hx     `json:"encryption_priv"`
		SignaturePriv  hx     `json:"signature_priv"`
		PathSecrets    []struct {
			Node       uint32 `json:"node"`
			PathSecret hx     `json:"path_secret"`
		} `json:"path_secrets"`
	} `json:"leaves_private"`
	UpdatePaths []struct {
		Sender        uint32 `json:"sender"`
		UpdatePath    hx     `json:"update_path"`
		PathSecrets   []hx   `json:"path_secrets"`
		CommitSecret  hx     `json:"commit_secret"`
		TreeHashAfter hx     `json:"tree_hash_after"`
	} `json:"update_paths"`
}

// contextFunc returns the ContextFunc of the vector's provisional group
// context: the given fields with the updated tree hash, no extensions.
func contextFunc(cs codec.CipherSuite, groupID []byte, epoch uint64, cth []byte) ContextFunc {
	return func(th []byte) ([]byte, error) {
		gc := codec.GroupContext{CipherSuite: cs, GroupID: groupID, Epoch: epoch, TreeHash: th, ConfirmedTranscriptHash: cth}
		return gc.Marshal()
	}
}

func TestTreeKEMVectors(t *testing.T) {
	var vs []treekemVector
	testvectors.Load(t, "treekem.json", &vs)
	for _, f := range impls {
		t.Run(f.name, func(t *testing.T) {
			ran := testvectors.Expect(t, "treekem.json ("+f.name+" tree)", len(vs))
			runTreeKEMVectors(t, vs, f, ran)
		})
	}
}

func runTreeKEMVectors(t *testing.T, vs []treekemVector, f impl, ran *testvectors.Counter) {
	prov := defaultcrypto.New()
	var cases, decrypts, roundTrips, skipped int
	for ci, v := range vs {
		cs, err := prov.CipherSuite(codec.CipherSuite(v.CipherSuite))
		if err != nil {
			t.Errorf("case %d: %v", ci, err)
			continue
		}
		var rt codec.RatchetTree
		if err := rt.Unmarshal(v.RatchetTree); err != nil {
			t.Fatalf("case %d: ratchet_tree: %v", ci, err)
		}
		tree, err := f.fromRT(cs, rt)
		if err != nil {
			t.Fatalf("case %d: tree: %v", ci, err)
		}
		ctx := contextFunc(codec.CipherSuite(v.CipherSuite), v.GroupID, v.Epoch, v.ConfirmedTranscriptHash)

		// Private states.
		keys := map[treemath.LeafIndex]*PrivateKeys{}
		signers := map[treemath.LeafIndex]providers.Signer{}
		for _, lp := range v.LeavesPrivate {
			l := treemath.LeafIndex(lp.Index)
			ln := tree.Leaf(l)
			if ln == nil {
				t.Fatalf("case %d: leaf %d is blank", ci, l)
			}
			k := NewPrivateKeys()
			k.Set(l.Node(), lp.EncryptionPriv, ln.EncryptionKey)
			for _, ps := range lp.PathSecrets {
				if err := k.SetPathSecret(cs, treemath.NodeIndex(ps.Node), ps.PathSecret); err != nil {
					t.Fatalf("case %d: %v", ci, err)
				}
			}
			// SetPathSecret records the derived public key; Check compares
			// it and the private key with the tree.
			if err := k.Check(cs, tree); err != nil {
				t.Fatalf("case %d leaf %d: private state inconsistent with the tree: %v", ci, l, err)
			}
			keys[l] = k
			s, err := cs.NewSigner(lp.SignaturePriv)
			if err != nil {
				t.Fatalf("case %d: %v", ci, err)
			}
			signers[l] = s
		}

		for ui, up := range v.UpdatePaths {
			sender := treemath.LeafIndex(up.Sender)
			var path codec.UpdatePath
			if err := path.Unmarshal(up.UpdatePath); err != nil {
				t.Fatalf("case %d path %d: %v", ci, ui, err)
			}
			var treeHash []byte
			for j, k := range keys {
				if j == sender {
					continue
				}
				staged := tree.stage()
				res, err := ApplyUpdatePath(staged, &ApplyParams{
					Suite: cs, Sender: sender, Path: &path, GroupID: v.GroupID,
					Self: j, Keys: k, Context: ctx,
				})
				if err != nil {
					t.Errorf("case %d path %d (sender %d) at leaf %d: %v", ci, ui, sender, j, err)
					continue
				}
				if !bytes.Equal(res.PathSecret, up.PathSecrets[j]) {
					t.Errorf("case %d path %d at leaf %d: path secret %x, want %x", ci, ui, j, res.PathSecret, up.PathSecrets[j])
				}
				if !bytes.Equal(res.CommitSecret, up.CommitSecret) {
					t.Errorf("case %d path %d at leaf %d: commit secret mismatch", ci, ui, j)
				}
				th, _ := staged.rootHash()
				if !bytes.Equal(th, up.TreeHashAfter) {
					t.Errorf("case %d path %d at leaf %d: tree hash after %x, want %x", ci, ui, j, th, up.TreeHashAfter)
				}
				if treeHash == nil {
					if err := staged.verifyParentHashes(); err != nil {
						t.Errorf("case %d path %d at leaf %d: %v", ci, ui, j, err)
					}
				}
				treeHash = th
				// Merging installs keys consistent with the new tree.
				mk := k.Clone()
				mk.Merge(res.Keys)
				mk.Prune(staged)
				if err := mk.Check(cs, staged); err != nil {
					t.Errorf("case %d path %d at leaf %d: merged keys: %v", ci, ui, j, err)
				}
				if _, _, ok := mk.Get(res.PathSecretNode); !ok {
					t.Errorf("case %d path %d at leaf %d: no key for node %d after merge", ci, ui, j, res.PathSecretNode)
				}
				decrypts++
			}
			_ = treeHash

			// Our own UpdatePath from the same sender, to every other leaf.
			signer, ok := signers[sender]
			if !ok {
				skipped++
				t.Logf("case %d path %d: no signature key for sender %d; round trip skipped", ci, ui, sender)
				continue
			}
			staged := tree.stage()
			cr, err := CreateUpdatePath(staged, &CreateParams{
				Suite: cs, Leaf: sender, LeafNode: tree.Leaf(sender), Signer: signer,
				GroupID: v.GroupID, Context: ctx,
			})
			if err != nil {
				t.Errorf("case %d path %d: create: %v", ci, ui, err)
				continue
			}
			wantTH, _ := staged.rootHash()
			if err := staged.verifyParentHashes(); err != nil {
				t.Errorf("case %d path %d: created tree: %v", ci, ui, err)
			}
			// The encoded path decodes to itself (a well-formed wire value).
			enc, err := cr.Path.Marshal()
			if err != nil {
				t.Fatalf("case %d: %v", ci, err)
			}
			var dec codec.UpdatePath
			if err := dec.Unmarshal(enc); err != nil {
				t.Fatalf("case %d: %v", ci, err)
			}
			for j, k := range keys {
				if j == sender {
					continue
				}
				st := tree.stage()
				res, err := ApplyUpdatePath(st, &ApplyParams{
					Suite: cs, Sender: sender, Path: &dec, GroupID: v.GroupID,
					Self: j, Keys: k, Context: ctx,
				})
				if err != nil {
					t.Errorf("case %d path %d: own path at leaf %d: %v", ci, ui, j, err)
					continue
				}
				if !bytes.Equal(res.CommitSecret, cr.CommitSecret) {
					t.Errorf("case %d path %d: own path at leaf %d: commit secret mismatch", ci, ui, j)
				}
				if ps, _, _ := cr.PathSecretFor(j); !bytes.Equal(ps, res.PathSecret) {
					t.Errorf("case %d path %d: own path at leaf %d: path secret mismatch", ci, ui, j)
				}
				if th, _ := st.rootHash(); !bytes.Equal(th, wantTH) {
					t.Errorf("case %d path %d: own path at leaf %d: tree hash mismatch", ci, ui, j)
				}
				roundTrips++
			}
		}
		cases++
		ran.Ran()
	}
	t.Logf("treekem.json (%s tree): %d cases passed across all suites, %d decryptions of vector paths, %d decryptions of our own paths, %d round trips skipped", f.name, cases, decrypts, roundTrips, skipped)
}
