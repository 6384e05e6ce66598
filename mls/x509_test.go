package mls

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

type testCA struct {
	cert *x509.Certificate
	key  ed25519.PrivateKey
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: testTime.Add(-time.Hour), NotAfter: testTime.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return testCA{cert: c, key: priv}
}

func (ca testCA) issue(t *testing.T, name string, pub any) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: testTime.Add(-time.Hour), NotAfter: testTime.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestX509Validator(t *testing.T) {
	p := defaultcrypto.New()
	ca, otherCA := newTestCA(t), newTestCA(t)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	v := &X509Validator{Roots: roots, Now: fixedClock}

	// Ed25519 (suite 1) and P-256 (suite 2) signature keys.
	edKeys, _ := GenerateSignatureKeyPair(p, testSuite)
	edCert := ca.issue(t, "alice", ed25519.PublicKey(edKeys.PublicKey()))
	p256Keys, _ := GenerateSignatureKeyPair(p, codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256)
	p256Pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), p256Keys.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	p256Cert := ca.issue(t, "bob", p256Pub)

	cred := func(chain ...[]byte) Credential {
		c, err := NewX509Credential(chain)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := v.ValidateCredential(testSuite, cred(edCert), edKeys.PublicKey()); err != nil {
		t.Errorf("Ed25519 certificate: %v", err)
	}
	if err := v.ValidateCredential(2, cred(p256Cert), p256Keys.PublicKey()); err != nil {
		t.Errorf("P-256 certificate: %v", err)
	}

	// A key package with an X.509 credential validates end to end.
	b := newBuilder(t, p, testSuite)
	b.Signer, b.Credential = edKeys, cred(edCert)
	kb, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateKeyPackage(p, &kb.KeyPackage, &ValidationOptions{Now: fixedClock, CredentialValidator: v}); err != nil {
		t.Errorf("key package: %v", err)
	}

	idErr := errors.New("not alice")
	bad := map[string]func() error{
		"key mismatch": func() error { return v.ValidateCredential(testSuite, cred(edCert), p256Keys.PublicKey()) },
		"untrusted issuer": func() error {
			return v.ValidateCredential(testSuite, cred(otherCA.issue(t, "mallory", ed25519.PublicKey(edKeys.PublicKey()))), edKeys.PublicKey())
		},
		"expired": func() error {
			v2 := *v
			v2.Now = func() time.Time { return testTime.Add(48 * time.Hour) }
			return v2.ValidateCredential(testSuite, cred(edCert), edKeys.PublicKey())
		},
		"garbage DER": func() error { return v.ValidateCredential(testSuite, cred([]byte("not DER")), edKeys.PublicKey()) },
		"identity rejected": func() error {
			v2 := *v
			v2.CheckIdentity = func(c *x509.Certificate) error {
				if c.Subject.CommonName != "bob" {
					return idErr
				}
				return nil
			}
			return v2.ValidateCredential(testSuite, cred(edCert), edKeys.PublicKey())
		},
		"basic without fallback": func() error {
			return v.ValidateCredential(testSuite, NewBasicCredential([]byte("a")), edKeys.PublicKey())
		},
	}
	for name, f := range bad {
		if err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := bad["identity rejected"](); !errors.Is(err, idErr) {
		t.Errorf("identity error not wrapped: %v", err)
	}
	if err := bad["basic without fallback"](); !errors.Is(err, ErrUnsupportedCredential) {
		t.Errorf("basic: %v", err)
	}
	v.Fallback = BasicCredentialValidator{}
	if err := v.ValidateCredential(testSuite, NewBasicCredential([]byte("a")), nil); err != nil {
		t.Errorf("basic with fallback: %v", err)
	}
}
