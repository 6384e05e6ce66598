package testvectors

import (
	"encoding/json"
	"os"
	"path/filepath"
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

func TestEnvVar(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.json"), []byte(`[1,2]`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvVar, dir)
	if got := Dir(t); got != dir {
		t.Errorf("Dir = %s, want %s", got, dir)
	}
	var v []int
	Load(t, "x.json", &v)
	if len(v) != 2 {
		t.Errorf("Load = %v", v)
	}
}
