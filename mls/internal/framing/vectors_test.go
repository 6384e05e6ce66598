package framing_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/mls/internal/framing"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

type hexBytes = testvectors.HexBytes

// protectionCase is one case of message-protection.json (FORMAT.md,
// "Message Protection").
type protectionCase struct {
	CipherSuite             codec.CipherSuite `json:"cipher_suite"`
	GroupID                 hexBytes          `json:"group_id"`
	Epoch                   uint64            `json:"epoch"`
	TreeHash                hexBytes          `json:"tree_hash"`
	ConfirmedTranscriptHash hexBytes          `json:"confirmed_transcript_hash"`
	SignaturePriv           hexBytes          `json:"signature_priv"`
	SignaturePub            hexBytes          `json:"signature_pub"`
	EncryptionSecret        hexBytes          `json:"encryption_secret"`
	SenderDataSecret        hexBytes          `json:"sender_data_secret"`
	MembershipKey           hexBytes          `json:"membership_key"`
	Proposal                hexBytes          `json:"proposal"`
	ProposalPub             hexBytes          `json:"proposal_pub"`
	ProposalPriv            hexBytes          `json:"proposal_priv"`
	Commit                  hexBytes          `json:"commit"`
	CommitPub               hexBytes          `json:"commit_pub"`
	CommitPriv              hexBytes          `json:"commit_priv"`
	Application             hexBytes          `json:"application"`
	ApplicationPriv         hexBytes          `json:"application_priv"`
}

// fixture is the state of one vector case: suite, GroupContext, keys.
type fixture struct {
	c      *protectionCase
	cs     providers.CipherSuite
	ctx    *codec.GroupContext
	signer providers.Signer
	keys   framing.SignatureKeyFunc
}

func newFixture(t testing.TB, c *protectionCase) *fixture {
	t.Helper()
	cs, err := defaultcrypto.New().CipherSuite(c.CipherSuite)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := cs.NewSigner(c.SignaturePriv)
	if err != nil && c.CipherSuite == 5 && len(c.SignaturePriv) < 66 {
		// The P-521 case of message-protection.json writes the ECDSA scalar
		// without its leading zero byte (65 bytes); the provider takes the
		// fixed-length SEC1 encoding of 66 bytes (providers package doc).
		priv := append(make([]byte, 66-len(c.SignaturePriv)), c.SignaturePriv...)
		t.Logf("suite 5: signature_priv of %d bytes left-padded to 66", len(c.SignaturePriv))
		signer, err = cs.NewSigner(priv)
	}
	if err != nil {
		t.Fatal(err)
	}
	pub := []byte(c.SignaturePub)
	return &fixture{
		c:  c,
		cs: cs,
		ctx: &codec.GroupContext{
			CipherSuite:             c.CipherSuite,
			GroupID:                 c.GroupID,
			Epoch:                   c.Epoch,
			TreeHash:                c.TreeHash,
			ConfirmedTranscriptHash: c.ConfirmedTranscriptHash,
		},
		signer: signer,
		keys: func(content *codec.FramedContent) ([]byte, error) {
			if content.Sender.SenderType != codec.SenderTypeMember || content.Sender.LeafIndex != 1 {
				return nil, fmt.Errorf("no member at %+v", content.Sender)
			}
			return pub, nil
		},
	}
}

// protector returns a Protector with a fresh secret tree of 2 leaves.
func (f *fixture) protector(t testing.TB, opts framing.Options) *framing.Protector {
	t.Helper()
	tree, err := secrettree.New(f.cs, f.c.EncryptionSecret, 2, secrettree.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	p, err := framing.NewProtector(f.cs, f.ctx, framing.EpochSecrets{SenderDataSecret: f.c.SenderDataSecret, MembershipKey: f.c.MembershipKey}, tree, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// content returns the FramedContent the sender (leaf 1) sends for raw.
func (f *fixture) content(t testing.TB, ct codec.ContentType, raw []byte) *codec.FramedContent {
	t.Helper()
	c := &codec.FramedContent{
		GroupID:     f.c.GroupID,
		Epoch:       f.c.Epoch,
		Sender:      codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: 1},
		ContentType: ct,
	}
	switch ct {
	case codec.ContentTypeApplication:
		c.ApplicationData = raw
	case codec.ContentTypeProposal:
		c.Proposal = new(codec.Proposal)
		if err := c.Proposal.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
	case codec.ContentTypeCommit:
		c.Commit = new(codec.Commit)
		if err := c.Commit.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// rawContent returns the encoded proposal or commit, or the application
// data, of a FramedContent.
func rawContent(t testing.TB, c *codec.FramedContent) []byte {
	t.Helper()
	switch c.ContentType {
	case codec.ContentTypeProposal:
		b, err := c.Proposal.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	case codec.ContentTypeCommit:
		b, err := c.Commit.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return c.ApplicationData
}

func decodeMessage(t testing.TB, b []byte, wf codec.WireFormat) *codec.MLSMessage {
	t.Helper()
	var m codec.MLSMessage
	if err := m.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if m.WireFormat != wf {
		t.Fatalf("wire format %v, want %v", m.WireFormat, wf)
	}
	return &m
}

// reencode round-trips an MLSMessage through its wire encoding.
func reencode(t testing.TB, m *codec.MLSMessage) *codec.MLSMessage {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var out codec.MLSMessage
	if err := out.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	return &out
}

// TestMessageProtectionVectors runs every case of message-protection.json
// as FORMAT.md describes: unprotect the vector's public and private
// messages and compare contents; protect the raw values as public and
// private messages and unprotect them again; and check that an application
// message cannot be protected as a PublicMessage.
func TestMessageProtectionVectors(t *testing.T) {
	var cases []protectionCase
	testvectors.Load(t, "message-protection.json", &cases)
	ran := testvectors.Expect(t, "message-protection.json", len(cases))
	passed, checks := 0, 0
	for i := range cases {
		c := &cases[i]
		t.Run(fmt.Sprintf("suite%d", c.CipherSuite), func(t *testing.T) {
			f := newFixture(t, c)
			for _, item := range []struct {
				name      string
				ct        codec.ContentType
				raw, pub  []byte
				priv      []byte
				publicErr error
			}{
				{"proposal", codec.ContentTypeProposal, c.Proposal, c.ProposalPub, c.ProposalPriv, nil},
				{"commit", codec.ContentTypeCommit, c.Commit, c.CommitPub, c.CommitPriv, nil},
				{"application", codec.ContentTypeApplication, c.Application, nil, c.ApplicationPriv, framing.ErrApplicationInPublic},
			} {
				t.Run(item.name, func(t *testing.T) {
					var confirmationTag []byte
					// The vector's PublicMessage.
					if item.pub != nil {
						m := decodeMessage(t, item.pub, codec.WireFormatMLSPublicMessage)
						ac, err := f.protector(t, framing.Options{}).UnprotectPublic(m.PublicMessage, f.keys)
						if err != nil {
							t.Fatalf("UnprotectPublic: %v", err)
						}
						if got := rawContent(t, &ac.Content); !bytes.Equal(got, item.raw) {
							t.Errorf("public content = %x, want %x", got, item.raw)
						}
						confirmationTag = ac.Auth.ConfirmationTag
						checks++
					}
					// Our own PublicMessage.
					{
						p := f.protector(t, framing.Options{})
						ac, err := p.Sign(f.signer, codec.WireFormatMLSPublicMessage, f.content(t, item.ct, item.raw))
						if err != nil {
							t.Fatal(err)
						}
						ac.Auth.ConfirmationTag = confirmationTag
						pm, err := p.ProtectPublic(ac)
						if item.publicErr != nil {
							if !errors.Is(err, item.publicErr) {
								t.Fatalf("ProtectPublic of %s: %v, want %v", item.name, err, item.publicErr)
							}
						} else {
							if err != nil {
								t.Fatalf("ProtectPublic: %v", err)
							}
							m := reencode(t, &codec.MLSMessage{WireFormat: codec.WireFormatMLSPublicMessage, PublicMessage: pm})
							got, err := f.protector(t, framing.Options{}).UnprotectPublic(m.PublicMessage, f.keys)
							if err != nil {
								t.Fatalf("UnprotectPublic(own): %v", err)
							}
							if !bytes.Equal(rawContent(t, &got.Content), item.raw) {
								t.Errorf("own public message content differs")
							}
						}
						checks++
					}
					// The vector's PrivateMessage.
					{
						m := decodeMessage(t, item.priv, codec.WireFormatMLSPrivateMessage)
						ac, err := f.protector(t, framing.Options{}).UnprotectPrivate(m.PrivateMessage, f.keys)
						if err != nil {
							t.Fatalf("UnprotectPrivate: %v", err)
						}
						if got := rawContent(t, &ac.Content); !bytes.Equal(got, item.raw) {
							t.Errorf("private content = %x, want %x", got, item.raw)
						}
						if ac.Content.Sender.LeafIndex != 1 {
							t.Errorf("sender leaf %d, want 1", ac.Content.Sender.LeafIndex)
						}
						if item.ct == codec.ContentTypeCommit && confirmationTag != nil && !bytes.Equal(ac.Auth.ConfirmationTag, confirmationTag) {
							t.Errorf("confirmation tags of public and private commit differ")
						}
						checks++
					}
					// Our own PrivateMessage, with and without padding.
					for _, pad := range []int{0, 64} {
						sender := f.protector(t, framing.Options{Padding: framing.Padding{BlockSize: pad}})
						ac, err := sender.Sign(f.signer, codec.WireFormatMLSPrivateMessage, f.content(t, item.ct, item.raw))
						if err != nil {
							t.Fatal(err)
						}
						ac.Auth.ConfirmationTag = confirmationTag
						if item.ct == codec.ContentTypeCommit && confirmationTag == nil {
							ac.Auth.ConfirmationTag = make([]byte, f.cs.HashSize())
						}
						pm, err := sender.ProtectPrivate(ac)
						if err != nil {
							t.Fatalf("ProtectPrivate: %v", err)
						}
						if pad > 0 && len(pm.Ciphertext)%pad != 0 {
							t.Errorf("ciphertext of %d bytes not padded to a multiple of %d", len(pm.Ciphertext), pad)
						}
						m := reencode(t, &codec.MLSMessage{WireFormat: codec.WireFormatMLSPrivateMessage, PrivateMessage: pm})
						got, err := f.protector(t, framing.Options{}).UnprotectPrivate(m.PrivateMessage, f.keys)
						if err != nil {
							t.Fatalf("UnprotectPrivate(own): %v", err)
						}
						if !bytes.Equal(rawContent(t, &got.Content), item.raw) {
							t.Errorf("own private message content differs")
						}
						checks++
					}
				})
			}
			if !t.Failed() {
				passed++
				ran.Ran()
			}
		})
	}
	t.Logf("message-protection.json: %d of %d cases passed (%d checks), 0 skipped", passed, len(cases), checks)
}
