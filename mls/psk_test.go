package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers/memstore"
)

func TestExternalPSKStorage(t *testing.T) {
	s := memstore.New()
	secret := []byte("0123456789abcdef0123456789abcdef")
	if err := StoreExternalPSK(s, []byte("psk-1"), secret); err != nil {
		t.Fatal(err)
	}
	got, err := LoadExternalPSK(s, []byte("psk-1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("LoadExternalPSK = %x, %v", got, err)
	}
	if _, err := LoadExternalPSK(s, []byte("psk-2")); !errors.Is(err, ErrNotFound) {
		t.Errorf("absent PSK: %v", err)
	}
	// The key ignores the nonce and matches the helper's.
	k1, _ := PSKStorageKey(&codec.PreSharedKeyID{PSKType: codec.PSKTypeExternal, PSKID: []byte("psk-1"), PSKNonce: []byte{1, 2}})
	k2, _ := externalPSKKey([]byte("psk-1"))
	if !bytes.Equal(k1, k2) {
		t.Error("storage key depends on the nonce")
	}
	kr, _ := PSKStorageKey(&codec.PreSharedKeyID{PSKType: codec.PSKTypeResumption, Usage: 1, PSKGroupID: []byte("psk-1"), PSKEpoch: 3})
	if bytes.Equal(kr, k1) {
		t.Error("resumption and external PSK keys collide")
	}
	if _, err := PSKStorageKey(&codec.PreSharedKeyID{PSKType: 9}); err == nil {
		t.Error("unknown PSK type encoded")
	}
	if err := DeleteExternalPSK(s, []byte("psk-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadExternalPSK(s, []byte("psk-1")); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	_ = s.WritePSK(k1, []byte{0, 7})
	if _, err := LoadExternalPSK(s, []byte("psk-1")); !errors.Is(err, ErrCorruptState) {
		t.Errorf("corrupt record: %v", err)
	}
	if err := StoreExternalPSK(nil, nil, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil store: %v", err)
	}
}
