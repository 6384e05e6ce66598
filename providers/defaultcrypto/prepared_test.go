package defaultcrypto_test

import (
	"bytes"
	"crypto/rand"
	mrand "math/rand/v2"
	"runtime"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// TestPrepareSealBaseMatchesSealBase: with the same randomness, the prepared
// sealer gives exactly SealBase's kem_output and ciphertext (RFC 9180 §5.1),
// for every suite, and OpenBase opens it.
func TestPrepareSealBaseMatchesSealBase(t *testing.T) {
	seed := [32]byte{7}
	for _, id := range defaultcrypto.New().CipherSuites() {
		a := defaultcrypto.New(defaultcrypto.WithRand(mrand.NewChaCha8(seed)))
		b := defaultcrypto.New(defaultcrypto.WithRand(mrand.NewChaCha8(seed)))
		csA, err := a.CipherSuite(id)
		if err != nil {
			t.Fatal(err)
		}
		csB, _ := b.CipherSuite(id)
		priv, pub, err := csA.GenerateKeyPair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		info := bytes.Repeat([]byte("encrypted group info "), 50)
		aad := []byte("aad")
		ps, ok := csB.(providers.PreparedSealer)
		if !ok {
			t.Fatalf("suite %v: no PreparedSealer", id)
		}
		seal, err := ps.PrepareSealBase(info, aad)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			pt := bytes.Repeat([]byte{byte(i)}, 40+i)
			enc1, ct1, err := csA.SealBase(pub, info, aad, pt)
			if err != nil {
				t.Fatal(err)
			}
			enc2, ct2, err := seal(pub, pt)
			if err != nil {
				t.Fatal(err)
			}
			// The NIST-curve suites draw their ephemeral key from
			// crypto/hpke's own source: compare by decryption only.
			if bytes.Equal(enc1, enc2) != bytes.Equal(ct1, ct2) {
				t.Fatalf("suite %v: kem_output and ciphertext disagree on equality", id)
			}
			got, err := csA.OpenBase(priv, enc2, info, aad, ct2)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("suite %v: OpenBase of the prepared seal: %q, %v", id, got, err)
			}
			if _, err := csA.OpenBase(priv, enc2, info[1:], aad, ct2); err == nil {
				t.Fatalf("suite %v: opens with another info", id)
			}
		}
		if _, _, err := seal(pub[:len(pub)-1], []byte("x")); err == nil {
			t.Fatalf("suite %v: sealed to a truncated key", id)
		}
	}
}

// TestPrepareSealBaseDeterministic pins byte equality for the circl suites
// (X25519, X448, X-Wing), whose randomness the provider supplies.
func TestPrepareSealBaseDeterministic(t *testing.T) {
	seed := [32]byte{9}
	for _, id := range []uint16{0x0001, 0x0003, 0x0004, 0x0006, 0x004D} {
		a := defaultcrypto.New(defaultcrypto.WithRand(mrand.NewChaCha8(seed)))
		b := defaultcrypto.New(defaultcrypto.WithRand(mrand.NewChaCha8(seed)))
		csA, err := a.CipherSuite(suiteID(id))
		if err != nil {
			t.Fatal(err)
		}
		csB, _ := b.CipherSuite(suiteID(id))
		_, pub, err := csA.GenerateKeyPair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		seal, err := csB.(providers.PreparedSealer).PrepareSealBase([]byte("info"), nil)
		if err != nil {
			t.Fatal(err)
		}
		enc1, ct1, err := csA.SealBase(pub, []byte("info"), nil, []byte("secrets"))
		if err != nil {
			t.Fatal(err)
		}
		enc2, ct2, err := seal(pub, []byte("secrets"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc1, enc2) || !bytes.Equal(ct1, ct2) {
			t.Fatalf("suite 0x%04x: prepared seal differs from SealBase", id)
		}
	}
}

// BenchmarkWelcomeSeal compares sealing to 100 keys with a 256 KiB info:
// SealBase each time against one PrepareSealBase.
func BenchmarkWelcomeSeal(b *testing.B) {
	cs, _ := defaultcrypto.New().CipherSuite(suiteID(1))
	pubs := make([][]byte, 100)
	for i := range pubs {
		_, pubs[i], _ = cs.GenerateKeyPair(rand.Reader)
	}
	info := make([]byte, 256<<10)
	pt := make([]byte, 64)
	b.Run("SealBase", func(b *testing.B) {
		for b.Loop() {
			for _, pub := range pubs {
				if _, _, err := cs.SealBase(pub, info, nil, pt); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("Prepared", func(b *testing.B) {
		for b.Loop() {
			seal, err := cs.(providers.PreparedSealer).PrepareSealBase(info, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, pub := range pubs {
				if _, _, err := seal(pub, pt); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func suiteID(id uint16) codec.CipherSuite { return codec.CipherSuite(id) }

// TestOpenBaseSplitInfoNoCopy: in every suite, opening with a 4 MB info in
// two parts (a Welcome's GroupSecrets, RFC 9420 §12.4.3.1), with or without
// the recipient's public key, allocates less than 64 KiB: the info is
// hashed where it lies, never copied.
func TestOpenBaseSplitInfoNoCopy(t *testing.T) {
	const size, most = 4 << 20, 64 << 10
	info := bytes.Repeat([]byte{0x5a}, size)
	head := []byte("head")
	ran := 0
	for _, id := range defaultcrypto.New().CipherSuites() {
		cs, err := defaultcrypto.New().CipherSuite(id)
		if err != nil {
			t.Fatal(err)
		}
		o, ok := cs.(providers.SplitInfoOpener)
		if !ok {
			t.Fatalf("suite %v: no SplitInfoOpener", id)
		}
		priv, pub, err := cs.GenerateKeyPair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		enc, ct, err := cs.SealBase(pub, append(bytes.Clone(head), info...), nil, []byte("group secrets"))
		if err != nil {
			t.Fatal(err)
		}
		// Without and with the recipient's public key (a joiner's init_key).
		for _, p := range [][]byte{nil, pub} {
			var pt []byte
			got := allocatedBytes(func() { pt, err = o.OpenBaseSplitInfo(priv, p, enc, head, info, nil, ct) })
			if err != nil || !bytes.Equal(pt, []byte("group secrets")) {
				t.Fatalf("suite %v (pub %x): %q, %v", id, p, pt, err)
			}
			t.Logf("suite %#04x (pub given: %v): %d bytes allocated for a %d-byte info", uint16(id), p != nil, got, size+len(head))
			if got >= most {
				t.Errorf("suite %#04x (pub %x): %d bytes allocated, want less than %d", uint16(id), p, got, most)
			}
		}
		ran++
	}
	if ran != 8 {
		t.Errorf("ran %d suites, want 8", ran)
	}
}

// allocatedBytes returns the bytes f allocates (runtime.MemStats.TotalAlloc).
func allocatedBytes(f func()) uint64 {
	runtime.GC()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}
