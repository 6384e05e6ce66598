package defaultcrypto

import (
	"bytes"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"testing"

	circlhpke "github.com/cloudflare/circl/hpke"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// TestSealBaseMatchesCircl: the DHKEM suites' SealBase, written here on
// circl's X25519/X448 (dhkem.go), gives byte for byte what circl's HPKE
// Sender gives with the same randomness (RFC 9180 §4.1, §5.1, §6.1), and
// OpenBase and OpenBaseSplitInfo (with or without the public key) open
// circl's ciphertexts and reject them under another info, aad, private
// or public key.
func TestSealBaseMatchesCircl(t *testing.T) {
	for _, tc := range []struct {
		id   uint16
		kem  circlhpke.KEM
		kdf  circlhpke.KDF
		aead circlhpke.AEAD
	}{
		{0x0001, circlhpke.KEM_X25519_HKDF_SHA256, circlhpke.KDF_HKDF_SHA256, circlhpke.AEAD_AES128GCM},
		{0x0003, circlhpke.KEM_X25519_HKDF_SHA256, circlhpke.KDF_HKDF_SHA256, circlhpke.AEAD_ChaCha20Poly1305},
		{0x0004, circlhpke.KEM_X448_HKDF_SHA512, circlhpke.KDF_HKDF_SHA512, circlhpke.AEAD_AES256GCM},
		{0x0006, circlhpke.KEM_X448_HKDF_SHA512, circlhpke.KDF_HKDF_SHA512, circlhpke.AEAD_ChaCha20Poly1305},
	} {
		for i := range 4 {
			seed := [32]byte{byte(tc.id), byte(i)}
			s := newSuite(suiteOf(tc.id), mrand.NewChaCha8(seed))
			if c, ok := s.kem.(*circlKEM); !ok || !c.isDH() {
				t.Fatalf("suite 0x%04x: not a circl DHKEM", tc.id)
			}
			priv, pub, err := s.GenerateKeyPair(mrand.NewChaCha8([32]byte{1, byte(i)}))
			if err != nil {
				t.Fatal(err)
			}
			info := bytes.Repeat([]byte{byte(i)}, 10+50*i)
			aad := []byte("aad")[:i%4]
			pt := bytes.Repeat([]byte{0xa5}, 32+i)
			enc, ct, err := s.SealBase(pub, info, aad, pt)
			if err != nil {
				t.Fatal(err)
			}

			cs := circlhpke.NewSuite(tc.kem, tc.kdf, tc.aead)
			pk, err := tc.kem.Scheme().UnmarshalBinaryPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			snd, err := cs.NewSender(pk, info)
			if err != nil {
				t.Fatal(err)
			}
			wantEnc, sealer, err := snd.Setup(mrand.NewChaCha8(seed))
			if err != nil {
				t.Fatal(err)
			}
			wantCT, err := sealer.Seal(pt, aad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, wantEnc) || !bytes.Equal(ct, wantCT) {
				t.Fatalf("suite 0x%04x rep %d: SealBase differs from circl's", tc.id, i)
			}
			got, err := s.OpenBase(priv, wantEnc, info, aad, wantCT)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("suite 0x%04x: OpenBase of circl's seal: %x, %v", tc.id, got, err)
			}
			// Split info, without and with the public key: the open of
			// head || tail (RFC 9180 §5.1), pub as pk(skR) (§4.1).
			for _, p := range [][]byte{nil, pub} {
				for _, cut := range []int{0, len(info) / 3, len(info)} {
					got, err = s.OpenBaseSplitInfo(priv, p, wantEnc, info[:cut], info[cut:], aad, wantCT)
					if err != nil || !bytes.Equal(got, pt) {
						t.Fatalf("suite 0x%04x: OpenBaseSplitInfo(pub %x, cut %d) of circl's seal: %x, %v", tc.id, p, cut, got, err)
					}
				}
				if _, err := s.OpenBaseSplitInfo(priv, p, wantEnc, info, []byte{0}, aad, wantCT); !errors.Is(err, providers.ErrDecryption) {
					t.Fatalf("suite 0x%04x: split info (pub %x) opened under another info: %v", tc.id, p, err)
				}
			}
			// Another public key than priv's: another KEM context, no
			// decryption.
			_, otherPub, _ := s.GenerateKeyPair(nil)
			if _, err := s.OpenBaseSplitInfo(priv, otherPub, wantEnc, info[:1], info[1:], aad, wantCT); !errors.Is(err, providers.ErrDecryption) {
				t.Fatalf("suite 0x%04x: opened with another public key: %v", tc.id, err)
			}
			if _, err := s.OpenBaseSplitInfo(priv, pub[1:], wantEnc, info, nil, aad, wantCT); !errors.Is(err, providers.ErrInvalidPublicKey) {
				t.Fatalf("suite 0x%04x: opened with a short public key: %v", tc.id, err)
			}
			if _, err := s.OpenBase(priv, wantEnc, append(info, 0), aad, wantCT); !errors.Is(err, providers.ErrDecryption) {
				t.Fatalf("suite 0x%04x: opened under another info: %v", tc.id, err)
			}
			if _, err := s.OpenBase(priv, wantEnc, info, append(aad, 0), wantCT); !errors.Is(err, providers.ErrDecryption) {
				t.Fatalf("suite 0x%04x: opened under another aad: %v", tc.id, err)
			}
			other, _, _ := s.GenerateKeyPair(nil)
			if _, err := s.OpenBase(other, wantEnc, info, aad, wantCT); !errors.Is(err, providers.ErrDecryption) {
				t.Fatalf("suite 0x%04x: opened with another key: %v", tc.id, err)
			}
		}
	}
}

// TestDHKEMRejectsZeroSharedSecret: a low-order public key (here the
// all-zero point) gives an all-zero DH, which RFC 9180 §7.1.4 requires
// rejecting, both as a recipient key and as a kem output.
func TestDHKEMRejectsZeroSharedSecret(t *testing.T) {
	for _, id := range []uint16{0x0001, 0x0004} {
		s := newSuite(suiteOf(id), rand.Reader)
		c := s.kem.(*circlKEM)
		zero := make([]byte, c.nsk)
		if _, _, err := s.SealBase(zero, nil, nil, []byte("x")); !errors.Is(err, providers.ErrInvalidPublicKey) {
			t.Fatalf("suite 0x%04x: SealBase to a zero key: %v", id, err)
		}
		priv, _, _ := s.GenerateKeyPair(nil)
		if _, err := s.OpenBase(priv, zero, nil, nil, make([]byte, 17)); !errors.Is(err, providers.ErrInvalidKEMOutput) {
			t.Fatalf("suite 0x%04x: OpenBase of a zero kem output: %v", id, err)
		}
		if _, _, err := s.SealBase(zero[1:], nil, nil, []byte("x")); !errors.Is(err, providers.ErrInvalidPublicKey) {
			t.Fatalf("suite 0x%04x: SealBase to a short key: %v", id, err)
		}
		if _, err := s.OpenBase(priv, zero[1:], nil, nil, make([]byte, 17)); !errors.Is(err, providers.ErrInvalidKEMOutput) {
			t.Fatalf("suite 0x%04x: OpenBase of a short kem output: %v", id, err)
		}
	}
}

func suiteOf(id uint16) codec.CipherSuite { return codec.CipherSuite(id) }

// TestX25519KeyPairOneAllocation: an X25519 key pair is one allocation
// (TreeKEM derives one per path node), the private key and the public key
// each a slice of it that cannot reach the other: filling the private
// key's whole capacity leaves the public key as it was, and the public
// key is that of the clamped private key (RFC 9180 §7.1.2).
func TestX25519KeyPairOneAllocation(t *testing.T) {
	s := newSuite(suiteOf(0x0001), mrand.NewChaCha8([32]byte{9}))
	c := s.kem.(*circlKEM)
	sk := bytes.Repeat([]byte{0xff}, 32)
	allocs := testing.AllocsPerRun(20, func() {
		if _, _, err := c.keyPair(sk); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 1 {
		t.Errorf("keyPair: %v allocations, want 1", allocs)
	}
	priv, pub, err := c.keyPair(sk)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.HPKEPublicKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub, want) || priv[0]&7 != 0 || priv[31]&0xc0 != 0x40 {
		t.Fatalf("key pair %x / %x: public key of the clamped private key %x", priv, pub, want)
	}
	if cap(priv) != 32 || cap(pub) != 32 {
		t.Fatalf("capacities %d and %d, want 32", cap(priv), cap(pub))
	}
	clear(priv[:cap(priv)])
	if !bytes.Equal(pub, want) {
		t.Fatal("erasing the private key changed the public key")
	}
}
