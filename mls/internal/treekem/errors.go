package treekem

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// Sentinel errors naming the rule an UpdatePath broke. Every error returned by
// [ApplyUpdatePath] and [CreateUpdatePath] for bad input is a *[PathError]
// matching exactly one of them with errors.Is.
var (
	// ErrInvalidLeaf: a leaf index is outside the tree, names a blank leaf
	// where a member is required, or names a leaf that may not take part
	// (the receiver is the sender or was added by the same Commit).
	ErrInvalidLeaf = errors.New("treekem: invalid leaf")
	// ErrPathLength: the number of UpdatePathNodes differs from the length
	// of the sender's filtered direct path (§7.5, §7.6).
	ErrPathLength = errors.New("treekem: UpdatePath length does not match the filtered direct path")
	// ErrCiphertextCount: the number of encrypted path secrets of an
	// UpdatePathNode differs from the size of the copath child's resolution
	// without the new leaves (§7.6).
	ErrCiphertextCount = errors.New("treekem: wrong number of encrypted path secrets")
	// ErrLeafNodeSource: the UpdatePath's leaf node does not have
	// leaf_node_source commit (§12.4.2).
	ErrLeafNodeSource = errors.New("treekem: leaf_node_source is not commit")
	// ErrLeafSignature: the signature of the UpdatePath's leaf node does not
	// verify under its signature key (§7.3); it also matches
	// providers.ErrInvalidSignature or providers.ErrInvalidPublicKey.
	ErrLeafSignature = errors.New("treekem: invalid leaf node signature")
	// ErrEncryptionKeyReuse: the new leaf's encryption key equals the
	// sender's current one, or a public key of the UpdatePath appears
	// elsewhere in the UpdatePath or in the tree (§12.4.2).
	ErrEncryptionKeyReuse = errors.New("treekem: encryption key reused")
	// ErrParentHash: the leaf node's parent_hash differs from the parent
	// hash of the first node of its filtered direct path (§7.9.2).
	ErrParentHash = errors.New("treekem: parent hash mismatch")
	// ErrNoPrivateKey: the receiver holds no private key for any node of
	// the resolution it must decrypt from (§7.5).
	ErrNoPrivateKey = errors.New("treekem: no private key for the copath resolution")
	// ErrDecryption: an encrypted path secret does not decrypt (§7.6); it
	// also matches providers.ErrDecryption when HPKE failed to authenticate.
	ErrDecryption = errors.New("treekem: cannot decrypt path secret")
	// ErrPublicKeyMismatch: a public key derived from a decrypted path
	// secret differs from the one in the UpdatePath (§7.5 step 6).
	ErrPublicKeyMismatch = errors.New("treekem: derived public key does not match the UpdatePath")
	// ErrPrivateKeyMismatch: a private key does not belong to the public key
	// of its node in the tree.
	ErrPrivateKeyMismatch = errors.New("treekem: private key does not match the tree")
)

// PathError reports a failure while creating or applying an UpdatePath. Rule
// is one of the sentinel errors of this package; Node names the tree node
// concerned (treemath.InvalidNode if none); Err is the underlying cause, such
// as a provider error, and may be nil.
type PathError struct {
	Rule   error
	Node   treemath.NodeIndex
	Detail string
	Err    error
}

func (e *PathError) Error() string {
	s := e.Rule.Error()
	if e.Node != treemath.InvalidNode {
		s += fmt.Sprintf(" (node %d)", e.Node)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the rule and the cause, for errors.Is and errors.As.
func (e *PathError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Rule}
	}
	return []error{e.Rule, e.Err}
}

func pathErr(rule error, node treemath.NodeIndex, cause error, format string, args ...any) error {
	d := format
	if len(args) > 0 {
		d = fmt.Sprintf(format, args...)
	}
	return &PathError{Rule: rule, Node: node, Detail: d, Err: cause}
}
