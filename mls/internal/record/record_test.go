package record_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/gen"
	"github.com/mlskit/mlskit/mls/internal/record"
)

// TestGroupStateRoundTrip encodes a GroupState with every optional part
// present and decodes it back; a Bool other than 0 or 1 and trailing bytes
// are rejected.
func TestGroupStateRoundTrip(t *testing.T) {
	ep := record.EpochState{
		GroupContext: []byte{1, 2}, RatchetTree: []byte{3}, OwnLeaf: 7,
		PrivateKeys:           []record.NodePrivateKey{{Node: 14, PrivateKey: []byte{4}, PublicKey: []byte{5}}},
		Secrets:               record.KeyScheduleSecrets{InitSecret: []byte{6}},
		InterimTranscriptHash: []byte{8}, ConfirmationTag: []byte{9},
	}
	st := record.SecretTree{LeafCount: 8, Nodes: []record.NodeSecret{{Node: 3, Secret: []byte{1}}},
		Leaves: []record.LeafRatchets{{Leaf: 1, Handshake: record.SenderRatchet{Next: 2, Secret: []byte{2}, Kept: []record.KeptKey{{Generation: 1, Key: []byte{3}, Nonce: []byte{4}}}}}}}
	gs := record.GroupState{
		Current: ep, Active: record.BoolTrue,
		Config:          record.RuntimeConfig{PaddingSize: 16, UseRatchetTreeExtension: record.BoolTrue},
		ReInit:          &record.EncodedReInit{1},
		SignerPublicKey: []byte{2},
		Proposals:       []record.StoredProposal{{Proposal: []byte{1}, Ref: []byte{2}, Sender: []byte{3}, Own: record.BoolTrue}},
		PastEpochs:      []uint64{4, 3},
		ResumptionPsks:  []record.ResumptionPSK{{Epoch: 4, PSK: []byte{5}}},
		PendingCommit: &record.PendingCommit{Next: ep, SecretTree: st, NewSignerPublicKey: []byte{6},
			Tree: record.TreeDelta{LeafCount: 16, Changes: []record.TreeChange{{Node: 3, Value: []byte{1}}, {Node: 9}}}},
	}
	b, err := gs.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var got record.GroupState
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
	enc, err := (&record.SenderRatchet{Next: 1, Exhausted: record.BoolTrue}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	enc[4] = 2
	var d record.SenderRatchet
	if err := d.Unmarshal(enc); err == nil {
		t.Error("Bool 2 decoded")
	}
}

// TestRatchetTreeRecordLayout checks both arms of a RatchetTreeRecord
// against bytes written out by hand, and that an unknown type, a truncated
// record and trailing bytes are refused.
func TestRatchetTreeRecordLayout(t *testing.T) {
	for _, c := range []struct {
		name string
		rec  record.RatchetTreeRecord
		want string
	}{
		{"whole", record.RatchetTreeRecord{Type: record.TreeRecordTypeWhole, RatchetTree: []byte{0xaa, 0xbb}}, "01" + "02aabb"},
		{"delta", record.RatchetTreeRecord{Type: record.TreeRecordTypeDelta, Delta: &record.TreeDelta{LeafCount: 8,
			Changes: []record.TreeChange{{Node: 3, Value: []byte{1}}, {Node: 5}}}},
			"02" + "00000008" + "0b" + "00000003" + "0101" + "00000005" + "00"},
	} {
		b, err := c.rec.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if hex.EncodeToString(b) != c.want {
			t.Errorf("%s: %x, want %s", c.name, b, c.want)
		}
		var back record.RatchetTreeRecord
		if err := back.Unmarshal(b); err != nil || !reflect.DeepEqual(back, c.rec) {
			t.Errorf("%s: decoded %+v, %v", c.name, back, err)
		}
		if err := back.Unmarshal(append(bytes.Clone(b), 0)); err == nil {
			t.Errorf("%s: trailing byte accepted", c.name)
		}
		for n := range len(b) {
			if err := back.Unmarshal(b[:n]); err == nil {
				t.Errorf("%s: truncated to %d bytes accepted", c.name, n)
			}
		}
		bad := bytes.Clone(b)
		bad[0] = 3
		if err := back.Unmarshal(bad); err == nil {
			t.Errorf("%s: record type 3 accepted", c.name)
		}
	}
}

// TestEncodedReInitLayout checks that the ReInit of a GroupState is a plain
// MLS vector inside the optional (the bytes the former one-field struct
// EncodedReInit gave): presence 1, length, the codec.ReInit encoding.
func TestEncodedReInitLayout(t *testing.T) {
	var gs record.GroupState
	none, err := gs.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	gs.ReInit = &record.EncodedReInit{7, 8}
	some, err := gs.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// An empty GroupState's optional reinit is its one 0 byte that becomes
	// 1 2 7 8.
	if len(some) != len(none)+3 || !bytes.Contains(some, []byte{1, 2, 7, 8}) {
		t.Fatalf("GroupState with ReInit 0708: %x (without: %x)", some, none)
	}
	var back record.GroupState
	if err := back.Unmarshal(some); err != nil || back.ReInit == nil || !bytes.Equal(*back.ReInit, []byte{7, 8}) {
		t.Fatalf("decoded ReInit %v, %v", back.ReInit, err)
	}
}

// TestRecordsRoundTrip round-trips each key-material record of
// schema/records.tls against bytes written out by hand.
func TestRecordsRoundTrip(t *testing.T) {
	type rec interface {
		Marshal() ([]byte, error)
		Unmarshal([]byte) error
	}
	for _, c := range []struct {
		name     string
		v, empty rec
		want     string
	}{
		{"EncryptionKeyPairRecord", &record.EncryptionKeyPairRecord{Version: 1, CipherSuite: 3, PrivateKey: []byte{0xaa, 0xbb}},
			&record.EncryptionKeyPairRecord{}, "0001" + "0003" + "02aabb"},
		{"SignatureKeyPairRecord", &record.SignatureKeyPairRecord{Version: 1, CipherSuite: 7, PrivateKey: []byte{0xcc}},
			&record.SignatureKeyPairRecord{}, "0001" + "0007" + "01cc"},
		{"KeyPackageBundleRecord", &record.KeyPackageBundleRecord{Version: 2, KeyPackage: []byte{1, 2, 3}, Ref: []byte{4}, InitPrivateKey: []byte{5}, EncryptionPrivateKey: []byte{6, 7}},
			&record.KeyPackageBundleRecord{}, "0002" + "03010203" + "0104" + "0105" + "020607"},
		{"ExternalPSKRecord", &record.ExternalPSKRecord{Version: 1, Secret: []byte{9, 9, 9}},
			&record.ExternalPSKRecord{}, "0001" + "03090909"},
	} {
		got, err := c.v.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if hex.EncodeToString(got) != c.want {
			t.Errorf("%s: encoded %x, want %s", c.name, got, c.want)
		}
		if err := c.empty.Unmarshal(got); err != nil || !reflect.DeepEqual(c.empty, c.v) {
			t.Errorf("%s: decoded %+v, %v", c.name, c.empty, err)
		}
		for n := range len(got) {
			if err := c.empty.Unmarshal(got[:n]); !errors.Is(err, codec.ErrTruncated) {
				t.Errorf("%s truncated to %d bytes: %v, want ErrTruncated", c.name, n, err)
			}
		}
		if err := c.empty.Unmarshal(append(got, 0)); !errors.Is(err, codec.ErrTrailingData) {
			t.Errorf("%s with a trailing byte: %v, want ErrTrailingData", c.name, err)
		}
	}
}

// TestCommittedRecordsAreCurrent regenerates record_gen.go from the schemas
// named by the go:generate line and compares it with the committed file.
func TestCommittedRecordsAreCurrent(t *testing.T) {
	var files []*gen.File
	for _, p := range []string{"../../../schema/state.tls", "../../../schema/records.tls"} {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := gen.Parse(p, string(src))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	s, err := gen.Resolve(files...)
	if err != nil {
		t.Fatal(err)
	}
	code, err := gen.Generate(s, gen.Options{Package: "record", PkgPath: "github.com/mlskit/mlskit/mls/internal/record"})
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("record_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(code, committed) {
		t.Fatal("record_gen.go is stale: run go generate in mls/internal/record")
	}
}
