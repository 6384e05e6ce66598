package mls

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

func TestGroupConfigDefaults(t *testing.T) {
	var zero GroupConfig
	if err := zero.Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	// The zero value means OpenMLS's defaults (book, "Group
	// configuration").
	z := zero.withDefaults()
	if z.WireFormatPolicy != PureCiphertext() || z.PaddingSize != 0 || z.MaxPastEpochs != 0 ||
		z.NumberOfResumptionPSKs != 0 || z.UseRatchetTreeExtension {
		t.Errorf("defaults differ from OpenMLS's: %+v", z)
	}
	if z.SenderRatchet != (SenderRatchetConfig{OutOfOrderTolerance: 5, MaximumForwardDistance: 1000}) || z.SenderRatchet != DefaultSenderRatchetConfig() {
		t.Errorf("sender ratchet default %+v", z.SenderRatchet)
	}
	var zeroOpts CreateOptions
	if err := zeroOpts.Validate(); err != nil {
		t.Fatalf("zero create options: %v", err)
	}
	if zero.senderRatchet() != (secrettree.Config{OutOfOrderTolerance: 5, MaximumForwardDistance: 1000}) || zeroOpts.lifetime() != DefaultKeyPackageLifetime {
		t.Error("zero config accessors do not give the defaults")
	}
	if got := (&GroupConfig{PaddingSize: 64}).padding(); got.BlockSize != 64 {
		t.Errorf("padding %+v", got)
	}
	custom := SenderRatchetConfig{OutOfOrderTolerance: 0, MaximumForwardDistance: 10}
	if got := (&GroupConfig{SenderRatchet: custom}).senderRatchet(); got.OutOfOrderTolerance != 0 || got.MaximumForwardDistance != 10 {
		t.Errorf("custom sender ratchet %+v", got)
	}
	now := time.Unix(1_700_000_000, 0)
	lt := zeroOpts.leafLifetime(now)
	if lt.NotBefore != uint64(now.Add(-DefaultNotBeforeSkew).Unix()) || lt.NotAfter != uint64(now.Add(DefaultKeyPackageLifetime).Unix()) {
		t.Errorf("leaf lifetime %+v", lt)
	}
}

func TestGroupConfigCapabilities(t *testing.T) {
	p := defaultcrypto.New()
	var zero CreateOptions
	caps := zero.leafCapabilities(p, 0, 0)
	def := DefaultCapabilities(p)
	if !slices.Equal(caps.CipherSuites, def.CipherSuites) || !slices.Equal(caps.Extensions, def.Extensions) || !slices.Equal(caps.Proposals, def.Proposals) {
		t.Errorf("default capabilities %+v, want %+v", caps, def)
	}
	rc, _ := oneExtension(Extensions(nil).WithRequiredCapabilities(&codec.RequiredCapabilities{ExtensionTypes: []codec.ExtensionType{0xff01}}))
	cfg := CreateOptions{
		LeafCapabilities:       &codec.Capabilities{Credentials: []codec.CredentialType{codec.CredentialTypeBasic}},
		LeafExtensions:         []codec.Extension{{ExtensionType: 0xff02, ExtensionData: []byte{}}},
		GroupContextExtensions: []codec.Extension{rc, {ExtensionType: 0xff01, ExtensionData: []byte("x")}},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("GroupContext extension requiring its own type: %v", err)
	}
	caps = cfg.leafCapabilities(p, testSuite, codec.CredentialTypeX509)
	for _, want := range []codec.ExtensionType{0xff01, 0xff02} {
		if !slices.Contains(caps.Extensions, want) {
			t.Errorf("extension type %v not added: %v", want, caps.Extensions)
		}
	}
	if !slices.Contains(caps.CipherSuites, testSuite) || !slices.Contains(caps.Versions, codec.ProtocolVersionMLS10) || !slices.Contains(caps.Credentials, codec.CredentialTypeX509) {
		t.Errorf("suite, version or credential type not added: %+v", caps)
	}
	if len(cfg.LeafCapabilities.Extensions) != 0 {
		t.Error("leafCapabilities modified the configured capabilities")
	}
	if err := Extensions(cfg.GroupContextExtensions).CheckCapabilities(&caps); err != nil {
		t.Errorf("resolved capabilities do not satisfy the group: %v", err)
	}
}

func TestGroupConfigValidate(t *testing.T) {
	rcExt := func(rc codec.RequiredCapabilities) codec.Extension {
		e, err := oneExtension(Extensions(nil).WithRequiredCapabilities(&rc))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	ext := func(t codec.ExtensionType) codec.Extension {
		return codec.Extension{ExtensionType: t, ExtensionData: []byte{}}
	}
	cases := []struct {
		name string
		cfg  GroupConfig
		opts CreateOptions
		want error
	}{
		{"unknown outgoing policy", GroupConfig{WireFormatPolicy: WireFormatPolicy{Outgoing: 9}}, CreateOptions{}, nil},
		{"unknown incoming policy", GroupConfig{WireFormatPolicy: WireFormatPolicy{Incoming: 9}}, CreateOptions{}, nil},
		{"negative padding", GroupConfig{PaddingSize: -1}, CreateOptions{}, nil},
		{"huge padding", GroupConfig{PaddingSize: MaxPaddingSize + 1}, CreateOptions{}, nil},
		{"negative past epochs", GroupConfig{MaxPastEpochs: -1}, CreateOptions{}, nil},
		{"too many past epochs", GroupConfig{MaxPastEpochs: MaxPastEpochsLimit + 1}, CreateOptions{}, nil},
		{"negative resumption PSKs", GroupConfig{NumberOfResumptionPSKs: -1}, CreateOptions{}, RuleResumptionPSKEpochs},
		{"too many resumption PSKs", GroupConfig{NumberOfResumptionPSKs: MaxResumptionPSKs + 1}, CreateOptions{}, RuleResumptionPSKEpochs},
		{"negative lifetime", GroupConfig{}, CreateOptions{Lifetime: -time.Second}, RuleLeafNodeLifetime},
		{"lifetime beyond peers' maximum", GroupConfig{}, CreateOptions{Lifetime: DefaultMaxLifetime}, RuleLeafNodeLifetime},
		{"duplicate GroupContext extension", GroupConfig{}, CreateOptions{GroupContextExtensions: []codec.Extension{ext(0xff00), ext(0xff00)}}, RuleExtensionsUnique},
		{"ratchet_tree in GroupContext", GroupConfig{}, CreateOptions{GroupContextExtensions: []codec.Extension{ext(codec.ExtensionTypeRatchetTree)}}, ErrInvalidGroupContextExtensions},
		{"external_pub in GroupContext", GroupConfig{}, CreateOptions{GroupContextExtensions: []codec.Extension{ext(codec.ExtensionTypeExternalPub)}}, ErrInvalidGroupContextExtensions},
		{"application_id in GroupContext", GroupConfig{}, CreateOptions{GroupContextExtensions: []codec.Extension{ext(codec.ExtensionTypeApplicationID)}}, ErrInvalidGroupContextExtensions},
		{"malformed required_capabilities", GroupConfig{}, CreateOptions{GroupContextExtensions: []codec.Extension{{ExtensionType: codec.ExtensionTypeRequiredCapabilities, ExtensionData: []byte{1}}}}, ErrMalformedExtension},
		{"malformed external_senders", GroupConfig{}, CreateOptions{GroupContextExtensions: []codec.Extension{{ExtensionType: codec.ExtensionTypeExternalSenders, ExtensionData: []byte{9, 9}}}}, ErrMalformedExtension},
		{"duplicate leaf extension", GroupConfig{}, CreateOptions{LeafExtensions: []codec.Extension{ext(0xff00), ext(0xff00)}}, RuleExtensionsUnique},
		{"external_senders in leaf", GroupConfig{}, CreateOptions{LeafExtensions: []codec.Extension{ext(codec.ExtensionTypeExternalSenders)}}, nil},
		{"required proposal type not supported", GroupConfig{}, CreateOptions{GroupContextExtensions: []codec.Extension{rcExt(codec.RequiredCapabilities{ProposalTypes: []codec.ProposalType{0xff00}})}}, ErrUnsupportedCapability},
		{"required extension type not supported", GroupConfig{}, CreateOptions{GroupContextExtensions: []codec.Extension{rcExt(codec.RequiredCapabilities{ExtensionTypes: []codec.ExtensionType{0xff00}})}}, ErrUnsupportedCapability},
		{"required credential type not supported", GroupConfig{}, CreateOptions{GroupContextExtensions: []codec.Extension{rcExt(codec.RequiredCapabilities{CredentialTypes: []codec.CredentialType{0xf000}})}}, ErrUnsupportedCapability},
		{"explicit capabilities without required x509", GroupConfig{}, CreateOptions{
			LeafCapabilities:       &codec.Capabilities{Credentials: []codec.CredentialType{codec.CredentialTypeBasic}},
			GroupContextExtensions: []codec.Extension{rcExt(codec.RequiredCapabilities{CredentialTypes: []codec.CredentialType{codec.CredentialTypeX509}})},
		}, ErrUnsupportedCapability},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if err == nil {
				err = c.opts.Validate()
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// Valid non-default configurations.
	senders, _ := oneExtension(Extensions(nil).WithExternalSenders(codec.ExternalSenders{{SignatureKey: []byte{1, 2, 3}, Credential: NewBasicCredential([]byte("ds")).Wire()}}))
	if err := (&GroupConfig{WireFormatPolicy: MixedPlaintext(), PaddingSize: 32, MaxPastEpochs: 3, NumberOfResumptionPSKs: 5, UseRatchetTreeExtension: true}).Validate(); err != nil {
		t.Errorf("mixed plaintext: %v", err)
	}
	for name, opts := range map[string]CreateOptions{
		"required self_remove and x509": {GroupContextExtensions: []codec.Extension{senders, rcExt(codec.RequiredCapabilities{
			ProposalTypes:   []codec.ProposalType{codec.ProposalTypeSelfRemove, codec.ProposalTypeAdd},
			ExtensionTypes:  []codec.ExtensionType{codec.ExtensionTypeExternalSenders, ExtensionTypeLastResort},
			CredentialTypes: []codec.CredentialType{codec.CredentialTypeX509},
		})}},
		"application_id leaf extension": {LeafExtensions: []codec.Extension{ext(codec.ExtensionTypeApplicationID)}},
	} {
		if err := opts.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// ExampleCreateOptions configures a group whose members must support the
// SelfRemove proposal, with one external sender (a delivery service), whose
// creator sends handshake messages as PublicMessages, and whose Welcomes
// carry the tree.
func ExampleCreateOptions() {
	required, err := oneExtension(Extensions(nil).WithRequiredCapabilities(&codec.RequiredCapabilities{
		ProposalTypes: []codec.ProposalType{codec.ProposalTypeSelfRemove},
	}))

	if err != nil {
		panic(err)
	}
	senders, err := oneExtension(Extensions(nil).WithExternalSenders(codec.ExternalSenders{{
		SignatureKey: []byte("delivery service signature key"),
		Credential:   NewBasicCredential([]byte("ds.example")).Wire(),
	}}))

	if err != nil {
		panic(err)
	}
	// The creator's own settings, as any member's (NewGroup's cfg).
	cfg := GroupConfig{WireFormatPolicy: MixedPlaintext(), UseRatchetTreeExtension: true, MaxPastEpochs: 2}
	// What only the creator chooses (NewGroup's opts).
	opts := CreateOptions{GroupContextExtensions: Extensions{required, senders}}
	fmt.Println("valid:", cfg.Validate() == nil && opts.Validate() == nil)

	// Requiring a proposal type the creator does not support is refused.
	unknown, _ := oneExtension(Extensions(nil).WithRequiredCapabilities(&codec.RequiredCapabilities{ProposalTypes: []codec.ProposalType{0xff00}}))
	opts.GroupContextExtensions = Extensions{unknown}
	err = opts.Validate()
	fmt.Println(errors.Is(err, ErrInvalidConfig), errors.Is(err, ErrUnsupportedCapability))
	// Output:
	// valid: true
	// true true
}
