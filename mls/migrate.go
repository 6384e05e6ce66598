package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// Migration of groups stored in an earlier format version.
//
// Every format version of the group records that a commit of the project
// has written can be loaded: LoadGroup rewrites a group of version 1 or 2
// as version 3 (migratedVersion) before loading it, in one storage
// transaction, so that a failure or crash during the migration leaves the
// old records as they were, and loadable again. Versions 3 and 4 differ
// from the current one only in their GroupState (GroupStateV3,
// GroupStateV4), which LoadGroup reads as it is (groupStateFromV3,
// groupStateFromV4); the next change of the group writes the current
// version. The old record layouts are in schema/state.tls
// (EpochSecretsV2, EpochSecretsV1, GroupStateV1, PendingCommitV1,
// GroupStateV3 and GroupStateV4); testdata/fixtures holds groups written
// by the code of each version that is migrated.
//
//   - Version 2 → 3 (48b0a35): an epoch's secret tree moved from its
//     EpochSecrets record (inline SecretTree) to the SecretTreeStore, one
//     SecretTreeNode record per node that holds a node secret or a leaf's
//     ratchets; the EpochSecrets record keeps the tree's leaf_count. The
//     GroupState kept its layout (GroupStateV3).
//   - Version 1 → 3 (880d851 introduced version 2): the ratchet trees
//     moved to the RatchetTreeStore. The current epoch's whole tree (in the
//     GroupState) and each kept past epoch's (in its EpochSecrets record)
//     become whole RatchetTreeRecords, but a removed member's, which stays
//     inline as in version 2; a pending Commit's whole next tree becomes
//     its change of the current tree (TreeDelta); then as from version 2.
//
// The migration moves records without interpreting their secrets: LoadGroup
// then loads the migrated records with all its checks, and a record that
// was corrupt before is as corrupt after.

// migratedVersion is the format version migrateGroup writes.
const migratedVersion uint16 = 3

// migrateGroup rewrites the records of the group groupID, stored in format
// version 1 or 2, as version migratedVersion, in one transaction. A group
// of a later version (migrated meanwhile) is left as it is.
func migrateGroup(s providers.Storage, groupID []byte) error {
	return s.Update(func(tx providers.Records) error {
		version, b, err := tx.ReadGroupState(groupID)
		if err != nil {
			return fmt.Errorf("mls: loading group %x: %w", groupID, err)
		}
		defer clear(b)
		switch version {
		case migratedVersion, 4, groupStateVersion:
			return nil
		case 2:
			return migrateV2(tx, groupID, b)
		case 1:
			return migrateV1(tx, groupID, b)
		}
		return corrupt("group state", fmt.Errorf("format version %d, this release reads %d", version, groupStateVersion))
	})
}

// migrateV2 rewrites a group of format version 2 in tx.
func migrateV2(tx providers.Records, groupID, gs []byte) error {
	// The GroupState's layout did not change: check that it decodes, and
	// store it again under the new version once its epochs are migrated.
	var rec record.GroupStateV3
	if err := rec.Unmarshal(gs); err != nil {
		return corrupt("group state of format version 2", err)
	}
	zeroKeySchedule(&rec.Current)
	if rec.PendingCommit != nil {
		zeroKeySchedule(&rec.PendingCommit.Next)
		secrettree.ZeroRecord(&rec.PendingCommit.SecretTree)
	}
	err := migrateEpochs(tx, groupID, func(e uint64, b []byte) (oldEpoch, error) {
		var es record.EpochSecretsV2
		if err := es.Unmarshal(b); err != nil {
			return oldEpoch{}, corrupt("epoch secrets of format version 2", fmt.Errorf("epoch %d: %w", e, err))
		}
		return oldEpoch{es.Epoch, es.GroupContext, es.SenderDataSecret, es.MembershipKey, &es.SecretTree}, nil
	})
	if err != nil {
		return err
	}
	if err := tx.WriteGroupState(groupID, migratedVersion, gs); err != nil {
		return fmt.Errorf("mls: writing the group state: %w", err)
	}
	return nil
}

// migrateV1 rewrites a group of format version 1 in tx.
func migrateV1(tx providers.Records, groupID, gs []byte) error {
	var old record.GroupStateV1
	if err := old.Unmarshal(gs); err != nil {
		return corrupt("group state of format version 1", err)
	}
	rec := &record.GroupStateV3{
		Current:         old.Current,
		Config:          old.Config,
		Active:          old.Active,
		ReInit:          old.ReInit,
		SignerPublicKey: old.SignerPublicKey,
		Proposals:       old.Proposals,
		PastEpochs:      old.PastEpochs,
		ResumptionPsks:  old.ResumptionPsks,
	}
	defer zeroKeySchedule(&rec.Current)
	var ctx codec.GroupContext
	if err := ctx.Unmarshal(bytes.Clone(old.Current.GroupContext)); err != nil {
		return corrupt("group context", err)
	}
	current := old.Current.RatchetTree
	if len(current) == 0 {
		return corrupt("group state of format version 1", errors.New("no ratchet tree"))
	}
	// A removed member keeps its tree inline (as in version 2); every
	// other member's current tree becomes the epoch's whole record.
	removed := old.Active != record.BoolTrue && old.ReInit == nil
	if !removed {
		if err := writeWholeTree(tx, groupID, ctx.Epoch, current); err != nil {
			return err
		}
		rec.Current.RatchetTree = nil
	}
	if p := old.PendingCommit; p != nil {
		delta, err := treeDeltaBetween(current, p.Next.RatchetTree)
		if err != nil {
			zeroKeySchedule(&p.Next)
			secrettree.ZeroRecord(&p.SecretTree)
			return corrupt("pending commit of format version 1", err)
		}
		next := p.Next
		next.RatchetTree = nil
		rec.PendingCommit = &record.PendingCommitV3{Next: next, Tree: delta, SecretTree: p.SecretTree, ReInit: p.ReInit, NewSignerPublicKey: p.NewSignerPublicKey}
		defer zeroKeySchedule(&rec.PendingCommit.Next)
		defer secrettree.ZeroRecord(&rec.PendingCommit.SecretTree)
	}
	err := migrateEpochs(tx, groupID, func(e uint64, b []byte) (oldEpoch, error) {
		var es record.EpochSecretsV1
		if err := es.Unmarshal(b); err != nil {
			return oldEpoch{}, corrupt("epoch secrets of format version 1", fmt.Errorf("epoch %d: %w", e, err))
		}
		old := oldEpoch{es.Epoch, es.GroupContext, es.SenderDataSecret, es.MembershipKey, &es.SecretTree}
		if e == ctx.Epoch {
			return old, nil
		}
		// A kept past epoch: its tree becomes its whole record.
		if len(es.RatchetTree) == 0 {
			return old, corrupt("epoch secrets of format version 1", fmt.Errorf("past epoch %d without its ratchet tree", e))
		}
		return old, writeWholeTree(tx, groupID, e, es.RatchetTree)
	})
	if err != nil {
		return err
	}
	b, err := rec.Marshal()
	if err != nil {
		return fmt.Errorf("mls: encoding the group state: %w", err)
	}
	err = tx.WriteGroupState(groupID, migratedVersion, b)
	clear(b)
	if err != nil {
		return fmt.Errorf("mls: writing the group state: %w", err)
	}
	return nil
}

// oldEpoch is what an EpochSecrets record of format version 1 or 2 holds
// that becomes the epoch's current records (migrateEpochSecrets).
type oldEpoch struct {
	epoch                                uint64
	groupContext, senderData, membership []byte
	secretTree                           *record.SecretTree
}

// migrateEpochs migrates the EpochSecrets record of every stored epoch of
// the group in tx: decode decodes the record b of epoch e, of the group's
// old format version, and does what else that version needs; its result
// is written as the epoch's current records, then its secrets are erased,
// whether or not decode failed.
func migrateEpochs(tx providers.Records, groupID []byte, decode func(e uint64, b []byte) (oldEpoch, error)) error {
	epochs, err := tx.ListEpochs(groupID)
	if err != nil {
		return fmt.Errorf("mls: listing stored epochs: %w", err)
	}
	for _, e := range epochs {
		b, err := readEpochRecord(tx, groupID, e)
		if err != nil {
			return err
		}
		old, err := decode(e, b)
		clear(b)
		if err == nil {
			err = migrateEpochSecrets(tx, groupID, e, &old)
		}
		if old.secretTree != nil {
			secrettree.ZeroRecord(old.secretTree)
		}
		clear(old.senderData)
		clear(old.membership)
		if err != nil {
			return err
		}
	}
	return nil
}

// zeroKeySchedule erases the secrets of a decoded EpochState record.
func zeroKeySchedule(e *record.EpochState) {
	s := &e.Secrets
	for _, b := range [][]byte{s.SenderDataSecret, s.ExporterSecret, s.ExternalSecret, s.ConfirmationKey, s.MembershipKey, s.ResumptionPSK, s.EpochAuthenticator, s.InitSecret} {
		clear(b)
	}
	for i := range e.PrivateKeys {
		clear(e.PrivateKeys[i].PrivateKey)
	}
}

// readEpochRecord reads the EpochSecrets record of a listed epoch.
func readEpochRecord(tx providers.Records, groupID []byte, epoch uint64) ([]byte, error) {
	b, err := tx.ReadEpochSecrets(groupID, epoch)
	if errors.Is(err, providers.ErrNotFound) {
		return nil, corrupt("epoch secrets", fmt.Errorf("epoch %d listed but absent: %w", epoch, err))
	}
	if err != nil {
		return nil, fmt.Errorf("mls: reading the secrets of epoch %d: %w", epoch, err)
	}
	return b, nil
}

// migrateEpochSecrets writes in tx an epoch's secret tree, inline in its
// record of an earlier version, as SecretTreeNode records (replacing any
// stored for the epoch) and its current EpochSecrets record. It erases
// nothing: migrateEpochs owns the secrets.
func migrateEpochSecrets(tx providers.Records, groupID []byte, epoch uint64, old *oldEpoch) error {
	if old.epoch != epoch {
		return corrupt("epoch secrets", fmt.Errorf("record of epoch %d stored as epoch %d", old.epoch, epoch))
	}
	st := old.secretTree
	// Each stored node secret and each leaf's ratchets is one record, at
	// its node (a leaf's at the leaf's node, §4).
	type node struct {
		x   uint32
		rec record.SecretTreeNode
	}
	nodes := make([]node, 0, len(st.Nodes)+len(st.Leaves))
	seen := make(map[uint32]bool, cap(nodes))
	for _, n := range st.Nodes {
		nodes = append(nodes, node{n.Node, record.SecretTreeNode{Type: record.SecretTreeNodeTypeSecret, Secret: n.Secret}})
	}
	for i := range st.Leaves {
		l := &st.Leaves[i]
		if uint64(l.Leaf) >= uint64(st.LeafCount) {
			return corrupt("secret tree", fmt.Errorf("epoch %d: ratchets of leaf %d in a tree of %d leaves", epoch, l.Leaf, st.LeafCount))
		}
		nodes = append(nodes, node{uint32(treemath.LeafIndex(l.Leaf).Node()), record.SecretTreeNode{Type: record.SecretTreeNodeTypeLeaf, Ratchets: l}})
	}
	for _, n := range nodes {
		if seen[n.x] {
			return corrupt("secret tree", fmt.Errorf("epoch %d: node %d stored twice", epoch, n.x))
		}
		seen[n.x] = true
	}
	if err := deleteTreeNodes(tx, groupID, epoch); err != nil {
		return err
	}
	for _, n := range nodes {
		b, err := n.rec.Marshal()
		if err != nil {
			return fmt.Errorf("mls: encoding node %d of the secret tree of epoch %d: %w", n.x, epoch, err)
		}
		err = tx.WriteSecretTreeNode(groupID, epoch, n.x, b)
		clear(b)
		if err != nil {
			return fmt.Errorf("mls: writing node %d of the secret tree of epoch %d: %w", n.x, epoch, err)
		}
	}
	rec := record.EpochSecrets{Epoch: epoch, GroupContext: old.groupContext, SenderDataSecret: old.senderData, MembershipKey: old.membership, LeafCount: st.LeafCount}
	b, err := rec.Marshal()
	if err != nil {
		return fmt.Errorf("mls: encoding the secrets of epoch %d: %w", epoch, err)
	}
	err = tx.WriteEpochSecrets(groupID, epoch, b)
	clear(b)
	if err != nil {
		return fmt.Errorf("mls: writing the secrets of epoch %d: %w", epoch, err)
	}
	return nil
}

// writeWholeTree writes in tx an epoch's ratchet tree (codec.RatchetTree
// encoding) as a whole RatchetTreeRecord.
func writeWholeTree(tx providers.Records, groupID []byte, epoch uint64, tree []byte) error {
	rec := record.RatchetTreeRecord{Type: record.TreeRecordTypeWhole, RatchetTree: tree}
	b, err := rec.Marshal()
	if err != nil {
		return fmt.Errorf("mls: encoding the ratchet tree of epoch %d: %w", epoch, err)
	}
	if err := tx.WriteRatchetTree(groupID, epoch, b); err != nil {
		return fmt.Errorf("mls: writing the ratchet tree of epoch %d: %w", epoch, err)
	}
	return nil
}

// treeDeltaBetween returns the change of the ratchet tree from to next (both
// codec.RatchetTree encodings) as ratchettree.Diff.Changes gives it: next's
// leaf count (the full one, §4: the smallest power of two whose tree holds
// its nodes) and every node within next's width whose encoding differs.
func treeDeltaBetween(from, next []byte) (record.TreeDelta, error) {
	var a, b codec.RatchetTree
	if err := a.Unmarshal(from); err != nil {
		return record.TreeDelta{}, fmt.Errorf("current tree: %w", err)
	}
	if err := b.Unmarshal(next); err != nil {
		return record.TreeDelta{}, fmt.Errorf("next tree: %w", err)
	}
	if len(b) == 0 || uint64(len(b)) > uint64(treemath.NodeWidth(treemath.MaxLeafCount)) {
		return record.TreeDelta{}, fmt.Errorf("next tree of %d nodes", len(b))
	}
	n := treemath.FullLeafCount(treemath.LeafCount(len(b)/2 + 1))
	d := record.TreeDelta{LeafCount: uint32(n)}
	enc := func(t codec.RatchetTree, x int) ([]byte, error) {
		if x >= len(t) || t[x] == nil {
			return nil, nil
		}
		return t[x].Marshal()
	}
	for x := range int(treemath.NodeWidth(n)) {
		va, err := enc(a, x)
		if err != nil {
			return record.TreeDelta{}, fmt.Errorf("node %d: %w", x, err)
		}
		vb, err := enc(b, x)
		if err != nil {
			return record.TreeDelta{}, fmt.Errorf("node %d: %w", x, err)
		}
		if !bytes.Equal(va, vb) {
			d.Changes = append(d.Changes, record.TreeChange{Node: uint32(x), Value: vb})
		}
	}
	return d, nil
}
