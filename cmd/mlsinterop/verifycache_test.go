package main

import (
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// countingProvider counts the Verify calls of its suites.
type countingProvider struct {
	providers.Provider
	verifies int
}

func (p *countingProvider) CipherSuite(id codec.CipherSuite) (providers.CipherSuite, error) {
	cs, err := p.Provider.CipherSuite(id)
	if err != nil {
		return nil, err
	}
	return &countingSuite{CipherSuite: cs, p: p}, nil
}

type countingSuite struct {
	providers.CipherSuite
	p *countingProvider
}

func (c *countingSuite) Verify(pub, msg, sig []byte) error {
	c.p.verifies++
	return c.CipherSuite.Verify(pub, msg, sig)
}

// The cache answers a repeated valid (key, message, signature) without the
// wrapped suite, and passes everything else to it every time: an invalid
// signature stays invalid, however often a valid one was seen.
func TestVerifyCache(t *testing.T) {
	inner := &countingProvider{Provider: defaultcrypto.New()}
	v := newVerifyCache(inner)
	const id = codec.CipherSuiteMLS256DHKEMP521AES256GCMSHA512P521
	cs, err := v.CipherSuite(id)
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := cs.GenerateSignatureKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := cs.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("leaf node")
	sig, err := signer.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPub, err := cs.GenerateSignatureKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := cs.Verify(pub, msg, sig); err != nil {
			t.Fatalf("valid signature, try %d: %v", i, err)
		}
	}
	if inner.verifies != 1 {
		t.Fatalf("%d verifications of one valid signature, want 1", inner.verifies)
	}
	bad := append([]byte(nil), sig...)
	bad[len(bad)-1] ^= 1
	for i, c := range []struct{ pub, msg, sig []byte }{
		{pub, []byte("leaf nodf"), sig},
		{pub, msg, bad},
		{otherPub, msg, sig},
		{pub, []byte("leaf nodf"), sig},
	} {
		before := inner.verifies
		if err := cs.Verify(c.pub, c.msg, c.sig); !errors.Is(err, providers.ErrInvalidSignature) && !errors.Is(err, providers.ErrInvalidPublicKey) {
			t.Fatalf("case %d: %v, want an invalid signature", i, err)
		}
		if inner.verifies != before+1 {
			t.Fatalf("case %d: not verified by the wrapped suite", i)
		}
	}
	// The suite of another id is cached apart.
	cs1, err := v.CipherSuite(codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	if cs1.ID() == id {
		t.Fatal("another suite id gave the same suite")
	}
}

// The wrapper keeps the wrapped suite's PreparedSealer.
func TestVerifyCachePreparedSealer(t *testing.T) {
	p := defaultcrypto.New()
	v := newVerifyCache(p)
	for _, id := range p.CipherSuites() {
		inner, _ := p.CipherSuite(id)
		cs, err := v.CipherSuite(id)
		if err != nil {
			t.Fatal(err)
		}
		_, in := inner.(providers.PreparedSealer)
		_, out := cs.(providers.PreparedSealer)
		if in != out {
			t.Errorf("suite %v: PreparedSealer %v, wrapped %v", id, out, in)
		}
	}
}
