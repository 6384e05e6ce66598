package keyschedule

import (
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// PSK is one pre-shared key injected into the key schedule (RFC 9420 §8.4):
// its identifier as carried in a PreSharedKey proposal or GroupSecrets, and
// its value (an external PSK the application holds, or the resumption_psk
// of the group and epoch the identifier names).
type PSK struct {
	ID    codec.PreSharedKeyID
	Value []byte
}

// PSKSecret computes the psk_secret from PSKs listed in the order of the
// Commit's PreSharedKey proposals or of GroupSecrets.psks (RFC 9420 §8.4):
//
//	psk_extracted_[i] = KDF.Extract(0, psk_[i])
//	psk_input_[i]     = ExpandWithLabel(psk_extracted_[i], "derived psk",
//	                                    PSKLabel{id, i, n}, KDF.Nh)
//	psk_secret_[0]    = 0
//	psk_secret_[i]    = KDF.Extract(psk_input_[i-1], psk_secret_[i-1])
//	psk_secret        = psk_secret_[n]
//
// With no PSKs it returns the all-zero vector of length KDF.Nh. Every
// psk_nonce must be KDF.Nh bytes long ([ErrPSKNonceSize]); at most 65535
// PSKs can be numbered ([ErrTooManyPSKs]). The intermediate secrets are
// erased; the caller erases the result after the key schedule has run.
func PSKSecret(cs providers.CipherSuite, psks []PSK) (Secret, error) {
	nh := cs.HashSize()
	if len(psks) > 0xffff {
		return nil, fmt.Errorf("%w: %d", ErrTooManyPSKs, len(psks))
	}
	for i := range psks {
		if len(psks[i].ID.PSKNonce) != nh {
			return nil, fmt.Errorf("%w: PSK %d has a %d-byte psk_nonce, want %d", ErrPSKNonceSize, i, len(psks[i].ID.PSKNonce), nh)
		}
	}
	zero := make([]byte, nh)
	secret := Secret(make([]byte, nh))
	if len(psks) == 0 {
		return secret, nil
	}
	var label []byte // the encoded PSKLabel, reused across PSKs
	extracted := Secret(make([]byte, 0, nh))
	defer func() { extracted[:cap(extracted)].Zero() }()
	next := Secret(make([]byte, 0, nh))
	defer func() { next[:cap(next)].Zero() }()
	for i := range psks {
		pl := codec.PSKLabel{ID: psks[i].ID, Index: uint16(i), Count: uint16(len(psks))}
		var err error
		if label, err = pl.AppendTo(label[:0]); err != nil {
			secret.Zero()
			return nil, fmt.Errorf("keyschedule: PSK %d: %w", i, err)
		}
		extracted = cs.Extract(extracted[:0], zero, psks[i].Value)
		in, err := providers.ExpandWithLabel(cs, extracted, labelDerivedPSK, label, uint16(nh))
		if err != nil {
			secret.Zero()
			return nil, fmt.Errorf("keyschedule: PSK %d: %w", i, err)
		}
		next = cs.Extract(next[:0], in, secret)
		Secret(in).Zero()
		copy(secret, next)
	}
	return secret, nil
}
