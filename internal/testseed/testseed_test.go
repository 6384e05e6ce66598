package testseed

import (
	"testing"
)

func TestSeedFromEnvironment(t *testing.T) {
	for v, want := range map[string]uint64{"42": 42, " 7 ": 7, "0x10": 16, "-1": 1<<64 - 1, "18446744073709551615": 1<<64 - 1} {
		t.Setenv(EnvVar, v)
		if got := Seed(t); got != want {
			t.Errorf("%s=%q: seed %d, want %d", EnvVar, v, got, want)
		}
	}
	t.Setenv(EnvVar, "")
	if _, ok, err := fromEnvironment(); ok || err != nil {
		t.Errorf("empty %s: taken as a seed (%v)", EnvVar, err)
	}
	for _, bad := range []string{"x", "1.5", "18446744073709551616"} {
		t.Setenv(EnvVar, bad)
		if _, _, err := fromEnvironment(); err == nil {
			t.Errorf("%s=%q accepted", EnvVar, bad)
		}
	}
}

func TestGopterAndRandReplay(t *testing.T) {
	t.Setenv(EnvVar, "12345")
	if a, b := Gopter(t), Gopter(t); a.Seed() != 12345 || a.Rng.Int63() != b.Rng.Int63() {
		t.Errorf("gopter parameters do not replay the seed")
	}
	if Rand(t).Uint64() != Rand(t).Uint64() {
		t.Errorf("Rand does not replay the seed")
	}
}

func TestRerunCommand(t *testing.T) {
	got := RerunCommand("TestX/suite=1/a.b's", 9)
	want := `MLSKIT_SEED=9 go test -count=1 -run '^TestX$/^suite=1$/^a\.b'\''s$' ./internal/testseed`
	if got != want {
		t.Errorf("RerunCommand:\n got %s\nwant %s", got, want)
	}
}
