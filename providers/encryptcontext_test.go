package providers_test

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/mlskit/mlskit/providers"
)

// TestEncryptContextSealBase: SealBase with a prebuilt EncryptContext is
// EncryptWithLabel, so DecryptWithLabel opens it (RFC 9420 §5.1.3).
func TestEncryptContextSealBase(t *testing.T) {
	eachSuite(t, func(t *testing.T, cs providers.CipherSuite) {
		priv, pub, err := cs.GenerateKeyPair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ctx := []byte("encrypted group info")
		info, err := providers.EncryptContext("Welcome", ctx)
		if err != nil {
			t.Fatal(err)
		}
		kem, ct, err := cs.SealBase(pub, info, nil, []byte("group secrets"))
		if err != nil {
			t.Fatal(err)
		}
		pt, err := providers.DecryptWithLabel(cs, priv, "Welcome", ctx, kem, ct)
		if err != nil || !bytes.Equal(pt, []byte("group secrets")) {
			t.Fatalf("DecryptWithLabel: %q, %v", pt, err)
		}
		if _, err := providers.DecryptWithLabel(cs, priv, "Welcomf", ctx, kem, ct); err == nil {
			t.Fatal("another label decrypts")
		}
	})
}
