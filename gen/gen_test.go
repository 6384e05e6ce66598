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
		{"head not ending in a vector", "@head struct { opaque d<V>; uint8 a; } S;", "@head struct S must end in"},
		{"head ending in a TLS vector", "@head struct { opaque d<0..255>; } S;", "@head struct S must end in"},
		{"head ending in a plain struct", "struct { opaque d<V>; } T; @head struct { T t; } S;", "@head struct S must end in"},
		{"head ending in an optional", "@head struct { opaque d<V>; } T; @head struct { optional<T> t; } S;", "@head struct S must end in"},
		{"head select of no head arm", enum + "@head struct { E e; select (S.e) { case a: uint8 x; case b: struct{}; }; } S;", "@head struct S must end in"},
		{"head on an enum", "@head enum { a(1), (255) } E;", "@head is not allowed"},
		{"split of no field", "@head struct { opaque d<V>; } E; @split(x) struct { E e<V>; } S;", "S has no field x"},
		{"split without a field name", "@head struct { opaque d<V>; } E; @split struct { E e<V>; } S;", "@split takes one field name"},
		{"split of a plain struct vector", "struct { opaque d<V>; } E; @split(e) struct { E e<V>; } S;", "must be an MLS vector of a @head struct"},
		{"split of a TLS vector", "@head struct { opaque d<V>; } E; @split(e) struct { E e<0..255>; } S;", "must be an MLS vector of a @head struct"},
		{"each on a vector of structs", "struct { uint8 a; } T; @each T s<V>;", "@each on s: only"},
		{"each on a fixed array", "struct { uint8 a; } T; @each optional<T> s[3];", "@each on s: only"},
		{"each on optional numbers", "@each optional<uint8> s<V>;", "@each on s: only"},
		{"each on a struct", "@each struct { uint8 a; } S;", "@each is not allowed"},
		{"split of an element not ending in bytes", "@head struct { uint16 d<V>; } E; @split(e) struct { E e<V>; } S;", "E must end in an opaque MLS vector"},
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
		f, err := Parse(filepath.ToSlash(p), string(src))
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

// TestTypedModel: Resolve gives each type its definition by kind, and
// struct members in wire order as fields and selects.
func TestTypedModel(t *testing.T) {
	var files []*File
	for _, p := range []string{"testdata/sample.tls", "testdata/sample_ext.tls"} {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(p, string(src))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	s, err := Resolve(files...)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Files, ","); got != "testdata/sample.tls,testdata/sample_ext.tls" {
		t.Errorf("Files = %s", got)
	}

	kind := s.Lookup("Kind").Enum()
	if kind == nil || !kind.Open || kind.Bits != 16 || len(kind.Values) != 4 || kind.Values[3].Name != "gamma" {
		t.Errorf("Kind: %+v, want an open 16-bit enum of 4 values ending in the extension's gamma", kind)
	}
	if mode := s.Lookup("Mode").Enum(); mode == nil || mode.Open || mode.Bits != 8 {
		t.Errorf("Mode: %+v, want a closed 8-bit enum", mode)
	}
	blob := s.Lookup("Blob")
	if v := blob.Vector(); v == nil || v.Vec.Kind != VecMLS || v.Elem.T.Opaque() == nil || blob.Struct() != nil {
		t.Errorf("Blob: %#v, want a vector of opaque", blob.Def)
	}
	if a := s.Lookup("BlobRef").Alias(); a == nil || a.Target != blob {
		t.Errorf("BlobRef: want another name for Blob")
	}
	if v := s.Lookup("maybe_items").Vector(); v == nil || !v.Elem.Optional || v.Elem.T != s.Lookup("Item") {
		t.Errorf("maybe_items: want a vector of optional<Item>")
	}

	item := s.Lookup("Item").Struct()
	if item == nil {
		t.Fatal("Item is not a struct")
	}
	var shape []string
	for _, m := range item.Members {
		switch m := m.(type) {
		case *FieldInfo:
			shape = append(shape, m.Name)
		case *SelectInfo:
			var arms []string
			for _, c := range m.Cases {
				for _, v := range c.Values {
					arms = append(arms, v.Name)
				}
			}
			shape = append(shape, "select("+strings.Join(m.Path, ".")+":"+strings.Join(arms, "|")+")")
			if m.Enum != s.Lookup("Kind") || m.Default == nil {
				t.Errorf("Item's select: enum %v, default %v", m.Enum, m.Default)
			}
		}
	}
	want := "mode kind select(Item.kind:alpha|beta|gamma) maybe list tls fixed bounded ref"
	if got := strings.Join(shape, " "); got != want {
		t.Errorf("Item members:\n got %s\nwant %s", got, want)
	}
	if mode := item.Members[0].(*FieldInfo); mode.Const == nil || mode.Const.Name != "one" {
		t.Errorf("Item.mode: want the fixed value one")
	}
	if body := s.Lookup("Body").Struct(); body.Param == nil || body.Param.Owner != s.Lookup("Header") || body.Param.GoName != "mode" {
		t.Errorf("Body: want a parameter Header.mode, got %+v", body.Param)
	}
	if s.Lookup("uint8") != nil || builtins["uint8"].Uint().Bits != 8 || builtins["opaque"].Bits() != 8 {
		t.Error("built-in types")
	}
}

// TestCommentsReachGeneratedCode: the comments of a schema are kept on its
// declarations, fields, select arms and enum values, a § heading carries
// over to the declarations after it, and all of it appears in the
// generated Go, whose header names the source files.
func TestCommentsReachGeneratedCode(t *testing.T) {
	const src = `/* File header: not attached (a blank line follows). */

/* §1.2 Things */
struct {
    /* Doc of a,
       on two lines. */
    uint8 a; /* trailing a */
    E e;     // trailing e
    select (S.e) {
        /* Doc of the x arm. */
        case x: uint16 b;
        case y: struct{};
    };
} S;

/* Not attached either. */

enum {
    reserved(0),
    /* Doc of x. */
    x(1),
    y(2), /* trailing y */
    (255)
} E;

// A vector, documented
// with line comments.
opaque V<V>;

/* §3 Other: with more text
 * in the starred style. */
@open enum { z(1), (255) } F;
`
	f, err := Parse("../schema/t.tls", src)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Resolve(f)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Lookup("S")
	if st.Doc != "§1.2 Things" || st.Section != "§1.2 Things" {
		t.Errorf("S: doc %q, section %q", st.Doc, st.Section)
	}
	a := st.Struct().Members[0].(*FieldInfo)
	if a.Doc != "Doc of a,\non two lines." || a.Comment != "trailing a" {
		t.Errorf("S.a: doc %q, comment %q", a.Doc, a.Comment)
	}
	if e := st.Struct().Members[1].(*FieldInfo); e.Doc != "" || e.Comment != "trailing e" {
		t.Errorf("S.e: doc %q, comment %q", e.Doc, e.Comment)
	}
	if b := st.Struct().Members[2].(*SelectInfo).Cases[0].Fields[0]; b.Doc != "Doc of the x arm." {
		t.Errorf("S.b: doc %q", b.Doc)
	}
	en := s.Lookup("E")
	if en.Doc != "" || en.Section != "§1.2 Things" {
		t.Errorf("E: doc %q, section %q", en.Doc, en.Section)
	}
	if x, y := en.Enum().Values[1], en.Enum().Values[2]; x.Doc != "Doc of x." || y.Comment != "trailing y" {
		t.Errorf("E values: %+v %+v", x, y)
	}
	if v := s.Lookup("V"); v.Doc != "A vector, documented\nwith line comments." {
		t.Errorf("V: doc %q", v.Doc)
	}
	if fe := s.Lookup("F"); fe.Section != "§3 Other" || fe.Doc != "§3 Other: with more text\nin the starred style." {
		t.Errorf("F: doc %q, section %q", fe.Doc, fe.Section)
	}

	code, err := Generate(s, Options{Package: "p", PkgPath: "example.com/p"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"// " + Header + "\n// source: schema/t.tls\n\npackage p\n",
		"// S is a struct (§1.2 Things; schema t.tls:4).\ntype S struct {",
		"\t// Doc of a,\n\t// on two lines.\n\tA uint8 // trailing a\n",
		"\tE E     // trailing e\n",
		"\t// Doc of the x arm.\n\tB uint16\n",
		"// E is a closed enum (§1.2 Things; schema t.tls:18).\n//\n// Decoders reject values it does not name.\n",
		"\t// Doc of x.\n\tEX E = 1\n\tEY E = 2 // trailing y\n",
		"// V is a vector (§1.2 Things; schema t.tls:28).\n//\n// A vector, documented\n// with line comments.\n",
		"// F is an open enum (§3 Other; schema t.tls:32).\n//\n// with more text\n// in the starred style.\n",
	} {
		if !bytes.Contains(code, []byte(want)) {
			t.Errorf("generated code lacks\n%s", want)
		}
	}
	if bytes.Contains(code, []byte("File header")) || bytes.Contains(code, []byte("Not attached")) {
		t.Error("a comment followed by a blank line was attached")
	}
	if t.Failed() {
		t.Logf("generated:\n%s", code)
	}
}

// TestSizedVectors: an unbounded vector whose elements' sizes are sums of
// fixed sizes and byte vector lengths writes its length prefix before its
// content (no move to widen the prefix); other vectors (optional or
// nested-vector elements, bounded ones) begin and end as before.
func TestSizedVectors(t *testing.T) {
	const src = `
enum { reserved(0), a(1), (65535) } E;
struct { E type; opaque data<V>; } Flat;
struct { uint8 x; Flat f; opaque more<V>; } Nested;
struct { uint16 list<V>; } Deep;
struct {
    Flat flats<V>;
    uint32 nums<V>;
    Nested nested<V>;
    optional<Flat> opts<V>;
    Deep deeps<V>;
    Flat bounded<0..255>;
} S;
`
	enc := funcBody(t, generateSrc(t, src), "func (v *S) AppendTo(")
	for _, want := range []string{
		"n1 := 0",
		"n1 += 2 + codec.VarintSize(len(v.Flats[i3].Data)) + len(v.Flats[i3].Data)",
		"len(v.Nums) * 4",
		"1 + 2 + codec.VarintSize(len(v.Nested[",
	} {
		if !strings.Contains(enc, want) {
			t.Errorf("S.AppendTo lacks %q:\n%s", want, enc)
		}
	}
	// opts (optional elements), deeps (a vector inside) and bounded keep
	// the two-step prefix.
	if got := strings.Count(enc, "BeginVarintVector"); got != 2 {
		t.Errorf("%d BeginVarintVector in S.AppendTo, want 2 (opts, deeps):\n%s", got, enc)
	}
	if !strings.Contains(enc, "BeginUint8Vector") {
		t.Errorf("bounded vector not begun with BeginUint8Vector:\n%s", enc)
	}
}

// TestNamedVectorElementEncoder: a named vector type whose elements are
// written one by one gets an element encoder, which its AppendTo calls
// (the only place the element's encoding is written), and, for an MLS
// vector, a FrameX; a byte vector gets neither.
func TestNamedVectorElementEncoder(t *testing.T) {
	const src = `
struct { uint8 a; opaque data<V>; } Flat;
optional<Flat> Opts<V>;
uint16 Nums<V>;
Flat Bounded<0..255>;
opaque Bytes<V>;
`
	body := generateSrc(t, src)
	fn := func(sig string) string { return funcBody(t, body, sig) }
	for _, c := range []struct{ typ, elem string }{{"Opts", "*Flat"}, {"Nums", "uint16"}, {"Bounded", "*Flat"}} {
		el := fn("func Append" + c.typ + "Element(b []byte, x " + c.elem + ") ([]byte, error) {")
		enc := fn("func (v " + c.typ + ") AppendTo(")
		if !strings.Contains(enc, "Append"+c.typ+"Element(b, ") {
			t.Errorf("%s.AppendTo does not call its element encoder:\n%s", c.typ, enc)
		}
		if c.typ == "Opts" && (!strings.Contains(el, "append(b, 1)") || strings.Contains(enc, "append(b, 1)")) {
			t.Errorf("presence octet not written by the element encoder only:\n%s\n%s", el, enc)
		}
	}
	fn("func FrameOpts(buf []byte, start int) ([]byte, error) {")
	fn("func FrameNums(buf []byte, start int) ([]byte, error) {")
	for _, absent := range []string{"FrameBounded(", "AppendBytesElement(", "FrameBytes("} {
		if strings.Contains(body, absent) {
			t.Errorf("generated %s", absent)
		}
	}
}

// generateSrc generates the Go code of a schema source.
func generateSrc(t *testing.T, src string) string {
	t.Helper()
	s, err := resolveSrc(src)
	if err != nil {
		t.Fatal(err)
	}
	code, err := Generate(s, Options{Package: "wire", PkgPath: "example.com/wire"})
	if err != nil {
		t.Fatal(err)
	}
	return string(code)
}

// funcBody returns the function of code that starts with sig, up to its
// closing brace.
func funcBody(t *testing.T, code, sig string) string {
	t.Helper()
	i := strings.Index(code, sig)
	if i < 0 {
		t.Fatalf("no %q in\n%s", sig, code)
	}
	f := code[i:]
	return f[:strings.Index(f, "\n}\n")]
}
