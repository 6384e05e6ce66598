package testvectors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHexBytes(t *testing.T) {
	var v struct {
		A HexBytes `json:"a"`
		B HexBytes `json:"b"`
	}
	if err := json.Unmarshal([]byte(`{"a":"00ff10","b":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if string(v.A) != "\x00\xff\x10" || v.B != nil {
		t.Errorf("decoded %x, %x", v.A, v.B)
	}
	if err := json.Unmarshal([]byte(`{"a":"0g"}`), &v); err == nil {
		t.Error("bad hex accepted")
	}
	out, _ := json.Marshal(HexBytes{0xab})
	if string(out) != `"ab"` {
		t.Errorf("MarshalJSON = %s", out)
	}
}

// TestCommittedCases checks the table of case counts against the files
// committed in testdata: every file is in the table with its count, and
// every file of the table is there.
func TestCommittedCases(t *testing.T) {
	dir, err := RepoDir()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []json.RawMessage
		if err := json.Unmarshal(data, &cases); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want, ok := committedCases[name]
		switch {
		case !ok:
			t.Errorf("testdata/%s (%d cases) is missing from committedCases", name, len(cases))
		case len(cases) != want:
			t.Errorf("testdata/%s holds %d cases, committedCases says %d", name, len(cases), want)
		case want == 0:
			t.Errorf("testdata/%s has no cases", name)
		}
	}
	for name := range committedCases {
		if !seen[name] {
			t.Errorf("committedCases lists %s, which is not in %s", name, dir)
		}
	}
}

// TestEnvVar checks that a file in MLS_TEST_VECTORS takes the place of the
// committed one, that the others still come from testdata, and that Files
// lists both directories.
func TestEnvVar(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "tree-math.json"), "["+strings.Repeat("1,", 9)+"1]")
	writeFile(t, filepath.Join(dir, "passive-client-extra.json"), `[{}]`)
	t.Setenv(EnvVar, dir)

	var v []int
	Load(t, "tree-math.json", &v)
	if len(v) != 10 {
		t.Errorf("Load read %d cases from %s, want the 10 of the replacement", len(v), dir)
	}
	if p := Path(t, "welcome.json"); filepath.Dir(p) == filepath.Clean(dir) {
		t.Errorf("welcome.json found in %s, want testdata", dir)
	}
	got := Files(t, "passive-client-*.json")
	want := []string{"passive-client-extra.json", "passive-client-handling-commit.json", "passive-client-welcome.json"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Files = %v, want %v", got, want)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestShortFileFails checks that Load fails a test whose file holds fewer
// cases than the committed one, and Expect one that ran fewer than it said.
func TestShortFileFails(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "tree-math.json"), `[]`)
	t.Setenv(EnvVar, dir)
	ft := &fakeTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		var v []int
		Load(ft, "tree-math.json", &v)
	}()
	if !ft.failed {
		t.Error("Load accepted an empty tree-math.json")
	}

	ft = &fakeTB{TB: t}
	c := Expect(ft, "x.json", 3)
	c.Add(2)
	ft.cleanup()
	if !ft.failed {
		t.Error("Expect(3) passed with 2 cases run")
	}
	ft = &fakeTB{TB: t}
	Expect(ft, "x.json", 0)
	ft.cleanup()
	if !ft.failed {
		t.Error("Expect(0) passed")
	}
}

// fakeTB records failures instead of failing the real test; Fatal panics to
// stop the caller, as runtime.Goexit would.
type fakeTB struct {
	testing.TB
	failed   bool
	cleanups []func()
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Logf(string, ...any)   {}
func (f *fakeTB) Errorf(string, ...any) { f.failed = true }
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true; panic("fatal") }
func (f *fakeTB) Fatal(...any)          { f.failed = true; panic("fatal") }
func (f *fakeTB) Cleanup(fn func())     { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) cleanup() {
	for _, fn := range f.cleanups {
		fn()
	}
}
