package codec_test

import (
	"bytes"
	"sort"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
)

type hx = testvectors.HexBytes

// messagesCase is one case of messages.json (FORMAT.md, "Messages").
type messagesCase struct {
	MLSWelcome                     hx `json:"mls_welcome"`
	MLSGroupInfo                   hx `json:"mls_group_info"`
	MLSKeyPackage                  hx `json:"mls_key_package"`
	RatchetTree                    hx `json:"ratchet_tree"`
	GroupSecrets                   hx `json:"group_secrets"`
	AddProposal                    hx `json:"add_proposal"`
	UpdateProposal                 hx `json:"update_proposal"`
	RemoveProposal                 hx `json:"remove_proposal"`
	PreSharedKeyProposal           hx `json:"pre_shared_key_proposal"`
	ReInitProposal                 hx `json:"re_init_proposal"`
	ExternalInitProposal           hx `json:"external_init_proposal"`
	GroupContextExtensionsProposal hx `json:"group_context_extensions_proposal"`
	Commit                         hx `json:"commit"`
	PublicMessageApplication       hx `json:"public_message_application"`
	PublicMessageProposal          hx `json:"public_message_proposal"`
	PublicMessageCommit            hx `json:"public_message_commit"`
	PrivateMessage                 hx `json:"private_message"`
}

// codecValue is what every generated top-level type offers.
type codecValue interface {
	Unmarshal([]byte) error
	Marshal() ([]byte, error)
	Validate() error
}

// TestMessagesVectors decodes and re-encodes every field of every case of
// messages.json, checks the bytes are identical, and that the MLSMessage
// fields carry the wire format their name says.
func TestMessagesVectors(t *testing.T) {
	var cases []messagesCase
	testvectors.Load(t, "messages.json", &cases)
	ran := testvectors.Expect(t, "messages.json", len(cases))
	passed := map[string]int{}
	total := map[string]int{}
	for i, c := range cases {
		ran.Ran()
		fields := []struct {
			name   string
			data   []byte
			value  codecValue
			format codec.WireFormat // for MLSMessage fields
			ctype  codec.ContentType
		}{
			{"mls_welcome", c.MLSWelcome, &codec.MLSMessage{}, codec.WireFormatMLSWelcome, 0},
			{"mls_group_info", c.MLSGroupInfo, &codec.MLSMessage{}, codec.WireFormatMLSGroupInfo, 0},
			{"mls_key_package", c.MLSKeyPackage, &codec.MLSMessage{}, codec.WireFormatMLSKeyPackage, 0},
			{"ratchet_tree", c.RatchetTree, &codec.RatchetTree{}, 0, 0},
			{"group_secrets", c.GroupSecrets, &codec.GroupSecrets{}, 0, 0},
			{"add_proposal", c.AddProposal, &codec.Add{}, 0, 0},
			{"update_proposal", c.UpdateProposal, &codec.Update{}, 0, 0},
			{"remove_proposal", c.RemoveProposal, &codec.Remove{}, 0, 0},
			{"pre_shared_key_proposal", c.PreSharedKeyProposal, &codec.PreSharedKey{}, 0, 0},
			{"re_init_proposal", c.ReInitProposal, &codec.ReInit{}, 0, 0},
			{"external_init_proposal", c.ExternalInitProposal, &codec.ExternalInit{}, 0, 0},
			{"group_context_extensions_proposal", c.GroupContextExtensionsProposal, &codec.GroupContextExtensions{}, 0, 0},
			{"commit", c.Commit, &codec.Commit{}, 0, 0},
			{"public_message_application", c.PublicMessageApplication, &codec.MLSMessage{}, codec.WireFormatMLSPublicMessage, codec.ContentTypeApplication},
			{"public_message_proposal", c.PublicMessageProposal, &codec.MLSMessage{}, codec.WireFormatMLSPublicMessage, codec.ContentTypeProposal},
			{"public_message_commit", c.PublicMessageCommit, &codec.MLSMessage{}, codec.WireFormatMLSPublicMessage, codec.ContentTypeCommit},
			{"private_message", c.PrivateMessage, &codec.MLSMessage{}, codec.WireFormatMLSPrivateMessage, 0},
		}
		for _, f := range fields {
			total[f.name]++
			if len(f.data) == 0 {
				t.Errorf("case %d: %s is empty", i, f.name)
				continue
			}
			if err := f.value.Unmarshal(f.data); err != nil {
				t.Errorf("case %d: decoding %s: %v", i, f.name, err)
				continue
			}
			if err := f.value.Validate(); err != nil {
				t.Errorf("case %d: validating %s: %v", i, f.name, err)
				continue
			}
			out, err := f.value.Marshal()
			if err != nil {
				t.Errorf("case %d: encoding %s: %v", i, f.name, err)
				continue
			}
			if !bytes.Equal(out, f.data) {
				t.Errorf("case %d: %s re-encodes differently:\n got %x\nwant %x", i, f.name, out, f.data)
				continue
			}
			if m, ok := f.value.(*codec.MLSMessage); ok {
				if m.WireFormat != f.format {
					t.Errorf("case %d: %s has wire format %v, want %v", i, f.name, m.WireFormat, f.format)
					continue
				}
				if f.ctype != 0 && m.PublicMessage.Content.ContentType != f.ctype {
					t.Errorf("case %d: %s has content type %v, want %v", i, f.name, m.PublicMessage.Content.ContentType, f.ctype)
					continue
				}
			}
			passed[f.name]++
		}
	}
	names := make([]string, 0, len(total))
	for n := range total {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Logf("%-34s %d/%d cases passed", n, passed[n], total[n])
	}
}
