package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

func TestExtensionsRequiredCapabilities(t *testing.T) {
	rc := &codec.RequiredCapabilities{
		ExtensionTypes:  []codec.ExtensionType{0xff00},
		ProposalTypes:   []codec.ProposalType{codec.ProposalTypeSelfRemove},
		CredentialTypes: []codec.CredentialType{codec.CredentialTypeBasic},
	}
	e, err := oneExtension(Extensions(nil).WithRequiredCapabilities(rc))
	if err != nil || e.ExtensionType != codec.ExtensionTypeRequiredCapabilities {
		t.Fatal(err)
	}
	got, err := Extensions([]codec.Extension{{ExtensionType: 0xff00}, e}).RequiredCapabilities()
	if err != nil || got == nil || !slices.Equal(got.ExtensionTypes, rc.ExtensionTypes) || !slices.Equal(got.ProposalTypes, rc.ProposalTypes) || !slices.Equal(got.CredentialTypes, rc.CredentialTypes) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if got, err := Extensions(nil).RequiredCapabilities(); got != nil || err != nil {
		t.Errorf("absent: %v %v", got, err)
	}
	for _, data := range [][]byte{nil, {0}, {2, 0}, {0, 0, 0, 0}} {
		_, err := Extensions([]codec.Extension{{ExtensionType: codec.ExtensionTypeRequiredCapabilities, ExtensionData: data}}).RequiredCapabilities()
		if !errors.Is(err, ErrMalformedExtension) {
			t.Errorf("malformed %x: %v", data, err)
		}
	}
	if _, err := oneExtension(Extensions(nil).WithRequiredCapabilities(nil)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil: %v", err)
	}
}

func TestExtensionsExternalSenders(t *testing.T) {
	senders := codec.ExternalSenders{
		{SignatureKey: []byte{1, 2, 3}, Credential: NewBasicCredential([]byte("ds-1")).Wire()},
		{SignatureKey: []byte{4, 5, 6}, Credential: NewBasicCredential([]byte("ds-2")).Wire()},
	}
	e, err := oneExtension(Extensions(nil).WithExternalSenders(senders))
	if err != nil {
		t.Fatal(err)
	}
	exts := []codec.Extension{e}
	got, err := Extensions(exts).ExternalSenders()
	if err != nil || len(got) != 2 || !bytes.Equal(got[1].SignatureKey, []byte{4, 5, 6}) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if !CredentialFromWire(&got[1].Credential).Equal(NewBasicCredential([]byte("ds-2"))) {
		t.Fatalf("sender 1: %+v", got[1])
	}
	if got, err := Extensions(nil).ExternalSenders(); got != nil || err != nil {
		t.Errorf("no extension: %v %v", got, err)
	}
	bad := Extensions{{ExtensionType: codec.ExtensionTypeExternalSenders, ExtensionData: []byte{5, 1}}}
	if got, err := bad.ExternalSenders(); got != nil || !errors.Is(err, ErrMalformedExtension) {
		t.Errorf("malformed: %v %v", got, err)
	}
}

func TestExtensionsWith(t *testing.T) {
	a := codec.Extension{ExtensionType: 0xff00, ExtensionData: []byte("a")}
	b := codec.Extension{ExtensionType: 0xff01, ExtensionData: []byte("b")}
	a2 := codec.Extension{ExtensionType: 0xff00, ExtensionData: []byte("a2")}
	in := []codec.Extension{a, b}
	out := Extensions(in).With(a2)
	if len(out) != 2 || string(out[0].ExtensionData) != "a2" || string(in[0].ExtensionData) != "a" {
		t.Errorf("replace: %v (input %v)", out, in)
	}
	out = Extensions(in).With(codec.Extension{ExtensionType: 0xff02})
	if len(out) != 3 || out[2].ExtensionType != 0xff02 || len(in) != 2 {
		t.Errorf("append: %v", out)
	}
	if !equalExtensions(in, []codec.Extension{a, b}) || equalExtensions(in, out) {
		t.Error("equalExtensions")
	}
}

func TestCheckCapabilities(t *testing.T) {
	caps := &codec.Capabilities{
		Versions:    []codec.ProtocolVersion{codec.ProtocolVersionMLS10},
		Extensions:  []codec.ExtensionType{0xff00},
		Proposals:   []codec.ProposalType{codec.ProposalTypeSelfRemove},
		Credentials: []codec.CredentialType{codec.CredentialTypeBasic},
	}
	rc := func(r codec.RequiredCapabilities) []codec.Extension {
		e, err := oneExtension(Extensions(nil).WithRequiredCapabilities(&r))
		if err != nil {
			t.Fatal(err)
		}
		return []codec.Extension{e}
	}
	ok := [][]codec.Extension{
		nil,
		rc(codec.RequiredCapabilities{}),
		// Default types are always supported (RFC 9420 §7.2).
		rc(codec.RequiredCapabilities{ExtensionTypes: []codec.ExtensionType{codec.ExtensionTypeExternalSenders, 0xff00}, ProposalTypes: []codec.ProposalType{codec.ProposalTypeAdd, codec.ProposalTypeGroupContextExtensions, codec.ProposalTypeSelfRemove}}),
		rc(codec.RequiredCapabilities{CredentialTypes: []codec.CredentialType{codec.CredentialTypeBasic}}),
		{{ExtensionType: 0xff00, ExtensionData: []byte{}}, {ExtensionType: codec.ExtensionTypeExternalSenders, ExtensionData: []byte{0}}},
	}
	for i, exts := range ok {
		if err := Extensions(exts).CheckCapabilities(caps); err != nil {
			t.Errorf("case %d: %v", i, err)
		}
	}
	bad := [][]codec.Extension{
		rc(codec.RequiredCapabilities{ExtensionTypes: []codec.ExtensionType{0xff01}}),
		rc(codec.RequiredCapabilities{ProposalTypes: []codec.ProposalType{0xff01}}),
		rc(codec.RequiredCapabilities{CredentialTypes: []codec.CredentialType{codec.CredentialTypeX509}}),
		{{ExtensionType: 0xff01, ExtensionData: []byte{}}},
	}
	for i, exts := range bad {
		if err := Extensions(exts).CheckCapabilities(caps); !errors.Is(err, ErrUnsupportedCapability) {
			t.Errorf("bad case %d: got %v, want ErrUnsupportedCapability", i, err)
		}
	}
	malformed := []codec.Extension{{ExtensionType: codec.ExtensionTypeRequiredCapabilities, ExtensionData: []byte{7}}}
	if err := Extensions(malformed).CheckCapabilities(caps); !errors.Is(err, ErrMalformedExtension) {
		t.Errorf("malformed: %v", err)
	}
	if err := Extensions(nil).CheckCapabilities(nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil caps: %v", err)
	}
	if !SupportsProposal(caps, codec.ProposalTypeReInit) || SupportsProposal(caps, 0xff00) || !SupportsExtension(caps, codec.ExtensionTypeApplicationID) || SupportsExtension(caps, 0xff01) {
		t.Error("Supports*")
	}
	// A key package built with the defaults satisfies what the defaults
	// require.
	p := defaultcrypto.New()
	kb, err := newBuilder(t, p, testSuite).Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := Extensions(rc(codec.RequiredCapabilities{
		ProposalTypes: []codec.ProposalType{codec.ProposalTypeSelfRemove}, ExtensionTypes: []codec.ExtensionType{ExtensionTypeLastResort},
	})).CheckCapabilities(&kb.KeyPackage.LeafNode.Capabilities); err != nil {
		t.Errorf("default key package: %v", err)
	}
}

func TestExtensionsValidateGroupContext(t *testing.T) {
	senders, _ := oneExtension(Extensions(nil).WithExternalSenders(codec.ExternalSenders{{SignatureKey: []byte{1}, Credential: NewBasicCredential([]byte("x")).Wire()}}))
	rcE, _ := oneExtension(Extensions(nil).WithRequiredCapabilities(&codec.RequiredCapabilities{}))
	if err := Extensions([]codec.Extension{senders, rcE, {ExtensionType: 0xff00}}).ValidateGroupContext(); err != nil {
		t.Fatal(err)
	}
	if err := Extensions([]codec.Extension{rcE, rcE}).ValidateGroupContext(); !errors.Is(err, RuleExtensionsUnique) {
		t.Errorf("duplicate: %v", err)
	}
	for _, ty := range []codec.ExtensionType{codec.ExtensionTypeApplicationID, codec.ExtensionTypeRatchetTree, codec.ExtensionTypeExternalPub} {
		if err := Extensions([]codec.Extension{{ExtensionType: ty}}).ValidateGroupContext(); !errors.Is(err, ErrInvalidGroupContextExtensions) {
			t.Errorf("%v: %v", ty, err)
		}
	}
}

// oneExtension returns the one extension of a list that a With method
// built from nothing.
func oneExtension(x Extensions, err error) (codec.Extension, error) {
	if err != nil {
		return codec.Extension{}, err
	}
	if len(x) != 1 {
		return codec.Extension{}, fmt.Errorf("%d extensions, want 1", len(x))
	}
	return x[0], nil
}
