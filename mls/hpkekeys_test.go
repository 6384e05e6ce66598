package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

func TestEncryptionKeyPairStorage(t *testing.T) {
	p := defaultcrypto.New()
	cs, _ := p.CipherSuite(testSuite)
	priv, pub, err := cs.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	k := &EncryptionKeyPair{CipherSuite: testSuite, PublicKey: pub, PrivateKey: priv}
	if err := CheckEncryptionKeyPair(cs, k); err != nil {
		t.Fatal(err)
	}
	s := memstore.New()
	if err := k.Store(s); err != nil {
		t.Fatal(err)
	}
	// The record (schema/records.tls EncryptionKeyPairRecord): version 1,
	// the suite, the private key as an MLS vector.
	rec, _ := s.ReadEncryptionKeyPair(pub)
	want := append([]byte{0, 1, byte(testSuite >> 8), byte(testSuite), byte(len(priv))}, priv...)
	if !bytes.Equal(rec, want) {
		t.Fatalf("stored record %x, want %x", rec, want)
	}
	l, err := LoadEncryptionKeyPair(s, pub)
	if err != nil {
		t.Fatal(err)
	}
	if l.CipherSuite != testSuite || !bytes.Equal(l.PublicKey, pub) || !bytes.Equal(l.PrivateKey, priv) {
		t.Fatalf("loaded %+v", l)
	}
	l.Zero()
	if again, _ := LoadEncryptionKeyPair(s, pub); !bytes.Equal(again.PrivateKey, priv) {
		t.Fatal("zeroing a loaded key pair changed the store")
	}
	if err := DeleteEncryptionKeyPair(s, pub); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadEncryptionKeyPair(s, pub); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}

	// Mismatched and corrupt keys.
	_, pub2, _ := cs.GenerateKeyPair(nil)
	if err := CheckEncryptionKeyPair(cs, &EncryptionKeyPair{PublicKey: pub2, PrivateKey: priv}); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("mismatch: %v", err)
	}
	if err := CheckEncryptionKeyPair(cs, &EncryptionKeyPair{PublicKey: pub, PrivateKey: []byte{1}}); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("bad private key: %v", err)
	}
	for name, rec := range map[string][]byte{"empty": {}, "version": {0, 2, 0, 1, 0}, "trailing": {0, 1, 0, 1, 0, 0}} {
		_ = s.WriteEncryptionKeyPair([]byte(name), rec)
		if _, err := LoadEncryptionKeyPair(s, []byte(name)); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := LoadEncryptionKeyPair(nil, pub); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil store: %v", err)
	}
}
