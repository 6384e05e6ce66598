package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/framing"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/mls/internal/treekem"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// Persistence of a group (storage layout).
//
// A group is four kinds of record, defined in schema/state.tls and encoded
// by the generated package mls/internal/record:
//
//   - GroupState (GroupStateStore, keyed by group id, format version
//     groupStateVersion): the current epoch (GroupContext, our leaf, private
//     keys, key schedule secrets, transcript hash), the runtime
//     configuration, the proposal store, the kept resumption PSKs, the list
//     of kept past epochs, the signer's public key and the pending Commit,
//     whose next-epoch tree is stored as its change of the current tree
//     (ratchettree.Diff.Changes: O(log members) nodes for a path), with
//     what LoadGroup needs to merge it or recognise its echo and describe
//     it (the hash of its message, its proposals: not its path, whose
//     nodes are that change, nor its signature). It is rewritten on every
//     change of the group (save), in O(change).
//   - EpochSecrets (EpochSecretStore, keyed by group id and epoch): what
//     the current epoch and each kept past epoch need to protect and
//     unprotect messages, but their secret trees (GroupContext,
//     sender_data_secret, membership_key, the secret tree's leaf count),
//     written by the first save of the epoch (saveEpochSecrets): O(1).
//   - SecretTreeNode (SecretTreeStore, keyed by group id, epoch and node):
//     each node of those epochs' secret trees that holds a node secret or
//     a leaf's ratchets (secretstore.go). A change writes the nodes it
//     changed (saveTreeNodes; a message sent or received only those, and
//     no other record): its sender's leaf, and for a sender's first
//     message in the epoch the O(log members) nodes of its derivation, so
//     that a message writes O(1) bytes whatever the number of members
//     that have spoken; a consumed node secret's record is deleted.
//   - RatchetTreeRecord (RatchetTreeStore, keyed by group id and epoch):
//     the tree of an epoch, written once, by the first save in the epoch
//     (saveCurrentTree): whole when the group is created or joined, and
//     after a merged Commit as that Commit's change of the previous epoch's
//     tree (ratchettree.Tree.LastMerge), in O(change), until the changes
//     since the last whole tree, counted in bytes plus a fixed cost per
//     record, outgrow half of it (treeChainFull): so a Commit costs
//     O(change) amortized, and loading costs at most half a tree more.
//     Loading an epoch's tree applies the chain of changes to the last
//     whole tree at or before it (loadTrees); the records kept are those
//     from that whole tree (for the oldest kept epoch) to the current
//     epoch, and pruning deletes those that fall out of that range without
//     listing the others (pruneEpochs). The one exception is a removed
//     member, whose tree (that of the Commit that removed it, next to its
//     last GroupContext) is kept inline in its GroupState.
//
// Every change of a group — creating or joining it, a merged Commit (ours,
// received, or an external join), a pending Commit created or cleared, a
// proposal stored, sent or removed, a message sent or received (a consumed
// generation of a sender ratchet) — writes its records in one
// providers.Storage Update transaction, the pruning of the records of
// epochs no longer kept (§9.2) and the key pairs it stores or deletes
// included (change.go); a batch of received messages (ProcessMessages,
// batch.go) is one transaction for all of them, each changed node record
// written once. The in-memory group is changed only after that
// transaction committed (a batch's secret trees are restored if it
// fails), so the store always holds one consistent state of the group, the
// one in memory: a failed change leaves both as they were,
// and LoadGroup after a crash gives the state before or after the change,
// never a mixture. Within a transaction the records are still written in
// the order above (EpochSecrets and ratchet tree, then the GroupState that
// refers to them, then deletions), which costs nothing and keeps a store
// without real transactions loadable in more cases.

// groupStateVersion is the format version of the GroupState, EpochSecrets,
// RatchetTreeRecord and SecretTreeNode records (schema/state.tls), stored
// through WriteGroupState (2: trees in the RatchetTreeStore, as changes;
// 3: secret trees in the SecretTreeStore, node by node; 4: the messages
// that carried our pending Commit and our own proposals, for their
// echoes; 5: of our pending Commit as sent, its proposals only, not its
// whole content). LoadGroup also reads versions 3 and 4 (GroupStateV3,
// GroupStateV4, whose other records are those of version 5), migrates a
// group of versions 1 and 2 to version 3 first (migrate.go), and refuses
// other versions with ErrCorruptState.
const groupStateVersion uint16 = 5

// groupStateFromV4 converts a GroupState of version 4, whose pending
// Commit holds the Commit's whole AuthenticatedContent, of which version 5
// keeps the proposals (the Commit without its path).
func groupStateFromV4(v4 *record.GroupStateV4) (record.GroupState, error) {
	rec := record.GroupState{
		Current: v4.Current, Config: v4.Config, Active: v4.Active, ReInit: v4.ReInit,
		SignerPublicKey: v4.SignerPublicKey, Proposals: v4.Proposals, PastEpochs: v4.PastEpochs, ResumptionPsks: v4.ResumptionPsks,
	}
	if pc := v4.PendingCommit; pc != nil {
		rec.PendingCommit = &record.PendingCommit{Next: pc.Next, Tree: pc.Tree, SecretTree: pc.SecretTree, ReInit: pc.ReInit, NewSignerPublicKey: pc.NewSignerPublicKey,
			MessageHash: pc.MessageHash, AddedLeaves: pc.AddedLeaves, RemovedLeaves: pc.RemovedLeaves}
		if len(pc.Content) > 0 {
			var ac codec.AuthenticatedContent
			if err := ac.Unmarshal(pc.Content); err != nil {
				return record.GroupState{}, err
			}
			if ac.Content.ContentType != codec.ContentTypeCommit || ac.Content.Commit == nil {
				return record.GroupState{}, errors.New("the pending commit's content is not a Commit")
			}
			b, err := (&codec.Commit{Proposals: ac.Content.Commit.Proposals}).Marshal()
			if err != nil {
				return record.GroupState{}, err
			}
			rec.PendingCommit.Commit = b
		}
	}
	return rec, nil
}

// groupStateFromV3 converts a GroupState of version 3: it lacks only what
// recognises echoes (a pending Commit or an own proposal loaded from it is
// not recognised when the Delivery Service echoes it) and the description
// of the pending Commit (PendingCommitInfo.Restored).
func groupStateFromV3(v3 *record.GroupStateV3) record.GroupState {
	rec := record.GroupState{
		Current: v3.Current, Config: v3.Config, Active: v3.Active, ReInit: v3.ReInit,
		SignerPublicKey: v3.SignerPublicKey, PastEpochs: v3.PastEpochs, ResumptionPsks: v3.ResumptionPsks,
	}
	for _, p := range v3.Proposals {
		rec.Proposals = append(rec.Proposals, record.StoredProposal{Proposal: p.Proposal, Ref: p.Ref, Sender: p.Sender, Own: p.Own})
	}
	if pc := v3.PendingCommit; pc != nil {
		rec.PendingCommit = &record.PendingCommit{Next: pc.Next, Tree: pc.Tree, SecretTree: pc.SecretTree, ReInit: pc.ReInit, NewSignerPublicKey: pc.NewSignerPublicKey}
	}
	return rec
}

func leafIndices[L ~uint32](ls []L) []uint32 {
	out := make([]uint32, len(ls))
	for i, l := range ls {
		out[i] = uint32(l)
	}
	return out
}

// corrupt wraps a decoding or consistency error of a stored record.
func corrupt(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrCorruptState, what, err)
}

func boolOf(b bool) record.Bool {
	if b {
		return record.BoolTrue
	}
	return record.BoolFalse
}

// ---------------------------------------------------------------------------
// Writing

// save writes the staged group's state and the current epoch's secret tree
// in tx, and the current ratchet tree if it is not stored yet. Every change
// of the group writes it, in the change's transaction.
func (c *change) save(tx providers.Records) error {
	g := c.next
	if g.public {
		return c.savePublic(tx)
	}
	if g.secretsStored == g.epoch {
		// The epoch's EpochSecrets record, which does not change within
		// an epoch, was stored by an earlier save: only the secret
		// tree's changes are written.
		if err := checkLive(g.cs, "sender_data_secret", g.epoch.secrets.SenderData); err != nil {
			return err
		}
		if err := c.saveTreeNodes(tx, g.epoch.ctx.Epoch); err != nil {
			return err
		}
	} else if err := c.saveEpochSecrets(tx, g.epoch.ctx.Epoch); err != nil {
		return err
	}
	if err := c.saveCurrentTree(tx); err != nil {
		return err
	}
	var inline []byte
	if g.removed() {
		var err error
		if inline, err = c.currentTreeEncoding(); err != nil {
			return err
		}
	}
	rec, err := g.groupStateRecord(inline)
	if err != nil {
		return err
	}
	// The record holds secrets: it is encoded into the group's scratch
	// buffer, of at least its exact size, zeroed after the write. Grown
	// by append from nothing, it would be copied about ten times and
	// leave copies of its secrets in the buffers it outgrew (§9.2).
	b, err := rec.AppendTo(g.scratchFor(rec.Size()))
	zeroGroupStateRecord(rec)
	if err != nil {
		g.releaseScratch(b)
		return fmt.Errorf("mls: encoding the group state: %w", err)
	}
	err = tx.WriteGroupState(g.epoch.ctx.GroupID, groupStateVersion, b)
	g.releaseScratch(b)
	if err != nil {
		return fmt.Errorf("mls: writing the group state: %w", err)
	}
	if g.removed() {
		// The epoch's record holds the tree before our removal; the
		// GroupState now holds ours.
		if err := tx.DeleteRatchetTree(g.epoch.ctx.GroupID, g.epoch.ctx.Epoch); err != nil {
			return fmt.Errorf("mls: deleting the ratchet tree of epoch %d: %w", g.epoch.ctx.Epoch, err)
		}
	}
	return nil
}

// writeScratch is the buffer a group's records are encoded into before
// they are written, reused from one write to the next instead of
// allocated for each (providers.Storage: a Write does not retain the
// caller's slice). It is zeroed after every write: records hold secrets
// (RFC 9420 §9.2).
type writeScratch struct{ buf []byte }

// maxWriteScratch bounds the buffer a group keeps between writes: the
// records of a large group (a whole ratchet tree) are encoded into one of
// their own, dropped after the write.
const maxWriteScratch = 64 << 10

// scratchFor returns the group's scratch buffer, empty, with a capacity of
// at least n. The caller encodes one record into it, writes it and gives
// it back with releaseScratch before the next scratchFor.
func (g *Group) scratchFor(n int) []byte {
	if g.scratch == nil {
		g.scratch = new(writeScratch)
	}
	s := g.scratch
	if cap(s.buf) < n {
		if n > maxWriteScratch {
			return make([]byte, 0, n)
		}
		s.buf = make([]byte, 0, n)
	}
	return s.buf[:0]
}

// releaseScratch zeroes b, a buffer of scratchFor after the record encoded
// into it was written, and keeps it as the scratch buffer if appending
// outgrew the scratch (whose partial copy is zeroed too).
func (g *Group) releaseScratch(b []byte) {
	clear(b)
	s := g.scratch
	if s == nil || cap(b) == cap(s.buf) {
		return
	}
	if cap(b) > cap(s.buf) && cap(b) <= maxWriteScratch {
		clear(s.buf[:cap(s.buf)])
		s.buf = b[:0]
	}
}

// saveEpochSecrets writes in tx the EpochSecrets record of epoch, the
// staged group's current epoch or a kept past one (a no-op for any other
// epoch), and the nodes of its secret tree that changed (saveTreeNodes).
func (c *change) saveEpochSecrets(tx providers.Records, epoch uint64) error {
	g := c.group()
	rec, ok, err := g.epochSecretsRecord(epoch)
	if err != nil || !ok {
		return err
	}
	// Into the scratch buffer, zeroed after the write, as in save.
	b, err := rec.AppendTo(g.scratchFor(rec.Size()))
	if err != nil {
		g.releaseScratch(b)
		return fmt.Errorf("mls: encoding the secrets of epoch %d: %w", epoch, err)
	}
	err = tx.WriteEpochSecrets(g.epoch.ctx.GroupID, epoch, b)
	g.releaseScratch(b)
	if err != nil {
		return fmt.Errorf("mls: writing the secrets of epoch %d: %w", epoch, err)
	}
	if epoch == g.epoch.ctx.Epoch && !c.light {
		// Installed with the change: a light change (a message) stages
		// nothing of the group, whose record is stored already.
		g.secretsStored = g.epoch
	}
	return c.saveTreeNodes(tx, epoch)
}

// epochSecretsRecord returns the EpochSecrets record of epoch, g's current
// epoch or a kept past one (false for any other epoch). Its secrets alias
// g's.
func (g *Group) epochSecretsRecord(epoch uint64) (record.EpochSecrets, bool, error) {
	var rec record.EpochSecrets
	var tree *secrettree.Tree
	if epoch == g.epoch.ctx.Epoch {
		if tree = g.epoch.protector.Tree(); tree == nil {
			return rec, false, errors.New("mls: the epoch has no secret tree to store")
		}
		rec = record.EpochSecrets{
			Epoch:            epoch,
			GroupContext:     g.epoch.ctxBytes,
			SenderDataSecret: g.epoch.secrets.SenderData,
			MembershipKey:    g.epoch.secrets.Membership,
		}
	} else {
		pe := g.pastEpoch(epoch)
		if pe == nil {
			return rec, false, nil
		}
		ctx, err := pe.protector.GroupContext().Marshal()
		if err != nil {
			return rec, false, fmt.Errorf("mls: encoding GroupContext of epoch %d: %w", epoch, err)
		}
		// The past epoch's tree is its RatchetTreeStore record, written
		// when the epoch was current.
		tree = pe.protector.Tree()
		rec = record.EpochSecrets{
			Epoch:            epoch,
			GroupContext:     ctx,
			SenderDataSecret: pe.senderData,
			MembershipKey:    pe.membership,
		}
	}
	if err := checkLive(g.cs, "sender_data_secret", rec.SenderDataSecret); err != nil {
		return rec, false, err
	}
	rec.LeafCount = uint32(tree.LeafCount())
	return rec, true, nil
}

// epochSecretTree returns the secret tree of the staged group's epoch, the
// current one or a kept past one (nil for any other epoch).
func (g *Group) epochSecretTree(epoch uint64) *secrettree.Tree {
	if epoch == g.epoch.ctx.Epoch {
		return g.epoch.protector.Tree()
	}
	if pe := g.pastEpoch(epoch); pe != nil {
		return pe.protector.Tree()
	}
	return nil
}

// pastEpoch returns the kept past epoch epoch, or nil.
func (g *Group) pastEpoch(epoch uint64) *pastEpoch {
	for _, p := range g.past {
		if p.epoch == epoch {
			return p
		}
	}
	return nil
}

// saveTreeNodes writes in tx the SecretTreeStore records of the nodes of
// epoch's secret tree that changed since they were stored, with the
// generation the change consumes in it, if any, as it will be once
// consumed (secretstore.go): a message writes O(1) records, whatever the
// number of senders. Once the change is installed the tree's changes are
// forgotten (they are stored).
func (c *change) saveTreeNodes(tx providers.Records, epoch uint64) error {
	g := c.group()
	tree := g.epochSecretTree(epoch)
	if tree == nil {
		return nil
	}
	nodes, err := changedTreeNodes(c.nodes[:0], &c.leaf, tree, c.staged(epoch))
	if err != nil {
		return fmt.Errorf("mls: the secret tree of epoch %d: %w", epoch, err)
	}
	if err := writeTreeNodes(tx, g.epoch.ctx.GroupID, epoch, nodes, c.record[:]); err != nil {
		return err
	}
	c.storesTree(tree)
	return nil
}

// saveNewEpoch writes in tx the staged group after a merged Commit moved it
// to a new epoch: the changed secret tree nodes of the epoch just ended if
// it is kept, the new epoch, and the deletion of the secrets and trees of
// every epoch that is no longer kept (RFC 9420 §9.2).
func (c *change) saveNewEpoch(tx providers.Records, ended uint64) error {
	g := c.next
	if len(g.past) > 0 && g.past[0].epoch == ended {
		// Its EpochSecrets record, if stored while it was current
		// (secretsStored), stays as it is: the epoch's GroupContext,
		// secrets and leaf count do not change. Its secret tree may have
		// (the Commit's generation, consumed). A group loaded and not
		// saved since rewrites the record, as its first save does the
		// current epoch's.
		old := c.g.epoch
		if c.g.secretsStored == old && old.ctx.Epoch == ended {
			if err := c.saveTreeNodes(tx, ended); err != nil {
				return err
			}
		} else if err := c.saveEpochSecrets(tx, ended); err != nil {
			return err
		}
	}
	if err := c.save(tx); err != nil {
		return err
	}
	return c.pruneEpochs(tx)
}

// pruneEpochs deletes in tx the EpochSecrets and ratchet tree records of
// the staged group's epochs that are neither current nor kept.
func (c *change) pruneEpochs(tx providers.Records) error {
	g := c.next
	epochs, err := tx.ListEpochs(g.epoch.ctx.GroupID)
	if err != nil {
		return fmt.Errorf("mls: listing stored epochs: %w", err)
	}
	for _, e := range epochs {
		if e == g.epoch.ctx.Epoch || g.keepsPastEpoch(e) {
			continue
		}
		if err := tx.DeleteEpochSecrets(g.epoch.ctx.GroupID, e); err != nil {
			return fmt.Errorf("mls: deleting the secrets of epoch %d: %w", e, err)
		}
		if err := deleteTreeNodes(tx, g.epoch.ctx.GroupID, e); err != nil {
			return err
		}
	}
	// The tree records kept: from the last whole record at or before the
	// oldest kept epoch to the current epoch.
	oldest := g.epoch.ctx.Epoch
	for _, p := range g.past {
		oldest = min(oldest, p.epoch)
	}
	var from uint64
	tc := &g.treeCache
	for _, w := range tc.wholes {
		if w <= oldest {
			from = w
		}
	}
	var trees []uint64
	if tc.lowKnown && tc.low <= from && from-tc.low <= maxTreePruneRun {
		// The records below from are those of tc.low to from-1, if
		// any: a chain this change ends (O(1) per Commit, amortized).
		for e := tc.low; e < from; e++ {
			trees = append(trees, e)
		}
	} else {
		// After a load or a join, or a jump: every record is listed, and
		// any outside the kept range (left by a failed write of a store
		// without transactions, say) deleted.
		all, err := tx.ListRatchetTrees(g.epoch.ctx.GroupID)
		if err != nil {
			return fmt.Errorf("mls: listing stored ratchet trees: %w", err)
		}
		for _, e := range all {
			if e < from || e > g.epoch.ctx.Epoch {
				trees = append(trees, e)
			}
		}
	}
	for _, e := range trees {
		if err := tx.DeleteRatchetTree(g.epoch.ctx.GroupID, e); err != nil {
			return fmt.Errorf("mls: deleting the ratchet tree of epoch %d: %w", e, err)
		}
	}
	tc.wholes = slices.DeleteFunc(tc.wholes, func(w uint64) bool { return w < from })
	tc.low, tc.lowKnown = from, true
	return nil
}

// maxTreePruneRun bounds the run of epochs pruneEpochs deletes by number
// instead of listing the stored ones (a chain and the kept epochs before
// it are far shorter; a longer run means a state it did not write).
const maxTreePruneRun = 1 << 20

func (g *Group) keepsPastEpoch(e uint64) bool {
	for _, p := range g.past {
		if p.epoch == e {
			return true
		}
	}
	return false
}

// groupStateRecord assembles the GroupState record, with the encoded
// current tree inline for a removed member (nil otherwise). Its secret
// fields alias the group's; the caller zeroes only the copies it makes.
func (g *Group) groupStateRecord(inline []byte) (*record.GroupState, error) {
	cur, err := epochStateRecord(g.epoch, inline)
	if err != nil {
		return nil, err
	}
	sr := g.cfg.senderRatchet()
	rec := &record.GroupState{
		Current: cur,
		Config: record.RuntimeConfig{
			OutgoingWireFormat:      uint8(g.cfg.WireFormatPolicy.Outgoing),
			IncomingWireFormat:      uint8(g.cfg.WireFormatPolicy.Incoming),
			PaddingSize:             uint32(g.cfg.PaddingSize),
			MaxPastEpochs:           uint32(g.cfg.MaxPastEpochs),
			NumberOfResumptionPsks:  uint32(g.cfg.NumberOfResumptionPSKs),
			UseRatchetTreeExtension: boolOf(g.cfg.UseRatchetTreeExtension),
			OutOfOrderTolerance:     sr.OutOfOrderTolerance,
			MaximumForwardDistance:  sr.MaximumForwardDistance,
		},
		Active:          boolOf(g.active),
		SignerPublicKey: g.signer.PublicKey(),
	}
	if g.reinit != nil {
		b, err := g.reinit.Marshal()
		if err != nil {
			return nil, fmt.Errorf("mls: encoding ReInit: %w", err)
		}
		rec.ReInit = new(record.EncodedReInit(b))
	}
	if rec.Proposals, err = storedProposalRecords(g.proposals); err != nil {
		return nil, err
	}
	rec.PastEpochs = make([]uint64, len(g.past))
	for i, p := range g.past {
		rec.PastEpochs[i] = p.epoch
	}
	rec.ResumptionPsks = make([]record.ResumptionPSK, len(g.resumption))
	for i, r := range g.resumption {
		rec.ResumptionPsks[i] = record.ResumptionPSK{Epoch: r.epoch, PSK: r.psk}
	}
	if p := g.pending; p != nil {
		if p.diff.Base() != g.epoch.tree {
			return nil, errors.New("mls: the pending commit is not staged on the current ratchet tree")
		}
		next, err := epochStateRecord(p.next, nil)
		if err != nil {
			return nil, err
		}
		delta, err := p.treeDelta()
		if err != nil {
			return nil, fmt.Errorf("mls: encoding the pending commit's tree: %w", err)
		}
		ts := p.next.protector.Tree().Export()
		pc := &record.PendingCommit{Next: next, Tree: *delta, SecretTree: *ts}
		if p.res != nil && p.res.reinit != nil {
			b, err := p.res.reinit.Marshal()
			if err != nil {
				return nil, fmt.Errorf("mls: encoding ReInit: %w", err)
			}
			pc.ReInit = new(record.EncodedReInit(b))
		}
		if p.newSigner != nil {
			pc.NewSignerPublicKey = p.newSigner.PublicKey()
		}
		if p.msgHash != nil {
			if pc.Commit, err = p.commitRecord(); err != nil {
				return nil, fmt.Errorf("mls: encoding the pending commit: %w", err)
			}
			pc.MessageHash = p.msgHash
		}
		if p.res != nil {
			pc.AddedLeaves = leafIndices(p.res.added)
			pc.RemovedLeaves = leafIndices(p.res.removed)
		}
		rec.PendingCommit = pc
	}
	return rec, nil
}

// storedProposalRecords encodes a proposal store.
func storedProposalRecords(qs []*QueuedProposal) ([]record.StoredProposal, error) {
	out := make([]record.StoredProposal, len(qs))
	for i, q := range qs {
		p, err := q.Proposal.Marshal()
		if err != nil {
			return nil, fmt.Errorf("mls: encoding a stored proposal: %w", err)
		}
		s, err := q.Sender.Marshal()
		if err != nil {
			return nil, fmt.Errorf("mls: encoding a proposal's sender: %w", err)
		}
		out[i] = record.StoredProposal{Proposal: p, Ref: q.Ref, Sender: s, Own: boolOf(q.Own), MessageHash: q.msgHash}
	}
	return out, nil
}

// loadProposals decodes a stored proposal store of epoch.
func loadProposals(recs []record.StoredProposal, epoch uint64) ([]*QueuedProposal, error) {
	var out []*QueuedProposal
	for i := range recs {
		sp := &recs[i]
		q := &QueuedProposal{Proposal: new(codec.Proposal), Ref: bytes.Clone(sp.Ref), Own: sp.Own == record.BoolTrue, Epoch: epoch, msgHash: bytes.Clone(sp.MessageHash)}
		if err := q.Proposal.Unmarshal(sp.Proposal); err != nil {
			return nil, corrupt("stored proposal", err)
		}
		if err := q.Sender.Unmarshal(sp.Sender); err != nil {
			return nil, corrupt("stored proposal's sender", err)
		}
		out = append(out, q)
	}
	return out, nil
}

// zeroGroupStateRecord erases the secrets a GroupState record owns (those
// it does not share with the group): the secret tree of a pending Commit.
func zeroGroupStateRecord(rec *record.GroupState) {
	if rec.PendingCommit != nil {
		secrettree.ZeroRecord(&rec.PendingCommit.SecretTree)
	}
}

// treeRecordCost is what a change record of the ratchet tree counts for,
// in bytes, beyond its own length, in the cost of a chain of them
// (treeChainFull): the fixed cost of reading one record, staging it and
// merging it when the group is loaded, about that of decoding this many
// bytes of a whole tree. It bounds the number of records of a chain as its
// bytes bound their size, whatever the size of each change (a Commit
// without a path changes few nodes, or none).
const treeRecordCost = 256

// treeChainFull reports whether a change record of n bytes would make the
// chain of change records after the last whole tree (of whole bytes), whose
// cost is chainCost (their bytes plus treeRecordCost each), cost more than
// half the whole tree: then the tree is stored whole instead. So a chain
// never costs LoadGroup more than reading half a tree more, and a whole
// tree is written at most once per half a tree of changes: each merged
// Commit costs O(its change), amortized, in writes, whatever the size of
// the group (RFC 9420 does not define storage; this is mlskit's layout).
func treeChainFull(chainCost, n, whole int) bool {
	return chainCost+n+treeRecordCost > whole/2
}

// encodedTree records what save last stored of the group's current ratchet
// tree, which changes only when a Commit is merged (in place): then the
// epoch and the tree's generation change, or (for a removed member) the
// group becomes inactive. Proposals, pending Commits and messages store
// nothing of it.
type encodedTree struct {
	tree   *ratchettree.Tree
	epoch  uint64
	gen    uint64
	active bool
	// stored: the RatchetTreeStore holds tree (generation gen) as the
	// record of epoch, which ends a chain of chainLen change records
	// (costing chainCost: treeChainFull) after a whole record of whole
	// bytes.
	stored                     bool
	chainLen, chainCost, whole int
	// wholes lists (ascending) the epochs of the stored whole records that
	// kept epochs may still need.
	wholes []uint64
	// low, if lowKnown, is an epoch below which the RatchetTreeStore holds
	// no record of the group, and above which none but those of epochs up
	// to epoch: pruneEpochs then deletes the records below the new lowest
	// one kept without listing them all (O(chain) per Commit).
	low      uint64
	lowKnown bool
	// enc: the encoding of tree, kept for the GroupState of a removed
	// member.
	enc []byte
}

// treeGen is the generation the staged group's current tree has once the
// change is installed.
func (c *change) treeGen() uint64 {
	gen := c.next.epoch.tree.Generation()
	if c.diff != nil {
		gen++
	}
	return gen
}

// ratchetTree is the staged group's current tree in the form of the
// ratchet_tree extension.
func (c *change) ratchetTree() codec.RatchetTree {
	if c.diff != nil {
		return c.diff.RatchetTree()
	}
	return c.next.epoch.tree.RatchetTree()
}

// treeCached reports whether the tree cache describes the staged group's
// current tree.
func (c *change) treeCached() bool {
	g := c.next
	tc := &g.treeCache
	return tc.tree == g.epoch.tree && tc.epoch == g.epoch.ctx.Epoch && tc.gen == c.treeGen() && tc.active == g.active
}

// removed reports whether this member was removed from the group (inactive
// without a ReInit): its GroupState then keeps its tree inline.
func (g *Group) removed() bool { return !g.active && g.reinit == nil }

// saveCurrentTree writes in tx the RatchetTreeStore record of the staged
// group's current epoch, unless it already holds the current tree (or the
// member was removed): once per epoch, at the first save of the epoch.
// After a merged Commit the record is the Commit's change of the previous
// epoch's record (the Diff's Changes), O(change); whole when that chain
// grew too long.
func (c *change) saveCurrentTree(tx providers.Records) error {
	g := c.next
	tc := &g.treeCache
	t, epoch := g.epoch.tree, g.epoch.ctx.Epoch
	if g.removed() || tc.stored && c.treeCached() {
		return nil
	}
	var b []byte
	if c.diff != nil && tc.stored && tc.tree == t && tc.epoch+1 == epoch && tc.gen == t.Generation() {
		var (
			delta *record.TreeDelta
			err   error
		)
		if p := c.g.pending; p != nil && p.diff == c.diff {
			// Our pending Commit merged: its change, as its record
			// holds it.
			delta, err = p.treeDelta()
		} else {
			var d record.TreeDelta
			d, err = treeDeltaRecord(c.diff.Changes())
			delta = &d
		}
		if err != nil {
			return fmt.Errorf("mls: encoding the change of the ratchet tree: %w", err)
		}
		rec := record.RatchetTreeRecord{Type: record.TreeRecordTypeDelta, Delta: delta}
		if b, err = rec.AppendTo(g.scratchFor(rec.Size())); err != nil {
			g.releaseScratch(b)
			return fmt.Errorf("mls: encoding the change of the ratchet tree: %w", err)
		}
		if treeChainFull(tc.chainCost, len(b), tc.whole) {
			g.releaseScratch(b)
			b = nil // the chain outgrew the tree: store it whole
		}
	}
	delta := b != nil
	if !delta {
		rec, err := c.wholeTreeRecord()
		if err != nil {
			return err
		}
		if b, err = rec.AppendTo(g.scratchFor(rec.Size())); err != nil {
			g.releaseScratch(b)
			return fmt.Errorf("mls: encoding the ratchet tree: %w", err)
		}
	}
	err := tx.WriteRatchetTree(g.epoch.ctx.GroupID, epoch, b)
	n := len(b)
	g.releaseScratch(b)
	if err != nil {
		return fmt.Errorf("mls: writing the ratchet tree of epoch %d: %w", epoch, err)
	}
	c.treeStored(n, delta)
	return nil
}

// wholeTreeRecord returns the RatchetTreeRecord of the staged group's
// current tree, whole. A tree decoded from a ratchet_tree extension keeps
// its encoding (tc.enc, set by Stage): the codec is canonical, so it is
// the one Marshal would give.
func (c *change) wholeTreeRecord() (record.RatchetTreeRecord, error) {
	enc := c.next.treeCache.enc
	if enc == nil || !c.treeCached() {
		var err error
		if enc, err = c.ratchetTree().Marshal(); err != nil {
			return record.RatchetTreeRecord{}, fmt.Errorf("mls: encoding the ratchet tree: %w", err)
		}
	}
	return record.RatchetTreeRecord{Type: record.TreeRecordTypeWhole, RatchetTree: enc}, nil
}

// treeStored records in the staged group's tree cache that the
// RatchetTreeStore record of its current epoch, of n bytes, is written:
// a change of the previous epoch's (delta) or the whole tree.
func (c *change) treeStored(n int, delta bool) {
	g := c.next
	tc := &g.treeCache
	epoch := g.epoch.ctx.Epoch
	next := encodedTree{tree: g.epoch.tree, epoch: epoch, gen: c.treeGen(), active: g.active, stored: true, wholes: tc.wholes, low: tc.low, lowKnown: tc.lowKnown}
	if delta {
		next.chainLen, next.chainCost, next.whole = tc.chainLen+1, tc.chainCost+n+treeRecordCost, tc.whole
	} else {
		next.whole = n
		next.wholes = append(slices.DeleteFunc(next.wholes, func(w uint64) bool { return w >= epoch }), epoch)
	}
	*tc = next
}

// treeDeltaRecord converts a change set of a ratchet tree. The nodes are
// encoded one after the other into one buffer of their total size, not
// each into its own grown from nothing.
func treeDeltaRecord(n ratchettree.LeafCount, changes []ratchettree.NodeChange) (record.TreeDelta, error) {
	d := record.TreeDelta{LeafCount: uint32(n), Changes: make([]record.TreeChange, len(changes))}
	size := 0
	for _, c := range changes {
		if c.Value != nil {
			size += c.Value.Size()
		}
	}
	buf := make([]byte, 0, size)
	for i, c := range changes {
		d.Changes[i].Node = uint32(c.Node)
		if c.Value == nil {
			continue
		}
		start := len(buf)
		var err error
		if buf, err = c.Value.AppendTo(buf); err != nil {
			return record.TreeDelta{}, fmt.Errorf("node %d: %w", c.Node, err)
		}
		d.Changes[i].Value = buf[start:len(buf):len(buf)]
	}
	return d, nil
}

// currentTreeEncoding returns the encoding of the staged group's current
// ratchet tree (for the GroupState of a removed member).
func (c *change) currentTreeEncoding() ([]byte, error) {
	g := c.next
	tc := &g.treeCache
	if tc.enc != nil && c.treeCached() {
		return tc.enc, nil
	}
	rt := c.ratchetTree()
	enc, err := rt.Marshal()
	if err != nil {
		return nil, fmt.Errorf("mls: encoding the ratchet tree: %w", err)
	}
	*tc = encodedTree{tree: g.epoch.tree, epoch: g.epoch.ctx.Epoch, gen: c.treeGen(), active: g.active, enc: enc, wholes: tc.wholes, low: tc.low, lowKnown: tc.lowKnown}
	return enc, nil
}

// epochStateRecord encodes an epoch except its secret tree, with the
// encoded ratchet tree if it is stored inline (nil otherwise).
func epochStateRecord(e *epoch, tree []byte) (record.EpochState, error) {
	rec := record.EpochState{
		GroupContext: e.ctxBytes,
		RatchetTree:  tree,
		OwnLeaf:      uint32(e.own),
		Secrets: record.KeyScheduleSecrets{
			SenderDataSecret:   e.secrets.SenderData,
			ExporterSecret:     e.secrets.Exporter,
			ExternalSecret:     e.secrets.External,
			ConfirmationKey:    e.secrets.Confirmation,
			MembershipKey:      e.secrets.Membership,
			ResumptionPSK:      e.secrets.Resumption,
			EpochAuthenticator: e.secrets.EpochAuthenticator,
			InitSecret:         e.secrets.Init,
		},
		InterimTranscriptHash: e.interim,
		ConfirmationTag:       e.confirmationTag,
	}
	if e.keys != nil {
		nodes := e.keys.Nodes()
		rec.PrivateKeys = make([]record.NodePrivateKey, len(nodes))
		for i, x := range nodes {
			priv, pub, _ := e.keys.Get(x)
			rec.PrivateKeys[i] = record.NodePrivateKey{Node: uint32(x), PrivateKey: priv, PublicKey: pub}
		}
	}
	return rec, nil
}

// ---------------------------------------------------------------------------
// Loading

// LoadGroup loads the group groupID from the client's storage, as the last
// change of the group wrote it (RFC 9420 keeps no state a member could
// recompute, so this is the group exactly as it was, including the proposal
// store, the kept past epochs and a pending Commit). The client provides the
// crypto provider, the storage, the credential validator and the clock;
// the signature key pair is c.Signer if its public key is the group's, and
// otherwise is read from the storage (a new *SignatureKeyPair of a merged
// Commit is stored there automatically; store others with
// SignatureKeyPair.Store).
//
// Load a group once and keep using that Group: two Groups loaded from the
// same record would each write their own changes over the other's.
//
// Errors: one matching ErrNotFound (providers.ErrNotFound) when no group is
// stored under groupID; ErrSignerNotFound, which matches ErrNotFound too,
// when the group is stored but its signature key pair (or that of its
// pending Commit) is neither c.Signer nor stored; ErrCorruptState when a record does not decode, has a
// format version this release does not know, or is inconsistent (a tree
// whose hash is not the GroupContext's, a secret of the wrong size, a
// missing epoch record).
//
// A group stored by an earlier release, in an earlier format version, is
// first rewritten in the current one, in one storage transaction (a
// failure leaves the old records, which load again); errors of the store
// during that migration are returned as they are.
func LoadGroup(c *Client, groupID []byte) (*Group, error) {
	if c == nil || c.Provider == nil || c.Storage == nil {
		return nil, fmt.Errorf("%w: LoadGroup needs a Client with a Provider and Storage", ErrInvalidArgument)
	}
	if err := c.Limits.validate(); err != nil {
		return nil, invalidConfig(fmt.Errorf("Client.Limits: %w", err))
	}
	version, b, err := c.Storage.ReadGroupState(groupID)
	if err != nil {
		return nil, fmt.Errorf("mls: loading group %x: %w", groupID, err)
	}
	if version == 1 || version == 2 {
		// Stored by an earlier release: migrated to version 3 in one
		// transaction (migrate.go), then loaded as any group.
		clear(b)
		if err := migrateGroup(c.Storage, groupID); err != nil {
			return nil, err
		}
		if version, b, err = c.Storage.ReadGroupState(groupID); err != nil {
			return nil, fmt.Errorf("mls: loading group %x: %w", groupID, err)
		}
	}
	var rec record.GroupState
	switch version {
	case groupStateVersion:
		if err := rec.Unmarshal(b); err != nil {
			clear(b)
			return nil, corrupt("group state", err)
		}
	case 4:
		var v4 record.GroupStateV4
		err := v4.Unmarshal(b)
		if err == nil {
			rec, err = groupStateFromV4(&v4)
		}
		if err != nil {
			clear(b)
			return nil, corrupt("group state", err)
		}
	case 3:
		var v3 record.GroupStateV3
		if err := v3.Unmarshal(b); err != nil {
			clear(b)
			return nil, corrupt("group state", err)
		}
		rec = groupStateFromV3(&v3)
	case publicGroupStateVersion:
		return nil, corrupt("group state", errors.New("the record is a PublicGroup's (LoadPublicGroup)"))
	default:
		clear(b)
		return nil, corrupt("group state", fmt.Errorf("format version %d, this release reads %d", version, groupStateVersion))
	}
	clear(b) // rec holds its own copy, whose secrets loadGroup erases once copied
	g, err := loadGroup(c, groupID, &rec)
	if err != nil {
		return nil, err
	}
	return g, nil
}

func loadGroup(c *Client, groupID []byte, rec *record.GroupState) (*Group, error) {
	var ctx codec.GroupContext
	if err := ctx.Unmarshal(rec.Current.GroupContext); err != nil {
		return nil, corrupt("group context", err)
	}
	if !bytes.Equal(ctx.GroupID, groupID) {
		return nil, corrupt("group context", fmt.Errorf("group id %x stored under %x", ctx.GroupID, groupID))
	}
	cs, err := c.Provider.CipherSuite(ctx.CipherSuite)
	if err != nil {
		return nil, err
	}
	cfg, err := runtimeConfigOf(&rec.Config)
	if err != nil {
		return nil, err
	}
	g := c.newGroup(cs, cfg)
	g.signer = nil // the group's own, loaded below
	g.active = rec.Active == record.BoolTrue
	ok := false
	defer func() {
		if !ok {
			g.zeroAll()
		}
	}()
	if g.signer, err = loadSigner(c, rec.SignerPublicKey); err != nil {
		return nil, err
	}
	if rec.ReInit != nil {
		var ri codec.ReInit
		if err := ri.Unmarshal(*rec.ReInit); err != nil {
			return nil, corrupt("ReInit", err)
		}
		g.reinit = &ri
	}
	// The current epoch, with its secret tree from its EpochSecrets record.
	es, err := readEpochSecrets(c.Storage, groupID, ctx.Epoch)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(es.GroupContext, rec.Current.GroupContext) {
		return nil, corrupt("epoch secrets", fmt.Errorf("group context of epoch %d differs from the group state's", ctx.Epoch))
	}
	// A member that was removed (inactive without a ReInit) keeps the tree
	// of the Commit that removed it, inline, next to its last GroupContext;
	// otherwise the tree is the epoch's RatchetTreeStore record.
	removed := g.removed()
	inline := len(rec.Current.RatchetTree) > 0
	if removed != inline {
		return nil, corrupt("group state", fmt.Errorf("ratchet tree inline: %v, member removed: %v", inline, removed))
	}
	// The trees of the kept epochs (newest first, before the current).
	var kept []uint64
	for i, e := range rec.PastEpochs {
		if e >= ctx.Epoch || i > 0 && e >= rec.PastEpochs[i-1] {
			return nil, corrupt("group state", fmt.Errorf("past epochs %v in epoch %d", rec.PastEpochs, ctx.Epoch))
		}
		kept = append(kept, e)
	}
	slices.Reverse(kept)
	if !inline {
		kept = append(kept, ctx.Epoch)
	}
	trees, chain, err := loadTrees(cs, c.Storage, groupID, kept)
	if err != nil {
		return nil, err
	}
	var tree *ratchettree.Tree
	if inline {
		if tree, err = ratchettree.DecodeRatchetTree(cs, rec.Current.RatchetTree); err != nil {
			return nil, corrupt("ratchet tree", err)
		}
	} else {
		tree = trees[ctx.Epoch]
	}
	if g.epoch, err = g.loadEpoch(&rec.Current, func() (*secrettree.Tree, error) {
		return g.readSecretTree(c.Storage, groupID, ctx.Epoch, es.LeafCount)
	}, tree, !removed); err != nil {
		return nil, err
	}
	g.epoch.tree = tree
	g.treeCache = chain
	g.treeCache.tree, g.treeCache.epoch, g.treeCache.gen, g.treeCache.active = tree, ctx.Epoch, tree.Generation(), g.active
	if inline {
		g.treeCache.stored, g.treeCache.enc = false, bytes.Clone(rec.Current.RatchetTree)
	}
	clear(es.SenderDataSecret)
	clear(es.MembershipKey)

	if g.proposals, err = loadProposals(rec.Proposals, ctx.Epoch); err != nil {
		return nil, err
	}
	for _, e := range rec.PastEpochs {
		pe, err := g.loadPastEpoch(groupID, e, trees[e])
		if err != nil {
			return nil, err
		}
		g.past = append(g.past, pe)
	}
	for _, r := range rec.ResumptionPsks {
		if len(r.PSK) != cs.HashSize() {
			return nil, corrupt("resumption PSK", fmt.Errorf("%d bytes", len(r.PSK)))
		}
		g.resumption = append(g.resumption, resumptionPSK{epoch: r.Epoch, psk: bytes.Clone(r.PSK)})
		clear(r.PSK)
	}
	if pc := rec.PendingCommit; pc != nil {
		if g.pending, err = g.loadPending(c, pc); err != nil {
			return nil, err
		}
	}
	ok = true
	return g, nil
}

// zeroAll erases the secrets of a partly loaded group.
func (g *Group) zeroAll() {
	if g.epoch != nil {
		g.epoch.zero()
		if g.epoch.keys != nil {
			g.epoch.keys.Zero()
		}
	}
	for _, p := range g.past {
		p.protector.Zero()
		clear(p.senderData)
		clear(p.membership)
	}
	for _, r := range g.resumption {
		clear(r.psk)
	}
	if g.pending != nil {
		g.pending.drop()
	}
}

// loadSigner returns c.Signer if its public key is pub, otherwise the key
// pair stored under pub.
func loadSigner(c *Client, pub []byte) (providers.Signer, error) {
	if c.Signer != nil && bytes.Equal(c.Signer.PublicKey(), pub) {
		return c.Signer, nil
	}
	kp, err := LoadSignatureKeyPair(c.Provider, c.Storage, pub)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w (public key %x)", ErrSignerNotFound, pub)
	}
	if err != nil {
		return nil, fmt.Errorf("mls: the group's signature key pair: %w", err)
	}
	return kp, nil
}

// runtimeConfigOf decodes the runtime configuration and checks it as
// GroupConfig.Validate would.
func runtimeConfigOf(r *record.RuntimeConfig) (GroupConfig, error) {
	c := GroupConfig{
		WireFormatPolicy:        WireFormatPolicy{Outgoing: OutgoingWireFormatPolicy(r.OutgoingWireFormat), Incoming: IncomingWireFormatPolicy(r.IncomingWireFormat)},
		PaddingSize:             int(r.PaddingSize),
		MaxPastEpochs:           int(r.MaxPastEpochs),
		NumberOfResumptionPSKs:  int(r.NumberOfResumptionPsks),
		UseRatchetTreeExtension: r.UseRatchetTreeExtension == record.BoolTrue,
		SenderRatchet:           SenderRatchetConfig{OutOfOrderTolerance: r.OutOfOrderTolerance, MaximumForwardDistance: r.MaximumForwardDistance},
	}
	if err := c.Validate(); err != nil {
		return GroupConfig{}, corrupt("configuration", err)
	}
	return c.withDefaults(), nil
}

// readEpochSecrets reads and decodes the EpochSecrets record of an epoch.
func readEpochSecrets(s providers.EpochSecretStore, groupID []byte, epoch uint64) (*record.EpochSecrets, error) {
	b, err := s.ReadEpochSecrets(groupID, epoch)
	if errors.Is(err, providers.ErrNotFound) {
		return nil, corrupt("epoch secrets", fmt.Errorf("no record for epoch %d: %w", epoch, err))
	}
	if err != nil {
		return nil, fmt.Errorf("mls: reading the secrets of epoch %d: %w", epoch, err)
	}
	var es record.EpochSecrets
	if err := es.Unmarshal(b); err != nil {
		return nil, corrupt("epoch secrets", err)
	}
	if es.Epoch != epoch {
		return nil, corrupt("epoch secrets", fmt.Errorf("record of epoch %d stored as epoch %d", es.Epoch, epoch))
	}
	return &es, nil
}

// readRatchetTree reads and decodes the RatchetTreeStore record of an
// epoch; size is its encoded size.
func readRatchetTree(s providers.RatchetTreeStore, groupID []byte, epoch uint64) (rec *record.RatchetTreeRecord, size int, err error) {
	b, err := s.ReadRatchetTree(groupID, epoch)
	if errors.Is(err, providers.ErrNotFound) {
		return nil, 0, corrupt("ratchet tree", fmt.Errorf("no record for epoch %d: %w", epoch, err))
	}
	if err != nil {
		return nil, 0, fmt.Errorf("mls: reading the ratchet tree of epoch %d: %w", epoch, err)
	}
	rec = new(record.RatchetTreeRecord)
	if err := rec.Unmarshal(b); err != nil {
		return nil, 0, corrupt("ratchet tree", fmt.Errorf("record of epoch %d: %w", epoch, err))
	}
	return rec, len(b), nil
}

// loadTrees rebuilds the ratchet trees of the kept epochs (ascending,
// consecutive in practice) from their RatchetTreeStore records: the last
// whole record at or before the first, then each epoch's change up to the
// last. The last epoch's tree is the one the changes were merged into (so
// that its LastMerge continues the chain); the others are clones. It also
// returns the state of the chain for saveCurrentTree and pruning. The tree
// hashes are checked against the GroupContexts by the caller.
func loadTrees(cs providers.CipherSuite, s providers.RatchetTreeStore, groupID []byte, kept []uint64) (map[uint64]*ratchettree.Tree, encodedTree, error) {
	trees := make(map[uint64]*ratchettree.Tree, len(kept))
	var chain encodedTree
	if len(kept) == 0 {
		return trees, chain, nil
	}
	first, last := kept[0], kept[len(kept)-1]
	// Back from the first kept epoch to a whole record.
	recs := map[uint64]*record.RatchetTreeRecord{}
	sizes := map[uint64]int{}
	base := first
	for {
		rec, size, err := readRatchetTree(s, groupID, base)
		if err != nil {
			return nil, chain, err
		}
		recs[base], sizes[base] = rec, size
		if rec.Type == record.TreeRecordTypeWhole {
			break
		}
		if base == 0 {
			return nil, chain, corrupt("ratchet tree", errors.New("no whole tree before the change of epoch 0"))
		}
		base--
	}
	var t *ratchettree.Tree
	next := 0
	for e := base; ; e++ {
		rec, size := recs[e], sizes[e]
		if rec == nil {
			var err error
			if rec, size, err = readRatchetTree(s, groupID, e); err != nil {
				return nil, chain, err
			}
		}
		switch rec.Type {
		case record.TreeRecordTypeWhole:
			var err error
			// The record was decoded from a copy of what the store
			// returned (Unmarshal), which nothing else holds: the tree
			// is decoded in place and keeps it as its encoding.
			if t, err = ratchettree.DecodeOwnedRatchetTree(cs, rec.RatchetTree); err != nil {
				return nil, chain, corrupt("ratchet tree", fmt.Errorf("epoch %d: %w", e, err))
			}
			chain.whole, chain.chainLen, chain.chainCost = size, 0, 0
			chain.wholes = append(chain.wholes, e)
		default:
			if t == nil || rec.Delta == nil {
				return nil, chain, corrupt("ratchet tree", fmt.Errorf("epoch %d: a change without a tree", e))
			}
			d, err := stageTreeDelta(t, rec.Delta)
			if err != nil {
				return nil, chain, corrupt("ratchet tree", fmt.Errorf("change of epoch %d: %w", e, err))
			}
			if _, err := d.Merge(); err != nil {
				return nil, chain, corrupt("ratchet tree", fmt.Errorf("change of epoch %d: %w", e, err))
			}
			chain.chainLen++
			chain.chainCost += size + treeRecordCost
		}
		if next < len(kept) && kept[next] == e {
			next++
			if e == last {
				trees[e] = t
			} else {
				trees[e] = t.Clone()
			}
		}
		if e == last {
			break
		}
	}
	chain.stored = true
	return trees, chain, nil
}

// stageTreeDelta stages a stored change of a ratchet tree on t.
func stageTreeDelta(t *ratchettree.Tree, rec *record.TreeDelta) (*ratchettree.Diff, error) {
	// A Commit applies its Removes before its Adds (RFC 9420 §12.3), so
	// the tree it extends to is at most twice its old leaves plus the
	// leaves it adds, each of which is a change: a bound on what a
	// corrupt record can make StageChanges allocate.
	if uint64(rec.LeafCount) > 2*(uint64(t.LeafCount())+uint64(len(rec.Changes))) {
		return nil, fmt.Errorf("%d leaves from %d with %d changes", rec.LeafCount, t.LeafCount(), len(rec.Changes))
	}
	changes := make([]ratchettree.NodeChange, len(rec.Changes))
	for i, tc := range rec.Changes {
		changes[i].Node = treemath.NodeIndex(tc.Node)
		if len(tc.Value) == 0 {
			continue
		}
		changes[i].Value = new(codec.Node)
		if err := changes[i].Value.Unmarshal(tc.Value); err != nil {
			return nil, fmt.Errorf("node %d: %w", tc.Node, err)
		}
	}
	return t.StageChanges(treemath.LeafCount(rec.LeafCount), changes)
}

// checkSecret checks that a stored secret has the suite's hash size and is
// not all zeros (an erased secret: using it would derive public values).
func (g *Group) checkSecret(what string, s []byte) error {
	if err := checkLive(g.cs, what, s); err != nil {
		return corrupt(what, err)
	}
	return nil
}

// ErrErasedSecret: a secret that was erased (§9.2) was about to be used or
// stored: the group or object it belongs to was discarded or ended.
var ErrErasedSecret = errors.New("mls: secret was erased")

// checkLive checks a secret before it is read: the suite's hash size, and
// not erased (nil or all zeros, which would give every observer the values
// derived from it).
func checkLive(cs providers.CipherSuite, what string, s []byte) error {
	if len(s) == 0 {
		return fmt.Errorf("%w: %s", ErrErasedSecret, what)
	}
	if len(s) != cs.HashSize() {
		return fmt.Errorf("%s: %d bytes, want %d", what, len(s), cs.HashSize())
	}
	var or byte
	for _, b := range s {
		or |= b
	}
	if or == 0 {
		return fmt.Errorf("%w: %s is all zeros", ErrErasedSecret, what)
	}
	return nil
}

// epochTree is the ratchet tree of a loaded epoch: a *ratchettree.Tree, or
// the *ratchettree.Diff of a pending Commit.
type epochTree interface {
	treekem.TreeView
	TreeHash() ([]byte, error)
}

// loadEpoch rebuilds an epoch, except its tree field, from its record,
// its secret tree's and its ratchet tree. checkKeys: check the tree hash
// against the GroupContext and the private keys against the tree (not for
// a removed member, whose stored tree is the one of the Commit that removed
// it, with its leaf blank, next to the last GroupContext it knew).
func (g *Group) loadEpoch(rec *record.EpochState, loadSecretTree func() (*secrettree.Tree, error), tree epochTree, checkKeys bool) (*epoch, error) {
	e := &epoch{ctxBytes: bytes.Clone(rec.GroupContext), own: LeafIndex(rec.OwnLeaf)}
	if err := e.ctx.Unmarshal(e.ctxBytes); err != nil {
		return nil, corrupt("group context", err)
	}
	if e.ctx.CipherSuite != g.cs.ID() {
		return nil, corrupt("group context", fmt.Errorf("cipher suite %v in a group of %v", e.ctx.CipherSuite, g.cs.ID()))
	}
	th, err := tree.TreeHash()
	if err != nil {
		return nil, corrupt("ratchet tree", err)
	}
	if checkKeys && !bytes.Equal(th, e.ctx.TreeHash) {
		return nil, corrupt("ratchet tree", errors.New("tree hash differs from the GroupContext's"))
	}
	s := &rec.Secrets
	e.secrets = keyschedule.EpochSecrets{
		SenderData:         bytes.Clone(s.SenderDataSecret),
		Exporter:           bytes.Clone(s.ExporterSecret),
		External:           bytes.Clone(s.ExternalSecret),
		Confirmation:       bytes.Clone(s.ConfirmationKey),
		Membership:         bytes.Clone(s.MembershipKey),
		Resumption:         bytes.Clone(s.ResumptionPSK),
		EpochAuthenticator: bytes.Clone(s.EpochAuthenticator),
		Init:               bytes.Clone(s.InitSecret),
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{"sender_data_secret", s.SenderDataSecret}, {"exporter_secret", s.ExporterSecret}, {"external_secret", s.ExternalSecret}, {"confirmation_key", s.ConfirmationKey}, {"membership_key", s.MembershipKey}, {"resumption_psk", s.ResumptionPSK}, {"epoch_authenticator", s.EpochAuthenticator}, {"init_secret", s.InitSecret}} {
		if err := g.checkSecret(f.name, f.b); err != nil {
			e.secrets.Zero()
			return nil, err
		}
		clear(f.b)
	}
	e.interim = bytes.Clone(rec.InterimTranscriptHash)
	e.confirmationTag = bytes.Clone(rec.ConfirmationTag)
	e.keys = treekem.NewPrivateKeys()
	for i := range rec.PrivateKeys {
		k := &rec.PrivateKeys[i]
		e.keys.Set(treemath.NodeIndex(k.Node), k.PrivateKey, k.PublicKey)
		clear(k.PrivateKey)
	}
	if checkKeys {
		// Our keys are those of the tree's nodes (§7.4).
		if err := e.keys.Check(g.cs, tree); err != nil {
			e.zero()
			e.keys.Zero()
			return nil, corrupt("private keys", err)
		}
	}
	st, err := loadSecretTree()
	if err != nil {
		e.zero()
		e.keys.Zero()
		return nil, err
	}
	if checkKeys && st.LeafCount() != tree.LeafCount() {
		st.Zero()
		e.zero()
		e.keys.Zero()
		return nil, corrupt("secret tree", fmt.Errorf("%d leaves, ratchet tree has %d", st.LeafCount(), tree.LeafCount()))
	}
	e.protector, err = framing.NewProtector(g.cs, &e.ctx, framing.EpochSecrets{SenderDataSecret: e.secrets.SenderData, MembershipKey: e.secrets.Membership}, st, g.protectorOptions())
	if err != nil {
		st.Zero()
		e.zero()
		e.keys.Zero()
		return nil, corrupt("epoch", err)
	}
	return e, nil
}

// loadPastEpoch rebuilds a kept past epoch from its EpochSecrets record and
// its ratchet tree (rebuilt by loadTrees), checked against its GroupContext.
func (g *Group) loadPastEpoch(groupID []byte, epoch uint64, tree *ratchettree.Tree) (*pastEpoch, error) {
	es, err := readEpochSecrets(g.store, groupID, epoch)
	if err != nil {
		return nil, err
	}
	ctx := new(codec.GroupContext)
	if err := ctx.Unmarshal(bytes.Clone(es.GroupContext)); err != nil {
		return nil, corrupt("group context of a past epoch", err)
	}
	if ctx.Epoch != epoch || ctx.CipherSuite != g.cs.ID() || !bytes.Equal(ctx.GroupID, groupID) {
		return nil, corrupt("group context of a past epoch", fmt.Errorf("epoch %d of group %x stored as epoch %d", ctx.Epoch, ctx.GroupID, epoch))
	}
	if th, err := tree.TreeHash(); err != nil || !bytes.Equal(th, ctx.TreeHash) {
		return nil, corrupt("ratchet tree of a past epoch", fmt.Errorf("tree hash differs from the GroupContext's (%v)", err))
	}
	if err := g.checkSecret("sender_data_secret", es.SenderDataSecret); err != nil {
		return nil, err
	}
	if err := g.checkSecret("membership_key", es.MembershipKey); err != nil {
		return nil, err
	}
	st, err := g.readSecretTree(g.store, groupID, epoch, es.LeafCount)
	if err != nil {
		return nil, err
	}
	pe := &pastEpoch{epoch: epoch, tree: tree, senderData: bytes.Clone(es.SenderDataSecret), membership: bytes.Clone(es.MembershipKey)}
	clear(es.SenderDataSecret)
	clear(es.MembershipKey)
	pe.protector, err = framing.NewProtector(g.cs, ctx, framing.EpochSecrets{SenderDataSecret: pe.senderData, MembershipKey: pe.membership}, st, g.protectorOptions())
	if err != nil {
		st.Zero()
		clear(pe.senderData)
		clear(pe.membership)
		return nil, corrupt("past epoch", err)
	}
	return pe, nil
}

// loadPending rebuilds our pending Commit: the epoch it starts, and its
// change of the current ratchet tree, staged again as the Diff that
// MergePendingCommit merges, as after Commit.
func (g *Group) loadPending(c *Client, rec *record.PendingCommit) (*pendingCommit, error) {
	if len(rec.Next.RatchetTree) > 0 {
		return nil, corrupt("pending commit", errors.New("a whole ratchet tree instead of a change"))
	}
	diff, err := stageTreeDelta(g.epoch.tree, &rec.Tree)
	if err != nil {
		return nil, corrupt("ratchet tree of the pending commit", err)
	}
	// next.tree stays nil until install sets it, as for a freshly created
	// pending Commit.
	// Its secret tree is stored whole in the GroupState; once merged it is
	// stored node by node, so every node counts as changed.
	next, err := g.loadEpoch(&rec.Next, func() (*secrettree.Tree, error) {
		st, err := secrettree.Import(g.cs, &rec.SecretTree, g.cfg.senderRatchet())
		if err != nil {
			return nil, corrupt("secret tree", err)
		}
		st.MarkAllChanged()
		return st, nil
	}, diff, true)
	secrettree.ZeroRecord(&rec.SecretTree)
	if err != nil {
		return nil, fmt.Errorf("pending commit: %w", err)
	}
	p := &pendingCommit{next: next, diff: diff, res: &proposalResult{}}
	if rec.ReInit != nil {
		var ri codec.ReInit
		if err := ri.Unmarshal(*rec.ReInit); err != nil {
			p.drop()
			return nil, corrupt("ReInit of the pending commit", err)
		}
		p.res.reinit = &ri
	}
	if len(rec.NewSignerPublicKey) > 0 {
		if p.newSigner, err = loadSigner(c, rec.NewSignerPublicKey); err != nil {
			p.drop()
			return nil, err
		}
	}
	if len(rec.Commit) > 0 || len(rec.MessageHash) > 0 {
		if err := g.restorePendingCommit(p, rec); err != nil {
			p.drop()
			return nil, corrupt("pending commit", err)
		}
	}
	return p, nil
}

// restorePendingCommit restores what a pending Commit's record (of version
// 4 or later) says of the Commit as sent: its message hash (for its echo)
// and its proposals, with its description (PendingCommitInfo).
func (g *Group) restorePendingCommit(p *pendingCommit, rec *record.PendingCommit) error {
	commit := new(codec.Commit)
	if err := commit.Unmarshal(rec.Commit); err != nil {
		return err
	}
	if commit.Path != nil || len(rec.MessageHash) != g.cs.HashSize() {
		return errors.New("stored commit is not a Commit's proposals with its message hash")
	}
	p.proposals, p.msgHash = commit, bytes.Clone(rec.MessageHash)
	for _, l := range rec.AddedLeaves {
		p.res.added = append(p.res.added, LeafIndex(l))
	}
	for _, l := range rec.RemovedLeaves {
		p.res.removed = append(p.res.removed, LeafIndex(l))
	}
	props, err := g.resolveProposals(commit, codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: uint32(g.epoch.own)})
	if err != nil {
		return err
	}
	p.info = g.newPendingCommitInfo(props, p.res)
	return nil
}

// DeleteGroup erases the group groupID from s: its state and the secrets of
// every stored epoch (RFC 9420 §9.2), in one transaction. Key material the
// group does not own (the signature key pair, key packages, external PSKs)
// stays. Deleting a group that is not stored succeeds.
func DeleteGroup(s providers.Storage, groupID []byte) error {
	if s == nil {
		return fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	return s.Update(func(tx providers.Records) error { return deleteGroup(tx, groupID) })
}

func deleteGroup(s providers.Records, groupID []byte) error {
	epochs, err := s.ListEpochs(groupID)
	if err != nil {
		return fmt.Errorf("mls: listing stored epochs: %w", err)
	}
	for _, e := range epochs {
		if err := s.DeleteEpochSecrets(groupID, e); err != nil {
			return fmt.Errorf("mls: deleting the secrets of epoch %d: %w", e, err)
		}
		if err := deleteTreeNodes(s, groupID, e); err != nil {
			return err
		}
	}
	trees, err := s.ListRatchetTrees(groupID)
	if err != nil {
		return fmt.Errorf("mls: listing stored ratchet trees: %w", err)
	}
	for _, e := range trees {
		if err := s.DeleteRatchetTree(groupID, e); err != nil {
			return fmt.Errorf("mls: deleting the ratchet tree of epoch %d: %w", e, err)
		}
	}
	if err := s.DeleteGroupState(groupID); err != nil {
		return fmt.Errorf("mls: deleting the group state: %w", err)
	}
	return nil
}
