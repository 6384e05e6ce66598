package mls

import (
	"bytes"
	"fmt"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/framing"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/mls/internal/treekem"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// transition is one epoch transition of RFC 9420 §12.4: from a base epoch
// (the group's current one; for an external join, the epoch a GroupInfo
// describes) to the epoch a Commit starts. It is the only implementation
// of §12.4; our Commits (Group.Commit), external Commits
// (JoinByExternalCommit) and received Commits (Group.stageCommit) are
// short sequences of its steps:
//
//	t := g.newTransition(committer, external)   // base epoch, staged tree (a Diff)
//	t.stageProposals(props, hasPath, now)        // §12.2, §12.3: validate and apply the proposals
//	t.createPath(...) or t.applyPath(...)        // §7.5, §7.6, §12.4.2: the UpdatePath, commit_secret, our keys
//	t.derive(ac)                                 // §8: tree hash, transcript, GroupContext, PSKs, key schedule
//	t.confirmationTag() or t.verifyConfirmationTag(tag)
//	next, err := t.finish(tag)                   // §8.2, §9: interim hash, secret tree, protector, private keys
//
// Without private keys — a member the Commit removes, and a PublicGroup
// (a non-member following the group) — the transition has a public path
// with the same steps but the secrets:
//
//	t.stageProposals(props, hasPath, now)
//	t.applyPathPublic(...)                       // §7.5, §7.9.2: the UpdatePath's public part, checked and merged
//	t.deriveContext(ac)                          // §7.8, §8.2: tree hash, confirmed transcript hash, GroupContext
//	next, err := t.finishPublic(tag)             // §8.2: interim transcript hash
//
// The transition never changes its group: the new epoch is built
// on the staged tree, which a merge (change.go) installs.
type transition struct {
	g         *Group
	base      *epoch
	diff      *ratchettree.Diff
	committer codec.Sender
	external  bool

	res *proposalResult
	// ctx is the new GroupContext; derive sets its tree hash and
	// confirmed transcript hash.
	ctx      codec.GroupContext
	ctxBytes []byte
	// own is this member's leaf in the new epoch.
	own LeafIndex
	// keys are the private keys the new epoch starts from, before those
	// of the path (pathKeys) are merged in.
	keys     *treekem.PrivateKeys
	pathKeys *treekem.PathKeys
	// commitSecret is the path's commit_secret (nil without a path).
	commitSecret []byte
	// initSecret, when set, replaces the base epoch's init_secret: an
	// external Commit's (§8.3).
	initSecret keyschedule.Secret
	psk        keyschedule.Secret
	ep         *keyschedule.Epoch
	// initialResumption, for the first Commit of a ReInit successor or a
	// branch (resumption.go), allows and resolves its reinit or branch PSK
	// (§11.2, §11.3).
	initialResumption ResumptionPSKFunc
}

// newTransition starts the transition of a Commit by committer from g's
// current epoch.
func (g *Group) newTransition(committer codec.Sender, external bool) *transition {
	return &transition{
		g: g, base: g.epoch, diff: g.epoch.tree.Stage(), committer: committer, external: external,
		own: g.epoch.own, keys: g.epoch.keys,
	}
}

// stageProposals validates the Commit's proposals and applies them to the
// staged tree (RFC 9420 §12.2, §12.3), and starts the new GroupContext.
func (t *transition) stageProposals(props []committedProposal, hasPath bool, now time.Time) error {
	res, err := t.g.applyProposals(t.diff, props, commitContext{committer: t.committer, external: t.external, hasPath: hasPath, now: now, initialResumption: t.initialResumption != nil})
	if err != nil {
		return err
	}
	t.res = res
	t.ctx = codec.GroupContext{
		CipherSuite:             t.base.ctx.CipherSuite,
		GroupID:                 t.base.ctx.GroupID,
		Epoch:                   t.base.ctx.Epoch + 1,
		ConfirmedTranscriptHash: t.base.ctx.ConfirmedTranscriptHash,
		Extensions:              res.extensions,
	}
	return nil
}

// provisionalContext is the GroupContext an UpdatePath is encrypted to
// (§7.5: the new context with the staged tree's hash and the old
// transcript hash).
func (t *transition) provisionalContext(treeHash []byte) ([]byte, error) {
	pc := t.ctx
	pc.TreeHash = treeHash
	return pc.Marshal()
}

// removes reports whether the Commit removes this member.
func (t *transition) removes(l LeafIndex) bool {
	for _, r := range t.res.removed {
		if r == l {
			return true
		}
	}
	return false
}

// createPath creates our UpdatePath (§7.5) from leaf template tmpl signed
// by signer (leafSecret: the external joiner's, nil for a fresh one), and
// takes its commit_secret and keys. The caller zeroes the result.
func (t *transition) createPath(tmpl *codec.LeafNode, signer providers.Signer, leafSecret []byte) (*treekem.CreateResult, error) {
	cs := t.g.cs
	path, err := treekem.CreateUpdatePath(t.diff, &treekem.CreateParams{
		Suite: cs, Leaf: treemath.LeafIndex(t.own), LeafNode: tmpl, Signer: signer,
		GroupID: t.ctx.GroupID, Exclude: treeLeafIndexes(t.res.added), LeafSecret: leafSecret, Rand: t.g.provider.Rand(),
		Context: t.provisionalContext,
	})
	if err != nil {
		return nil, fmt.Errorf("mls: creating the UpdatePath: %w", err)
	}
	t.commitSecret = path.CommitSecret
	t.pathKeys = path.Keys
	return path, nil
}

// applyPath merges a received UpdatePath from leaf committer (§7.6,
// §12.4.2) into the staged tree, decrypting our path secret, and takes its
// commit_secret and keys.
func (t *transition) applyPath(committer LeafIndex, path *codec.UpdatePath) error {
	ar, err := treekem.ApplyUpdatePath(t.diff, &treekem.ApplyParams{
		Suite: t.g.cs, Sender: treemath.LeafIndex(committer), Path: path, GroupID: t.ctx.GroupID,
		Exclude: treeLeafIndexes(t.res.added), Self: treemath.LeafIndex(t.own), Keys: t.keys, External: t.external,
		Context: t.provisionalContext,
	})
	if err != nil {
		return pathRule(err)
	}
	t.commitSecret = ar.CommitSecret
	t.pathKeys = ar.Keys
	clear(ar.PathSecret) // derived into the keys; not needed (§9.2)
	ar.PathSecret = nil
	return nil
}

// applyPathPublic checks a received UpdatePath from leaf committer as far
// as it can be without a private key and merges its public part into the
// staged tree (§7.5 steps 1–4, §7.9.2, §12.4.2; treekem's
// MergePublicUpdatePath): for a member the Commit removes, and for a
// non-member. The leaf node's signature is the caller's (validateLeaf).
// There is no commit secret: the new epoch's secrets stay unknown.
func (t *transition) applyPathPublic(committer LeafIndex, path *codec.UpdatePath) error {
	err := treekem.MergePublicUpdatePath(t.diff, &treekem.PublicParams{
		Suite: t.g.cs, Sender: treemath.LeafIndex(committer), Path: path, GroupID: t.ctx.GroupID,
		Exclude: treeLeafIndexes(t.res.added), External: t.external, LeafNodeVerified: true,
	})
	if err != nil {
		return pathRule(err)
	}
	return nil
}

// deriveContext computes the new GroupContext for the Commit ac (§7.8,
// §8.1, §8.2): the staged tree's hash and the confirmed transcript hash.
// It is the public part of derive.
func (t *transition) deriveContext(ac *codec.AuthenticatedContent) error {
	th, err := t.diff.TreeHash()
	if err != nil {
		return fmt.Errorf("mls: tree hash: %w", err)
	}
	t.ctx.TreeHash = th
	// The hash input, the Commit's encoding, goes into the group's write
	// scratch (released, zeroed, before any record is encoded into it).
	var buf []byte
	t.ctx.ConfirmedTranscriptHash, buf, err = keyschedule.ConfirmedTranscriptHashOfScratch(t.g.cs, t.g.scratchFor(0), t.base.interim, ac)
	t.g.releaseScratch(buf)
	if err != nil {
		return fmt.Errorf("mls: confirmed transcript hash: %w", err)
	}
	if t.ctxBytes, err = t.ctx.Marshal(); err != nil {
		return fmt.Errorf("mls: encoding GroupContext: %w", err)
	}
	return nil
}

// derive computes the new epoch's secrets for the Commit ac (§8, §8.2):
// the new GroupContext (deriveContext), the PSK secret and the key
// schedule from the init secret (the base epoch's, the external one, or
// for a received external Commit the one its ExternalInit carries) and the
// commit secret.
func (t *transition) derive(ac *codec.AuthenticatedContent) error {
	cs := t.g.cs
	if err := t.deriveContext(ac); err != nil {
		return err
	}
	var err error
	psks := t.g.psks()
	if t.initialResumption != nil {
		psks.resumption = t.initialResumption
	}
	if t.psk, err = psks.pskSecret(cs, t.res.psks); err != nil {
		return RulePSKAvailable.Errorf("%w", err)
	}
	initSecret := []byte(t.base.secrets.Init)
	switch {
	case t.initSecret != nil:
		initSecret = t.initSecret
	case t.res.externalInit != nil:
		priv, _, err := keyschedule.ExternalKeyPair(cs, t.base.secrets.External)
		if err != nil {
			return fmt.Errorf("mls: external key pair: %w", err)
		}
		is, err := keyschedule.ExternalInitR(cs, priv, t.res.externalInit.KEMOutput)
		priv.Zero()
		if err != nil {
			return RuleExternalInit.Errorf("kem_output: %w", err)
		}
		t.initSecret = is
		initSecret = is
	}
	if err := checkLive(cs, "init_secret", initSecret); err != nil {
		return err
	}
	if t.ep, err = keyschedule.Derive(cs, initSecret, t.commitSecret, t.psk, t.ctxBytes); err != nil {
		return fmt.Errorf("mls: key schedule: %w", err)
	}
	return nil
}

// confirmationTag is the new epoch's confirmation tag (§6.1), for a Commit
// we create.
func (t *transition) confirmationTag() []byte {
	return keyschedule.ConfirmationTag(t.g.cs, t.ep.Confirmation, t.ctx.ConfirmedTranscriptHash)
}

// verifyConfirmationTag checks a received Commit's confirmation tag
// (RuleConfirmationTag).
func (t *transition) verifyConfirmationTag(tag []byte) error {
	if err := keyschedule.VerifyConfirmationTag(t.g.cs, t.ep.Confirmation, t.ctx.ConfirmedTranscriptHash, tag); err != nil {
		return RuleConfirmationTag.Errorf("%w", err)
	}
	return nil
}

// finish builds the new epoch (§8.2, §9): with the confirmation tag of the
// Commit, its interim transcript hash, its secret tree and protector, and
// our private keys (those of the base, the path's merged in, pruned to the
// new tree). The epoch's tree field is set when the Diff is merged.
func (t *transition) finish(confirmationTag []byte) (*epoch, error) {
	next, err := t.g.newEpoch(t.diff, t.ctx, t.ctxBytes, t.ep.EpochSecrets, confirmationTag, t.own, t.keys, t.pathKeys)
	t.ep.EpochSecrets = keyschedule.EpochSecrets{} // owned by next (or erased)
	return next, err
}

// finishPublic builds the new epoch as a non-member knows it (§8.2): the
// GroupContext deriveContext computed and the interim transcript hash,
// which the Commit's confirmation tag gives (the tag is sent in the clear
// in a PublicMessage; without the epoch's confirmation_key it cannot be
// verified). No secrets, no secret tree, no private keys.
func (t *transition) finishPublic(confirmationTag []byte) (*epoch, error) {
	interim, err := keyschedule.InterimTranscriptHash(t.g.cs, t.ctx.ConfirmedTranscriptHash, confirmationTag)
	if err != nil {
		return nil, fmt.Errorf("mls: interim transcript hash: %w", err)
	}
	return &epoch{ctx: t.ctx, ctxBytes: t.ctxBytes, own: t.own, interim: interim, confirmationTag: bytes.Clone(confirmationTag)}, nil
}

// zero erases what the transition holds that no epoch took: the joiner
// and welcome secrets, the PSK and init secrets, the commit secret, and
// (dropped) the epoch's secrets and path keys.
func (t *transition) zero(dropped bool) {
	if t.ep != nil {
		t.ep.ZeroJoiner()
		if dropped {
			t.ep.Zero()
		}
	}
	t.psk.Zero()
	t.initSecret.Zero()
	clear(t.commitSecret)
	if dropped && t.pathKeys != nil {
		t.pathKeys.Zero()
	}
}

// newEpoch assembles an epoch from derived epoch secrets: the
// interim transcript hash (§8.2), the secret tree (§9) for tree's leaves
// and its protector, and own's private keys (keys with pathKeys merged in,
// pruned to tree). It takes ownership of secrets (erased on error).
func (g *Group) newEpoch(tree treekem.TreeView, ctx codec.GroupContext, ctxBytes []byte, secrets keyschedule.EpochSecrets, confirmationTag []byte, own LeafIndex, keys *treekem.PrivateKeys, pathKeys *treekem.PathKeys) (*epoch, error) {
	interim, err := keyschedule.InterimTranscriptHash(g.cs, ctx.ConfirmedTranscriptHash, confirmationTag)
	if err != nil {
		secrets.Zero()
		return nil, fmt.Errorf("mls: interim transcript hash: %w", err)
	}
	st, err := secrettree.New(g.cs, secrets.Encryption, tree.LeafCount(), g.cfg.senderRatchet())
	if err != nil {
		secrets.Zero()
		return nil, fmt.Errorf("mls: secret tree: %w", err)
	}
	// The member's own ratchets are derived now, with the epoch: its
	// first message then costs what its others do.
	if err := st.Prepare(treemath.LeafIndex(own)); err != nil {
		st.Zero()
		secrets.Zero()
		return nil, fmt.Errorf("mls: secret tree: own leaf %d: %w", own, err)
	}
	next := &epoch{ctx: ctx, ctxBytes: ctxBytes, own: own, secrets: secrets, interim: interim, confirmationTag: bytes.Clone(confirmationTag)}
	next.protector, err = framing.NewProtector(g.cs, &next.ctx, framing.EpochSecrets{SenderDataSecret: secrets.SenderData, MembershipKey: secrets.Membership}, st, g.protectorOptions())
	if err != nil {
		st.Zero()
		secrets.Zero()
		return nil, fmt.Errorf("mls: protector: %w", err)
	}
	next.keys = keys.Next(pathKeys, tree)
	return next, nil
}
