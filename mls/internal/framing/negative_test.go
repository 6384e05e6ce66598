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
)

// forEachSuite runs fn with a fixture for every case (one per suite) of
// message-protection.json.
func forEachSuite(t *testing.T, fn func(t *testing.T, f *fixture)) {
	var cases []protectionCase
	testvectors.Load(t, "message-protection.json", &cases)
	ran := testvectors.Expect(t, "message-protection.json", len(cases))
	for i := range cases {
		ran.Ran()
		c := &cases[i]
		t.Run(fmt.Sprintf("suite%d", c.CipherSuite), func(t *testing.T) { fn(t, newFixture(t, c)) })
	}
}

func clone[T any](v *T) *T { c := *v; return &c }

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// sendPrivate signs and protects an application message (or raw handshake
// content) from leaf 1.
func (f *fixture) sendPrivate(t *testing.T, p *framing.Protector, data []byte) *codec.PrivateMessage {
	t.Helper()
	ac, err := p.Sign(f.signer, codec.WireFormatMLSPrivateMessage, f.content(t, codec.ContentTypeApplication, data))
	if err != nil {
		t.Fatal(err)
	}
	pm, err := p.ProtectPrivate(ac)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

func wantErr(t *testing.T, what string, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %v", what, targets)
		return
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Errorf("%s: error %q is not %v", what, err, target)
		}
	}
}

func TestPrivateMessageNegative(t *testing.T) {
	forEachSuite(t, func(t *testing.T, f *fixture) {
		sender := f.protector(t, framing.Options{Padding: framing.Padding{BlockSize: 32}})
		recv := f.protector(t, framing.Options{})
		data := bytes.Repeat([]byte{0xab}, 100)
		pm := f.sendPrivate(t, sender, data)

		// Wrong group and epoch (ValSem002/003).
		bad := clone(pm)
		bad.Epoch++
		_, err := recv.UnprotectPrivate(bad, f.keys)
		wantErr(t, "wrong epoch", err, framing.ErrWrongEpoch)
		bad = clone(pm)
		bad.GroupID = append(bytes.Clone(pm.GroupID), 0)
		_, err = recv.UnprotectPrivate(bad, f.keys)
		wantErr(t, "wrong group", err, framing.ErrWrongGroup)
		ctx2 := *f.ctx
		ctx2.Epoch++
		other, err := framing.NewProtector(f.cs, &ctx2, framing.EpochSecrets{SenderDataSecret: f.c.SenderDataSecret, MembershipKey: f.c.MembershipKey}, f.protector(t, framing.Options{}).Tree(), framing.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = other.UnprotectPrivate(pm, f.keys)
		wantErr(t, "receiver in another epoch", err, framing.ErrWrongEpoch)

		// Tampering: the end of the ciphertext (content AEAD), its sample
		// (which changes the sender data key), the sender data, the AAD.
		bad = clone(pm)
		bad.Ciphertext = flip(pm.Ciphertext, len(pm.Ciphertext)-1)
		_, err = recv.UnprotectPrivate(bad, f.keys)
		wantErr(t, "tampered ciphertext", err, framing.ErrContentDecryption, providers.ErrDecryption)
		bad = clone(pm)
		bad.Ciphertext = flip(pm.Ciphertext, 0)
		_, err = recv.UnprotectPrivate(bad, f.keys)
		wantErr(t, "tampered ciphertext sample", err, framing.ErrSenderDataDecryption)
		bad = clone(pm)
		bad.EncryptedSenderData = flip(pm.EncryptedSenderData, 3)
		_, err = recv.UnprotectPrivate(bad, f.keys)
		wantErr(t, "tampered sender data", err, framing.ErrSenderDataDecryption, providers.ErrDecryption)
		bad = clone(pm)
		bad.AuthenticatedData = []byte("x")
		_, err = recv.UnprotectPrivate(bad, f.keys)
		wantErr(t, "tampered authenticated_data", err, framing.ErrContentDecryption)
		bad = clone(pm)
		bad.ContentType = codec.ContentTypeProposal
		_, err = recv.UnprotectPrivate(bad, f.keys)
		wantErr(t, "tampered content type", err, framing.ErrSenderDataDecryption)

		// Unknown sender (a blank leaf, §6.3.2).
		_, err = recv.UnprotectPrivate(pm, func(*codec.FramedContent) ([]byte, error) { return nil, errors.New("blank leaf") })
		wantErr(t, "blank sender leaf", err, framing.ErrUnknownSender)

		// None of this changed the receiver: the genuine message decrypts.
		ac, err := recv.UnprotectPrivate(pm, f.keys)
		if err != nil {
			t.Fatalf("genuine message after failed attempts: %v", err)
		}
		if !bytes.Equal(ac.Content.ApplicationData, data) {
			t.Errorf("application data differs")
		}
		// Replay: the generation was used (§9.2).
		_, err = recv.UnprotectPrivate(pm, f.keys)
		wantErr(t, "replayed message", err, secrettree.ErrGenerationReused)
		var ge *secrettree.GenerationError
		if !errors.As(err, &ge) || ge.Generation != 0 || ge.Leaf != 1 {
			t.Errorf("replay: GenerationError %+v", ge)
		}

		// Bad signature: refused, and the generation stays available for a
		// genuine message (nothing committed).
		ac2, err := sender.Sign(f.signer, codec.WireFormatMLSPrivateMessage, f.content(t, codec.ContentTypeApplication, data))
		if err != nil {
			t.Fatal(err)
		}
		ac2.Auth.Signature = flip(ac2.Auth.Signature, 5)
		pmBadSig, err := sender.ProtectPrivate(ac2)
		if err != nil {
			t.Fatal(err)
		}
		_, err = recv.UnprotectPrivate(pmBadSig, f.keys)
		wantErr(t, "bad signature", err, framing.ErrSignature)
		_, err = recv.UnprotectPrivate(pmBadSig, f.keys)
		wantErr(t, "bad signature again (not a reuse error)", err, framing.ErrSignature)

		// Non-zero padding (§6.3.1).
		acPad, err := sender.Sign(f.signer, codec.WireFormatMLSPrivateMessage, f.content(t, codec.ContentTypeApplication, data))
		if err != nil {
			t.Fatal(err)
		}
		// The last padding byte is spoiled; if a length happens to need no
		// padding, the message is genuine and a longer one is tried.
		spoiled := false
		for try := 0; try < 3 && !spoiled; try++ {
			pmPad, err := framing.ProtectPrivateBadPadding(sender, acPad)
			if err != nil {
				t.Fatal(err)
			}
			_, err = recv.UnprotectPrivate(pmPad, f.keys)
			if err == nil {
				acPad.Content.ApplicationData = append(acPad.Content.ApplicationData, 0)
				continue
			}
			wantErr(t, "non-zero padding", err, framing.ErrMalformedContent, codec.ErrNonZeroPadding)
			spoiled = true
		}
		if !spoiled {
			t.Errorf("could not produce a message with padding")
		}

		// Generation beyond the maximum forward distance (1000 by default).
		for i := 0; i < 1001; i++ {
			if _, err := sender.Tree().Next(1, secrettree.Application); err != nil {
				t.Fatal(err)
			}
		}
		far := f.sendPrivate(t, sender, data)
		_, err = recv.UnprotectPrivate(far, f.keys)
		wantErr(t, "generation beyond forward distance", err, secrettree.ErrGenerationTooFar)

		// Too old: generations 0..6 of the handshake... application ratchet of
		// a fresh pair; receive 6 first, then 0 falls out of a window of 5.
		s2, r2 := f.protector(t, framing.Options{}), f.protector(t, framing.Options{})
		var msgs []*codec.PrivateMessage
		for i := 0; i < 7; i++ {
			msgs = append(msgs, f.sendPrivate(t, s2, data))
		}
		if _, err := r2.UnprotectPrivate(msgs[6], f.keys); err != nil {
			t.Fatal(err)
		}
		_, err = r2.UnprotectPrivate(msgs[0], f.keys)
		wantErr(t, "generation too old", err, secrettree.ErrGenerationTooOld)
		for _, i := range []int{3, 1, 5, 2, 4} {
			if _, err := r2.UnprotectPrivate(msgs[i], f.keys); err != nil {
				t.Errorf("out-of-order generation %d: %v", i, err)
			}
		}

		// Sender leaf outside the receiver's tree.
		bigTree, err := secrettree.New(f.cs, f.c.EncryptionSecret, 8, secrettree.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		s8, err := framing.NewProtector(f.cs, f.ctx, framing.EpochSecrets{SenderDataSecret: f.c.SenderDataSecret}, bigTree, framing.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c5 := f.content(t, codec.ContentTypeApplication, data)
		c5.Sender.LeafIndex = 5
		ac5, err := s8.Sign(f.signer, codec.WireFormatMLSPrivateMessage, c5)
		if err != nil {
			t.Fatal(err)
		}
		pm5, err := s8.ProtectPrivate(ac5)
		if err != nil {
			t.Fatal(err)
		}
		_, err = recv.UnprotectPrivate(pm5, f.keys)
		wantErr(t, "sender leaf out of range", err, secrettree.ErrLeafOutOfRange)

		// Sender-side refusals.
		acPub, err := sender.Sign(f.signer, codec.WireFormatMLSPublicMessage, f.content(t, codec.ContentTypeApplication, data))
		if err != nil {
			t.Fatal(err)
		}
		_, err = sender.ProtectPrivate(acPub)
		wantErr(t, "content signed for public, sent private", err, framing.ErrWireFormat)
		ext := f.content(t, codec.ContentTypeApplication, data)
		ext.Sender = codec.Sender{SenderType: codec.SenderTypeNewMemberProposal}
		acExt, err := sender.Sign(f.signer, codec.WireFormatMLSPrivateMessage, ext)
		if err != nil {
			t.Fatal(err)
		}
		_, err = sender.ProtectPrivate(acExt)
		wantErr(t, "non-member sender in PrivateMessage", err, framing.ErrSenderType)
		wrongEpoch := f.content(t, codec.ContentTypeApplication, data)
		wrongEpoch.Epoch++
		_, err = sender.Sign(f.signer, codec.WireFormatMLSPrivateMessage, wrongEpoch)
		wantErr(t, "signing content of another epoch", err, framing.ErrWrongEpoch)
	})
}

func TestPublicMessageNegative(t *testing.T) {
	forEachSuite(t, func(t *testing.T, f *fixture) {
		p := f.protector(t, framing.Options{})
		ac, err := p.Sign(f.signer, codec.WireFormatMLSPublicMessage, f.content(t, codec.ContentTypeProposal, f.c.Proposal))
		if err != nil {
			t.Fatal(err)
		}
		pm, err := p.ProtectPublic(ac)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.UnprotectPublic(pm, f.keys); err != nil {
			t.Fatalf("genuine: %v", err)
		}

		bad := clone(pm)
		bad.MembershipTag = flip(pm.MembershipTag, 0)
		_, err = p.UnprotectPublic(bad, f.keys)
		wantErr(t, "wrong membership tag", err, framing.ErrMembershipTag)
		bad = clone(pm)
		bad.MembershipTag = nil
		_, err = p.UnprotectPublic(bad, f.keys)
		wantErr(t, "missing membership tag", err, framing.ErrMembershipTag)
		bad = clone(pm)
		bad.Content.AuthenticatedData = []byte("x")
		_, err = p.UnprotectPublic(bad, f.keys)
		wantErr(t, "tampered content", err, framing.ErrMembershipTag)

		// A bad signature under a valid membership tag.
		acBad := clone(ac)
		acBad.Auth.Signature = flip(ac.Auth.Signature, 1)
		pmBad, err := p.ProtectPublic(acBad)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.UnprotectPublic(pmBad, f.keys)
		wantErr(t, "bad signature", err, framing.ErrSignature)
		// Wrong key.
		_, err = p.UnprotectPublic(pm, func(*codec.FramedContent) ([]byte, error) {
			_, pub, err := f.cs.GenerateSignatureKeyPair(nil)
			return pub, err
		})
		wantErr(t, "signature under another key", err, framing.ErrSignature)
		_, err = p.UnprotectPublic(pm, func(*codec.FramedContent) ([]byte, error) { return nil, errors.New("no such member") })
		wantErr(t, "unknown sender", err, framing.ErrUnknownSender)

		// Wrong epoch and group.
		bad = clone(pm)
		bad.Content.Epoch--
		_, err = p.UnprotectPublic(bad, f.keys)
		wantErr(t, "wrong epoch", err, framing.ErrWrongEpoch)
		bad = clone(pm)
		bad.Content.GroupID = []byte("another group")
		_, err = p.UnprotectPublic(bad, f.keys)
		wantErr(t, "wrong group", err, framing.ErrWrongGroup)

		// The signature covers the wire format: a private-signed content
		// cannot be sent as public, and vice versa.
		acPriv, err := p.Sign(f.signer, codec.WireFormatMLSPrivateMessage, f.content(t, codec.ContentTypeProposal, f.c.Proposal))
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.ProtectPublic(acPriv)
		wantErr(t, "private-signed content as public", err, framing.ErrWireFormat)

		// Application data in a PublicMessage is refused both ways.
		app := clone(pm)
		app.Content.ContentType = codec.ContentTypeApplication
		app.Content.Proposal = nil
		app.Content.ApplicationData = []byte("hi")
		_, err = p.UnprotectPublic(app, f.keys)
		wantErr(t, "application in PublicMessage", err, framing.ErrApplicationInPublic)

		// Sender types of §6.1: an external sender may only propose.
		ext := f.content(t, codec.ContentTypeCommit, f.c.Commit)
		ext.Sender = codec.Sender{SenderType: codec.SenderTypeExternal, SenderIndex: 0}
		acExt, err := p.Sign(f.signer, codec.WireFormatMLSPublicMessage, ext)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.ProtectPublic(acExt)
		wantErr(t, "external sender with a commit", err, framing.ErrSenderType)
		_, err = p.UnprotectPublic(&codec.PublicMessage{Content: acExt.Content, Auth: acExt.Auth}, f.keys)
		wantErr(t, "external sender with a commit (incoming)", err, framing.ErrSenderType)

		// A new member's commit has no membership tag, is signed over the
		// GroupContext, and verifies with a Protector without epoch secrets.
		nm := f.content(t, codec.ContentTypeCommit, f.c.Commit)
		nm.Sender = codec.Sender{SenderType: codec.SenderTypeNewMemberCommit}
		bare, err := framing.NewProtector(f.cs, f.ctx, framing.EpochSecrets{}, nil, framing.Options{})
		if err != nil {
			t.Fatal(err)
		}
		acNM, err := bare.Sign(f.signer, codec.WireFormatMLSPublicMessage, nm)
		if err != nil {
			t.Fatal(err)
		}
		pmNM, err := bare.ProtectPublic(acNM)
		if err != nil {
			t.Fatal(err)
		}
		if pmNM.MembershipTag != nil {
			t.Errorf("membership tag on a new member commit")
		}
		pub := []byte(f.c.SignaturePub)
		if _, err := p.UnprotectPublic(pmNM, func(*codec.FramedContent) ([]byte, error) { return pub, nil }); err != nil {
			t.Errorf("new member commit: %v", err)
		}
		// Protect a member message without the membership key.
		_, err = bare.ProtectPublic(ac)
		wantErr(t, "member message without membership key", err, framing.ErrMissingSecret)
		acPriv2, err := bare.Sign(f.signer, codec.WireFormatMLSPrivateMessage, f.content(t, codec.ContentTypeProposal, f.c.Proposal))
		if err != nil {
			t.Fatal(err)
		}
		_, err = bare.ProtectPrivate(acPriv2)
		wantErr(t, "private without secret tree", err, framing.ErrMissingSecret)
	})
}

// TestVerifyPublic: a non-member's check of a PublicMessage (VerifyPublic)
// accepts what UnprotectPublic accepts whatever the membership tag's
// value, and refuses everything else UnprotectPublic refuses: a missing
// tag on a member's message, a tag on a non-member's, group, epoch,
// signature, sender, application content.
func TestVerifyPublic(t *testing.T) {
	forEachSuite(t, func(t *testing.T, f *fixture) {
		p := f.protector(t, framing.Options{})
		ac, err := p.Sign(f.signer, codec.WireFormatMLSPublicMessage, f.content(t, codec.ContentTypeProposal, f.c.Proposal))
		if err != nil {
			t.Fatal(err)
		}
		pm, err := p.ProtectPublic(ac)
		if err != nil {
			t.Fatal(err)
		}
		got, err := framing.VerifyPublic(f.cs, f.ctx, pm, f.keys)
		if err != nil {
			t.Fatalf("genuine: %v", err)
		}
		if got.Content.Proposal == nil || got.WireFormat != codec.WireFormatMLSPublicMessage {
			t.Fatalf("content %+v", got)
		}
		// The tag's value is the members' to check.
		bad := clone(pm)
		bad.MembershipTag = flip(pm.MembershipTag, 0)
		if _, err := framing.VerifyPublic(f.cs, f.ctx, bad, f.keys); err != nil {
			t.Fatalf("another membership tag: %v", err)
		}
		bad = clone(pm)
		bad.MembershipTag = nil
		_, err = framing.VerifyPublic(f.cs, f.ctx, bad, f.keys)
		wantErr(t, "missing membership tag", err, framing.ErrMembershipTag)
		bad = clone(pm)
		bad.Content.AuthenticatedData = []byte("x")
		_, err = framing.VerifyPublic(f.cs, f.ctx, bad, f.keys)
		wantErr(t, "tampered content", err, framing.ErrSignature)
		_, err = framing.VerifyPublic(f.cs, f.ctx, pm, func(*codec.FramedContent) ([]byte, error) { return nil, errors.New("no such member") })
		wantErr(t, "unknown sender", err, framing.ErrUnknownSender)
		_, err = framing.VerifyPublic(f.cs, f.ctx, pm, nil)
		wantErr(t, "no key function", err, framing.ErrUnknownSender)
		bad = clone(pm)
		bad.Content.Epoch--
		_, err = framing.VerifyPublic(f.cs, f.ctx, bad, f.keys)
		wantErr(t, "wrong epoch", err, framing.ErrWrongEpoch)
		bad = clone(pm)
		bad.Content.GroupID = []byte("another group")
		_, err = framing.VerifyPublic(f.cs, f.ctx, bad, f.keys)
		wantErr(t, "wrong group", err, framing.ErrWrongGroup)
		app := clone(pm)
		app.Content.ContentType = codec.ContentTypeApplication
		app.Content.Proposal = nil
		app.Content.ApplicationData = []byte("hi")
		_, err = framing.VerifyPublic(f.cs, f.ctx, app, f.keys)
		wantErr(t, "application in PublicMessage", err, framing.ErrApplicationInPublic)
		// An external sender may only propose, and carries no tag.
		ext := f.content(t, codec.ContentTypeProposal, f.c.Proposal)
		ext.Sender = codec.Sender{SenderType: codec.SenderTypeExternal, SenderIndex: 0}
		acExt, err := p.Sign(f.signer, codec.WireFormatMLSPublicMessage, ext)
		if err != nil {
			t.Fatal(err)
		}
		pub := func(*codec.FramedContent) ([]byte, error) { return f.c.SignaturePub, nil }
		if _, err := framing.VerifyPublic(f.cs, f.ctx, &codec.PublicMessage{Content: acExt.Content, Auth: acExt.Auth}, pub); err != nil {
			t.Fatalf("external proposal: %v", err)
		}
		_, err = framing.VerifyPublic(f.cs, f.ctx, &codec.PublicMessage{Content: acExt.Content, Auth: acExt.Auth, MembershipTag: pm.MembershipTag}, pub)
		wantErr(t, "membership tag from an external sender", err, framing.ErrMembershipTag)
		acExt.Content.ContentType = codec.ContentTypeCommit
		acExt.Content.Proposal = nil
		acExt.Content.Commit = &codec.Commit{}
		_, err = framing.VerifyPublic(f.cs, f.ctx, &codec.PublicMessage{Content: acExt.Content, Auth: acExt.Auth}, pub)
		wantErr(t, "external sender with a commit", err, framing.ErrSenderType)
	})
}

func TestNewProtectorErrors(t *testing.T) {
	forEachSuite(t, func(t *testing.T, f *fixture) {
		ctx := *f.ctx
		ctx.CipherSuite++
		if _, err := framing.NewProtector(f.cs, &ctx, framing.EpochSecrets{}, nil, framing.Options{}); !errors.Is(err, framing.ErrInvalidConfig) {
			t.Errorf("suite mismatch: %v", err)
		}
		if _, err := framing.NewProtector(f.cs, f.ctx, framing.EpochSecrets{MembershipKey: []byte{1}}, nil, framing.Options{}); !errors.Is(err, framing.ErrInvalidConfig) {
			t.Errorf("short key: %v", err)
		}
		p := f.protector(t, framing.Options{})
		pm := f.sendPrivate(t, f.protector(t, framing.Options{}), []byte("x"))
		p.Zero()
		if _, err := p.UnprotectPrivate(pm, f.keys); !errors.Is(err, framing.ErrMissingSecret) {
			t.Errorf("after Zero: %v", err)
		}
	})
}

func TestWireFormatPolicy(t *testing.T) {
	pub, priv := codec.WireFormatMLSPublicMessage, codec.WireFormatMLSPrivateMessage
	member, ext := codec.SenderTypeMember, codec.SenderTypeExternal
	app, prop := codec.ContentTypeApplication, codec.ContentTypeProposal
	for _, tc := range []struct {
		policy framing.WireFormatPolicy
		wf     codec.WireFormat
		sender codec.SenderType
		ct     codec.ContentType
		want   error
	}{
		{framing.PureCiphertext, priv, member, prop, nil},
		{framing.PureCiphertext, pub, member, prop, framing.ErrWireFormatPolicy},
		{framing.PureCiphertext, pub, ext, prop, nil},
		{framing.PureCiphertext, priv, ext, prop, framing.ErrSenderType},
		{framing.PurePlaintext, pub, member, prop, nil},
		{framing.PurePlaintext, priv, member, prop, framing.ErrWireFormatPolicy},
		{framing.PurePlaintext, priv, member, app, nil},
		{framing.PurePlaintext, pub, member, app, framing.ErrApplicationInPublic},
		{framing.MixedCiphertext, pub, member, prop, nil},
		{framing.MixedPlaintext, priv, member, prop, nil},
		{framing.MixedPlaintext, codec.WireFormatMLSWelcome, member, prop, framing.ErrWireFormatPolicy},
	} {
		err := tc.policy.CheckIncoming(tc.wf, tc.sender, tc.ct)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%+v.CheckIncoming(%v, %v, %v) = %v, want %v", tc.policy, tc.wf, tc.sender, tc.ct, err, tc.want)
		}
	}
	if got := framing.PurePlaintext.OutgoingWireFormat(app); got != priv {
		t.Errorf("application messages go out as %v", got)
	}
	if got := framing.PurePlaintext.OutgoingWireFormat(prop); got != pub {
		t.Errorf("plaintext policy sends proposals as %v", got)
	}
	if got := (framing.WireFormatPolicy{}).OutgoingWireFormat(prop); got != priv {
		t.Errorf("default policy sends proposals as %v", got)
	}
	if err := (framing.WireFormatPolicy{Incoming: 9}).Validate(); err == nil {
		t.Errorf("invalid policy validates")
	}
}

func TestPaddingLength(t *testing.T) {
	for _, tc := range []struct{ block, n, overhead, want int }{
		{0, 10, 16, 0}, {32, 16, 16, 0}, {32, 17, 16, 31}, {100, 84, 16, 0}, {100, 85, 16, 99},
	} {
		if got := (framing.Padding{BlockSize: tc.block}).Length(tc.n, tc.overhead); got != tc.want {
			t.Errorf("Padding{%d}.Length(%d, %d) = %d, want %d", tc.block, tc.n, tc.overhead, got, tc.want)
		}
	}
}

// TestSignContentHelpers: the standalone SignContent/VerifyContent (built
// on providers.SignWithLabel) agree with the Protector's allocation-free
// signing path.
func TestSignContentHelpers(t *testing.T) {
	forEachSuite(t, func(t *testing.T, f *fixture) {
		p := f.protector(t, framing.Options{})
		for _, wf := range []codec.WireFormat{codec.WireFormatMLSPublicMessage, codec.WireFormatMLSPrivateMessage} {
			ac, err := p.Sign(f.signer, wf, f.content(t, codec.ContentTypeProposal, f.c.Proposal))
			if err != nil {
				t.Fatal(err)
			}
			if err := framing.VerifyContent(f.cs, ac, f.ctx, f.c.SignaturePub); err != nil {
				t.Errorf("VerifyContent(Protector.Sign): %v", err)
			}
			ac2, err := framing.SignContent(f.signer, wf, f.content(t, codec.ContentTypeProposal, f.c.Proposal), f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := framing.VerifyContent(f.cs, ac2, f.ctx, f.c.SignaturePub); err != nil {
				t.Errorf("VerifyContent(SignContent): %v", err)
			}
			ac2.Content.Epoch++
			if err := framing.VerifyContent(f.cs, ac2, f.ctx, f.c.SignaturePub); !errors.Is(err, framing.ErrSignature) {
				t.Errorf("VerifyContent of changed content: %v", err)
			}
			if wf == codec.WireFormatMLSPublicMessage {
				ac3, _ := framing.SignContent(f.signer, wf, f.content(t, codec.ContentTypeProposal, f.c.Proposal), f.ctx)
				pm, err := p.ProtectPublic(ac3)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := p.UnprotectPublic(pm, f.keys); err != nil {
					t.Errorf("UnprotectPublic(SignContent): %v", err)
				}
			}
		}
	})
}
