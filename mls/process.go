package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/framing"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/mls/internal/treekem"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// ContentKind says what a processed message carries.
type ContentKind uint8

const (
	// KindApplication: an application message (RFC 9420 §6).
	KindApplication ContentKind = iota + 1
	// KindProposal: a proposal, to store with StoreProposal (§12.1).
	KindProposal
	// KindCommit: a validated Commit, to merge with MergeStagedCommit (§12.4).
	KindCommit
)

// ProcessedMessage is a message that was unprotected, authenticated and
// validated against the group's current epoch. Processing changes nothing in
// the group but the sender-ratchet generation an encrypted message used
// (see Group.Process): the application inspects the message and then
// stores the proposal (StoreProposal) or merges the commit
// (MergeStagedCommit).
type ProcessedMessage struct {
	Kind ContentKind
	// Sender sent the message; for a member, SenderLeaf is its leaf and
	// SenderCredential its credential.
	Sender           codec.Sender
	SenderCredential Credential
	// Epoch is the epoch the message was sent in.
	Epoch uint64
	// AuthenticatedData is the message's additional authenticated data.
	AuthenticatedData []byte
	// WireFormat is mls_public_message or mls_private_message.
	WireFormat codec.WireFormat
	// Own is set for the Delivery Service's echo of a message this member
	// sent, recognised by its bytes (echo.go, ErrOwnMessage): its pending
	// Commit (Commit.Own, merged by MergeStagedCommit) or a proposal in
	// its store (Proposal, which StoreProposal leaves as it is).
	Own bool

	// ApplicationData is set for KindApplication.
	ApplicationData []byte
	// Proposal is set for KindProposal.
	Proposal *QueuedProposal
	// Commit is set for KindCommit.
	Commit *StagedCommit
}

// ProcessMessage decodes an MLSMessage and processes it (see Process). It
// is ProcessMessages with a batch of one message.
func (g *Group) ProcessMessage(data []byte) (*ProcessedMessage, error) {
	b := g.newBatch()
	pm, err := b.processMessage(data)
	return b.finish(pm, err)
}

// Process unprotects a PublicMessage or PrivateMessage of this group,
// verifies it and validates its content (RFC 9420 §6, §12): an application
// message is returned decrypted; a proposal is validated and returned with
// its reference; a Commit is validated in full and its new epoch computed,
// as a StagedCommit. Every failure is an error naming the violated rule.
//
// Processing changes nothing in the group, with one exception, the
// generations of the sender ratchets (§9.2: a key is used once):
//
//   - An accepted PrivateMessage carrying an application message or a
//     proposal consumes its generation: the secret tree without that key
//     is written to storage (one transaction) before Process returns the
//     message; if that write fails, Process returns the error and the key
//     stays, so the message can be processed again.
//   - An accepted PrivateMessage carrying a Commit consumes nothing here:
//     its generation is consumed by MergeStagedCommit, in the merge's
//     transaction. Until then the Commit can be processed again (after a
//     crash, a failed merge or a dropped StagedCommit), and once merged the
//     old epoch never accepts a handshake message again.
//   - A PrivateMessage that decrypts and whose signature verifies, but
//     whose content breaks a rule (a ValidationError), also consumes its
//     generation (the one state change a rejected message makes): the
//     sender really used that key, and keeping it would let anyone replay
//     the message and make the group validate it again, forever. Process
//     then returns the validation error (joined with a storage error if
//     writing the consumption failed, in which case nothing changed). The
//     exception is a Commit referencing a proposal or PSK this member
//     does not have yet (ErrUnknownProposal, RulePSKAvailable): it keeps
//     its key, to be processed again once the proposal or PSK is there.
//
// A message that fails decryption or authentication leaves the group
// exactly as it was, and so does any failure of a PublicMessage.
//
// The Delivery Service's echo of this member's pending Commit or of a
// proposal of its own in the store is recognised first, by its bytes, and
// returned with Own set (echo.go); any other message naming our own leaf
// fails with an error matching ErrOwnMessage.
func (g *Group) Process(m *codec.MLSMessage) (*ProcessedMessage, error) { return g.process(m, nil) }

// process is Process; raw is m's encoding as received, when known.
func (g *Group) process(m *codec.MLSMessage, raw []byte) (*ProcessedMessage, error) {
	b := g.newBatch()
	pm, err := b.process(m, raw)
	return b.finish(pm, err)
}

// finish stores a batch of one message, processed with the result pm,
// err: the message is returned once what it changed is stored.
func (b *batch) finish(pm *ProcessedMessage, err error) (*ProcessedMessage, error) {
	if serr := b.commit(); serr != nil {
		if err != nil {
			return nil, errors.Join(err, fmt.Errorf("mls: consuming the message's generation: %w", serr))
		}
		return nil, serr
	}
	return pm, err
}

// process processes m in the batch: a generation it consumes is committed
// in memory, and stored by the batch's commit.
func (b *batch) process(m *codec.MLSMessage, raw []byte) (*ProcessedMessage, error) {
	g := b.g
	if pm, ok, err := g.echo(m, raw); ok || err != nil {
		return pm, err
	}
	var (
		ac  *codec.AuthenticatedContent
		key *secrettree.Staged // a PrivateMessage's key, consumed on acceptance
		err error
	)
	switch m.WireFormat {
	case codec.WireFormatMLSPublicMessage:
		if m.PublicMessage == nil {
			return nil, fmt.Errorf("mls: %w", codec.ErrMissingArm)
		}
		ac, err = g.unprotectPublic(m.PublicMessage)
	case codec.WireFormatMLSPrivateMessage:
		if m.PrivateMessage == nil {
			return nil, fmt.Errorf("mls: %w", codec.ErrMissingArm)
		}
		if g.public {
			return nil, fmt.Errorf("%w: %v of epoch %d", ErrPrivateMessage, m.PrivateMessage.ContentType, m.PrivateMessage.Epoch)
		}
		ac, key, err = g.unprotectPrivate(m.PrivateMessage)
		if err != nil {
			err = g.ownPrivate(m.PrivateMessage, err)
		}
	default:
		return nil, fmt.Errorf("mls: %v is not a message to process in a group", m.WireFormat)
	}
	if err != nil {
		return nil, err
	}
	pm, err := g.processContent(ac)
	if key == nil {
		return pm, err
	}
	if err == nil && pm.Commit != nil {
		// Consumed by the merge (MergeStagedCommit).
		key.Discard()
		pm.Commit.handshake = &handshakeGeneration{epoch: ac.Content.Epoch, leaf: LeafIndex(ac.Content.Sender.LeafIndex), generation: key.Generation}
		return pm, nil
	}
	if err != nil && !burns(err) {
		key.Discard()
		return nil, err
	}
	// The key is used up (§9.2): the batch stores the secret tree without
	// it.
	if cerr := b.consume(ac.Content.Epoch, key); cerr != nil {
		if err != nil {
			return nil, errors.Join(err, cerr)
		}
		return nil, cerr
	}
	return pm, err
}

// burns reports whether a rejected, authenticated PrivateMessage consumes
// its generation: when the error is a verdict on the message (a
// ValidationError), except for a Commit that references a proposal or a
// PSK this member does not have yet, which can be processed again once the
// proposal is stored or the PSK is added. Other errors (a storage read that
// failed, say) are no verdict: the key stays, so that the message can be
// processed again.
func burns(err error) bool {
	var ve *ValidationError
	return errors.As(err, &ve) && !errors.Is(err, ErrUnknownProposal) && !errors.Is(err, RulePSKAvailable)
}

// ownPrivate adds ErrOwnMessage to the error of a PrivateMessage that
// cannot be unprotected and whose sender data names our own leaf: the key
// of a message we sent is deleted (RFC 9420 §9.2), so it is an echo of
// ours that is not recognised (an application message) or a forgery.
func (g *Group) ownPrivate(msg *codec.PrivateMessage, err error) error {
	if msg.Epoch != g.epoch.ctx.Epoch {
		return err
	}
	l, serr := g.epoch.protector.SenderLeaf(msg)
	if serr != nil || LeafIndex(l) != g.epoch.own {
		return err
	}
	return RuleDecryption.Errorf("%v message from our own leaf %d: %w", msg.ContentType, l, errors.Join(ErrOwnMessage, err))
}

// handshakeGeneration is the generation of the handshake ratchet that an
// encrypted Commit used, consumed when it is merged.
type handshakeGeneration struct {
	epoch      uint64
	leaf       LeafIndex
	generation uint32
}

// processContent interprets authenticated content (RFC 9420 §12).
func (g *Group) processContent(ac *codec.AuthenticatedContent) (*ProcessedMessage, error) {
	pm := &ProcessedMessage{
		Sender:            ac.Content.Sender,
		Epoch:             ac.Content.Epoch,
		AuthenticatedData: ac.Content.AuthenticatedData,
		WireFormat:        ac.WireFormat,
	}
	if ac.Content.Sender.SenderType == codec.SenderTypeMember {
		if ln := g.leafAtEpoch(ac.Content.Epoch, LeafIndex(ac.Content.Sender.LeafIndex)); ln != nil {
			pm.SenderCredential = CredentialFromWire(&ln.Credential)
		}
	}
	switch ac.Content.ContentType {
	case codec.ContentTypeApplication:
		pm.Kind = KindApplication
		pm.ApplicationData = ac.Content.ApplicationData
	case codec.ContentTypeProposal:
		q, err := g.stageProposal(ac)
		if err != nil {
			return nil, err
		}
		pm.Kind, pm.Proposal = KindProposal, q
	case codec.ContentTypeCommit:
		sc, err := g.stageCommit(ac, g.now())
		if err != nil {
			return nil, err
		}
		pm.Kind, pm.Commit = KindCommit, sc
	default:
		return nil, fmt.Errorf("mls: unknown content type %v", ac.Content.ContentType)
	}
	return pm, nil
}

// unprotectPublic checks a PublicMessage (RFC 9420 §6.2).
func (g *Group) unprotectPublic(msg *codec.PublicMessage) (*codec.AuthenticatedContent, error) {
	fc := &msg.Content
	if !bytes.Equal(fc.GroupID, g.epoch.ctx.GroupID) {
		return nil, RuleWrongGroupID.Errorf("message for group %x", fc.GroupID)
	}
	if fc.Epoch != g.epoch.ctx.Epoch {
		return nil, RuleWrongEpoch.Errorf("PublicMessage of epoch %d in epoch %d", fc.Epoch, g.epoch.ctx.Epoch)
	}
	if err := g.cfg.WireFormatPolicy.framing().CheckIncoming(codec.WireFormatMLSPublicMessage, fc.Sender.SenderType, fc.ContentType); err != nil {
		if fc.ContentType == codec.ContentTypeApplication {
			return nil, RuleApplicationNotPrivate.Errorf("%w", err)
		}
		return nil, RuleWireFormatPolicy.Errorf("%w", err)
	}
	if fc.Sender.SenderType == codec.SenderTypeMember && len(msg.MembershipTag) == 0 {
		return nil, RuleMembershipTagMissing.Errorf("PublicMessage from member %d without a membership tag", fc.Sender.LeafIndex)
	}
	var (
		ac  *codec.AuthenticatedContent
		err error
	)
	if g.public {
		// A non-member has no membership_key: it checks the signature,
		// not the membership tag (§6.2).
		ac, err = framing.VerifyPublic(g.cs, &g.epoch.ctx, msg, g.signatureKeyOf)
	} else {
		ac, err = g.epoch.protector.UnprotectPublic(msg, g.signatureKeyOf)
	}
	if err != nil {
		err = framingRule(err)
		if fc.Sender.SenderType == codec.SenderTypeNewMemberCommit && errors.Is(err, RuleSignature) {
			// An external Commit is signed with its path's leaf key
			// (§12.4.3.2): RuleExternalCommitSignature, wrapping RuleSignature.
			return nil, RuleExternalCommitSignature.Errorf("%w", err)
		}
		return nil, err
	}
	return ac, nil
}

// unprotectPrivate decrypts a PrivateMessage (RFC 9420 §6.3): of the
// current epoch, or of a kept past epoch for application messages.
func (g *Group) unprotectPrivate(msg *codec.PrivateMessage) (*codec.AuthenticatedContent, *secrettree.Staged, error) {
	if !bytes.Equal(msg.GroupID, g.epoch.ctx.GroupID) {
		return nil, nil, RuleWrongGroupID.Errorf("message for group %x", msg.GroupID)
	}
	if err := g.cfg.WireFormatPolicy.framing().CheckIncoming(codec.WireFormatMLSPrivateMessage, codec.SenderTypeMember, msg.ContentType); err != nil {
		return nil, nil, RuleWireFormatPolicy.Errorf("%w", err)
	}
	if msg.Epoch == g.epoch.ctx.Epoch {
		ac, key, err := g.epoch.protector.UnprotectPrivateStaged(msg, g.signatureKeyOf)
		if err != nil {
			return nil, nil, framingRule(err)
		}
		return ac, key, nil
	}
	if msg.ContentType == codec.ContentTypeApplication {
		for _, pe := range g.past {
			if pe.epoch != msg.Epoch {
				continue
			}
			keys := func(fc *codec.FramedContent) ([]byte, error) {
				ln := pe.tree.Leaf(treemath.LeafIndex(fc.Sender.LeafIndex))
				if ln == nil {
					return nil, RuleSenderLeafBlank.Errorf("sender leaf %d is blank in epoch %d", fc.Sender.LeafIndex, pe.epoch)
				}
				return ln.SignatureKey, nil
			}
			ac, key, err := pe.protector.UnprotectPrivateStaged(msg, keys)
			if err != nil {
				return nil, nil, framingRule(err)
			}
			return ac, key, nil
		}
	}
	return nil, nil, RuleWrongEpoch.Errorf("PrivateMessage of epoch %d in epoch %d", msg.Epoch, g.epoch.ctx.Epoch)
}

// leafAtEpoch returns a member's leaf in the current or a kept past epoch.
func (g *Group) leafAtEpoch(epoch uint64, l LeafIndex) *codec.LeafNode {
	if epoch == g.epoch.ctx.Epoch {
		return g.epoch.tree.Leaf(treemath.LeafIndex(l))
	}
	for _, pe := range g.past {
		if pe.epoch == epoch {
			return pe.tree.Leaf(treemath.LeafIndex(l))
		}
	}
	return nil
}

// stageProposal validates a received proposal on its own (RFC 9420 §12.1)
// and computes its reference (§5.2).
func (g *Group) stageProposal(ac *codec.AuthenticatedContent) (*QueuedProposal, error) {
	p := ac.Content.Proposal
	if p == nil {
		return nil, fmt.Errorf("mls: proposal message without a proposal: %w", codec.ErrMissingArm)
	}
	s := ac.Content.Sender
	if err := checkProposalSender(p, s); err != nil {
		return nil, err
	}
	if s.SenderType == codec.SenderTypeMember && LeafIndex(s.LeafIndex) == g.epoch.own {
		return nil, RuleProposalSender.Errorf("a proposal of our own is stored when sent, not processed: %w", ErrOwnMessage)
	}
	if err := g.validateProposal(p, s); err != nil {
		return nil, err
	}
	enc, err := ac.Marshal()
	if err != nil {
		return nil, fmt.Errorf("mls: encoding AuthenticatedContent: %w", err)
	}
	ref, err := providers.MakeProposalRef(g.cs, enc)
	if err != nil {
		return nil, fmt.Errorf("mls: computing ProposalRef: %w", err)
	}
	q := &QueuedProposal{Proposal: p, Ref: ref, Sender: s, Epoch: ac.Content.Epoch}
	switch p.ProposalType {
	case codec.ProposalTypeUpdate:
		// validateProposal verified the leaf's signature.
		q.verified = verifiedUpdateLeaf(&p.Update.LeafNode, LeafIndex(s.LeafIndex))
	case codec.ProposalTypeAdd:
		// validateProposal verified the KeyPackage's signatures.
		q.verified = verifiedKeyPackage(&p.Add.KeyPackage)
	}
	return q, nil
}

// validateProposal checks one proposal against the current epoch
// (RFC 9420 §12.1), as far as it can be checked before a Commit covers it.
func (g *Group) validateProposal(p *codec.Proposal, s codec.Sender) error {
	diff := g.epoch.tree.Stage()
	reqCaps, err := requiredCapabilitiesOf(g.epoch.ctx.Extensions)
	if err != nil {
		return err
	}
	switch p.ProposalType {
	case codec.ProposalTypeAdd:
		kp := &p.Add.KeyPackage
		if err := g.validateKeyPackageForGroup(kp, g.now()); err != nil {
			return err
		}
		return g.validateLeaf(diff, &kp.LeafNode, &ratchettree.LeafValidation{
			Source: codec.LeafNodeSourceKeyPackage, Now: g.lifetimeNow(),
			RequiredCapabilities: reqCaps, GroupExtensions: g.epoch.ctx.Extensions,
			SignatureVerified: true, // by validateKeyPackageForGroup
		}, RuleAddCapabilities, RuleAddEncryptionKeyDuplicate)
	case codec.ProposalTypeUpdate:
		if s.SenderType != codec.SenderTypeMember {
			return RuleUpdateNotMember.Errorf("Update from a non-member sender")
		}
		if err := g.checkSuccessor(g.epoch.tree.Leaf(treemath.LeafIndex(s.LeafIndex)), &p.Update.LeafNode, false, "Update"); err != nil {
			return err
		}
		return g.validateLeaf(diff, &p.Update.LeafNode, &ratchettree.LeafValidation{
			Source: codec.LeafNodeSourceUpdate, GroupID: g.epoch.ctx.GroupID, Leaf: treemath.LeafIndex(s.LeafIndex),
			RequiredCapabilities: reqCaps, GroupExtensions: g.epoch.ctx.Extensions,
		}, RuleUpdateCapabilities, RuleUpdateEncryptionKeyDuplicate)
	case codec.ProposalTypeRemove:
		if g.epoch.tree.Leaf(treemath.LeafIndex(p.Remove.Removed)) == nil {
			return RuleRemoveNotMember.Errorf("Remove of leaf %d, which is not a member", p.Remove.Removed)
		}
	case codec.ProposalTypePSK:
		return validateProposalPSKs(g.cs, []codec.PreSharedKeyID{p.PreSharedKey.PSK})
	case codec.ProposalTypeReInit:
		if p.ReInit.Version < codec.ProtocolVersionMLS10 {
			return RuleReInitVersion.Errorf("ReInit to version %d", p.ReInit.Version)
		}
	case codec.ProposalTypeExternalInit:
		return RuleExternalInit.Errorf("ExternalInit proposal outside an external Commit")
	case codec.ProposalTypeGroupContextExtensions:
		return g.checkGroupContextExtensions(diff, p.GroupContextExtensions.Extensions, nil)
	case codec.ProposalTypeSelfRemove:
		if s.SenderType != codec.SenderTypeMember {
			return RuleProposalSender.Errorf("SelfRemove from a non-member sender")
		}
		return g.allSupportProposal(diff, codec.ProposalTypeSelfRemove, nil)
	default:
		return g.validateCustomProposal(p)
	}
	return nil
}

// StoreProposal puts a processed proposal into the proposal store of the
// current epoch, so that a Commit can cover it by reference (RFC 9420
// §12.4.2). It fails if the proposal is of another epoch or already stored.
func (g *Group) StoreProposal(q *QueuedProposal) error {
	if q == nil || q.Proposal == nil {
		return fmt.Errorf("%w: nil proposal", ErrInvalidArgument)
	}
	if err := g.checkProposalEpoch(q); err != nil {
		return err
	}
	if g.findProposal(q.Ref) != nil {
		return nil
	}
	if err := g.limits().checkStoreRoom(len(g.proposals)); err != nil {
		return err
	}
	c := g.stage()
	c.next.proposals = append(c.next.proposals, q)
	return c.commitSave()
}

// RemovePendingProposal removes a proposal from the store, by reference.
func (g *Group) RemovePendingProposal(ref []byte) error {
	for i, q := range g.proposals {
		if bytes.Equal(q.Ref, ref) {
			c := g.stage()
			c.next.proposals = slices.Delete(c.next.proposals, i, i+1)
			return c.commitSave()
		}
	}
	return ErrUnknownProposal
}

// ClearPendingProposals empties the proposal store.
func (g *Group) ClearPendingProposals() error {
	c := g.stage()
	c.next.proposals = nil
	return c.commitSave()
}

// StagedCommit is a validated Commit with the group's next epoch computed
// but not installed (RFC 9420 §12.4.2). MergeStagedCommit installs it;
// dropping it costs nothing.
type StagedCommit struct {
	g        *Group
	base     *epoch
	diff     *ratchettree.Diff
	next     *epoch // nil when this member is removed
	props    []committedProposal
	res      *proposalResult
	sender   codec.Sender
	selfLeft bool
	// removes interprets the Commit's removals (remove.go), captured
	// before merging changes the tree.
	removes []RemoveOperation
	// pathKeys are kept only to be zeroed if the commit is dropped.
	pathKeys *treekem.PathKeys
	keys     *treekem.PrivateKeys
	// handshake is the generation an encrypted Commit used, consumed by
	// the merge (nil for a PublicMessage).
	handshake *handshakeGeneration
	// merged: the Commit was merged; its epoch is the group's.
	merged bool
	// own is our pending Commit when this StagedCommit is its echo
	// (echo.go): merging it merges the pending Commit.
	own *pendingCommit
}

// Proposals returns the proposals the Commit covers, in order.
func (sc *StagedCommit) Proposals() []*QueuedProposal {
	out := make([]*QueuedProposal, len(sc.props))
	for i, cp := range sc.props {
		out[i] = &QueuedProposal{Proposal: cp.p, Ref: cp.ref, Sender: cp.sender, Epoch: sc.base.ctx.Epoch}
	}
	return out
}

// Sender returns the Commit's sender.
func (sc *StagedCommit) Sender() codec.Sender { return sc.sender }

// AddedLeaves returns the leaves the Commit's Add proposals fill.
func (sc *StagedCommit) AddedLeaves() []LeafIndex { return append([]LeafIndex(nil), sc.res.added...) }

// RemovedLeaves returns the leaves the Commit removes (Remove and
// SelfRemove proposals).
func (sc *StagedCommit) RemovedLeaves() []LeafIndex {
	return append([]LeafIndex(nil), sc.res.removed...)
}

// SelfRemoved reports whether the Commit removes this member: merging it
// leaves the group inactive (RFC 9420 §12.4.2).
func (sc *StagedCommit) SelfRemoved() bool { return sc.selfLeft }

// ReInit returns the Commit's ReInit proposal, if any (§11.2).
func (sc *StagedCommit) ReInit() (codec.ReInit, bool) {
	if sc.res.reinit == nil {
		return codec.ReInit{}, false
	}
	return *sc.res.reinit, true
}

// GroupContext returns the GroupContext of the new epoch (for a member that
// stays).
func (sc *StagedCommit) GroupContext() (codec.GroupContext, bool) {
	if sc.next == nil {
		return codec.GroupContext{}, false
	}
	return sc.next.ctx, true
}

// EpochAuthenticator returns the epoch authenticator of the new epoch.
func (sc *StagedCommit) EpochAuthenticator() []byte {
	if sc.next == nil {
		return nil
	}
	return bytes.Clone(sc.next.secrets.EpochAuthenticator)
}

// stageCommit validates a received Commit and computes the next epoch
// (RFC 9420 §12.4.2) without changing the group.
func (g *Group) stageCommit(ac *codec.AuthenticatedContent, now time.Time) (*StagedCommit, error) {
	c := ac.Content.Commit
	if c == nil {
		return nil, fmt.Errorf("mls: commit message without a commit: %w", codec.ErrMissingArm)
	}
	if len(ac.Auth.ConfirmationTag) == 0 {
		return nil, RuleConfirmationTagMissing.Errorf("Commit without a confirmation tag")
	}
	s := ac.Content.Sender
	external := false
	switch s.SenderType {
	case codec.SenderTypeMember:
		if LeafIndex(s.LeafIndex) == g.epoch.own {
			return nil, RuleNotCommitter.Errorf("Commit from this member's own leaf that is not the echo of its pending Commit: %w", ErrOwnMessage)
		}
	case codec.SenderTypeNewMemberCommit:
		external = true
	default:
		return nil, RuleSenderType.Errorf("Commit from a %v sender", s.SenderType)
	}
	props, err := g.resolveProposals(c, s)
	if err != nil {
		return nil, err
	}
	// §12.4.2 as one transition: proposals, path, key schedule,
	// confirmation tag.
	t := g.newTransition(s, external)
	if err := t.stageProposals(props, c.Path != nil, now); err != nil {
		return nil, err
	}
	sc := &StagedCommit{g: g, base: g.epoch, diff: t.diff, props: props, res: t.res, sender: s, removes: g.removeOperations(props, c.Path)}
	sc.selfLeft = t.removes(g.epoch.own)
	// Without private keys (removed, or a PublicGroup), the path is
	// checked and merged without decryption.
	public := sc.selfLeft || g.public
	reqCaps, err := requiredCapabilitiesOf(t.res.extensions)
	if err != nil {
		return nil, err
	}

	// If the Commit covers an Update proposal of ours, our new leaf's
	// private key was stored when we proposed it (§12.1.2).
	for _, cp := range props {
		if cp.p.ProposalType == codec.ProposalTypeUpdate && cp.sender.SenderType == codec.SenderTypeMember && LeafIndex(cp.sender.LeafIndex) == g.epoch.own {
			pub := cp.p.Update.LeafNode.EncryptionKey
			kp, err := LoadEncryptionKeyPair(g.store, pub)
			if err != nil {
				return nil, fmt.Errorf("mls: private key of our Update proposal: %w", err)
			}
			t.keys = t.keys.Clone()
			t.keys.Set(treemath.LeafIndex(g.epoch.own).Node(), kp.PrivateKey, kp.PublicKey)
			kp.Zero()
		}
	}
	sc.keys = t.keys
	ok := false
	defer func() {
		t.zero(!ok)
	}()
	if c.Path != nil {
		if err := g.checkCommitterSuccessor(s, props, &c.Path.LeafNode); err != nil {
			return nil, err
		}
		committer := LeafIndex(s.LeafIndex)
		if external {
			if committer, err = addExternalCommitter(t.diff, &c.Path.LeafNode); err != nil {
				return nil, err
			}
		}
		if err := g.validateLeaf(t.diff, &c.Path.LeafNode, &ratchettree.LeafValidation{
			Source: codec.LeafNodeSourceCommit, GroupID: g.epoch.ctx.GroupID, Leaf: treemath.LeafIndex(committer),
			RequiredCapabilities: reqCaps, GroupExtensions: t.res.extensions,
			// TreeKEM verifies the signature while it decrypts the path,
			// using both cores; a removed member and a non-member verify
			// it here.
			SignatureVerified: !public,
		}, RuleUpdateCapabilities, RulePathLeafEncryptionKeyDuplicate); err != nil {
			return nil, err
		}
		if public {
			if err := t.applyPathPublic(committer, c.Path); err != nil {
				return nil, err
			}
		} else {
			if err := t.applyPath(committer, c.Path); err != nil {
				return nil, err
			}
			sc.pathKeys = t.pathKeys
		}
	}
	if sc.selfLeft {
		// A removed member cannot derive the new epoch (§12.4.2); the
		// Commit is authenticated by its signature.
		ok = true
		return sc, nil
	}
	if g.public {
		// A non-member follows the GroupContext and transcript, but
		// cannot verify the confirmation tag (§6.1: it is a MAC under
		// the new epoch's confirmation_key).
		if err := t.deriveContext(ac); err != nil {
			return nil, err
		}
		if sc.next, err = t.finishPublic(ac.Auth.ConfirmationTag); err != nil {
			return nil, err
		}
		ok = true
		return sc, nil
	}
	if err := t.derive(ac); err != nil {
		return nil, err
	}
	if err := t.verifyConfirmationTag(ac.Auth.ConfirmationTag); err != nil {
		return nil, err
	}
	if sc.next, err = t.finish(ac.Auth.ConfirmationTag); err != nil {
		return nil, err
	}
	ok = true
	return sc, nil
}

func (g *Group) protectorOptions() framing.Options {
	return framing.Options{Padding: framing.Padding{BlockSize: g.cfg.PaddingSize}, Rand: g.provider.Rand(), MaxElements: g.limits().MaxMessageElements}
}

// drop erases what a StagedCommit holds that the group does not. A merged
// StagedCommit holds nothing of its own: its epoch is the group's.
func (sc *StagedCommit) drop() {
	if sc.merged || sc.own != nil {
		// A merged epoch is the group's; an echo's is the pending
		// Commit's, which ClearPendingCommit erases.
		return
	}
	if sc.pathKeys != nil {
		sc.pathKeys.Zero()
	}
	if sc.next != nil {
		sc.next.zero()
		if sc.next.keys != nil { // nil in a PublicGroup's epoch
			sc.next.keys.Zero()
		}
	}
}

// Discard erases a StagedCommit's secrets without merging it. After
// MergeStagedCommit it does nothing (the secrets are the group's).
func (sc *StagedCommit) Discard() { sc.drop() }

// ErrCommitMerged: a StagedCommit was merged already; it cannot be merged
// again.
var ErrCommitMerged = errors.New("mls: staged commit was merged already")

// MergeStagedCommit installs the epoch a processed Commit starts (RFC 9420
// §12.4.2): the new tree, GroupContext, secrets and keys; the proposal store
// is emptied, our pending Commit (if any) dropped, the previous epoch kept
// for late application messages as configured. If the Commit removed this
// member, the group becomes inactive. The whole change is one storage
// transaction: if it fails, the group stays in its epoch, unchanged, and
// the merge can be retried.
func (g *Group) MergeStagedCommit(sc *StagedCommit) error {
	if sc == nil || sc.g != g {
		return ErrStaleCommit
	}
	if sc.merged {
		return ErrCommitMerged
	}
	if sc.own != nil {
		// The echo of our pending Commit.
		if g.pending != sc.own || sc.base != g.epoch {
			return ErrStaleCommit
		}
		if err := g.MergePendingCommit(); err != nil {
			return err
		}
		sc.merged = true
		return nil
	}
	if sc.base != g.epoch || sc.diff.Stale() {
		return ErrStaleCommit
	}
	c, err := g.stageMerge(sc.diff, sc.next, sc.res, nil)
	if err != nil {
		return err
	}
	if h := sc.handshake; h != nil && h.epoch == g.epoch.ctx.Epoch && g.keepsPastEpochAfterMerge(sc.next) {
		// The Commit's handshake generation: consumed with the merge,
		// in the epoch kept for late messages. (An epoch that is not
		// kept is erased whole.) If it cannot be staged it was
		// consumed already.
		if st, err := g.epoch.protector.Tree().Stage(treemath.LeafIndex(h.leaf), secrettree.Handshake, h.generation); err == nil {
			c.consume(h.epoch, &st)
		}
	}
	if err := c.commit(func(tx providers.Records) error { return c.saveNewEpoch(tx, g.epoch.ctx.Epoch) }); err != nil {
		return err
	}
	sc.merged = true
	if sc.pathKeys != nil {
		sc.pathKeys.Zero()
	}
	return nil
}

// keepsPastEpochAfterMerge reports whether merging a Commit that starts
// next keeps the current epoch as a past epoch.
func (g *Group) keepsPastEpochAfterMerge(next *epoch) bool {
	return g.cfg.MaxPastEpochs > 0 && next != nil
}

// stageMerge stages the merge of a Commit (ours or received): the epoch
// next (nil when the Commit removes this member) on the tree diff, with
// the proposal result res. pending is our pending Commit being merged (nil
// for a received Commit, whose merge drops our pending Commit). The
// caller commits the change with saveNewEpoch.
func (g *Group) stageMerge(diff *ratchettree.Diff, next *epoch, res *proposalResult, pending *pendingCommit) (*change, error) {
	c := g.stage()
	c.diff = diff
	ng := c.next
	old := g.epoch
	if p := g.pending; p != nil && p != pending {
		c.done = append(c.done, p.drop)
	}
	ng.pending = nil
	// The private keys of our Update proposals of the epoch that ends: a
	// Commit that covered one moved the key into the group's private
	// keys; otherwise it will never be used (§9.2).
	for _, q := range g.proposals {
		if q.Own && q.Proposal.ProposalType == codec.ProposalTypeUpdate {
			pub := q.Proposal.Update.LeafNode.EncryptionKey
			c.writes = append(c.writes, func(tx providers.Records) error { return DeleteEncryptionKeyPair(tx, pub) })
		}
	}
	ng.proposals = nil
	if next == nil {
		// Removed: keep the last epoch readable, with the new tree
		// (diff's base, merged in place).
		ng.active = false
		st := *old
		ng.epoch = &st
		return c, nil
	}
	next.tree = diff.Base()
	// A kept past epoch needs only its leaves: a snapshot, O(1) now and
	// O(changed leaves) per later merge, instead of a copy of the tree.
	var oldTree pastTree
	if g.keepsPastEpochAfterMerge(next) {
		oldTree = old.tree.LeafSnapshot()
	}
	c.keepResumption(old)
	c.keepPastEpoch(old, oldTree)
	if old.keys != next.keys {
		c.done = append(c.done, old.keys.Zero)
	}
	ng.epoch = next
	if res != nil && res.reinit != nil {
		ng.reinit = res.reinit
		ng.active = false
	}
	return c, nil
}

// keepPastEpoch keeps, in the staged group, the protector of the epoch
// just ended for late application messages (OpenMLS's max_past_epochs),
// dropping the oldest; the secrets of what is not kept are erased once the
// change is installed.
func (c *change) keepPastEpoch(old *epoch, tree pastTree) {
	ng := c.next
	if c.g.cfg.MaxPastEpochs <= 0 || tree == nil {
		c.done = append(c.done, old.zero)
		return
	}
	pe := &pastEpoch{epoch: old.ctx.Epoch, protector: old.protector, tree: tree,
		senderData: bytes.Clone(old.secrets.SenderData), membership: bytes.Clone(old.secrets.Membership)}
	c.fail = append(c.fail, func() { clear(pe.senderData); clear(pe.membership) })
	ng.past = append([]*pastEpoch{pe}, ng.past...)
	for len(ng.past) > c.g.cfg.MaxPastEpochs {
		last := ng.past[len(ng.past)-1]
		c.done = append(c.done, func() {
			last.protector.Zero()
			clear(last.senderData)
			clear(last.membership)
		})
		ng.past = ng.past[:len(ng.past)-1]
	}
	// The rest of the old epoch's secrets go.
	c.done = append(c.done, old.secrets.Zero)
}

// keepResumption keeps, in the staged group, the resumption PSK of the
// epoch just ended (§8.6).
func (c *change) keepResumption(old *epoch) {
	ng := c.next
	n := c.g.cfg.NumberOfResumptionPSKs
	if n <= 0 {
		return
	}
	psk := bytes.Clone(old.secrets.Resumption)
	c.fail = append(c.fail, func() { clear(psk) })
	ng.resumption = append([]resumptionPSK{{epoch: old.ctx.Epoch, psk: psk}}, ng.resumption...)
	for len(ng.resumption) > n {
		last := ng.resumption[len(ng.resumption)-1].psk
		c.done = append(c.done, func() { clear(last) })
		ng.resumption = ng.resumption[:len(ng.resumption)-1]
	}
}

// addExternalCommitter assigns an external committer its leaf (RFC 9420
// §12.4.2: the leftmost blank leaf, or a new one), holding the leaf node of
// its UpdatePath, whose direct path merging the UpdatePath then overwrites
// (treekem.ApplyParams.External).
func addExternalCommitter(diff *ratchettree.Diff, ln *codec.LeafNode) (LeafIndex, error) {
	l, err := diff.Add(ln)
	if err != nil {
		return 0, treeRule(err, RulePathLeafEncryptionKeyDuplicate, RuleUpdateCapabilities)
	}
	return LeafIndex(l), nil
}
