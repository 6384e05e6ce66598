// Package treekem implements TreeKEM, the continuous group key agreement of
// MLS (RFC 9420 §7.4–§7.6 with the parent hashes of §7.9): creating the
// UpdatePath of a Commit, applying a received one, and the private keys a
// member holds for its direct path.
//
// # Flow
//
// The committer stages the proposals of its Commit on a copy of the tree,
// then calls [CreateUpdatePath] on that staged [Tree]: a fresh leaf secret
// yields the path secrets of its filtered direct path (§7.4)
//
//	path_secret[0]   = DeriveSecret(leaf_secret, "path")
//	path_secret[n+1] = DeriveSecret(path_secret[n], "path")
//	node_secret[n]   = DeriveSecret(path_secret[n], "node")
//	node_priv[n], node_pub[n] = KEM.DeriveKeyPair(node_secret[n])
//	commit_secret    = DeriveSecret(path_secret[last], "path")
//
// (the leaf's own key pair is derived from leaf_secret as a node key pair);
// the new public keys are written to the staged tree with parent hashes
// computed from the root down, the leaf node is re-signed with
// leaf_node_source commit, and, once the caller has built the provisional
// GroupContext from the new tree hash (a [ContextFunc]), each path secret is
// encrypted to the resolution of its copath child, without the leaves added
// by the same Commit (§7.5, §7.6, §12.4.1).
//
// A receiver stages the same proposals and calls [ApplyUpdatePath], which
// validates the path, merges it into the staged tree, decrypts the one path
// secret addressed to a node whose key it holds, derives the rest up to the
// root and checks every derived public key (§7.5, §12.4.2). Both return the
// commit secret and the member's new private keys as [PathKeys], which take
// effect through [PrivateKeys.Merge] only when the Commit is merged; a failed
// call leaves the staged tree as it was.
//
// # Concurrency
//
// A committer spreads the node key pairs of a long path and the HPKE
// encryptions of a path secret to many resolution nodes (32 or more) over
// up to GOMAXPROCS goroutines; shorter work runs on the calling goroutine,
// where it costs less CPU time (see parallelMin). A receiver (ApplyUpdatePath,
// a joiner's path secret) does all its path work on the calling goroutine,
// whatever the path's length (see noParallel).
//
// # Errors
//
// Every validation failure is a *[PathError] whose Rule is one of the
// sentinel errors (ErrPathLength, ErrPublicKeyMismatch, ErrLeafSignature,
// ErrDecryption, ...), usable with errors.Is; provider errors are wrapped
// alongside (providers.ErrInvalidSignature, providers.ErrDecryption).
package treekem
