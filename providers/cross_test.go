package providers_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/providers"
)

// sharedSuites returns, for every suite both providers support, the two
// implementations.
func sharedSuites(t *testing.T) [][2]providers.CipherSuite {
	ps := allProviders()
	var out [][2]providers.CipherSuite
	var ids []string
	for _, id := range ps[0].p.CipherSuites() {
		if !slices.Contains(ps[1].p.CipherSuites(), id) {
			continue
		}
		a, err := ps[0].p.CipherSuite(id)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ps[1].p.CipherSuite(id)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]providers.CipherSuite{a, b})
		ids = append(ids, fmt.Sprintf("0x%04x", uint16(id)))
	}
	if len(out) == 0 {
		t.Fatal("the providers share no cipher suite")
	}
	t.Logf("cross-checking %s and %s on suites %v", ps[0].name, ps[1].name, ids)
	return out
}

// rnd returns n deterministic bytes from seed.
func rnd(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{0: byte(seed), 1: byte(seed >> 8), 2: byte(seed >> 16), 3: byte(seed >> 24),
		4: byte(seed >> 32), 5: byte(seed >> 40), 6: byte(seed >> 48), 7: byte(seed >> 56)})
	r.Read(b)
	return b
}

func reader(seed uint64) *rand.ChaCha8 {
	return rand.NewChaCha8([32]byte{8: byte(seed), 9: byte(seed >> 8), 10: byte(seed >> 16), 11: byte(seed >> 24),
		12: byte(seed >> 32), 13: byte(seed >> 40), 14: byte(seed >> 48), 15: byte(seed >> 56)})
}

// params returns gopter parameters for n successful runs, seeded by
// MLSKIT_SEED or at random (package testseed).
func params(t *testing.T, n int) *gopter.TestParameters {
	p := testseed.Gopter(t)
	p.MinSuccessfulTests = n
	return p
}

func suiteName(cs providers.CipherSuite) string { return fmt.Sprintf("suite-0x%04x", uint16(cs.ID())) }

// TestCrossProviderSymmetric: hash, MAC, HKDF, labeled expansion and AEAD
// give identical bytes in both providers for random inputs, including inputs
// longer than the default provider's on-stack HMAC buffer.
func TestCrossProviderSymmetric(t *testing.T) {
	for _, pair := range sharedSuites(t) {
		a, b := pair[0], pair[1]
		t.Run(suiteName(a), func(t *testing.T) {
			props := gopter.NewProperties(params(t, 200))
			props.Property("Hash, MAC, VerifyMAC, Extract, Expand agree", prop.ForAll(
				func(seed uint64, keyLen, msgLen, outLen int) bool {
					key, msg := rnd(seed, keyLen), rnd(seed+1, msgLen)
					if !bytes.Equal(a.Hash(nil, msg), b.Hash(nil, msg)) {
						t.Logf("Hash differs for %d bytes", msgLen)
						return false
					}
					tag := a.MAC(nil, key, msg)
					if !bytes.Equal(tag, b.MAC(nil, key, msg)) || !b.VerifyMAC(key, msg, tag) || !a.VerifyMAC(key, msg, tag) {
						t.Logf("MAC differs for key %d, msg %d bytes", keyLen, msgLen)
						return false
					}
					prk := a.Extract(nil, key, msg)
					if !bytes.Equal(prk, b.Extract(nil, key, msg)) {
						t.Logf("Extract differs")
						return false
					}
					x, errA := a.Expand(nil, prk, msg, outLen)
					y, errB := b.Expand(nil, prk, msg, outLen)
					if errA != nil || errB != nil || !bytes.Equal(x, y) || len(x) != outLen {
						t.Logf("Expand(%d info, %d out) differs: %v %v", msgLen, outLen, errA, errB)
						return false
					}
					return true
				},
				gen.UInt64(), gen.IntRange(0, 300), gen.IntRange(0, 1200), gen.IntRange(0, 255*a.HashSize()),
			))
			props.Property("ExpandWithLabel and DeriveTreeSecret agree", prop.ForAll(
				func(seed uint64, ctxLen int, length uint16, gen32 uint32) bool {
					secret, ctx := rnd(seed, a.HashSize()), rnd(seed+1, ctxLen)
					length %= uint16(255 * a.HashSize())
					x, errA := providers.ExpandWithLabel(a, secret, "label", ctx, length)
					y, errB := providers.ExpandWithLabel(b, secret, "label", ctx, length)
					if errA != nil || errB != nil || !bytes.Equal(x, y) {
						return false
					}
					x, errA = providers.DeriveTreeSecret(a, secret, "key", gen32, length)
					y, errB = providers.DeriveTreeSecret(b, secret, "key", gen32, length)
					return errA == nil && errB == nil && bytes.Equal(x, y)
				},
				gen.UInt64(), gen.IntRange(0, 1000), gen.UInt16(), gen.UInt32(),
			))
			props.Property("AEAD: identical ciphertexts, each opens the other's", prop.ForAll(
				func(seed uint64, ptLen, aadLen int) bool {
					key, nonce := rnd(seed, a.AEADKeySize()), rnd(seed+1, a.AEADNonceSize())
					pt, aad := rnd(seed+2, ptLen), rnd(seed+3, aadLen)
					ca, errA := a.Seal(nil, key, nonce, pt, aad)
					cb, errB := b.Seal(nil, key, nonce, pt, aad)
					if errA != nil || errB != nil || !bytes.Equal(ca, cb) || len(ca) != ptLen+a.AEADOverhead() {
						return false
					}
					pa, errA := a.Open(nil, key, nonce, cb, aad)
					pb, errB := b.Open(nil, key, nonce, ca, aad)
					return errA == nil && errB == nil && bytes.Equal(pa, pt) && bytes.Equal(pb, pt)
				},
				gen.UInt64(), gen.IntRange(0, 2000), gen.IntRange(0, 100),
			))
			props.TestingRun(t)
		})
	}
}

// TestCrossProviderAsymmetric: DeriveKeyPair gives identical keys, what one
// provider seals (HPKE) the other opens, and what one signs the other
// verifies, for random inputs, both ways.
func TestCrossProviderAsymmetric(t *testing.T) {
	for _, pair := range sharedSuites(t) {
		a, b := pair[0], pair[1]
		n := 30
		if a.ID() == codec.CipherSuiteMLS256DHKEMP521AES256GCMSHA512P521 {
			n = 10 // P-521 operations take about a millisecond each
		}
		t.Run(suiteName(a), func(t *testing.T) {
			props := gopter.NewProperties(params(t, n))
			props.Property("DeriveKeyPair agrees; HPKEPublicKey matches", prop.ForAll(
				func(seed uint64, ikmLen int) bool {
					ikm := rnd(seed, ikmLen)
					privA, pubA, errA := a.DeriveKeyPair(ikm)
					privB, pubB, errB := b.DeriveKeyPair(ikm)
					if errA != nil || errB != nil || !bytes.Equal(privA, privB) || !bytes.Equal(pubA, pubB) {
						t.Logf("DeriveKeyPair(%d bytes): %x/%x vs %x/%x (%v, %v)", ikmLen, privA, pubA, privB, pubB, errA, errB)
						return false
					}
					pa, errA := a.HPKEPublicKey(privB)
					pb, errB := b.HPKEPublicKey(privA)
					return errA == nil && errB == nil && bytes.Equal(pa, pubA) && bytes.Equal(pb, pubA)
				},
				gen.UInt64(), gen.IntRange(0, 130),
			))
			props.Property("HPKE: each opens what the other sealed", prop.ForAll(
				func(seed uint64, ptLen, infoLen, aadLen int) bool {
					priv, pub, err := a.GenerateKeyPair(reader(seed))
					if err != nil {
						return false
					}
					pt, info, aad := rnd(seed, ptLen), rnd(seed+1, infoLen), rnd(seed+2, aadLen)
					for _, dir := range [][2]providers.CipherSuite{{a, b}, {b, a}} {
						enc, ct, err := dir[0].SealBase(pub, info, aad, pt)
						if err != nil {
							t.Logf("SealBase: %v", err)
							return false
						}
						got, err := dir[1].OpenBase(priv, enc, info, aad, ct)
						if err != nil || !bytes.Equal(got, pt) {
							t.Logf("OpenBase: %v", err)
							return false
						}
					}
					// And through the labeled helpers.
					enc, ct, err := providers.EncryptWithLabel(a, pub, "UpdatePathNode", info, pt)
					if err != nil {
						return false
					}
					got, err := providers.DecryptWithLabel(b, priv, "UpdatePathNode", info, enc, ct)
					return err == nil && bytes.Equal(got, pt)
				},
				gen.UInt64(), gen.IntRange(0, 300), gen.IntRange(0, 100), gen.IntRange(0, 50),
			))
			props.Property("signatures: same keys, each verifies the other's", prop.ForAll(
				func(seed uint64, msgLen int) bool {
					privA, pubA, errA := a.GenerateSignatureKeyPair(reader(seed))
					privB, pubB, errB := b.GenerateSignatureKeyPair(reader(seed))
					if errA != nil || errB != nil || !bytes.Equal(privA, privB) || !bytes.Equal(pubA, pubB) {
						t.Logf("GenerateSignatureKeyPair differs: %v %v", errA, errB)
						return false
					}
					sa, errA := a.NewSigner(privA)
					sb, errB := b.NewSigner(privA)
					if errA != nil || errB != nil || !bytes.Equal(sa.PublicKey(), pubA) || !bytes.Equal(sb.PublicKey(), pubA) {
						return false
					}
					msg := rnd(seed, msgLen)
					for _, dir := range []struct {
						s providers.Signer
						v providers.CipherSuite
					}{{sa, b}, {sb, a}} {
						sig, err := providers.SignWithLabel(dir.s, "LeafNodeTBS", msg)
						if err != nil {
							return false
						}
						if err := providers.VerifyWithLabel(dir.v, pubA, "LeafNodeTBS", msg, sig); err != nil {
							t.Logf("VerifyWithLabel: %v", err)
							return false
						}
					}
					return true
				},
				gen.UInt64(), gen.IntRange(0, 500),
			))
			props.TestingRun(t)
		})
	}
}
