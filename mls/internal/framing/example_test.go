package framing_test

import (
	"bytes"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/framing"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// Example shows the flow the group logic follows for one epoch: a
// Protector per member built from the key schedule's secrets, signing and
// protecting on one side, unprotecting on the other.
func Example() {
	cs, _ := defaultcrypto.New().CipherSuite(1)
	nh := cs.HashSize()
	ctx := &codec.GroupContext{CipherSuite: 1, GroupID: []byte("group"), Epoch: 3,
		TreeHash: make([]byte, nh), ConfirmedTranscriptHash: make([]byte, nh)}
	// From the key schedule (§8): encryption_secret, sender_data_secret,
	// membership_key.
	encryptionSecret := bytes.Repeat([]byte{1}, nh)
	secrets := framing.EpochSecrets{SenderDataSecret: bytes.Repeat([]byte{2}, nh), MembershipKey: bytes.Repeat([]byte{3}, nh)}
	newProtector := func() *framing.Protector {
		tree, _ := secrettree.New(cs, encryptionSecret, 4, secrettree.DefaultConfig())
		p, _ := framing.NewProtector(cs, ctx, secrets, tree, framing.Options{Padding: framing.Padding{BlockSize: 32}})
		return p
	}
	alice, bob := newProtector(), newProtector()
	defer alice.Zero()
	defer bob.Zero()

	priv, pub, _ := cs.GenerateSignatureKeyPair(nil)
	signer, _ := cs.NewSigner(priv)
	// The tree lookup of §6.1: here leaf 0 is the only member with a key.
	keys := func(c *codec.FramedContent) ([]byte, error) {
		if c.Sender.SenderType == codec.SenderTypeMember && c.Sender.LeafIndex == 0 {
			return pub, nil
		}
		return nil, fmt.Errorf("blank leaf")
	}

	policy := framing.PureCiphertext
	content := &codec.FramedContent{GroupID: ctx.GroupID, Epoch: ctx.Epoch,
		Sender:      codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: 0},
		ContentType: codec.ContentTypeApplication, ApplicationData: []byte("hello")}
	ac, _ := alice.Sign(signer, policy.OutgoingWireFormat(content.ContentType), content)
	msg, _ := alice.ProtectPrivate(ac)
	wire, _ := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSPrivateMessage, PrivateMessage: msg}).Marshal()

	var in codec.MLSMessage
	_ = in.Unmarshal(wire)
	if err := policy.CheckIncoming(in.WireFormat, codec.SenderTypeMember, in.PrivateMessage.ContentType); err != nil {
		fmt.Println(err)
	}
	got, err := bob.UnprotectPrivate(in.PrivateMessage, keys)
	fmt.Printf("%s from leaf %d, err=%v\n", got.Content.ApplicationData, got.Content.Sender.LeafIndex, err)
	_, err = bob.UnprotectPrivate(in.PrivateMessage, keys)
	fmt.Println(err)
	// Output:
	// hello from leaf 0, err=<nil>
	// secrettree: generation already used (leaf 0, application ratchet, generation 0, next 1)
}
