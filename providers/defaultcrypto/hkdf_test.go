package defaultcrypto

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"encoding/hex"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// TestHKDFRFC5869 checks the allocation-free HKDF against the SHA-256 test
// cases A.1 and A.3 of RFC 5869.
func TestHKDFRFC5869(t *testing.T) {
	for _, tc := range []struct {
		name, ikm, salt, info string
		length                int
		prk, okm              string
	}{
		{
			"A.1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42,
			"077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
			"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
		},
		{
			"A.3", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "", 42,
			"19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
			"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
		},
	} {
		prk := sha256Kind.extract(nil, unhex(t, tc.salt), unhex(t, tc.ikm))
		if !bytes.Equal(prk, unhex(t, tc.prk)) {
			t.Errorf("%s: PRK = %x, want %s", tc.name, prk, tc.prk)
		}
		okm, err := sha256Kind.expand(nil, prk, unhex(t, tc.info), tc.length)
		if err != nil || !bytes.Equal(okm, unhex(t, tc.okm)) {
			t.Errorf("%s: OKM = %x, %v; want %s", tc.name, okm, err, tc.okm)
		}
	}
}

// TestHMACAgainstStdlib compares HMAC and HKDF with crypto/hmac and
// crypto/hkdf for every hash, around the block size and the on-stack buffer
// size, where the implementation changes paths.
func TestHMACAgainstStdlib(t *testing.T) {
	for _, h := range []hashKind{sha256Kind, sha384Kind, sha512Kind} {
		for _, kl := range []int{0, 1, 31, 32, 63, 64, 65, 127, 128, 129, 300} {
			for _, ml := range []int{0, 1, 55, 56, 64, 111, 112, 128, stackBuf - h.blockSize(), stackBuf - h.blockSize() + 1, 1000} {
				key, msg := bytes.Repeat([]byte{byte(kl)}, kl), bytes.Repeat([]byte{byte(ml + 1)}, ml)
				m := hmac.New(h.new, key)
				m.Write(msg)
				if want := m.Sum(nil); !bytes.Equal(h.mac(nil, key, msg), want) {
					t.Fatalf("hash %d: HMAC(key %d, msg %d) differs", h, kl, ml)
				}
				if !h.verifyMAC(key, msg, m.Sum(nil)) {
					t.Fatalf("hash %d: verifyMAC rejects a good tag", h)
				}
				if kl < h.size() {
					continue
				}
				for _, n := range []int{0, 1, h.size(), h.size() + 1, 3*h.size() - 1, 255 * h.size()} {
					want, err := hkdf.Expand(h.new, key, string(msg), n)
					if err != nil {
						t.Fatal(err)
					}
					got, err := h.expand([]byte{9}, key, msg, n)
					if err != nil || got[0] != 9 || !bytes.Equal(got[1:], want) {
						t.Fatalf("hash %d: Expand(prk %d, info %d, %d) differs: %v", h, kl, ml, n, err)
					}
				}
			}
		}
	}
}

// TestExpandNoAlloc pins the allocation-free Expand into a caller buffer.
func TestExpandNoAlloc(t *testing.T) {
	prk, info := make([]byte, 32), make([]byte, 40)
	dst := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := sha256Kind.expand(dst, prk, info, 64); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("expand allocates %.0f times, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { sha512Kind.mac(dst[:0], prk, info) }); n != 0 {
		t.Errorf("mac allocates %.0f times, want 0", n)
	}
}
