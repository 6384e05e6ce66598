package providers_test

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"testing"

	"github.com/mlskit/mlskit/providers"
)

// hkdfHash is the hash of a suite's HKDF, by its size (RFC 9420 §17.1).
func hkdfHash(t *testing.T, cs providers.CipherSuite) func() hash.Hash {
	switch cs.HashSize() {
	case 32:
		return sha256.New
	case 48:
		return sha512.New384
	case 64:
		return sha512.New
	}
	t.Fatalf("suite 0x%04x: hash of %d bytes", uint16(cs.ID()), cs.HashSize())
	return nil
}

// forEverySuite runs check on every suite of every provider, each in its
// own subtest.
func forEverySuite(t *testing.T, check func(t *testing.T, cs providers.CipherSuite)) {
	for _, np := range allProviders() {
		for _, id := range np.p.CipherSuites() {
			cs, err := np.p.CipherSuite(id)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(fmt.Sprintf("%s/0x%04x", np.name, uint16(id)), func(t *testing.T) { check(t, cs) })
		}
	}
}

// TestExpander checks every suite's Expander (providers.NewExpander: the
// suite's own for defaultcrypto, the Expand-calling one for stdcrypto)
// against crypto/hkdf, for several keys in a row (short, a block and
// more: hashed, RFC 2104 §2), outputs shorter than, equal to and longer
// than a hash (T(i) chained, RFC 5869 §2.3), and infos around a block.
func TestExpander(t *testing.T) {
	forEverySuite(t, func(t *testing.T, cs providers.CipherSuite) {
		h, hs := hkdfHash(t, cs), cs.HashSize()
		x := providers.NewExpander(cs)
		defer x.Zero()
		for ki, kl := range []int{hs, hs + 1, 129, 200} {
			prk := rnd(uint64(ki+1), kl)
			if err := x.SetKey(prk); err != nil {
				t.Fatalf("SetKey(%d bytes): %v", kl, err)
			}
			for _, il := range []int{0, 1, 21, 55, 56, 64, 119, 128, 300} {
				info := rnd(uint64(1000*ki+il), il)
				for _, n := range []int{1, 12, hs - 1, hs, hs + 1, 2*hs + 3, 255 * hs} {
					want, err := hkdf.Expand(h, prk, string(info), n)
					if err != nil {
						t.Fatal(err)
					}
					got, err := x.Expand([]byte("prefix"), info, n)
					if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
						t.Fatalf("key %d B, info %d B, length %d: %x, %v; want prefix||%x", kl, il, n, got, err, want)
					}
					// The suite's Expand agrees.
					if direct, err := cs.Expand(nil, prk, info, n); err != nil || !bytes.Equal(direct, want) {
						t.Fatalf("Expand: %x, %v; want %x", direct, err, want)
					}
				}
			}
			if got, err := x.Expand(nil, nil, 0); err != nil || len(got) != 0 {
				t.Errorf("length 0: %x, %v", got, err)
			}
		}
	})
}

// TestExpanderErrors: no key, a key too short (which leaves none), an
// erased key and lengths out of range are refused with the errors of
// CipherSuite.Expand.
func TestExpanderErrors(t *testing.T) {
	forEverySuite(t, func(t *testing.T, cs providers.CipherSuite) {
		hs := cs.HashSize()
		x := providers.NewExpander(cs)
		if _, err := x.Expand(nil, nil, hs); !errors.Is(err, providers.ErrInvalidKeySize) {
			t.Errorf("no key: %v, want ErrInvalidKeySize", err)
		}
		prk := rnd(7, hs)
		if err := x.SetKey(prk); err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{-1, 255*hs + 1} {
			if _, err := x.Expand(nil, nil, n); !errors.Is(err, providers.ErrInvalidLength) {
				t.Errorf("length %d: %v, want ErrInvalidLength", n, err)
			}
			if _, err := cs.Expand(nil, prk, nil, n); !errors.Is(err, providers.ErrInvalidLength) {
				t.Errorf("Expand, length %d: %v, want ErrInvalidLength", n, err)
			}
		}
		if err := x.SetKey(prk[:hs-1]); !errors.Is(err, providers.ErrInvalidKeySize) {
			t.Errorf("short key: %v, want ErrInvalidKeySize", err)
		}
		if _, err := x.Expand(nil, nil, hs); !errors.Is(err, providers.ErrInvalidKeySize) {
			t.Errorf("after a short key: %v, want ErrInvalidKeySize (the previous key dropped)", err)
		}
		if err := x.SetKey(prk); err != nil {
			t.Fatal(err)
		}
		x.Zero()
		if _, err := x.Expand(nil, nil, hs); !errors.Is(err, providers.ErrInvalidKeySize) {
			t.Errorf("after Zero: %v, want ErrInvalidKeySize", err)
		}
	})
}

// TestExpanderAllocs: a suite's own Expander (defaultcrypto's) sets keys
// and expands into a buffer with room without allocating.
func TestExpanderAllocs(t *testing.T) {
	cs, err := allProviders()[0].p.CipherSuite(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cs.(providers.ExpanderMaker); !ok {
		t.Fatalf("%s suite 1 has no Expander of its own", allProviders()[0].name)
	}
	x := providers.NewExpander(cs)
	prk, info := rnd(1, 32), rnd(2, 21)
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		if err := x.SetKey(prk); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Expand(buf[:0], info, 32); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Expand(buf[32:32], info, 32); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

// TestDeriveSecrets: DeriveSecrets gives DeriveSecret's output for each
// label (RFC 9420 §8), on every suite, each output its own allocation
// and DeriveSecretsWith no other;
// a count of outputs other than of labels, and a key shorter than the
// hash, fail with every output left nil.
func TestDeriveSecrets(t *testing.T) {
	labels := []string{"sender data", "encryption", "exporter", "init", "a label of thirty-two bytes long"}
	forEverySuite(t, func(t *testing.T, cs providers.CipherSuite) {
		secret := rnd(7, cs.HashSize())
		out := make([][]byte, len(labels))
		if err := providers.DeriveSecrets(cs, secret, labels, out); err != nil {
			t.Fatal(err)
		}
		for i, l := range labels {
			want, err := providers.DeriveSecret(cs, secret, l)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out[i], want) {
				t.Errorf("%q: %x, want %x", l, out[i], want)
			}
			if i > 0 && &out[i][:cap(out[i])][cap(out[i])-1] == &out[i-1][:cap(out[i-1])][cap(out[i-1])-1] {
				t.Errorf("%q shares its storage with the previous output", l)
			}
		}
		// One allocation per output (holding its KDFLabel after it, out
		// of its reach), none more, with a suite's own Expander (one
		// that calls the suite's Expand costs what that does).
		x := providers.NewExpander(cs)
		defer x.Zero()
		_, own := cs.(providers.ExpanderMaker)
		if n := testing.AllocsPerRun(10, func() {
			if err := providers.DeriveSecretsWith(x, cs.HashSize(), secret, labels, out); err != nil {
				t.Fatal(err)
			}
		}); own && n != float64(len(labels)) {
			t.Errorf("DeriveSecretsWith: %v allocations for %d outputs", n, len(labels))
		}
		for i, o := range out {
			if cap(o) != cs.HashSize() {
				t.Errorf("output %d: capacity %d, want %d", i, cap(o), cs.HashSize())
			}
		}
		if err := providers.DeriveSecrets(cs, secret, labels, out[:2]); !errors.Is(err, providers.ErrInvalidLength) {
			t.Errorf("2 outputs for %d labels: %v", len(labels), err)
		}
		short := make([][]byte, len(labels))
		if err := providers.DeriveSecrets(cs, secret[:cs.HashSize()-1], labels, short); !errors.Is(err, providers.ErrInvalidKeySize) {
			t.Errorf("short key: %v", err)
		}
		for i, o := range short {
			if o != nil {
				t.Errorf("short key: output %d set", i)
			}
		}
	})
}
