package verifycache

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// countingProvider counts the Verify calls of its suites.
type countingProvider struct {
	providers.Provider
	calls int
}

func (c *countingProvider) CipherSuite(id codec.CipherSuite) (providers.CipherSuite, error) {
	cs, err := c.Provider.CipherSuite(id)
	if err != nil {
		return nil, err
	}
	return &countingSuite{cs, c}, nil
}

type countingSuite struct {
	providers.CipherSuite
	p *countingProvider
}

func (c *countingSuite) Verify(pub, msg, sig []byte) error {
	c.p.calls++
	return c.CipherSuite.Verify(pub, msg, sig)
}

// TestVerifyCache: a valid signature is verified once and then found in
// the cache; a tampered message, signature or key is verified (and
// refused) every time; the optional fast paths give the wrapped suite's
// results.
func TestVerifyCache(t *testing.T) {
	inner := &countingProvider{Provider: defaultcrypto.New()}
	cs, err := New(inner).CipherSuite(1)
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
	for range 3 {
		if err := cs.Verify(pub, msg, sig); err != nil {
			t.Fatal(err)
		}
	}
	if inner.calls != 1 {
		t.Errorf("3 checks of one valid signature: %d verifications, want 1", inner.calls)
	}
	_, otherPub, err := cs.GenerateSignatureKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	badSig := append([]byte(nil), sig...)
	badSig[0] ^= 1
	for _, c := range []struct {
		name          string
		pub, msg, sig []byte
	}{
		{"message", pub, []byte("leaf nodE"), sig},
		{"signature", pub, msg, badSig},
		{"key", otherPub, msg, sig},
	} {
		for range 2 {
			before := inner.calls
			if err := cs.Verify(c.pub, c.msg, c.sig); !errors.Is(err, providers.ErrInvalidSignature) {
				t.Errorf("tampered %s: %v, want ErrInvalidSignature", c.name, err)
			}
			if inner.calls != before+1 {
				t.Errorf("tampered %s: not verified by the wrapped suite", c.name)
			}
		}
	}
	// The fast paths seal and open like the wrapped suite.
	hpriv, hpub, err := cs.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	seal, err := cs.(providers.PreparedSealer).PrepareSealBase([]byte("info"), nil)
	if err != nil {
		t.Fatal(err)
	}
	enc, ct, err := seal(hpub, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]byte{nil, hpub} {
		pt, err := cs.(providers.SplitInfoOpener).OpenBaseSplitInfo(hpriv, p, enc, []byte("in"), []byte("fo"), nil, ct)
		if err != nil || string(pt) != "secret" {
			t.Errorf("open of the prepared seal (pub %x): %q, %v", p, pt, err)
		}
	}
	if _, err := cs.OpenBase(hpriv, enc, []byte("other"), nil, ct); err == nil {
		t.Error("opened with another info")
	}
	// The wrapped suite's Expander, which expands as Expand does.
	x := cs.(providers.ExpanderMaker).NewExpander()
	prk := bytes.Repeat([]byte{3}, cs.HashSize())
	if err := x.SetKey(prk); err != nil {
		t.Fatal(err)
	}
	got, err := x.Expand(nil, []byte("info"), 40)
	want, _ := cs.Expand(nil, prk, []byte("info"), 40)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("Expander: %x, %v; want %x", got, err, want)
	}
}

// TestVerifyCacheSuitesApart: each suite id gets its own wrapped suite, and
// a signature valid in one suite is verified again in another.
func TestVerifyCacheSuitesApart(t *testing.T) {
	inner := &countingProvider{Provider: defaultcrypto.New()}
	v := New(inner)
	cs1, err := v.CipherSuite(codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	cs3, err := v.CipherSuite(codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	if cs1.ID() == cs3.ID() {
		t.Fatal("another suite id gave the same suite")
	}
	priv, pub, err := cs1.GenerateSignatureKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := cs1.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign([]byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range []providers.CipherSuite{cs1, cs3, cs1, cs3} {
		if err := cs.Verify(pub, []byte("m"), sig); err != nil {
			t.Fatal(err)
		}
	}
	if inner.calls != 2 {
		t.Errorf("one signature checked twice in each of two suites: %d verifications, want 2", inner.calls)
	}
}
