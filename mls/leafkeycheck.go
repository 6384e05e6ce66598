package mls

import (
	"bytes"
	"crypto/subtle"
	"sync/atomic"

	"github.com/mlskit/mlskit/providers"
)

// leafKeyCheck checks that the private key of our KeyPackage's leaf gives
// the leaf's public key (one scalar multiplication), which Stage requires
// of the key it installs for our leaf, as for stored keys when a group is
// loaded. It needs only our KeyPackage bundle, not the group's tree: our
// leaf in the tree must be identical to the KeyPackage's LeafNode
// (RFC 9420 §12.4.3.1), so its public key is the KeyPackage's.
//
// Stage hands it to the leaf-signature workers as one more task
// (ratchettree.StreamLeafSignatures' also) instead of doing it itself:
// at N=2 to 10 it is a visible share of what the joiner does on its own
// goroutine (20 µs of about 150 µs at N=2), and a worker does it while
// the joiner verifies the GroupInfo's signature. Not a goroutine of its
// own: waking another core costs the waker about 10 µs in a virtual
// machine, as much as the check saves. The check is made on a copy of
// the private key (erased by zero), so that Stage can tell that the key
// it installs is the one checked; whoever comes first runs it (a worker,
// or Stage if no worker did), so that it runs once.
type leafKeyCheck struct {
	cs   providers.CipherSuite
	priv []byte // a copy of the key checked
	pub  []byte // the leaf's public key
	// claimed is set by whoever runs the check (or zero, which skips
	// it); done is closed once it has set ok.
	claimed atomic.Bool
	done    chan struct{}
	ok      bool
}

// newLeafKeyCheck prepares checking that priv gives pub (run).
func newLeafKeyCheck(cs providers.CipherSuite, priv, pub []byte) *leafKeyCheck {
	return &leafKeyCheck{cs: cs, priv: bytes.Clone(priv), pub: pub, done: make(chan struct{})}
}

// run runs the check (or, if check is false, marks it not run) unless
// someone has claimed it.
func (k *leafKeyCheck) run(check bool) {
	if k == nil || !k.claimed.CompareAndSwap(false, true) {
		return
	}
	if check {
		derived, err := k.cs.HPKEPublicKey(k.priv)
		k.ok = err == nil && bytes.Equal(derived, k.pub)
	}
	close(k.done)
}

// verified returns, once the check has run, whether it established that
// priv gives pub; false also when priv or pub are not the ones checked,
// or after zero.
func (k *leafKeyCheck) verified(priv, pub []byte) bool {
	if k == nil {
		return false
	}
	k.run(true)
	<-k.done
	return k.ok && len(k.priv) > 0 && subtle.ConstantTimeCompare(k.priv, priv) == 1 && bytes.Equal(k.pub, pub)
}

// zero erases the copy of the key, once the check is done or skipped.
func (k *leafKeyCheck) zero() {
	if k == nil {
		return
	}
	k.run(false)
	<-k.done
	clear(k.priv)
	k.priv = nil
}
