package mls

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/leafnode"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// resign signs leaf and key package again after a mutation, so that only the
// mutated rule fails.
func resign(t *testing.T, signer providers.Signer, kp *codec.KeyPackage) {
	t.Helper()
	if err := leafnode.Sign(signer, &kp.LeafNode, nil, 0); err != nil {
		t.Fatal(err)
	}
	resignKP(t, signer, kp)
}

func resignKP(t *testing.T, signer providers.Signer, kp *codec.KeyPackage) {
	t.Helper()
	tbs := codec.KeyPackageTBS{Version: kp.Version, CipherSuite: kp.CipherSuite, InitKey: kp.InitKey, LeafNode: kp.LeafNode, Extensions: kp.Extensions}
	b, err := tbs.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if kp.Signature, err = providers.SignWithLabel(signer, labelKeyPackageTBS, b); err != nil {
		t.Fatal(err)
	}
}

func wantRule(t *testing.T, err error, rule Rule) *ValidationError {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v, want a *ValidationError %s", err, rule)
	}
	if ve.Code != rule || !errors.Is(err, rule) || !errors.Is(err, ErrValidation) {
		t.Fatalf("error = %v, want rule %s", err, rule)
	}
	if ve.Section != rule.Section() || ve.Section == "" {
		t.Fatalf("section = %q, want %q", ve.Section, rule.Section())
	}
	return ve
}

func TestValidateKeyPackageRules(t *testing.T) {
	p := defaultcrypto.New()
	other, err := GenerateSignatureKeyPair(p, testSuite)
	if err != nil {
		t.Fatal(err)
	}
	appErr := errors.New("identity not acceptable")
	type tc struct {
		name   string
		mutate func(kp *codec.KeyPackage, s providers.Signer) // re-signs itself when needed
		opts   ValidationOptions
		rule   Rule
		cause  error // wrapped error the failure must carry, if any
	}
	mut := func(f func(kp *codec.KeyPackage)) func(*codec.KeyPackage, providers.Signer) {
		return func(kp *codec.KeyPackage, s providers.Signer) { f(kp); resign(t, s, kp) }
	}
	at := func(d time.Duration) func() time.Time { return func() time.Time { return testTime.Add(d) } }
	cases := []tc{
		{name: "group version differs", opts: ValidationOptions{Version: 2}, rule: RuleAddSuiteOrVersion},
		{name: "group suite differs", opts: ValidationOptions{CipherSuite: codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256}, rule: RuleAddSuiteOrVersion},
		{name: "unknown version", mutate: mut(func(kp *codec.KeyPackage) { kp.Version = 2 }), rule: RuleKeyPackageVersion},
		{name: "reserved version", mutate: mut(func(kp *codec.KeyPackage) { kp.Version = 0 }), rule: RuleKeyPackageVersion},
		{name: "unsupported suite", mutate: mut(func(kp *codec.KeyPackage) { kp.CipherSuite = 0x0A0A }), rule: RuleKeyPackageCipherSuite, cause: providers.ErrUnsupportedCipherSuite},
		{name: "init key equals encryption key", mutate: mut(func(kp *codec.KeyPackage) { kp.InitKey = kp.LeafNode.EncryptionKey }), rule: RuleInitKeyIsEncryptionKey},
		{name: "known key package extension not in capabilities", mutate: mut(func(kp *codec.KeyPackage) {
			kp.Extensions = append(kp.Extensions, codec.Extension{ExtensionType: ExtensionTypeLastResort})
			kp.LeafNode.Capabilities.Extensions = slices.DeleteFunc(kp.LeafNode.Capabilities.Extensions, func(t codec.ExtensionType) bool { return t == ExtensionTypeLastResort })
		}), rule: RuleKeyPackageExtensions},
		{name: "key package extension twice", mutate: mut(func(kp *codec.KeyPackage) {
			kp.Extensions = append(kp.Extensions, codec.Extension{ExtensionType: codec.ExtensionTypeApplicationID}, codec.Extension{ExtensionType: codec.ExtensionTypeApplicationID, ExtensionData: []byte{1}})
		}), rule: RuleExtensionsUnique},
		{name: "leaf extension twice", mutate: mut(func(kp *codec.KeyPackage) {
			kp.LeafNode.Extensions = append(kp.LeafNode.Extensions, codec.Extension{ExtensionType: codec.ExtensionTypeApplicationID}, codec.Extension{ExtensionType: codec.ExtensionTypeApplicationID, ExtensionData: []byte{1}})
		}), rule: RuleExtensionsUnique},
		{name: "leaf source update", mutate: mut(func(kp *codec.KeyPackage) {
			kp.LeafNode.LeafNodeSource, kp.LeafNode.Lifetime = codec.LeafNodeSourceUpdate, nil
		}), rule: RuleLeafNodeSource},
		{name: "leaf source commit", mutate: mut(func(kp *codec.KeyPackage) {
			kp.LeafNode.LeafNodeSource, kp.LeafNode.Lifetime, kp.LeafNode.ParentHash = codec.LeafNodeSourceCommit, nil, []byte{1}
		}), rule: RuleLeafNodeSource},
		{name: "capabilities lack mls10", mutate: mut(func(kp *codec.KeyPackage) { kp.LeafNode.Capabilities.Versions = []codec.ProtocolVersion{7} }), rule: RuleLeafNodeCapabilities},
		{name: "capabilities lack the version", mutate: mut(func(kp *codec.KeyPackage) {
			kp.LeafNode.Capabilities.Versions = []codec.ProtocolVersion{2}
		}), rule: RuleLeafNodeCapabilities},
		{name: "capabilities lack the credential type", mutate: mut(func(kp *codec.KeyPackage) {
			kp.LeafNode.Capabilities.Credentials = []codec.CredentialType{codec.CredentialTypeX509}
		}), rule: RuleLeafNodeCredentialType},
		{name: "leaf extension not in capabilities", mutate: mut(func(kp *codec.KeyPackage) {
			kp.LeafNode.Extensions = append(kp.LeafNode.Extensions, codec.Extension{ExtensionType: 0xFF08})
		}), rule: RuleLeafNodeExtensions},
		{name: "expired", opts: ValidationOptions{Now: at(DefaultKeyPackageLifetime + time.Second)}, rule: RuleLeafNodeLifetime},
		{name: "not yet valid", opts: ValidationOptions{Now: at(-DefaultNotBeforeSkew - time.Second)}, rule: RuleLeafNodeLifetime},
		{name: "lifetime too long", opts: ValidationOptions{MaxLifetime: 30 * 24 * time.Hour}, rule: RuleLeafNodeLifetime},
		{name: "lifetime beyond the default maximum", mutate: mut(func(kp *codec.KeyPackage) {
			kp.LeafNode.Lifetime.NotAfter = kp.LeafNode.Lifetime.NotBefore + uint64(DefaultMaxLifetime/time.Second) + 1
		}), rule: RuleLeafNodeLifetime},
		{name: "lifetime inverted", mutate: mut(func(kp *codec.KeyPackage) {
			kp.LeafNode.Lifetime.NotBefore, kp.LeafNode.Lifetime.NotAfter = kp.LeafNode.Lifetime.NotAfter, kp.LeafNode.Lifetime.NotBefore
		}), rule: RuleLeafNodeLifetime},
		{name: "key package signature tampered", mutate: func(kp *codec.KeyPackage, _ providers.Signer) { kp.Signature[3] ^= 1 },
			rule: RuleKeyPackageSignature, cause: providers.ErrInvalidSignature},
		{name: "key package signed by another key", mutate: func(kp *codec.KeyPackage, _ providers.Signer) { resignKP(t, other, kp) },
			rule: RuleKeyPackageSignature, cause: providers.ErrInvalidSignature},
		{name: "key package content changed after signing", mutate: func(kp *codec.KeyPackage, _ providers.Signer) {
			kp.Extensions = append(kp.Extensions, codec.Extension{ExtensionType: codec.ExtensionTypeApplicationID})
		}, rule: RuleKeyPackageSignature, cause: providers.ErrInvalidSignature},
		{name: "leaf signature tampered", mutate: func(kp *codec.KeyPackage, s providers.Signer) {
			kp.LeafNode.Signature[5] ^= 1
			resignKP(t, s, kp)
		}, rule: RuleLeafNodeSignature, cause: providers.ErrInvalidSignature},
		{name: "leaf signed by another key", mutate: func(kp *codec.KeyPackage, s providers.Signer) {
			if err := leafnode.Sign(other, &kp.LeafNode, nil, 0); err != nil {
				t.Fatal(err)
			}
			resignKP(t, s, kp)
		}, rule: RuleLeafNodeSignature, cause: providers.ErrInvalidSignature},
		{name: "leaf signed with a group context", mutate: func(kp *codec.KeyPackage, s providers.Signer) {
			// A key_package LeafNodeTBS has no group_id: signing one with a
			// different source and restoring it breaks the signature.
			kp.LeafNode.LeafNodeSource, kp.LeafNode.Lifetime = codec.LeafNodeSourceUpdate, nil
			lt := &codec.Lifetime{NotBefore: uint64(testTime.Add(-time.Hour).Unix()), NotAfter: uint64(testTime.Add(time.Hour).Unix())}
			if err := leafnode.Sign(s, &kp.LeafNode, []byte("group"), 1); err != nil {
				t.Fatal(err)
			}
			kp.LeafNode.LeafNodeSource, kp.LeafNode.Lifetime = codec.LeafNodeSourceKeyPackage, lt
			resignKP(t, s, kp)
		}, rule: RuleLeafNodeSignature, cause: providers.ErrInvalidSignature},
		{name: "signature key malformed", mutate: mut(func(kp *codec.KeyPackage) { kp.LeafNode.SignatureKey = []byte{1, 2, 3} }),
			rule: RuleLeafNodeKeys, cause: providers.ErrInvalidPublicKey},
		{name: "encryption key malformed", mutate: mut(func(kp *codec.KeyPackage) { kp.LeafNode.EncryptionKey = []byte{1, 2, 3} }),
			rule: RuleLeafNodeKeys},
		{name: "init key malformed", mutate: mut(func(kp *codec.KeyPackage) { kp.InitKey = []byte{4, 5, 6} }), rule: RuleKeyPackageInitKey},
		{name: "credential rejected by the application",
			opts: ValidationOptions{CredentialValidator: CredentialValidatorFunc(func(codec.CipherSuite, Credential, []byte) error { return appErr })},
			rule: RuleCredential, cause: appErr},
		{name: "x509 credential without a validator", mutate: mut(func(kp *codec.KeyPackage) {
			kp.LeafNode.Credential = codec.Credential{CredentialType: codec.CredentialTypeX509, Certificates: []codec.Certificate{{CertData: []byte("DER")}}}
		}), rule: RuleCredential, cause: ErrUnsupportedCredential},
	}
	b := newBuilder(t, p, testSuite)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kb, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			kp := &kb.KeyPackage
			if c.mutate != nil {
				c.mutate(kp, b.Signer)
			}
			opts := c.opts
			if opts.Now == nil {
				opts.Now = fixedClock
			}
			// The mutated key package still encodes and decodes: the
			// failure is semantic, found by validation.
			enc, err := kp.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var dec codec.KeyPackage
			if err := dec.Unmarshal(enc); err != nil {
				t.Fatal(err)
			}
			err = ValidateKeyPackage(p, &dec, &opts)
			wantRule(t, err, c.rule)
			if c.cause != nil && !errors.Is(err, c.cause) {
				t.Errorf("error %v does not wrap %v", err, c.cause)
			}
		})
	}
}

func TestValidateKeyPackageAccepts(t *testing.T) {
	p := defaultcrypto.New()
	b := newBuilder(t, p, testSuite)
	kb, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	kp := &kb.KeyPackage
	expired := func() time.Time { return testTime.Add(DefaultKeyPackageLifetime + time.Hour) }
	for name, opts := range map[string]*ValidationOptions{
		"nil options (current time)": nil,
		"boundary not_before":        {Now: func() time.Time { return testTime.Add(-DefaultNotBeforeSkew) }},
		"boundary not_after":         {Now: func() time.Time { return testTime.Add(DefaultKeyPackageLifetime) }},
		"expired but ignored":        {Now: expired, IgnoreLifetime: true},
		"unbounded lifetime":         {Now: fixedClock, MaxLifetime: -1},
		"matching group":             {Now: fixedClock, CipherSuite: testSuite, Version: codec.ProtocolVersionMLS10},
	} {
		if name == "nil options (current time)" {
			// A key package built now is valid now.
			b2 := newBuilder(t, p, testSuite)
			b2.Now = nil
			kb2, err := b2.Build()
			if err != nil {
				t.Fatal(err)
			}
			if err := ValidateKeyPackage(p, &kb2.KeyPackage, nil); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err := ValidateKeyPackage(p, kp, opts); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An X.509 credential passes with an application validator that checks
	// it, and the validator sees the leaf's signature key.
	x, _ := NewX509Credential([][]byte{[]byte("leaf cert")})
	b.Credential = x
	kb, err = b.Build()
	if err != nil {
		t.Fatal(err)
	}
	called := false
	v := CredentialValidatorFunc(func(s codec.CipherSuite, c Credential, key []byte) error {
		called = true
		if s != testSuite || string(c.Certificates()[0]) != "leaf cert" || string(key) != string(b.Signer.PublicKey()) {
			return fmt.Errorf("unexpected %v %v %x", s, c, key)
		}
		return nil
	})
	if err := ValidateKeyPackage(p, &kb.KeyPackage, &ValidationOptions{Now: fixedClock, CredentialValidator: v}); err != nil || !called {
		t.Errorf("x509 with validator: %v (called %v)", err, called)
	}
	// Interop (RFC 9420 §10, §7.3): unknown KeyPackage extensions that the
	// capabilities do not list (GREASE, as a widely deployed implementation
	// sends them) are ignored, and the capabilities need not list the
	// key package's own cipher suite.
	for name, f := range map[string]func(kp *codec.KeyPackage){
		"unlisted GREASE key package extension": func(kp *codec.KeyPackage) {
			kp.Extensions = append(kp.Extensions, codec.Extension{ExtensionType: 0x3A3A, ExtensionData: []byte{1, 2}}, codec.Extension{ExtensionType: 0xFF07})
		},
		"capabilities without the suite": func(kp *codec.KeyPackage) {
			kp.LeafNode.Capabilities.CipherSuites = []codec.CipherSuite{codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256}
		},
	} {
		b := newBuilder(t, p, testSuite)
		b.NoGREASE = true // the GREASE value is added by hand
		kb, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		f(&kb.KeyPackage)
		resign(t, b.Signer, &kb.KeyPackage)
		if err := ValidateKeyPackage(p, &kb.KeyPackage, &ValidationOptions{Now: fixedClock}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := ValidateKeyPackage(nil, kp, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil provider: %v", err)
	}
	if err := ValidateKeyPackage(p, nil, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil key package: %v", err)
	}
}

func TestValidateLeafNodeInGroup(t *testing.T) {
	p := defaultcrypto.New()
	cs, _ := p.CipherSuite(testSuite)
	b := newBuilder(t, p, testSuite)
	kb, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	leaf := kb.KeyPackage.LeafNode
	leaf.LeafNodeSource, leaf.Lifetime = codec.LeafNodeSourceUpdate, nil
	if err := leafnode.Sign(b.Signer, &leaf, []byte("group-1"), 4); err != nil {
		t.Fatal(err)
	}
	ctx := LeafNodeContext{Source: codec.LeafNodeSourceUpdate, GroupID: []byte("group-1"), LeafIndex: 4}
	if err := ValidateLeafNode(cs, &leaf, ctx, nil); err != nil {
		t.Fatalf("update leaf: %v", err)
	}
	// The signature binds the group id and the leaf index.
	for _, bad := range []LeafNodeContext{
		{Source: codec.LeafNodeSourceUpdate, GroupID: []byte("group-2"), LeafIndex: 4},
		{Source: codec.LeafNodeSourceUpdate, GroupID: []byte("group-1"), LeafIndex: 5},
	} {
		wantRule(t, ValidateLeafNode(cs, &leaf, bad, nil), RuleLeafNodeSignature)
	}
	wantRule(t, ValidateLeafNode(cs, &leaf, LeafNodeContext{Source: codec.LeafNodeSourceCommit, GroupID: []byte("group-1"), LeafIndex: 4}, nil), RuleLeafNodeSource)
	// A leaf of another suite's group: its keys are not the suite's. (The
	// capabilities need not list the suite, §7.3.)
	cs2, _ := p.CipherSuite(codec.CipherSuiteMLS256DHKEMP384AES256GCMSHA384P384)
	leaf.Capabilities.CipherSuites = []codec.CipherSuite{testSuite}
	if err := leafnode.Sign(b.Signer, &leaf, []byte("group-1"), 4); err != nil {
		t.Fatal(err)
	}
	wantRule(t, ValidateLeafNode(cs2, &leaf, ctx, nil), RuleLeafNodeKeys)
	leaf.Capabilities.CipherSuites = []codec.CipherSuite{codec.CipherSuiteMLS256DHKEMP384AES256GCMSHA384P384}
	if err := leafnode.Sign(b.Signer, &leaf, []byte("group-1"), 4); err != nil {
		t.Fatal(err)
	}
	if err := ValidateLeafNode(cs, &leaf, ctx, nil); err != nil {
		t.Errorf("leaf whose capabilities omit the group's suite: %v", err)
	}
	if err := ValidateLeafNode(nil, &leaf, ctx, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil suite: %v", err)
	}
}

// TestValidateKeyPackageMutations flips every byte of an encoded key package:
// each result either fails to decode or fails validation; none panics and
// none validates.
func TestValidateKeyPackageMutations(t *testing.T) {
	p := defaultcrypto.New()
	b := newBuilder(t, p, testSuite)
	kb, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := kb.KeyPackage.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	opts := &ValidationOptions{Now: fixedClock}
	decodeErr, ruleErr := 0, 0
	for i := range enc {
		m := append([]byte(nil), enc...)
		m[i] ^= 0x01
		var kp codec.KeyPackage
		if err := kp.Unmarshal(m); err != nil {
			decodeErr++
			continue
		}
		err := ValidateKeyPackage(p, &kp, opts)
		if err == nil {
			t.Fatalf("flipping byte %d gives a valid key package", i)
		}
		if !errors.Is(err, ErrValidation) {
			t.Fatalf("flipping byte %d: error %v is not a validation error", i, err)
		}
		ruleErr++
	}
	t.Logf("%d single-bit mutations: %d rejected by the decoder, %d by validation", len(enc), decodeErr, ruleErr)
}

// TestValidateDoesNotModify checks that validation, failing or not, leaves
// the key package as it was.
func TestValidateDoesNotModify(t *testing.T) {
	p := defaultcrypto.New()
	kb, err := newBuilder(t, p, testSuite).Build()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := kb.KeyPackage.Marshal()
	for _, opts := range []*ValidationOptions{{Now: fixedClock}, {Now: fixedClock, MaxLifetime: time.Hour}, {CipherSuite: 2}} {
		_ = ValidateKeyPackage(p, &kb.KeyPackage, opts)
		after, _ := kb.KeyPackage.Marshal()
		if string(after) != string(before) {
			t.Fatal("ValidateKeyPackage modified the key package")
		}
	}
}

func BenchmarkKeyPackage(b *testing.B) {
	p := defaultcrypto.New()
	for _, suite := range []codec.CipherSuite{testSuite, codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256} {
		kb := newBuilder(b, p, suite)
		bundle, err := kb.Build()
		if err != nil {
			b.Fatal(err)
		}
		b.Run("Build/"+suite.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := kb.Build(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Validate/"+suite.String(), func(b *testing.B) {
			opts := &ValidationOptions{Now: fixedClock}
			b.ReportAllocs()
			for b.Loop() {
				if err := ValidateKeyPackage(p, &bundle.KeyPackage, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
