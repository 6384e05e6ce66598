package mls

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

const testSuite = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519

// testTime is the fixed clock of the tests.
var testTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return testTime }

func newBuilder(t testing.TB, p providers.Provider, suite codec.CipherSuite) *KeyPackageBuilder {
	t.Helper()
	k, err := GenerateSignatureKeyPair(p, suite)
	if err != nil {
		t.Fatal(err)
	}
	return &KeyPackageBuilder{
		Provider:    p,
		CipherSuite: suite,
		Credential:  NewBasicCredential([]byte("alice")),
		Signer:      k,
		Now:         fixedClock,
	}
}

func TestKeyPackageAllSuites(t *testing.T) {
	p := defaultcrypto.New()
	for _, suite := range p.CipherSuites() {
		t.Run(suite.String(), func(t *testing.T) {
			b := newBuilder(t, p, suite)
			kb, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			opts := &ValidationOptions{Now: fixedClock, CipherSuite: suite, Version: codec.ProtocolVersionMLS10}
			if err := ValidateKeyPackage(p, &kb.KeyPackage, opts); err != nil {
				t.Fatalf("fresh key package invalid: %v", err)
			}
			// What goes on the wire decodes to a key package that validates
			// and has the same ref.
			enc, err := kb.KeyPackage.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var dec codec.KeyPackage
			if err := dec.Unmarshal(enc); err != nil {
				t.Fatal(err)
			}
			if err := ValidateKeyPackage(p, &dec, opts); err != nil {
				t.Fatalf("decoded key package invalid: %v", err)
			}
			cs, _ := p.CipherSuite(suite)
			ref, err := providers.MakeKeyPackageRef(cs, enc)
			if err != nil || !bytes.Equal(ref, kb.Ref) || len(ref) != cs.HashSize() {
				t.Fatalf("Ref = %x, want %x (%v)", []byte(kb.Ref), ref, err)
			}
			// The private keys belong to the public ones.
			for _, pair := range [][2][]byte{{kb.InitPrivateKey, kb.KeyPackage.InitKey}, {kb.EncryptionPrivateKey, kb.KeyPackage.LeafNode.EncryptionKey}} {
				pub, err := cs.HPKEPublicKey(pair[0])
				if err != nil || !bytes.Equal(pub, pair[1]) {
					t.Fatalf("private key does not match its public key: %v", err)
				}
			}
		})
	}
}

func TestKeyPackageBuilderDefaults(t *testing.T) {
	p := defaultcrypto.New()
	b := newBuilder(t, p, testSuite)
	b.NoGREASE = true // GREASE: TestGREASEKeyPackage
	kb, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	kp := &kb.KeyPackage
	leaf := &kp.LeafNode
	if kp.Version != codec.ProtocolVersionMLS10 || kp.CipherSuite != testSuite {
		t.Errorf("version %v suite %v", kp.Version, kp.CipherSuite)
	}
	if leaf.LeafNodeSource != codec.LeafNodeSourceKeyPackage || !bytes.Equal(leaf.SignatureKey, b.Signer.PublicKey()) {
		t.Error("leaf source or signature key")
	}
	if !CredentialFromWire(&leaf.Credential).Equal(b.Credential) {
		t.Error("credential")
	}
	wantNB := uint64(testTime.Add(-DefaultNotBeforeSkew).Unix())
	wantNA := uint64(testTime.Add(DefaultKeyPackageLifetime).Unix())
	if leaf.Lifetime.NotBefore != wantNB || leaf.Lifetime.NotAfter != wantNA {
		t.Errorf("lifetime = %+v, want [%d, %d]", *leaf.Lifetime, wantNB, wantNA)
	}
	caps := leaf.Capabilities
	want := DefaultCapabilities(p)
	if !slices.Equal(caps.Versions, want.Versions) || !slices.Equal(caps.CipherSuites, p.CipherSuites()) ||
		!slices.Equal(caps.Extensions, want.Extensions) || !slices.Equal(caps.Proposals, want.Proposals) ||
		!slices.Equal(caps.Credentials, []codec.CredentialType{codec.CredentialTypeBasic, codec.CredentialTypeX509}) {
		t.Errorf("capabilities = %+v", caps)
	}
	// §7.2: default extension and proposal types are never listed.
	for _, e := range caps.Extensions {
		if isDefaultExtension(e) {
			t.Errorf("default extension %v listed", e)
		}
	}
	for _, pt := range caps.Proposals {
		if isDefaultProposal(pt) {
			t.Errorf("default proposal %v listed", pt)
		}
	}
	if IsLastResort(&kb.KeyPackage) || len(kp.Extensions) != 0 || len(leaf.Extensions) != 0 {
		t.Error("unexpected extensions")
	}
	// Every Build makes fresh keys.
	kb2, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(kb2.KeyPackage.InitKey, kp.InitKey) || bytes.Equal(kb2.Ref, kb.Ref) {
		t.Error("two builds share an init key or ref")
	}
}

func TestKeyPackageBuilderOptions(t *testing.T) {
	p := defaultcrypto.New()
	b := newBuilder(t, p, codec.CipherSuiteMLS256DHKEMP384AES256GCMSHA384P384)
	b.NoGREASE = true
	b.Capabilities = &codec.Capabilities{
		CipherSuites: []codec.CipherSuite{codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256},
		Proposals:    []codec.ProposalType{0xF0F0},
	}
	b.Lifetime = 24 * time.Hour
	b.NotBeforeSkew = -1
	b.Extensions = []codec.Extension{{ExtensionType: 0xFF01, ExtensionData: []byte("kp")}, {ExtensionType: codec.ExtensionTypeApplicationID, ExtensionData: []byte("x")}}
	b.LeafExtensions = []codec.Extension{{ExtensionType: 0xFF02, ExtensionData: []byte("leaf")}, {ExtensionType: codec.ExtensionTypeApplicationID, ExtensionData: []byte("app")}}
	b.LastResort = true
	kb, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	leaf := &kb.KeyPackage.LeafNode
	caps := leaf.Capabilities
	if !slices.Contains(caps.CipherSuites, b.CipherSuite) || !slices.Contains(caps.Versions, codec.ProtocolVersionMLS10) ||
		!slices.Contains(caps.Credentials, codec.CredentialTypeBasic) {
		t.Errorf("required capabilities not added: %+v", caps)
	}
	if !slices.Equal(caps.Extensions, []codec.ExtensionType{0xFF01, ExtensionTypeLastResort, 0xFF02}) {
		t.Errorf("capability extensions = %v", caps.Extensions)
	}
	if !slices.Equal(caps.Proposals, []codec.ProposalType{0xF0F0}) {
		t.Errorf("capability proposals = %v", caps.Proposals)
	}
	if b.Capabilities.CipherSuites[0] != codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256 || len(b.Capabilities.CipherSuites) != 1 {
		t.Error("Build modified the caller's capabilities")
	}
	if leaf.Lifetime.NotBefore != uint64(testTime.Unix()) || leaf.Lifetime.NotAfter != uint64(testTime.Add(24*time.Hour).Unix()) {
		t.Errorf("lifetime = %+v", *leaf.Lifetime)
	}
	if !IsLastResort(&kb.KeyPackage) {
		t.Error("not last resort")
	}
	if n := len(kb.KeyPackage.Extensions); n != 3 || kb.KeyPackage.Extensions[2].ExtensionType != ExtensionTypeLastResort || len(kb.KeyPackage.Extensions[2].ExtensionData) != 0 {
		t.Errorf("key package extensions = %+v", kb.KeyPackage.Extensions)
	}
	b.Extensions[0].ExtensionData[0] = 'X'
	if string(kb.KeyPackage.Extensions[0].ExtensionData) != "kp" {
		t.Error("key package aliases the builder's extension data")
	}
	if err := ValidateKeyPackage(p, &kb.KeyPackage, &ValidationOptions{Now: fixedClock}); err != nil {
		t.Fatal(err)
	}
}

func TestKeyPackageBuilderErrors(t *testing.T) {
	p := defaultcrypto.New()
	cases := map[string]func(b *KeyPackageBuilder){
		"no provider":       func(b *KeyPackageBuilder) { b.Provider = nil },
		"no signer":         func(b *KeyPackageBuilder) { b.Signer = nil },
		"no credential":     func(b *KeyPackageBuilder) { b.Credential = Credential{} },
		"negative lifetime": func(b *KeyPackageBuilder) { b.Lifetime = -time.Hour },
		"duplicate kp extension": func(b *KeyPackageBuilder) {
			b.Extensions = []codec.Extension{{ExtensionType: 0xFF01}, {ExtensionType: 0xFF01}}
		},
		"duplicate leaf extension": func(b *KeyPackageBuilder) {
			b.LeafExtensions = []codec.Extension{{ExtensionType: 0xFF01}, {ExtensionType: 0xFF01}}
		},
	}
	for name, mutate := range cases {
		b := newBuilder(t, p, testSuite)
		mutate(b)
		if _, err := b.Build(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	b := newBuilder(t, p, testSuite)
	b.CipherSuite = 0x0A0A
	if _, err := b.Build(); !errors.Is(err, providers.ErrUnsupportedCipherSuite) {
		t.Errorf("GREASE suite: %v", err)
	}
	// A last-resort extension given explicitly is not duplicated.
	b = newBuilder(t, p, testSuite)
	b.NoGREASE = true
	b.LastResort = true
	b.Extensions = []codec.Extension{{ExtensionType: ExtensionTypeLastResort}}
	kb, err := b.Build()
	if err != nil || len(kb.KeyPackage.Extensions) != 1 {
		t.Errorf("explicit last resort: %v, %+v", err, kb)
	}
	if _, err := newBuilder(t, p, testSuite).BuildAndStore(nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil store: %v", err)
	}
}

func TestKeyPackageStorage(t *testing.T) {
	p := defaultcrypto.New()
	s := memstore.New()
	kb, err := newBuilder(t, p, testSuite).BuildAndStore(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadKeyPackageBundle(s, kb.Ref)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := got.KeyPackage.Marshal()
	b, _ := kb.KeyPackage.Marshal()
	if !bytes.Equal(a, b) || !bytes.Equal(got.Ref, kb.Ref) || !bytes.Equal(got.InitPrivateKey, kb.InitPrivateKey) || !bytes.Equal(got.EncryptionPrivateKey, kb.EncryptionPrivateKey) {
		t.Fatal("loaded bundle differs")
	}
	// The loaded bundle owns its memory: zeroing it does not touch the store.
	got.Zero()
	if bytes.Equal(got.InitPrivateKey, kb.InitPrivateKey) {
		t.Fatal("Zero did not clear")
	}
	again, err := LoadKeyPackageBundle(s, kb.Ref)
	if err != nil || !bytes.Equal(again.InitPrivateKey, kb.InitPrivateKey) {
		t.Fatal("store changed by zeroing a loaded bundle")
	}

	// Consuming a regular key package deletes it.
	used, err := ConsumeKeyPackage(s, kb.Ref)
	if err != nil || !bytes.Equal(used.InitPrivateKey, kb.InitPrivateKey) {
		t.Fatalf("ConsumeKeyPackage: %v", err)
	}
	if _, err := LoadKeyPackageBundle(s, kb.Ref); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after consume: %v, want ErrNotFound", err)
	}
	if _, err := ConsumeKeyPackage(s, kb.Ref); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second consume: %v, want ErrNotFound", err)
	}

	// A last-resort key package survives being consumed, until deleted.
	lb := newBuilder(t, p, testSuite)
	lb.LastResort = true
	lr, err := lb.BuildAndStore(s)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := ConsumeKeyPackage(s, lr.Ref); err != nil {
			t.Fatalf("consuming a last-resort key package: %v", err)
		}
	}
	if err := DeleteKeyPackage(s, lr.Ref); err != nil {
		t.Fatal(err)
	}
	if _, err := ConsumeKeyPackage(s, lr.Ref); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestKeyPackageStorageCorrupt(t *testing.T) {
	p := defaultcrypto.New()
	s := memstore.New()
	kb, err := newBuilder(t, p, testSuite).BuildAndStore(s)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := s.ReadKeyPackage(kb.Ref)
	// The record is a KeyPackageBundleRecord (schema/records.tls) of
	// version 2 holding the KeyPackage's encoding.
	var rec record.KeyPackageBundleRecord
	if err := rec.Unmarshal(good); err != nil {
		t.Fatal(err)
	}
	kpEnc, _ := kb.KeyPackage.Marshal()
	if rec.Version != 2 || !bytes.Equal(rec.KeyPackage, kpEnc) || !bytes.Equal(rec.Ref, kb.Ref) ||
		!bytes.Equal(rec.InitPrivateKey, kb.InitPrivateKey) || !bytes.Equal(rec.EncryptionPrivateKey, kb.EncryptionPrivateKey) {
		t.Fatalf("stored record %+v", rec)
	}
	badKP := rec
	badKP.KeyPackage = kpEnc[:len(kpEnc)-1]
	badKPEnc, _ := badKP.Marshal()
	for name, rec := range map[string][]byte{
		"empty":          {},
		"future version": append([]byte{0, 9}, good[2:]...),
		"version 1":      append([]byte{0, 1}, good[2:]...),
		"bad KeyPackage": badKPEnc,
		"truncated":      good[:len(good)-1],
		"trailing":       append(bytes.Clone(good), 0),
	} {
		_ = s.WriteKeyPackage([]byte(name), rec)
		if _, err := LoadKeyPackageBundle(s, []byte(name)); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: %v, want ErrCorruptState", name, err)
		}
	}
	// A bundle stored under another ref.
	_ = s.WriteKeyPackage([]byte("other ref"), good)
	if _, err := ConsumeKeyPackage(s, []byte("other ref")); !errors.Is(err, ErrCorruptState) {
		t.Errorf("moved bundle: %v", err)
	}
	if _, err := s.ReadKeyPackage([]byte("other ref")); err != nil {
		t.Error("a corrupt bundle was deleted by ConsumeKeyPackage")
	}
	if _, err := LoadKeyPackageBundle(nil, kb.Ref); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil store: %v", err)
	}
}

func TestDeleteExpiredKeyPackages(t *testing.T) {
	p := defaultcrypto.New()
	s := memstore.New()
	short := newBuilder(t, p, testSuite)
	short.Lifetime = time.Hour
	long := newBuilder(t, p, testSuite)
	lastResort := newBuilder(t, p, testSuite)
	lastResort.Lifetime, lastResort.LastResort = time.Hour, true
	var refs [3][]byte
	for i, b := range []*KeyPackageBuilder{short, long, lastResort} {
		kb, err := b.BuildAndStore(s)
		if err != nil {
			t.Fatal(err)
		}
		refs[i] = kb.Ref
	}
	_ = s.WriteKeyPackage([]byte("corrupt"), []byte{1})

	deleted, err := DeleteExpiredKeyPackages(s, testTime.Add(30*time.Minute))
	if len(deleted) != 0 || !errors.Is(err, ErrCorruptState) {
		t.Fatalf("nothing expired yet: deleted %x, %v", deleted, err)
	}
	deleted, err = DeleteExpiredKeyPackages(s, testTime.Add(2*time.Hour))
	if !errors.Is(err, ErrCorruptState) {
		t.Fatalf("corrupt record not reported: %v", err)
	}
	if len(deleted) != 2 {
		t.Fatalf("deleted %d key packages, want 2", len(deleted))
	}
	for i, ref := range refs {
		_, err := LoadKeyPackageBundle(s, ref)
		if gone := errors.Is(err, ErrNotFound); gone != (i != 1) {
			t.Errorf("key package %d: gone = %v", i, gone)
		}
	}
	if _, err := s.ReadKeyPackage([]byte("corrupt")); err != nil {
		t.Error("a corrupt record was deleted")
	}
}

// TestParseKeyPackage parses key packages in both forms they arrive in,
// framed as an MLSMessage and bare, for every suite (P-521's suite 5 makes
// a bare KeyPackage start like a framed one), and refuses other input.
func TestParseKeyPackage(t *testing.T) {
	p := defaultcrypto.New()
	for _, suite := range p.CipherSuites() {
		kb, err := newBuilder(t, p, suite).Build()
		if err != nil {
			t.Fatal(err)
		}
		bare, err := kb.KeyPackage.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		framed, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSKeyPackage, KeyPackage: &kb.KeyPackage}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string][]byte{"bare": bare, "framed": framed} {
			kp, err := ParseKeyPackage(b)
			if err != nil {
				t.Fatalf("%v %s: %v", suite, name, err)
			}
			got, err := kp.Marshal()
			if err != nil || !bytes.Equal(got, bare) {
				t.Fatalf("%v %s: parsed key package re-encodes differently (%v)", suite, name, err)
			}
			if _, err := ParseKeyPackage(append(slices.Clip(b), 0)); !errors.Is(err, ErrMalformedKeyPackage) {
				t.Errorf("%v %s with a trailing byte: %v, want ErrMalformedKeyPackage", suite, name, err)
			}
			if _, err := ParseKeyPackage(b[:len(b)-1]); !errors.Is(err, ErrMalformedKeyPackage) {
				t.Errorf("%v %s truncated: %v, want ErrMalformedKeyPackage", suite, name, err)
			}
		}
	}

	kb, err := newBuilder(t, p, testSuite).Build()
	if err != nil {
		t.Fatal(err)
	}
	// An MLSMessage of another wire format.
	welcome, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSWelcome, Welcome: &codec.Welcome{CipherSuite: testSuite}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseKeyPackage(welcome); !errors.Is(err, ErrMalformedKeyPackage) {
		t.Errorf("Welcome: %v, want ErrMalformedKeyPackage", err)
	}
	// A key package of another protocol version.
	other := kb.KeyPackage
	other.Version = 2
	b, err := other.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseKeyPackage(b); !errors.Is(err, RuleKeyPackageVersion) {
		t.Errorf("version 2: %v, want RuleKeyPackageVersion", err)
	}
	// Larger than the default MaxMessageSize.
	if _, err := ParseKeyPackage(make([]byte, DefaultMaxMessageSize+1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("oversized: %v, want ErrMessageTooLarge", err)
	}
	if _, err := ParseKeyPackage(nil); !errors.Is(err, ErrMalformedKeyPackage) {
		t.Errorf("empty: %v, want ErrMalformedKeyPackage", err)
	}
}
