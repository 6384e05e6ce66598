// Package defaultcrypto is mlskit's default cryptography provider: every
// cipher suite of RFC 9420 §17.1 (0x0001–0x0007) and the experimental X-Wing
// suite 0x004D (providers.CipherSuiteXWing), built on
// github.com/cloudflare/circl, golang.org/x/crypto and the standard library,
// taking for each primitive the fastest implementation measured (see the Raw
// benchmarks in compare_test.go):
//
//	primitive                    implementation
//	SHA-2                        crypto/sha256, crypto/sha512 (the only ones)
//	HMAC, HKDF                   written here on the one-shot SHA-2 sums: no
//	                             allocations, ~2x faster than crypto/hkdf and
//	                             x/crypto/hkdf for MLS-sized inputs
//	AES-GCM                      crypto/aes + crypto/cipher
//	ChaCha20-Poly1305            golang.org/x/crypto/chacha20poly1305
//	HPKE DHKEM(X25519), X448     RFC 9180 base mode (DHKEM, key schedule) here
//	                             on circl's X25519/X448 (~2x faster than
//	                             crypto/ecdh) and the HKDF above: ~30 allocs
//	                             per seal instead of circl/hpke's ~115
//	HPKE X-Wing                  circl/hpke KEM_XWING
//	HPKE DHKEM(P-256/384/521)    crypto/hpke (same speed as circl, fewer allocs);
//	                             Decap with an info in parts (SplitInfoOpener):
//	                             RFC 9180 §4.1 here on crypto/ecdh
//	DeriveKeyPair X25519/X448    RFC 9180 §7.1.3 here + circl X25519/X448
//	Ed25519                      crypto/ed25519 (signs ~10% faster than circl,
//	                             verifies as fast, allocates nothing)
//	Ed448                        circl/sign/ed448
//	ECDSA P-256/384/521          crypto/ecdsa
//
// # X-Wing
//
// Suite 0x004D uses circl's HPKE KEM_XWING, whose HPKE KEM identifier is
// 0x647a (the value draft-connolly-cfrg-xwing-kem and draft-ietf-hpke-pq give
// X-Wing, and the one Go's crypto/hpke MLKEM768X25519 uses), with
// HKDF-SHA256 and ChaCha20-Poly1305. Private keys are the 32-byte X-Wing
// seed. DeriveKeyPair(ikm) follows draft-ietf-hpke-pq (-05, §4), whose
// entry replaces 0x647a's: the seed is SHAKE256.LabeledDerive(ikm,
// "DeriveKeyPair", "", 32), as in Go's crypto/hpke and OpenMLS main
// (circl's own X-Wing DeriveKeyPair, SHAKE256(ikm, 32) from X-Wing's draft,
// is not used; WithUnlabeledXWingDeriveKeyPair selects it for peers on
// OpenMLS 0.9.0). TestXWingVectors checks it against draft-ietf-hpke-pq's
// published vectors for 0x647a (testdata/xwing-hpke-pq.json, from Go's
// crypto/hpke testdata), and TestXWingCrossCheck in providers/xwing_test.go
// against crypto/hpke.
//
// # Randomness
//
// HPKE encryption draws its ephemeral keys from the provider's reader
// ([WithRand], crypto/rand by default). ECDSA signatures are hedged by
// crypto/ecdsa, which since Go 1.26 ignores caller-supplied readers.
package defaultcrypto

import (
	"crypto/ecdh"
	"crypto/elliptic"
	stdhpke "crypto/hpke"
	"crypto/rand"
	"io"

	circlhpke "github.com/cloudflare/circl/hpke"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// supported lists the suites of this provider in ascending order.
func supported() [8]codec.CipherSuite {
	return [...]codec.CipherSuite{
		codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519,
		codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256,
		codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519,
		codec.CipherSuiteMLS256DHKEMX448AES256GCMSHA512Ed448,
		codec.CipherSuiteMLS256DHKEMP521AES256GCMSHA512P521,
		codec.CipherSuiteMLS256DHKEMX448CHACHA20POLY1305SHA512Ed448,
		codec.CipherSuiteMLS256DHKEMP384AES256GCMSHA384P384,
		providers.CipherSuiteXWing,
	}
}

// Provider implements providers.Provider. Its methods are safe for
// concurrent use.
type Provider struct {
	rand           io.Reader
	suites         [8]*suite
	xwingUnlabeled bool
}

var _ providers.Provider = (*Provider)(nil)

// Option configures a Provider.
type Option func(*Provider)

// WithRand makes the provider draw randomness from r instead of
// crypto/rand.Reader (a nil r keeps the default): Provider.Rand, HPKE
// ephemeral keys, and key generation given a nil reader. r must be safe for
// concurrent use if the provider is used concurrently.
func WithRand(r io.Reader) Option {
	return func(p *Provider) { p.rand = r }
}

// WithUnlabeledXWingDeriveKeyPair makes suite 0x004D derive HPKE key pairs
// as X-Wing's own draft does (draft-connolly-cfrg-xwing-kem §5.6: the
// private key is SHAKE256(ikm, 32)), which OpenMLS 0.9.0 (hpke-rs 0.7.0)
// uses, instead of the default labeled derivation of draft-ietf-hpke-pq
// that Go's crypto/hpke and OpenMLS main use. The two do not interoperate:
// TreeKEM derives every node key with DeriveKeyPair, so all members of a
// group must use the same one. Use it only to talk to such peers.
func WithUnlabeledXWingDeriveKeyPair() Option {
	return func(p *Provider) { p.xwingUnlabeled = true }
}

// New returns a provider with all its cipher suites.
func New(opts ...Option) *Provider {
	p := &Provider{rand: rand.Reader}
	for _, o := range opts {
		o(p)
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	for i, id := range supported() {
		p.suites[i] = newSuite(id, p.rand)
		if k, ok := p.suites[i].kem.(*circlKEM); ok && k.xwing {
			k.xwingUnlabeled = p.xwingUnlabeled
		}
	}
	return p
}

func newSuite(id codec.CipherSuite, r io.Reader) *suite {
	s := &suite{id: id, rand: r}
	switch id {
	case codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519:
		s.hash, s.aead, s.sig = sha256Kind, aes128GCM, ed25519Sig{}
		s.kem = newCirclKEM(circlhpke.KEM_X25519_HKDF_SHA256, circlhpke.KDF_HKDF_SHA256, circlhpke.AEAD_AES128GCM, sha256Kind)
	case codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256:
		s.hash, s.aead = sha256Kind, aes128GCM
		s.sig = &ecdsaSig{curve: elliptic.P256(), hash: sha256Kind, size: 32}
		s.kem = newStdKEM(ecdh.P256(), stdhpke.HKDFSHA256(), stdhpke.AES128GCM(), 32, sha256Kind)
	case codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519:
		s.hash, s.aead, s.sig = sha256Kind, chacha20Poly1305, ed25519Sig{}
		s.kem = newCirclKEM(circlhpke.KEM_X25519_HKDF_SHA256, circlhpke.KDF_HKDF_SHA256, circlhpke.AEAD_ChaCha20Poly1305, sha256Kind)
	case codec.CipherSuiteMLS256DHKEMX448AES256GCMSHA512Ed448:
		s.hash, s.aead, s.sig = sha512Kind, aes256GCM, ed448Sig{}
		s.kem = newCirclKEM(circlhpke.KEM_X448_HKDF_SHA512, circlhpke.KDF_HKDF_SHA512, circlhpke.AEAD_AES256GCM, sha512Kind)
	case codec.CipherSuiteMLS256DHKEMP521AES256GCMSHA512P521:
		s.hash, s.aead = sha512Kind, aes256GCM
		s.sig = &ecdsaSig{curve: elliptic.P521(), hash: sha512Kind, size: 66}
		s.kem = newStdKEM(ecdh.P521(), stdhpke.HKDFSHA512(), stdhpke.AES256GCM(), 66, sha512Kind)
	case codec.CipherSuiteMLS256DHKEMX448CHACHA20POLY1305SHA512Ed448:
		s.hash, s.aead, s.sig = sha512Kind, chacha20Poly1305, ed448Sig{}
		s.kem = newCirclKEM(circlhpke.KEM_X448_HKDF_SHA512, circlhpke.KDF_HKDF_SHA512, circlhpke.AEAD_ChaCha20Poly1305, sha512Kind)
	case codec.CipherSuiteMLS256DHKEMP384AES256GCMSHA384P384:
		s.hash, s.aead = sha384Kind, aes256GCM
		s.sig = &ecdsaSig{curve: elliptic.P384(), hash: sha384Kind, size: 48}
		s.kem = newStdKEM(ecdh.P384(), stdhpke.HKDFSHA384(), stdhpke.AES256GCM(), 48, sha384Kind)
	case providers.CipherSuiteXWing:
		s.hash, s.aead, s.sig = sha256Kind, chacha20Poly1305, ed25519Sig{}
		s.kem = newCirclKEM(circlhpke.KEM_XWING, circlhpke.KDF_HKDF_SHA256, circlhpke.AEAD_ChaCha20Poly1305, sha256Kind)
	}
	return s
}

// CipherSuite returns the suite id, or an *providers.UnsupportedCipherSuiteError.
func (p *Provider) CipherSuite(id codec.CipherSuite) (providers.CipherSuite, error) {
	for _, s := range p.suites {
		if s.id == id {
			return s, nil
		}
	}
	return nil, &providers.UnsupportedCipherSuiteError{Suite: id}
}

// CipherSuites lists the supported suites in ascending order.
func (p *Provider) CipherSuites() []codec.CipherSuite {
	ids := supported()
	return ids[:]
}

// Rand returns the provider's source of randomness.
func (p *Provider) Rand() io.Reader { return p.rand }
