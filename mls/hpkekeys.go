package mls

import (
	"bytes"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/providers"
)

// EncryptionKeyPair is an HPKE key pair of a cipher suite (RFC 9420 §5.1.3)
// — a leaf encryption key or the key of a node on a client's direct path —
// stored in a providers.EncryptionKeyStore under its public key.
type EncryptionKeyPair struct {
	CipherSuite codec.CipherSuite
	PublicKey   []byte
	PrivateKey  []byte
}

// Zero overwrites the private key.
func (k *EncryptionKeyPair) Zero() { clear(k.PrivateKey) }

// encryptionKeyPairVersion is the format version of a stored key pair.
const encryptionKeyPairVersion = 1

// Store writes the key pair to s under its public key.
func (k *EncryptionKeyPair) Store(s providers.EncryptionKeyStore) error {
	if s == nil {
		return fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	rec := record.EncryptionKeyPairRecord{Version: encryptionKeyPairVersion, CipherSuite: uint16(k.CipherSuite), PrivateKey: k.PrivateKey}
	b, err := rec.Marshal()
	if err != nil {
		clear(b)
		return fmt.Errorf("mls: encoding an encryption key pair: %w", err)
	}
	err = s.WriteEncryptionKeyPair(k.PublicKey, b)
	clear(b)
	if err != nil {
		return fmt.Errorf("mls: storing encryption key pair %x: %w", k.PublicKey, err)
	}
	return nil
}

// LoadEncryptionKeyPair reads the key pair stored under publicKey. It fails
// with an error matching ErrNotFound if there is none and ErrCorruptState if
// the record does not decode.
func LoadEncryptionKeyPair(s providers.EncryptionKeyStore, publicKey []byte) (*EncryptionKeyPair, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	b, err := s.ReadEncryptionKeyPair(publicKey)
	if err != nil {
		return nil, fmt.Errorf("mls: loading encryption key pair %x: %w", publicKey, err)
	}
	defer clear(b)
	var rec record.EncryptionKeyPairRecord
	err = rec.Unmarshal(b)
	defer clear(rec.PrivateKey)
	if err == nil && rec.Version != encryptionKeyPairVersion {
		err = fmt.Errorf("version %d", rec.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: encryption key pair %x: %v", ErrCorruptState, publicKey, err)
	}
	return &EncryptionKeyPair{
		CipherSuite: codec.CipherSuite(rec.CipherSuite),
		PublicKey:   bytes.Clone(publicKey),
		PrivateKey:  bytes.Clone(rec.PrivateKey),
	}, nil
}

// DeleteEncryptionKeyPair erases the key pair stored under publicKey.
func DeleteEncryptionKeyPair(s providers.EncryptionKeyStore, publicKey []byte) error {
	if s == nil {
		return fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	if err := s.DeleteEncryptionKeyPair(publicKey); err != nil {
		return fmt.Errorf("mls: deleting encryption key pair %x: %w", publicKey, err)
	}
	return nil
}

// CheckEncryptionKeyPair reports an error matching ErrKeyMismatch if the
// private key of k does not belong to its public key under suite cs (§7.9,
// §12.4.3.1: a stored key must match the tree).
func CheckEncryptionKeyPair(cs providers.CipherSuite, k *EncryptionKeyPair) error {
	if cs == nil || k == nil {
		return fmt.Errorf("%w: nil cipher suite or key pair", ErrInvalidArgument)
	}
	pub, err := cs.HPKEPublicKey(k.PrivateKey)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrKeyMismatch, err)
	}
	if !bytes.Equal(pub, k.PublicKey) {
		return fmt.Errorf("%w: HPKE private key belongs to %x, not %x", ErrKeyMismatch, pub, k.PublicKey)
	}
	return nil
}
