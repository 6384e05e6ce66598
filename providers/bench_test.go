package providers_test

// Benchmarks of every suite of both providers, and of the labeled helpers
// against the raw primitive beneath them. Run briefly on shared machines:
//
//	go test -run '^$' -bench . -benchtime=200ms -count=1 ./providers/ ./providers/defaultcrypto/

import (
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// BenchmarkSuite/<provider>/<suite>/<operation>.
func BenchmarkSuite(b *testing.B) {
	for _, np := range allProviders() {
		for _, id := range np.p.CipherSuites() {
			cs, err := np.p.CipherSuite(id)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/0x%04x", np.name, uint16(id)), func(b *testing.B) { benchSuite(b, cs) })
		}
	}
}

func benchSuite(b *testing.B, cs providers.CipherSuite) {
	msg := make([]byte, 64)
	sigPriv, sigPub, err := cs.GenerateSignatureKeyPair(nil)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := cs.NewSigner(sigPriv)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Sign", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := signer.Sign(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	sig, _ := signer.Sign(msg)
	b.Run("Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := cs.Verify(sigPub, msg, sig); err != nil {
				b.Fatal(err)
			}
		}
	})

	priv, pub, err := cs.GenerateKeyPair(nil)
	if err != nil {
		b.Fatal(err)
	}
	pt32, info := make([]byte, 32), make([]byte, 40)
	b.Run("HPKESeal32", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := cs.SealBase(pub, info, nil, pt32); err != nil {
				b.Fatal(err)
			}
		}
	})
	enc, ct, _ := cs.SealBase(pub, info, nil, pt32)
	b.Run("HPKEOpen32", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cs.OpenBase(priv, enc, info, nil, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
	ikm := make([]byte, cs.HashSize())
	b.Run("DeriveKeyPair", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := cs.DeriveKeyPair(ikm); err != nil {
				b.Fatal(err)
			}
		}
	})

	key, nonce := make([]byte, cs.AEADKeySize()), make([]byte, cs.AEADNonceSize())
	for _, n := range []int{100, 1024} {
		b.Run(fmt.Sprintf("AEADSealOpen%d", n), func(b *testing.B) {
			pt := make([]byte, n)
			buf := make([]byte, 0, n+cs.AEADOverhead())
			out := make([]byte, 0, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				c, err := cs.Seal(buf[:0], key, nonce, pt, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := cs.Open(out[:0], key, nonce, c, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}

	secret := make([]byte, cs.HashSize())
	b.Run("ExpandWithLabel32", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := providers.ExpandWithLabel(cs, secret, "application", nil, 32); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLabeled compares each labeled helper of §5 with the raw
// primitive it wraps, given the already-encoded TLS struct, for suite 1 of
// the default provider: the difference is the helper's overhead.
func BenchmarkLabeled(b *testing.B) {
	cs, err := allProviders()[0].p.CipherSuite(codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519)
	if err != nil {
		b.Fatal(err)
	}
	secret := make([]byte, 32)
	ctx := make([]byte, 4)
	kl := codec.KDFLabel{Length: 32, Label: []byte(providers.LabelPrefix + "key"), Context: ctx}
	klInfo, _ := kl.Marshal()
	b.Run("Expand/raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cs.Expand(nil, secret, klInfo, 32); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Expand/DeriveTreeSecret", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := providers.DeriveTreeSecret(cs, secret, "key", 7, 32); err != nil {
				b.Fatal(err)
			}
		}
	})

	priv, _, _ := cs.GenerateSignatureKeyPair(nil)
	signer, _ := cs.NewSigner(priv)
	content := make([]byte, 200)
	sc := codec.SignContent{Label: []byte(providers.LabelPrefix + "LeafNodeTBS"), Content: content}
	tbs, _ := sc.Marshal()
	b.Run("Sign/raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := signer.Sign(tbs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Sign/SignWithLabel", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := providers.SignWithLabel(signer, "LeafNodeTBS", content); err != nil {
				b.Fatal(err)
			}
		}
	})
	sig, _ := signer.Sign(tbs)
	b.Run("Verify/raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := cs.Verify(signer.PublicKey(), tbs, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Verify/VerifyWithLabel", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := providers.VerifyWithLabel(cs, signer.PublicKey(), "LeafNodeTBS", content, sig); err != nil {
				b.Fatal(err)
			}
		}
	})

	hpriv, hpub, _ := cs.GenerateKeyPair(nil)
	pt := make([]byte, 32)
	ec := codec.EncryptContext{Label: []byte(providers.LabelPrefix + "UpdatePathNode"), Context: content}
	info, _ := ec.Marshal()
	b.Run("Seal/raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := cs.SealBase(hpub, info, nil, pt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Seal/EncryptWithLabel", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := providers.EncryptWithLabel(cs, hpub, "UpdatePathNode", content, pt); err != nil {
				b.Fatal(err)
			}
		}
	})
	enc, ct, _ := cs.SealBase(hpub, info, nil, pt)
	b.Run("Open/raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cs.OpenBase(hpriv, enc, info, nil, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Open/DecryptWithLabel", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := providers.DecryptWithLabel(cs, hpriv, "UpdatePathNode", content, enc, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
	value := make([]byte, 300)
	rhi := codec.RefHashInput{Label: []byte(providers.KeyPackageRefLabel), Value: value}
	rhiEnc, _ := rhi.Marshal()
	b.Run("Hash/raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cs.Hash(nil, rhiEnc)
		}
	})
	b.Run("Hash/MakeKeyPackageRef", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := providers.MakeKeyPackageRef(cs, value); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestExpandWithLabelAllocs pins the allocation budget of the key schedule's
// hottest helper in the default provider: at most two allocations (the
// encoded KDFLabel and the output) for every suite. The stdlib provider, a
// cross-check built on crypto/hkdf, is only reported.
func TestExpandWithLabelAllocs(t *testing.T) {
	for _, np := range allProviders() {
		for _, id := range np.p.CipherSuites() {
			cs, _ := np.p.CipherSuite(id)
			secret := make([]byte, cs.HashSize())
			allocs := testing.AllocsPerRun(50, func() {
				if _, err := providers.DeriveTreeSecret(cs, secret, "key", 3, 32); err != nil {
					t.Fatal(err)
				}
			})
			t.Logf("%s 0x%04x: DeriveTreeSecret allocates %.0f times", np.name, uint16(id), allocs)
			if np.name == "default" && allocs > 2 {
				t.Errorf("%s 0x%04x: ExpandWithLabel allocates %.0f times, want at most 2", np.name, uint16(id), allocs)
			}
		}
	}
}

// BenchmarkDeriveSecrets: k secrets derived from one (RFC 9420 §8), by
// DeriveSecret each or by DeriveSecrets with one Expander: the key
// schedule's nine from epoch_secret, TreeKEM's two (node_secret and the
// next path_secret) per path step.
func BenchmarkDeriveSecrets(b *testing.B) {
	cs, err := allProviders()[0].p.CipherSuite(codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519)
	if err != nil {
		b.Fatal(err)
	}
	secret := make([]byte, cs.HashSize())
	all := []string{"sender data", "encryption", "exporter", "external", "confirm", "membership", "resumption", "authentication", "init"}
	for _, k := range []int{2, 9} {
		labels := all[:k]
		b.Run(fmt.Sprintf("k=%d/DeriveSecret", k), func(b *testing.B) {
			for b.Loop() {
				for _, l := range labels {
					if _, err := providers.DeriveSecret(cs, secret, l); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(fmt.Sprintf("k=%d/DeriveSecrets", k), func(b *testing.B) {
			out := make([][]byte, k)
			for b.Loop() {
				if err := providers.DeriveSecrets(cs, secret, labels, out); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("k=%d/DeriveSecretsWith", k), func(b *testing.B) {
			out := make([][]byte, k)
			x := providers.NewExpander(cs)
			for b.Loop() {
				if err := providers.DeriveSecretsWith(x, cs.HashSize(), secret, labels, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
