package defaultcrypto

// Raw alternatives for the primitives of cipher suite 1
// (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519), side by side, so that the
// choice made in this package can be checked on the machine at hand:
//
//	go test -run '^$' -bench 'Raw' -benchmem -benchtime=200ms ./providers/defaultcrypto
//
// Each Raw benchmark name is BenchmarkRaw<Primitive>/<implementation>; the
// provider's own numbers are under BenchmarkSuite/<suite>/<operation>.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	stded25519 "crypto/ed25519"
	stdhkdf "crypto/hkdf"
	stdhpke "crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	circlx25519 "github.com/cloudflare/circl/dh/x25519"
	circlhpke "github.com/cloudflare/circl/hpke"
	circled25519 "github.com/cloudflare/circl/sign/ed25519"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"
	xhkdf "golang.org/x/crypto/hkdf"
)

var benchMsg = make([]byte, 64) // the size of a small SignContent

// suite1 returns this package's suite 1, benchmarked as "default" next to
// the raw alternatives.
func suite1() *suite {
	return New().suites[0]
}

func BenchmarkRawEd25519Sign(b *testing.B) {
	seed := make([]byte, 32)
	b.Run("std", func(b *testing.B) {
		k := stded25519.NewKeyFromSeed(seed)
		b.ReportAllocs()
		for b.Loop() {
			stded25519.Sign(k, benchMsg)
		}
	})
	b.Run("circl", func(b *testing.B) {
		k := circled25519.NewKeyFromSeed(seed)
		b.ReportAllocs()
		for b.Loop() {
			circled25519.Sign(k, benchMsg)
		}
	})
	b.Run("default", func(b *testing.B) {
		signer, err := suite1().NewSigner(seed)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := signer.Sign(benchMsg); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Signing from the stored seed, re-deriving the key every time.
	b.Run("std-from-seed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			stded25519.Sign(stded25519.NewKeyFromSeed(seed), benchMsg)
		}
	})
}

func BenchmarkRawEd25519Verify(b *testing.B) {
	k := stded25519.NewKeyFromSeed(make([]byte, 32))
	pub := k.Public().(stded25519.PublicKey)
	sig := stded25519.Sign(k, benchMsg)
	b.Run("std", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !stded25519.Verify(pub, benchMsg, sig) {
				b.Fatal("verify")
			}
		}
	})
	b.Run("circl", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !circled25519.Verify(circled25519.PublicKey(pub), benchMsg, sig) {
				b.Fatal("verify")
			}
		}
	})
	b.Run("default", func(b *testing.B) {
		cs := suite1()
		b.ReportAllocs()
		for b.Loop() {
			if err := cs.Verify(pub, benchMsg, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRawX25519(b *testing.B) {
	var sk, pk, peer [32]byte
	rand.Read(sk[:])
	rand.Read(peer[:])
	circlx25519.KeyGen((*circlx25519.Key)(&pk), (*circlx25519.Key)(&peer))
	b.Run("std-ecdh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			priv, _ := ecdh.X25519().NewPrivateKey(sk[:]) // derives its public key
			pub, _ := ecdh.X25519().NewPublicKey(pk[:])
			if _, err := priv.ECDH(pub); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("circl", func(b *testing.B) {
		b.ReportAllocs()
		var pub, ss circlx25519.Key
		for b.Loop() {
			circlx25519.KeyGen(&pub, (*circlx25519.Key)(&sk))
			circlx25519.Shared(&ss, (*circlx25519.Key)(&sk), (*circlx25519.Key)(&pk))
		}
	})
	b.Run("xcrypto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := curve25519.X25519(sk[:], curve25519.Basepoint); err != nil {
				b.Fatal(err)
			}
			if _, err := curve25519.X25519(sk[:], pk[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRawHPKESeal(b *testing.B) {
	pt := make([]byte, 32)
	info := make([]byte, 40)
	b.Run("std", func(b *testing.B) {
		k, _ := stdhpke.DHKEM(ecdh.X25519()).GenerateKey()
		pubBytes := k.PublicKey().Bytes()
		b.ReportAllocs()
		for b.Loop() {
			pub, err := stdhpke.DHKEM(ecdh.X25519()).NewPublicKey(pubBytes)
			if err != nil {
				b.Fatal(err)
			}
			_, s, err := stdhpke.NewSender(pub, stdhpke.HKDFSHA256(), stdhpke.AES128GCM(), info)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Seal(nil, pt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("circl", func(b *testing.B) {
		suite := circlhpke.NewSuite(circlhpke.KEM_X25519_HKDF_SHA256, circlhpke.KDF_HKDF_SHA256, circlhpke.AEAD_AES128GCM)
		scheme := circlhpke.KEM_X25519_HKDF_SHA256.Scheme()
		pk, _, _ := scheme.GenerateKeyPair()
		pubBytes, _ := pk.MarshalBinary()
		b.ReportAllocs()
		for b.Loop() {
			pub, err := scheme.UnmarshalBinaryPublicKey(pubBytes)
			if err != nil {
				b.Fatal(err)
			}
			snd, err := suite.NewSender(pub, info)
			if err != nil {
				b.Fatal(err)
			}
			_, sealer, err := snd.Setup(rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := sealer.Seal(pt, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("default", func(b *testing.B) {
		cs := suite1()
		_, pub, _ := cs.GenerateKeyPair(nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := cs.SealBase(pub, info, nil, pt); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRawHPKEOpen(b *testing.B) {
	pt := make([]byte, 32)
	info := make([]byte, 40)
	b.Run("std", func(b *testing.B) {
		k, _ := stdhpke.DHKEM(ecdh.X25519()).GenerateKey()
		privBytes, _ := k.Bytes()
		enc, s, _ := stdhpke.NewSender(k.PublicKey(), stdhpke.HKDFSHA256(), stdhpke.AES128GCM(), info)
		ct, _ := s.Seal(nil, pt)
		b.ReportAllocs()
		for b.Loop() {
			priv, err := stdhpke.DHKEM(ecdh.X25519()).NewPrivateKey(privBytes)
			if err != nil {
				b.Fatal(err)
			}
			r, err := stdhpke.NewRecipient(enc, priv, stdhpke.HKDFSHA256(), stdhpke.AES128GCM(), info)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.Open(nil, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("circl", func(b *testing.B) {
		suite := circlhpke.NewSuite(circlhpke.KEM_X25519_HKDF_SHA256, circlhpke.KDF_HKDF_SHA256, circlhpke.AEAD_AES128GCM)
		scheme := circlhpke.KEM_X25519_HKDF_SHA256.Scheme()
		pk, sk, _ := scheme.GenerateKeyPair()
		privBytes, _ := sk.MarshalBinary()
		snd, _ := suite.NewSender(pk, info)
		enc, sealer, _ := snd.Setup(rand.Reader)
		ct, _ := sealer.Seal(pt, nil)
		b.ReportAllocs()
		for b.Loop() {
			priv, err := scheme.UnmarshalBinaryPrivateKey(privBytes)
			if err != nil {
				b.Fatal(err)
			}
			rcv, err := suite.NewReceiver(priv, info)
			if err != nil {
				b.Fatal(err)
			}
			opener, err := rcv.Setup(enc)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := opener.Open(ct, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("default", func(b *testing.B) {
		cs := suite1()
		priv, pub, _ := cs.GenerateKeyPair(nil)
		enc, ct, _ := cs.SealBase(pub, info, nil, pt)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cs.OpenBase(priv, enc, info, nil, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRawDeriveKeyPair(b *testing.B) {
	ikm := make([]byte, 32)
	b.Run("std", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k, err := stdhpke.DHKEM(ecdh.X25519()).DeriveKeyPair(ikm)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = k.Bytes()
			_ = k.PublicKey().Bytes()
		}
	})
	b.Run("circl", func(b *testing.B) {
		scheme := circlhpke.KEM_X25519_HKDF_SHA256.Scheme()
		b.ReportAllocs()
		for b.Loop() {
			pk, sk := scheme.DeriveKeyPair(ikm)
			_, _ = sk.MarshalBinary()
			_, _ = pk.MarshalBinary()
		}
	})
	b.Run("default", func(b *testing.B) {
		cs := suite1()
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := cs.DeriveKeyPair(ikm); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchAEAD(b *testing.B, newAEAD func(key []byte) (cipher.AEAD, error), keySize int) {
	for _, n := range []int{100, 1024} {
		b.Run(sizeName(n), func(b *testing.B) {
			key := make([]byte, keySize)
			nonce := make([]byte, 12)
			pt := make([]byte, n)
			buf := make([]byte, 0, n+16)
			out := make([]byte, 0, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				a, err := newAEAD(key)
				if err != nil {
					b.Fatal(err)
				}
				ct := a.Seal(buf[:0], nonce, pt, nil)
				a, err = newAEAD(key)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := a.Open(out[:0], nonce, ct, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return itoa(n/1024) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}

// BenchmarkRawAEAD measures seal+open with a fresh cipher per call, as MLS
// message protection uses a new key per message (§9.1).
func BenchmarkRawAEAD(b *testing.B) {
	b.Run("AES128GCM-std", func(b *testing.B) {
		benchAEAD(b, func(key []byte) (cipher.AEAD, error) {
			blk, err := aes.NewCipher(key)
			if err != nil {
				return nil, err
			}
			return cipher.NewGCM(blk)
		}, 16)
	})
	b.Run("AES128GCM-default", func(b *testing.B) {
		benchSuiteAEAD(b, suite1())
	})
	b.Run("ChaCha20Poly1305-xcrypto", func(b *testing.B) {
		benchAEAD(b, chacha20poly1305.New, 32)
	})
	b.Run("ChaCha20Poly1305-default", func(b *testing.B) {
		benchSuiteAEAD(b, New().suites[2]) // suite 3
	})
}

func benchSuiteAEAD(b *testing.B, cs *suite) {
	for _, n := range []int{100, 1024} {
		b.Run(sizeName(n), func(b *testing.B) {
			key := make([]byte, cs.AEADKeySize())
			nonce := make([]byte, cs.AEADNonceSize())
			pt := make([]byte, n)
			buf := make([]byte, 0, n+16)
			out := make([]byte, 0, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				ct, err := cs.Seal(buf[:0], key, nonce, pt, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := cs.Open(out[:0], key, nonce, ct, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRawHKDFExpand32(b *testing.B) {
	prk := make([]byte, 32)
	info := make([]byte, 60)
	b.Run("std", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := stdhkdf.Expand(sha256.New, prk, string(info), 32); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("xcrypto", func(b *testing.B) {
		b.ReportAllocs()
		out := make([]byte, 32)
		for b.Loop() {
			r := xhkdf.Expand(sha256.New, prk, info)
			if _, err := r.Read(out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("default", func(b *testing.B) {
		cs := suite1()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cs.Expand(nil, prk, info, 32); err != nil {
				b.Fatal(err)
			}
		}
	})
}
