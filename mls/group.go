package mls

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/framing"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/treekem"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// Errors of the group state machine that are not validation rules of a
// received message.
var (
	// ErrInactive: the group can no longer be used to send or commit,
	// because this member was removed (RFC 9420 §12.4.2) or the group was
	// reinitialized.
	ErrInactive = errors.New("mls: group is inactive")
	// ErrPendingCommit: an operation that creates a Commit was called while
	// another Commit of ours is pending; merge or clear it first.
	ErrPendingCommit = errors.New("mls: a commit is pending")
	// ErrNoPendingCommit: MergePendingCommit was called with no pending
	// Commit.
	ErrNoPendingCommit = errors.New("mls: no pending commit")
	// ErrStaleCommit: a StagedCommit was staged in another epoch, or the
	// group changed since it was staged.
	ErrStaleCommit = errors.New("mls: staged commit is stale")
	// ErrUnknownMember: a leaf index names no member of the group.
	ErrUnknownMember = errors.New("mls: no such member")
	// ErrUnknownProposal: a Commit references a proposal that is not in
	// the proposal store (RFC 9420 §12.4.2), or a proposal reference to
	// remove from the store is unknown.
	ErrUnknownProposal = errors.New("mls: unknown proposal reference")
	// ErrWrongCipherSuite: a provider, signer or key package is for
	// another cipher suite than the group's.
	ErrWrongCipherSuite = errors.New("mls: wrong cipher suite")
)

// LeafIndex is the position of a member's leaf in the ratchet tree (RFC 9420
// §4, §7.1); it identifies the member within an epoch.
type LeafIndex uint32

// Member is a member of a group as the ratchet tree describes it.
// SignatureKey, EncryptionKey and LeafNode share the group's copy of the
// leaf (from 8 MiB of tree encoding on, about 40,000 members, the tree's
// kept encoding itself, which GroupInfos are written from): they must not
// be modified; copy them to change them. The two slices' capacity ends
// with their length, so appending to one never writes into the group's
// data. Credential is a copy.
type Member struct {
	Index LeafIndex
	// Credential is the leaf's credential.
	Credential Credential
	// SignatureKey is the member's signature public key.
	SignatureKey []byte
	// EncryptionKey is the member's current leaf HPKE key.
	EncryptionKey []byte
	// LeafNode is the member's leaf node; it must not be modified.
	LeafNode *codec.LeafNode
}

func memberOf(l LeafIndex, ln *codec.LeafNode) Member {
	return Member{
		Index:         l,
		Credential:    CredentialFromWire(&ln.Credential),
		SignatureKey:  ln.SignatureKey[:len(ln.SignatureKey):len(ln.SignatureKey)],
		EncryptionKey: ln.EncryptionKey[:len(ln.EncryptionKey):len(ln.EncryptionKey)],
		LeafNode:      ln,
	}
}

// epoch is everything a member knows in one epoch (RFC 9420 §8: the
// GroupContext, the ratchet tree with this member's private keys, the epoch
// secrets, the transcript hashes). A Commit produces a new epoch without
// touching the old one; merging it swaps the pointer, so a rejected or
// cleared Commit costs no rollback.
type epoch struct {
	ctx      codec.GroupContext
	ctxBytes []byte
	tree     *ratchettree.Tree
	// keys are this member's TreeKEM private keys (§7.4).
	keys *treekem.PrivateKeys
	own  LeafIndex
	// secrets are the epoch secrets (§8); protector protects and
	// unprotects this epoch's messages with the sender-data secret,
	// membership key and secret tree.
	secrets   keyschedule.EpochSecrets
	protector *framing.Protector
	// interim is the interim transcript hash that the next Commit's
	// confirmed transcript hash starts from; confirmationTag is the tag of
	// the Commit (or GroupInfo) that started this epoch (§8.2).
	interim         []byte
	confirmationTag []byte
}

// zero erases the secrets of the epoch (§9.2): they become nil, so that a
// later use fails (ErrErasedSecret) instead of deriving from zeros. The
// tree is public; the private keys are shared with the next epoch unless it
// replaced them, so the caller erases those separately.
func (e *epoch) zero() {
	if e == nil {
		return
	}
	e.secrets.Zero()
	if e.protector != nil {
		e.protector.Zero()
	}
}

// Group is one member's view of an MLS group (RFC 9420): its current epoch,
// the proposals received in that epoch, and at most one pending Commit of its
// own. A Group changes only through its methods that say so (merging a
// staged or pending Commit, storing a proposal); everything else reads.
//
// A Group is not safe for concurrent use.
type Group struct {
	provider  providers.Provider
	store     providers.Storage
	cs        providers.CipherSuite
	cfg       GroupConfig
	lim       Limits // the Client's (Client.Limits), defaults filled in
	signer    providers.Signer
	validator CredentialValidator

	// epoch is the current epoch.
	epoch *epoch

	// proposals is the proposal store of the current epoch (§12.4.2):
	// proposals received or sent, by reference.
	proposals []*QueuedProposal
	// pending is our own Commit awaiting MergePendingCommit.
	pending *pendingCommit
	// past holds the protectors of past epochs, newest first, to decrypt
	// late application messages (cfg.MaxPastEpochs).
	past []*pastEpoch
	// resumption holds resumption_psk values of recent epochs (§8.6),
	// newest first.
	resumption []resumptionPSK

	active bool
	// clock is the time source for lifetimes (nil: time.Now).
	clock func() time.Time
	// ignoreLifetimes skips the RECOMMENDED lifetime check of received
	// leaf nodes (Client.IgnoreReceivedLifetimes).
	ignoreLifetimes bool
	// reinit is the ReInit proposal of the Commit that ended the group,
	// if any (§11.2).
	reinit *codec.ReInit
	// public marks the rule engine of a PublicGroup (publicgroup.go): a
	// view of the group without keys or secrets, whose own leaf is
	// noLeaf. It verifies PublicMessages by their signatures only,
	// refuses PrivateMessages, and follows Commits on the transition's
	// public path.
	public bool
	// treeCache records how the current ratchet tree is stored: which
	// epoch's RatchetTreeStore record holds it, and the chain of change
	// records since the last whole tree (persist.go).
	treeCache encodedTree
	// secretsStored is the epoch whose EpochSecrets record the storage
	// holds as the current epoch's (persist.go: saveEpochSecrets); the
	// record does not change during an epoch, so a save in the same
	// epoch writes only the secret tree's changed nodes.
	secretsStored *epoch
	// scratch is the buffer the records of a change are encoded into
	// before they are written (persist.go), shared by the staged copies
	// of the group; nil until the first save.
	scratch *writeScratch
	// light is the change of a message sent or received, reused from one
	// to the next (lightChange), shared by the staged copies of the
	// group; nil until the first.
	light *lightChange
}

type pastEpoch struct {
	epoch     uint64
	protector *framing.Protector
	// tree gives the epoch's leaves (the signature keys of its senders):
	// a snapshot of the live tree taken when the epoch ended, or the tree
	// loaded from storage.
	tree pastTree
	// senderData and membership are copies of the epoch's secrets that
	// the protector holds, kept to store the epoch (persist.go).
	senderData, membership []byte
}

// pastTree is the read access a kept past epoch needs to its ratchet
// tree: *ratchettree.LeafSnapshot or *ratchettree.Tree.
type pastTree interface {
	LeafCount() ratchettree.LeafCount
	Leaf(l ratchettree.LeafIndex) *codec.LeafNode
}

type resumptionPSK struct {
	epoch uint64
	psk   []byte
}

// GroupID returns the group's id.
func (g *Group) GroupID() []byte { return bytes.Clone(g.epoch.ctx.GroupID) }

// Epoch returns the current epoch number.
func (g *Group) Epoch() uint64 { return g.epoch.ctx.Epoch }

// CipherSuite returns the group's cipher suite.
func (g *Group) CipherSuite() codec.CipherSuite { return g.epoch.ctx.CipherSuite }

// GroupContext returns a copy of the current GroupContext (RFC 9420 §8.1).
func (g *Group) GroupContext() codec.GroupContext {
	var c codec.GroupContext
	if err := c.Unmarshal(g.epoch.ctxBytes); err != nil {
		panic("mls: stored group context does not decode: " + err.Error())
	}
	return c
}

// Extensions returns the group context extensions.
func (g *Group) Extensions() Extensions { return g.GroupContext().Extensions }

// OwnLeafIndex returns this member's leaf index.
func (g *Group) OwnLeafIndex() LeafIndex { return g.epoch.own }

// Active reports whether this member can still send and commit in the group:
// false once a Commit removed it (it can still read the group's last state)
// or reinitialized the group.
func (g *Group) Active() bool { return g.active }

// Members returns the members of the group in leaf order.
func (g *Group) Members() []Member {
	out := make([]Member, 0, g.epoch.tree.MemberCount())
	g.epoch.tree.Members(func(tl ratchettree.LeafIndex, ln *codec.LeafNode) bool {
		l := LeafIndex(tl)
		out = append(out, memberOf(l, ln))
		return true
	})
	return out
}

// MemberCount returns the number of members.
func (g *Group) MemberCount() int { return g.epoch.tree.MemberCount() }

// Member returns the member at leaf l.
func (g *Group) Member(l LeafIndex) (Member, bool) {
	ln := g.epoch.tree.Leaf(treemath.LeafIndex(l))
	if ln == nil {
		return Member{}, false
	}
	return memberOf(l, ln), true
}

// OwnLeafNode returns this member's leaf node; it must not be modified.
func (g *Group) OwnLeafNode() *codec.LeafNode {
	return g.epoch.tree.Leaf(treemath.LeafIndex(g.epoch.own))
}

// Credential returns this member's credential.
func (g *Group) Credential() Credential { return CredentialFromWire(&g.OwnLeafNode().Credential) }

// TreeHash returns the tree hash of the current ratchet tree (§7.8).
func (g *Group) TreeHash() []byte { return bytes.Clone(g.epoch.ctx.TreeHash) }

// RatchetTree returns the current ratchet tree in the form of the
// ratchet_tree extension (§12.4.3.3), to give to joiners out of band.
func (g *Group) RatchetTree() codec.RatchetTree { return g.epoch.tree.RatchetTree() }

// EpochAuthenticator returns the epoch authenticator of the current epoch
// (RFC 9420 §8.7): a value all members share, for out-of-band comparison.
func (g *Group) EpochAuthenticator() []byte {
	return bytes.Clone(g.epoch.secrets.EpochAuthenticator)
}

// ConfirmationTag returns the confirmation tag of the Commit that started
// the current epoch (§6.1).
func (g *Group) ConfirmationTag() []byte { return bytes.Clone(g.epoch.confirmationTag) }

// ResumptionPSK returns the resumption PSK of the current epoch (§8.6).
func (g *Group) ResumptionPSK() []byte { return bytes.Clone(g.epoch.secrets.Resumption) }

// Export derives a secret of length bytes for the application from the
// current epoch's exporter secret (RFC 9420 §8.5, MLS-Exporter).
//
// It fails with ErrErasedSecret if the epoch's secrets were erased.
func (g *Group) Export(label string, context []byte, length int) ([]byte, error) {
	if err := checkLive(g.cs, "exporter_secret", g.epoch.secrets.Exporter); err != nil {
		return nil, err
	}
	return keyschedule.Exporter(g.cs, g.epoch.secrets.Exporter, label, context, length)
}

// ReInit returns the ReInit proposal that ended the group, if a Commit
// carrying one was merged (§11.2).
func (g *Group) ReInit() (codec.ReInit, bool) {
	if g.reinit == nil {
		return codec.ReInit{}, false
	}
	return *g.reinit, true
}

// PendingProposals returns the proposals in the store of the current epoch
// (§12.4.2), in the order they were stored.
func (g *Group) PendingProposals() []*QueuedProposal {
	return append([]*QueuedProposal(nil), g.proposals...)
}

// HasPendingCommit reports whether a Commit of ours awaits merging.
func (g *Group) HasPendingCommit() bool { return g.pending != nil }

// signatureKeyOf returns the signature key a message's sender signs with
// (§6.1): the leaf's for a member, the external_senders entry for an
// external sender, the key package's for new_member_proposal, the path's
// leaf node's for new_member_commit.
func (g *Group) signatureKeyOf(fc *codec.FramedContent) ([]byte, error) {
	switch fc.Sender.SenderType {
	case codec.SenderTypeMember:
		ln := g.epoch.tree.Leaf(treemath.LeafIndex(fc.Sender.LeafIndex))
		if ln == nil {
			return nil, RuleSenderLeafBlank.Errorf("sender leaf %d is blank or outside the tree", fc.Sender.LeafIndex)
		}
		return ln.SignatureKey, nil
	case codec.SenderTypeExternal:
		senders, err := externalSenders(g.epoch.ctx.Extensions)
		if err != nil {
			return nil, err
		}
		if int(fc.Sender.SenderIndex) >= len(senders) {
			return nil, RuleExternalSender.Errorf("external sender index %d out of range (%d senders)", fc.Sender.SenderIndex, len(senders))
		}
		return senders[fc.Sender.SenderIndex].SignatureKey, nil
	case codec.SenderTypeNewMemberProposal:
		if fc.ContentType != codec.ContentTypeProposal || fc.Proposal == nil || fc.Proposal.Add == nil {
			return nil, RuleSenderType.Errorf("new_member_proposal sender must send an Add proposal")
		}
		return fc.Proposal.Add.KeyPackage.LeafNode.SignatureKey, nil
	case codec.SenderTypeNewMemberCommit:
		if fc.ContentType != codec.ContentTypeCommit || fc.Commit == nil || fc.Commit.Path == nil {
			return nil, RuleExternalCommitNoPath.Errorf("new_member_commit sender must send a Commit with a path")
		}
		return fc.Commit.Path.LeafNode.SignatureKey, nil
	}
	return nil, RuleSenderType.Errorf("unknown sender type %d", fc.Sender.SenderType)
}

// externalSenders is Extensions.ExternalSenders with a malformed
// extension reported under RuleExternalSender (RFC 9420 §12.1.8.1).
func externalSenders(exts []codec.Extension) ([]codec.ExternalSender, error) {
	es, err := Extensions(exts).ExternalSenders()
	if err != nil {
		return nil, RuleExternalSender.Errorf("%w", err)
	}
	return es, nil
}

func (g *Group) String() string {
	return fmt.Sprintf("mls.Group{id=%x epoch=%d members=%d self=%d}", g.epoch.ctx.GroupID, g.epoch.ctx.Epoch, g.epoch.tree.MemberCount(), g.epoch.own)
}

// treeLeafIndexes converts leaf indexes to the tree's type.
func treeLeafIndexes(ls []LeafIndex) []treemath.LeafIndex {
	out := make([]treemath.LeafIndex, len(ls))
	for i, l := range ls {
		out[i] = treemath.LeafIndex(l)
	}
	return out
}
