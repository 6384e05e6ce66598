package mls

import (
	"errors"
	"fmt"
	"slices"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// The secret tree of an epoch is stored node by node, in the
// SecretTreeStore (schema/state.tls, SecretTreeNode): one record per node
// that holds a node secret or a leaf's ratchets. A change of the tree
// writes the records of the nodes it changed (secrettree.Tree.Changed, or
// ExportStagedNodesTo for a generation a change consumes) in the change's
// transaction: one record per message, O(log members) for a sender's first
// message in the epoch, whatever the number of senders; a node whose
// secret was consumed has its record deleted (§9.2).

// secretTreeNodeRecord encodes what a node holds; nil for nothing.
func secretTreeNodeRecord(c *secrettree.NodeContent) ([]byte, error) {
	return encodeSecretTreeNodeRecord(nil, c)
}

// encodeSecretTreeNodeRecord returns the record of what a node holds,
// encoded in scratch if it holds it, else in a new buffer of its size
// (codec.Scratch); nil for nothing.
func encodeSecretTreeNodeRecord(scratch []byte, c *secrettree.NodeContent) ([]byte, error) {
	var rec record.SecretTreeNode
	switch {
	case c.Secret != nil:
		rec = record.SecretTreeNode{Type: record.SecretTreeNodeTypeSecret, Secret: c.Secret}
	case c.Leaf != nil:
		rec = record.SecretTreeNode{Type: record.SecretTreeNodeTypeLeaf, Ratchets: c.Leaf}
	default:
		return nil, nil
	}
	return rec.AppendTo(codec.Scratch(scratch, rec.Size()))
}

// writeTreeNodes writes (or deletes) in tx the records of the given nodes
// of epoch's secret tree, encoded in scratch if it has the room; it erases
// the nodes' secrets and the records' copies, those of the nodes not
// written too if it fails.
func writeTreeNodes(tx providers.Records, groupID []byte, epoch uint64, nodes []secrettree.NodeContent, scratch []byte) error {
	// One buffer for the records, of the largest one's size (storage
	// keeps its own copies).
	buf := scratch[:0]
	i := 0
	defer func() {
		clear(buf[:cap(buf)])
		for ; i < len(nodes); i++ {
			nodes[i].Zero()
		}
	}()
	for ; i < len(nodes); i++ {
		c := &nodes[i]
		b, err := encodeSecretTreeNodeRecord(buf, c)
		if cap(b) > cap(buf) {
			clear(buf[:cap(buf)])
			buf = b[:0]
		}
		c.Zero()
		if err != nil {
			return fmt.Errorf("mls: encoding node %d of the secret tree of epoch %d: %w", c.Node, epoch, err)
		}
		if b == nil {
			err = tx.DeleteSecretTreeNode(groupID, epoch, uint32(c.Node))
		} else {
			err = tx.WriteSecretTreeNode(groupID, epoch, uint32(c.Node), b)
		}
		if err != nil {
			return fmt.Errorf("mls: writing node %d of the secret tree of epoch %d: %w", c.Node, epoch, err)
		}
	}
	return nil
}

// changedTreeNodes appends to dst the contents of the nodes of t that
// changed since they were last stored, with those a staged generation
// changes (st, if not nil) as they will be once it is committed, its
// leaf's record in lr.
func changedTreeNodes(dst []secrettree.NodeContent, lr *secrettree.LeafRecord, t *secrettree.Tree, st *secrettree.Staged) ([]secrettree.NodeContent, error) {
	nodes := dst[:0]
	if st != nil {
		var err error
		if nodes, err = t.ExportStagedNodesTo(nodes, lr, st); err != nil {
			return nil, err
		}
		lr = nil // holds the staged leaf
	}
	staged := len(nodes) // a generation stages O(log n) nodes: scanned
	var xs [4]treemath.NodeIndex
	for _, x := range t.AppendChanged(xs[:0]) {
		if !slices.ContainsFunc(nodes[:staged], func(c secrettree.NodeContent) bool { return c.Node == x }) {
			c := t.ExportNodeTo(x, lr)
			if c.Leaf != nil {
				lr = nil // holds this leaf
			}
			nodes = append(nodes, c)
		}
	}
	return nodes, nil
}

// deleteTreeNodes deletes in tx every node record of epoch's secret tree.
func deleteTreeNodes(tx providers.Records, groupID []byte, epoch uint64) error {
	if err := tx.DeleteSecretTree(groupID, epoch); err != nil {
		return fmt.Errorf("mls: deleting the secret tree of epoch %d: %w", epoch, err)
	}
	return nil
}

// readSecretTree reads the node records of epoch's secret tree, of n
// leaves, and imports it (the caller zeroes nothing: the records' copies
// are erased here).
func (g *Group) readSecretTree(s providers.SecretTreeStore, groupID []byte, epoch uint64, n uint32) (*secrettree.Tree, error) {
	xs, err := s.ListSecretTreeNodes(groupID, epoch)
	if err != nil {
		return nil, fmt.Errorf("mls: listing the secret tree of epoch %d: %w", epoch, err)
	}
	nodes := make([]secrettree.NodeContent, 0, len(xs))
	defer func() {
		for i := range nodes {
			nodes[i].Zero()
		}
	}()
	for _, x := range xs {
		b, err := s.ReadSecretTreeNode(groupID, epoch, x)
		if errors.Is(err, providers.ErrNotFound) {
			return nil, corrupt("secret tree", fmt.Errorf("node %d of epoch %d listed but absent", x, epoch))
		}
		if err != nil {
			return nil, fmt.Errorf("mls: reading node %d of the secret tree of epoch %d: %w", x, epoch, err)
		}
		var rec record.SecretTreeNode
		err = rec.Unmarshal(b)
		clear(b)
		if err != nil {
			return nil, corrupt("secret tree", fmt.Errorf("node %d of epoch %d: %w", x, epoch, err))
		}
		c := secrettree.NodeContent{Node: treemath.NodeIndex(x)}
		switch rec.Type {
		case record.SecretTreeNodeTypeSecret:
			c.Secret = rec.Secret
		case record.SecretTreeNodeTypeLeaf:
			if rec.Ratchets == nil {
				return nil, corrupt("secret tree", fmt.Errorf("node %d of epoch %d: leaf without ratchets", x, epoch))
			}
			c.Leaf = rec.Ratchets
		}
		nodes = append(nodes, c)
	}
	ts, err := secrettree.RecordOf(treemath.LeafCount(n), nodes)
	if err != nil {
		return nil, corrupt("secret tree", fmt.Errorf("epoch %d: %w", epoch, err))
	}
	t, err := secrettree.Import(g.cs, ts, g.cfg.senderRatchet())
	if err != nil {
		return nil, corrupt("secret tree", fmt.Errorf("epoch %d: %w", epoch, err))
	}
	return t, nil
}
