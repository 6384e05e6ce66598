package mls

import (
	"bytes"
	"crypto/subtle"
	"runtime"
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
// Why on another goroutine, started as soon as the Welcome names one of
// our KeyPackages: the joiner's next steps — the HPKE open of the
// GroupSecrets, the decryption and decoding of the GroupInfo — are serial
// and leave the other cores idle, and at N=2 to 10 the check is a visible
// share of the join's wall time (20 µs of about 150 µs at N=2). Run there,
// it also costs nothing on the path Stage waits on; and the goroutine it
// starts gets a second core running before the leaf signatures are handed
// out (ratchettree.StartLeafSignatures). A Welcome that names our
// KeyPackage but is forged costs one scalar multiplication more, less
// than the HPKE open it costs anyway; with one core (GOMAXPROCS 1) the
// check runs when Stage asks for it.
//
// The check is made on a copy of the private key (erased by zero), so
// that Stage can tell that the key it installs is the one checked. Whoever
// comes first runs it: the goroutine, or Stage when it needs the result
// before the goroutine has started (a busy machine), so that Stage never
// waits for a goroutine that has not run.
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

// startLeafKeyCheck starts checking that priv gives pub.
func startLeafKeyCheck(cs providers.CipherSuite, priv, pub []byte) *leafKeyCheck {
	k := &leafKeyCheck{cs: cs, priv: bytes.Clone(priv), pub: pub, done: make(chan struct{})}
	if runtime.GOMAXPROCS(0) >= 2 {
		go k.run(true)
	}
	return k
}

// run runs the check (or, if check is false, marks it not run) unless
// someone has claimed it.
func (k *leafKeyCheck) run(check bool) {
	if !k.claimed.CompareAndSwap(false, true) {
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
