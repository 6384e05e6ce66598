package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/providers"
)

// SignatureKeyPair is a signature key pair of a cipher suite (RFC 9420
// §5.1.2) that can be stored in and loaded from a providers.Storage, keyed by
// its public key. It implements providers.Signer and is safe for concurrent
// signing.
type SignatureKeyPair struct {
	suite  codec.CipherSuite
	priv   []byte
	signer providers.Signer
}

var _ providers.Signer = (*SignatureKeyPair)(nil)

// GenerateSignatureKeyPair returns a fresh key pair of suite's signature
// scheme, drawing randomness from the provider.
func GenerateSignatureKeyPair(p providers.Provider, suite codec.CipherSuite) (*SignatureKeyPair, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: nil provider", ErrInvalidArgument)
	}
	cs, err := p.CipherSuite(suite)
	if err != nil {
		return nil, err
	}
	priv, _, err := cs.GenerateSignatureKeyPair(p.Rand())
	if err != nil {
		return nil, fmt.Errorf("mls: generating a signature key pair: %w", err)
	}
	return newSignatureKeyPair(cs, priv)
}

// NewSignatureKeyPair returns the key pair of the signature private key priv
// of suite (in the format documented in package providers). It keeps a copy
// of priv.
func NewSignatureKeyPair(p providers.Provider, suite codec.CipherSuite, priv []byte) (*SignatureKeyPair, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: nil provider", ErrInvalidArgument)
	}
	cs, err := p.CipherSuite(suite)
	if err != nil {
		return nil, err
	}
	return newSignatureKeyPair(cs, bytes.Clone(priv))
}

func newSignatureKeyPair(cs providers.CipherSuite, priv []byte) (*SignatureKeyPair, error) {
	s, err := cs.NewSigner(priv)
	if err != nil {
		return nil, fmt.Errorf("mls: signature private key: %w", err)
	}
	return &SignatureKeyPair{suite: cs.ID(), priv: priv, signer: s}, nil
}

// Sign implements providers.Signer.
func (k *SignatureKeyPair) Sign(msg []byte) ([]byte, error) { return k.signer.Sign(msg) }

// PublicKey implements providers.Signer: the encoded public key (§5.1.1).
// The caller must not modify it.
func (k *SignatureKeyPair) PublicKey() []byte { return k.signer.PublicKey() }

// CipherSuite returns the cipher suite the key pair belongs to.
func (k *SignatureKeyPair) CipherSuite() codec.CipherSuite { return k.suite }

// PrivateKey returns a copy of the encoded private key, for export.
func (k *SignatureKeyPair) PrivateKey() []byte { return bytes.Clone(k.priv) }

// signatureKeyPairVersion is the format version of a stored key pair.
const signatureKeyPairVersion = 1

// Store writes the key pair to s under its public key.
func (k *SignatureKeyPair) Store(s providers.SignatureKeyStore) error {
	if s == nil {
		return fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	rec := record.SignatureKeyPairRecord{Version: signatureKeyPairVersion, CipherSuite: uint16(k.suite), PrivateKey: k.priv}
	b, err := rec.Marshal()
	if err != nil {
		clear(b)
		return fmt.Errorf("mls: encoding a signature key pair: %w", err)
	}
	err = s.WriteSignatureKeyPair(k.PublicKey(), b)
	clear(b)
	if err != nil {
		return fmt.Errorf("mls: storing a signature key pair: %w", err)
	}
	return nil
}

// Delete erases the key pair from s. The SignatureKeyPair itself stays
// usable.
func (k *SignatureKeyPair) Delete(s providers.SignatureKeyStore) error {
	if s == nil {
		return fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	return s.DeleteSignatureKeyPair(k.PublicKey())
}

// LoadSignatureKeyPair reads the key pair stored under publicKey. It fails
// with an error matching ErrNotFound if there is none, ErrCorruptState if the
// record does not decode, and ErrKeyMismatch if the stored private key does
// not belong to publicKey.
func LoadSignatureKeyPair(p providers.Provider, s providers.SignatureKeyStore, publicKey []byte) (*SignatureKeyPair, error) {
	if p == nil || s == nil {
		return nil, fmt.Errorf("%w: nil provider or storage", ErrInvalidArgument)
	}
	b, err := s.ReadSignatureKeyPair(publicKey)
	if err != nil {
		return nil, fmt.Errorf("mls: loading signature key pair %x: %w", publicKey, err)
	}
	defer clear(b)
	var rec record.SignatureKeyPairRecord
	err = rec.Unmarshal(b)
	defer clear(rec.PrivateKey)
	if err == nil && rec.Version != signatureKeyPairVersion {
		err = fmt.Errorf("version %d", rec.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: signature key pair %x: %v", ErrCorruptState, publicKey, err)
	}
	cs, err := p.CipherSuite(codec.CipherSuite(rec.CipherSuite))
	if err != nil {
		return nil, err
	}
	k, err := newSignatureKeyPair(cs, bytes.Clone(rec.PrivateKey))
	if err != nil {
		if errors.Is(err, providers.ErrInvalidPrivateKey) {
			return nil, fmt.Errorf("%w: signature key pair %x: %v", ErrCorruptState, publicKey, err)
		}
		return nil, err
	}
	if !bytes.Equal(k.PublicKey(), publicKey) {
		return nil, fmt.Errorf("%w: signature key pair stored under %x has public key %x", ErrKeyMismatch, publicKey, k.PublicKey())
	}
	return k, nil
}
