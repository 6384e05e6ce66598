package mls

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/framing"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/providers"
)

// ErrNotExternalSender: the signer of an external proposal is not listed in
// the external_senders extension of the target group (RFC 9420 §12.1.8.1);
// the group's members would refuse the proposal (RuleExternalSender or
// RuleSignature).
var ErrNotExternalSender = errors.New("mls: signer is not an external sender of the group")

// Proposals from senders outside the group (RFC 9420 §12.1.8). Both kinds
// are PublicMessages without a membership tag (§6.2: only member senders
// have one), signed with SignWithLabel(., "FramedContentTBS", ...) over a
// FramedContentTBS that, for the external and new_member_proposal sender
// types, carries no GroupContext (§6.1: only member and new_member_commit
// senders sign it). The sender therefore needs only the group's id, epoch
// and cipher suite; it takes them from a GroupContext, which it gets from a
// verified GroupInfo (Client.VerifyGroupInfoMessage) or from the Delivery
// Service's own view of the group.

// NewExternalProposal builds the proposal of an external sender (RFC 9420
// §12.1.8.1): a PublicMessage of sender type external with sender_index
// senderIndex, for the group and epoch of ctx, signed by signer, encoded as
// an MLSMessage. The entry senderIndex of ctx's external_senders extension
// must hold signer's public key (ErrNotExternalSender). The proposal type
// must be one an external sender may send (§12.1.8.1, §17.4: Add, Remove,
// PreSharedKey, ReInit, GroupContextExtensions, and non-default types;
// RuleProposalSender for Update, ExternalInit and SelfRemove).
func NewExternalProposal(signer providers.Signer, ctx *codec.GroupContext, senderIndex uint32, proposal *codec.Proposal, aad []byte) ([]byte, error) {
	if signer == nil || ctx == nil {
		return nil, fmt.Errorf("%w: nil signer or GroupContext", ErrInvalidArgument)
	}
	es, err := Extensions(ctx.Extensions).ExternalSenders()
	if err != nil {
		return nil, err
	}
	if uint64(senderIndex) >= uint64(len(es)) {
		return nil, fmt.Errorf("%w: sender index %d, the group lists %d external senders", ErrNotExternalSender, senderIndex, len(es))
	}
	if !bytes.Equal(es[senderIndex].SignatureKey, signer.PublicKey()) {
		return nil, fmt.Errorf("%w: external sender %d has another signature key", ErrNotExternalSender, senderIndex)
	}
	return signNonMemberProposal(signer, ctx, codec.Sender{SenderType: codec.SenderTypeExternal, SenderIndex: senderIndex}, proposal, aad)
}

// signNonMemberProposal checks and signs a proposal of an external or
// new_member_proposal sender and encodes it as a PublicMessage.
func signNonMemberProposal(signer providers.Signer, ctx *codec.GroupContext, sender codec.Sender, proposal *codec.Proposal, aad []byte) ([]byte, error) {
	if proposal == nil {
		return nil, fmt.Errorf("%w: nil proposal", ErrInvalidArgument)
	}
	if err := proposal.Validate(); err != nil {
		return nil, fmt.Errorf("%w: proposal: %w", ErrInvalidArgument, err)
	}
	if err := checkProposalSender(proposal, sender); err != nil {
		return nil, err
	}
	if len(ctx.GroupID) == 0 {
		return nil, fmt.Errorf("%w: GroupContext without a group id", ErrInvalidArgument)
	}
	if s, ok := signer.(interface{ CipherSuite() codec.CipherSuite }); ok && s.CipherSuite() != ctx.CipherSuite {
		return nil, fmt.Errorf("%w: signer of %v for a group of %v", ErrWrongCipherSuite, s.CipherSuite(), ctx.CipherSuite)
	}
	if proposal.ProposalType == codec.ProposalTypeAdd && proposal.Add.KeyPackage.CipherSuite != ctx.CipherSuite {
		return nil, fmt.Errorf("%w: key package of %v for a group of %v", ErrWrongCipherSuite, proposal.Add.KeyPackage.CipherSuite, ctx.CipherSuite)
	}
	fc := codec.FramedContent{
		GroupID:           ctx.GroupID,
		Epoch:             ctx.Epoch,
		Sender:            sender,
		AuthenticatedData: aad,
		ContentType:       codec.ContentTypeProposal,
		Proposal:          proposal,
	}
	ac, err := framing.SignContent(signer, codec.WireFormatMLSPublicMessage, &fc, ctx)
	if err != nil {
		return nil, fmt.Errorf("mls: signing the proposal: %w", err)
	}
	msg := codec.MLSMessage{WireFormat: codec.WireFormatMLSPublicMessage, PublicMessage: &codec.PublicMessage{Content: ac.Content, Auth: ac.Auth}}
	out, err := msg.Marshal()
	if err != nil {
		return nil, fmt.Errorf("mls: encoding the proposal: %w", err)
	}
	return out, nil
}

// ExternalProposer sends proposals to groups that list it in their
// external_senders extension (RFC 9420 §12.1.8.1) — typically a Delivery
// Service or an administrator that is not a member. Its index in a group's
// list is found by its signature key.
type ExternalProposer struct {
	// Provider verifies GroupInfos (GroupContextFromGroupInfo).
	Provider providers.Provider
	// Signer is the external sender's signature key pair; its public key
	// is the signature_key of its external_senders entry.
	Signer providers.Signer
	// CredentialValidator checks the members' credentials when a GroupInfo
	// is verified; nil means BasicCredentialValidator.
	CredentialValidator CredentialValidator
	// Now is the clock for the members' lifetimes; nil means time.Now.
	Now func() time.Time
	// Limits bound the GroupInfos and trees it decodes (see Limits);
	// zero fields mean DefaultLimits.
	Limits Limits
}

// SenderIndex returns the index of the proposer in the external_senders
// extension of ctx: the first entry with its signature key, or an error
// matching ErrNotExternalSender.
func (e *ExternalProposer) SenderIndex(ctx *codec.GroupContext) (uint32, error) {
	if e == nil || e.Signer == nil || ctx == nil {
		return 0, fmt.Errorf("%w: nil ExternalProposer, Signer or GroupContext", ErrInvalidArgument)
	}
	es, err := Extensions(ctx.Extensions).ExternalSenders()
	if err != nil {
		return 0, err
	}
	pub := e.Signer.PublicKey()
	for i := range es {
		if bytes.Equal(es[i].SignatureKey, pub) {
			return uint32(i), nil
		}
	}
	return 0, fmt.Errorf("%w: not among the %d external senders of group %x", ErrNotExternalSender, len(es), ctx.GroupID)
}

// Propose builds an external proposal of p for the group and epoch of ctx
// (see NewExternalProposal), as an encoded MLSMessage to send to the group.
func (e *ExternalProposer) Propose(ctx *codec.GroupContext, p *codec.Proposal, aad []byte) ([]byte, error) {
	i, err := e.SenderIndex(ctx)
	if err != nil {
		return nil, err
	}
	return NewExternalProposal(e.Signer, ctx, i, p, aad)
}

// ProposeAdd proposes adding the owner of kp (RFC 9420 §12.1.1).
func (e *ExternalProposer) ProposeAdd(ctx *codec.GroupContext, kp *codec.KeyPackage, aad []byte) ([]byte, error) {
	if kp == nil {
		return nil, fmt.Errorf("%w: nil KeyPackage", ErrInvalidArgument)
	}
	return e.Propose(ctx, &codec.Proposal{ProposalType: codec.ProposalTypeAdd, Add: &codec.Add{KeyPackage: *kp}}, aad)
}

// ProposeRemove proposes removing the member at leaf l (RFC 9420 §12.1.3).
func (e *ExternalProposer) ProposeRemove(ctx *codec.GroupContext, l LeafIndex, aad []byte) ([]byte, error) {
	return e.Propose(ctx, &codec.Proposal{ProposalType: codec.ProposalTypeRemove, Remove: &codec.Remove{Removed: uint32(l)}}, aad)
}

// ProposeGroupContextExtensions proposes new group context extensions
// (RFC 9420 §12.1.7).
func (e *ExternalProposer) ProposeGroupContextExtensions(ctx *codec.GroupContext, exts Extensions, aad []byte) ([]byte, error) {
	if err := Extensions(exts).ValidateGroupContext(); err != nil {
		return nil, err
	}
	return e.Propose(ctx, &codec.Proposal{ProposalType: codec.ProposalTypeGroupContextExtensions, GroupContextExtensions: &codec.GroupContextExtensions{Extensions: exts}}, aad)
}

// ProposePSK proposes injecting a pre-shared key (RFC 9420 §12.1.4); every
// member must hold it.
func (e *ExternalProposer) ProposePSK(ctx *codec.GroupContext, id codec.PreSharedKeyID, aad []byte) ([]byte, error) {
	return e.Propose(ctx, &codec.Proposal{ProposalType: codec.ProposalTypePSK, PreSharedKey: &codec.PreSharedKey{PSK: id}}, aad)
}

// ProposeReInit proposes reinitializing the group (RFC 9420 §12.1.5).
func (e *ExternalProposer) ProposeReInit(ctx *codec.GroupContext, ri codec.ReInit, aad []byte) ([]byte, error) {
	if ri.Version < codec.ProtocolVersionMLS10 {
		return nil, RuleReInitVersion.Errorf("ReInit to version %d", ri.Version)
	}
	return e.Propose(ctx, &codec.Proposal{ProposalType: codec.ProposalTypeReInit, ReInit: &ri}, aad)
}

// GroupContextFromGroupInfo verifies a GroupInfo MLSMessage (see
// Client.VerifyGroupInfoMessage) with the proposer's provider, credential
// validator, clock and limits, and returns its GroupContext: the target of
// the proposer's next proposals.
func (e *ExternalProposer) GroupContextFromGroupInfo(groupInfo []byte, tree codec.RatchetTree) (codec.GroupContext, error) {
	if e == nil || e.Provider == nil {
		return codec.GroupContext{}, fmt.Errorf("%w: an ExternalProposer needs a Provider", ErrInvalidArgument)
	}
	if err := e.Limits.validate(); err != nil {
		return codec.GroupContext{}, invalidConfig(fmt.Errorf("ExternalProposer.Limits: %w", err))
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	gi, err := verifyGroupInfoMessage(e.Provider, e.CredentialValidator, e.Limits.withDefaults(), groupInfo, tree, uint64(now().Unix()))
	if err != nil {
		return codec.GroupContext{}, err
	}
	return gi.GroupContext, nil
}

// VerifyGroupInfoMessage decodes a GroupInfo MLSMessage and verifies it as
// the client does when it joins (RFC 9420 §12.4.3.1): the ratchet tree
// (tree, or the GroupInfo's ratchet_tree extension when tree is nil;
// ErrNoRatchetTree if neither) is valid and its hash is the GroupContext's
// tree_hash, and the GroupInfo is signed by the leaf of its signer
// (ErrInvalidGroupInfoSignature). It uses the client's Provider,
// CredentialValidator, clock (Now, IgnoreReceivedLifetimes) and Limits: a
// GroupInfo or tree beyond them is refused (ErrMessageTooLarge, RuleLimit)
// before it is decoded in full. Signer, Credential and Storage are not
// used.
func (c *Client) VerifyGroupInfoMessage(groupInfo []byte, tree codec.RatchetTree) (*codec.GroupInfo, error) {
	if c == nil || c.Provider == nil {
		return nil, fmt.Errorf("%w: nil client or provider", ErrInvalidArgument)
	}
	if err := c.Limits.validate(); err != nil {
		return nil, invalidConfig(fmt.Errorf("Client.Limits: %w", err))
	}
	return verifyGroupInfoMessage(c.Provider, c.validator(), c.limits(), groupInfo, tree, c.lifetimeNow())
}

// lifetimeNow returns the time against which the client checks received
// leaf lifetimes, in seconds; 0 (no check) when it ignores them.
func (c *Client) lifetimeNow() uint64 {
	if c.IgnoreReceivedLifetimes {
		return 0
	}
	if c.Now != nil {
		return uint64(c.Now().Unix())
	}
	return uint64(time.Now().Unix())
}

// verifyGroupInfoMessage is Client.VerifyGroupInfoMessage with provider
// p, validator v (nil: BasicCredentialValidator), limits l (defaults
// filled in) and lifetimes checked at now (0: not checked).
func verifyGroupInfoMessage(p providers.Provider, v CredentialValidator, l Limits, groupInfo []byte, tree codec.RatchetTree, now uint64) (*codec.GroupInfo, error) {
	var m codec.MLSMessage
	gib, err := l.decodeGroupInfo(groupInfo, &m)
	if err != nil {
		return nil, err
	}
	if m.WireFormat != codec.WireFormatMLSGroupInfo || m.GroupInfo == nil {
		return nil, fmt.Errorf("%w: MLSMessage of wire format %v is not a GroupInfo", ErrInvalidArgument, m.WireFormat)
	}
	gi := m.GroupInfo
	ctx := &gi.GroupContext
	cs, err := p.CipherSuite(ctx.CipherSuite)
	if err != nil {
		return nil, err
	}
	if len(ctx.GroupID) == 0 {
		return nil, fmt.Errorf("%w: GroupInfo without a group id", ErrInvalidArgument)
	}
	t, _, err := groupInfoTree(cs, gi, gib, tree, l)
	if err != nil {
		return nil, err
	}
	rc, err := requiredCapabilitiesOf(ctx.Extensions)
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = BasicCredentialValidator{}
	}
	if err := t.Validate(&ratchettree.TreeValidation{
		GroupID:              ctx.GroupID,
		TreeHash:             ctx.TreeHash,
		Now:                  now,
		RequiredCapabilities: rc,
		GroupExtensions:      ctx.Extensions,
		CheckCredential: func(c *codec.Credential, key codec.SignaturePublicKey) error {
			return validateCredential(v, ctx.CipherSuite, c, key)
		},
	}); err != nil {
		return nil, treeRule(err, RuleAddEncryptionKeyDuplicate, RuleAddCapabilities)
	}
	return gi, nil
}

// NewJoinProposal builds a new member's proposal to add itself (RFC 9420
// §12.1.8): an Add of the key package of kp, from sender
// new_member_proposal, signed with the key package's leaf signature key
// (the client's Signer) for the group and epoch of a GroupInfo verified
// with the client's limits (see Client.VerifyGroupInfoMessage; tree as
// there). The key package must be in the client's storage
// (KeyPackageBuilder.BuildAndStore) so that the Welcome of the Commit that
// covers the proposal can be processed. The result is an encoded
// MLSMessage to send to the group.
func NewJoinProposal(c *Client, groupInfo []byte, tree codec.RatchetTree, kp *KeyPackageBundle, aad []byte) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if kp == nil {
		return nil, fmt.Errorf("%w: nil KeyPackageBundle", ErrInvalidArgument)
	}
	gi, err := c.VerifyGroupInfoMessage(groupInfo, tree)
	if err != nil {
		return nil, err
	}
	ctx := &gi.GroupContext
	leaf := &kp.KeyPackage.LeafNode
	if !bytes.Equal(leaf.SignatureKey, c.Signer.PublicKey()) {
		return nil, fmt.Errorf("%w: the client's signer is not the key package's", ErrKeyMismatch)
	}
	// The members would refuse a key package that lacks the group's
	// required capabilities (RuleAddCapabilities); say so before sending.
	if err := Extensions(ctx.Extensions).CheckCapabilities(&leaf.Capabilities); err != nil {
		return nil, err
	}
	p := &codec.Proposal{ProposalType: codec.ProposalTypeAdd, Add: &codec.Add{KeyPackage: kp.KeyPackage}}
	return signNonMemberProposal(c.Signer, ctx, codec.Sender{SenderType: codec.SenderTypeNewMemberProposal}, p, aad)
}
