package mls

import (
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/leafnode"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// SendApplicationMessage encrypts an application message for the group
// (RFC 9420 §6.3) with optional additional authenticated data, and returns
// the MLSMessage to send. Application messages are always PrivateMessages.
func (g *Group) SendApplicationMessage(data, aad []byte) ([]byte, error) {
	if !g.active {
		return nil, ErrInactive
	}
	// A pending Commit of ours does not stop us sending in the current
	// epoch until it is merged.
	fc := codec.FramedContent{
		GroupID:           g.epoch.ctx.GroupID,
		Epoch:             g.epoch.ctx.Epoch,
		Sender:            codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: uint32(g.epoch.own)},
		AuthenticatedData: aad,
		ContentType:       codec.ContentTypeApplication,
		ApplicationData:   data,
	}
	var ac codec.AuthenticatedContent
	if err := g.epoch.protector.SignTo(&ac, g.signer, codec.WireFormatMLSPrivateMessage, &fc); err != nil {
		return nil, fmt.Errorf("mls: signing the application message: %w", err)
	}
	out, key, err := g.epoch.protector.ProtectPrivateStaged(&ac)
	if err != nil {
		return nil, fmt.Errorf("mls: encrypting the application message: %w", err)
	}
	// The generation is used up (§9.2): the secret tree without it is
	// stored before the message leaves.
	l := g.stageMessage()
	l.c.consume(g.epoch.ctx.Epoch, key)
	l.epochs = append(l.epochs, g.epoch.ctx.Epoch)
	if err := l.commitMessage(); err != nil {
		return nil, err
	}
	return out, nil
}

// propose signs and protects a proposal of ours, stores it in the proposal
// store (RFC 9420 §12.1: a member's own proposals are committed by
// reference too) and returns the message to send.
func (g *Group) propose(p *codec.Proposal, aad []byte) ([]byte, *QueuedProposal, error) {
	return g.proposeWith(p, aad, nil)
}

// proposeWith is propose, with more writes for the proposal's transaction.
func (g *Group) proposeWith(p *codec.Proposal, aad []byte, write func(providers.Records) error) ([]byte, *QueuedProposal, error) {
	if !g.active {
		return nil, nil, ErrInactive
	}
	self := codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: uint32(g.epoch.own)}
	fc := codec.FramedContent{
		GroupID:           g.epoch.ctx.GroupID,
		Epoch:             g.epoch.ctx.Epoch,
		Sender:            self,
		AuthenticatedData: aad,
		ContentType:       codec.ContentTypeProposal,
		Proposal:          p,
	}
	wf := g.cfg.WireFormatPolicy.framing().OutgoingWireFormat(codec.ContentTypeProposal)
	ac, err := g.epoch.protector.Sign(g.signer, wf, &fc)
	if err != nil {
		return nil, nil, fmt.Errorf("mls: signing the proposal: %w", err)
	}
	enc, err := ac.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("mls: encoding the proposal: %w", err)
	}
	ref, err := providers.MakeProposalRef(g.cs, enc)
	if err != nil {
		return nil, nil, fmt.Errorf("mls: computing ProposalRef: %w", err)
	}
	c := g.stage()
	if write != nil {
		c.writes = append(c.writes, write)
	}
	out, err := g.protectHandshake(c, wf, ac)
	if err != nil {
		return nil, nil, fmt.Errorf("mls: protecting the proposal: %w", err)
	}
	if err := g.limits().checkStoreRoom(len(g.proposals)); err != nil {
		return nil, nil, err
	}
	q := &QueuedProposal{Proposal: p, Ref: ref, Sender: self, Own: true, Epoch: g.epoch.ctx.Epoch, msgHash: g.cs.Hash(nil, out)}
	c.next.proposals = append(c.next.proposals, q)
	if err := c.commitSave(); err != nil {
		return nil, nil, err
	}
	return out, q, nil
}

// protectHandshake protects ac, a proposal or Commit of ours, as wf
// (§6.2, §6.3) and returns the MLSMessage to send; a PrivateMessage's
// generation is consumed by c, whose transaction stores its deletion. On
// error c has consumed nothing and no message was made.
func (g *Group) protectHandshake(c *change, wf codec.WireFormat, ac *codec.AuthenticatedContent) ([]byte, error) {
	if wf != codec.WireFormatMLSPublicMessage {
		out, key, err := g.epoch.protector.ProtectPrivateStaged(ac)
		if err != nil {
			return nil, err
		}
		c.consume(g.epoch.ctx.Epoch, key)
		return out, nil
	}
	pm, err := g.epoch.protector.ProtectPublic(ac)
	if err != nil {
		return nil, err
	}
	return (&codec.MLSMessage{WireFormat: wf, PublicMessage: pm}).Marshal()
}

// ProposeAdd proposes adding the member of a KeyPackage (RFC 9420 §12.1.1).
func (g *Group) ProposeAdd(kp *codec.KeyPackage) ([]byte, *QueuedProposal, error) {
	if kp == nil {
		return nil, nil, fmt.Errorf("%w: nil KeyPackage", ErrInvalidArgument)
	}
	p := &codec.Proposal{ProposalType: codec.ProposalTypeAdd, Add: &codec.Add{KeyPackage: *kp}}
	if err := g.validateProposal(p, codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: uint32(g.epoch.own)}); err != nil {
		return nil, nil, err
	}
	return g.propose(p, nil)
}

// ProposeRemove proposes removing the member at leaf l (RFC 9420 §12.1.3).
func (g *Group) ProposeRemove(l LeafIndex) ([]byte, *QueuedProposal, error) {
	if g.epoch.tree.Leaf(treemath.LeafIndex(l)) == nil {
		return nil, nil, fmt.Errorf("%w: leaf %d", ErrUnknownMember, l)
	}
	return g.propose(&codec.Proposal{ProposalType: codec.ProposalTypeRemove, Remove: &codec.Remove{Removed: uint32(l)}}, nil)
}

// ProposeSelfRemove proposes this member's own removal with a SelfRemove
// proposal (draft-ietf-mls-extensions), which every member must support:
// how a member leaves a group.
func (g *Group) ProposeSelfRemove() ([]byte, *QueuedProposal, error) {
	p := &codec.Proposal{ProposalType: codec.ProposalTypeSelfRemove, SelfRemove: &codec.SelfRemove{}}
	if err := g.allSupportProposal(g.epoch.tree.Stage(), codec.ProposalTypeSelfRemove, nil); err != nil {
		return nil, nil, err
	}
	return g.propose(p, nil)
}

// LeaveGroup asks the group to remove this member: a SelfRemove proposal if
// every member supports it, otherwise a Remove proposal of our own leaf
// (RFC 9420 §12.1.3), which another member must commit.
func (g *Group) LeaveGroup() ([]byte, error) {
	if err := g.allSupportProposal(g.epoch.tree.Stage(), codec.ProposalTypeSelfRemove, nil); err == nil {
		out, _, err := g.ProposeSelfRemove()
		return out, err
	}
	out, _, err := g.ProposeRemove(g.epoch.own)
	return out, err
}

// ProposeSelfUpdate proposes a new leaf node for this member with a fresh
// HPKE key (RFC 9420 §12.1.2). The private key is kept with the proposal
// until a Commit covers it.
func (g *Group) ProposeSelfUpdate(opts *LeafNodeOptions) ([]byte, *QueuedProposal, error) {
	tmpl, s, err := g.leafTemplate(opts)
	if err != nil {
		return nil, nil, err
	}
	if s != nil {
		return nil, nil, fmt.Errorf("%w: a new signer takes effect through a Commit (SelfUpdate), not an Update proposal", ErrInvalidArgument)
	}
	priv, pub, err := g.cs.GenerateKeyPair(g.provider.Rand())
	if err != nil {
		return nil, nil, fmt.Errorf("mls: generating the leaf key: %w", err)
	}
	tmpl.EncryptionKey = pub
	tmpl.LeafNodeSource = codec.LeafNodeSourceUpdate
	if err := leafnode.Sign(g.signer, tmpl, g.epoch.ctx.GroupID, uint32(g.epoch.own)); err != nil {
		clear(priv)
		return nil, nil, err
	}
	p := &codec.Proposal{ProposalType: codec.ProposalTypeUpdate, Update: &codec.Update{LeafNode: *tmpl}}
	diff := g.epoch.tree.Stage()
	reqCaps, err := requiredCapabilitiesOf(g.epoch.ctx.Extensions)
	if err != nil {
		clear(priv)
		return nil, nil, err
	}
	if err := g.validateLeaf(diff, tmpl, &ratchettree.LeafValidation{
		Source: codec.LeafNodeSourceUpdate, GroupID: g.epoch.ctx.GroupID, Leaf: treemath.LeafIndex(g.epoch.own),
		RequiredCapabilities: reqCaps, GroupExtensions: g.epoch.ctx.Extensions,
	}, RuleUpdateCapabilities, RuleUpdateEncryptionKeyDuplicate); err != nil {
		clear(priv)
		return nil, nil, err
	}
	// Our own Update is not committed by us (§12.2): another member
	// commits it, and we then need its private key, stored with the
	// proposal.
	defer clear(priv)
	kp := &EncryptionKeyPair{CipherSuite: g.epoch.ctx.CipherSuite, PublicKey: pub, PrivateKey: priv}
	return g.proposeWith(p, nil, func(tx providers.Records) error { return kp.Store(tx) })
}

// ProposeGroupContextExtensions proposes new group context extensions
// (RFC 9420 §12.1.7).
func (g *Group) ProposeGroupContextExtensions(exts Extensions) ([]byte, *QueuedProposal, error) {
	p := &codec.Proposal{ProposalType: codec.ProposalTypeGroupContextExtensions, GroupContextExtensions: &codec.GroupContextExtensions{Extensions: exts}}
	if err := g.validateProposal(p, codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: uint32(g.epoch.own)}); err != nil {
		return nil, nil, err
	}
	return g.propose(p, nil)
}

// ProposePSK proposes injecting a pre-shared key into the next epoch
// (RFC 9420 §12.1.4); the PSK must be available to every member.
func (g *Group) ProposePSK(id codec.PreSharedKeyID) ([]byte, *QueuedProposal, error) {
	p := &codec.Proposal{ProposalType: codec.ProposalTypePSK, PreSharedKey: &codec.PreSharedKey{PSK: id}}
	if err := g.validateProposal(p, codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: uint32(g.epoch.own)}); err != nil {
		return nil, nil, err
	}
	if _, err := g.psks().resolve([]codec.PreSharedKeyID{id}); err != nil {
		return nil, nil, RulePSKAvailable.Errorf("%w", err)
	}
	return g.propose(p, nil)
}

// ProposeReInit proposes reinitializing the group with new parameters
// (RFC 9420 §12.1.5).
func (g *Group) ProposeReInit(ri codec.ReInit) ([]byte, *QueuedProposal, error) {
	p := &codec.Proposal{ProposalType: codec.ProposalTypeReInit, ReInit: &ri}
	if err := g.validateProposal(p, codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: uint32(g.epoch.own)}); err != nil {
		return nil, nil, err
	}
	return g.propose(p, nil)
}
