package mls

import (
	"bytes"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// PSKStorageKey returns the key under which the PSK identified by id is kept
// in a providers.PSKStore: the encoding of the PreSharedKeyID (RFC 9420
// §8.4) with an empty psk_nonce, since the nonce differs on every use of the
// same PSK.
func PSKStorageKey(id *codec.PreSharedKeyID) ([]byte, error) {
	k := *id
	k.PSKNonce = nil
	b, err := k.Marshal()
	if err != nil {
		return nil, fmt.Errorf("mls: encoding PreSharedKeyID: %w", err)
	}
	return b, nil
}

// pskRecordVersion is the format version of a stored PSK.
const pskRecordVersion = 1

func externalPSKKey(pskID []byte) ([]byte, error) {
	return PSKStorageKey(&codec.PreSharedKeyID{PSKType: codec.PSKTypeExternal, PSKID: pskID})
}

// StoreExternalPSK stores the external PSK secret under pskID (RFC 9420
// §8.4), for use by PreSharedKey proposals that name it.
func StoreExternalPSK(s providers.PSKStore, pskID, secret []byte) error {
	if s == nil {
		return fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	key, err := externalPSKKey(pskID)
	if err != nil {
		return err
	}
	rec := codec.AppendUint16(nil, pskRecordVersion)
	if rec, err = codec.AppendVarintBytes(rec, secret); err != nil {
		return fmt.Errorf("mls: encoding a PSK: %w", err)
	}
	err = s.WritePSK(key, rec)
	clear(rec)
	if err != nil {
		return fmt.Errorf("mls: storing PSK %x: %w", pskID, err)
	}
	return nil
}

// LoadExternalPSK returns the external PSK stored under pskID, or an error
// matching ErrNotFound (or ErrCorruptState).
func LoadExternalPSK(s providers.PSKStore, pskID []byte) ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	key, err := externalPSKKey(pskID)
	if err != nil {
		return nil, err
	}
	rec, err := s.ReadPSK(key)
	if err != nil {
		return nil, fmt.Errorf("mls: loading PSK %x: %w", pskID, err)
	}
	defer clear(rec)
	r := codec.NewReader(rec)
	ver, err := r.ReadUint16()
	if err == nil && ver != pskRecordVersion {
		err = fmt.Errorf("version %d", ver)
	}
	var secret []byte
	if err == nil {
		secret, err = r.ReadVarintBytes()
	}
	if err == nil {
		err = r.Finish()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: PSK %x: %v", ErrCorruptState, pskID, err)
	}
	return bytes.Clone(nonNil(secret)), nil
}

// DeleteExternalPSK erases the external PSK stored under pskID.
func DeleteExternalPSK(s providers.PSKStore, pskID []byte) error {
	if s == nil {
		return fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	key, err := externalPSKKey(pskID)
	if err != nil {
		return err
	}
	if err := s.DeletePSK(key); err != nil {
		return fmt.Errorf("mls: deleting PSK %x: %w", pskID, err)
	}
	return nil
}
