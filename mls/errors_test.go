package mls

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mlskit/mlskit/providers"
)

func allRules() []Rule {
	return []Rule{
		ValSem002, ValSem003, ValSem004, ValSem005, ValSem006, ValSem007, ValSem008, ValSem009, ValSem010, ValSem011,
		ValSem101, ValSem102, ValSem103, ValSem104, ValSem105, ValSem106, ValSem107, ValSem108, ValSem109, ValSem110,
		ValSem111, ValSem112, ValSem113,
		ValSem200, ValSem201, ValSem202, ValSem203, ValSem204, ValSem205, ValSem206, ValSem207, ValSem208, ValSem209,
		ValSem240, ValSem241, ValSem242, ValSem244, ValSem245, ValSem246,
		ValSem300, ValSem400, ValSem401, ValSem402, ValSem403,
		RuleCredential, RuleLeafNodeSignature, RuleLeafNodeSource, RuleLeafNodeLifetime, RuleLeafNodeCapabilities,
		RuleLeafNodeExtensions, RuleLeafNodeCredentialType, RuleLeafNodeKeys, RuleKeyPackageVersion,
		RuleKeyPackageCipherSuite, RuleKeyPackageInitKey, RuleKeyPackageSignature, RuleKeyPackageExtensions,
		RuleExtensionsUnique,
	}
}

func TestRulesDocumented(t *testing.T) {
	seen := map[Rule]bool{}
	descs := map[string]Rule{}
	for _, r := range allRules() {
		if seen[r] {
			t.Errorf("%s listed twice", r)
		}
		seen[r] = true
		if r.Section() == "" || r.Description() == "rule "+string(r) {
			t.Errorf("%s has no section or description", r)
		}
		if other, ok := descs[r.Description()]; ok {
			t.Errorf("%s and %s share the description %q", r, other, r.Description())
		}
		descs[r.Description()] = r
		if !strings.HasPrefix(r.Error(), "mls: "+string(r)+" (RFC 9420 §"+r.Section()+"): ") {
			t.Errorf("Error() = %q", r.Error())
		}
		if !errors.Is(r, ErrValidation) {
			t.Errorf("%s does not match ErrValidation", r)
		}
	}
	if r := Rule("Nonsense"); r.Section() != "" || r.Error() != "mls: Nonsense: rule Nonsense" {
		t.Errorf("unknown rule: section %q, %q", r.Section(), r.Error())
	}
	if e := Rule("Nonsense").Errorf("x"); e.Error() != "mls: Nonsense: x" {
		t.Errorf("unknown rule error: %q", e.Error())
	}
}

func TestValidationErrorMatching(t *testing.T) {
	cause := fmt.Errorf("verify: %w", providers.ErrInvalidSignature)
	e := ValSem010.Errorf("bad signature from leaf %d: %w", 3, cause)
	var err error = fmt.Errorf("processing: %w", e)

	if !errors.Is(err, ValSem010) {
		t.Error("errors.Is(err, ValSem010) = false")
	}
	if errors.Is(err, ValSem008) {
		t.Error("errors.Is(err, ValSem008) = true")
	}
	if !errors.Is(err, ErrValidation) {
		t.Error("errors.Is(err, ErrValidation) = false")
	}
	if !errors.Is(err, &ValidationError{Code: "ValSem010"}) {
		t.Error("errors.Is against a *ValidationError with the same code = false")
	}
	if errors.Is(err, &ValidationError{Code: ValSem011}) {
		t.Error("errors.Is against a *ValidationError with another code = true")
	}
	if !errors.Is(err, providers.ErrInvalidSignature) {
		t.Error("the %w operand is not unwrapped")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatal("errors.As failed")
	}
	if ve.Code != ValSem010 || ve.Section != "6.1" || ve.Msg != "bad signature from leaf 3: verify: invalid signature" {
		t.Errorf("fields = %+v", ve)
	}
	want := "mls: ValSem010 (RFC 9420 §6.1): bad signature from leaf 3: verify: invalid signature"
	if ve.Error() != want {
		t.Errorf("Error() = %q, want %q", ve.Error(), want)
	}

	// Without %w there is no wrapped error; several %w are all kept.
	if e := ValSem104.Errorf("plain %d", 1); e.Err != nil {
		t.Errorf("Err = %v, want nil", e.Err)
	}
	e2 := ValSem011.Errorf("%w and %w", providers.ErrDecryption, ErrCorruptState)
	if !errors.Is(e2, providers.ErrDecryption) || !errors.Is(e2, ErrCorruptState) {
		t.Error("multiple %w operands not kept")
	}
	// A literal error without Msg describes itself from its rule.
	lit := &ValidationError{Code: ValSem104, Section: "10.1", Err: errors.New("x")}
	if lit.Error() != "mls: ValSem104 (RFC 9420 §10.1): init key and encryption key must differ: x" {
		t.Errorf("Error() = %q", lit.Error())
	}
	if errors.Is(errors.New("other"), ErrValidation) {
		t.Error("an unrelated error matches ErrValidation")
	}
}
