package mls

import (
	"fmt"
	"slices"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/mls/internal/treekem"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// CommitOptions describe a Commit to create (RFC 9420 §12.4.1). The zero
// value commits to the proposals in the store, with a path only if one is
// required.
type CommitOptions struct {
	// Add, Remove, PSKs and GroupContextExtensions are proposals the Commit
	// carries by value, in addition to the stored ones.
	Add    []*codec.KeyPackage
	Remove []LeafIndex
	PSKs   []codec.PreSharedKeyID
	// GroupContextExtensions, when not nil, replaces the group context
	// extensions (§12.1.7).
	GroupContextExtensions Extensions
	// Custom are application-defined proposals (custom.go) the Commit
	// carries by value, after the others; every member that stays must
	// support their types (RuleProposalTypeUnsupported).
	Custom []CustomProposal
	// ExcludePending leaves the proposal store out of the Commit.
	ExcludePending bool
	// Filter, if set, is the application's policy on stored proposals:
	// only those it returns true for are committed (by reference). It
	// sees each proposal after the RFC's own preferences (§12.2: no
	// Update of ours, one Update/Remove per leaf) have been applied.
	Filter func(*QueuedProposal) bool
	// ForcePath includes an UpdatePath even when no proposal requires one:
	// a self-update of this member's leaf (§12.4.1).
	ForcePath bool
	// Leaf, if set, changes this member's leaf node in the path (new
	// credential, capabilities, extensions or signer); it implies
	// ForcePath.
	Leaf *LeafNodeOptions
	// AuthenticatedData is the Commit message's additional authenticated
	// data.
	AuthenticatedData []byte
	// WithGroupInfo returns a signed GroupInfo of the new epoch, with the
	// external_pub extension, in CommitResult.GroupInfo, for publishing to
	// external joiners (RFC 9420 §12.4.3, §12.4.3.2). Without it, a Commit
	// that adds members signs a GroupInfo without external_pub for the
	// Welcome only: new members derive the external key pair from the
	// epoch's external_secret (§8.3) and Group.GroupInfo publishes it on
	// demand. With it, the one GroupInfo serves both.
	WithGroupInfo bool
	// RatchetTreeOutOfBand leaves the ratchet_tree extension out of the
	// GroupInfo of the new epoch (in the Welcome and in
	// CommitResult.GroupInfo), whatever GroupConfig.UseRatchetTreeExtension
	// says, and returns the new epoch's tree in CommitResult.RatchetTree:
	// the application delivers it to the new members out of band, who
	// pass it to JoinFromWelcome (RFC 9420 §12.4.3.3).
	RatchetTreeOutOfBand bool

	// initialResumption, set only by the first Commit of a ReInit
	// successor or a branch (resumption.go), resolves the reinit or
	// branch PSK that Commit injects (RFC 9420 §11.2, §11.3).
	initialResumption ResumptionPSKFunc
}

// LeafNodeOptions change this member's leaf node in an Update or a Commit's
// path (RFC 9420 §7.2). Nil fields keep the current values.
type LeafNodeOptions struct {
	// Signer, if set, is the new signature key pair: the new leaf node is
	// signed by it and carries its public key, and the group uses it from
	// the next epoch on. A *SignatureKeyPair is written to the group's
	// storage when the Commit is merged, so that LoadGroup finds it; other
	// Signer implementations must be stored (or passed as Client.Signer)
	// by the application.
	Signer       providers.Signer
	Credential   *Credential
	Capabilities *codec.Capabilities
	Extensions   Extensions
}

// CommitResult is what creating a Commit gives: the Commit message to send
// to the group, a Welcome for the members it adds (nil if none), and a
// GroupInfo of the new epoch with external_pub for external joiners (RFC
// 9420 §12.4.3, §12.4.3.2) when CommitOptions.WithGroupInfo asks for it
// (nil otherwise, also for a Commit that adds members: the GroupInfo in
// its Welcome has no external_pub).
// RatchetTree is the new epoch's ratchet tree when
// CommitOptions.RatchetTreeOutOfBand asks for it (nil otherwise).
type CommitResult struct {
	Commit      []byte
	Welcome     []byte
	GroupInfo   []byte
	RatchetTree codec.RatchetTree
}

// pendingCommit is our own Commit awaiting MergePendingCommit: the staged
// tree and the epoch it starts.
type pendingCommit struct {
	diff      *ratchettree.Diff
	next      *epoch
	res       *proposalResult
	newSigner providers.Signer
	// info describes the Commit (remove.go); nil when LoadGroup restored
	// it from a record of version 3.
	info *PendingCommitInfo
	// msgHash is the hash of the MLSMessage that carried the Commit: the
	// Delivery Service's echo of the Commit is recognised by it
	// (echo.go). Nil for a pending Commit loaded from a record of
	// version 3.
	msgHash []byte
	// proposals are the Commit's proposals (its codec.Commit without the
	// path), stored with it to describe it after a reload (info); nil
	// with msgHash. proposalsRec is their encoding, made once for the
	// records of the pending Commit (commitRecord).
	proposals    *codec.Commit
	proposalsRec []byte
	// delta is diff's change of the current tree as a record, made once
	// for the records of the pending Commit and of its merge (treeDelta).
	delta *record.TreeDelta
}

// commitRecord returns the encoding of the Commit's proposals that the
// pending Commit's record holds (nil if unknown), encoding them the first
// time. The Commit's path is not in it: its nodes are the pending
// Commit's tree and epoch, and nothing after a reload needs its
// ciphertexts (RFC 9420 §12.4.1: they are for the other members).
func (p *pendingCommit) commitRecord() ([]byte, error) {
	if p.proposalsRec == nil && p.proposals != nil {
		b, err := p.proposals.Marshal()
		if err != nil {
			return nil, err
		}
		p.proposalsRec = b
	}
	return p.proposalsRec, nil
}

// treeDelta returns the pending Commit's change of the current tree as a
// record (persist.go), encoding it the first time. Its values are public
// (tree nodes) and never changed: the records written share them.
func (p *pendingCommit) treeDelta() (*record.TreeDelta, error) {
	if p.delta == nil {
		d, err := treeDeltaRecord(p.diff.Changes())
		if err != nil {
			return nil, err
		}
		p.delta = &d
	}
	return p.delta, nil
}

func (p *pendingCommit) drop() {
	if p.next != nil {
		p.next.zero()
		if p.next.keys != nil {
			p.next.keys.Zero()
		}
	}
}

// Commit creates a Commit covering the stored proposals and those of opts
// (RFC 9420 §12.4.1). The Commit is pending: the group stays in its epoch
// until MergePendingCommit (after the Delivery Service accepted the Commit)
// or ClearPendingCommit.
func (g *Group) Commit(opts CommitOptions) (*CommitResult, error) {
	if !g.active {
		return nil, ErrInactive
	}
	if g.pending != nil {
		return nil, ErrPendingCommit
	}
	self := codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: uint32(g.epoch.own)}

	// The proposal list: stored proposals by reference, then ours by value.
	var (
		pors  []codec.ProposalOrRef
		props []committedProposal
	)
	if !opts.ExcludePending {
		for _, q := range g.committableProposals() {
			if opts.Filter != nil && !opts.Filter(q) {
				continue
			}
			pors = append(pors, codec.ProposalOrRef{Type: codec.ProposalOrRefTypeReference, Reference: q.Ref})
			props = append(props, committedProposal{p: q.Proposal, sender: q.Sender, ref: q.Ref, verified: q.verified})
		}
	}
	inline := func(p *codec.Proposal) {
		pors = append(pors, codec.ProposalOrRef{Type: codec.ProposalOrRefTypeProposal, Proposal: p})
		props = append(props, committedProposal{p: p, sender: self})
	}
	if opts.GroupContextExtensions != nil {
		inline(&codec.Proposal{ProposalType: codec.ProposalTypeGroupContextExtensions, GroupContextExtensions: &codec.GroupContextExtensions{Extensions: opts.GroupContextExtensions}})
	}
	for _, l := range opts.Remove {
		inline(&codec.Proposal{ProposalType: codec.ProposalTypeRemove, Remove: &codec.Remove{Removed: uint32(l)}})
	}
	for _, kp := range opts.Add {
		if kp == nil {
			return nil, fmt.Errorf("%w: nil KeyPackage", ErrInvalidArgument)
		}
		inline(&codec.Proposal{ProposalType: codec.ProposalTypeAdd, Add: &codec.Add{KeyPackage: *kp}})
	}
	for i := range opts.PSKs {
		inline(&codec.Proposal{ProposalType: codec.ProposalTypePSK, PreSharedKey: &codec.PreSharedKey{PSK: opts.PSKs[i]}})
	}
	for _, c := range opts.Custom {
		p, err := c.proposal()
		if err != nil {
			return nil, err
		}
		inline(p)
	}

	needPath := opts.ForcePath || opts.Leaf != nil || len(props) == 0
	for _, cp := range props {
		needPath = needPath || pathRequired(cp.p.ProposalType)
	}
	// §12.4.1 as one transition: proposals, path, key schedule,
	// confirmation tag.
	t := g.newTransition(self, false)
	t.initialResumption = opts.initialResumption
	if err := t.stageProposals(props, needPath, g.now()); err != nil {
		return nil, err
	}
	res := t.res
	if t.removes(g.epoch.own) {
		return nil, RuleCommitterRemoved.Errorf("Commit would remove its committer")
	}
	ok := false
	defer func() { t.zero(!ok) }()
	signer := g.signer
	var newSigner providers.Signer
	var path *treekem.CreateResult
	if needPath {
		tmpl, s, err := g.leafTemplate(opts.Leaf)
		if err != nil {
			return nil, err
		}
		leafSigner := signer
		if s != nil {
			newSigner, leafSigner = s, s
		}
		if path, err = t.createPath(tmpl, leafSigner, nil); err != nil {
			return nil, err
		}
		defer path.Zero()
	}

	fc := codec.FramedContent{
		GroupID:           g.epoch.ctx.GroupID,
		Epoch:             g.epoch.ctx.Epoch,
		Sender:            self,
		AuthenticatedData: opts.AuthenticatedData,
		ContentType:       codec.ContentTypeCommit,
		Commit:            &codec.Commit{Proposals: pors},
	}
	if path != nil {
		fc.Commit.Path = path.Path
	}
	wf := g.cfg.WireFormatPolicy.framing().OutgoingWireFormat(codec.ContentTypeCommit)
	ac, err := g.epoch.protector.Sign(signer, wf, &fc)
	if err != nil {
		return nil, fmt.Errorf("mls: signing the Commit: %w", err)
	}
	if err := t.derive(ac); err != nil {
		return nil, err
	}
	ac.Auth.ConfirmationTag = t.confirmationTag()

	// Protect the Commit with the current epoch's keys (§6); the
	// handshake generation of a PrivateMessage is consumed with the
	// pending Commit's transaction.
	c := g.stage()
	commitBytes, err := g.protectHandshake(c, wf, ac)
	if err != nil {
		return nil, fmt.Errorf("mls: protecting the Commit: %w", err)
	}
	next, err := t.finish(ac.Auth.ConfirmationTag)
	if err != nil {
		c.abandon()
		return nil, err
	}
	diff := t.diff
	result := &CommitResult{Commit: commitBytes}
	fail := func(err error) (*CommitResult, error) {
		c.abandon()
		next.zero()
		next.keys.Zero()
		return nil, err
	}

	// GroupInfo of the new epoch (§12.4.3), signed with the key of our new
	// leaf. It costs a signature, so it is built only when needed; its
	// external_pub (§12.4.3.2: optional), which lets others join by
	// external Commit, costs a key derivation and is only in the one the
	// application asks for: new members derive it themselves (§8.3).
	var recipients []welcomeRecipient
	if len(res.added) > 0 {
		recipients = make([]welcomeRecipient, len(res.added))
		for i, l := range res.added {
			recipients[i].KeyPackage = res.addedKPs[i]
			if path != nil {
				if ps, _, ok := path.PathSecretFor(treemath.LeafIndex(l)); ok {
					recipients[i].PathSecret = ps
				}
			}
		}
	}
	var (
		gi  *codec.GroupInfo
		sgi *signedGroupInfo
	)
	if len(res.added) > 0 || opts.WithGroupInfo {
		// A GroupInfo only for the Welcome is encrypted where it is
		// encoded: its buffer has room for the Welcome before it and
		// for the AEAD's tag after it (sealWelcomeEncoded).
		front, back := 0, 0
		if !opts.WithGroupInfo {
			if front, err = welcomeRoom(g.cs, recipients, t.ep.Joiner, res.psks); err != nil {
				return fail(err)
			}
			back = g.cs.AEADOverhead()
		}
		if gi, sgi, err = g.groupInfoFor(next, diff, newSigner, g.cfg.UseRatchetTreeExtension && !opts.RatchetTreeOutOfBand, opts.WithGroupInfo, front, back); err != nil {
			return fail(err)
		}
		if opts.WithGroupInfo {
			result.GroupInfo = sgi.msg()
		}
	}
	if opts.RatchetTreeOutOfBand {
		result.RatchetTree = diff.RatchetTree()
	}
	if len(res.added) > 0 {
		gib := welcomeGroupInfo{enc: sgi.enc()}
		if !opts.WithGroupInfo {
			gib = welcomeGroupInfo{enc: sgi.buf, off: sgi.off, spare: true}
		}
		if _, result.Welcome, err = sealWelcomeEncoded(g.cs, gi, gib, t.ep.Joiner, t.psk, t.ep.Welcome, res.psks, recipients); err != nil {
			return fail(fmt.Errorf("mls: building the Welcome: %w", err))
		}
	}
	ok = true
	pc := &pendingCommit{diff: diff, next: next, res: res, newSigner: newSigner, info: g.newPendingCommitInfo(props, res),
		msgHash: g.cs.Hash(nil, commitBytes), proposals: &codec.Commit{Proposals: pors}}
	c.next.pending = pc
	c.fail = append(c.fail, pc.drop)
	if err := c.commitSave(); err != nil {
		return nil, err
	}
	return result, nil
}

// committableProposals returns the stored proposals a Commit of ours covers
// (RFC 9420 §12.2, §12.4.1): not our own Updates (the path replaces our
// leaf), and for a leaf with several Updates/Removes only a Remove, or else
// the latest Update.
func (g *Group) committableProposals() []*QueuedProposal {
	removed := map[uint32]bool{}
	lastUpdate := map[uint32]int{}
	for i, q := range g.proposals {
		switch q.Proposal.ProposalType {
		case codec.ProposalTypeRemove:
			removed[q.Proposal.Remove.Removed] = true
		case codec.ProposalTypeSelfRemove:
			removed[q.Sender.LeafIndex] = true
		case codec.ProposalTypeUpdate:
			lastUpdate[q.Sender.LeafIndex] = i
		}
	}
	var out []*QueuedProposal
	seenRemove := map[uint32]bool{}
	for i, q := range g.proposals {
		switch q.Proposal.ProposalType {
		case codec.ProposalTypeUpdate:
			l := q.Sender.LeafIndex
			if LeafIndex(l) == g.epoch.own || removed[l] || lastUpdate[l] != i {
				continue
			}
		case codec.ProposalTypeRemove:
			l := q.Proposal.Remove.Removed
			if seenRemove[l] {
				continue
			}
			seenRemove[l] = true
		case codec.ProposalTypeSelfRemove:
			l := q.Sender.LeafIndex
			if seenRemove[l] {
				continue
			}
			seenRemove[l] = true
		}
		out = append(out, q)
	}
	return out
}

// leafTemplate returns this member's leaf node as the template of a new one
// (for a path or an Update), with the changes of opts, and the new signer if
// opts has one.
func (g *Group) leafTemplate(opts *LeafNodeOptions) (*codec.LeafNode, providers.Signer, error) {
	cur := g.epoch.tree.Leaf(treemath.LeafIndex(g.epoch.own))
	if cur == nil {
		return nil, nil, ErrInactive
	}
	ln := *cur
	ln.Lifetime = nil
	ln.ParentHash = nil
	ln.Signature = nil
	var s providers.Signer
	if opts != nil {
		if opts.Signer != nil {
			s = opts.Signer
			ln.SignatureKey = opts.Signer.PublicKey()
		}
		if opts.Credential != nil {
			ln.Credential = opts.Credential.Wire()
			if err := g.checkSuccessor(cur, &ln, false, "our new leaf"); err != nil {
				return nil, nil, err
			}
		}
		if opts.Capabilities != nil {
			ln.Capabilities = *opts.Capabilities
		}
		if opts.Extensions != nil {
			ln.Extensions = opts.Extensions
		}
	}
	return &ln, s, nil
}

// groupInfoFor builds and signs the GroupInfo of a staged epoch (RFC 9420
// §12.4.3): with the external_pub extension (§12.4.3.2) when withExternal,
// and the ratchet_tree extension when withTree. It returns the GroupInfo
// and its encoding, with at least front bytes of room before it and back
// bytes of capacity after it (signGroupInfoInto).
func (g *Group) groupInfoFor(st *epoch, tree interface {
	Encoder() (*ratchettree.Encoder, error)
}, newSigner providers.Signer, withTree, withExternal bool, front, back int) (gi *codec.GroupInfo, sgi *signedGroupInfo, err error) {
	var exts Extensions
	if withExternal {
		priv, pub, err := keyschedule.ExternalKeyPair(g.cs, st.secrets.External)
		if err != nil {
			return nil, nil, fmt.Errorf("mls: external key pair: %w", err)
		}
		priv.Zero() // only the public key is published (§8.3)
		if exts, err = exts.WithExternalPub(pub); err != nil {
			return nil, nil, err
		}
	}
	var enc *ratchettree.Encoder
	at := -1
	if withTree {
		// The tree's encoding is kept across epochs (ratchettree's
		// Encoder): a Commit's tree is written from it, with the changed
		// nodes encoded anew, straight into the GroupInfo's buffer
		// (signGroupInfoTreeInto).
		if enc, err = tree.Encoder(); err != nil {
			return nil, nil, fmt.Errorf("mls: encoding the ratchet_tree extension: %w", err)
		}
		exts = exts.With(codec.Extension{ExtensionType: codec.ExtensionTypeRatchetTree})
	}
	if exts, err = g.greaseGroupInfo(exts); err != nil {
		return nil, nil, err
	}
	if withTree {
		at = slices.IndexFunc(exts, func(e codec.Extension) bool { return e.ExtensionType == codec.ExtensionTypeRatchetTree })
	}
	gi = &codec.GroupInfo{
		GroupContext:    st.ctx,
		Extensions:      exts,
		ConfirmationTag: st.confirmationTag,
		Signer:          uint32(st.own),
	}
	signer := g.signer
	if newSigner != nil {
		signer = newSigner
	}
	if sgi, err = signGroupInfoTreeInto(signer, gi, enc, at, front, back); err != nil {
		return nil, nil, err
	}
	return gi, sgi, nil
}

// GroupInfo returns a signed GroupInfo of the current epoch (RFC 9420
// §12.4.3), with the external_pub extension and, if withTree, the
// ratchet_tree extension, encoded as an MLSMessage: what a new member needs
// to join by external Commit.
func (g *Group) GroupInfo(withTree bool) ([]byte, error) {
	_, sgi, err := g.groupInfoFor(g.epoch, g.epoch.tree, nil, withTree, true, 0, 0)
	if err != nil {
		return nil, err
	}
	return sgi.msg(), nil
}

// MergePendingCommit installs the epoch our pending Commit starts, once the
// Delivery Service has accepted it (RFC 9420 §12.4.1). The whole change is
// one storage transaction: if it fails, the group stays in its epoch with
// the Commit still pending, and the merge can be retried.
func (g *Group) MergePendingCommit() error {
	p := g.pending
	if p == nil {
		return ErrNoPendingCommit
	}
	if p.diff.Base() != g.epoch.tree || p.diff.Stale() {
		return ErrStaleCommit
	}
	c, err := g.stageMerge(p.diff, p.next, p.res, p)
	if err != nil {
		return err
	}
	if p.newSigner != nil {
		// The new key pair must be loadable with the group (LoadGroup
		// finds the signer by the leaf's signature key).
		if kp, ok := p.newSigner.(*SignatureKeyPair); ok {
			c.writes = append(c.writes, func(tx providers.Records) error { return kp.Store(tx) })
		}
		c.next.signer = p.newSigner
	}
	return c.commit(func(tx providers.Records) error { return c.saveNewEpoch(tx, g.epoch.ctx.Epoch) })
}

// ClearPendingCommit drops our pending Commit: the group stays exactly as it
// was before the Commit was created (RFC 9420 §12.4.1), except that the
// handshake key the Commit used, if it was a PrivateMessage, stays deleted
// (§9.2: keys are used once). It never touches the current epoch: only the
// epoch the Commit would have started is erased.
func (g *Group) ClearPendingCommit() error {
	p := g.pending
	if p == nil {
		return ErrNoPendingCommit
	}
	c := g.stage()
	c.next.pending = nil
	if p.next != g.epoch {
		c.done = append(c.done, p.drop)
	}
	return c.commitSave()
}

// AddMembers commits Add proposals for the key packages (and the stored
// proposals), returning the Commit, the Welcome for the new members and the
// new GroupInfo. The Commit is pending until MergePendingCommit.
func (g *Group) AddMembers(kps ...*codec.KeyPackage) (*CommitResult, error) {
	return g.Commit(CommitOptions{Add: kps})
}

// RemoveMembers commits Remove proposals for the leaves (and the stored
// proposals). The Commit is pending until MergePendingCommit.
func (g *Group) RemoveMembers(leaves ...LeafIndex) (*CommitResult, error) {
	return g.Commit(CommitOptions{Remove: leaves})
}

// SelfUpdate commits a fresh leaf HPKE key and path (and the stored
// proposals), optionally changing the leaf node (RFC 9420 §12.4.1). The
// Commit is pending until MergePendingCommit.
func (g *Group) SelfUpdate(leaf *LeafNodeOptions) (*CommitResult, error) {
	return g.Commit(CommitOptions{ForcePath: true, Leaf: leaf})
}

// CommitPendingProposals commits the proposals in the store.
func (g *Group) CommitPendingProposals() (*CommitResult, error) {
	return g.Commit(CommitOptions{})
}
