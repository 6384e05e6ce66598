package gen

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func resolveSrc(src string) (*Schema, error) {
	f, err := Parse("t.tls", src)
	if err != nil {
		return nil, err
	}
	return Resolve(f)
}

func TestParseErrorsHavePositions(t *testing.T) {
	cases := []struct{ src, pos, msg string }{
		{"struct { uint8 a } S;", "t.tls:1:18", `expected ";"`},
		{"struct {\n  uint8 a;\n  opaque b<V;\n} S;", "t.tls:3:13", `expected ">"`},
		{"enum { a(1), (255) }", "t.tls:1:21", "expected a name"},
		{"enum { a(x), (255) } E;", "t.tls:1:10", "expected a number"},
		{"/* open", "t.tls:1:1", "unterminated comment"},
		{"struct { uint8 a; } S; $", "t.tls:1:24", "unexpected character"},
		{"struct { select (S.a) { foo: } ; } S;", "t.tls:1:25", "expected case or default"},
		{"struct { uint8 v<4..2>; } S;", "t.tls:1:21", "reversed"},
		{"struct { uint8 v<0..2^32>; } S;", "t.tls:1:21", "wider than 32 bits"},
		{"extend struct S {};", "t.tls:1:8", "expected enum or select"},
		{"struct { select (S.a) { case x: struct{ uint8 b; }; }; } S;", "t.tls:1:33", "empty struct"},
	}
	for _, c := range cases {
		_, err := Parse("t.tls", c.src)
		if err == nil {
			t.Errorf("%q: parsed without error", c.src)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.pos+": ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: error %q, want position %s and %q", c.src, err, c.pos, c.msg)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	const enum = "enum { reserved(0), a(1), b(2), (255) } E;\n"
	cases := []struct{ name, src, msg string }{
		{"undefined type", "struct { Missing m; } S;", "undefined type Missing"},
		{"duplicate type", "struct { uint8 a; } S; struct { uint8 b; } S;", "already declared"},
		{"duplicate field", "struct { uint8 a; uint16 a; } S;", "already has a field a"},
		{"duplicate enum value name", "enum { a(1), a(2), (255) } E;", "already has a value named a"},
		{"duplicate enum value", "enum { a(1), b(1), (255) } E;", "repeats the value"},
		{"enum overflow", "enum { a(256), (255) } E;", "overflows enum E"},
		{"enum without max", "enum { a(1) } E;", "no (max) entry"},
		{"select on missing field", enum + "struct { E e; select (S.f) { case a: struct{}; }; } S;", "has no field f"},
		{"select on later field", enum + "struct { select (S.e) { case a: struct{}; }; E e; } S;", "has no field e declared before"},
		{"select on non-enum", "struct { uint8 e; select (S.e) { case a: struct{}; }; } S;", "is not an enum"},
		{"case not in enum", enum + "struct { E e; select (S.e) { case c: struct{}; }; } S;", "case c is not a value of enum E"},
		{"case twice", enum + "struct { E e; select (S.e) { case a: struct{}; case a: uint8 x; }; } S;", "appears twice"},
		{"default on closed enum", enum + "struct { E e; select (S.e) { case a: struct{}; default: uint8 x; }; } S;", "needs an @open enum"},
		{"padding not last", "struct { @padding opaque p[len]; uint8 a; } S;", "must be the last member"},
		{"named length without padding", "struct { opaque p[len]; } S;", "needs @padding"},
		{"unknown annotation", "struct { @frob uint8 a; } S;", "@frob is not allowed"},
		{"const not in enum", enum + "struct { E e = c; } S;", "c is not a value of enum E"},
		{"const on non-enum", "struct { uint8 e = a; } S;", "only a plain enum field"},
		{"outside select owner undefined", enum + "struct { select (T.e) { case a: struct{}; }; } S;", "undefined type T"},
		{"extend missing enum", "extend enum E { c(3) };", "no such enum"},
		{"extend enum overflow", enum + "extend enum E { c(300) };", "overflows enum E"},
		{"extend missing select", enum + "struct { E e; } S; extend select (S.e) { case a: struct{}; };", "has no select on S.e"},
		{"self containment", "struct { S s; } S;", "contains itself"},
		{"clashing arm fields", enum + "struct { E e; select (S.e) { case a: uint8 x; case b: uint16 x; }; } S;", "clashes"},
	}
	for _, c := range cases {
		_, err := resolveSrc(c.src)
		if err == nil {
			t.Errorf("%s: resolved without error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "t.tls:") {
			t.Errorf("%s: error %q, want a t.tls position and %q", c.name, err, c.msg)
		}
	}
}

func TestGoName(t *testing.T) {
	for in, want := range map[string]string{
		"group_id": "GroupID", "mls10": "MLS10", "psktype": "PSKType", "x509": "X509",
		"MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519": "MLS128DHKEMX25519AES128GCMSHA256Ed25519",
		"ratchet_tree": "RatchetTree", "KeyPackageTBS": "KeyPackageTBS", "hpke_public_key": "HPKEPublicKey",
	} {
		if got := GoName(in); got != want {
			t.Errorf("GoName(%q) = %q, want %q", in, got, want)
		}
	}
}

func generateFiles(t *testing.T, opts Options, paths ...string) []byte {
	t.Helper()
	var files []*File
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(filepath.ToSlash(filepath.Base(p)), string(src))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	s, err := Resolve(files...)
	if err != nil {
		t.Fatal(err)
	}
	code, err := Generate(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TestCommittedCodecIsCurrent regenerates the codec from the schema and
// compares it with the committed file, as `go generate` would.
func TestCommittedCodecIsCurrent(t *testing.T) {
	opts := Options{Package: "codec", PkgPath: DefaultRuntimePath}
	a := generateFiles(t, opts, "../schema/rfc9420.tls", "../schema/extensions.tls")
	b := generateFiles(t, opts, "../schema/rfc9420.tls", "../schema/extensions.tls")
	if !bytes.Equal(a, b) {
		t.Fatal("generation is not deterministic")
	}
	if !bytes.HasPrefix(a, []byte("// "+Header+"\n")) {
		t.Fatalf("generated file does not start with the header: %q", a[:60])
	}
	committed, err := os.ReadFile("../codec/rfc9420_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, committed) {
		t.Fatal("codec/rfc9420_gen.go is stale: run go generate ./codec")
	}
}

// TestGeneratedCodeCompilesAndRoundTrips generates a small schema that uses
// every feature of the language into a throw-away module, and runs a test
// there that encodes, decodes and validates values of it against byte
// strings written out by hand from the encoding rules.
func TestGeneratedCodeCompilesAndRoundTrips(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module with the go tool")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pkgDir := filepath.Join(dir, "wire")
	if err := os.MkdirAll(pkgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	code := generateFiles(t, Options{Package: "wire", PkgPath: "example.com/tlsgentest/wire"}, "testdata/sample.tls", "testdata/sample_ext.tls")
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("wire/sample_gen.go", code)
	test, err := os.ReadFile("testdata/sample_test.go.txt")
	if err != nil {
		t.Fatal(err)
	}
	write("wire/sample_test.go", test)
	write("go.mod", []byte("module example.com/tlsgentest\n\ngo 1.26\n\nrequire github.com/mlskit/mlskit v0.0.0\n\nreplace github.com/mlskit/mlskit => "+root+"\n"))
	cmd := exec.Command(gobin, "test", "-count=1", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test of the generated package failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
