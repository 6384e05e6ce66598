package stdcrypto_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/stdcrypto"
)

// TestSupport pins which suites the standard library can do and that the
// others are refused with a reason. The cryptographic behaviour of the
// supported suites is tested in package providers (vectors, cross-provider
// properties, negative tests).
func TestSupport(t *testing.T) {
	p := stdcrypto.New()
	want := []codec.CipherSuite{1, 2, 5, 7}
	got := p.CipherSuites()
	if len(got) != len(want) {
		t.Fatalf("CipherSuites() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("CipherSuites() = %v, want %v", got, want)
		}
	}
	for id, reason := range map[codec.CipherSuite]string{
		3:                          "ChaCha20-Poly1305",
		4:                          "X448",
		6:                          "X448",
		providers.CipherSuiteXWing: "ChaCha20-Poly1305",
		codec.CipherSuite(0x0A0A):  "",
	} {
		_, err := p.CipherSuite(id)
		var ue *providers.UnsupportedCipherSuiteError
		if !errors.As(err, &ue) || ue.Suite != id || !strings.Contains(ue.Reason, reason) {
			t.Errorf("CipherSuite(0x%04x) = %v, want an UnsupportedCipherSuiteError mentioning %q", uint16(id), err, reason)
		}
	}
}
