package secrettree

import "github.com/mlskit/mlskit/mls/internal/treemath"

// StoredNodes returns the number of node secrets t holds.
func StoredNodes(t *Tree) int { return len(t.nodes) }

// PastKeys returns the number of kept out-of-order keys of a ratchet.
func PastKeys(t *Tree, l treemath.LeafIndex, rt RatchetType) int {
	ls, ok := t.leaves[l]
	if !ok {
		return 0
	}
	return len(ls.r[rt].past)
}
