package mls

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/providers"
)

// joinRecords are the records of a joined group's first save (change.save
// of a group none of whose records is stored): its epoch's EpochSecrets
// record and secret tree nodes, its ratchet tree whole, and its
// GroupState, encoded in advance.
//
// Stage encodes them while the leaf signatures are still being verified
// (in the During of Tree.Validate), once it has derived the epoch: RFC
// 9420 §12.4.3.1 has the joiner verify every leaf before it joins, but
// what it will store does not depend on their outcome, only whether it is
// stored. Whatever runs after the verification is serial, while done
// during it shares the cores with it; Join, after Stage, then only writes
// them (writeJoinRecords), in its transaction, which is the first write
// of the group: if Stage fails the records are erased unwritten, and if
// the transaction fails they are kept for Join to be called again. All
// but the ratchet tree's (which is public, sent to every member) hold
// secrets, erased once written or discarded (zero; §9.2).
type joinRecords struct {
	// ep is the epoch they encode: the staged group's current one (Join
	// writes them only for it).
	ep *epoch
	// secrets is the EpochSecrets record.
	secrets []byte
	// nodes are the records of the secret tree's changed nodes
	// (changedTreeNodes); a nil value deletes the node's record.
	nodes []joinNode
	// tree is the RatchetTreeRecord of the whole tree.
	tree []byte
	// state is the GroupState record.
	state []byte
}

type joinNode struct {
	node  uint32
	value []byte
}

// encodeJoinRecords encodes the records of the first save of g, a joined
// group of which nothing is stored yet (it changes nothing of g); the
// save itself is writeJoinRecords.
func (g *Group) encodeJoinRecords() (*joinRecords, error) {
	c := g.stage()
	g = c.next
	r := &joinRecords{ep: g.epoch}
	ok := false
	defer func() {
		if !ok {
			r.zero()
		}
	}()
	es, _, err := g.epochSecretsRecord(g.epoch.ctx.Epoch)
	if err != nil {
		return nil, err
	}
	if r.secrets, err = es.AppendTo(make([]byte, 0, es.Size())); err != nil {
		return nil, fmt.Errorf("mls: encoding the secrets of epoch %d: %w", es.Epoch, err)
	}
	nodes, err := changedTreeNodes(c.nodes[:0], &c.leaf, g.epoch.protector.Tree(), nil)
	if err != nil {
		return nil, fmt.Errorf("mls: the secret tree of epoch %d: %w", es.Epoch, err)
	}
	defer func() {
		for i := range nodes {
			nodes[i].Zero()
		}
	}()
	r.nodes = make([]joinNode, len(nodes))
	for i := range nodes {
		r.nodes[i].node = uint32(nodes[i].Node)
		if r.nodes[i].value, err = secretTreeNodeRecord(&nodes[i]); err != nil {
			return nil, fmt.Errorf("mls: encoding node %d of the secret tree of epoch %d: %w", nodes[i].Node, es.Epoch, err)
		}
	}
	tr, err := c.wholeTreeRecord()
	if err != nil {
		return nil, err
	}
	if r.tree, err = tr.AppendTo(make([]byte, 0, tr.Size())); err != nil {
		return nil, fmt.Errorf("mls: encoding the ratchet tree: %w", err)
	}
	gs, err := g.groupStateRecord(nil)
	if err != nil {
		return nil, err
	}
	r.state, err = gs.AppendTo(make([]byte, 0, gs.Size()))
	zeroGroupStateRecord(gs)
	if err != nil {
		return nil, fmt.Errorf("mls: encoding the group state: %w", err)
	}
	ok = true
	return r, nil
}

// writeJoinRecords writes r in tx, as the change's save would write the
// records r encodes, and records in the staged group what that save
// records: its epoch's secrets and tree are stored.
func (c *change) writeJoinRecords(tx providers.Records, r *joinRecords) error {
	g := c.next
	if g.epoch != r.ep || g.secretsStored != nil || g.treeCache.stored {
		// Unreachable: Join writes them for the epoch Stage staged,
		// of which nothing is stored.
		return errors.New("mls: the records encoded for joining are not the group's")
	}
	groupID, epoch := g.epoch.ctx.GroupID, g.epoch.ctx.Epoch
	if err := tx.WriteEpochSecrets(groupID, epoch, r.secrets); err != nil {
		return fmt.Errorf("mls: writing the secrets of epoch %d: %w", epoch, err)
	}
	g.secretsStored = g.epoch
	for _, n := range r.nodes {
		var err error
		if n.value == nil {
			err = tx.DeleteSecretTreeNode(groupID, epoch, n.node)
		} else {
			err = tx.WriteSecretTreeNode(groupID, epoch, n.node, n.value)
		}
		if err != nil {
			return fmt.Errorf("mls: writing node %d of the secret tree of epoch %d: %w", n.node, epoch, err)
		}
	}
	c.storesTree(g.epoch.protector.Tree())
	if err := tx.WriteRatchetTree(groupID, epoch, r.tree); err != nil {
		return fmt.Errorf("mls: writing the ratchet tree of epoch %d: %w", epoch, err)
	}
	c.treeStored(len(r.tree), false)
	if err := tx.WriteGroupState(groupID, groupStateVersion, r.state); err != nil {
		return fmt.Errorf("mls: writing the group state: %w", err)
	}
	return nil
}

// zero erases the records' secrets; the ratchet tree's record, public, is
// only dropped.
func (r *joinRecords) zero() {
	if r == nil {
		return
	}
	clear(r.secrets)
	for _, n := range r.nodes {
		clear(n.value)
	}
	clear(r.state)
	*r = joinRecords{}
}
