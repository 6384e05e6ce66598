package leafnode

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

func newSigner(t *testing.T, cs providers.CipherSuite) providers.Signer {
	t.Helper()
	priv, _, err := cs.GenerateSignatureKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cs.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func leaf(s providers.Signer, src codec.LeafNodeSource) *codec.LeafNode {
	ln := &codec.LeafNode{
		EncryptionKey:  []byte("encryption key"),
		SignatureKey:   s.PublicKey(),
		Credential:     codec.Credential{CredentialType: codec.CredentialTypeBasic, Identity: []byte("alice")},
		LeafNodeSource: src,
	}
	switch src {
	case codec.LeafNodeSourceKeyPackage:
		ln.Lifetime = &codec.Lifetime{NotBefore: 1, NotAfter: 2}
	case codec.LeafNodeSourceCommit:
		ln.ParentHash = []byte("parent hash")
	}
	return ln
}

// TestSignVerify signs and verifies a leaf node of each source; the
// signature binds group id and leaf index for update and commit leaves
// only (RFC 9420 §7.2), and any change to the content breaks it.
func TestSignVerify(t *testing.T) {
	cs, err := defaultcrypto.New().CipherSuite(codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	s := newSigner(t, cs)
	group := []byte("group")
	for _, src := range []codec.LeafNodeSource{codec.LeafNodeSourceKeyPackage, codec.LeafNodeSourceUpdate, codec.LeafNodeSourceCommit} {
		ln := leaf(s, src)
		if err := Sign(s, ln, group, 3); err != nil {
			t.Fatalf("%v: %v", src, err)
		}
		var buf []byte
		if err := Verify(cs, ln, group, 3, &buf); err != nil {
			t.Fatalf("%v: %v", src, err)
		}
		bound := src != codec.LeafNodeSourceKeyPackage
		if err := Verify(cs, ln, []byte("other group"), 3, &buf); (err == nil) == bound {
			t.Errorf("%v, other group id: %v (bound: %v)", src, err, bound)
		}
		if err := Verify(cs, ln, group, 4, nil); (err == nil) == bound {
			t.Errorf("%v, other leaf index: %v (bound: %v)", src, err, bound)
		}
		ln.EncryptionKey = []byte("another key")
		if err := Verify(cs, ln, group, 3, nil); !errors.Is(err, providers.ErrInvalidSignature) {
			t.Errorf("%v, changed content: %v, want ErrInvalidSignature", src, err)
		}
	}
	// A leaf node of an unknown source does not encode.
	ln := leaf(s, 9)
	if err := Sign(s, ln, group, 0); !errors.Is(err, ErrEncoding) {
		t.Errorf("unknown source: %v, want ErrEncoding", err)
	}
}
