package mls

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/framing"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/treekem"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// ErrNoExternalPub: a GroupInfo offered for an external join has no
// external_pub extension (RFC 9420 §12.4.3.2).
var ErrNoExternalPub = errors.New("mls: GroupInfo has no external_pub extension")

// ExternalCommitOptions are the optional parts of an external Commit
// (RFC 9420 §12.4.3.2).
type ExternalCommitOptions struct {
	// AuthenticatedData is the Commit message's additional authenticated
	// data.
	AuthenticatedData []byte
	// RemoveLeaf, if set, adds a Remove proposal for that leaf: a member
	// that lost its state rejoins and removes its old self ("resync",
	// §12.4.3.2).
	RemoveLeaf *LeafIndex
	// PSKs are PreSharedKey proposals to include (§12.4.3.2 allows them);
	// each PSK must be in the client's storage.
	PSKs []codec.PreSharedKeyID
	// SelfRemoves are the SelfRemove proposals pending in the group's
	// epoch (MLSMessages, PublicMessage as the extensions draft requires;
	// the Delivery Service hands them out with the GroupInfo). The draft
	// (draft-ietf-mls-extensions, SelfRemove) says a joiner MUST include
	// every pending one in its external Commit, by reference, after
	// validating it as far as a non-member can: group and epoch of the
	// GroupInfo, a member sender whose signature verifies, a SelfRemove
	// (the membership tag cannot be checked). Members that did not store
	// a proposal refuse the Commit (ErrUnknownProposal).
	SelfRemoves [][]byte
	// LeafCapabilities are the capabilities of the joiner's leaf node
	// (§7.2); nil means DefaultCapabilities. The group's cipher suite,
	// version mls10, the joiner's credential type and the non-default
	// extension types of LeafExtensions are added when missing.
	LeafCapabilities *codec.Capabilities
	// LeafExtensions are the extensions of the joiner's leaf node.
	LeafExtensions Extensions
}

// JoinByExternalCommit joins a group without a Welcome, by an external
// Commit (RFC 9420 §12.4.3.2). groupInfo is a GroupInfo MLSMessage of the
// group's current epoch (from Group.GroupInfo or a CommitResult); tree is
// the group's ratchet tree, or nil to take it from the GroupInfo's
// ratchet_tree extension.
//
// It verifies the GroupInfo signature and the tree as a Welcome joiner
// would (§12.4.3.1), derives the init secret from the group's external_pub
// (§8.3, ExternalInit proposal), takes the leftmost blank leaf, and builds
// a Commit from sender new_member_commit with an UpdatePath, signed with the
// client's key, as a PublicMessage. The returned Group is in the epoch the
// Commit starts: send commitMsg to the group; if the Delivery Service
// rejects it, drop the Group.
func JoinByExternalCommit(c *Client, groupInfo []byte, tree codec.RatchetTree, cfg GroupConfig, opts *ExternalCommitOptions) (*Group, []byte, error) {
	if err := c.check(); err != nil {
		return nil, nil, err
	}
	if opts == nil {
		opts = &ExternalCommitOptions{}
	}
	var m codec.MLSMessage
	gib, err := c.limits().decodeGroupInfo(groupInfo, &m)
	if err != nil {
		return nil, nil, err
	}
	if m.WireFormat != codec.WireFormatMLSGroupInfo || m.GroupInfo == nil {
		return nil, nil, fmt.Errorf("%w: MLSMessage of wire format %v is not a GroupInfo", ErrInvalidArgument, m.WireFormat)
	}
	gi := m.GroupInfo
	ctx := gi.GroupContext
	cs, err := c.Provider.CipherSuite(ctx.CipherSuite)
	if err != nil {
		return nil, nil, err
	}
	if s, ok := c.Signer.(interface{ CipherSuite() codec.CipherSuite }); ok && s.CipherSuite() != ctx.CipherSuite {
		return nil, nil, fmt.Errorf("%w: signer of %v for a group of %v", ErrWrongCipherSuite, s.CipherSuite(), ctx.CipherSuite)
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	if err := validateLeafExtensions(opts.LeafExtensions); err != nil {
		return nil, nil, invalidConfig(err)
	}
	cfg = cfg.withDefaults()
	if len(ctx.GroupID) == 0 {
		return nil, nil, fmt.Errorf("%w: GroupInfo without a group id", ErrInvalidArgument)
	}

	g := c.newGroup(cs, cfg)
	// The epoch the GroupInfo describes, as far as a joiner knows it: the
	// base of the transition.
	if err := g.setGroupInfoEpoch(gi, gib, tree); err != nil {
		return nil, nil, err
	}
	g.epoch.keys = treekem.NewPrivateKeys()
	externalPub, ok, err := Extensions(gi.Extensions).ExternalPub()
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, ErrNoExternalPub
	}

	// ExternalInit (§8.3, §12.1.6): kem_output and our init_secret.
	kemOutput, initSecret, err := keyschedule.ExternalInitS(cs, externalPub)
	if err != nil {
		return nil, nil, err
	}

	// The proposals, all inline (§12.4.3.2): ExternalInit, an optional
	// Remove of our old self, optional PSKs.
	self := codec.Sender{SenderType: codec.SenderTypeNewMemberCommit}
	var (
		pors  []codec.ProposalOrRef
		props []committedProposal
	)
	inline := func(p *codec.Proposal) {
		pors = append(pors, codec.ProposalOrRef{Type: codec.ProposalOrRefTypeProposal, Proposal: p})
		props = append(props, committedProposal{p: p, sender: self})
	}
	inline(&codec.Proposal{ProposalType: codec.ProposalTypeExternalInit, ExternalInit: &codec.ExternalInit{KEMOutput: kemOutput}})
	if opts.RemoveLeaf != nil {
		inline(&codec.Proposal{ProposalType: codec.ProposalTypeRemove, Remove: &codec.Remove{Removed: uint32(*opts.RemoveLeaf)}})
	}
	for i := range opts.PSKs {
		inline(&codec.Proposal{ProposalType: codec.ProposalTypePSK, PreSharedKey: &codec.PreSharedKey{PSK: opts.PSKs[i]}})
	}
	for i, msg := range opts.SelfRemoves {
		cp, err := externalSelfRemove(cs, &ctx, g.epoch.tree, msg, g.limits())
		if err != nil {
			return nil, nil, fmt.Errorf("SelfRemove proposal %d: %w", i, err)
		}
		pors = append(pors, codec.ProposalOrRef{Type: codec.ProposalOrRefTypeReference, Reference: cp.ref})
		props = append(props, cp)
	}
	// §12.4.3.2 as one transition, from the external init secret.
	tr := g.newTransition(self, true)
	tr.initSecret = initSecret
	joined := false
	defer func() { tr.zero(!joined) }()
	if err := tr.stageProposals(props, true, g.now()); err != nil {
		return nil, nil, err
	}
	res := tr.res

	// Our leaf: the leftmost blank leaf (§12.4.3.2), holding our new leaf
	// node from the start, as the receivers place it
	// (addExternalCommitter); its HPKE key comes from the leaf secret the
	// UpdatePath is built from.
	suite := ctx.CipherSuite
	caps := newLeafCapabilities(opts.LeafCapabilities, c.Provider, suite, c.Credential.Type(), opts.LeafExtensions)
	leafExts, err := cfg.greaseLeaf(c.Provider.Rand(), &caps, opts.LeafExtensions)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &codec.LeafNode{
		SignatureKey:   c.Signer.PublicKey(),
		Credential:     c.Credential.Wire(),
		Capabilities:   caps,
		LeafNodeSource: codec.LeafNodeSourceCommit,
		Extensions:     leafExts,
	}
	if err := leafSupports(tmpl, res.extensions, nil); err != nil {
		return nil, nil, fmt.Errorf("%w: our capabilities: %v", ErrInvalidArgument, err)
	}
	if rc, err := requiredCapabilitiesOf(res.extensions); err != nil {
		return nil, nil, err
	} else if err := leafSupports(tmpl, nil, rc); err != nil {
		return nil, nil, fmt.Errorf("%w: our capabilities: %v", ErrInvalidArgument, err)
	}
	leafSecret := make([]byte, cs.HashSize())
	if _, err := io.ReadFull(c.Provider.Rand(), leafSecret); err != nil {
		return nil, nil, fmt.Errorf("mls: drawing the leaf secret: %w", err)
	}
	defer clear(leafSecret)
	leafPriv, leafPub, err := treekem.NodeKeyPair(cs, leafSecret)
	if err != nil {
		return nil, nil, err
	}
	clear(leafPriv)
	tmpl.EncryptionKey = leafPub
	if err := g.checkCommitterSuccessor(self, props, tmpl); err != nil {
		return nil, nil, err
	}
	if tr.own, err = addExternalCommitter(tr.diff, tmpl); err != nil {
		return nil, nil, err
	}
	path, err := tr.createPath(tmpl, c.Signer, leafSecret)
	if err != nil {
		return nil, nil, err
	}
	defer path.Zero()

	// The Commit, signed as new_member_commit over the current
	// GroupContext (§6.1).
	fc := codec.FramedContent{
		GroupID:           ctx.GroupID,
		Epoch:             ctx.Epoch,
		Sender:            self,
		AuthenticatedData: opts.AuthenticatedData,
		ContentType:       codec.ContentTypeCommit,
		Commit:            &codec.Commit{Proposals: pors, Path: path.Path},
	}
	ac, err := framing.SignContent(c.Signer, codec.WireFormatMLSPublicMessage, &fc, &ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("mls: signing the Commit: %w", err)
	}
	if err := tr.derive(ac); err != nil {
		return nil, nil, err
	}
	ac.Auth.ConfirmationTag = tr.confirmationTag()
	msg := codec.MLSMessage{WireFormat: codec.WireFormatMLSPublicMessage, PublicMessage: &codec.PublicMessage{Content: ac.Content, Auth: ac.Auth}}
	commitBytes, err := msg.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("mls: encoding the Commit: %w", err)
	}
	next, err := tr.finish(ac.Auth.ConfirmationTag)
	if err != nil {
		return nil, nil, err
	}
	// The joiner's group starts in the new epoch: staged and stored like
	// any merge (change.go), with nothing of the base epoch to keep.
	merged, err := tr.diff.Merge()
	if err != nil {
		next.zero()
		next.keys.Zero()
		return nil, nil, fmt.Errorf("mls: merging the tree: %w", err)
	}
	next.tree = merged
	g.epoch = next
	if err := g.stage().commitSave(); err != nil {
		next.zero()
		next.keys.Zero()
		return nil, nil, err
	}
	joined = true
	return g, commitBytes, nil
}

// externalSelfRemove validates a pending SelfRemove proposal for an
// external joiner (draft-ietf-mls-extensions, SelfRemove: everything but
// the membership tag) against the GroupContext and tree of the GroupInfo,
// and returns it with its sender and reference (RFC 9420 §5.2).
func externalSelfRemove(cs providers.CipherSuite, ctx *codec.GroupContext, t *ratchettree.Tree, msg []byte, lim Limits) (committedProposal, error) {
	var m codec.MLSMessage
	if err := lim.decodeMessage("MLSMessage", msg, &m); err != nil {
		return committedProposal{}, err
	}
	if m.WireFormat != codec.WireFormatMLSPublicMessage || m.PublicMessage == nil {
		return committedProposal{}, RuleWireFormatPolicy.Errorf("a SelfRemove proposal must be a PublicMessage, not %v", m.WireFormat)
	}
	fc := &m.PublicMessage.Content
	if !bytes.Equal(fc.GroupID, ctx.GroupID) {
		return committedProposal{}, RuleWrongGroupID.Errorf("proposal for group %x", fc.GroupID)
	}
	if fc.Epoch != ctx.Epoch {
		return committedProposal{}, RuleWrongEpoch.Errorf("proposal of epoch %d, GroupInfo of epoch %d", fc.Epoch, ctx.Epoch)
	}
	if fc.ContentType != codec.ContentTypeProposal || fc.Proposal == nil || fc.Proposal.ProposalType != codec.ProposalTypeSelfRemove {
		return committedProposal{}, fmt.Errorf("%w: not a SelfRemove proposal", ErrInvalidArgument)
	}
	if fc.Sender.SenderType != codec.SenderTypeMember {
		return committedProposal{}, RuleProposalSender.Errorf("SelfRemove from a %v sender", fc.Sender.SenderType)
	}
	ln := t.Leaf(treemath.LeafIndex(fc.Sender.LeafIndex))
	if ln == nil {
		return committedProposal{}, RuleSenderLeafBlank.Errorf("sender leaf %d is blank or outside the tree", fc.Sender.LeafIndex)
	}
	ac := &codec.AuthenticatedContent{WireFormat: codec.WireFormatMLSPublicMessage, Content: *fc, Auth: m.PublicMessage.Auth}
	if err := framing.VerifyContent(cs, ac, ctx, ln.SignatureKey); err != nil {
		return committedProposal{}, RuleSignature.Errorf("%w", err)
	}
	enc, err := ac.Marshal()
	if err != nil {
		return committedProposal{}, fmt.Errorf("mls: encoding AuthenticatedContent: %w", err)
	}
	ref, err := providers.MakeProposalRef(cs, enc)
	if err != nil {
		return committedProposal{}, fmt.Errorf("mls: computing ProposalRef: %w", err)
	}
	return committedProposal{p: fc.Proposal, sender: fc.Sender, ref: ref}, nil
}

// setGroupInfoEpoch makes the epoch a GroupInfo describes g's current
// epoch, as far as someone without its secrets knows it (RFC 9420
// §12.4.3.1, §12.4.3.2): the tree (tree when given out of band, otherwise
// the GroupInfo's ratchet_tree extension), the GroupInfo's signature by
// the signer's leaf, the tree's validity against the GroupContext (§7.9.2,
// §7.8, §7.3), and the interim transcript hash, which follows from the
// GroupInfo's confirmed transcript hash and confirmation tag (§8.2). gib
// is the GroupInfo as received (decodeGroupInfo), whose signature is
// verified in place. g's own leaf and private keys are the caller's. On
// error g must be dropped.
func (g *Group) setGroupInfoEpoch(gi *codec.GroupInfo, gib groupInfoBytes, tree codec.RatchetTree) error {
	ctx := gi.GroupContext
	t, _, err := groupInfoTree(g.cs, gi, gib, tree, g.limits())
	if err != nil {
		return err
	}
	ctxBytes, err := ctx.Marshal()
	if err != nil {
		return fmt.Errorf("mls: encoding GroupContext: %w", err)
	}
	interim, err := keyschedule.InterimTranscriptHash(g.cs, ctx.ConfirmedTranscriptHash, gi.ConfirmationTag)
	if err != nil {
		return fmt.Errorf("mls: interim transcript hash: %w", err)
	}
	g.epoch = &epoch{ctx: ctx, ctxBytes: ctxBytes, tree: t, interim: interim, confirmationTag: bytes.Clone(gi.ConfirmationTag)}
	rc, err := requiredCapabilitiesOf(ctx.Extensions)
	if err != nil {
		return err
	}
	if err := t.Validate(&ratchettree.TreeValidation{
		GroupID:              ctx.GroupID,
		TreeHash:             ctx.TreeHash,
		Now:                  g.lifetimeNow(),
		RequiredCapabilities: rc,
		GroupExtensions:      ctx.Extensions,
		CheckCredential:      g.checkCredential,
	}); err != nil {
		return treeRule(err, RuleAddEncryptionKeyDuplicate, RuleAddCapabilities)
	}
	if tree == nil {
		g.keepExtensionTree(t, gi)
	}
	return nil
}
