// Package testseed gives every randomized test of the repository one way to
// choose, report and replay its seed.
//
// A randomized test (a gopter property, a random operation sequence, a
// shuffled order) takes its seed from Seed, Rand or Gopter. The seed is the
// value of the environment variable MLSKIT_SEED when it is set, and a fresh
// random value otherwise, so that repeated runs (make flaky) explore new
// inputs while any one run can be replayed exactly. The test logs its seed,
// and when it fails it logs the command that reruns it with that seed:
//
//	MLSKIT_SEED=1234 go test -run '^TestX$' ./mls/internal/treekem
//
// The package holds no state: each call reads the environment and draws
// its own seed.
package testseed

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/leanovate/gopter"
)

// EnvVar names the environment variable that fixes the seed of every
// randomized test.
const EnvVar = "MLSKIT_SEED"

// Seed returns the seed of tb's randomized run: MLSKIT_SEED when set (a
// decimal uint64, or a negative int64 as gopter prints it), otherwise a
// fresh random value. It logs the seed and registers a cleanup that, if tb
// failed, logs how to rerun tb with it.
func Seed(tb testing.TB) uint64 {
	tb.Helper()
	seed, fromEnv, err := fromEnvironment()
	if err != nil {
		tb.Fatal(err)
	}
	if fromEnv {
		tb.Logf("seed %d (from %s)", seed, EnvVar)
	} else {
		seed = rand.Uint64()
		tb.Logf("seed %d (random; %s=%d replays it)", seed, EnvVar, seed)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("%s failed with seed %d; rerun it with:\n\t%s", tb.Name(), seed, RerunCommand(tb.Name(), seed))
		}
	})
	return seed
}

// Rand returns a generator seeded with Seed(tb).
func Rand(tb testing.TB) *rand.Rand {
	tb.Helper()
	return rand.New(rand.NewPCG(Seed(tb), 0x6d6c736b6974))
}

// Gopter returns gopter's default test parameters seeded with Seed(tb).
// Properties sharing the parameters draw from one generator in order, so
// a rerun replays the whole test that called Gopter (the name in the rerun
// command), not one of its properties alone.
func Gopter(tb testing.TB) *gopter.TestParameters {
	tb.Helper()
	return gopter.DefaultTestParametersWithSeed(int64(Seed(tb)))
}

// fromEnvironment parses MLSKIT_SEED.
func fromEnvironment() (seed uint64, ok bool, err error) {
	v := strings.TrimSpace(os.Getenv(EnvVar))
	if v == "" {
		return 0, false, nil
	}
	if u, err := strconv.ParseUint(v, 0, 64); err == nil {
		return u, true, nil
	}
	if i, err := strconv.ParseInt(v, 0, 64); err == nil {
		return uint64(i), true, nil
	}
	return 0, false, fmt.Errorf("%s=%q is not a 64-bit integer", EnvVar, v)
}

// RerunCommand returns the shell command that runs the test named name
// (as testing.T.Name gives it) of the package in the working directory
// with the given seed.
func RerunCommand(name string, seed uint64) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return fmt.Sprintf("%s=%d go test -count=1 -run %s %s", EnvVar, seed, shellQuote(strings.Join(parts, "/")), packageDir())
}

// packageDir returns the working directory (go test runs a package's
// tests in its directory) relative to the module root, as ./path, or the
// absolute directory when the root is not found.
func packageDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			rel, err := filepath.Rel(d, wd)
			switch {
			case err != nil:
				return wd
			case rel == ".":
				return "."
			}
			return "./" + filepath.ToSlash(rel)
		}
		if filepath.Dir(d) == d {
			return wd
		}
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
