package mls

import (
	"bytes"
	"sync"
	"testing"

	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// TestLeafKeyCheck: the check of our leaf's private key, run by whoever
// asks first (a signature worker or Stage), verifies only the key it was
// given against the public key it was given: another private key,
// another public key, a key that does not give the public key, or a
// check erased before it ran, are not verified; and zero erases its copy
// of the key.
func TestLeafKeyCheck(t *testing.T) {
	cs := gtMust(defaultcrypto.New().CipherSuite(gtSuites[0]))(t)
	priv, pub := gtMust2(cs.GenerateKeyPair(nil))(t)
	otherPriv, otherPub := gtMust2(cs.GenerateKeyPair(nil))(t)

	k := newLeafKeyCheck(cs, priv, pub)
	// Workers racing for it: it runs once, and everyone sees the result.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); k.run(true) }()
	}
	wg.Wait()
	if !k.verified(priv, pub) {
		t.Error("the right key pair is not verified")
	}
	if !k.verified(bytes.Clone(priv), bytes.Clone(pub)) {
		t.Error("an equal copy of the key pair is not verified")
	}
	if k.verified(otherPriv, pub) {
		t.Error("another private key verified")
	}
	if k.verified(priv, otherPub) {
		t.Error("another public key verified")
	}
	copyOfKey := k.priv
	k.zero()
	if k.verified(priv, pub) {
		t.Error("verified after zero")
	}
	if !bytes.Equal(copyOfKey, make([]byte, len(copyOfKey))) {
		t.Error("zero left the copy of the key")
	}
	// A key that does not give the public key, run by verified itself.
	if newLeafKeyCheck(cs, otherPriv, pub).verified(otherPriv, pub) {
		t.Error("a mismatched key pair verified")
	}
	// Erased before anyone ran it: never verified, never run after.
	k = newLeafKeyCheck(cs, priv, pub)
	k.zero()
	k.run(true)
	if k.ok || k.verified(priv, pub) {
		t.Error("a check erased first verified")
	}
	var nilCheck *leafKeyCheck
	nilCheck.run(true)
	if nilCheck.verified(priv, pub) {
		t.Error("a nil check verified")
	}
	nilCheck.zero()
}
