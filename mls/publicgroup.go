package mls

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/providers"
)

// PublicGroup is the view of an MLS group that someone who is not a member
// has: a Delivery Service or a server that routes and validates the
// group's handshake messages but holds none of its keys (RFC 9420 §16.4
// lets the DS see PublicMessages; OpenMLS, mls-rs and MLSpp call this a
// public group). It tracks the ratchet tree, the GroupContext (epoch,
// tree hash, confirmed transcript hash and extensions), the interim
// transcript hash, the members and the proposal store, and it never needs
// a private key or an epoch secret.
//
// A PublicGroup is created from a GroupInfo of the group's current epoch
// (NewPublicGroup: the signature and the tree are verified as a joiner
// verifies them), or handed over by a member (Group.PublicGroup), and is
// loaded again from its storage with LoadPublicGroup.
//
// It processes PublicMessage proposals and Commits like a member, through
// the same code (the epoch transition of RFC 9420 §12.4 on its public
// path): ProcessMessage gives a ProcessedMessage; a proposal is stored with
// StoreProposal; a Commit is a StagedCommit that the server can inspect
// for its policy (its proposals, added and removed leaves, the new
// GroupContext) and then install with MergeStagedCommit. Processing never
// changes the PublicGroup; storing and merging write one storage
// transaction each and change the PublicGroup only once it committed.
//
// What a non-member checks is everything that needs no secret: group id
// and epoch; the sender's membership (its leaf exists) or its standing as
// an external sender or joiner; the signature of the FramedContent (§6.1);
// the proposal rules of §12.1–§12.3 (key packages, leaf nodes,
// capabilities, credentials through the CredentialValidator, duplicate
// keys, proposal combinations); the UpdatePath's shape (one node per node
// of the committer's filtered direct path, one ciphertext per node of each
// resolution), the uniqueness of its keys, the committer's leaf node and
// the parent hashes (§7.9.2); and the tree's validity as a result. What it
// cannot check, because the keys are the members':
//
//   - the membership tag of a member's PublicMessage (§6.2), a MAC under
//     the epoch's membership_key. Its presence is checked (a member's
//     PublicMessage must carry one, others none: RuleMembershipTagMissing), its value is
//     not. A PublicMessage signed by a member's signature key is accepted
//     without it, so a PublicGroup trusts signatures, not membership tags;
//   - the confirmation tag of a Commit (§6.1, RuleConfirmationTag), a MAC under the
//     new epoch's confirmation_key. The PublicGroup takes it as sent to
//     compute the interim transcript hash (§8.2); a Commit whose tag is
//     wrong is refused by every member, and the PublicGroup then follows
//     an epoch the members do not. A server that needs certainty waits for
//     a member's confirmation (the members' epoch authenticators);
//   - the decryption of the UpdatePath and the availability of PSKs
//     (RulePathDecryption, RulePathKeyMismatch, RulePSKAvailable);
//   - anything in a PrivateMessage: Process refuses one with
//     ErrPrivateMessage. A group whose handshake messages a server must
//     follow uses the MixedPlaintext or PurePlaintext wire format policy.
//
// Storage: a PublicGroup's record is in the GroupStateStore under the
// group id with its own format version, and its trees are in the
// RatchetTreeStore, as a member's (O(change) per Commit). A store that
// holds a member's Group of a group cannot also hold a PublicGroup of
// that group: give the PublicGroup its own storage (or namespace).
//
// A PublicGroup is not safe for concurrent use.
type PublicGroup struct {
	// g is the rule engine: a Group with the public flag, whose epoch has
	// no secrets, no protector and no private keys, and whose own leaf is
	// noLeaf (so that no sender is ever "this member").
	g *Group
}

// PublicGroupConfig configures a PublicGroup. The zero value uses
// DefaultLimits.
type PublicGroupConfig struct {
	// Limits bound sizes and counts of received messages (as
	// Client.Limits); they are not stored.
	Limits Limits
}

// ErrPrivateMessage: a PublicGroup was given a PrivateMessage, which it
// cannot decrypt: it holds no epoch secrets (RFC 9420 §6.3).
var ErrPrivateMessage = errors.New("mls: a PublicGroup cannot decrypt a PrivateMessage")

// noLeaf is the own leaf of a PublicGroup's rule engine: no leaf of any
// tree (treemath.MaxLeafCount is below it).
const noLeaf = LeafIndex(math.MaxUint32)

// publicGroupStateVersion is the format version of PublicGroupState
// records (schema/state.tls). It differs from every GroupState version,
// so LoadGroup refuses a PublicGroup's record and LoadPublicGroup a
// member's.
const publicGroupStateVersion uint16 = 0x5001

// checkPublicClient checks what a PublicGroup needs of a Client — a
// provider and a storage; the signer and credential are not used — and
// the configuration.
func checkPublicClient(c *Client, cfg PublicGroupConfig) error {
	if c == nil || c.Provider == nil || c.Storage == nil {
		return fmt.Errorf("%w: a PublicGroup needs a Client with a Provider and Storage", ErrInvalidArgument)
	}
	if err := cfg.Limits.validate(); err != nil {
		return invalidConfig(err)
	}
	return nil
}

// newPublicEngine returns the rule engine of a PublicGroup of suite cs,
// with no epoch yet. It accepts handshake messages in PublicMessages
// (PrivateMessages are refused before the policy is consulted) and keeps
// no past epochs or resumption PSKs, which are secrets.
func newPublicEngine(c *Client, cs providers.CipherSuite, cfg PublicGroupConfig) *Group {
	gc := GroupConfig{
		WireFormatPolicy: WireFormatPolicy{Outgoing: MixedPlaintext().Outgoing, Incoming: IncomingMixed},
	}.withDefaults()
	return &Group{provider: c.Provider, store: c.Storage, cs: cs, cfg: gc, lim: cfg.Limits.withDefaults(), validator: c.validator(),
		clock: c.Now, ignoreLifetimes: c.IgnoreReceivedLifetimes, active: true, public: true}
}

// NewPublicGroup creates the PublicGroup of the epoch a GroupInfo
// describes (RFC 9420 §12.4.3): groupInfo is a GroupInfo MLSMessage (from
// Group.GroupInfo or a CommitResult), tree the group's ratchet tree given
// out of band, or nil to take it from the GroupInfo's ratchet_tree
// extension. The GroupInfo's signature is verified with its signer's leaf,
// and the tree as a joiner verifies it (§12.4.3.1: tree hash, parent
// hashes, leaf nodes, key uniqueness); the interim transcript hash follows
// from the GroupInfo's confirmation tag (§8.2). The PublicGroup is stored
// in c.Storage before it is returned.
//
// Of the Client only Provider, Storage, CredentialValidator, Now and
// IgnoreReceivedLifetimes are used.
func NewPublicGroup(c *Client, groupInfo []byte, tree codec.RatchetTree, cfg PublicGroupConfig) (*PublicGroup, error) {
	if err := checkPublicClient(c, cfg); err != nil {
		return nil, err
	}
	var m codec.MLSMessage
	gib, err := cfg.Limits.withDefaults().decodeGroupInfo(groupInfo, &m)
	if err != nil {
		return nil, err
	}
	if m.WireFormat != codec.WireFormatMLSGroupInfo || m.GroupInfo == nil {
		return nil, fmt.Errorf("%w: MLSMessage of wire format %v is not a GroupInfo", ErrInvalidArgument, m.WireFormat)
	}
	gi := m.GroupInfo
	if len(gi.GroupContext.GroupID) == 0 {
		return nil, fmt.Errorf("%w: GroupInfo without a group id", ErrInvalidArgument)
	}
	cs, err := c.Provider.CipherSuite(gi.GroupContext.CipherSuite)
	if err != nil {
		return nil, err
	}
	g := newPublicEngine(c, cs, cfg)
	if err := g.setGroupInfoEpoch(gi, gib, tree); err != nil {
		return nil, err
	}
	g.epoch.own = noLeaf
	if err := g.save(); err != nil {
		return nil, err
	}
	return &PublicGroup{g: g}, nil
}

// PublicGroup hands the group over to a non-member: it returns a
// PublicGroup of the group's current epoch (its GroupContext, ratchet
// tree, interim transcript hash and proposal store, without any secret),
// stored in c.Storage (see NewPublicGroup for what of c is used). The
// group must be active.
func (g *Group) PublicGroup(c *Client, cfg PublicGroupConfig) (*PublicGroup, error) {
	if err := checkPublicClient(c, cfg); err != nil {
		return nil, err
	}
	if !g.active {
		return nil, ErrInactive
	}
	pg := newPublicEngine(c, g.cs, cfg)
	pg.epoch = &epoch{
		ctx: g.GroupContext(), ctxBytes: bytes.Clone(g.epoch.ctxBytes), tree: g.epoch.tree.Clone(), own: noLeaf,
		interim: bytes.Clone(g.epoch.interim), confirmationTag: bytes.Clone(g.epoch.confirmationTag),
	}
	for _, q := range g.proposals {
		cp := *q
		cp.Own, cp.msgHash = false, nil // a non-member sends nothing (echo.go)
		pg.proposals = append(pg.proposals, &cp)
	}
	if err := pg.save(); err != nil {
		return nil, err
	}
	return &PublicGroup{g: pg}, nil
}

// LoadPublicGroup loads the PublicGroup of group groupID from c.Storage, as
// its last change wrote it (see NewPublicGroup for what of c is used).
// Errors: one matching ErrNotFound when nothing is stored under groupID;
// ErrCorruptState when the record is not a PublicGroup's (a member's
// GroupState, say), does not decode, or is inconsistent (a tree whose hash
// is not the GroupContext's).
func LoadPublicGroup(c *Client, groupID []byte, cfg PublicGroupConfig) (*PublicGroup, error) {
	if err := checkPublicClient(c, cfg); err != nil {
		return nil, err
	}
	version, b, err := c.Storage.ReadGroupState(groupID)
	if err != nil {
		return nil, fmt.Errorf("mls: loading public group %x: %w", groupID, err)
	}
	if version != publicGroupStateVersion {
		clear(b) // a member's record holds secrets
		return nil, corrupt("public group state", fmt.Errorf("format version %d, a PublicGroup's is %d (a member's record? LoadGroup)", version, publicGroupStateVersion))
	}
	var rec record.PublicGroupState
	if err := rec.Unmarshal(b); err != nil {
		return nil, corrupt("public group state", err)
	}
	var ctx codec.GroupContext
	if err := ctx.Unmarshal(rec.GroupContext); err != nil {
		return nil, corrupt("group context", err)
	}
	if !bytes.Equal(ctx.GroupID, groupID) {
		return nil, corrupt("group context", fmt.Errorf("group id %x stored under %x", ctx.GroupID, groupID))
	}
	cs, err := c.Provider.CipherSuite(ctx.CipherSuite)
	if err != nil {
		return nil, err
	}
	g := newPublicEngine(c, cs, cfg)
	g.active = rec.Active == record.BoolTrue
	if rec.ReInit != nil {
		var ri codec.ReInit
		if err := ri.Unmarshal(*rec.ReInit); err != nil {
			return nil, corrupt("ReInit", err)
		}
		g.reinit = &ri
	}
	if !g.active && g.reinit == nil {
		return nil, corrupt("public group state", errors.New("inactive without a ReInit"))
	}
	trees, chain, err := loadTrees(cs, c.Storage, groupID, []uint64{ctx.Epoch})
	if err != nil {
		return nil, err
	}
	tree := trees[ctx.Epoch]
	th, err := tree.TreeHash()
	if err != nil {
		return nil, corrupt("ratchet tree", err)
	}
	if !bytes.Equal(th, ctx.TreeHash) {
		return nil, corrupt("ratchet tree", errors.New("tree hash differs from the GroupContext's"))
	}
	if len(rec.InterimTranscriptHash) != cs.HashSize() {
		return nil, corrupt("interim transcript hash", fmt.Errorf("%d bytes", len(rec.InterimTranscriptHash)))
	}
	g.epoch = &epoch{ctx: ctx, ctxBytes: bytes.Clone(rec.GroupContext), tree: tree, own: noLeaf,
		interim: bytes.Clone(rec.InterimTranscriptHash), confirmationTag: bytes.Clone(rec.ConfirmationTag)}
	g.treeCache = chain
	g.treeCache.tree, g.treeCache.epoch, g.treeCache.gen, g.treeCache.active = tree, ctx.Epoch, tree.Generation(), g.active
	if g.proposals, err = loadProposals(rec.Proposals, ctx.Epoch); err != nil {
		return nil, err
	}
	return &PublicGroup{g: g}, nil
}

// savePublic writes in tx a PublicGroup's staged state: the ratchet tree
// of its epoch if not stored yet (saveCurrentTree: a Commit's change,
// O(change)) and its PublicGroupState record. There is no secret to
// write.
func (c *change) savePublic(tx providers.Records) error {
	g := c.next
	if err := c.saveCurrentTree(tx); err != nil {
		return err
	}
	rec := record.PublicGroupState{
		GroupContext:          g.epoch.ctxBytes,
		InterimTranscriptHash: g.epoch.interim,
		ConfirmationTag:       g.epoch.confirmationTag,
		Active:                boolOf(g.active),
	}
	if g.reinit != nil {
		b, err := g.reinit.Marshal()
		if err != nil {
			return fmt.Errorf("mls: encoding ReInit: %w", err)
		}
		rec.ReInit = new(record.EncodedReInit(b))
	}
	var err error
	if rec.Proposals, err = storedProposalRecords(g.proposals); err != nil {
		return err
	}
	b, err := rec.Marshal()
	if err != nil {
		return fmt.Errorf("mls: encoding the public group state: %w", err)
	}
	if err := tx.WriteGroupState(g.epoch.ctx.GroupID, publicGroupStateVersion, b); err != nil {
		return fmt.Errorf("mls: writing the public group state: %w", err)
	}
	return nil
}

// ProcessMessage decodes an MLSMessage and processes it (see Process).
func (pg *PublicGroup) ProcessMessage(data []byte) (*ProcessedMessage, error) {
	return pg.g.ProcessMessage(data)
}

// Process verifies a PublicMessage of the group's current epoch as a
// non-member can (see PublicGroup) and validates its content (RFC 9420
// §6.2, §12): a proposal is returned with its reference, to store with
// StoreProposal; a Commit is validated in full, its new tree and
// GroupContext computed, as a StagedCommit to merge with
// MergeStagedCommit. A PrivateMessage is refused with ErrPrivateMessage;
// an application message cannot be a PublicMessage (RuleApplicationNotPrivate). Process
// never changes the PublicGroup; every failure is an error naming the
// violated rule, as for a member.
func (pg *PublicGroup) Process(m *codec.MLSMessage) (*ProcessedMessage, error) {
	return pg.g.Process(m)
}

// StoreProposal puts a processed proposal into the proposal store of the
// current epoch, so that a Commit can cover it by reference (§12.4.2). It
// is one storage transaction.
func (pg *PublicGroup) StoreProposal(q *QueuedProposal) error { return pg.g.StoreProposal(q) }

// RemovePendingProposal removes a proposal from the store, by reference.
func (pg *PublicGroup) RemovePendingProposal(ref []byte) error {
	return pg.g.RemovePendingProposal(ref)
}

// ClearPendingProposals empties the proposal store.
func (pg *PublicGroup) ClearPendingProposals() error { return pg.g.ClearPendingProposals() }

// PendingProposals returns the proposals in the store of the current
// epoch, in the order they were stored.
func (pg *PublicGroup) PendingProposals() []*QueuedProposal { return pg.g.PendingProposals() }

// MergeStagedCommit installs the epoch a processed Commit starts (RFC 9420
// §12.4.2): the new tree, GroupContext and interim transcript hash; the
// proposal store is emptied. It is one storage transaction (the new
// PublicGroupState and the Commit's change of the tree); if it fails,
// the PublicGroup stays in its epoch, unchanged, and the merge can be
// retried. A Commit with a ReInit proposal ends the group (Active
// reports false).
func (pg *PublicGroup) MergeStagedCommit(sc *StagedCommit) error { return pg.g.MergeStagedCommit(sc) }

// GroupID returns the group's id.
func (pg *PublicGroup) GroupID() []byte { return pg.g.GroupID() }

// Epoch returns the current epoch number.
func (pg *PublicGroup) Epoch() uint64 { return pg.g.Epoch() }

// CipherSuite returns the group's cipher suite.
func (pg *PublicGroup) CipherSuite() codec.CipherSuite { return pg.g.CipherSuite() }

// GroupContext returns a copy of the current GroupContext (RFC 9420 §8.1).
func (pg *PublicGroup) GroupContext() codec.GroupContext { return pg.g.GroupContext() }

// Extensions returns the group context extensions.
func (pg *PublicGroup) Extensions() []codec.Extension { return pg.g.Extensions() }

// TreeHash returns the tree hash of the current ratchet tree (§7.8), the
// GroupContext's tree_hash.
func (pg *PublicGroup) TreeHash() []byte { return pg.g.TreeHash() }

// RatchetTree returns the current ratchet tree in the form of the
// ratchet_tree extension (§12.4.3.3): what a Delivery Service gives a
// joiner whose Welcome or GroupInfo carries no tree.
func (pg *PublicGroup) RatchetTree() codec.RatchetTree { return pg.g.RatchetTree() }

// ConfirmationTag returns the confirmation tag of the Commit (or
// GroupInfo) that started the current epoch, as it was sent (§6.1).
func (pg *PublicGroup) ConfirmationTag() []byte { return pg.g.ConfirmationTag() }

// InterimTranscriptHash returns the interim transcript hash of the current
// epoch (§8.2), from which the next Commit's confirmed transcript hash
// follows.
func (pg *PublicGroup) InterimTranscriptHash() []byte { return bytes.Clone(pg.g.epoch.interim) }

// Members returns the members of the group in leaf order.
func (pg *PublicGroup) Members() []Member { return pg.g.Members() }

// MemberCount returns the number of members.
func (pg *PublicGroup) MemberCount() int { return pg.g.MemberCount() }

// Member returns the member at leaf l.
func (pg *PublicGroup) Member(l LeafIndex) (Member, bool) { return pg.g.Member(l) }

// Active reports whether the group goes on: false once a Commit with a
// ReInit proposal was merged (§11.2).
func (pg *PublicGroup) Active() bool { return pg.g.Active() }

// ReInit returns the ReInit proposal that ended the group, if any.
func (pg *PublicGroup) ReInit() (codec.ReInit, bool) { return pg.g.ReInit() }

// SetLimits changes the limits (see Limits; a zero field means its
// default). They are not stored: set them again after LoadPublicGroup.
func (pg *PublicGroup) SetLimits(l Limits) error { return pg.g.SetLimits(l) }

func (pg *PublicGroup) String() string {
	return fmt.Sprintf("mls.PublicGroup{id=%x epoch=%d members=%d}", pg.g.epoch.ctx.GroupID, pg.g.epoch.ctx.Epoch, pg.g.epoch.tree.MemberCount())
}
