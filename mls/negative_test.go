package mls

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/framing"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/mls/internal/leafnode"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/mls/internal/treekem"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// One negative test per validation rule of the group logic (apply.go,
// process.go, join.go, external.go): each crafts the offending message —
// signed and protected with the sender's real keys, so that only the rule
// under test is broken — and checks that the receiver refuses it with that
// rule (errors.Is) and that its state is unchanged.
//
// Rules without a test here, and why:
//   - RuleUpdateNotMember (Update from a non-member): unreachable through messages —
//     an external sender's Update is refused earlier as RuleProposalSender,
//     a new_member_proposal Update as RuleSenderType, and an external
//     Commit's Update as RuleExternalCommitProposalType.
//   - RuleTreeTrailingBlank, RuleResumptionPSKEpochs: configuration and export rules, tested in
//     groupinfo_test.go and config_test.go.
//   - RuleKeyPackageVersion, RuleKeyPackageCipherSuite: a key package of
//     another version or cipher suite is refused first as RuleAddSuiteOrVersion (it
//     differs from the group's).

// gtNeg is the fixture of a negative test: a PurePlaintext group of four
// members a(0), b(1), c(2), d(3); b is the receiver.
type gtNeg struct {
	t          *testing.T
	s          *gtSim
	a, b, c, d *gtMember
	cs         providers.CipherSuite
	// name is the case's; pg, when set, is a PublicGroup (a Delivery
	// Service) that every message b receives is also given to
	// (publicgroup_test.go).
	name string
	pg   *pgFollower
}

// gtEvilValidator rejects the credential with identity "evil".
var gtEvilValidator = CredentialValidatorFunc(func(_ codec.CipherSuite, cred Credential, _ []byte) error {
	if string(cred.Identity()) == "evil" {
		return errors.New("evil credential")
	}
	return nil
})

func newGTNeg(t *testing.T, opts *CreateOptions) *gtNeg {
	t.Helper()
	if opts == nil {
		opts = &CreateOptions{}
	}
	cfg := GroupConfig{WireFormatPolicy: PurePlaintext(), UseRatchetTreeExtension: true}
	s := newGTSim(t, gtSuites[0], cfg, opts)
	s.members[0].c.CredentialValidator = gtEvilValidator
	s.members[0].g.validator = gtEvilValidator
	var kps []*codec.KeyPackage
	var js []*gtMember
	for i := 0; i < 3; i++ {
		j := s.newClient()
		j.c.CredentialValidator = gtEvilValidator
		js = append(js, j)
		kps = append(kps, gtKeyPackageCaps(t, j.c, s.suite, opts.LeafCapabilities))
	}
	res := gtMust(s.members[0].g.Commit(CommitOptions{Add: kps}))(t)
	s.applyCommit(s.members[0], res, js...)
	n := &gtNeg{t: t, s: s, a: s.members[0], b: s.members[1], c: s.members[2], d: s.members[3]}
	n.cs = gtMust(s.p.CipherSuite(s.suite))(t)
	return n
}

// gtKeyPackageCaps builds and stores a key package with the capabilities.
func gtKeyPackageCaps(t testing.TB, c *Client, suite codec.CipherSuite, caps *codec.Capabilities) *codec.KeyPackage {
	t.Helper()
	b, err := (&KeyPackageBuilder{Provider: c.Provider, CipherSuite: suite, Credential: c.Credential, Signer: c.Signer, Capabilities: caps}).BuildAndStore(c.Storage)
	if err != nil {
		t.Fatalf("key package: %v", err)
	}
	return &b.KeyPackage
}

// tag is a confirmation tag of the right length that does not verify.
func (n *gtNeg) tag() []byte { return bytes.Repeat([]byte{0xc0}, n.cs.HashSize()) }

// public signs fc as member m (group id and epoch of m's epoch, sender m
// unless set) and protects it as a PublicMessage with m's membership key.
func (n *gtNeg) public(m *gtMember, fc codec.FramedContent, confirmationTag []byte) []byte {
	n.t.Helper()
	ac := n.sign(m, codec.WireFormatMLSPublicMessage, fc, confirmationTag)
	pm, err := m.g.epoch.protector.ProtectPublic(ac)
	if err != nil {
		n.t.Fatalf("ProtectPublic: %v", err)
	}
	return gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSPublicMessage, PublicMessage: pm}).Marshal())(n.t)
}

// private is public as a PrivateMessage.
func (n *gtNeg) private(m *gtMember, fc codec.FramedContent, confirmationTag []byte) []byte {
	n.t.Helper()
	ac := n.sign(m, codec.WireFormatMLSPrivateMessage, fc, confirmationTag)
	pm, err := m.g.epoch.protector.ProtectPrivate(ac)
	if err != nil {
		n.t.Fatalf("ProtectPrivate: %v", err)
	}
	return gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSPrivateMessage, PrivateMessage: pm}).Marshal())(n.t)
}

func (n *gtNeg) sign(m *gtMember, wf codec.WireFormat, fc codec.FramedContent, confirmationTag []byte) *codec.AuthenticatedContent {
	n.t.Helper()
	if fc.GroupID == nil {
		fc.GroupID = m.g.epoch.ctx.GroupID
		fc.Epoch = m.g.epoch.ctx.Epoch
	}
	if fc.Sender == (codec.Sender{}) {
		fc.Sender = codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: uint32(m.g.OwnLeafIndex())}
	}
	ac, err := framing.SignContent(m.g.signer, wf, &fc, &m.g.epoch.ctx)
	if err != nil {
		n.t.Fatalf("SignContent: %v", err)
	}
	ac.Auth.ConfirmationTag = confirmationTag
	return ac
}

// external builds an unprotected PublicMessage of a non-member sender,
// signed by signer over the receiver's GroupContext.
func (n *gtNeg) external(signer providers.Signer, fc codec.FramedContent, confirmationTag []byte) []byte {
	n.t.Helper()
	ctx := &n.b.g.epoch.ctx
	fc.GroupID, fc.Epoch = ctx.GroupID, ctx.Epoch
	ac, err := framing.SignContent(signer, codec.WireFormatMLSPublicMessage, &fc, ctx)
	if err != nil {
		n.t.Fatalf("SignContent: %v", err)
	}
	ac.Auth.ConfirmationTag = confirmationTag
	return gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSPublicMessage, PublicMessage: &codec.PublicMessage{Content: ac.Content, Auth: ac.Auth}}).Marshal())(n.t)
}

func gtCommitFC(pors []codec.ProposalOrRef, path *codec.UpdatePath) codec.FramedContent {
	return codec.FramedContent{ContentType: codec.ContentTypeCommit, Commit: &codec.Commit{Proposals: pors, Path: path}}
}

func gtProposalFC(p *codec.Proposal) codec.FramedContent {
	return codec.FramedContent{ContentType: codec.ContentTypeProposal, Proposal: p}
}

func gtInline(ps ...*codec.Proposal) []codec.ProposalOrRef {
	out := make([]codec.ProposalOrRef, len(ps))
	for i, p := range ps {
		out[i] = codec.ProposalOrRef{Type: codec.ProposalOrRefTypeProposal, Proposal: p}
	}
	return out
}

func gtRef(ref []byte) codec.ProposalOrRef {
	return codec.ProposalOrRef{Type: codec.ProposalOrRefTypeReference, Reference: ref}
}

func gtRemove(l LeafIndex) *codec.Proposal {
	return &codec.Proposal{ProposalType: codec.ProposalTypeRemove, Remove: &codec.Remove{Removed: uint32(l)}}
}

func gtAdd(kp *codec.KeyPackage) *codec.Proposal {
	return &codec.Proposal{ProposalType: codec.ProposalTypeAdd, Add: &codec.Add{KeyPackage: *kp}}
}

func gtGCE(exts ...codec.Extension) *codec.Proposal {
	return &codec.Proposal{ProposalType: codec.ProposalTypeGroupContextExtensions, GroupContextExtensions: &codec.GroupContextExtensions{Extensions: exts}}
}

func gtPSK(id codec.PreSharedKeyID) *codec.Proposal {
	return &codec.Proposal{ProposalType: codec.ProposalTypePSK, PreSharedKey: &codec.PreSharedKey{PSK: id}}
}

// dummyPath is a path that satisfies "has a path" for rules checked before
// the path is processed.
func (n *gtNeg) dummyPath(m *gtMember) *codec.UpdatePath {
	return &codec.UpdatePath{LeafNode: *m.g.OwnLeafNode()}
}

// realCommit has m create a real Commit with opts, clears it, and returns
// the decoded PublicMessage for tampering.
func (n *gtNeg) realCommit(m *gtMember, opts CommitOptions) *codec.PublicMessage {
	n.t.Helper()
	res := gtMust(m.g.Commit(opts))(n.t)
	if err := m.g.ClearPendingCommit(); err != nil {
		n.t.Fatal(err)
	}
	var msg codec.MLSMessage
	if err := msg.Unmarshal(res.Commit); err != nil || msg.PublicMessage == nil {
		n.t.Fatalf("commit is not a PublicMessage: %v", err)
	}
	return msg.PublicMessage
}

// resign re-signs and re-protects a tampered PublicMessage of member m,
// keeping its confirmation tag.
func (n *gtNeg) resign(m *gtMember, pm *codec.PublicMessage) []byte {
	n.t.Helper()
	return n.public(m, pm.Content, pm.Auth.ConfirmationTag)
}

// resignLeaf re-signs a leaf node of m at leaf l (update/commit source).
func (n *gtNeg) resignLeaf(m *gtMember, ln *codec.LeafNode, l LeafIndex) {
	n.t.Helper()
	if err := leafnode.Sign(m.g.signer, ln, m.g.epoch.ctx.GroupID, uint32(l)); err != nil {
		n.t.Fatal(err)
	}
}

// resignKP re-signs a key package's leaf node and the key package.
func (n *gtNeg) resignKP(signer providers.Signer, kp *codec.KeyPackage) {
	n.t.Helper()
	if err := leafnode.Sign(signer, &kp.LeafNode, nil, 0); err != nil {
		n.t.Fatal(err)
	}
	tbs := codec.KeyPackageTBS{Version: kp.Version, CipherSuite: kp.CipherSuite, InitKey: kp.InitKey, LeafNode: kp.LeafNode, Extensions: kp.Extensions}
	kp.Signature = gtMust(providers.SignWithLabel(signer, labelKeyPackageTBS, gtMust(tbs.Marshal())(n.t)))(n.t)
}

// expect processes msg at the receiver and checks that it fails with rule
// and leaves the receiver's state as it was.
func (n *gtNeg) expect(recv *gtMember, msg []byte, rule error) {
	n.t.Helper()
	before := gtSnapshot(recv.g)
	pm, err := recv.g.ProcessMessage(msg)
	if !errors.Is(err, rule) {
		kind := ContentKind(0)
		if pm != nil {
			kind = pm.Kind
		}
		n.t.Fatalf("got error %v (kind %d), want %v", err, kind, rule)
	}
	if after := gtSnapshot(recv.g); after != before {
		n.t.Fatalf("state changed by a refused message:\n%s\nwant\n%s", after, before)
	}
	var ve *ValidationError
	if errors.As(err, &ve) && ve.Error() == "" {
		n.t.Fatal("empty error text")
	}
	if recv == n.b && n.pg != nil {
		n.expectPublic(msg, rule)
	}
}

// otherKP makes a fresh client's key package, optionally changed by mod
// and re-signed.
func (n *gtNeg) otherKP(name string, mod func(kp *codec.KeyPackage)) *codec.KeyPackage {
	c := gtNewClient(n.t, n.s.p, n.s.suite, name)
	kp := gtKeyPackage(n.t, c, n.s.suite)
	if mod != nil {
		mod(kp)
		n.resignKP(c.Signer, kp)
	}
	return kp
}

// TestNegativeRules runs one case per rule.
func TestNegativeRules(t *testing.T) {
	type tc struct {
		name string
		rule error
		opts *CreateOptions
		// run builds the message(s) and calls n.expect.
		run func(n *gtNeg)
	}
	cases := []tc{
		// ---- framing (RFC 9420 §6) ----
		{name: "wrong group id (public)", rule: RuleWrongGroupID, run: func(n *gtNeg) {
			var m codec.MLSMessage
			_ = m.Unmarshal(n.public(n.a, gtProposalFC(gtRemove(3)), nil))
			m.PublicMessage.Content.GroupID = []byte("another group")
			n.expect(n.b, gtMust(m.Marshal())(n.t), RuleWrongGroupID)
		}},
		{name: "wrong group id (private)", rule: RuleWrongGroupID, run: func(n *gtNeg) {
			var m codec.MLSMessage
			_ = m.Unmarshal(gtMust(n.a.g.SendApplicationMessage([]byte("x"), nil))(n.t))
			m.PrivateMessage.GroupID = []byte("another group")
			n.expect(n.b, gtMust(m.Marshal())(n.t), RuleWrongGroupID)
		}},
		{name: "wrong epoch (public)", rule: RuleWrongEpoch, run: func(n *gtNeg) {
			var m codec.MLSMessage
			_ = m.Unmarshal(n.public(n.a, gtProposalFC(gtRemove(3)), nil))
			m.PublicMessage.Content.Epoch++
			n.expect(n.b, gtMust(m.Marshal())(n.t), RuleWrongEpoch)
		}},
		{name: "wrong epoch (private)", rule: RuleWrongEpoch, run: func(n *gtNeg) {
			var m codec.MLSMessage
			_ = m.Unmarshal(gtMust(n.a.g.SendApplicationMessage([]byte("x"), nil))(n.t))
			m.PrivateMessage.Epoch = 7
			n.expect(n.b, gtMust(m.Marshal())(n.t), RuleWrongEpoch)
		}},
		{name: "sender leaf outside the tree", rule: RuleSenderLeafBlank, run: func(n *gtNeg) {
			fc := gtProposalFC(gtRemove(3))
			fc.Sender = codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: 9}
			n.expect(n.b, n.public(n.a, fc, nil), RuleSenderLeafBlank)
		}},
		{name: "application message as PublicMessage", rule: RuleApplicationNotPrivate, run: func(n *gtNeg) {
			fc := codec.FramedContent{ContentType: codec.ContentTypeApplication, ApplicationData: []byte("x")}
			ac := n.sign(n.a, codec.WireFormatMLSPublicMessage, fc, nil)
			msg := codec.MLSMessage{WireFormat: codec.WireFormatMLSPublicMessage, PublicMessage: &codec.PublicMessage{Content: ac.Content, Auth: ac.Auth, MembershipTag: n.tag()}}
			n.expect(n.b, gtMust(msg.Marshal())(n.t), RuleApplicationNotPrivate)
		}},
		{name: "PrivateMessage does not decrypt", rule: RuleDecryption, run: func(n *gtNeg) {
			var m codec.MLSMessage
			_ = m.Unmarshal(gtMust(n.a.g.SendApplicationMessage([]byte("x"), nil))(n.t))
			m.PrivateMessage.Ciphertext[len(m.PrivateMessage.Ciphertext)-1] ^= 1
			n.expect(n.b, gtMust(m.Marshal())(n.t), RuleDecryption)
		}},
		{name: "non-zero padding", rule: RulePaddingNotZero, run: func(n *gtNeg) {
			fc := codec.FramedContent{ContentType: codec.ContentTypeApplication, ApplicationData: []byte("padded")}
			ac := n.sign(n.a, codec.WireFormatMLSPrivateMessage, fc, nil)
			n.expect(n.b, n.privateBadPadding(n.a, ac), RulePaddingNotZero)
		}},
		{name: "member PublicMessage without membership tag", rule: RuleMembershipTagMissing, run: func(n *gtNeg) {
			var m codec.MLSMessage
			_ = m.Unmarshal(n.public(n.a, gtProposalFC(gtRemove(3)), nil))
			m.PublicMessage.MembershipTag = nil
			n.expect(n.b, gtMust(m.Marshal())(n.t), RuleMembershipTagMissing)
		}},
		{name: "membership tag", rule: RuleMembershipTag, run: func(n *gtNeg) {
			var m codec.MLSMessage
			_ = m.Unmarshal(n.public(n.a, gtProposalFC(gtRemove(3)), nil))
			m.PublicMessage.MembershipTag[0] ^= 1
			n.expect(n.b, gtMust(m.Marshal())(n.t), RuleMembershipTag)
		}},
		{name: "commit without confirmation tag", rule: RuleConfirmationTagMissing, run: func(n *gtNeg) {
			pm := n.realCommit(n.a, CommitOptions{ForcePath: true})
			pm.Auth.ConfirmationTag = nil
			n.expect(n.b, n.resign(n.a, pm), RuleConfirmationTagMissing)
		}},
		{name: "bad signature (public)", rule: RuleSignature, run: func(n *gtNeg) {
			ac := n.sign(n.a, codec.WireFormatMLSPublicMessage, gtProposalFC(gtRemove(3)), nil)
			ac.Auth.Signature[0] ^= 1
			pm := gtMust(n.a.g.epoch.protector.ProtectPublic(ac))(n.t)
			n.expect(n.b, gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSPublicMessage, PublicMessage: pm}).Marshal())(n.t), RuleSignature)
		}},
		{name: "bad signature (private)", rule: RuleSignature, run: func(n *gtNeg) {
			fc := codec.FramedContent{ContentType: codec.ContentTypeApplication, ApplicationData: []byte("x")}
			ac := n.sign(n.a, codec.WireFormatMLSPrivateMessage, fc, nil)
			ac.Auth.Signature[0] ^= 1
			pm := gtMust(n.a.g.epoch.protector.ProtectPrivate(ac))(n.t)
			n.expect(n.b, gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSPrivateMessage, PrivateMessage: pm}).Marshal())(n.t), RuleSignature)
		}},
		{name: "signed by another member's key", rule: RuleSignature, run: func(n *gtNeg) {
			fc := gtProposalFC(gtRemove(3))
			fc.Sender = codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: 2} // c, signed by a
			n.expect(n.b, n.public(n.a, fc, nil), RuleSignature)
		}},
		{name: "wire format policy", rule: RuleWireFormatPolicy, run: func(n *gtNeg) {
			n.expect(n.b, n.private(n.a, gtProposalFC(gtRemove(3)), nil), RuleWireFormatPolicy)
		}},
		{name: "commit from an external sender", rule: RuleSenderType, run: func(n *gtNeg) {
			fc := gtCommitFC(gtInline(gtRemove(3)), nil)
			fc.Sender = codec.Sender{SenderType: codec.SenderTypeExternal, SenderIndex: 0}
			n.expect(n.b, n.external(n.a.g.signer, fc, n.tag()), RuleSenderType)
		}},
		{name: "new_member_proposal sends a Remove", rule: RuleSenderType, run: func(n *gtNeg) {
			fc := gtProposalFC(gtRemove(3))
			fc.Sender = codec.Sender{SenderType: codec.SenderTypeNewMemberProposal}
			n.expect(n.b, n.external(n.a.g.signer, fc, nil), RuleSenderType)
		}},
		{name: "unknown external sender", rule: RuleExternalSender, run: func(n *gtNeg) {
			fc := gtProposalFC(gtRemove(3))
			fc.Sender = codec.Sender{SenderType: codec.SenderTypeExternal, SenderIndex: 0}
			n.expect(n.b, n.external(n.a.g.signer, fc, nil), RuleExternalSender)
		}},
		{name: "external sender proposes an Update", rule: RuleProposalSender, opts: gtExternalSenderOptions(t), run: func(n *gtNeg) {
			ln := *n.c.g.OwnLeafNode()
			fc := gtProposalFC(&codec.Proposal{ProposalType: codec.ProposalTypeUpdate, Update: &codec.Update{LeafNode: ln}})
			fc.Sender = codec.Sender{SenderType: codec.SenderTypeExternal, SenderIndex: 0}
			n.expect(n.b, n.external(gtExternalSigner(n.t), fc, nil), RuleProposalSender)
		}},
		{name: "own proposal processed", rule: RuleProposalSender, run: func(n *gtNeg) {
			n.expect(n.b, n.public(n.b, gtProposalFC(gtRemove(3)), nil), RuleProposalSender)
		}},
		{name: "own commit processed", rule: RuleNotCommitter, run: func(n *gtNeg) {
			pm := n.realCommit(n.b, CommitOptions{ForcePath: true})
			n.expect(n.b, gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSPublicMessage, PublicMessage: pm}).Marshal())(n.t), RuleNotCommitter)
		}},

		// ---- proposals (§12.1) ----
		{name: "Add: duplicate signature key", rule: RuleAddSignatureKeyDuplicate, run: func(n *gtNeg) {
			c := gtNewClient(n.t, n.s.p, n.s.suite, "dup")
			c.Signer = n.c.c.Signer
			kp := gtKeyPackage(n.t, c, n.s.suite)
			n.expect(n.b, n.public(n.a, gtProposalFC(gtAdd(kp)), nil), RuleAddSignatureKeyDuplicate)
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(gtAdd(kp)), nil), n.tag()), RuleAddSignatureKeyDuplicate)
		}},
		{name: "two Adds with the same init key", rule: RuleAddInitKeyDuplicate, run: func(n *gtNeg) {
			kp := n.otherKP("x", nil)
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(gtAdd(kp), gtAdd(kp)), nil), n.tag()), RuleAddInitKeyDuplicate)
		}},
		{name: "Add: duplicate encryption key", rule: RuleAddEncryptionKeyDuplicate, run: func(n *gtNeg) {
			kp := n.otherKP("x", func(kp *codec.KeyPackage) { kp.LeafNode.EncryptionKey = n.c.g.OwnLeafNode().EncryptionKey })
			n.expect(n.b, n.public(n.a, gtProposalFC(gtAdd(kp)), nil), RuleAddEncryptionKeyDuplicate)
		}},
		{name: "Add: init key equals encryption key", rule: RuleInitKeyIsEncryptionKey, run: func(n *gtNeg) {
			kp := n.otherKP("x", func(kp *codec.KeyPackage) { kp.InitKey = kp.LeafNode.EncryptionKey })
			n.expect(n.b, n.public(n.a, gtProposalFC(gtAdd(kp)), nil), RuleInitKeyIsEncryptionKey)
		}},
		{name: "Add: key package of another cipher suite", rule: RuleAddSuiteOrVersion, run: func(n *gtNeg) {
			c := gtNewClient(n.t, n.s.p, codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519, "x")
			kp := gtKeyPackage(n.t, c, codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519)
			n.expect(n.b, n.public(n.a, gtProposalFC(gtAdd(kp)), nil), RuleAddSuiteOrVersion)
		}},
		{name: "Add: member lacks a group extension", rule: RuleAddCapabilities, opts: gtCustomExtOptions(), run: func(n *gtNeg) {
			kp := n.otherKP("x", nil) // default capabilities: no 0xff00
			n.expect(n.b, n.public(n.a, gtProposalFC(gtAdd(kp)), nil), RuleAddCapabilities)
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(gtAdd(kp)), nil), n.tag()), RuleAddCapabilities)
		}},
		{name: "Add: expired key package", rule: RuleLeafNodeLifetime, run: func(n *gtNeg) {
			c := gtNewClient(n.t, n.s.p, n.s.suite, "old")
			past := time.Now().Add(-48 * time.Hour)
			b := gtMust((&KeyPackageBuilder{Provider: c.Provider, CipherSuite: n.s.suite, Credential: c.Credential, Signer: c.Signer, Lifetime: time.Hour, Now: func() time.Time { return past }}).Build())(n.t)
			n.expect(n.b, n.public(n.a, gtProposalFC(gtAdd(&b.KeyPackage)), nil), RuleLeafNodeLifetime)
		}},
		{name: "Add: key package signature", rule: RuleKeyPackageSignature, run: func(n *gtNeg) {
			kp := n.otherKP("x", nil)
			kp.Signature[0] ^= 1
			n.expect(n.b, n.public(n.a, gtProposalFC(gtAdd(kp)), nil), RuleKeyPackageSignature)
		}},
		{name: "Add: credential rejected", rule: RuleCredential, run: func(n *gtNeg) {
			kp := n.otherKP("evil", nil)
			n.expect(n.b, n.public(n.a, gtProposalFC(gtAdd(kp)), nil), RuleCredential)
		}},
		{name: "Add: credential type not in the capabilities", rule: RuleLeafNodeCredentialType, run: func(n *gtNeg) {
			kp := n.otherKP("x", func(kp *codec.KeyPackage) {
				kp.LeafNode.Capabilities.Credentials = []codec.CredentialType{codec.CredentialTypeX509}
			})
			n.expect(n.b, n.public(n.a, gtProposalFC(gtAdd(kp)), nil), RuleLeafNodeCredentialType)
		}},
		{name: "Add: capabilities without mls10", rule: RuleLeafNodeCapabilities, run: func(n *gtNeg) {
			kp := n.otherKP("x", func(kp *codec.KeyPackage) { kp.LeafNode.Capabilities.Versions = nil })
			n.expect(n.b, n.public(n.a, gtProposalFC(gtAdd(kp)), nil), RuleLeafNodeCapabilities)
		}},
		{name: "Add: leaf extension not in the capabilities", rule: RuleLeafNodeExtensions, run: func(n *gtNeg) {
			kp := n.otherKP("x", func(kp *codec.KeyPackage) {
				kp.LeafNode.Extensions = []codec.Extension{{ExtensionType: 0xff01, ExtensionData: []byte("x")}}
			})
			n.expect(n.b, n.public(n.a, gtProposalFC(gtAdd(kp)), nil), RuleLeafNodeExtensions)
		}},
		{name: "Add: key package extension not in the capabilities", rule: RuleKeyPackageExtensions, run: func(n *gtNeg) {
			kp := n.otherKP("x", func(kp *codec.KeyPackage) {
				// A known type (last_resort) missing from the capabilities;
				// unknown types are ignored (RFC 9420 §10).
				kp.Extensions = []codec.Extension{{ExtensionType: ExtensionTypeLastResort}}
				kp.LeafNode.Capabilities.Extensions = nil
			})
			n.expect(n.b, n.public(n.a, gtProposalFC(gtAdd(kp)), nil), RuleKeyPackageExtensions)
		}},
		{name: "Add: signature key is not a key of the suite", rule: RuleLeafNodeKeys, run: func(n *gtNeg) {
			kp := n.otherKP("x", func(kp *codec.KeyPackage) { kp.LeafNode.SignatureKey = []byte("short") })
			n.expect(n.b, n.public(n.a, gtProposalFC(gtAdd(kp)), nil), RuleLeafNodeKeys)
		}},
		{name: "Add: init key is not an HPKE key", rule: RuleKeyPackageInitKey, run: func(n *gtNeg) {
			kp := n.otherKP("x", func(kp *codec.KeyPackage) { kp.InitKey = []byte("short") })
			n.expect(n.b, n.public(n.a, gtProposalFC(gtAdd(kp)), nil), RuleKeyPackageInitKey)
		}},
		{name: "two Removes of one leaf", rule: RuleRemoveDuplicate, run: func(n *gtNeg) {
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(gtRemove(3), gtRemove(3)), n.dummyPath(n.a)), n.tag()), RuleRemoveDuplicate)
		}},
		{name: "Remove of a blank leaf", rule: RuleRemoveNotMember, run: func(n *gtNeg) {
			n.expect(n.b, n.public(n.a, gtProposalFC(gtRemove(6)), nil), RuleRemoveNotMember)
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(gtRemove(6)), n.dummyPath(n.a)), n.tag()), RuleRemoveNotMember)
		}},
		{name: "Update: leaf lacks a group extension", rule: RuleUpdateCapabilities, opts: gtCustomExtOptions(), run: func(n *gtNeg) {
			n.expect(n.b, n.public(n.c, gtProposalFC(n.update(n.c, func(ln *codec.LeafNode) { ln.Capabilities.Extensions = nil })), nil), RuleUpdateCapabilities)
		}},
		{name: "Update: encryption key already in the tree", rule: RuleUpdateEncryptionKeyDuplicate, run: func(n *gtNeg) {
			key := n.d.g.OwnLeafNode().EncryptionKey
			n.expect(n.b, n.public(n.c, gtProposalFC(n.update(n.c, func(ln *codec.LeafNode) { ln.EncryptionKey = key })), nil), RuleUpdateEncryptionKeyDuplicate)
		}},
		{name: "Update: bad leaf signature", rule: RuleLeafNodeSignature, run: func(n *gtNeg) {
			p := n.update(n.c, nil)
			p.Update.LeafNode.Signature[0] ^= 1
			n.expect(n.b, n.public(n.c, gtProposalFC(p), nil), RuleLeafNodeSignature)
		}},
		{name: "Update: wrong leaf_node_source", rule: RuleLeafNodeSource, run: func(n *gtNeg) {
			p := n.update(n.c, func(ln *codec.LeafNode) { ln.LeafNodeSource = codec.LeafNodeSourceCommit })
			n.expect(n.b, n.public(n.c, gtProposalFC(p), nil), RuleLeafNodeSource)
		}},
		{name: "commit covers the committer's own Update", rule: RuleCommitterOwnUpdate, run: func(n *gtNeg) {
			msg, q := gtMust2(n.a.g.ProposeSelfUpdate(nil))(n.t)
			n.deliver(n.b, msg)
			n.expect(n.b, n.public(n.a, gtCommitFC([]codec.ProposalOrRef{gtRef(q.Ref)}, n.dummyPath(n.a)), n.tag()), RuleCommitterOwnUpdate)
		}},
		{name: "two Updates of one leaf", rule: RuleSameLeaf, run: func(n *gtNeg) {
			m1, q1 := gtMust2(n.c.g.ProposeSelfUpdate(nil))(n.t)
			m2, q2 := gtMust2(n.c.g.ProposeSelfUpdate(nil))(n.t)
			n.deliver(n.b, m1)
			n.deliver(n.b, m2)
			n.expect(n.b, n.public(n.a, gtCommitFC([]codec.ProposalOrRef{gtRef(q1.Ref), gtRef(q2.Ref)}, n.dummyPath(n.a)), n.tag()), RuleSameLeaf)
		}},
		{name: "unsupported proposal type", rule: RuleProposalTypeUnsupported, run: func(n *gtNeg) {
			p := &codec.Proposal{ProposalType: 0x0a0a, ProposalData: []byte("?")}
			n.expect(n.b, n.public(n.a, gtProposalFC(p), nil), RuleProposalTypeUnsupported)
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(p), n.dummyPath(n.a)), n.tag()), RuleProposalTypeUnsupported)
		}},
		{name: "SelfRemove not supported by every member", rule: RuleProposalTypeUnsupported, opts: &CreateOptions{LeafCapabilities: &codec.Capabilities{}}, run: func(n *gtNeg) {
			p := &codec.Proposal{ProposalType: codec.ProposalTypeSelfRemove, SelfRemove: &codec.SelfRemove{}}
			n.expect(n.b, n.public(n.c, gtProposalFC(p), nil), RuleProposalTypeUnsupported)
		}},
		{name: "ExternalInit outside an external commit", rule: RuleExternalInit, run: func(n *gtNeg) {
			p := &codec.Proposal{ProposalType: codec.ProposalTypeExternalInit, ExternalInit: &codec.ExternalInit{KEMOutput: []byte("k")}}
			n.expect(n.b, n.public(n.a, gtProposalFC(p), nil), RuleExternalInit)
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(p), n.dummyPath(n.a)), n.tag()), RuleExternalInit)
		}},
		{name: "ReInit lowering the version", rule: RuleReInitVersion, run: func(n *gtNeg) {
			p := &codec.Proposal{ProposalType: codec.ProposalTypeReInit, ReInit: &codec.ReInit{GroupID: []byte("g"), Version: 0, CipherSuite: n.s.suite}}
			n.expect(n.b, n.public(n.a, gtProposalFC(p), nil), RuleReInitVersion)
		}},
		{name: "ReInit with other proposals", rule: RuleReInitAlone, run: func(n *gtNeg) {
			p := &codec.Proposal{ProposalType: codec.ProposalTypeReInit, ReInit: &codec.ReInit{GroupID: []byte("g"), Version: codec.ProtocolVersionMLS10, CipherSuite: n.s.suite}}
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(p, gtRemove(3)), n.dummyPath(n.a)), n.tag()), RuleReInitAlone)
		}},
		{name: "GroupContextExtensions with a duplicate extension", rule: RuleExtensionsUnique, run: func(n *gtNeg) {
			e := codec.Extension{ExtensionType: codec.ExtensionTypeApplicationID, ExtensionData: []byte("x")}
			n.expect(n.b, n.public(n.a, gtProposalFC(gtGCE(e, e)), nil), RuleExtensionsUnique)
		}},

		// ---- commits (§12.2, §12.4.2) ----
		{name: "Remove of the committer", rule: RuleCommitterRemoved, run: func(n *gtNeg) {
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(gtRemove(0)), n.dummyPath(n.a)), n.tag()), RuleCommitterRemoved)
		}},
		{name: "path required", rule: RulePathRequired, run: func(n *gtNeg) {
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(gtRemove(3)), nil), n.tag()), RulePathRequired)
			n.expect(n.b, n.public(n.a, gtCommitFC(nil, nil), n.tag()), RulePathRequired)
		}},
		{name: "path too short", rule: RulePathLength, run: func(n *gtNeg) {
			pm := n.realCommit(n.a, CommitOptions{ForcePath: true})
			pm.Content.Commit.Path.Nodes = pm.Content.Commit.Path.Nodes[:1]
			n.expect(n.b, n.resign(n.a, pm), RulePathLength)
		}},
		{name: "path secret does not decrypt", rule: RulePathDecryption, run: func(n *gtNeg) {
			pm := n.realCommit(n.a, CommitOptions{ForcePath: true})
			for i := range pm.Content.Commit.Path.Nodes {
				for j := range pm.Content.Commit.Path.Nodes[i].EncryptedPathSecret {
					ct := pm.Content.Commit.Path.Nodes[i].EncryptedPathSecret[j].Ciphertext
					ct[len(ct)-1] ^= 1
				}
			}
			n.expect(n.b, n.resign(n.a, pm), RulePathDecryption)
		}},
		{name: "path public key does not match its secret", rule: RulePathKeyMismatch, run: func(n *gtNeg) {
			pm := n.realCommit(n.a, CommitOptions{ForcePath: true})
			path := pm.Content.Commit.Path
			// b's path secret (node 1), decrypted under the real context.
			info := n.provisionalInfo(path)
			bPriv, bPub, _ := n.b.g.epoch.keys.Get(treemath.LeafIndex(1).Node())
			ps := gtMust(treekem.DecryptPathSecret(n.cs, info, bPriv, &path.Nodes[0].EncryptedPathSecret[0]))(n.t)
			// Forge the root key, keep the parent hashes and the leaf
			// signature consistent, and re-encrypt b's path secret under
			// the new provisional context: only the key derivation check
			// (§7.5: derived keys must match the path) fails.
			_, pub := gtMust2(n.cs.GenerateKeyPair(n.s.p.Rand()))(n.t)
			path.Nodes[1].EncryptionKey = pub
			ph := gtMust(n.b.g.epoch.tree.Stage().SetPathKeys(0, []codec.HPKEPublicKey{path.Nodes[0].EncryptionKey, path.Nodes[1].EncryptionKey}))(n.t)
			path.LeafNode.ParentHash = ph
			n.resignLeaf(n.a, &path.LeafNode, 0)
			info = n.provisionalInfo(path)
			path.Nodes[0].EncryptedPathSecret = gtMust(treekem.EncryptPathSecret(n.cs, info, ps, [][]byte{bPub}))(n.t)
			n.expect(n.b, n.resign(n.a, pm), RulePathKeyMismatch)
		}},
		{name: "wrong confirmation tag", rule: RuleConfirmationTag, run: func(n *gtNeg) {
			pm := n.realCommit(n.a, CommitOptions{ForcePath: true})
			pm.Auth.ConfirmationTag = n.tag()
			n.expect(n.b, n.resign(n.a, pm), RuleConfirmationTag)
		}},
		{name: "path leaf encryption key already in the tree", rule: RulePathLeafEncryptionKeyDuplicate, run: func(n *gtNeg) {
			pm := n.realCommit(n.a, CommitOptions{ForcePath: true})
			ln := &pm.Content.Commit.Path.LeafNode
			ln.EncryptionKey = n.d.g.OwnLeafNode().EncryptionKey
			n.resignLeaf(n.a, ln, 0)
			n.expect(n.b, n.resign(n.a, pm), RulePathLeafEncryptionKeyDuplicate)
		}},
		{name: "path node key already in the tree", rule: RulePathEncryptionKeyDuplicate, run: func(n *gtNeg) {
			pm := n.realCommit(n.a, CommitOptions{ForcePath: true})
			pm.Content.Commit.Path.Nodes[1].EncryptionKey = n.d.g.OwnLeafNode().EncryptionKey
			n.expect(n.b, n.resign(n.a, pm), RulePathEncryptionKeyDuplicate)
		}},
		{name: "path leaf lacks a group extension", rule: RuleUpdateCapabilities, opts: gtCustomExtOptions(), run: func(n *gtNeg) {
			pm := n.realCommit(n.a, CommitOptions{ForcePath: true})
			ln := &pm.Content.Commit.Path.LeafNode
			ln.Capabilities.Extensions = nil
			n.resignLeaf(n.a, ln, 0)
			n.expect(n.b, n.resign(n.a, pm), RuleUpdateCapabilities)
		}},
		{name: "path leaf signature", rule: RuleLeafNodeSignature, run: func(n *gtNeg) {
			pm := n.realCommit(n.a, CommitOptions{ForcePath: true})
			pm.Content.Commit.Path.LeafNode.Signature[0] ^= 1
			n.expect(n.b, n.resign(n.a, pm), RuleLeafNodeSignature)
		}},
		{name: "path leaf parent hash", rule: RuleParentHash, run: func(n *gtNeg) {
			pm := n.realCommit(n.a, CommitOptions{ForcePath: true})
			ln := &pm.Content.Commit.Path.LeafNode
			ln.ParentHash = bytes.Repeat([]byte{1}, len(ln.ParentHash))
			n.resignLeaf(n.a, ln, 0)
			n.expect(n.b, n.resign(n.a, pm), RuleParentHash)
		}},
		{name: "path leaf source", rule: RuleLeafNodeSource, run: func(n *gtNeg) {
			pm := n.realCommit(n.a, CommitOptions{ForcePath: true})
			ln := &pm.Content.Commit.Path.LeafNode
			ln.LeafNodeSource = codec.LeafNodeSourceUpdate
			n.resignLeaf(n.a, ln, 0)
			n.expect(n.b, n.resign(n.a, pm), RuleLeafNodeSource)
		}},
		{name: "two GroupContextExtensions", rule: RuleGroupContextExtensionsTwice, run: func(n *gtNeg) {
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(gtGCE(), gtGCE()), n.dummyPath(n.a)), n.tag()), RuleGroupContextExtensionsTwice)
		}},
		{name: "GroupContextExtensions unsupported by a member", rule: RuleGroupContextExtensionsUnsupported, run: func(n *gtNeg) {
			e := codec.Extension{ExtensionType: 0xff00, ExtensionData: []byte("x")}
			n.expect(n.b, n.public(n.a, gtProposalFC(gtGCE(e)), nil), RuleGroupContextExtensionsUnsupported)
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(gtGCE(e)), n.dummyPath(n.a)), n.tag()), RuleGroupContextExtensionsUnsupported)
		}},
		{name: "unknown proposal reference", rule: RuleProposalRef, run: func(n *gtNeg) {
			n.expect(n.b, n.public(n.a, gtCommitFC([]codec.ProposalOrRef{gtRef(bytes.Repeat([]byte{9}, n.cs.HashSize()))}, n.dummyPath(n.a)), n.tag()), RuleProposalRef)
		}},
		{name: "inline SelfRemove", rule: RuleSelfRemoveByReference, run: func(n *gtNeg) {
			p := &codec.Proposal{ProposalType: codec.ProposalTypeSelfRemove, SelfRemove: &codec.SelfRemove{}}
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(p), n.dummyPath(n.a)), n.tag()), RuleSelfRemoveByReference)
		}},
		{name: "PSK not available", rule: RulePSKAvailable, run: func(n *gtNeg) {
			id := gtMust(NewExternalPSKID(n.s.p, n.cs, []byte("unknown")))(n.t)
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(gtPSK(id)), nil), n.tag()), RulePSKAvailable)
		}},
		{name: "PSK nonce length", rule: RulePSKNonceLength, run: func(n *gtNeg) {
			id := gtMust(NewExternalPSKID(n.s.p, n.cs, []byte("k")))(n.t)
			id.PSKNonce = id.PSKNonce[:3]
			n.expect(n.b, n.public(n.a, gtProposalFC(gtPSK(id)), nil), RulePSKNonceLength)
		}},
		{name: "resumption PSK of usage reinit", rule: RulePSKType, run: func(n *gtNeg) {
			id := gtMust(NewResumptionPSKID(n.s.p, n.cs, codec.ResumptionPSKUsageReInit, n.a.g.GroupID(), 0))(n.t)
			n.expect(n.b, n.public(n.a, gtProposalFC(gtPSK(id)), nil), RulePSKType)
		}},
		{name: "same PSK twice", rule: RulePSKDuplicate, run: func(n *gtNeg) {
			id := gtMust(NewExternalPSKID(n.s.p, n.cs, []byte("k")))(n.t)
			n.expect(n.b, n.public(n.a, gtCommitFC(gtInline(gtPSK(id), gtPSK(id)), nil), n.tag()), RulePSKDuplicate)
		}},

		// ---- external commits (§12.4.3.2) ----
		{name: "external commit without ExternalInit", rule: RuleExternalCommitNoExternalInit, run: func(n *gtNeg) {
			j, pm := n.externalCommit(nil)
			pm.Content.Commit.Proposals = pm.Content.Commit.Proposals[1:]
			n.expect(n.b, n.external(j.Signer, pm.Content, pm.Auth.ConfirmationTag), RuleExternalCommitNoExternalInit)
		}},
		{name: "external commit with two ExternalInits", rule: RuleExternalCommitExternalInitTwice, run: func(n *gtNeg) {
			j, pm := n.externalCommit(nil)
			c := pm.Content.Commit
			c.Proposals = append(c.Proposals, c.Proposals[0])
			n.expect(n.b, n.external(j.Signer, pm.Content, pm.Auth.ConfirmationTag), RuleExternalCommitExternalInitTwice)
		}},
		{name: "external commit with a GroupContextExtensions", rule: RuleExternalCommitProposalType, run: func(n *gtNeg) {
			j, pm := n.externalCommit(nil)
			c := pm.Content.Commit
			c.Proposals = append(c.Proposals, gtInline(gtGCE())...)
			n.expect(n.b, n.external(j.Signer, pm.Content, pm.Auth.ConfirmationTag), RuleExternalCommitProposalType)
		}},
		{name: "external commit with two Removes", rule: RuleExternalCommitProposalType, run: func(n *gtNeg) {
			j, pm := n.externalCommit(nil)
			c := pm.Content.Commit
			c.Proposals = append(c.Proposals, gtInline(gtRemove(2), gtRemove(3))...)
			n.expect(n.b, n.external(j.Signer, pm.Content, pm.Auth.ConfirmationTag), RuleExternalCommitProposalType)
		}},
		{name: "external commit with a proposal by reference", rule: RuleExternalCommitByReference, run: func(n *gtNeg) {
			msg, q := gtMust2(n.c.g.ProposeRemove(3))(n.t)
			n.deliver(n.b, msg)
			j, pm := n.externalCommit(nil)
			c := pm.Content.Commit
			c.Proposals = append(c.Proposals, gtRef(q.Ref))
			n.expect(n.b, n.external(j.Signer, pm.Content, pm.Auth.ConfirmationTag), RuleExternalCommitByReference)
		}},
		{name: "external commit without a path", rule: RuleExternalCommitNoPath, run: func(n *gtNeg) {
			j, pm := n.externalCommit(nil)
			pm.Content.Commit.Path = nil
			n.expect(n.b, n.external(j.Signer, pm.Content, pm.Auth.ConfirmationTag), RuleExternalCommitNoPath)
		}},
		{name: "external commit not signed by its path's key", rule: RuleExternalCommitSignature, run: func(n *gtNeg) {
			_, pm := n.externalCommit(nil)
			n.expect(n.b, n.external(n.a.c.Signer, pm.Content, pm.Auth.ConfirmationTag), RuleExternalCommitSignature)
		}},
		{name: "external commit with a kem_output that does not decode", rule: RuleExternalInit, run: func(n *gtNeg) {
			j, pm := n.externalCommit(nil)
			pm.Content.Commit.Proposals[0].Proposal.ExternalInit.KEMOutput = []byte("k")
			n.expect(n.b, n.external(j.Signer, pm.Content, pm.Auth.ConfirmationTag), RuleExternalInit)
		}},
		{name: "external commit with a wrong kem_output", rule: RuleConfirmationTag, run: func(n *gtNeg) {
			j, pm := n.externalCommit(nil)
			// A valid encapsulation to the group's external key that the
			// joiner does not know the secret of.
			pub := n.externalPub()
			enc, _ := gtMust2(keyschedule.ExternalInitS(n.cs, pub))(n.t)
			pm.Content.Commit.Proposals[0].Proposal.ExternalInit.KEMOutput = enc
			n.expect(n.b, n.external(j.Signer, pm.Content, pm.Auth.ConfirmationTag), RuleConfirmationTag)
		}},
	}
	tested := map[error]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := newGTNeg(t, c.opts)
			n.name = c.name
			n.pg = pgNegFollower(n)
			c.run(n)
			// After the refusals, a valid commit still works for everyone.
			n.s.applyCommit(n.d, gtMust(n.d.g.Commit(CommitOptions{ForcePath: true, ExcludePending: true}))(t))
			tested[c.rule] = true
		})
	}
	t.Logf("%d negative cases, %d distinct rules", len(cases), len(tested))
}

// privateBadPadding encrypts ac as member m would (RFC 9420 §6.3), but
// with a non-zero padding byte (§6.3.1), using m's secret tree and
// sender-data secret; the reuse guard is zero.
func (n *gtNeg) privateBadPadding(m *gtMember, ac *codec.AuthenticatedContent) []byte {
	n.t.Helper()
	c := &ac.Content
	pmc := codec.PrivateMessageContent{ApplicationData: c.ApplicationData, Proposal: c.Proposal, Commit: c.Commit, Auth: ac.Auth}
	pt := gtMust(pmc.AppendTo(nil, c.ContentType))(n.t)
	pt = append(pt, make([]byte, 16)...)
	pt[len(pt)-1] = 1
	aad := gtMust((&codec.PrivateContentAAD{GroupID: c.GroupID, Epoch: c.Epoch, ContentType: c.ContentType, AuthenticatedData: c.AuthenticatedData}).Marshal())(n.t)
	kn := gtMust(m.g.epoch.protector.Tree().Next(treemath.LeafIndex(c.Sender.LeafIndex), secrettree.RatchetFor(c.ContentType)))(n.t)
	ct := gtMust(n.cs.Seal(nil, kn.Key(), kn.Nonce(), pt, aad))(n.t)
	sd := gtMust((&codec.SenderData{LeafIndex: c.Sender.LeafIndex, Generation: kn.Generation}).Marshal())(n.t)
	sdAAD := gtMust((&codec.SenderDataAAD{GroupID: c.GroupID, Epoch: c.Epoch, ContentType: c.ContentType}).Marshal())(n.t)
	skn := gtMust(secrettree.SenderDataKeyNonce(n.cs, m.g.epoch.secrets.SenderData, ct))(n.t)
	esd := gtMust(n.cs.Seal(nil, skn.Key(), skn.Nonce(), sd, sdAAD))(n.t)
	pm := &codec.PrivateMessage{GroupID: c.GroupID, Epoch: c.Epoch, ContentType: c.ContentType, AuthenticatedData: c.AuthenticatedData, EncryptedSenderData: esd, Ciphertext: ct}
	return gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSPrivateMessage, PrivateMessage: pm}).Marshal())(n.t)
}

// update builds an Update proposal of member m with a fresh encryption key,
// changed by mod, signed by m.
func (n *gtNeg) update(m *gtMember, mod func(ln *codec.LeafNode)) *codec.Proposal {
	n.t.Helper()
	ln, _ := gtMust2(m.g.leafTemplate(nil))(n.t)
	_, pub := gtMust2(n.cs.GenerateKeyPair(n.s.p.Rand()))(n.t)
	ln.EncryptionKey = pub
	ln.LeafNodeSource = codec.LeafNodeSourceUpdate
	if mod != nil {
		mod(ln)
	}
	n.resignLeaf(m, ln, m.g.OwnLeafIndex())
	return &codec.Proposal{ProposalType: codec.ProposalTypeUpdate, Update: &codec.Update{LeafNode: *ln}}
}

// provisionalInfo is the HPKE info of a's path secrets (RFC 9420 §7.6):
// the EncryptContext of the provisional GroupContext with the path applied.
func (n *gtNeg) provisionalInfo(path *codec.UpdatePath) []byte {
	n.t.Helper()
	d := n.b.g.epoch.tree.Stage()
	keys := make([]codec.HPKEPublicKey, len(path.Nodes))
	for i := range path.Nodes {
		keys[i] = path.Nodes[i].EncryptionKey
	}
	gtMust(d.SetPathKeys(0, keys))(n.t)
	if err := d.ReplaceLeaf(0, &path.LeafNode); err != nil {
		n.t.Fatal(err)
	}
	ctx := n.b.g.epoch.ctx
	ctx.Epoch++
	ctx.TreeHash = gtMust(d.TreeHash())(n.t)
	return gtMust(treekem.EncryptContext(gtMust(ctx.Marshal())(n.t)))(n.t)
}

// deliver has recv process and store a proposal.
func (n *gtNeg) deliver(recv *gtMember, msg []byte) {
	n.t.Helper()
	pm, err := recv.g.ProcessMessage(msg)
	if err != nil || pm.Kind != KindProposal {
		n.t.Fatalf("proposal: %v", err)
	}
	if err := recv.g.StoreProposal(pm.Proposal); err != nil {
		n.t.Fatal(err)
	}
	if recv == n.b && n.pg != nil {
		n.pg.proposal(n.b, msg)
	}
}

// externalCommit has a new client build an external Commit from a's
// GroupInfo and returns its client and the decoded PublicMessage.
func (n *gtNeg) externalCommit(opts *ExternalCommitOptions) (*Client, *codec.PublicMessage) {
	n.t.Helper()
	j := gtNewClient(n.t, n.s.p, n.s.suite, "joiner")
	_, commit, err := JoinByExternalCommit(j, gtMust(n.a.g.GroupInfo(true))(n.t), nil, n.s.cfg, opts)
	if err != nil {
		n.t.Fatal(err)
	}
	var m codec.MLSMessage
	if err := m.Unmarshal(commit); err != nil {
		n.t.Fatal(err)
	}
	return j, m.PublicMessage
}

// externalPub returns the group's external public key.
func (n *gtNeg) externalPub() []byte {
	var m codec.MLSMessage
	if err := m.Unmarshal(gtMust(n.a.g.GroupInfo(false))(n.t)); err != nil {
		n.t.Fatal(err)
	}
	pub, _, _ := Extensions(m.GroupInfo.Extensions).ExternalPub()
	return pub
}

// gtCustomExtOptions makes a group whose context has the non-default
// extension 0xff00, which every member's capabilities list.
func gtCustomExtOptions() *CreateOptions {
	caps := codec.Capabilities{Extensions: []codec.ExtensionType{0xff00}}
	return &CreateOptions{
		GroupContextExtensions: []codec.Extension{{ExtensionType: 0xff00, ExtensionData: []byte("custom")}},
		LeafCapabilities:       &caps,
	}
}

// gtExternalSigner is the key of the external sender of
// gtExternalSenderOptions (deterministic, so the options are a plain value).
func gtExternalSigner(t testing.TB) providers.Signer {
	return gtMust(NewSignatureKeyPair(defaultcrypto.New(), codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519, bytes.Repeat([]byte{5}, 32)))(t)
}

func gtExternalSenderOptions(t testing.TB) *CreateOptions {
	ext := gtMust(oneExtension(Extensions(nil).WithExternalSenders(codec.ExternalSenders{{SignatureKey: gtExternalSigner(t).PublicKey(), Credential: NewBasicCredential([]byte("ds")).Wire()}})))(t)
	return &CreateOptions{GroupContextExtensions: []codec.Extension{ext}}
}
