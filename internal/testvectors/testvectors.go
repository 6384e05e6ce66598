// Package testvectors loads the official MLS test vectors for tests: the
// files of the IETF MLS working group's repository
// (https://github.com/mlswg/mls-implementations, format in FORMAT.md
// there), committed in the repository's testdata directory (see
// testdata/README.md for their origin).
//
// The environment variable MLS_TEST_VECTORS may name another directory:
// a file found there is used instead of the committed one of the same name,
// so newer vector files can be run without changing the repository, and
// [Files] lists matching files of both directories (every
// passive-client-*.json found is run).
//
// Vector tests never skip. [Load] fails a test whose file holds fewer cases
// than the committed copy ([MinCases]), and [Expect] makes a test fail
// unless it ran the number of cases it expects, so an empty, truncated or
// silently skipped file fails the suite.
package testvectors

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
)

// EnvVar names the environment variable that points at a directory of
// other (newer or extra) vector files.
const EnvVar = "MLS_TEST_VECTORS"

// RepoDir returns the repository's own vector directory (testdata at the
// root of the module, the directory holding go.mod), searched upwards from
// the working directory.
func RepoDir() (string, error) {
	repoOnce.Do(func() { repoDir, repoErr = findRepoDir() })
	return repoDir, repoErr
}

var (
	repoOnce sync.Once
	repoDir  string
	repoErr  error
)

func findRepoDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return checkDir(filepath.Join(d, "testdata"))
		}
		if filepath.Dir(d) == d {
			return "", errors.New("no go.mod above " + wd)
		}
	}
}

// Dirs returns the directories searched for a vector file, in order: the
// one named by MLS_TEST_VECTORS (if set) and the repository's testdata.
func Dirs() ([]string, error) {
	var dirs []string
	if env := os.Getenv(EnvVar); env != "" {
		d, err := checkDir(env)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvVar, err)
		}
		dirs = append(dirs, d)
	}
	d, err := RepoDir()
	if err != nil {
		return nil, err
	}
	return append(dirs, d), nil
}

// Path returns the path of the vector file name: in MLS_TEST_VECTORS if it
// is there, else in the repository's testdata. It fails the test when the
// file is in neither.
func Path(t testing.TB, name string) string {
	t.Helper()
	dirs, err := Dirs()
	if err != nil {
		t.Fatalf("test vectors: %v", err)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("test vector file %s not found in %v", name, dirs)
	return ""
}

// Files returns the names (not paths) of the vector files matching the glob
// pattern in MLS_TEST_VECTORS and in the repository's testdata, sorted and
// without duplicates. Pass each to [Load].
func Files(t testing.TB, pattern string) []string {
	t.Helper()
	dirs, err := Dirs()
	if err != nil {
		t.Fatalf("test vectors: %v", err)
	}
	seen := map[string]bool{}
	var names []string
	for _, d := range dirs {
		m, err := filepath.Glob(filepath.Join(d, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			if n := filepath.Base(p); !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatalf("no test vector file matches %s in %v", pattern, dirs)
	}
	return names
}

// Load decodes the JSON vector file name (such as "crypto-basics.json"),
// found as [Path] says, into v, a pointer to a slice. It fails the test if
// the file cannot be read or decoded, or holds fewer cases than
// [MinCases] requires.
func Load(t testing.TB, name string, v any) {
	t.Helper()
	path := Path(t, name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading test vectors: %v", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Slice {
		t.Fatalf("testvectors.Load(%s): %T is not a pointer to a slice", name, v)
	}
	if n, min := rv.Elem().Len(), MinCases(name); n < min {
		t.Fatalf("%s holds %d cases, want at least %d (the committed file's count)", path, n, min)
	}
}

// MinCases returns the number of cases a vector file must hold: the count
// of the committed file (table committedCases), or 1 for a file that is not
// committed (an extra file in MLS_TEST_VECTORS).
func MinCases(name string) int {
	if n, ok := committedCases[name]; ok {
		return n
	}
	return 1
}

// A Counter counts the cases of a vector file a test ran. Create it with
// [Expect].
type Counter struct {
	name string
	want int
	n    atomic.Int64
}

// Expect returns a Counter for the cases t runs from the vector file name;
// when t and its subtests have finished, t fails unless at least want cases
// were counted (and want is at least 1). Call [Counter.Ran] once for each
// case run to its end.
func Expect(t testing.TB, name string, want int) *Counter {
	t.Helper()
	c := &Counter{name: name, want: want}
	t.Cleanup(func() {
		n := int(c.n.Load())
		switch {
		case c.want < 1:
			t.Errorf("%s: expected %d cases: a vector test must run at least one", name, c.want)
		case n < c.want:
			t.Errorf("%s: ran %d vector cases, want %d", name, n, c.want)
		default:
			t.Logf("%s: ran %d vector cases", name, n)
		}
	})
	return c
}

// Ran counts one case run.
func (c *Counter) Ran() { c.n.Add(1) }

// Add counts n cases run.
func (c *Counter) Add(n int) { c.n.Add(int64(n)) }

// Count returns the number of cases counted so far.
func (c *Counter) Count() int { return int(c.n.Load()) }

func checkDir(dir string) (string, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	return filepath.Clean(dir), nil
}

// HexBytes is a byte string written in JSON as a hex string, as the vectors
// encode binary data. JSON null decodes to nil.
type HexBytes []byte

// UnmarshalJSON decodes a JSON hex string.
func (h *HexBytes) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*h = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = b
	return nil
}

// MarshalJSON encodes h as a JSON hex string.
func (h HexBytes) MarshalJSON() ([]byte, error) {
	return json.Marshal(hex.EncodeToString(h))
}
