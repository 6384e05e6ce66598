package defaultcrypto

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"

	circlx25519 "github.com/cloudflare/circl/dh/x25519"
	circlx448 "github.com/cloudflare/circl/dh/x448"

	"github.com/mlskit/mlskit/providers"
)

// DHKEM(X25519) and DHKEM(X448) written here on circl's X25519 and X448
// functions and this package's HKDF, so that SealBase and OpenBase of the
// X25519 and X448 suites run RFC 9180's base mode (§4.1, §5.1) without
// circl's HPKE Sender and Receiver, which allocate about a hundred objects
// per message (most of them in their HKDF). The result is byte for byte
// circl's for the same randomness: the ephemeral key is DeriveKeyPair of
// Nsk random bytes, as circl's Encap draws it (TestSealBaseMatchesCircl).

// isDH reports whether the circl KEM is a DHKEM over X25519 or X448.
func (c *circlKEM) isDH() bool {
	return !c.xwing && (c.nsk == circlx25519.Size || c.nsk == circlx448.Size)
}

// kemSuiteID is the suite_id of the KEM's own labeled functions (RFC 9180
// §4.1): "KEM" || I2OSP(kem_id, 2).
func (c *circlKEM) kemSuiteID() [5]byte {
	var id [5]byte
	copy(id[:], "KEM")
	binary.BigEndian.PutUint16(id[3:], uint16(c.kemID))
	return id
}

// dh computes DH(sk, pk) into out (Npk bytes) and reports whether it is
// not all zero (RFC 9180 §7.1.4: a zero result, from a low-order pk, MUST
// be rejected).
func (c *circlKEM) dh(out, sk, pk []byte) bool {
	switch c.nsk {
	case circlx25519.Size:
		var s, p, o circlx25519.Key
		copy(s[:], sk)
		copy(p[:], pk)
		ok := circlx25519.Shared(&o, &s, &p)
		copy(out, o[:])
		clear(s[:])
		return ok && subtle.ConstantTimeCompare(o[:], make([]byte, len(o))) == 0
	default:
		var s, p, o circlx448.Key
		copy(s[:], sk)
		copy(p[:], pk)
		ok := circlx448.Shared(&o, &s, &p)
		copy(out, o[:])
		clear(s[:])
		return ok && subtle.ConstantTimeCompare(o[:], make([]byte, len(o))) == 0
	}
}

// extractAndExpand is DHKEM's ExtractAndExpand (RFC 9180 §4.1):
//
//	eae_prk       = LabeledExtract("", "eae_prk", dh)
//	shared_secret = LabeledExpand(eae_prk, "shared_secret", enc || pkR, Nsecret)
func (c *circlKEM) extractAndExpand(dh, enc, pkR []byte) ([]byte, error) {
	id := c.kemSuiteID()
	var pb [maxHashSize]byte
	prk := labeledExtract(c.kdf, pb[:0], id[:], nil, "eae_prk", dh)
	var kc [2 * circlx448.Size]byte
	n := copy(kc[:], enc)
	n += copy(kc[n:], pkR)
	ss, err := labeledExpand(c.kdf, nil, id[:], prk, "shared_secret", kc[:n], c.kdf.size())
	clear(pb[:])
	return ss, err
}

// encapDH is Encap(pkR) (RFC 9180 §4.1) with the ephemeral key pair
// DeriveKeyPair(Nsk bytes of rand).
func (c *circlKEM) encapDH(rand io.Reader, pub []byte) (enc, ss []byte, err error) {
	if len(pub) != c.nsk {
		return nil, nil, fmt.Errorf("%w: HPKE public key is %d bytes, want %d", providers.ErrInvalidPublicKey, len(pub), c.nsk)
	}
	var seed [circlx448.Size]byte
	if _, err := io.ReadFull(rand, seed[:c.nsk]); err != nil {
		return nil, nil, fmt.Errorf("defaultcrypto: reading randomness: %w", err)
	}
	skE, pkE, err := c.deriveKeyPair(seed[:c.nsk])
	clear(seed[:])
	if err != nil {
		return nil, nil, err
	}
	var dh [circlx448.Size]byte
	ok := c.dh(dh[:c.nsk], skE, pub)
	clear(skE)
	if !ok {
		return nil, nil, fmt.Errorf("%w: DH with the recipient's key is zero", providers.ErrInvalidPublicKey)
	}
	ss, err = c.extractAndExpand(dh[:c.nsk], pkE, pub)
	clear(dh[:])
	if err != nil {
		return nil, nil, err
	}
	return pkE, ss, nil
}

// decapDH is Decap(enc, skR) (RFC 9180 §4.1) with pkR, the public key of
// priv, given by the caller (nil: computed from priv).
func (c *circlKEM) decapDH(priv, pkR, enc []byte) ([]byte, error) {
	if len(priv) != c.nsk {
		return nil, fmt.Errorf("%w: HPKE private key is %d bytes, want %d", providers.ErrInvalidPrivateKey, len(priv), c.nsk)
	}
	if len(enc) != c.nsk {
		return nil, fmt.Errorf("%w: %d bytes, want %d", providers.ErrInvalidKEMOutput, len(enc), c.nsk)
	}
	var dh [circlx448.Size]byte
	if !c.dh(dh[:c.nsk], priv, enc) {
		return nil, fmt.Errorf("%w: DH with the kem output is zero", providers.ErrInvalidKEMOutput)
	}
	if pkR == nil {
		var err error
		if _, pkR, err = c.keyPair(priv); err != nil {
			return nil, err
		}
	} else if len(pkR) != c.nsk {
		return nil, fmt.Errorf("%w: HPKE public key is %d bytes, want %d", providers.ErrInvalidPublicKey, len(pkR), c.nsk)
	}
	ss, err := c.extractAndExpand(dh[:c.nsk], enc, pkR)
	clear(dh[:])
	return ss, err
}

// sealBaseDH is SealBase (RFC 9180 §6.1) for a DHKEM circl suite: Encap,
// then the base-mode key schedule and the first AEAD seal.
func (s *suite) sealBaseDH(c *circlKEM, pub, info, aad, plaintext []byte) ([]byte, []byte, error) {
	ks, err := s.baseSchedule()
	if err != nil {
		return nil, nil, err
	}
	enc, ss, err := c.encapDH(s.rand, pub)
	if err != nil {
		return nil, nil, err
	}
	a, nonce, err := ks.keyed(ss, ks.context(info, nil))
	if err != nil {
		return nil, nil, err
	}
	return enc, a.Seal(nil, nonce, plaintext, aad), nil
}
