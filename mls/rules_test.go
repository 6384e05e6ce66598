package mls

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mlskit/mlskit/providers"
)

// declaredRule is a constant of type Rule as the source declares it.
type declaredRule struct {
	file string
	id   Rule
}

// declaredRules parses the package's source and returns every constant of
// type Rule by name.
func declaredRules(t *testing.T) map[string]declaredRule {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	decl := map[string]declaredRule{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Rule" {
					continue
				}
				for i, n := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Errorf("%s: %s is not a string literal", name, n.Name)
						continue
					}
					id, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					if prev, ok := decl[n.Name]; ok {
						t.Errorf("%s declared in %s and %s", n.Name, prev.file, name)
					}
					decl[n.Name] = declaredRule{file: name, id: Rule(id)}
				}
			}
		}
	}
	return decl
}

// TestRulesTable checks the catalogue: every rule is declared in rules.go,
// has a section and a description of its own, and a unique id; the ids of
// OpenMLS's catalogue have its form.
func TestRulesTable(t *testing.T) {
	decl := declaredRules(t)
	// A known rule and its id, to check the parse found the constants.
	if d := decl["RuleWrongGroupID"]; d.id != RuleWrongGroupID || len(decl) < 60 {
		t.Fatalf("parsed %d rules; RuleWrongGroupID = %+v", len(decl), d)
	}
	ids := map[Rule]string{}
	descs := map[string]Rule{}
	valSem := regexp.MustCompile(`^ValSem[0-9]{3}$`)
	for name, d := range decl {
		if d.file != "rules.go" {
			t.Errorf("%s is declared in %s, not in rules.go", name, d.file)
		}
		if !strings.HasPrefix(name, "Rule") {
			t.Errorf("%s: a rule's name starts with Rule", name)
		}
		r := d.id
		if other, ok := ids[r]; ok {
			t.Errorf("id %s used by %s and %s", r, name, other)
			continue
		}
		ids[r] = name
		sec, desc, ok := r.info()
		if !ok || sec == "" || desc == "" {
			t.Errorf("%s has no entry in the table (section %q, description %q)", r, sec, desc)
		}
		if other, ok := descs[desc]; ok {
			t.Errorf("%s and %s share the description %q", r, other, desc)
		}
		descs[desc] = r
		if strings.HasPrefix(string(r), "ValSem") && !valSem.MatchString(string(r)) {
			t.Errorf("%s: malformed catalogue id", r)
		}
		wantPrefix := "mls: " + string(r) + " (RFC 9420 §" + sec + "): "
		if sec[0] < '0' || sec[0] > '9' {
			wantPrefix = "mls: " + string(r) + " (" + sec + "): "
		}
		if !strings.HasPrefix(r.Error(), wantPrefix) {
			t.Errorf("Error() = %q, want prefix %q", r.Error(), wantPrefix)
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
	e := RuleSignature.Errorf("bad signature from leaf %d: %w", 3, cause)
	var err error = fmt.Errorf("processing: %w", e)

	if !errors.Is(err, RuleSignature) {
		t.Error("errors.Is(err, RuleSignature) = false")
	}
	if errors.Is(err, RuleMembershipTag) {
		t.Error("errors.Is(err, RuleMembershipTag) = true")
	}
	if !errors.Is(err, ErrValidation) {
		t.Error("errors.Is(err, ErrValidation) = false")
	}
	if !errors.Is(err, &ValidationError{Code: "ValSem010"}) {
		t.Error("errors.Is against a *ValidationError with the same code = false")
	}
	if errors.Is(err, &ValidationError{Code: RulePaddingNotZero}) {
		t.Error("errors.Is against a *ValidationError with another code = true")
	}
	if !errors.Is(err, providers.ErrInvalidSignature) {
		t.Error("the %w operand is not unwrapped")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatal("errors.As failed")
	}
	if ve.Code != RuleSignature || ve.Section != "6.1" || ve.Msg != "bad signature from leaf 3: verify: invalid signature" {
		t.Errorf("fields = %+v", ve)
	}
	want := "mls: ValSem010 (RFC 9420 §6.1): bad signature from leaf 3: verify: invalid signature"
	if ve.Error() != want {
		t.Errorf("Error() = %q, want %q", ve.Error(), want)
	}

	// Without %w there is no wrapped error; several %w are all kept.
	if e := RuleInitKeyIsEncryptionKey.Errorf("plain %d", 1); e.Err != nil {
		t.Errorf("Err = %v, want nil", e.Err)
	}
	e2 := RulePaddingNotZero.Errorf("%w and %w", providers.ErrDecryption, ErrCorruptState)
	if !errors.Is(e2, providers.ErrDecryption) || !errors.Is(e2, ErrCorruptState) {
		t.Error("multiple %w operands not kept")
	}
	// A literal error without Msg describes itself from its rule.
	lit := &ValidationError{Code: RuleInitKeyIsEncryptionKey, Section: "10.1", Err: errors.New("x")}
	if lit.Error() != "mls: ValSem104 (RFC 9420 §10.1): init key and encryption key must differ: x" {
		t.Errorf("Error() = %q", lit.Error())
	}
	if errors.Is(errors.New("other"), ErrValidation) {
		t.Error("an unrelated error matches ErrValidation")
	}
}
