package defaultcrypto

import (
	"crypto/cipher"
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
	ks, err := s.baseSchedule()
	if err != nil {
		return nil, err
	}
	ctx := ks.context(info, nil)
	aad = append([]byte(nil), aad...)
	seedSize := ck.scheme.EncapsulationSeedSize()

	return func(pub, plaintext []byte) ([]byte, []byte, error) {
		if ck.isDH() {
			enc, ss, err := ck.encapDH(s.rand, pub)
			if err != nil {
				return nil, nil, err
			}
			a, nonce, err := ks.keyed(ss, ctx)
			if err != nil {
				return nil, nil, err
			}
			return enc, a.Seal(nil, nonce, plaintext, aad), nil
		}
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
		a, nonce, err := ks.keyed(ss, ctx)
		if err != nil {
			return nil, nil, err
		}
		return enc, a.Seal(nil, nonce, plaintext, aad), nil
	}, nil
}

var _ providers.SplitInfoOpener = (*suite)(nil)

// OpenBaseSplitInfo implements providers.SplitInfoOpener for every suite:
// Decap by the suite's KEM (for X25519 and X448 with pub, if not nil, as
// pk(skR) in the KEM context; circl's X-Wing and, for the NIST curves, RFC
// 9180 §4.1 on crypto/ecdh ignore pub), then the base-mode key schedule of
// PrepareSealBase, hashing info from its two parts (info_hash =
// LabeledExtract("", "info_hash", head || tail), RFC 9180 §5.1) so that
// neither is copied.
func (s *suite) OpenBaseSplitInfo(priv, pub, enc, head, tail, aad, ct []byte) ([]byte, error) {
	ss, err := s.kem.decap(priv, pub, enc)
	if err != nil {
		return nil, err
	}
	return s.openShared(ss, head, tail, aad, ct)
}

// openShared is the receiver's half of OpenBase after Decap (RFC 9180
// §5.1, §6.1): the base-mode key schedule of shared secret ss with info
// head || tail, then the AEAD open of ct.
func (s *suite) openShared(ss, head, tail, aad, ct []byte) ([]byte, error) {
	ks, err := s.baseSchedule()
	if err != nil {
		return nil, err
	}
	a, nonce, err := ks.keyed(ss, ks.context(head, tail))
	if err != nil {
		return nil, err
	}
	pt, err := a.Open(nil, nonce, ct, aad)
	if err != nil {
		return nil, fmt.Errorf("%w: HPKE: %v", providers.ErrDecryption, err)
	}
	return pt, nil
}

// baseSchedule is RFC 9180's base-mode key schedule (§5.1) of a suite:
//
//	key_schedule_context = 0x00 || LabeledExtract("", "psk_id_hash", "")
//	                            || LabeledExtract("", "info_hash", info)
//	secret               = LabeledExtract(shared_secret, "secret", "")
//	key, base_nonce      = LabeledExpand(secret, "key" / "base_nonce", ctx, Nk / Nn)
//
// and the first message (sequence number 0) is sealed or opened with key
// and base_nonce.
type baseSchedule struct {
	hash    hashKind
	aead    aeadKind
	suiteID [10]byte
}

func (s *suite) baseSchedule() (baseSchedule, error) {
	kemID, kdfID, aeadID := s.kem.ids()
	ks := baseSchedule{hash: s.hash, aead: s.aead}
	copy(ks.suiteID[:], "HPKE")
	binary.BigEndian.PutUint16(ks.suiteID[4:], kemID)
	binary.BigEndian.PutUint16(ks.suiteID[6:], kdfID)
	binary.BigEndian.PutUint16(ks.suiteID[8:], aeadID)
	if s.hash != kdfHash(kdfID) || s.aead != aeadOf(aeadID) {
		return ks, fmt.Errorf("defaultcrypto: suite %v: HPKE KDF/AEAD differ from the suite's", s.id)
	}
	return ks, nil
}

// context returns key_schedule_context for the info head || tail.
func (ks *baseSchedule) context(head, tail []byte) []byte {
	ctx := make([]byte, 1, 1+2*maxHashSize) // mode_base
	ctx = labeledExtract(ks.hash, ctx, ks.suiteID[:], nil, "psk_id_hash", nil)
	if n := 7 + len(ks.suiteID) + len("info_hash") + len(head) + len(tail); n <= stackInfo {
		// A short info (an UpdatePath's GroupContext) hashed from the
		// stack, without crypto/hmac's allocations.
		var buf [stackInfo]byte
		in := append(append(append(append(append(buf[:0], "HPKE-v1"...), ks.suiteID[:]...), "info_hash"...), head...), tail...)
		return ks.hash.extract(ctx, nil, in)
	}
	return append(ctx, labeledExtractParts(ks.hash, ks.suiteID[:], "info_hash", head, tail)...)
}

// stackInfo bounds the labeled info that context hashes from a buffer on
// the stack (HMAC's own stack buffer, stackBuf, holds it with its key
// block).
const stackInfo = stackBuf - maxBlockSize

// keyed returns the AEAD keyed with the key of the shared secret ss and
// context ctx, and base_nonce; it erases ss.
func (ks *baseSchedule) keyed(ss, ctx []byte) (cipher.AEAD, []byte, error) {
	const nn = 12 // every AEAD of RFC 9420 §17.1
	// secret and key are temporaries on the stack, erased after use.
	var sb [maxHashSize]byte
	secret := labeledExtract(ks.hash, sb[:0], ks.suiteID[:], ss, "secret", nil)
	clear(ss)
	var kb [32]byte // every AEAD key of RFC 9420 §17.1 (aeadKind.new checks its size)
	key, err := labeledExpand(ks.hash, kb[:0], ks.suiteID[:], secret, "key", ctx, ks.aead.keySize())
	if err != nil {
		clear(sb[:])
		clear(kb[:])
		return nil, nil, err
	}
	nonce, err := labeledExpand(ks.hash, nil, ks.suiteID[:], secret, "base_nonce", ctx, nn)
	clear(sb[:])
	if err != nil {
		clear(kb[:])
		return nil, nil, err
	}
	a, err := ks.aead.new(key)
	clear(kb[:])
	if err != nil {
		return nil, nil, err
	}
	return a, nonce, nil
}

// kdfHash is the hash of an HPKE KDF id (RFC 9180 §7.2).
func kdfHash(k uint16) hashKind {
	switch circlhpke.KDF(k) {
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
func aeadOf(a uint16) aeadKind {
	switch circlhpke.AEAD(a) {
	case circlhpke.AEAD_AES128GCM:
		return aes128GCM
	case circlhpke.AEAD_AES256GCM:
		return aes256GCM
	case circlhpke.AEAD_ChaCha20Poly1305:
		return chacha20Poly1305
	}
	return 0
}
