// Package ratchettree implements the public ratchet tree of RFC 9420:
// the tree itself (§4, §7.1–7.3), adding, removing and updating leaves
// (§7.7, §12.1.1–12.1.3), tree hashes (§7.8), parent hashes and their
// verification (§7.9), leaf node validation (§7.3) and whole-tree validation
// on joining (§12.4.3.1). TreeKEM (path secrets, private keys, encrypting and
// decrypting UpdatePaths, §7.4–7.6) lives in package treekem, which builds
// on this one (Diff.SetPathKeys, FilteredDirectPath, AppendResolution).
//
// # Representation
//
// A Tree is always full (2^d leaves, RFC 9420 §7.7), stored as two arrays
// (leaves, parents) in the layout of Appendix C, with a flat tree-hash
// cache, a leaf-occupancy bitset, and maps from encryption keys to nodes and
// from signature keys to leaves. The ratchet_tree extension form, with
// trailing blanks omitted (§12.4.3.3), is produced by RatchetTree and read
// by FromRatchetTree / DecodeRatchetTree.
//
// # Changing a tree
//
// A Tree is changed only through a Diff (Tree.Stage): proposals (Add,
// Remove, Update) and an UpdatePath (SetPathKeys, ReplaceLeaf) are applied
// to the Diff, which overlays the changed nodes, keeps its own tree-hash
// cache for the O(log N) nodes above each change, and overlays the key
// indices. Diff.Merge makes the change permanent in O(changes); an
// abandoned Diff costs nothing. Group logic stages a Commit on a Diff and
// merges it only once the Commit is accepted.
//
// # Errors
//
// Errors are sentinel values (ErrParentHashMismatch,
// ErrDuplicateEncryptionKey, ErrBadLeafSignature, ErrUnmergedLeaves, ...)
// usable with errors.Is, wrapped in a *NodeError naming the node when one is
// concerned. Nothing panics on any input.
package ratchettree

import "github.com/mlskit/mlskit/codec"

// View is the read-only API shared by Tree and Diff (a Diff reads its
// staged state).
type View interface {
	LeafCount() LeafCount
	MemberCount() int
	Leaf(l LeafIndex) *codec.LeafNode
	Parent(x NodeIndex) *codec.ParentNode
	Node(x NodeIndex) *codec.Node
	IsBlank(x NodeIndex) bool
	Resolution(x NodeIndex) []NodeIndex
	AppendResolution(dst []NodeIndex, x NodeIndex, exclude func(LeafIndex) bool) []NodeIndex
	FilteredDirectPath(l LeafIndex) (path, copath []NodeIndex, err error)
	TreeHash() ([]byte, error)
	NodeTreeHash(x NodeIndex) ([]byte, error)
	ParentHash(p, s NodeIndex) ([]byte, error)
	FindEncryptionKey(key []byte) (NodeIndex, bool)
	FindSignatureKey(key []byte) (LeafIndex, bool)
	FindLeaf(ln *codec.LeafNode) (LeafIndex, bool)
	Members(f func(LeafIndex, *codec.LeafNode) bool)
	RatchetTree() codec.RatchetTree
	VerifyParentHashes() error
	ValidateLeafNode(ln *codec.LeafNode, lv *LeafValidation) error
	Validate(opts *TreeValidation) error
}

var (
	_ View = (*Tree)(nil)
	_ View = (*Diff)(nil)
)
