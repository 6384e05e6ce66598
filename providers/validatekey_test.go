package providers_test

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/providers"
)

// TestValidateHPKEPublicKey: generated keys validate; wrong lengths and (for
// the NIST curves) bytes that are not a curve point are rejected with
// ErrInvalidPublicKey.
func TestValidateHPKEPublicKey(t *testing.T) {
	eachSuite(t, func(t *testing.T, cs providers.CipherSuite) {
		_, pub, err := cs.GenerateKeyPair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.ValidateHPKEPublicKey(pub); err != nil {
			t.Fatalf("valid key rejected: %v", err)
		}
		for _, bad := range [][]byte{nil, pub[:len(pub)-1], append(append([]byte(nil), pub...), 0)} {
			if err := cs.ValidateHPKEPublicKey(bad); !errors.Is(err, providers.ErrInvalidPublicKey) {
				t.Errorf("key of %d bytes: %v, want ErrInvalidPublicKey", len(bad), err)
			}
		}
		if !nistSuite(t, cs.ID()) {
			return
		}
		// NIST curves: an uncompressed SEC1 point, moved off the curve.
		off := append([]byte(nil), pub...)
		off[len(off)-1] ^= 1
		if err := cs.ValidateHPKEPublicKey(off); !errors.Is(err, providers.ErrInvalidPublicKey) {
			t.Errorf("point off the curve: %v, want ErrInvalidPublicKey", err)
		}
	})
}
