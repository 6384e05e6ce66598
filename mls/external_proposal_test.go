package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

// epProcessAll has every member of s process msg as a proposal from sender
// type st and store it.
func epProcessAll(t *testing.T, s *gtSim, msg []byte, st codec.SenderType) {
	t.Helper()
	for _, m := range s.members {
		pm, err := m.g.ProcessMessage(msg)
		if err != nil {
			t.Fatalf("%s processing the proposal: %v", m.name, err)
		}
		if pm.Kind != KindProposal || pm.Sender.SenderType != st || pm.WireFormat != codec.WireFormatMLSPublicMessage {
			t.Fatalf("%s: kind %d sender %v wire format %v", m.name, pm.Kind, pm.Sender.SenderType, pm.WireFormat)
		}
		if err := m.g.StoreProposal(pm.Proposal); err != nil {
			t.Fatal(err)
		}
	}
}

// epRefuse checks that every member refuses msg with rule and is unchanged.
func epRefuse(t *testing.T, s *gtSim, msg []byte, rule error) {
	t.Helper()
	for _, m := range s.members {
		before := gtSnapshot(m.g)
		if _, err := m.g.ProcessMessage(msg); !errors.Is(err, rule) {
			t.Fatalf("%s: got %v, want %v", m.name, err, rule)
		}
		if gtSnapshot(m.g) != before {
			t.Fatalf("%s: state changed by a refused proposal", m.name)
		}
	}
}

// epDecode decodes an MLSMessage carrying a PublicMessage.
func epDecode(t *testing.T, msg []byte) *codec.PublicMessage {
	t.Helper()
	var m codec.MLSMessage
	if err := m.Unmarshal(msg); err != nil || m.PublicMessage == nil {
		t.Fatalf("not a PublicMessage: %v", err)
	}
	return m.PublicMessage
}

// TestExternalProposerAddRemove: a Delivery Service listed in the group's
// external_senders (RFC 9420 §12.1.8.1) learns the GroupContext from a
// verified GroupInfo, proposes an Add and a Remove; members process them as
// proposals from sender external 0, store them, and a member commits both
// by reference; the new member joins from the Welcome.
func TestExternalProposerAddRemove(t *testing.T) {
	for _, pol := range []WireFormatPolicy{PureCiphertext(), PurePlaintext()} {
		cfg := GroupConfig{WireFormatPolicy: pol, UseRatchetTreeExtension: true}
		s := newGTSim(t, gtSuites[0], cfg, gtExternalSenderOptions(t))
		a := s.members[0]
		s.add(a, 3, false)
		ds := &ExternalProposer{Provider: s.p, Signer: gtExternalSigner(t)}
		ctx, err := ds.GroupContextFromGroupInfo(gtMust(s.members[2].g.GroupInfo(true))(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ctx.GroupID, a.g.GroupID()) || ctx.Epoch != a.g.Epoch() {
			t.Fatalf("GroupContext of group %x epoch %d", ctx.GroupID, ctx.Epoch)
		}
		if i, err := ds.SenderIndex(&ctx); err != nil || i != 0 {
			t.Fatalf("SenderIndex = %d, %v", i, err)
		}
		j := s.newClient()
		addMsg, err := ds.ProposeAdd(&ctx, gtKeyPackage(t, j.c, s.suite), []byte("ds add"))
		if err != nil {
			t.Fatal(err)
		}
		pm := epDecode(t, addMsg)
		if pm.Content.Sender != (codec.Sender{SenderType: codec.SenderTypeExternal, SenderIndex: 0}) || pm.MembershipTag != nil || !bytes.Equal(pm.Content.AuthenticatedData, []byte("ds add")) {
			t.Fatalf("external proposal: sender %+v, membership tag %x", pm.Content.Sender, pm.MembershipTag)
		}
		victim := s.members[3]
		rmMsg, err := ds.ProposeRemove(&ctx, victim.g.OwnLeafIndex(), nil)
		if err != nil {
			t.Fatal(err)
		}
		epProcessAll(t, s, addMsg, codec.SenderTypeExternal)
		epProcessAll(t, s, rmMsg, codec.SenderTypeExternal)
		committer := s.members[1]
		res := gtMust(committer.g.CommitPendingProposals())(t)
		removed := s.applyCommit(committer, res, j)
		if len(removed) != 1 || removed[0] != victim {
			t.Fatalf("removed %v", removed)
		}
		if s.members[len(s.members)-1] != j || j.g.MemberCount() != 4 {
			t.Fatalf("joiner not in the group (%d members)", j.g.MemberCount())
		}
		s.sendApp(j, []byte("added by the DS"), nil)

		// The proposal was for the previous epoch: refused now.
		epRefuse(t, s, addMsg, RuleWrongEpoch)
	}
}

// TestExternalProposerOtherTypes: the other proposal types an external
// sender may send (GroupContextExtensions, PSK, ReInit) are accepted and
// committed; Update, ExternalInit and SelfRemove are refused on creation
// (RuleProposalSender).
func TestExternalProposerOtherTypes(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{}, gtExternalSenderOptions(t))
	s.outOfBandTree = true
	a := s.members[0]
	s.add(a, 2, false)
	ds := &ExternalProposer{Provider: s.p, Signer: gtExternalSigner(t)}
	ctx := a.g.GroupContext()

	// GroupContextExtensions: keep the external senders, add a custom
	// extension... which no member supports: refused by the members.
	custom := codec.Extension{ExtensionType: 0xff00, ExtensionData: []byte("x")}
	msg, err := ds.ProposeGroupContextExtensions(&ctx, Extensions(ctx.Extensions).With(custom), nil)
	if err != nil {
		t.Fatal(err)
	}
	epRefuse(t, s, msg, RuleGroupContextExtensionsUnsupported)
	// A supported change: required_capabilities asking for nothing new.
	rc := gtMust(oneExtension(Extensions(nil).WithRequiredCapabilities(&codec.RequiredCapabilities{})))(t)
	msg, err = ds.ProposeGroupContextExtensions(&ctx, Extensions(ctx.Extensions).With(rc), nil)
	if err != nil {
		t.Fatal(err)
	}
	epProcessAll(t, s, msg, codec.SenderTypeExternal)
	// A PSK every member holds.
	cs := gtMust(s.p.CipherSuite(s.suite))(t)
	for _, m := range s.members {
		if err := StoreExternalPSK(m.c.Storage, []byte("ds psk"), bytes.Repeat([]byte{7}, cs.HashSize())); err != nil {
			t.Fatal(err)
		}
	}
	id := gtMust(NewExternalPSKID(s.p, cs, []byte("ds psk")))(t)
	msg, err = ds.ProposePSK(&ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	epProcessAll(t, s, msg, codec.SenderTypeExternal)
	res := gtMust(s.members[1].g.CommitPendingProposals())(t)
	s.applyCommit(s.members[1], res)
	if a.g.Extensions().Find(codec.ExtensionTypeRequiredCapabilities) == nil {
		t.Fatal("GroupContextExtensions not applied")
	}

	// Types an external sender may not send.
	ctx = a.g.GroupContext()
	for _, p := range []*codec.Proposal{
		{ProposalType: codec.ProposalTypeUpdate, Update: &codec.Update{LeafNode: *a.g.OwnLeafNode()}},
		{ProposalType: codec.ProposalTypeExternalInit, ExternalInit: &codec.ExternalInit{KEMOutput: []byte{1}}},
		{ProposalType: codec.ProposalTypeSelfRemove, SelfRemove: &codec.SelfRemove{}},
	} {
		if _, err := ds.Propose(&ctx, p, nil); !errors.Is(err, RuleProposalSender) {
			t.Fatalf("external %v proposal: %v", p.ProposalType, err)
		}
	}
	if _, err := ds.ProposeReInit(&ctx, codec.ReInit{GroupID: []byte("x")}, nil); !errors.Is(err, RuleReInitVersion) {
		t.Fatalf("ReInit to version 0: %v", err)
	}
	if _, err := ds.Propose(&ctx, nil, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil proposal: %v", err)
	}
	if _, err := ds.ProposeAdd(&ctx, nil, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil key package: %v", err)
	}
	// ReInit, alone in its Commit; it ends the group.
	ctx = a.g.GroupContext()
	ri := codec.ReInit{GroupID: []byte("next"), Version: codec.ProtocolVersionMLS10, CipherSuite: s.suite}
	msg, err = ds.ProposeReInit(&ctx, ri, nil)
	if err != nil {
		t.Fatal(err)
	}
	epProcessAll(t, s, msg, codec.SenderTypeExternal)
	res = gtMust(a.g.CommitPendingProposals())(t)
	for _, m := range s.members[1:] {
		pm := gtMust(m.g.ProcessMessage(res.Commit))(t)
		if err := m.g.MergeStagedCommit(pm.Commit); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	for _, m := range s.members {
		if got, ok := m.g.ReInit(); !ok || !bytes.Equal(got.GroupID, []byte("next")) || m.g.Active() {
			t.Fatalf("%s: ReInit not applied", m.name)
		}
	}
}

// TestExternalProposerNotListed: a sender that the group does not list is
// refused when creating the proposal (ErrNotExternalSender); a proposal it
// forges anyway is refused by the members: RuleExternalSender for an index
// outside the list, RuleSignature for a listed index with another key.
func TestExternalProposerNotListed(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{}, gtExternalSenderOptions(t))
	s.outOfBandTree = true
	a := s.members[0]
	s.add(a, 2, false)
	rogue := gtMust(GenerateSignatureKeyPair(s.p, s.suite))(t)
	ctx := a.g.GroupContext()
	ep := &ExternalProposer{Provider: s.p, Signer: rogue}
	if _, err := ep.ProposeRemove(&ctx, 1, nil); !errors.Is(err, ErrNotExternalSender) {
		t.Fatalf("unlisted proposer: %v", err)
	}
	for _, i := range []uint32{0, 1} {
		if _, err := NewExternalProposal(rogue, &ctx, i, gtRemove(1), nil); !errors.Is(err, ErrNotExternalSender) {
			t.Fatalf("NewExternalProposal at index %d: %v", i, err)
		}
	}
	// A group without external_senders.
	plain := newGTSim(t, gtSuites[0], GroupConfig{})
	pctx := plain.members[0].g.GroupContext()
	if _, err := (&ExternalProposer{Provider: s.p, Signer: gtExternalSigner(t)}).ProposeRemove(&pctx, 0, nil); !errors.Is(err, ErrNotExternalSender) {
		t.Fatalf("group without external senders: %v", err)
	}

	// Forged: the rogue believes it is listed (a GroupContext whose
	// external_senders it altered); the members know better.
	es := gtMust(Extensions(ctx.Extensions).ExternalSenders())(t)
	me := codec.ExternalSender{SignatureKey: rogue.PublicKey(), Credential: NewBasicCredential([]byte("rogue")).Wire()}
	forged := ctx
	forged.Extensions = Extensions(ctx.Extensions).With(gtMust(oneExtension(Extensions(nil).WithExternalSenders(append(es, me))))(t))
	msg, err := ep.ProposeRemove(&forged, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if epDecode(t, msg).Content.Sender.SenderIndex != 1 {
		t.Fatal("rogue not at index 1")
	}
	epRefuse(t, s, msg, RuleExternalSender)
	forged.Extensions = Extensions(ctx.Extensions).With(gtMust(oneExtension(Extensions(nil).WithExternalSenders(codec.ExternalSenders{me})))(t))
	msg, err = ep.ProposeRemove(&forged, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	epRefuse(t, s, msg, RuleSignature)
	// An external_senders extension that does not decode; no context.
	forged.Extensions = Extensions(ctx.Extensions).With(codec.Extension{ExtensionType: codec.ExtensionTypeExternalSenders, ExtensionData: []byte{0xff}})
	if _, err := ep.ProposeRemove(&forged, 1, nil); !errors.Is(err, ErrMalformedExtension) {
		t.Fatalf("malformed external_senders: %v", err)
	}
	if _, err := NewExternalProposal(rogue, &forged, 0, gtRemove(1), nil); !errors.Is(err, ErrMalformedExtension) {
		t.Fatalf("malformed external_senders: %v", err)
	}
	if _, err := NewExternalProposal(rogue, nil, 0, gtRemove(1), nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil context: %v", err)
	}
	// A signer of another cipher suite is refused on creation.
	p256 := gtMust(GenerateSignatureKeyPair(s.p, codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256))(t)
	forged.Extensions = Extensions(ctx.Extensions).With(gtMust(oneExtension(Extensions(nil).WithExternalSenders(codec.ExternalSenders{{SignatureKey: p256.PublicKey(), Credential: me.Credential}})))(t))
	if _, err := NewExternalProposal(p256, &forged, 0, gtRemove(1), nil); !errors.Is(err, ErrWrongCipherSuite) {
		t.Fatalf("signer of another suite: %v", err)
	}
}

// TestExternalProposerGroupInfo: GroupContextFromGroupInfo refuses a
// GroupInfo that does not verify, and needs the tree.
func TestExternalProposerGroupInfo(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{}, gtExternalSenderOptions(t))
	s.outOfBandTree = true
	a := s.members[0]
	s.add(a, 1, false)
	ds := &ExternalProposer{Provider: s.p, Signer: gtExternalSigner(t)}
	noTree := gtMust(a.g.GroupInfo(false))(t)
	if _, err := ds.GroupContextFromGroupInfo(noTree, nil); !errors.Is(err, ErrNoRatchetTree) {
		t.Fatalf("no tree: %v", err)
	}
	ctx, err := ds.GroupContextFromGroupInfo(noTree, a.g.RatchetTree())
	if err != nil || ctx.Epoch != a.g.Epoch() {
		t.Fatalf("out-of-band tree: %v", err)
	}
	var m codec.MLSMessage
	if err := m.Unmarshal(gtMust(a.g.GroupInfo(true))(t)); err != nil {
		t.Fatal(err)
	}
	m.GroupInfo.GroupContext.Epoch++
	if _, err := ds.GroupContextFromGroupInfo(gtMust(m.Marshal())(t), nil); !errors.Is(err, ErrInvalidGroupInfoSignature) {
		t.Fatalf("tampered GroupInfo: %v", err)
	}
	if _, err := ds.GroupContextFromGroupInfo([]byte{0, 1}, nil); err == nil {
		t.Fatal("garbage accepted")
	}
	// A Welcome is not a GroupInfo.
	j := s.newClient()
	res := gtMust(a.g.AddMembers(gtKeyPackage(t, j.c, s.suite)))(t)
	if _, err := ds.GroupContextFromGroupInfo(res.Welcome, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Welcome as GroupInfo: %v", err)
	}
	if _, err := (&ExternalProposer{Signer: gtExternalSigner(t)}).GroupContextFromGroupInfo(noTree, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("no provider: %v", err)
	}
}

// TestJoinProposal: a new member proposes its own Add (sender
// new_member_proposal, RFC 9420 §12.1.8) from a verified GroupInfo; the
// members store it, one commits it, and the new member joins from the
// Welcome.
func TestJoinProposal(t *testing.T) {
	gtForSuites(t, func(t *testing.T, suite codec.CipherSuite) {
		s := newGTSim(t, suite, GroupConfig{})
		s.outOfBandTree = true
		a := s.members[0]
		s.add(a, 2, false)
		j := s.newClient()
		b, err := (&KeyPackageBuilder{Provider: j.c.Provider, CipherSuite: suite, Credential: j.c.Credential, Signer: j.c.Signer}).BuildAndStore(j.c.Storage)
		if err != nil {
			t.Fatal(err)
		}
		gi := gtMust(s.members[1].g.GroupInfo(false))(t)
		msg, err := NewJoinProposal(j.c, gi, s.members[1].g.RatchetTree(), b, []byte("let me in"))
		if err != nil {
			t.Fatal(err)
		}
		pm := epDecode(t, msg)
		if pm.Content.Sender.SenderType != codec.SenderTypeNewMemberProposal || pm.MembershipTag != nil || pm.Content.Proposal.ProposalType != codec.ProposalTypeAdd {
			t.Fatalf("join proposal: %+v", pm.Content.Sender)
		}
		epProcessAll(t, s, msg, codec.SenderTypeNewMemberProposal)
		res := gtMust(s.members[2].g.CommitPendingProposals())(t)
		s.applyCommit(s.members[2], res, j)
		if j.g == nil || j.g.MemberCount() != 4 {
			t.Fatal("the new member did not join")
		}
		s.sendApp(j, []byte("thanks"), nil)
	})
}

// TestJoinProposalErrors: NewJoinProposal refuses a GroupInfo that does not
// verify, a key package of another signer or suite, and a key package
// without the group's required capabilities.
func TestJoinProposalErrors(t *testing.T) {
	suite := gtSuites[0]
	cfg := gtCustomExtOptions()
	s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: true}, cfg)
	a := s.members[0]
	gi := gtMust(a.g.GroupInfo(true))(t)
	j := s.newClient()
	build := func(c *Client, cs codec.CipherSuite, caps *codec.Capabilities) *KeyPackageBundle {
		b, err := (&KeyPackageBuilder{Provider: c.Provider, CipherSuite: cs, Credential: c.Credential, Signer: c.Signer, Capabilities: caps}).BuildAndStore(c.Storage)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := build(j.c, suite, cfg.LeafCapabilities)
	// Without the group's custom extension in its capabilities.
	if _, err := NewJoinProposal(j.c, gi, nil, build(j.c, suite, nil), nil); !errors.Is(err, ErrUnsupportedCapability) {
		t.Fatalf("key package without the group's extension: %v", err)
	}
	// Signed by another key than the key package's.
	k := s.newClient()
	if _, err := NewJoinProposal(k.c, gi, nil, good, nil); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("another signer: %v", err)
	}
	// A key package of another suite.
	p256 := *j.c
	p256.Signer = gtMust(GenerateSignatureKeyPair(s.p, codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256))(t)
	if _, err := NewJoinProposal(&p256, gi, nil, build(&p256, codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256, cfg.LeafCapabilities), nil); !errors.Is(err, ErrWrongCipherSuite) {
		t.Fatalf("key package of another suite: %v", err)
	}
	// A tampered GroupInfo.
	var m codec.MLSMessage
	if err := m.Unmarshal(gi); err != nil {
		t.Fatal(err)
	}
	m.GroupInfo.GroupContext.GroupID = []byte("other")
	if _, err := NewJoinProposal(j.c, gtMust(m.Marshal())(t), nil, good, nil); !errors.Is(err, ErrInvalidGroupInfoSignature) {
		t.Fatalf("tampered GroupInfo: %v", err)
	}
	if _, err := NewJoinProposal(j.c, gtMust(a.g.GroupInfo(false))(t), nil, good, nil); !errors.Is(err, ErrNoRatchetTree) {
		t.Fatalf("no tree: %v", err)
	}
	if _, err := NewJoinProposal(j.c, gi, nil, nil, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil bundle: %v", err)
	}
	// The good one goes through.
	msg, err := NewJoinProposal(j.c, gi, nil, good, nil)
	if err != nil {
		t.Fatal(err)
	}
	epProcessAll(t, s, msg, codec.SenderTypeNewMemberProposal)
	s.applyCommit(a, gtMust(a.g.CommitPendingProposals())(t), j)
	// A join proposal whose Add was altered after signing fails the
	// signature check.
	k2 := s.newClient()
	kb := build(k2.c, suite, cfg.LeafCapabilities)
	msg, err = NewJoinProposal(k2.c, gtMust(a.g.GroupInfo(true))(t), nil, kb, nil)
	if err != nil {
		t.Fatal(err)
	}
	pm := epDecode(t, msg)
	pm.Content.AuthenticatedData = []byte("altered")
	epRefuse(t, s, gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSPublicMessage, PublicMessage: pm}).Marshal())(t), RuleSignature)
}

// epExampleClient makes a client for the examples with only the public API.
func epExampleClient(name string) *Client {
	p := defaultcrypto.New()
	signer, err := GenerateSignatureKeyPair(p, codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519)
	if err != nil {
		panic(err)
	}
	return &Client{Provider: p, Storage: memstore.New(), Signer: signer, Credential: NewBasicCredential([]byte(name))}
}

// A Delivery Service listed in the group's external_senders proposes to
// remove a member; a member commits the proposal, and the removed member
// learns who removed it.
func ExampleExternalProposer() {
	suite := codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519
	p := defaultcrypto.New()
	dsKey, _ := GenerateSignatureKeyPair(p, suite)
	ext, _ := oneExtension(Extensions(nil).WithExternalSenders(codec.ExternalSenders{{SignatureKey: dsKey.PublicKey(), Credential: NewBasicCredential([]byte("ds")).Wire()}}))

	alice, bob := epExampleClient("alice"), epExampleClient("bob")
	g, _ := NewGroup(alice, suite, GroupConfig{UseRatchetTreeExtension: true}, &CreateOptions{GroupContextExtensions: Extensions{ext}})
	kp, _ := (&KeyPackageBuilder{Provider: p, CipherSuite: suite, Credential: bob.Credential, Signer: bob.Signer}).BuildAndStore(bob.Storage)
	res, _ := g.AddMembers(&kp.KeyPackage)
	_ = g.MergePendingCommit()
	gb, _ := JoinFromWelcome(bob, res.Welcome, nil, GroupConfig{})

	// The DS learns the group's current context from a GroupInfo.
	ds := &ExternalProposer{Provider: p, Signer: dsKey}
	gi, _ := g.GroupInfo(true)
	ctx, err := ds.GroupContextFromGroupInfo(gi, nil)
	if err != nil {
		panic(err)
	}
	proposal, _ := ds.ProposeRemove(&ctx, gb.OwnLeafIndex(), nil)

	for _, m := range []*Group{g, gb} {
		pm, err := m.ProcessMessage(proposal)
		if err != nil {
			panic(err)
		}
		_ = m.StoreProposal(pm.Proposal)
	}
	res, _ = g.CommitPendingProposals()
	info, _ := g.PendingCommit()
	fmt.Println("alice:", info.RemoveOperations[0].Kind(), string(info.RemoveOperations[0].RemovedCredential.Identity()))
	_ = g.MergePendingCommit()
	pm, _ := gb.ProcessMessage(res.Commit)
	op := pm.Commit.RemoveOperations()[0]
	fmt.Println("bob:", op.Kind(), op.Remover.SenderType, string(op.RemoverCredential.Identity()))
	// Output:
	// alice: TheyWereRemovedBy bob
	// bob: WeWereRemovedBy external ds
}

// A new member proposes its own Add from the group's GroupInfo; a member
// commits it and the new member joins from the Welcome.
func ExampleNewJoinProposal() {
	suite := codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519
	alice, carol := epExampleClient("alice"), epExampleClient("carol")
	g, _ := NewGroup(alice, suite, GroupConfig{UseRatchetTreeExtension: true}, nil)
	gi, _ := g.GroupInfo(true)

	kp, _ := (&KeyPackageBuilder{Provider: carol.Provider, CipherSuite: suite, Credential: carol.Credential, Signer: carol.Signer}).BuildAndStore(carol.Storage)
	proposal, err := NewJoinProposal(carol, gi, nil, kp, nil)
	if err != nil {
		panic(err)
	}
	pm, _ := g.ProcessMessage(proposal)
	fmt.Println(pm.Sender.SenderType, pm.Proposal.Type())
	_ = g.StoreProposal(pm.Proposal)
	res, _ := g.CommitPendingProposals()
	_ = g.MergePendingCommit()
	gc, err := JoinFromWelcome(carol, res.Welcome, nil, GroupConfig{})
	if err != nil {
		panic(err)
	}
	fmt.Println(gc.MemberCount(), string(gc.Credential().Identity()))
	// Output:
	// new_member_proposal add
	// 2 carol
}
