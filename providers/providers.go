// Package providers holds the interfaces mlskit needs from the outside world
// for cryptography and randomness, and the labeled constructions of RFC 9420
// §5 written once on top of them.
//
// A [Provider] maps a cipher suite value (RFC 9420 §17.1) to a [CipherSuite]:
// the hash, MAC, KDF, AEAD, HPKE and signature primitives of that suite
// (§5.1). The labeled helpers ([ExpandWithLabel], [DeriveSecret],
// [DeriveTreeSecret], [SignWithLabel], [VerifyWithLabel], [EncryptWithLabel],
// [DecryptWithLabel], [RefHash], [MakeKeyPackageRef], [MakeProposalRef]) are
// implemented here, not by providers, and encode their TLS structs with the
// generated codec package.
//
// Implementations live in sub-packages: defaultcrypto (built on
// github.com/cloudflare/circl, golang.org/x/crypto and the standard library)
// and stdcrypto (the Go standard library only).
//
// # Key formats
//
// Keys cross this interface as byte strings in the formats of RFC 9420 and of
// the MLS test vectors:
//
//   - HPKE public keys: SerializePublicKey of the suite's KEM (RFC 9180 §7.1.1),
//     the content of HPKEPublicKey (§5.1.1).
//   - HPKE private keys: SerializePrivateKey of the suite's KEM (RFC 9180
//     §7.1.2; X25519 and X448 keys are clamped on output and on input; X-Wing
//     private keys are the 32-byte seed).
//   - Signature public keys (§5.1.1): the raw RFC 8032 encoding for Ed25519 and
//     Ed448; the uncompressed SEC1 point (0x04 || X || Y) for ECDSA.
//   - Signature private keys: the RFC 8032 seed for Ed25519 (32 bytes) and
//     Ed448 (57 bytes); the big-endian scalar of the curve's byte length for
//     ECDSA (SEC1 Field-Element-to-Octet-String).
//   - Signatures (§5.1.2): R || S for EdDSA; ASN.1 DER for ECDSA.
//
// # Buffers
//
// Methods whose first parameter is named dst append their result to it and
// return the extended slice, like the standard library's cipher.AEAD; pass
// nil to allocate, or a slice with spare capacity to avoid allocating. They
// never retain dst or any input slice.
package providers

import (
	"io"

	"github.com/mlskit/mlskit/codec"
)

// CipherSuiteXWing is the experimental hybrid post-quantum cipher suite
// MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519 that OpenMLS ships: the X-Wing
// KEM (X25519 + ML-KEM-768, draft-connolly-cfrg-xwing-kem) with HKDF-SHA256
// and ChaCha20-Poly1305 for HPKE, SHA-256, and Ed25519 signatures. The value
// is the one OpenMLS uses; IANA has not assigned it.
const CipherSuiteXWing codec.CipherSuite = 0x004D

// CipherSuite is the set of primitives of one MLS cipher suite (RFC 9420
// §5.1 and the table of §17.1). Implementations are safe for concurrent use
// and hold no per-call state.
type CipherSuite interface {
	// ID returns the cipher suite's registry value (§17.1).
	ID() codec.CipherSuite

	// HashSize returns Nh, the output size in bytes of the suite's hash
	// function, which for every suite of §17.1 is also KDF.Nh (§8) and the
	// size of a MAC tag.
	HashSize() int
	// Hash appends the digest of msg under the suite's hash function to dst
	// (§5.2 RefHash, §8.2 transcript hashes, §7.8 tree hashes).
	Hash(dst, msg []byte) []byte

	// MAC appends HMAC(key, msg) under the suite's hash function to dst (§17.1:
	// every suite uses HMAC; §6.3.1 membership_tag, §8.1 confirmation_tag).
	MAC(dst, key, msg []byte) []byte
	// VerifyMAC reports whether tag is HMAC(key, msg), comparing in constant
	// time.
	VerifyMAC(key, msg, tag []byte) bool

	// Extract appends HKDF-Extract(salt, ikm) (RFC 5869 §2.2), HashSize bytes,
	// to dst (§8 key schedule).
	Extract(dst, salt, ikm []byte) []byte
	// Expand appends HKDF-Expand(prk, info, length) (RFC 5869 §2.3) to dst.
	// It fails if length exceeds 255*HashSize or prk is shorter than
	// HashSize (§8 ExpandWithLabel).
	Expand(dst, prk, info []byte, length int) ([]byte, error)

	// AEADKeySize returns Nk, the AEAD key size in bytes (§9.1).
	AEADKeySize() int
	// AEADNonceSize returns Nn, the AEAD nonce size in bytes (§9.1).
	AEADNonceSize() int
	// AEADOverhead returns the size in bytes of the authentication tag the AEAD
	// appends to a plaintext.
	AEADOverhead() int
	// Seal appends the AEAD encryption of plaintext, authenticated together
	// with aad, to dst (§6.3 message protection, §12.4.3.1 Welcome). key must
	// be AEADKeySize and nonce AEADNonceSize bytes long. dst and plaintext may
	// overlap exactly or not at all.
	Seal(dst, key, nonce, plaintext, aad []byte) ([]byte, error)
	// Open authenticates and decrypts ciphertext and appends the plaintext to
	// dst. On failure it returns an error wrapping [ErrDecryption]. dst and
	// ciphertext may overlap exactly or not at all.
	Open(dst, key, nonce, ciphertext, aad []byte) ([]byte, error)

	// SealBase is HPKE SealBase (RFC 9180 §6.1): it encrypts plaintext to the
	// HPKE public key pub with the given info and aad and returns the
	// encapsulated key (kem_output) and the ciphertext separately, as
	// HPKECiphertext carries them (§5.1.3).
	SealBase(pub, info, aad, plaintext []byte) (kemOutput, ciphertext []byte, err error)
	// OpenBase is HPKE OpenBase (RFC 9180 §6.1) with the private key priv. On
	// an authentication failure it returns an error wrapping [ErrDecryption].
	OpenBase(priv, kemOutput, info, aad, ciphertext []byte) ([]byte, error)
	// ExportBaseS is HPKE SetupBaseS followed by Context.Export (RFC 9180
	// §5.1.1, §5.3): it encapsulates a fresh shared secret to the HPKE public
	// key pub with the given info and returns the encapsulated key
	// (kem_output) and length bytes exported under exporterContext (RFC 9420
	// §8.3 external initialization). The ephemeral key is random, so the
	// result differs on every call. length must be at most 255*HashSize,
	// otherwise the error wraps [ErrInvalidLength].
	ExportBaseS(pub, info, exporterContext []byte, length int) (kemOutput, secret []byte, err error)
	// ExportBaseR is HPKE SetupBaseR followed by Context.Export (RFC 9180
	// §5.1.1, §5.3) with the private key priv: it returns the secret that
	// ExportBaseS returned with the same kemOutput, info, exporterContext and
	// length. A kemOutput that does not decode gives an error wrapping
	// [ErrInvalidKEMOutput]; a valid kemOutput made for another key gives a
	// different secret (HPKE Export does not authenticate).
	ExportBaseR(priv, kemOutput, info, exporterContext []byte, length int) ([]byte, error)
	// DeriveKeyPair is the KEM's DeriveKeyPair (RFC 9180 §7.1.3), which maps
	// an octet string of any length to an HPKE key pair (§5.1; used for
	// node keys in §7.4, the external key pair in §8, and leaf keys).
	DeriveKeyPair(ikm []byte) (priv, pub []byte, err error)
	// GenerateKeyPair returns a fresh HPKE key pair drawing randomness from
	// rand (a nil rand means crypto/rand).
	GenerateKeyPair(rand io.Reader) (priv, pub []byte, err error)
	// HPKEPublicKey returns the public key of the HPKE private key priv, to
	// check that a stored private key matches a public key in the tree
	// (§7.9, §12.4.3.1).
	HPKEPublicKey(priv []byte) ([]byte, error)
	// ValidateHPKEPublicKey checks that pub deserializes as an HPKE public
	// key of the suite's KEM (RFC 9180 §7.1.1 DeserializePublicKey: the
	// length, and for the NIST curves a point on the curve), without the
	// cost of an encryption. It returns an error matching
	// ErrInvalidPublicKey otherwise.
	ValidateHPKEPublicKey(pub []byte) error

	// NewSigner parses a signature private key once, for any number of
	// signatures (§5.1.2). Parsing derives the public key, which for EdDSA and
	// ECDSA costs about as much as a signature, so callers that sign often
	// keep the Signer.
	NewSigner(priv []byte) (Signer, error)
	// Verify checks signature over msg with the signature public key pub
	// (§5.1.2, Signature.Verify). It returns nil if the signature is valid, an
	// error wrapping [ErrInvalidSignature] if it is not, and an error wrapping
	// [ErrInvalidPublicKey] if pub cannot be decoded.
	Verify(pub, msg, signature []byte) error
	// GenerateSignatureKeyPair returns a fresh signature key pair drawing
	// randomness from rand (a nil rand means crypto/rand).
	GenerateSignatureKeyPair(rand io.Reader) (priv, pub []byte, err error)
}

// PreparedSealer is implemented by cipher suites that can seal many HPKE
// messages with one info faster than SealBase one by one. In RFC 9180's key
// schedule (§5.1) the info is hashed for every encryption; a Welcome's
// GroupSecrets are encrypted to every new member with the same info, which
// holds the whole encrypted GroupInfo (RFC 9420 §12.4.3.1), so adding
// thousands of members would hash it thousands of times. PrepareSealBase
// does what depends on info and aad once and returns a function equivalent
// to SealBase(pub, info, aad, plaintext), safe for concurrent use when the
// suite's randomness source is.
type PreparedSealer interface {
	PrepareSealBase(info, aad []byte) (func(pub, plaintext []byte) (kemOutput, ciphertext []byte, err error), error)
}

// SplitInfoOpener is implemented by cipher suites whose OpenBase can spare
// a caller two costs that RFC 9180 does not require:
//
//   - copying the info: the key schedule only hashes it (RFC 9180 §5.1,
//     info_hash = LabeledExtract("", "info_hash", info)), so it is taken in
//     two parts, head and tail, hashed one after the other. The info of a
//     Welcome's GroupSecrets is an EncryptContext whose context is the
//     whole encrypted GroupInfo (RFC 9420 §12.4.3.1, §5.1.3), which
//     DecryptWithLabel passes as tail, after the label as head, uncopied;
//   - computing the recipient's public key: Decap puts
//     SerializePublicKey(pk(skR)) into the KEM context (RFC 9180 §4.1), a
//     scalar multiplication for the DH KEMs, while a joiner knows the
//     init_key of its KeyPackage (RFC 9420 §12.4.3.1) and a TreeKEM
//     receiver the node's key in the tree (RFC 9420 §7.6). A non-nil pub
//     is used in its place; a suite may also ignore it and compute pk(skR).
//
// A pub that is not priv's public key gives another shared secret, so the
// open fails with [ErrDecryption] (or [ErrInvalidPublicKey] for a malformed
// pub): it never opens what OpenBase would not. Callers go through
// [OpenBaseSplitInfo], which falls back to OpenBase for other suites.
type SplitInfoOpener interface {
	// OpenBaseSplitInfo is OpenBase(priv, kemOutput, head || tail, aad,
	// ciphertext), where pub is nil or the public key of priv.
	OpenBaseSplitInfo(priv, pub, kemOutput, head, tail, aad, ciphertext []byte) ([]byte, error)
}

// Signer is a parsed signature private key of one cipher suite (§5.1.2). It
// is safe for concurrent use.
type Signer interface {
	// Sign returns Signature.Sign(key, msg): R || S for EdDSA, DER for ECDSA
	// over the suite's hash of msg (§5.1.2).
	Sign(msg []byte) ([]byte, error)
	// PublicKey returns the encoded signature public key (§5.1.1). The caller
	// must not modify it.
	PublicKey() []byte
}

// Provider gives the cipher suites an implementation supports and the
// randomness MLS draws on (RFC 9420 §5.1, §16.8).
type Provider interface {
	// CipherSuite returns the suite with the given registry value, or an error
	// that is (or wraps) an *[UnsupportedCipherSuiteError].
	CipherSuite(id codec.CipherSuite) (CipherSuite, error)
	// CipherSuites lists the supported suite values in ascending order. The
	// slice is new on every call.
	CipherSuites() []codec.CipherSuite
	// Rand returns the source of randomness for secrets MLS generates (leaf
	// and path secrets, init secrets, reuse guards); crypto/rand.Reader unless
	// configured otherwise.
	Rand() io.Reader
}
