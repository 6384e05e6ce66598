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

// KeyNonceAt derives the key and nonce of generation g from the ratchet
// secret sec, as a ratchet does (keyNonce).
func KeyNonceAt(t *Tree, sec []byte, g uint32) (key, nonce []byte, err error) {
	var kn KeyNonce
	defer t.forget()
	if err := t.setKey(sec); err != nil {
		return nil, nil, err
	}
	if err := t.keyNonce(&kn, g); err != nil {
		return nil, nil, err
	}
	return append([]byte(nil), kn.Key()...), append([]byte(nil), kn.Nonce()...), nil
}
