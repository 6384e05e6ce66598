package defaultcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// aeadKind is an AEAD of RFC 9420 §17.1 (RFC 9180 §7.3 identifiers).
type aeadKind uint8

const (
	aes128GCM aeadKind = iota + 1
	aes256GCM
	chacha20Poly1305
)

func (a aeadKind) keySize() int {
	if a == aes128GCM {
		return 16
	}
	return 32
}

// new returns the AEAD for key: AES-GCM from crypto/aes and crypto/cipher
// (assembly, the only Go implementation), ChaCha20-Poly1305 from
// golang.org/x/crypto (the standard library keeps its copy internal).
func (a aeadKind) new(key []byte) (cipher.AEAD, error) {
	if len(key) != a.keySize() {
		return nil, fmt.Errorf("%w: AEAD key is %d bytes, want %d", providers.ErrInvalidKeySize, len(key), a.keySize())
	}
	if a == chacha20Poly1305 {
		return chacha20poly1305.New(key)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// suite implements providers.CipherSuite.
type suite struct {
	id   codec.CipherSuite
	hash hashKind
	aead aeadKind
	kem  kemImpl
	sig  sigImpl
	rand io.Reader
}

var _ providers.CipherSuite = (*suite)(nil)

func (s *suite) ID() codec.CipherSuite { return s.id }

func (s *suite) HashSize() int { return s.hash.size() }

func (s *suite) Hash(dst, msg []byte) []byte { return s.hash.appendHash(dst, msg) }

func (s *suite) MAC(dst, key, msg []byte) []byte { return s.hash.mac(dst, key, msg) }

func (s *suite) VerifyMAC(key, msg, tag []byte) bool { return s.hash.verifyMAC(key, msg, tag) }

func (s *suite) Extract(dst, salt, ikm []byte) []byte { return s.hash.extract(dst, salt, ikm) }

func (s *suite) Expand(dst, prk, info []byte, length int) ([]byte, error) {
	return s.hash.expand(dst, prk, info, length)
}

func (s *suite) AEADKeySize() int   { return s.aead.keySize() }
func (s *suite) AEADNonceSize() int { return 12 } // all AEADs of §17.1
func (s *suite) AEADOverhead() int  { return 16 }

func (s *suite) checkNonce(nonce []byte) error {
	if len(nonce) != 12 {
		return fmt.Errorf("%w: AEAD nonce is %d bytes, want 12", providers.ErrInvalidKeySize, len(nonce))
	}
	return nil
}

func (s *suite) Seal(dst, key, nonce, plaintext, aad []byte) ([]byte, error) {
	if err := s.checkNonce(nonce); err != nil {
		return dst, err
	}
	a, err := s.aead.new(key)
	if err != nil {
		return dst, err
	}
	return a.Seal(dst, nonce, plaintext, aad), nil
}

func (s *suite) Open(dst, key, nonce, ciphertext, aad []byte) ([]byte, error) {
	if err := s.checkNonce(nonce); err != nil {
		return dst, err
	}
	a, err := s.aead.new(key)
	if err != nil {
		return dst, err
	}
	out, err := a.Open(dst, nonce, ciphertext, aad)
	if err != nil {
		return dst, fmt.Errorf("%w: AEAD: %v", providers.ErrDecryption, err)
	}
	return out, nil
}

func (s *suite) ValidateHPKEPublicKey(pub []byte) error { return s.kem.validatePublic(pub) }

func (s *suite) SealBase(pub, info, aad, plaintext []byte) ([]byte, []byte, error) {
	if c, ok := s.kem.(*circlKEM); ok && c.isDH() {
		return s.sealBaseDH(c, pub, info, aad, plaintext)
	}
	return s.kem.sealBase(s.rand, pub, info, aad, plaintext)
}

func (s *suite) OpenBase(priv, kemOutput, info, aad, ciphertext []byte) ([]byte, error) {
	if c, ok := s.kem.(*circlKEM); ok && c.isDH() {
		return s.OpenBaseSplitInfo(priv, nil, kemOutput, info, nil, aad, ciphertext)
	}
	return s.kem.openBase(priv, kemOutput, info, aad, ciphertext)
}

// checkExportLength bounds an HPKE Export length by 255*Nh of the HPKE KDF
// (RFC 9180 §5.3), which for every suite is HKDF over the suite's hash.
func (s *suite) checkExportLength(length int) error {
	if length < 0 || length > 255*s.hash.size() {
		return fmt.Errorf("%w: HPKE export of %d bytes, max %d", providers.ErrInvalidLength, length, 255*s.hash.size())
	}
	return nil
}

func (s *suite) ExportBaseS(pub, info, exporterContext []byte, length int) ([]byte, []byte, error) {
	if err := s.checkExportLength(length); err != nil {
		return nil, nil, err
	}
	return s.kem.exportBaseS(s.rand, pub, info, exporterContext, length)
}

func (s *suite) ExportBaseR(priv, kemOutput, info, exporterContext []byte, length int) ([]byte, error) {
	if err := s.checkExportLength(length); err != nil {
		return nil, err
	}
	return s.kem.exportBaseR(priv, kemOutput, info, exporterContext, length)
}

func (s *suite) DeriveKeyPair(ikm []byte) ([]byte, []byte, error) {
	return s.kem.deriveKeyPair(ikm)
}

// GenerateKeyPair is DeriveKeyPair of Nsk random bytes (RFC 9180 §7.1.3 allows
// it), so that a deterministic rand gives deterministic keys.
func (s *suite) GenerateKeyPair(rand io.Reader) ([]byte, []byte, error) {
	ikm := make([]byte, s.kem.seedSize())
	if _, err := io.ReadFull(orDefault(rand, s.rand), ikm); err != nil {
		return nil, nil, err
	}
	return s.kem.deriveKeyPair(ikm)
}

func (s *suite) HPKEPublicKey(priv []byte) ([]byte, error) { return s.kem.publicKey(priv) }

func (s *suite) NewSigner(priv []byte) (providers.Signer, error) { return s.sig.newSigner(priv) }

func (s *suite) Verify(pub, msg, signature []byte) error { return s.sig.verify(pub, msg, signature) }

func (s *suite) GenerateSignatureKeyPair(rand io.Reader) ([]byte, []byte, error) {
	return s.sig.generate(orDefault(rand, s.rand))
}

func orDefault(r, def io.Reader) io.Reader {
	if r == nil {
		return def
	}
	return r
}
