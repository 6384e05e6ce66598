package mls

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// TestLeafKeyCheck: the check of our leaf's private key, run on another
// goroutine or by whoever asks first, verifies only the key it was given
// against the public key it was given: another private key, another
// public key, a key that does not give the public key, or a check erased
// before it ran, are not verified; and zero erases its copy of the key.
func TestLeafKeyCheck(t *testing.T) {
	cs := gtMust(defaultcrypto.New().CipherSuite(gtSuites[0]))(t)
	priv, pub := gtMust2(cs.GenerateKeyPair(nil))(t)
	otherPriv, otherPub := gtMust2(cs.GenerateKeyPair(nil))(t)
	for _, procs := range []int{1, 2} {
		old := runtime.GOMAXPROCS(procs)
		k := startLeafKeyCheck(cs, priv, pub)
		if !k.verified(priv, pub) {
			t.Errorf("GOMAXPROCS %d: the right key pair is not verified", procs)
		}
		if !k.verified(bytes.Clone(priv), bytes.Clone(pub)) {
			t.Errorf("GOMAXPROCS %d: an equal copy of the key pair is not verified", procs)
		}
		if k.verified(otherPriv, pub) {
			t.Errorf("GOMAXPROCS %d: another private key verified", procs)
		}
		if k.verified(priv, otherPub) {
			t.Errorf("GOMAXPROCS %d: another public key verified", procs)
		}
		copyOfKey := k.priv
		k.zero()
		if k.verified(priv, pub) {
			t.Errorf("GOMAXPROCS %d: verified after zero", procs)
		}
		if !bytes.Equal(copyOfKey, make([]byte, len(copyOfKey))) {
			t.Errorf("GOMAXPROCS %d: zero left the copy of the key", procs)
		}
		// A key that does not give the public key.
		if startLeafKeyCheck(cs, otherPriv, pub).verified(otherPriv, pub) {
			t.Errorf("GOMAXPROCS %d: a mismatched key pair verified", procs)
		}
		// Erased before anyone ran it: never verified.
		k = startLeafKeyCheck(cs, priv, pub)
		k.zero()
		if k.verified(priv, pub) {
			t.Errorf("GOMAXPROCS %d: a check erased first verified", procs)
		}
		var nilCheck *leafKeyCheck
		if nilCheck.verified(priv, pub) {
			t.Error("a nil check verified")
		}
		nilCheck.zero()
		runtime.GOMAXPROCS(old)
	}
}
