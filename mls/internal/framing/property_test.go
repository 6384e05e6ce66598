package framing_test

import (
	"bytes"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/mls/internal/framing"
)

// TestMutatedMessagesProperty: any change to the bytes of a protected
// message (private or public) is refused with an error, never a panic, and
// leaves the receiver able to process the genuine message afterwards.
func TestMutatedMessagesProperty(t *testing.T) {
	forEachSuite(t, func(t *testing.T, f *fixture) {
		params := testseed.Gopter(t)
		params.MinSuccessfulTests = 100
		if testing.Short() {
			params.MinSuccessfulTests = 20
		}
		sender := f.protector(t, framing.Options{Padding: framing.Padding{BlockSize: 16}})
		var privWire, pubWire [][]byte
		for _, ct := range []codec.ContentType{codec.ContentTypeApplication, codec.ContentTypeProposal, codec.ContentTypeCommit} {
			raw := []byte(f.c.Application)
			if ct == codec.ContentTypeProposal {
				raw = f.c.Proposal
			} else if ct == codec.ContentTypeCommit {
				raw = f.c.Commit
			}
			ac, err := sender.Sign(f.signer, codec.WireFormatMLSPrivateMessage, f.content(t, ct, raw))
			if err != nil {
				t.Fatal(err)
			}
			if ct == codec.ContentTypeCommit {
				ac.Auth.ConfirmationTag = make([]byte, f.cs.HashSize())
			}
			pm, err := sender.ProtectPrivate(ac)
			if err != nil {
				t.Fatal(err)
			}
			b, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSPrivateMessage, PrivateMessage: pm}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			privWire = append(privWire, b)
			if ct == codec.ContentTypeApplication {
				continue
			}
			ac, err = sender.Sign(f.signer, codec.WireFormatMLSPublicMessage, f.content(t, ct, raw))
			if err != nil {
				t.Fatal(err)
			}
			if ct == codec.ContentTypeCommit {
				ac.Auth.ConfirmationTag = make([]byte, f.cs.HashSize())
			}
			pub, err := sender.ProtectPublic(ac)
			if err != nil {
				t.Fatal(err)
			}
			b, err = (&codec.MLSMessage{WireFormat: codec.WireFormatMLSPublicMessage, PublicMessage: pub}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			pubWire = append(pubWire, b)
		}
		recv := f.protector(t, framing.Options{})
		all := append(append([][]byte{}, privWire...), pubWire...)
		process := func(b []byte) (bool, error) {
			var m codec.MLSMessage
			if err := m.Unmarshal(b); err != nil {
				return false, err
			}
			var err error
			if m.PrivateMessage != nil {
				_, err = recv.UnprotectPrivate(m.PrivateMessage, f.keys)
			} else {
				_, err = recv.UnprotectPublic(m.PublicMessage, f.keys)
			}
			return true, err
		}
		decodedCount := 0
		props := gopter.NewProperties(params)
		props.Property("mutations are refused", prop.ForAll(
			func(which, pos int, x byte, truncate bool) bool {
				orig := all[which%len(all)]
				b := bytes.Clone(orig)
				if truncate {
					b = b[:pos%len(b)]
				} else {
					b[pos%len(b)] ^= x
				}
				decoded, err := process(b)
				if decoded {
					decodedCount++
				}
				if err == nil {
					t.Logf("mutated message accepted (decoded %v)", decoded)
					return false
				}
				return true
			},
			gen.IntRange(0, 1000), gen.IntRange(0, 1<<20), gen.UInt8Range(1, 255), gen.Bool(),
		))
		props.TestingRun(t)
		t.Logf("%d mutated messages decoded and were refused by unprotection", decodedCount)
		if decodedCount == 0 {
			t.Errorf("no mutated message got past decoding")
		}
		// The receiver was not changed by any of it.
		for i, b := range all {
			if _, err := process(b); err != nil {
				t.Errorf("genuine message %d after mutations: %v", i, err)
			}
		}
	})
}
