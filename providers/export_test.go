package providers_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// TestExportBase checks HPKE SetupBaseS/R + Export (RFC 9180 §5.3), as the
// external init of RFC 9420 §8.3 uses it, for every suite of every provider:
// sender and receiver agree; info, exporter context and length separate the
// outputs; another private key gives another secret (or an error); a
// malformed kem_output or key gives an error and never a panic.
func TestExportBase(t *testing.T) {
	eachSuite(t, func(t *testing.T, cs providers.CipherSuite) {
		priv, pub, err := cs.GenerateKeyPair(nil)
		if err != nil {
			t.Fatal(err)
		}
		info, ctx := []byte("MLS 1.0 external init secret"), []byte(nil)
		n := cs.HashSize()
		enc, secret, err := cs.ExportBaseS(pub, info, ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(secret) != n {
			t.Fatalf("ExportBaseS returned %d bytes, want %d", len(secret), n)
		}
		exportR := func(priv, enc, info, ctx []byte, n int) ([]byte, error) {
			var out []byte
			var err error
			noPanic(t, "ExportBaseR", func() { out, err = cs.ExportBaseR(priv, enc, info, ctx, n) })
			return out, err
		}
		got, err := exportR(priv, enc, info, ctx, n)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("ExportBaseR = %x, %v; want %x", got, err, secret)
		}
		// A second export is randomized: a fresh ephemeral key.
		enc2, secret2, err := cs.ExportBaseS(pub, info, ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(enc, enc2) || bytes.Equal(secret, secret2) {
			t.Error("two ExportBaseS calls gave the same kem_output or secret")
		}
		// Other info, context, length: other secrets.
		if got, err := exportR(priv, enc, []byte("other info"), ctx, n); err != nil || bytes.Equal(got, secret) {
			t.Errorf("other info: %x, %v", got, err)
		}
		if got, err := exportR(priv, enc, info, []byte("ctx"), n); err != nil || bytes.Equal(got, secret) {
			t.Errorf("other exporter context: %x, %v", got, err)
		}
		if got, err := exportR(priv, enc, info, ctx, n+1); err != nil || len(got) != n+1 {
			t.Errorf("length %d: %d bytes, %v", n+1, len(got), err)
		}
		if got, err := exportR(priv, enc, info, ctx, 0); err != nil || len(got) != 0 {
			t.Errorf("length 0: %x, %v", got, err)
		}
		// Lengths HPKE cannot export (RFC 9180 §5.3: at most 255*Nh).
		for _, bad := range []int{-1, 255*n + 1, 1 << 20} {
			noPanic(t, "ExportBaseS(bad length)", func() {
				if _, _, err := cs.ExportBaseS(pub, info, ctx, bad); !errors.Is(err, providers.ErrInvalidLength) {
					t.Errorf("ExportBaseS length %d: %v, want ErrInvalidLength", bad, err)
				}
			})
			if _, err := exportR(priv, enc, info, ctx, bad); !errors.Is(err, providers.ErrInvalidLength) {
				t.Errorf("ExportBaseR length %d: %v, want ErrInvalidLength", bad, err)
			}
		}
		// Another key pair's private key: a different secret or an error.
		other, _, err := cs.GenerateKeyPair(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := exportR(other, enc, info, ctx, n); err == nil && bytes.Equal(got, secret) {
			t.Error("another private key exports the same secret")
		}
		// Tampered kem_output: a different secret or an error.
		for _, i := range []int{0, 1, len(enc) / 2, len(enc) - 1} {
			if got, err := exportR(priv, flip(enc, i), info, ctx, n); err == nil && bytes.Equal(got, secret) {
				t.Errorf("kem_output byte %d flipped: same secret", i)
			}
		}
		// Malformed kem_output: an error wrapping ErrInvalidKEMOutput.
		for _, bad := range [][]byte{nil, enc[:len(enc)-1], append(bytes.Clone(enc), 0)} {
			if _, err := exportR(priv, bad, info, ctx, n); !errors.Is(err, providers.ErrInvalidKEMOutput) {
				t.Errorf("kem_output of %d bytes: %v, want ErrInvalidKEMOutput", len(bad), err)
			}
		}
		for _, bad := range [][]byte{nil, priv[:len(priv)-1], append(bytes.Clone(priv), 0)} {
			if _, err := exportR(bad, enc, info, ctx, n); !errors.Is(err, providers.ErrInvalidPrivateKey) {
				t.Errorf("private key of %d bytes: %v, want ErrInvalidPrivateKey", len(bad), err)
			}
		}
		for _, bad := range [][]byte{nil, pub[:len(pub)-1], append(bytes.Clone(pub), 0)} {
			noPanic(t, "ExportBaseS(bad key)", func() {
				if _, _, err := cs.ExportBaseS(bad, info, ctx, n); !errors.Is(err, providers.ErrInvalidPublicKey) {
					t.Errorf("public key of %d bytes: %v, want ErrInvalidPublicKey", len(bad), err)
				}
			})
		}
	})
}

// TestExportBaseCrossProvider: what one provider exports as sender, the other
// exports as receiver, both ways, for every suite both support.
func TestExportBaseCrossProvider(t *testing.T) {
	for _, pair := range sharedSuites(t) {
		t.Run(suiteName(pair[0]), func(t *testing.T) {
			for dir := range 2 {
				s, r := pair[dir], pair[1-dir]
				for i := range 4 {
					priv, pub, err := r.DeriveKeyPair(rnd(uint64(i), 32))
					if err != nil {
						t.Fatal(err)
					}
					info, ctx := rnd(uint64(100+i), i*7), rnd(uint64(200+i), i*5)
					enc, secret, err := s.ExportBaseS(pub, info, ctx, 16+i*40)
					if err != nil {
						t.Fatal(err)
					}
					got, err := r.ExportBaseR(priv, enc, info, ctx, 16+i*40)
					if err != nil || !bytes.Equal(got, secret) {
						t.Fatalf("direction %d, case %d: receiver got %x, %v; sender %x", dir, i, got, err, secret)
					}
				}
			}
		})
	}
}

// TestExportBaseAgainstStdlib checks the default provider's circl-based
// exports of suite 0x0003 (X25519 + ChaCha20-Poly1305, which the stdlib
// provider lacks) and of X-Wing against crypto/hpke, both ways. The AEAD id
// enters the HPKE key schedule (RFC 9180 §5.1 suite_id), so this also pins
// that the export uses the suite's AEAD.
func TestExportBaseAgainstStdlib(t *testing.T) {
	for _, c := range []struct {
		id  codec.CipherSuite
		kem hpke.KEM
	}{
		{codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519, hpke.DHKEM(ecdh.X25519())},
		{providers.CipherSuiteXWing, hpke.MLKEM768X25519()},
	} {
		cs, err := defaultcrypto.New().CipherSuite(c.id)
		if err != nil {
			t.Fatal(err)
		}
		kdf, aead := hpke.HKDFSHA256(), hpke.ChaCha20Poly1305()
		info, ctx := []byte("info"), []byte("exporter context")
		priv, pub, err := cs.GenerateKeyPair(nil)
		if err != nil {
			t.Fatal(err)
		}
		goSK, err := c.kem.NewPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		enc, secret, err := cs.ExportBaseS(pub, info, ctx, 32)
		if err != nil {
			t.Fatal(err)
		}
		rcv, err := hpke.NewRecipient(enc, goSK, kdf, aead, info)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := rcv.Export(string(ctx), 32); err != nil || !bytes.Equal(got, secret) {
			t.Errorf("suite 0x%04x: crypto/hpke receiver got %x, %v; want %x", uint16(c.id), got, err, secret)
		}
		enc, snd, err := hpke.NewSender(goSK.PublicKey(), kdf, aead, info)
		if err != nil {
			t.Fatal(err)
		}
		want, err := snd.Export(string(ctx), 32)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := cs.ExportBaseR(priv, enc, info, ctx, 32); err != nil || !bytes.Equal(got, want) {
			t.Errorf("suite 0x%04x: ExportBaseR of crypto/hpke's kem_output = %x, %v; want %x", uint16(c.id), got, err, want)
		}
	}
}

// TestExportBaseUsesProviderRand: the default provider draws the ephemeral
// key of its circl-based KEMs from the provider's reader, so a deterministic
// reader gives a deterministic export (like SealBase). Its NIST-curve KEMs
// use crypto/hpke, which reads the system's source only.
func TestExportBaseUsesProviderRand(t *testing.T) {
	for _, id := range []codec.CipherSuite{1, 3, 4, 6, providers.CipherSuiteXWing} {
		export := func() ([]byte, []byte) {
			cs, err := defaultcrypto.New(defaultcrypto.WithRand(reader(7))).CipherSuite(id)
			if err != nil {
				t.Fatal(err)
			}
			_, pub, err := cs.DeriveKeyPair([]byte("ikm"))
			if err != nil {
				t.Fatal(err)
			}
			enc, secret, err := cs.ExportBaseS(pub, []byte("info"), nil, 32)
			if err != nil {
				t.Fatal(err)
			}
			return enc, secret
		}
		e1, s1 := export()
		e2, s2 := export()
		if !bytes.Equal(e1, e2) || !bytes.Equal(s1, s2) {
			t.Errorf("suite 0x%04x: the same provider reader gave different exports", uint16(id))
		}
	}
}
