// Package testvectors locates and loads the official MLS test vectors
// (https://github.com/mlswg/mls-implementations, format in FORMAT.md there)
// for tests.
//
// The directory is taken from the environment variable MLS_TEST_VECTORS,
// defaulting to ../shared/test-vectors relative to the repository root (the
// directory holding go.mod). When it is missing, tests skip with a message
// naming the variable.
package testvectors

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// EnvVar names the environment variable that points at the vector directory.
const EnvVar = "MLS_TEST_VECTORS"

// Dir returns the test vector directory, or skips the test if it does not
// exist.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := locate()
	if err != nil {
		t.Skipf("test vectors not found (set %s to the directory): %v", EnvVar, err)
	}
	return dir
}

// Load decodes the JSON vector file name (such as "crypto-basics.json") into
// v, skipping the test if the vector directory is missing and failing it if
// the file cannot be read or decoded.
func Load(t testing.TB, name string, v any) {
	t.Helper()
	path := filepath.Join(Dir(t), name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading test vectors: %v", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
}

func locate() (string, error) {
	if dir := os.Getenv(EnvVar); dir != "" {
		return checkDir(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return checkDir(filepath.Join(d, "..", "shared", "test-vectors"))
		}
		if filepath.Dir(d) == d {
			return "", errors.New("no go.mod above " + wd)
		}
	}
}

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
