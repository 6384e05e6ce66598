package defaultcrypto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	circlhpke "github.com/cloudflare/circl/hpke"

	"github.com/mlskit/mlskit/providers"
)

var _ providers.PreparedSealer = (*suite)(nil)

// PrepareSealBase implements providers.PreparedSealer. For the circl KEMs
// (X25519, X448, X-Wing) it runs RFC 9180's base-mode key schedule itself,
// with psk_id_hash and info_hash computed once:
//
//	key_schedule_context = 0x00 || LabeledExtract("", "psk_id_hash", "")
//	                            || LabeledExtract("", "info_hash", info)
//	enc, shared_secret   = Encap(pkR)               (circl, per message)
//	secret               = LabeledExtract(shared_secret, "secret", "")
//	key, base_nonce      = LabeledExpand(secret, "key" / "base_nonce", ctx, Nk / Nn)
//	ciphertext           = AEAD.Seal(key, base_nonce, aad, plaintext)
//
// The result is byte-for-byte what SealBase gives for the same randomness
// (TestPrepareSealBaseMatchesSealBase). The NIST-curve suites, whose HPKE is
// crypto/hpke's, fall back to SealBase.
func (s *suite) PrepareSealBase(info, aad []byte) (func(pub, plaintext []byte) ([]byte, []byte, error), error) {
	ck, ok := s.kem.(*circlKEM)
	if !ok {
		info, aad := append([]byte(nil), info...), append([]byte(nil), aad...)
		return func(pub, pt []byte) ([]byte, []byte, error) { return s.SealBase(pub, info, aad, pt) }, nil
	}
	kemID, kdfID, aeadID := ck.suite.Params()
	var suiteID [10]byte
	copy(suiteID[:], "HPKE")
	binary.BigEndian.PutUint16(suiteID[4:], uint16(kemID))
	binary.BigEndian.PutUint16(suiteID[6:], uint16(kdfID))
	binary.BigEndian.PutUint16(suiteID[8:], uint16(aeadID))
	if s.hash != kdfHash(kdfID) || s.aead != aeadOf(aeadID) {
		return nil, fmt.Errorf("defaultcrypto: suite %v: HPKE KDF/AEAD differ from the suite's", s.id)
	}
	ctx := []byte{0x00} // mode_base
	ctx = append(ctx, labeledExtract(s.hash, suiteID[:], nil, "psk_id_hash", nil)...)
	ctx = append(ctx, labeledExtract(s.hash, suiteID[:], nil, "info_hash", info)...)
	aad = append([]byte(nil), aad...)
	seedSize := ck.scheme.EncapsulationSeedSize()
	nk := s.aead.keySize()
	const nn = 12 // every AEAD of RFC 9420 §17.1

	return func(pub, plaintext []byte) ([]byte, []byte, error) {
		pk, err := ck.parsePublic(pub)
		if err != nil {
			return nil, nil, err
		}
		seed := make([]byte, seedSize)
		if _, err := io.ReadFull(s.rand, seed); err != nil {
			return nil, nil, fmt.Errorf("defaultcrypto: reading randomness: %w", err)
		}
		enc, ss, err := ck.scheme.EncapsulateDeterministically(pk, seed)
		clear(seed)
		if err != nil {
			if errors.Is(err, circlhpke.ErrInvalidKEMSharedSecret) {
				return nil, nil, fmt.Errorf("%w: %v", providers.ErrInvalidPublicKey, err)
			}
			return nil, nil, err
		}
		secret := labeledExtract(s.hash, suiteID[:], ss, "secret", nil)
		clear(ss)
		key, err := labeledExpand(s.hash, suiteID[:], secret, "key", ctx, nk)
		if err != nil {
			return nil, nil, err
		}
		nonce, err := labeledExpand(s.hash, suiteID[:], secret, "base_nonce", ctx, nn)
		clear(secret)
		if err != nil {
			return nil, nil, err
		}
		a, err := s.aead.new(key)
		clear(key)
		if err != nil {
			return nil, nil, err
		}
		return enc, a.Seal(nil, nonce, plaintext, aad), nil
	}, nil
}

// kdfHash is the hash of an HPKE KDF (RFC 9180 §7.2).
func kdfHash(k circlhpke.KDF) hashKind {
	switch k {
	case circlhpke.KDF_HKDF_SHA256:
		return sha256Kind
	case circlhpke.KDF_HKDF_SHA384:
		return sha384Kind
	case circlhpke.KDF_HKDF_SHA512:
		return sha512Kind
	}
	return 0
}

// aeadOf is the AEAD of an HPKE AEAD id (RFC 9180 §7.3).
func aeadOf(a circlhpke.AEAD) aeadKind {
	switch a {
	case circlhpke.AEAD_AES128GCM:
		return aes128GCM
	case circlhpke.AEAD_AES256GCM:
		return aes256GCM
	case circlhpke.AEAD_ChaCha20Poly1305:
		return chacha20Poly1305
	}
	return 0
}
