package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

func TestSignatureKeyPairAllSuites(t *testing.T) {
	p := defaultcrypto.New()
	for _, suite := range p.CipherSuites() {
		t.Run(suite.String(), func(t *testing.T) {
			cs, _ := p.CipherSuite(suite)
			k, err := GenerateSignatureKeyPair(p, suite)
			if err != nil {
				t.Fatal(err)
			}
			if k.CipherSuite() != suite {
				t.Errorf("CipherSuite() = %v", k.CipherSuite())
			}
			sig, err := providers.SignWithLabel(k, "Test", []byte("msg"))
			if err != nil {
				t.Fatal(err)
			}
			if err := providers.VerifyWithLabel(cs, k.PublicKey(), "Test", []byte("msg"), sig); err != nil {
				t.Fatalf("signature does not verify: %v", err)
			}

			s := memstore.New()
			if err := k.Store(s); err != nil {
				t.Fatal(err)
			}
			l, err := LoadSignatureKeyPair(p, s, k.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(l.PublicKey(), k.PublicKey()) || !bytes.Equal(l.PrivateKey(), k.PrivateKey()) || l.CipherSuite() != suite {
				t.Fatal("loaded key pair differs")
			}
			sig, err = l.Sign([]byte("x"))
			if err != nil || cs.Verify(k.PublicKey(), []byte("x"), sig) != nil {
				t.Fatalf("loaded key pair does not sign: %v", err)
			}
			n, err := NewSignatureKeyPair(p, suite, k.PrivateKey())
			if err != nil || !bytes.Equal(n.PublicKey(), k.PublicKey()) {
				t.Fatalf("NewSignatureKeyPair: %v", err)
			}
			if err := k.Delete(s); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadSignatureKeyPair(p, s, k.PublicKey()); !errors.Is(err, ErrNotFound) {
				t.Fatalf("load after delete: %v", err)
			}
		})
	}
}

func TestSignatureKeyPairErrors(t *testing.T) {
	p := defaultcrypto.New()
	const suite = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519
	if _, err := GenerateSignatureKeyPair(p, 0x0A0A); !errors.Is(err, providers.ErrUnsupportedCipherSuite) {
		t.Errorf("GREASE suite: %v", err)
	}
	if _, err := GenerateSignatureKeyPair(nil, suite); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil provider: %v", err)
	}
	if _, err := NewSignatureKeyPair(p, suite, []byte{1, 2, 3}); !errors.Is(err, providers.ErrInvalidPrivateKey) {
		t.Errorf("short private key: %v", err)
	}
	s := memstore.New()
	if _, err := LoadSignatureKeyPair(p, s, []byte("absent")); !errors.Is(err, ErrNotFound) {
		t.Errorf("absent: %v", err)
	}
	if _, err := LoadSignatureKeyPair(p, nil, []byte("x")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil store: %v", err)
	}

	k, _ := GenerateSignatureKeyPair(p, suite)
	if err := k.Store(s); err != nil {
		t.Fatal(err)
	}
	good, _ := s.ReadSignatureKeyPair(k.PublicKey())
	// The record (schema/records.tls SignatureKeyPairRecord): version 1, the
	// suite, the private key as an MLS vector.
	priv := k.PrivateKey()
	if want := append([]byte{0, 1, byte(suite >> 8), byte(suite), byte(len(priv))}, priv...); !bytes.Equal(good, want) {
		t.Fatalf("stored record %x, want %x", good, want)
	}
	for name, rec := range map[string][]byte{
		"empty":          {},
		"future version": append([]byte{0, 2}, good[2:]...),
		"truncated":      good[:len(good)-1],
		"trailing":       append(bytes.Clone(good), 0),
		"bad key":        {0, 1, 0, 1, 3, 1, 2, 3},
	} {
		_ = s.WriteSignatureKeyPair([]byte(name), rec)
		if _, err := LoadSignatureKeyPair(p, s, []byte(name)); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s record: %v, want ErrCorruptState", name, err)
		}
	}
	// A record stored under another public key is detected.
	_ = s.WriteSignatureKeyPair([]byte("other key"), good)
	if _, err := LoadSignatureKeyPair(p, s, []byte("other key")); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("mismatched key: %v", err)
	}
}
