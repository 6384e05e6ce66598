package state_test

import (
	"reflect"
	"testing"

	"github.com/mlskit/mlskit/mls/internal/state"
)

// TestGroupStateRoundTrip encodes a GroupState with every optional part
// present and decodes it back; a Bool other than 0 or 1 and trailing bytes
// are rejected.
func TestGroupStateRoundTrip(t *testing.T) {
	ep := state.EpochState{
		GroupContext: []byte{1, 2}, RatchetTree: []byte{3}, OwnLeaf: 7,
		PrivateKeys:           []state.NodePrivateKey{{Node: 14, PrivateKey: []byte{4}, PublicKey: []byte{5}}},
		Secrets:               state.KeyScheduleSecrets{InitSecret: []byte{6}},
		InterimTranscriptHash: []byte{8}, ConfirmationTag: []byte{9},
	}
	st := state.SecretTree{LeafCount: 8, Nodes: []state.NodeSecret{{Node: 3, Secret: []byte{1}}},
		Leaves: []state.LeafRatchets{{Leaf: 1, Handshake: state.SenderRatchet{Next: 2, Secret: []byte{2}, Kept: []state.KeptKey{{Generation: 1, Key: []byte{3}, Nonce: []byte{4}}}}}}}
	gs := state.GroupState{
		Current: ep, Active: state.BoolTrue,
		Config:          state.RuntimeConfig{PaddingSize: 16, UseRatchetTreeExtension: state.BoolTrue},
		ReInit:          &state.EncodedReInit{1},
		SignerPublicKey: []byte{2},
		Proposals:       []state.StoredProposal{{Proposal: []byte{1}, Ref: []byte{2}, Sender: []byte{3}, Own: state.BoolTrue}},
		PastEpochs:      []uint64{4, 3},
		ResumptionPsks:  []state.ResumptionPSK{{Epoch: 4, PSK: []byte{5}}},
		PendingCommit:   &state.PendingCommit{Next: ep, SecretTree: st, NewSignerPublicKey: []byte{6}},
	}
	b, err := gs.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var got state.GroupState
	if err := got.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gs, got) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, gs)
	}
	if err := got.Unmarshal(append(b, 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	// The Bool after SenderRatchet.next (4 bytes) must be 0 or 1.
	enc, err := (&state.SenderRatchet{Next: 1, Exhausted: state.BoolTrue}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	enc[4] = 2
	var d state.SenderRatchet
	if err := d.Unmarshal(enc); err == nil {
		t.Error("Bool 2 decoded")
	}
}
