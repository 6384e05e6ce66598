package mls

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// QueuedProposal is a proposal in a group's proposal store (RFC 9420
// §12.4.2): received in a message or sent by this member, waiting for a
// Commit to cover it by reference.
type QueuedProposal struct {
	// Proposal is the proposal; it must not be modified.
	Proposal *codec.Proposal
	// Ref is its ProposalRef (§5.2).
	Ref codec.ProposalRef
	// Sender sent it.
	Sender codec.Sender
	// Epoch is the epoch it was sent in; StoreProposal accepts it only
	// in that epoch.
	Epoch uint64
	// Own is true for proposals this member sent.
	Own bool

	// msgHash is, for a proposal this member sent, the hash of the
	// MLSMessage that carried it, by which its echo is recognised.
	msgHash []byte
	// verified is, for a received Update or Add, the signatures already
	// verified when it was processed (see verifiedSigs).
	verified verifiedSigs
}

// verifiedSigs records the signatures of a received proposal verified
// when it was processed: an Update's LeafNode (RFC 9420 §7.3: the
// LeafNodeTBS of an update leaf is bound to the group_id, constant for a
// group, and to the sender's leaf_index), or an Add's KeyPackage and its
// leaf node (§10.1, bound to nothing else). It keeps the proposal type,
// the encoding of the signed object, signatures included, and the sender
// leaf. A Commit covering the proposal by reference does not verify those
// signatures again when the object, as it is then, still encodes to
// exactly these bytes (for an Update, of the same leaf); anything else is
// verified as usual.
type verifiedSigs struct {
	typ  codec.ProposalType
	enc  []byte
	leaf LeafIndex
}

// verifiedUpdateLeaf encodes ln, an Update's leaf node whose signature for
// leaf l has just been verified.
func verifiedUpdateLeaf(ln *codec.LeafNode, l LeafIndex) verifiedSigs {
	enc, err := ln.Marshal()
	if err != nil {
		return verifiedSigs{}
	}
	return verifiedSigs{typ: codec.ProposalTypeUpdate, enc: enc, leaf: l}
}

// verifiedKeyPackage encodes kp, an Add's KeyPackage whose signatures (its
// own and its leaf node's) have just been verified.
func verifiedKeyPackage(kp *codec.KeyPackage) verifiedSigs {
	enc, err := kp.Marshal()
	if err != nil {
		return verifiedSigs{}
	}
	return verifiedSigs{typ: codec.ProposalTypeAdd, enc: enc}
}

// covers reports whether ln, the leaf of an Update from leaf l, is the one
// whose signature v records as verified.
func (v verifiedSigs) covers(ln *codec.LeafNode, l LeafIndex) bool {
	if v.typ != codec.ProposalTypeUpdate || v.enc == nil || v.leaf != l {
		return false
	}
	enc, err := ln.Marshal()
	return err == nil && bytes.Equal(enc, v.enc)
}

// coversKeyPackage reports whether kp, an Add's KeyPackage, is the one
// whose signatures v records as verified.
func (v verifiedSigs) coversKeyPackage(kp *codec.KeyPackage) bool {
	if v.typ != codec.ProposalTypeAdd || v.enc == nil {
		return false
	}
	enc, err := kp.Marshal()
	return err == nil && bytes.Equal(enc, v.enc)
}

// Type returns the proposal's type.
func (q *QueuedProposal) Type() codec.ProposalType { return q.Proposal.ProposalType }

// committedProposal is one proposal a Commit covers, resolved: by value with
// the committer as sender, or by reference from the store.
type committedProposal struct {
	p        *codec.Proposal
	sender   codec.Sender
	ref      codec.ProposalRef // nil when by value
	verified verifiedSigs      // from the store: what was verified on receipt
}

// proposalResult is what applying a Commit's proposal list to a staged tree
// gives (RFC 9420 §12.3).
type proposalResult struct {
	extensions   []codec.Extension // the new GroupContext extensions
	added        []LeafIndex       // leaves of the Add proposals, in order
	addedKPs     []*codec.KeyPackage
	removed      []LeafIndex
	psks         []codec.PreSharedKeyID
	externalInit *codec.ExternalInit
	reinit       *codec.ReInit
	pathRequired bool
}

// pathRequiredTypes are the proposal types whose presence requires a path
// (RFC 9420 §17.4 "Path Required"; SelfRemove per the extensions draft).
func pathRequired(t codec.ProposalType) bool {
	switch t {
	case codec.ProposalTypeAdd, codec.ProposalTypePSK, codec.ProposalTypeReInit:
		return false
	}
	// Update, Remove, ExternalInit, GroupContextExtensions, SelfRemove and,
	// conservatively, unknown types.
	return true
}

// resolveProposals turns a Commit's ProposalOrRef list into proposals with
// their senders, looking references up in the store (RFC 9420 §12.4.2).
func (g *Group) resolveProposals(c *codec.Commit, committer codec.Sender) ([]committedProposal, error) {
	out := make([]committedProposal, 0, len(c.Proposals))
	for i := range c.Proposals {
		por := &c.Proposals[i]
		switch por.Type {
		case codec.ProposalOrRefTypeProposal:
			if por.Proposal == nil {
				return nil, RuleProposalRef.Errorf("proposal %d: missing inline proposal", i)
			}
			out = append(out, committedProposal{p: por.Proposal, sender: committer})
		case codec.ProposalOrRefTypeReference:
			q := g.findProposal(por.Reference)
			if q == nil {
				return nil, RuleProposalRef.Errorf("proposal %d: reference %x is not in the proposal store: %w", i, []byte(por.Reference), ErrUnknownProposal)
			}
			out = append(out, committedProposal{p: q.Proposal, sender: q.Sender, ref: q.Ref, verified: q.verified})
		default:
			return nil, RuleProposalRef.Errorf("proposal %d: unknown ProposalOrRef type %d", i, por.Type)
		}
	}
	return out, nil
}

func (g *Group) findProposal(ref []byte) *QueuedProposal {
	for _, q := range g.proposals {
		if bytes.Equal(q.Ref, ref) {
			return q
		}
	}
	return nil
}

// commitContext says who commits and how.
type commitContext struct {
	committer codec.Sender
	external  bool      // sender new_member_commit (§12.4.3.2)
	hasPath   bool      // the Commit carries an UpdatePath
	now       time.Time // for key package lifetimes
	// initialResumption: the first Commit of a ReInit successor or a
	// branch, which injects a reinit or branch PSK (§11.2, §11.3).
	initialResumption bool
}

// applyProposals validates a Commit's proposal list (RFC 9420 §12.1, §12.2)
// and applies it to diff in the order of §12.3. On error diff may hold part
// of the change; the caller discards it.
func (g *Group) applyProposals(diff *ratchettree.Diff, props []committedProposal, cc commitContext) (*proposalResult, error) {
	if err := g.limits().checkProposals(props); err != nil {
		return nil, err
	}
	res := &proposalResult{extensions: g.epoch.ctx.Extensions}
	if len(props) == 0 {
		res.pathRequired = true
	}
	var (
		gce                      *codec.GroupContextExtensions
		updates, removes, adds   []committedProposal
		selfRemoves              []committedProposal
		nExternalInit, nReInit   int
		committerLeaf            = LeafIndex(cc.committer.LeafIndex)
		committerIsMember        = cc.committer.SenderType == codec.SenderTypeMember
		touched                  = map[LeafIndex]bool{}
		initKeys                 = map[string]bool{}
		nonDefaultProposalTypeIn []codec.ProposalType
	)
	for i, cp := range props {
		p := cp.p
		if pathRequired(p.ProposalType) {
			res.pathRequired = true
		}
		if !isDefaultProposal(p.ProposalType) {
			nonDefaultProposalTypeIn = append(nonDefaultProposalTypeIn, p.ProposalType)
		}
		if err := checkProposalSender(p, cp.sender); err != nil {
			return nil, err
		}
		if cc.external {
			// §12.2: an external Commit covers only inline ExternalInit,
			// Remove and PreSharedKey proposals (and SelfRemove by
			// reference, per the extensions draft).
			if cp.ref != nil && p.ProposalType != codec.ProposalTypeSelfRemove {
				return nil, RuleExternalCommitByReference.Errorf("external commit covers proposal %d by reference", i)
			}
			switch p.ProposalType {
			case codec.ProposalTypeExternalInit, codec.ProposalTypeRemove, codec.ProposalTypePSK, codec.ProposalTypeSelfRemove:
			default:
				return nil, RuleExternalCommitProposalType.Errorf("external commit covers a %v proposal", p.ProposalType)
			}
		}
		switch p.ProposalType {
		case codec.ProposalTypeGroupContextExtensions:
			if gce != nil {
				return nil, RuleGroupContextExtensionsTwice.Errorf("more than one GroupContextExtensions proposal")
			}
			gce = p.GroupContextExtensions
		case codec.ProposalTypeUpdate:
			if cp.sender.SenderType != codec.SenderTypeMember {
				return nil, RuleUpdateNotMember.Errorf("Update proposal %d from a non-member sender", i)
			}
			l := LeafIndex(cp.sender.LeafIndex)
			if committerIsMember && l == committerLeaf {
				return nil, RuleCommitterOwnUpdate.Errorf("the committer's own Update proposal is covered by its Commit")
			}
			if touched[l] {
				return nil, RuleSameLeaf.Errorf("second Update/Remove for leaf %d", l)
			}
			touched[l] = true
			updates = append(updates, cp)
		case codec.ProposalTypeRemove:
			l := LeafIndex(p.Remove.Removed)
			if diff.Leaf(treemath.LeafIndex(l)) == nil {
				return nil, RuleRemoveNotMember.Errorf("Remove of leaf %d, which is not a member", l)
			}
			if committerIsMember && l == committerLeaf {
				return nil, RuleCommitterRemoved.Errorf("Commit removes its committer (leaf %d)", l)
			}
			if touched[l] {
				return nil, RuleRemoveDuplicate.Errorf("second Update/Remove for leaf %d", l)
			}
			touched[l] = true
			removes = append(removes, cp)
		case codec.ProposalTypeSelfRemove:
			if cp.ref == nil {
				return nil, RuleSelfRemoveByReference.Errorf("SelfRemove proposal %d is inline", i)
			}
			if cp.sender.SenderType != codec.SenderTypeMember {
				return nil, RuleProposalSender.Errorf("SelfRemove from a non-member sender")
			}
			l := LeafIndex(cp.sender.LeafIndex)
			if committerIsMember && l == committerLeaf {
				return nil, RuleCommitterRemoved.Errorf("Commit covers its committer's SelfRemove")
			}
			if touched[l] {
				return nil, RuleSameLeaf.Errorf("second Update/Remove/SelfRemove for leaf %d", l)
			}
			touched[l] = true
			selfRemoves = append(selfRemoves, cp)
		case codec.ProposalTypeAdd:
			ik := string(p.Add.KeyPackage.InitKey)
			if initKeys[ik] {
				return nil, RuleAddInitKeyDuplicate.Errorf("two Add proposals with the same init key")
			}
			initKeys[ik] = true
			adds = append(adds, cp)
		case codec.ProposalTypePSK:
			res.psks = append(res.psks, p.PreSharedKey.PSK)
		case codec.ProposalTypeReInit:
			nReInit++
			if p.ReInit.Version < codec.ProtocolVersionMLS10 {
				return nil, RuleReInitVersion.Errorf("ReInit to version %d", p.ReInit.Version)
			}
			res.reinit = p.ReInit
		case codec.ProposalTypeExternalInit:
			if !cc.external {
				return nil, RuleExternalInit.Errorf("ExternalInit proposal in a regular Commit")
			}
			if cp.ref != nil {
				return nil, RuleExternalCommitByReference.Errorf("ExternalInit by reference")
			}
			nExternalInit++
			res.externalInit = p.ExternalInit
		default:
			// Custom proposals (custom.go): every member that stays must
			// support the type (checked below); their meaning is the
			// application's, so they change nothing here.
			if !IsCustomProposalType(p.ProposalType) {
				return nil, RuleProposalTypeUnsupported.Errorf("proposal type %v is not supported by this implementation", p.ProposalType)
			}
		}
	}
	if cc.initialResumption {
		if err := validateGroupSecretsPSKs(g.cs, res.psks); err != nil {
			return nil, err
		}
	} else if err := validateProposalPSKs(g.cs, res.psks); err != nil {
		return nil, err
	}
	if nReInit > 0 && len(props) > 1 {
		return nil, RuleReInitAlone.Errorf("ReInit together with %d other proposals", len(props)-1)
	}
	if cc.external {
		if nExternalInit == 0 {
			return nil, RuleExternalCommitNoExternalInit.Errorf("external commit without ExternalInit")
		}
		if nExternalInit > 1 {
			return nil, RuleExternalCommitExternalInitTwice.Errorf("external commit with %d ExternalInit proposals", nExternalInit)
		}
		if len(removes) > 1 {
			return nil, RuleExternalCommitProposalType.Errorf("external commit with %d Remove proposals", len(removes))
		}
		if !cc.hasPath {
			return nil, RuleExternalCommitNoPath.Errorf("external commit without a path")
		}
	}
	if res.pathRequired && !cc.hasPath {
		return nil, RulePathRequired.Errorf("the Commit's proposals require a path")
	}
	// RuleProposalTypeUnsupported: non-default proposal types must be supported by the
	// members that stay (§12.2), with their new leaf for those that
	// update.
	leaving := map[LeafIndex]bool{}
	for _, cp := range removes {
		leaving[LeafIndex(cp.p.Remove.Removed)] = true
	}
	for _, cp := range selfRemoves {
		leaving[LeafIndex(cp.sender.LeafIndex)] = true
	}
	for _, t := range nonDefaultProposalTypeIn {
		if err := g.allSupportProposal(diff, t, leaving); err != nil {
			return nil, err
		}
		for _, cp := range updates {
			if !slices.Contains(cp.p.Update.LeafNode.Capabilities.Proposals, t) {
				return nil, RuleProposalTypeUnsupported.Errorf("the Update of leaf %d does not support proposal type %v", cp.sender.LeafIndex, t)
			}
		}
	}

	// §12.3 step 1: GroupContextExtensions.
	if gce != nil {
		if err := g.checkGroupContextExtensions(diff, gce.Extensions, touched); err != nil {
			return nil, err
		}
		res.extensions = gce.Extensions
	}
	reqCaps, err := requiredCapabilitiesOf(res.extensions)
	if err != nil {
		return nil, err
	}
	now := g.lifetimeNow()
	// Step 2: Updates.
	for _, cp := range updates {
		l := LeafIndex(cp.sender.LeafIndex)
		ln := &cp.p.Update.LeafNode
		if err := g.checkSuccessor(diff.Leaf(treemath.LeafIndex(l)), ln, false, fmt.Sprintf("Update of leaf %d", l)); err != nil {
			return nil, err
		}
		if err := g.validateLeaf(diff, ln, &ratchettree.LeafValidation{
			Source: codec.LeafNodeSourceUpdate, GroupID: g.epoch.ctx.GroupID, Leaf: treemath.LeafIndex(l),
			RequiredCapabilities: reqCaps, GroupExtensions: res.extensions,
			// Verified when the proposal was received, if it is unchanged.
			SignatureVerified: cp.verified.covers(ln, l),
		}, RuleUpdateCapabilities, RuleUpdateEncryptionKeyDuplicate); err != nil {
			return nil, err
		}
		if err := diff.Update(treemath.LeafIndex(l), ln); err != nil {
			return nil, treeRule(err, RuleUpdateEncryptionKeyDuplicate, RuleUpdateCapabilities)
		}
	}
	// Step 3: Removes (SelfRemoves are processed with them, after the
	// Updates, as the extensions draft says).
	for _, cp := range selfRemoves {
		l := LeafIndex(cp.sender.LeafIndex)
		if err := diff.Remove(treemath.LeafIndex(l)); err != nil {
			return nil, RuleRemoveNotMember.Errorf("SelfRemove of leaf %d: %w", l, err)
		}
		res.removed = append(res.removed, l)
	}
	for _, cp := range removes {
		l := LeafIndex(cp.p.Remove.Removed)
		if err := diff.Remove(treemath.LeafIndex(l)); err != nil {
			return nil, RuleRemoveNotMember.Errorf("Remove of leaf %d: %w", l, err)
		}
		res.removed = append(res.removed, l)
	}
	// Step 4: Adds, in order.
	for _, cp := range adds {
		kp := &cp.p.Add.KeyPackage
		// Its signatures were verified when the proposal was received, if
		// it is unchanged; every other check runs again.
		if err := g.validateKeyPackageSigned(kp, cc.now, cp.verified.coversKeyPackage(kp)); err != nil {
			return nil, err
		}
		if err := g.validateLeaf(diff, &kp.LeafNode, &ratchettree.LeafValidation{
			Source: codec.LeafNodeSourceKeyPackage, Now: now,
			RequiredCapabilities: reqCaps, GroupExtensions: res.extensions,
			// validateKeyPackageForGroup verified the leaf's signature.
			SignatureVerified: true,
		}, RuleAddCapabilities, RuleAddEncryptionKeyDuplicate); err != nil {
			return nil, err
		}
		l, err := diff.Add(compactLeaf(&kp.LeafNode))
		if err != nil {
			return nil, treeRule(err, RuleAddEncryptionKeyDuplicate, RuleAddCapabilities)
		}
		res.added = append(res.added, LeafIndex(l))
		res.addedKPs = append(res.addedKPs, kp)
	}
	if len(adds) > 0 {
		if err := g.limits().checkLeafCount(diff.LeafCount()); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// checkProposalSender enforces which senders may send which proposals
// (RFC 9420 §12.1, §12.1.8.1, §17.4 "External" column).
func checkProposalSender(p *codec.Proposal, s codec.Sender) error {
	switch s.SenderType {
	case codec.SenderTypeMember, codec.SenderTypeNewMemberCommit:
		return nil
	case codec.SenderTypeNewMemberProposal:
		if p.ProposalType != codec.ProposalTypeAdd {
			return RuleProposalSender.Errorf("new_member_proposal sender sent a %v proposal", p.ProposalType)
		}
	case codec.SenderTypeExternal:
		switch p.ProposalType {
		case codec.ProposalTypeUpdate, codec.ProposalTypeExternalInit, codec.ProposalTypeSelfRemove:
			return RuleProposalSender.Errorf("external sender sent a %v proposal", p.ProposalType)
		}
	default:
		return RuleSenderType.Errorf("unknown sender type %d", s.SenderType)
	}
	return nil
}

// validateLeaf runs the tree-context validation of a leaf node (RFC 9420
// §7.3) and maps the tree's errors to the catalogue rule of the proposal.
func (g *Group) validateLeaf(diff *ratchettree.Diff, ln *codec.LeafNode, lv *ratchettree.LeafValidation, capsRule, keyRule Rule) error {
	lv.CheckCredential = g.checkCredential
	if err := diff.ValidateLeafNode(ln, lv); err != nil {
		return treeRule(err, keyRule, capsRule)
	}
	return nil
}

// checkCredential adapts the group's CredentialValidator to the tree.
func (g *Group) checkCredential(c *codec.Credential, key codec.SignaturePublicKey) error {
	return validateCredential(g.validator, g.epoch.ctx.CipherSuite, c, key)
}

// validateKeyPackageForGroup checks an Add's KeyPackage on its own (RFC 9420
// §10.1, §12.1.1): version and suite of the group, signatures, keys.
func (g *Group) validateKeyPackageForGroup(kp *codec.KeyPackage, now time.Time) error {
	return g.validateKeyPackageSigned(kp, now, false)
}

// validateKeyPackageSigned is validateKeyPackageForGroup; verified skips
// the two signature checks, done before on these exact bytes.
func (g *Group) validateKeyPackageSigned(kp *codec.KeyPackage, now time.Time, verified bool) error {
	return validateKeyPackage(g.provider, kp, verified, &ValidationOptions{
		CipherSuite:         g.epoch.ctx.CipherSuite,
		Version:             codec.ProtocolVersionMLS10,
		Now:                 func() time.Time { return now },
		IgnoreLifetime:      g.ignoreLifetimes,
		CredentialValidator: g.validator,
	})
}

// allSupportProposal checks that every member not being removed supports a
// non-default proposal type (RuleProposalTypeUnsupported).
func (g *Group) allSupportProposal(diff *ratchettree.Diff, t codec.ProposalType, leaving map[LeafIndex]bool) error {
	var err error
	diff.Members(func(tl ratchettree.LeafIndex, ln *codec.LeafNode) bool {
		l := LeafIndex(tl)
		if leaving[l] {
			return true
		}
		for _, s := range ln.Capabilities.Proposals {
			if s == t {
				return true
			}
		}
		err = RuleProposalTypeUnsupported.Errorf("member %d does not support proposal type %v", l, t)
		return false
	})
	return err
}

// checkGroupContextExtensions checks a GroupContextExtensions proposal
// (RFC 9420 §12.1.7, RuleGroupContextExtensionsUnsupported): every member that stays supports each
// non-default extension type, and meets the new required capabilities.
func (g *Group) checkGroupContextExtensions(diff *ratchettree.Diff, exts []codec.Extension, leaving map[LeafIndex]bool) error {
	if t, dup := duplicateExtension(exts); dup {
		return RuleExtensionsUnique.Errorf("extension type %v appears twice", t)
	}
	rc, err := requiredCapabilitiesOf(exts)
	if err != nil {
		return err
	}
	diff.Members(func(tl ratchettree.LeafIndex, ln *codec.LeafNode) bool {
		l := LeafIndex(tl)
		if leaving[l] {
			return true
		}
		if e := leafSupports(ln, exts, rc); e != nil {
			err = RuleGroupContextExtensionsUnsupported.Errorf("member %d: %v", l, e)
			return false
		}
		return true
	})
	return err
}

// leafSupports reports whether a leaf supports the non-default extension
// types of exts and the required capabilities rc (§7.2, §11.1).
func leafSupports(ln *codec.LeafNode, exts []codec.Extension, rc *codec.RequiredCapabilities) error {
	if err := CheckRequiredCapabilities(&ln.Capabilities, rc); err != nil {
		return err
	}
	for i := range exts {
		if t := exts[i].ExtensionType; !SupportsExtension(&ln.Capabilities, t) {
			return fmt.Errorf("%w: extension type %v", ErrUnsupportedCapability, t)
		}
	}
	return nil
}

// requiredCapabilitiesOf is Extensions.RequiredCapabilities with a
// malformed extension reported as RuleGroupContextExtensionsUnsupported.
func requiredCapabilitiesOf(exts []codec.Extension) (*codec.RequiredCapabilities, error) {
	rc, err := Extensions(exts).RequiredCapabilities()
	if err != nil {
		return nil, RuleGroupContextExtensionsUnsupported.Errorf("%w", err)
	}
	return rc, nil
}

// psks returns the resolver of the PSKs this member can use (RFC 9420 §8.4):
// external PSKs in the store, resumption PSKs of this group's kept epochs.
func (g *Group) psks() pskResolver {
	return pskResolver{store: g.store, resumption: g.resumptionPSK}
}

// resumptionPSK returns a copy of the kept resumption PSK of one of this
// group's epochs (§8.6).
func (g *Group) resumptionPSK(groupID []byte, epoch uint64) ([]byte, error) {
	if bytes.Equal(groupID, g.epoch.ctx.GroupID) {
		if epoch == g.epoch.ctx.Epoch {
			return bytes.Clone(g.epoch.secrets.Resumption), nil
		}
		for _, r := range g.resumption {
			if r.epoch == epoch {
				return bytes.Clone(r.psk), nil
			}
		}
	}
	return nil, fmt.Errorf("%w: resumption PSK of group %x epoch %d", ErrNotFound, groupID, epoch)
}

// compactLeaf returns a copy of ln decoded from its encoding, whose byte
// fields all lie in one buffer, or ln itself if it does not re-encode. A
// leaf added to the tree comes from a KeyPackage whose fields may be
// separate allocations scattered over the heap (one per key, credential,
// capability list, signature); every pass over the whole tree (the
// ratchet_tree extension of each GroupInfo, RFC 9420 §12.4.3.3) then
// reads a dozen distant cache lines per leaf, three times as slow as over
// a tree decoded from a Welcome. The copy also leaves the tree none of
// the caller's KeyPackage to share.
func compactLeaf(ln *codec.LeafNode) *codec.LeafNode {
	enc, err := ln.Marshal()
	if err != nil {
		return ln
	}
	c := new(codec.LeafNode)
	if err := c.Unmarshal(enc); err != nil {
		return ln
	}
	return c
}
