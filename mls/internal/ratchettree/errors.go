package ratchettree

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// Sentinel errors. Every error returned by this package is, or wraps, one of
// them, so callers branch with errors.Is. Errors about a particular node are
// returned as a *NodeError that also names the node (errors.As).
var (
	// ErrMalformedTree: a ratchet_tree vector is structurally invalid: empty,
	// ending in a blank node (RFC 9420 §12.4.3.3), a leaf at an odd or a
	// parent at an even index, or a node with a missing arm.
	ErrMalformedTree = errors.New("ratchettree: malformed ratchet tree")
	// ErrLeafOutOfRange: a leaf index is not a leaf of the tree.
	ErrLeafOutOfRange = errors.New("ratchettree: leaf index out of range")
	// ErrNodeOutOfRange: a node index is not a node of the tree.
	ErrNodeOutOfRange = errors.New("ratchettree: node index out of range")
	// ErrBlankLeaf: an operation needs a non-blank leaf (RFC 9420 §12.1.2,
	// §12.1.3) but the leaf is blank.
	ErrBlankLeaf = errors.New("ratchettree: leaf is blank")
	// ErrNilNode: a nil LeafNode was passed where a node is required.
	ErrNilNode = errors.New("ratchettree: nil leaf node")
	// ErrDuplicateEncryptionKey: an HPKE encryption key appears in two nodes
	// of the tree (RFC 9420 §7.3, §12.4.3.1).
	ErrDuplicateEncryptionKey = errors.New("ratchettree: duplicate encryption key")
	// ErrDuplicateSignatureKey: a signature key appears in two leaves of the
	// tree (RFC 9420 §7.3).
	ErrDuplicateSignatureKey = errors.New("ratchettree: duplicate signature key")
	// ErrEncryptionKeyNotUpdated: an Update's LeafNode keeps the encryption
	// key of the leaf it replaces (RFC 9420 §7.3).
	ErrEncryptionKeyNotUpdated = errors.New("ratchettree: update does not change the encryption key")
	// ErrParentHashMismatch: a non-blank parent node is not parent-hash valid
	// (RFC 9420 §7.9.2), or a committer's leaf carries the wrong parent hash.
	ErrParentHashMismatch = errors.New("ratchettree: parent hash mismatch")
	// ErrTreeHashMismatch: the tree hash differs from the expected one
	// (RFC 9420 §12.4.3.1: the GroupInfo's tree_hash).
	ErrTreeHashMismatch = errors.New("ratchettree: tree hash mismatch")
	// ErrUnmergedLeaves: an unmerged_leaves list is not sorted, names a blank
	// leaf or a leaf outside the node's subtree, or is missing from an
	// intermediate node (RFC 9420 §7.1, §12.4.3.1).
	ErrUnmergedLeaves = errors.New("ratchettree: inconsistent unmerged leaves")
	// ErrBadLeafSignature: a LeafNode's signature does not verify under its
	// signature key (RFC 9420 §7.3).
	ErrBadLeafSignature = errors.New("ratchettree: invalid leaf node signature")
	// ErrLeafNodeSource: a LeafNode has the wrong leaf_node_source for where
	// it appears (RFC 9420 §7.3).
	ErrLeafNodeSource = errors.New("ratchettree: wrong leaf_node_source")
	// ErrLifetime: the current time is outside a LeafNode's lifetime
	// (RFC 9420 §7.3).
	ErrLifetime = errors.New("ratchettree: leaf node lifetime not valid now")
	// ErrUnsupportedCapabilities: a LeafNode's capabilities lack a required
	// extension, proposal or credential type, a group context extension, or
	// the type of one of its own extensions or its own credential
	// (RFC 9420 §7.2, §7.3, §11.1).
	ErrUnsupportedCapabilities = errors.New("ratchettree: leaf node capabilities insufficient")
	// ErrUnsupportedCredential: a credential type is not supported by every
	// member, or a LeafNode does not support a credential type in use
	// (RFC 9420 §7.3).
	ErrUnsupportedCredential = errors.New("ratchettree: credential type not supported by all members")
	// ErrInvalidCredential: the caller's credential validator rejected a
	// credential (RFC 9420 §5.3.1).
	ErrInvalidCredential = errors.New("ratchettree: invalid credential")
	// ErrPathLength: the number of keys in an UpdatePath differs from the
	// length of the sender's filtered direct path (RFC 9420 §7.5, §12.4.2).
	ErrPathLength = errors.New("ratchettree: update path length differs from the filtered direct path")
	// ErrStaleDiff: a Diff was used after it was merged, or its tree changed
	// since it was staged (another Diff was merged first).
	ErrStaleDiff = errors.New("ratchettree: diff is stale")
	// ErrTreeFull: adding a leaf would exceed treemath.MaxLeafCount.
	ErrTreeFull = errors.New("ratchettree: tree is full")
	// ErrEncoding: a node could not be encoded for hashing or signing.
	ErrEncoding = errors.New("ratchettree: encoding failed")
)

// NodeError reports a failure concerning one node of the tree. It wraps one
// of the sentinel errors of this package (and possibly a cause below it).
type NodeError struct {
	Node treemath.NodeIndex // node index (leaf l is node 2l)
	Err  error
}

func (e *NodeError) Error() string {
	if l, ok := e.Node.Leaf(); ok {
		return fmt.Sprintf("leaf %d (node %d): %v", l, e.Node, e.Err)
	}
	return fmt.Sprintf("node %d: %v", e.Node, e.Err)
}

// Unwrap returns the wrapped error.
func (e *NodeError) Unwrap() error { return e.Err }

// nodeErr wraps sentinel (and cause) in a *NodeError for node x, or
// returns it unwrapped if x is treemath.InvalidNode (no node concerned).
func nodeErr(x treemath.NodeIndex, sentinel error, cause ...error) error {
	if x == treemath.InvalidNode {
		if len(cause) > 0 && cause[0] != nil {
			return fmt.Errorf("%w: %w", sentinel, cause[0])
		}
		return sentinel
	}
	if len(cause) > 0 && cause[0] != nil {
		return &NodeError{Node: x, Err: fmt.Errorf("%w: %w", sentinel, cause[0])}
	}
	return &NodeError{Node: x, Err: sentinel}
}

func leafErr(l treemath.LeafIndex, sentinel error, cause ...error) error {
	return nodeErr(l.Node(), sentinel, cause...)
}
