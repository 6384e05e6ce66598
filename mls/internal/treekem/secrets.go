package treekem

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// Labels of RFC 9420 §7.4 and §7.6.
const (
	pathLabel           = "path"
	nodeLabel           = "node"
	updatePathNodeLabel = "UpdatePathNode"
)

// NextPathSecret returns DeriveSecret(pathSecret, "path"), the path secret of
// the next node of a filtered direct path, or the commit secret after the
// last one (RFC 9420 §7.4, §12.4.1).
func NextPathSecret(cs providers.CipherSuite, pathSecret []byte) ([]byte, error) {
	return providers.DeriveSecret(cs, pathSecret, pathLabel)
}

// NodeKeyPair derives the HPKE key pair of the node whose path secret is
// pathSecret (RFC 9420 §7.4):
//
//	node_secret = DeriveSecret(path_secret, "node")
//	node_priv, node_pub = KEM.DeriveKeyPair(node_secret)
//
// The intermediate node secret is zeroed before NodeKeyPair returns.
func NodeKeyPair(cs providers.CipherSuite, pathSecret []byte) (priv, pub []byte, err error) {
	nodeSecret, err := providers.DeriveSecret(cs, pathSecret, nodeLabel)
	if err != nil {
		return nil, nil, err
	}
	defer clear(nodeSecret)
	return cs.DeriveKeyPair(nodeSecret)
}

// pathDerivation is what a path_secret chain derives (RFC 9420 §7.4): the
// path secrets, the node_secret of each (from which the node's key pair
// is derived), and the commit_secret after the last one (§12.4.1).
type pathDerivation struct {
	chain, nodes [][]byte
	commit       []byte // nil unless asked for
}

// zero erases every secret of p.
func (p *pathDerivation) zero() {
	zeroAll(p.chain)
	zeroAll(p.nodes)
	clear(p.commit)
}

// derivePath derives the chain of n >= 1 path secrets that starts with
// first (copied), the node_secret of each, and, if withCommit, the
// commit_secret after the last: a committer's path (§7.4, §12.4.1), or
// the part of it a member decrypts or a new member receives in its
// Welcome (§12.4.3.1), which derive no commit_secret of their own.
//
//	node_secret[i]   = DeriveSecret(path_secret[i], "node")
//	path_secret[i+1] = DeriveSecret(path_secret[i], "path")
//
// Both secrets of a step are derived under the same key, with one
// Expander for the whole chain (providers.DeriveSecretsWith).
func derivePath(cs providers.CipherSuite, first []byte, n int, withCommit bool) (*pathDerivation, error) {
	if n < 1 {
		return nil, fmt.Errorf("treekem: a path of %d secrets", n)
	}
	p := &pathDerivation{chain: make([][]byte, n), nodes: make([][]byte, n)}
	p.chain[0] = append([]byte(nil), first...)
	x := providers.NewExpander(cs)
	defer x.Zero()
	labels := [2]string{nodeLabel, pathLabel}
	var out [2][]byte
	for i := range n {
		k := 2
		if i == n-1 && !withCommit {
			k = 1 // the node_secret alone
		}
		if err := providers.DeriveSecretsWith(x, cs.HashSize(), p.chain[i], labels[:k], out[:k]); err != nil {
			p.zero()
			return nil, err
		}
		p.nodes[i] = out[0]
		switch {
		case k == 1:
		case i < n-1:
			p.chain[i+1] = out[1]
		default:
			p.commit = out[1]
		}
	}
	return p, nil
}

// keyPair is an HPKE key pair of a tree node.
type keyPair struct {
	priv, pub []byte
}

// deriveNodeKeys derives the key pair of each node secret (§7.4:
// KEM.DeriveKeyPair(node_secret)), concurrently when there are at least
// min (parallelMin for a committer, noParallel for a receiver).
func deriveNodeKeys(cs providers.CipherSuite, nodeSecrets [][]byte, min int) ([]keyPair, error) {
	kps := make([]keyPair, len(nodeSecrets))
	err := parallel(len(nodeSecrets), min, func(i int) error {
		priv, pub, err := cs.DeriveKeyPair(nodeSecrets[i])
		if err != nil {
			return err
		}
		kps[i] = keyPair{priv, pub}
		return nil
	})
	if err != nil {
		for i := range kps {
			clear(kps[i].priv)
		}
		return nil, err
	}
	return kps, nil
}

// EncryptContext returns the encoded EncryptContext {"MLS 1.0
// UpdatePathNode", groupContext} that is the HPKE info of every encrypted
// path secret of an UpdatePath (RFC 9420 §5.1.3, §7.6). Computing it once
// saves encoding the group context for each ciphertext.
func EncryptContext(groupContext []byte) ([]byte, error) {
	label := providers.LabelPrefix + updatePathNodeLabel
	ec := codec.EncryptContext{Label: []byte(label), Context: groupContext}
	b, err := ec.Marshal()
	if err != nil {
		return nil, fmt.Errorf("treekem: EncryptContext: %w", err)
	}
	return b, nil
}

// EncryptPathSecret encrypts pathSecret to each of the HPKE public keys pubs
// (RFC 9420 §7.6):
//
//	(kem_output, ciphertext) = EncryptWithLabel(node_public_key,
//	    "UpdatePathNode", group_context, path_secret)
//
// info is the result of [EncryptContext] for the provisional group context.
// Lists of at least parallelMin keys are encrypted concurrently; the result
// is in the order of pubs.
func EncryptPathSecret(cs providers.CipherSuite, info, pathSecret []byte, pubs [][]byte) ([]codec.HPKECiphertext, error) {
	out := make([]codec.HPKECiphertext, len(pubs))
	err := parallel(len(pubs), parallelMin, func(i int) error {
		kem, ct, err := cs.SealBase(pubs[i], info, nil, pathSecret)
		if err != nil {
			return err
		}
		out[i] = codec.HPKECiphertext{KEMOutput: kem, Ciphertext: ct}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DecryptPathSecret decrypts one encrypted path secret with the HPKE private
// key priv (RFC 9420 §7.6, DecryptWithLabel with label "UpdatePathNode").
// info is the result of [EncryptContext] for the provisional group context.
func DecryptPathSecret(cs providers.CipherSuite, info, priv []byte, ct *codec.HPKECiphertext) ([]byte, error) {
	return cs.OpenBase(priv, ct.KEMOutput, info, nil, ct.Ciphertext)
}

// decryptPathSecret is DecryptPathSecret where pub is priv's public key,
// the key of the node in the tree, which a suite implementing
// providers.SplitInfoOpener uses instead of computing it (RFC 9180 §4.1:
// the KEM context holds the recipient's public key).
func decryptPathSecret(cs providers.CipherSuite, info, priv, pub []byte, ct *codec.HPKECiphertext) ([]byte, error) {
	return providers.OpenBaseSplitInfo(cs, priv, pub, ct.KEMOutput, info, nil, nil, ct.Ciphertext)
}

// parallelMin is the number of HPKE operations of one kind (encryptions of
// a path secret, node key pairs derived) from which a committer's TreeKEM
// spreads them over goroutines; fewer run on the calling goroutine.
//
// Handing work to another goroutine is not free: waking an idle thread,
// which spins looking for work before it sleeps again, and the
// synchronisation cost CPU time on top of the work. On a shared 2-core
// machine (mlsbench, alternating runs, medians of CPU time) it was about
// 30 µs per fork and join for short lists (a self-update commit 267 µs
// parallel, 237 µs sequential at N=2, 895 µs and 808 µs at N=100) and
// about 160 µs for each of the two lists of 17 operations of a
// self-update at 100,000 members (commit CPU 1.90 ms parallel, 1.58 ms
// sequential, load 1.7–3.8; more under load: 4.13 ms at 3.8), where the
// wall time saved, 0.3 ms on an idle machine, did not pay for it: the
// sequential commit is within 1.05× of its floor. A path stays under
// parallelMin up to 2^31 members; lists of 32 or more operations (an
// UpdatePath encrypted to many resolution nodes, as in a tree with blank
// parents) are a millisecond of work and more, of which the overhead is a
// few per cent, and halving their wall time matters (RFC 9420 places no
// constraint on the order of these independent operations).
const parallelMin = 32

// noParallel is the min of [parallel] for work that always runs on the
// calling goroutine: a receiver's path work (the leaf signature check, the
// node key pairs derived from a decrypted or welcomed path secret). That
// work is at most one signature check and d key pairs, and spreading it
// over two goroutines cost more CPU time than it saved in wall time, even
// for long paths (mlsbench update process, alternating runs on a shared
// 2-core machine, CPU time): 782, 771, 867 µs parallel against 715, 727,
// 681 µs sequential at 100,000 members (17 key pairs, load 2.6–8.2), and
// at 10,000 members with the threshold lowered to 14, 658, 670, 663 µs
// against 562, 574, 564 µs (load 2.1–2.6). The wall time was no better
// either (809, 762, 987 µs against 713, 722, 682 at 100,000).
const noParallel = math.MaxInt

// parallel calls f(0), ..., f(n-1), on up to GOMAXPROCS goroutines when n is
// at least min, and returns the first error. After an error, calls not yet
// started are skipped.
func parallel(n, min int, f func(i int) error) error {
	workers := min2(runtime.GOMAXPROCS(0), n)
	if n < min || workers < 2 {
		for i := 0; i < n; i++ {
			if err := f(i); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		next   atomic.Int64
		failed atomic.Bool
		once   sync.Once
		first  error
		wg     sync.WaitGroup
	)
	work := func() {
		defer wg.Done()
		for !failed.Load() {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			if err := f(i); err != nil {
				once.Do(func() { first = err })
				failed.Store(true)
				return
			}
		}
	}
	wg.Add(workers)
	for w := 1; w < workers; w++ {
		go work()
	}
	work()
	wg.Wait()
	return first
}

func min2(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func zeroAll(s [][]byte) {
	for _, b := range s {
		clear(b)
	}
}
