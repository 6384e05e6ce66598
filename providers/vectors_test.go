package providers_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/stdcrypto"
)

type hexBytes = testvectors.HexBytes

// cryptoBasics is one case of crypto-basics.json (FORMAT.md, "Crypto Basics").
type cryptoBasics struct {
	CipherSuite codec.CipherSuite `json:"cipher_suite"`
	RefHash     struct {
		Label string   `json:"label"`
		Value hexBytes `json:"value"`
		Out   hexBytes `json:"out"`
	} `json:"ref_hash"`
	ExpandWithLabel struct {
		Secret  hexBytes `json:"secret"`
		Label   string   `json:"label"`
		Context hexBytes `json:"context"`
		Length  uint16   `json:"length"`
		Out     hexBytes `json:"out"`
	} `json:"expand_with_label"`
	DeriveSecret struct {
		Secret hexBytes `json:"secret"`
		Label  string   `json:"label"`
		Out    hexBytes `json:"out"`
	} `json:"derive_secret"`
	DeriveTreeSecret struct {
		Secret     hexBytes `json:"secret"`
		Label      string   `json:"label"`
		Generation uint32   `json:"generation"`
		Length     uint16   `json:"length"`
		Out        hexBytes `json:"out"`
	} `json:"derive_tree_secret"`
	SignWithLabel struct {
		Priv      hexBytes `json:"priv"`
		Pub       hexBytes `json:"pub"`
		Content   hexBytes `json:"content"`
		Label     string   `json:"label"`
		Signature hexBytes `json:"signature"`
	} `json:"sign_with_label"`
	EncryptWithLabel struct {
		Priv       hexBytes `json:"priv"`
		Pub        hexBytes `json:"pub"`
		Label      string   `json:"label"`
		Context    hexBytes `json:"context"`
		Plaintext  hexBytes `json:"plaintext"`
		KEMOutput  hexBytes `json:"kem_output"`
		Ciphertext hexBytes `json:"ciphertext"`
	} `json:"encrypt_with_label"`
}

// namedProvider pairs a provider with a name for test output.
type namedProvider struct {
	name string
	p    providers.Provider
	// suites lists the cipher suites of the vectors the provider supports
	// (nil: all of them).
	suites []codec.CipherSuite
}

func allProviders() []namedProvider {
	return []namedProvider{
		{"default", defaultcrypto.New(), nil},
		// The Go standard library has no ChaCha20-Poly1305 export, X448 or
		// Ed448.
		{"std", stdcrypto.New(), []codec.CipherSuite{1, 2, 5, 7}},
	}
}

// TestCryptoBasicsVectors runs every case of crypto-basics.json with both
// providers, skipping (and reporting) the suites a provider does not support.
func TestCryptoBasicsVectors(t *testing.T) {
	var cases []cryptoBasics
	testvectors.Load(t, "crypto-basics.json", &cases)
	for _, np := range allProviders() {
		want := 0
		for _, tc := range cases {
			if np.suites == nil || slices.Contains(np.suites, tc.CipherSuite) {
				want++
			}
		}
		count := testvectors.Expect(t, "crypto-basics.json with provider "+np.name, want)
		var ran, skipped []string
		for i, tc := range cases {
			name := fmt.Sprintf("%s/case%d-suite%d", np.name, i, tc.CipherSuite)
			cs, err := np.p.CipherSuite(tc.CipherSuite)
			if err != nil {
				var ue *providers.UnsupportedCipherSuiteError
				if !errors.As(err, &ue) {
					t.Fatalf("%s: CipherSuite: %v is not an *UnsupportedCipherSuiteError", name, err)
				}
				skipped = append(skipped, fmt.Sprintf("0x%04x (%s)", uint16(tc.CipherSuite), ue.Reason))
				continue
			}
			ran = append(ran, fmt.Sprintf("0x%04x", uint16(tc.CipherSuite)))
			t.Run(name, func(t *testing.T) { checkCryptoBasics(t, cs, tc) })
			count.Ran()
		}
		t.Logf("provider %s: ran %d suites [%s]; skipped %d: %s", np.name,
			len(ran), strings.Join(ran, " "), len(skipped), strings.Join(skipped, "; "))
	}
}

func checkCryptoBasics(t *testing.T, cs providers.CipherSuite, tc cryptoBasics) {
	t.Run("ref_hash", func(t *testing.T) {
		v := tc.RefHash
		got, err := providers.RefHash(cs, v.Label, v.Value)
		if err != nil || !bytes.Equal(got, v.Out) {
			t.Errorf("RefHash = %x, %v; want %x", got, err, v.Out)
		}
	})
	t.Run("expand_with_label", func(t *testing.T) {
		v := tc.ExpandWithLabel
		got, err := providers.ExpandWithLabel(cs, v.Secret, v.Label, v.Context, v.Length)
		if err != nil || !bytes.Equal(got, v.Out) {
			t.Errorf("ExpandWithLabel = %x, %v; want %x", got, err, v.Out)
		}
	})
	t.Run("derive_secret", func(t *testing.T) {
		v := tc.DeriveSecret
		got, err := providers.DeriveSecret(cs, v.Secret, v.Label)
		if err != nil || !bytes.Equal(got, v.Out) {
			t.Errorf("DeriveSecret = %x, %v; want %x", got, err, v.Out)
		}
	})
	t.Run("derive_tree_secret", func(t *testing.T) {
		v := tc.DeriveTreeSecret
		got, err := providers.DeriveTreeSecret(cs, v.Secret, v.Label, v.Generation, v.Length)
		if err != nil || !bytes.Equal(got, v.Out) {
			t.Errorf("DeriveTreeSecret = %x, %v; want %x", got, err, v.Out)
		}
	})
	t.Run("sign_with_label", func(t *testing.T) {
		v := tc.SignWithLabel
		if err := providers.VerifyWithLabel(cs, v.Pub, v.Label, v.Content, v.Signature); err != nil {
			t.Errorf("VerifyWithLabel(vector signature): %v", err)
		}
		signer, err := cs.NewSigner(v.Priv)
		if err != nil {
			t.Fatalf("NewSigner: %v", err)
		}
		if !bytes.Equal(signer.PublicKey(), v.Pub) {
			t.Errorf("Signer.PublicKey = %x, want %x", signer.PublicKey(), v.Pub)
		}
		sig, err := providers.SignWithLabel(signer, v.Label, v.Content)
		if err != nil {
			t.Fatalf("SignWithLabel: %v", err)
		}
		if err := providers.VerifyWithLabel(cs, v.Pub, v.Label, v.Content, sig); err != nil {
			t.Errorf("VerifyWithLabel(our signature): %v", err)
		}
		if err := providers.VerifyWithLabel(cs, v.Pub, v.Label+"x", v.Content, v.Signature); !errors.Is(err, providers.ErrInvalidSignature) {
			t.Errorf("VerifyWithLabel(wrong label) = %v, want ErrInvalidSignature", err)
		}
	})
	t.Run("encrypt_with_label", func(t *testing.T) {
		v := tc.EncryptWithLabel
		pub, err := cs.HPKEPublicKey(v.Priv)
		if err != nil || !bytes.Equal(pub, v.Pub) {
			t.Errorf("HPKEPublicKey(priv) = %x, %v; want %x", pub, err, v.Pub)
		}
		pt, err := providers.DecryptWithLabel(cs, v.Priv, v.Label, v.Context, v.KEMOutput, v.Ciphertext)
		if err != nil || !bytes.Equal(pt, v.Plaintext) {
			t.Errorf("DecryptWithLabel(vector) = %x, %v; want %x", pt, err, v.Plaintext)
		}
		kemOut, ct, err := providers.EncryptWithLabel(cs, v.Pub, v.Label, v.Context, v.Plaintext)
		if err != nil {
			t.Fatalf("EncryptWithLabel: %v", err)
		}
		pt, err = providers.DecryptWithLabel(cs, v.Priv, v.Label, v.Context, kemOut, ct)
		if err != nil || !bytes.Equal(pt, v.Plaintext) {
			t.Errorf("DecryptWithLabel(ours) = %x, %v; want %x", pt, err, v.Plaintext)
		}
		if _, err := providers.DecryptWithLabel(cs, v.Priv, v.Label+"x", v.Context, v.KEMOutput, v.Ciphertext); !errors.Is(err, providers.ErrDecryption) {
			t.Errorf("DecryptWithLabel(wrong label) = %v, want ErrDecryption", err)
		}
		// Open the vector through the split-info path wherever its
		// EncryptContext is cut (DecryptWithLabel cuts it after the label).
		info, err := providers.EncryptContext(v.Label, v.Context)
		if err != nil {
			t.Fatal(err)
		}
		for _, cut := range []int{0, 1, len(info) / 2, len(info)} {
			pt, err := providers.OpenBaseSplitInfo(cs, v.Priv, nil, v.KEMOutput, info[:cut], info[cut:], nil, v.Ciphertext)
			if err != nil || !bytes.Equal(pt, v.Plaintext) {
				t.Errorf("OpenBaseSplitInfo(vector, cut at %d) = %x, %v; want %x", cut, pt, err, v.Plaintext)
			}
		}
	})
}
