package mls

import (
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

// FuzzStoredRecords feeds arbitrary bytes to the loaders of stored records:
// they return an error or a value, never panic.
func FuzzStoredRecords(f *testing.F) {
	p := defaultcrypto.New()
	s := memstore.New()
	kb, err := newBuilder(f, p, testSuite).BuildAndStore(s)
	if err != nil {
		f.Fatal(err)
	}
	rec, _ := s.ReadKeyPackage(kb.Ref)
	f.Add(rec)
	k, _ := GenerateSignatureKeyPair(p, testSuite)
	_ = k.Store(s)
	rec, _ = s.ReadSignatureKeyPair(k.PublicKey())
	f.Add(rec)
	_ = StoreExternalPSK(s, []byte("k"), []byte("secret"))
	pskKey, _ := externalPSKKey([]byte("k"))
	rec, _ = s.ReadPSK(pskKey)
	f.Add(rec)
	f.Add([]byte{0, 1, 0, 1, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := memstore.New()
		_ = s.WriteKeyPackage([]byte("k"), data)
		_ = s.WriteSignatureKeyPair([]byte("k"), data)
		_ = s.WriteEncryptionKeyPair([]byte("k"), data)
		_ = s.WritePSK(pskKey, data)
		_, _ = LoadKeyPackageBundle(s, []byte("k"))
		_, _ = LoadSignatureKeyPair(p, s, []byte("k"))
		_, _ = LoadEncryptionKeyPair(s, []byte("k"))
		_, _ = LoadExternalPSK(s, []byte("k"))
	})
}

// FuzzValidateKeyPackage validates whatever decodes as a KeyPackage: an
// error or nil, never a panic.
func FuzzValidateKeyPackage(f *testing.F) {
	p := defaultcrypto.New()
	kb, err := newBuilder(f, p, testSuite).Build()
	if err != nil {
		f.Fatal(err)
	}
	enc, _ := kb.KeyPackage.Marshal()
	f.Add(enc)
	f.Fuzz(func(t *testing.T, data []byte) {
		var kp codec.KeyPackage
		if kp.Unmarshal(data) != nil {
			return
		}
		_ = ValidateKeyPackage(p, &kp, &ValidationOptions{Now: fixedClock})
	})
}
