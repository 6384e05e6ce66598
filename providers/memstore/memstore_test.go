package memstore

import (
	"bytes"
	"testing"

	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func() providers.Storage { return New() })
}

// TestDeleteZeroes checks that deleted and replaced values are overwritten in
// the store's own buffers, not merely dropped from the maps.
func TestDeleteZeroes(t *testing.T) {
	s := New()
	secret := []byte("a secret that must not linger")
	check := func(name string, buf []byte) {
		t.Helper()
		if !bytes.Equal(buf, make([]byte, len(buf))) {
			t.Errorf("%s: buffer not zeroed: %q", name, buf)
		}
	}

	_ = s.WriteKeyPackage([]byte("r"), secret)
	buf := s.keyPackages["r"]
	_ = s.DeleteKeyPackage([]byte("r"))
	check("DeleteKeyPackage", buf)

	_ = s.WriteSignatureKeyPair([]byte("p"), secret)
	buf = s.sigKeys["p"]
	_ = s.WriteSignatureKeyPair([]byte("p"), []byte("new"))
	check("WriteSignatureKeyPair over an old value", buf)
	buf = s.sigKeys["p"]
	_ = s.DeleteSignatureKeyPair([]byte("p"))
	check("DeleteSignatureKeyPair", buf)

	_ = s.WriteEncryptionKeyPair([]byte("p"), secret)
	buf = s.encKeys["p"]
	_ = s.DeleteEncryptionKeyPair([]byte("p"))
	check("DeleteEncryptionKeyPair", buf)

	_ = s.WritePSK([]byte("id"), secret)
	buf = s.psks["id"]
	_ = s.DeletePSK([]byte("id"))
	check("DeletePSK", buf)

	_ = s.WriteGroupState([]byte("g"), 1, secret)
	buf = s.groups["g"].state
	_ = s.WriteGroupState([]byte("g"), 1, []byte("new"))
	check("WriteGroupState over an old value", buf)
	buf = s.groups["g"].state
	_ = s.DeleteGroupState([]byte("g"))
	check("DeleteGroupState", buf)

	_ = s.WriteEpochSecrets([]byte("g"), 3, secret)
	buf = s.epochSecrets["g"][3]
	_ = s.WriteEpochSecrets([]byte("g"), 3, []byte("new"))
	check("WriteEpochSecrets over an old value", buf)
	buf = s.epochSecrets["g"][3]
	_ = s.DeleteEpochSecrets([]byte("g"), 3)
	check("DeleteEpochSecrets", buf)
	if _, ok := s.epochSecrets["g"]; ok {
		t.Error("empty epoch map of a group is kept after its last epoch is deleted")
	}

	_ = s.WriteRatchetTree([]byte("g"), 3, secret)
	buf = s.trees["g"][3]
	_ = s.WriteRatchetTree([]byte("g"), 3, []byte("new"))
	check("WriteRatchetTree over an old value", buf)
	buf = s.trees["g"][3]
	_ = s.DeleteRatchetTree([]byte("g"), 3)
	check("DeleteRatchetTree", buf)
	if _, ok := s.trees["g"]; ok {
		t.Error("empty tree map of a group is kept after its last tree is deleted")
	}
}
