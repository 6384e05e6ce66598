package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
)

func TestBasicCredential(t *testing.T) {
	id := []byte("alice@example.com")
	c := NewBasicCredential(id)
	id[0] = 'X' // the credential keeps its own copy
	if c.Type() != codec.CredentialTypeBasic || string(c.Identity()) != "alice@example.com" {
		t.Fatalf("credential = %v", c)
	}
	if c.Certificates() != nil || c.Data() != nil {
		t.Error("basic credential exposes certificates or data")
	}
	got := c.Identity()
	got[0] = 'Y'
	if string(c.Identity()) != "alice@example.com" {
		t.Error("Identity returns an alias")
	}
	w := c.Wire()
	enc, err := w.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var dec codec.Credential
	if err := dec.Unmarshal(enc); err != nil {
		t.Fatal(err)
	}
	if !CredentialFromWire(&dec).Equal(c) {
		t.Error("wire round trip changes the credential")
	}
	if NewBasicCredential(nil).Identity() == nil {
		t.Error("empty identity reads back as nil")
	}
	if c.IsZero() || !(Credential{}).IsZero() {
		t.Error("IsZero")
	}
	if c.Equal(NewBasicCredential([]byte("bob"))) {
		t.Error("different identities are Equal")
	}
	if c.String() != `basic("alice@example.com")` {
		t.Errorf("String() = %s", c)
	}
}

func TestX509Credential(t *testing.T) {
	chain := [][]byte{[]byte("leaf DER"), []byte("intermediate DER")}
	c, err := NewX509Credential(chain)
	if err != nil {
		t.Fatal(err)
	}
	chain[0][0] = 'X'
	certs := c.Certificates()
	if c.Type() != codec.CredentialTypeX509 || len(certs) != 2 || string(certs[0]) != "leaf DER" || string(certs[1]) != "intermediate DER" {
		t.Fatalf("certificates = %q", certs)
	}
	if c.Identity() != nil {
		t.Error("x509 credential exposes an identity")
	}
	w := c.Wire()
	enc, err := w.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var dec codec.Credential
	if err := dec.Unmarshal(enc); err != nil {
		t.Fatal(err)
	}
	if !CredentialFromWire(&dec).Equal(c) {
		t.Error("wire round trip changes the credential")
	}
	if _, err := NewX509Credential(nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty chain: %v", err)
	}
	if _, err := NewX509Credential([][]byte{{}}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty certificate: %v", err)
	}
}

func TestOtherCredentialType(t *testing.T) {
	w := codec.Credential{CredentialType: 0xF001, CredentialData: []byte("opaque")}
	c := CredentialFromWire(&w)
	w.CredentialData[0] = 'X'
	if !bytes.Equal(c.Data(), []byte("opaque")) || c.Identity() != nil || c.Certificates() != nil {
		t.Errorf("credential = %v", c)
	}
}

func TestDefaultCredentialValidator(t *testing.T) {
	var v CredentialValidator = BasicCredentialValidator{}
	if err := v.ValidateCredential(1, NewBasicCredential([]byte("a")), []byte("k")); err != nil {
		t.Errorf("basic credential rejected: %v", err)
	}
	x, _ := NewX509Credential([][]byte{[]byte("cert")})
	if err := v.ValidateCredential(1, x, []byte("k")); !errors.Is(err, ErrUnsupportedCredential) {
		t.Errorf("x509 credential: %v, want ErrUnsupportedCredential", err)
	}
	other := CredentialFromWire(&codec.Credential{CredentialType: 0xF001, CredentialData: []byte{1}})
	if err := v.ValidateCredential(1, other, nil); !errors.Is(err, ErrUnsupportedCredential) {
		t.Errorf("custom credential: %v, want ErrUnsupportedCredential", err)
	}
	// The hook sees the suite, the credential and the key.
	var seen []byte
	f := CredentialValidatorFunc(func(s codec.CipherSuite, c Credential, key []byte) error {
		seen = key
		if s != 3 || c.Type() != codec.CredentialTypeX509 {
			t.Errorf("hook got suite %v, %v", s, c)
		}
		return nil
	})
	w := x.Wire()
	if err := validateCredential(f, 3, &w, []byte("key")); err != nil || string(seen) != "key" {
		t.Errorf("validateCredential = %v, key %q", err, seen)
	}
	err := validateCredential(nil, 1, &w, nil)
	if !errors.Is(err, RuleCredential) || !errors.Is(err, ErrUnsupportedCredential) {
		t.Errorf("validateCredential with the default = %v", err)
	}
}

// TestApplicationValidatorGetsCopies: an application's CredentialValidator
// may keep or modify what it is given (validateCredential hands it copies;
// only the default validator reads the group's credential in place). A
// joiner's validator that overwrites every signature key it is given
// leaves the joined group's members, and its tree hash, as the committer
// has them.
func TestApplicationValidatorGetsCopies(t *testing.T) {
	cfg := GroupConfig{UseRatchetTreeExtension: true}
	s := newGTSim(t, gtSuites[0], cfg)
	s.add(s.members[0], 3, true)
	a := s.members[0]
	j := s.newClient()
	calls := 0
	j.c.CredentialValidator = CredentialValidatorFunc(func(_ codec.CipherSuite, c Credential, key []byte) error {
		calls++
		clear(key)
		if id := c.Identity(); len(id) > 0 {
			clear(id)
		}
		return nil
	})
	res := gtMust(a.g.Commit(CommitOptions{Add: []*codec.KeyPackage{j.keyPackage(t)}}))(t)
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	g := gtMust(JoinFromWelcome(j.c, res.Welcome, nil, cfg))(t)
	if calls < len(a.g.Members()) {
		t.Fatalf("validator called %d times for %d members", calls, len(a.g.Members()))
	}
	want, got := a.g.Members(), g.Members()
	if len(got) != len(want) {
		t.Fatalf("%d members, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].SignatureKey, want[i].SignatureKey) || !got[i].Credential.Equal(want[i].Credential) {
			t.Errorf("member %d changed by the validator", i)
		}
	}
	if h := gtMust(g.epoch.tree.TreeHash())(t); !bytes.Equal(h, a.g.TreeHash()) {
		t.Error("tree hash changed by the validator")
	}
}
