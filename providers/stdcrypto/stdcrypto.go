// Package stdcrypto is a cryptography provider built on the Go standard
// library alone (crypto/hpke, crypto/ecdh, crypto/ed25519, crypto/ecdsa,
// crypto/hkdf, crypto/hmac, crypto/aes, crypto/sha256, crypto/sha512). It
// exists to cross-check the default provider with independent code, and for
// applications that want no third-party cryptography.
//
// It supports the cipher suites of RFC 9420 §17.1 whose every primitive the
// standard library exports:
//
//	0x0001 MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
//	0x0002 MLS_128_DHKEMP256_AES128GCM_SHA256_P256
//	0x0005 MLS_256_DHKEMP521_AES256GCM_SHA512_P521
//	0x0007 MLS_256_DHKEMP384_AES256GCM_SHA384_P384
//
// and rejects the others with a *providers.UnsupportedCipherSuiteError:
// 0x0004 and 0x0006 (the standard library has neither X448 nor Ed448), and
// 0x0003 and 0x004D (X-Wing): the standard library implements
// ChaCha20-Poly1305 only inside crypto/hpke and crypto/tls and does not export
// it, and MLS needs it as a raw AEAD for message protection (§6.3). (Its
// HPKE X-Wing, MLKEM768X25519, is checked against circl's in this package's
// tests.)
//
// # Randomness
//
// Since Go 1.26, crypto/hpke, crypto/ecdsa and crypto/ed25519 always draw
// from the system's secure source; the provider's reader ([WithRand]) is used
// for Provider.Rand and for key generation (GenerateKeyPair and
// GenerateSignatureKeyPair derive keys from bytes read from it), but not for
// HPKE ephemeral keys or ECDSA nonces. Tests can replace the global source
// with testing/cryptotest.SetGlobalRandom.
package stdcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"io"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// Provider implements providers.Provider with the standard library.
type Provider struct {
	rand   io.Reader
	suites [4]*suite
}

var _ providers.Provider = (*Provider)(nil)

// Option configures a Provider.
type Option func(*Provider)

// WithRand makes the provider read randomness from r instead of
// crypto/rand.Reader (a nil r keeps the default); see the package doc for
// what it covers.
func WithRand(r io.Reader) Option { return func(p *Provider) { p.rand = r } }

// New returns a provider with every suite the standard library supports.
func New(opts ...Option) *Provider {
	p := &Provider{rand: rand.Reader}
	for _, o := range opts {
		o(p)
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	p.suites = [4]*suite{
		{
			id: codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519, rand: p.rand,
			hash: sha256.New, hashSize: sha256.Size, keySize: 16,
			kem: hpke.DHKEM(ecdh.X25519()), kdf: hpke.HKDFSHA256(), aead: hpke.AES128GCM(), nsk: 32,
		},
		{
			id: codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256, rand: p.rand,
			hash: sha256.New, hashSize: sha256.Size, keySize: 16,
			kem: hpke.DHKEM(ecdh.P256()), kdf: hpke.HKDFSHA256(), aead: hpke.AES128GCM(), nsk: 32,
			curve: elliptic.P256(),
		},
		{
			id: codec.CipherSuiteMLS256DHKEMP521AES256GCMSHA512P521, rand: p.rand,
			hash: sha512.New, hashSize: sha512.Size, keySize: 32,
			kem: hpke.DHKEM(ecdh.P521()), kdf: hpke.HKDFSHA512(), aead: hpke.AES256GCM(), nsk: 66,
			curve: elliptic.P521(),
		},
		{
			id: codec.CipherSuiteMLS256DHKEMP384AES256GCMSHA384P384, rand: p.rand,
			hash: sha512.New384, hashSize: sha512.Size384, keySize: 32,
			kem: hpke.DHKEM(ecdh.P384()), kdf: hpke.HKDFSHA384(), aead: hpke.AES256GCM(), nsk: 48,
			curve: elliptic.P384(),
		},
	}
	return p
}

// CipherSuite returns the suite id, or an *providers.UnsupportedCipherSuiteError
// saying why the standard library cannot do it.
func (p *Provider) CipherSuite(id codec.CipherSuite) (providers.CipherSuite, error) {
	for _, s := range p.suites {
		if s.id == id {
			return s, nil
		}
	}
	e := &providers.UnsupportedCipherSuiteError{Suite: id}
	switch id {
	case codec.CipherSuiteMLS256DHKEMX448AES256GCMSHA512Ed448,
		codec.CipherSuiteMLS256DHKEMX448CHACHA20POLY1305SHA512Ed448:
		e.Reason = "the Go standard library has no X448 or Ed448"
	case codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519,
		providers.CipherSuiteXWing:
		e.Reason = "the Go standard library does not export ChaCha20-Poly1305"
	}
	return nil, e
}

// CipherSuites lists the supported suites in ascending order.
func (p *Provider) CipherSuites() []codec.CipherSuite {
	ids := make([]codec.CipherSuite, len(p.suites))
	for i, s := range p.suites {
		ids[i] = s.id
	}
	return ids
}

// Rand returns the provider's source of randomness.
func (p *Provider) Rand() io.Reader { return p.rand }

// suite implements providers.CipherSuite. A nil curve means Ed25519
// signatures, otherwise ECDSA over curve with the suite's hash.
type suite struct {
	id       codec.CipherSuite
	rand     io.Reader
	hash     func() hash.Hash
	hashSize int
	keySize  int // AEAD Nk; AES-GCM
	kem      hpke.KEM
	kdf      hpke.KDF
	aead     hpke.AEAD
	nsk      int
	curve    elliptic.Curve
}

var _ providers.CipherSuite = (*suite)(nil)

func (s *suite) ID() codec.CipherSuite { return s.id }
func (s *suite) HashSize() int         { return s.hashSize }

func (s *suite) Hash(dst, msg []byte) []byte {
	h := s.hash()
	h.Write(msg)
	return h.Sum(dst)
}

func (s *suite) MAC(dst, key, msg []byte) []byte {
	m := hmac.New(s.hash, key)
	m.Write(msg)
	return m.Sum(dst)
}

func (s *suite) VerifyMAC(key, msg, tag []byte) bool {
	return hmac.Equal(s.MAC(nil, key, msg), tag)
}

// Extract is HKDF-Extract (RFC 5869 §2.2), which is HMAC(salt, ikm); it is
// computed with crypto/hmac because crypto/hkdf.Extract can fail (in FIPS
// 140-only mode) and this method cannot.
func (s *suite) Extract(dst, salt, ikm []byte) []byte {
	return s.MAC(dst, salt, ikm)
}

func (s *suite) Expand(dst, prk, info []byte, length int) ([]byte, error) {
	if length < 0 || length > 255*s.hashSize {
		return dst, providers.ErrInvalidLength
	}
	if len(prk) < s.hashSize {
		return dst, providers.ErrInvalidKeySize
	}
	out, err := hkdf.Expand(s.hash, prk, string(info), length)
	if err != nil {
		return dst, err
	}
	return append(dst, out...), nil
}

func (s *suite) AEADKeySize() int   { return s.keySize }
func (s *suite) AEADNonceSize() int { return 12 }
func (s *suite) AEADOverhead() int  { return 16 }

func (s *suite) newAEAD(key, nonce []byte) (cipher.AEAD, error) {
	if len(key) != s.keySize {
		return nil, fmt.Errorf("%w: AEAD key is %d bytes, want %d", providers.ErrInvalidKeySize, len(key), s.keySize)
	}
	if len(nonce) != 12 {
		return nil, fmt.Errorf("%w: AEAD nonce is %d bytes, want 12", providers.ErrInvalidKeySize, len(nonce))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func (s *suite) Seal(dst, key, nonce, plaintext, aad []byte) ([]byte, error) {
	a, err := s.newAEAD(key, nonce)
	if err != nil {
		return dst, err
	}
	return a.Seal(dst, nonce, plaintext, aad), nil
}

func (s *suite) Open(dst, key, nonce, ciphertext, aad []byte) ([]byte, error) {
	a, err := s.newAEAD(key, nonce)
	if err != nil {
		return dst, err
	}
	out, err := a.Open(dst, nonce, ciphertext, aad)
	if err != nil {
		return dst, fmt.Errorf("%w: AEAD: %v", providers.ErrDecryption, err)
	}
	return out, nil
}

// ValidateHPKEPublicKey checks that pub deserializes as a public key of the
// suite's KEM.
func (s *suite) ValidateHPKEPublicKey(pub []byte) error {
	if _, err := s.kem.NewPublicKey(pub); err != nil {
		return fmt.Errorf("%w: %v", providers.ErrInvalidPublicKey, err)
	}
	return nil
}

func (s *suite) SealBase(pub, info, aad, plaintext []byte) ([]byte, []byte, error) {
	pk, err := s.kem.NewPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", providers.ErrInvalidPublicKey, err)
	}
	enc, snd, err := hpke.NewSender(pk, s.kdf, s.aead, info)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", providers.ErrInvalidPublicKey, err)
	}
	ct, err := snd.Seal(aad, plaintext)
	if err != nil {
		return nil, nil, err
	}
	return enc, ct, nil
}

func (s *suite) OpenBase(priv, kemOutput, info, aad, ciphertext []byte) ([]byte, error) {
	sk, err := s.kem.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidPrivateKey, err)
	}
	r, err := hpke.NewRecipient(kemOutput, sk, s.kdf, s.aead, info)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidKEMOutput, err)
	}
	pt, err := r.Open(aad, ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: HPKE: %v", providers.ErrDecryption, err)
	}
	return pt, nil
}

// ExportBaseS is HPKE SetupBaseS then Export (RFC 9180 §5.1.1, §5.3); the
// ephemeral key comes from the system's source (see the package doc).
func (s *suite) ExportBaseS(pub, info, exporterContext []byte, length int) ([]byte, []byte, error) {
	if length < 0 || length > 255*s.hashSize {
		return nil, nil, fmt.Errorf("%w: HPKE export of %d bytes, max %d", providers.ErrInvalidLength, length, 255*s.hashSize)
	}
	pk, err := s.kem.NewPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", providers.ErrInvalidPublicKey, err)
	}
	enc, snd, err := hpke.NewSender(pk, s.kdf, s.aead, info)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", providers.ErrInvalidPublicKey, err)
	}
	secret, err := snd.Export(string(exporterContext), length)
	if err != nil {
		return nil, nil, err
	}
	return enc, secret, nil
}

// ExportBaseR is HPKE SetupBaseR then Export (RFC 9180 §5.1.1, §5.3).
func (s *suite) ExportBaseR(priv, kemOutput, info, exporterContext []byte, length int) ([]byte, error) {
	if length < 0 || length > 255*s.hashSize {
		return nil, fmt.Errorf("%w: HPKE export of %d bytes, max %d", providers.ErrInvalidLength, length, 255*s.hashSize)
	}
	sk, err := s.kem.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidPrivateKey, err)
	}
	r, err := hpke.NewRecipient(kemOutput, sk, s.kdf, s.aead, info)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidKEMOutput, err)
	}
	return r.Export(string(exporterContext), length)
}

func (s *suite) DeriveKeyPair(ikm []byte) ([]byte, []byte, error) {
	sk, err := s.kem.DeriveKeyPair(ikm)
	if err != nil {
		return nil, nil, err
	}
	priv, err := sk.Bytes()
	if err != nil {
		return nil, nil, err
	}
	return priv, sk.PublicKey().Bytes(), nil
}

func (s *suite) GenerateKeyPair(r io.Reader) ([]byte, []byte, error) {
	ikm := make([]byte, s.nsk)
	if _, err := io.ReadFull(s.reader(r), ikm); err != nil {
		return nil, nil, err
	}
	return s.DeriveKeyPair(ikm)
}

func (s *suite) HPKEPublicKey(priv []byte) ([]byte, error) {
	sk, err := s.kem.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidPrivateKey, err)
	}
	return sk.PublicKey().Bytes(), nil
}

func (s *suite) reader(r io.Reader) io.Reader {
	if r == nil {
		return s.rand
	}
	return r
}

// digest returns the suite's hash of msg, the input of ECDSA (§5.1.2).
func (s *suite) digest(msg []byte) []byte {
	h := s.hash()
	h.Write(msg)
	return h.Sum(nil)
}

type ed25519Signer struct{ key ed25519.PrivateKey }

func (k ed25519Signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(k.key, msg), nil }
func (k ed25519Signer) PublicKey() []byte               { return k.key[ed25519.SeedSize:] }

type ecdsaSigner struct {
	s   *suite
	key *ecdsa.PrivateKey
	pub []byte
}

func (k *ecdsaSigner) Sign(msg []byte) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, k.key, k.s.digest(msg))
}
func (k *ecdsaSigner) PublicKey() []byte { return k.pub }

func (s *suite) NewSigner(priv []byte) (providers.Signer, error) {
	if s.curve == nil {
		if len(priv) != ed25519.SeedSize {
			return nil, fmt.Errorf("%w: Ed25519 private key is %d bytes, want %d", providers.ErrInvalidPrivateKey, len(priv), ed25519.SeedSize)
		}
		return ed25519Signer{ed25519.NewKeyFromSeed(priv)}, nil
	}
	k, err := ecdsa.ParseRawPrivateKey(s.curve, priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidPrivateKey, err)
	}
	pub, err := k.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidPrivateKey, err)
	}
	return &ecdsaSigner{s: s, key: k, pub: pub}, nil
}

func (s *suite) Verify(pub, msg, signature []byte) error {
	if s.curve == nil {
		if len(pub) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: Ed25519 public key is %d bytes, want %d", providers.ErrInvalidPublicKey, len(pub), ed25519.PublicKeySize)
		}
		if !ed25519.Verify(pub, msg, signature) {
			return providers.ErrInvalidSignature
		}
		return nil
	}
	k, err := ecdsa.ParseUncompressedPublicKey(s.curve, pub)
	if err != nil {
		return fmt.Errorf("%w: %v", providers.ErrInvalidPublicKey, err)
	}
	if !ecdsa.VerifyASN1(k, s.digest(msg), signature) {
		return providers.ErrInvalidSignature
	}
	return nil
}

func (s *suite) GenerateSignatureKeyPair(r io.Reader) ([]byte, []byte, error) {
	r = s.reader(r)
	if s.curve == nil {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := io.ReadFull(r, seed); err != nil {
			return nil, nil, err
		}
		return seed, ed25519.NewKeyFromSeed(seed)[ed25519.SeedSize:], nil
	}
	// Rejection sampling of the scalar (FIPS 186-5 A.2.2) from r, so that a
	// deterministic reader gives a deterministic key.
	size := (s.curve.Params().N.BitLen() + 7) / 8
	excess := size*8 - s.curve.Params().N.BitLen()
	b := make([]byte, size)
	for range 64 {
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, nil, err
		}
		b[0] &= 0xff >> excess
		k, err := ecdsa.ParseRawPrivateKey(s.curve, b)
		if err != nil {
			continue
		}
		pub, err := k.PublicKey.Bytes()
		if err != nil {
			return nil, nil, err
		}
		return b, pub, nil
	}
	return nil, nil, fmt.Errorf("stdcrypto: ECDSA key generation: random source keeps giving out-of-range scalars")
}
