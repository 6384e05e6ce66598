package providers_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha3"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// TestXWingCrossCheck checks the default provider's X-Wing suite (circl's
// HPKE KEM_XWING) against Go's crypto/hpke MLKEM768X25519 (a.k.a. X-Wing,
// draft-ietf-hpke-pq), with HKDF-SHA256 and ChaCha20-Poly1305 as in suite
// 0x004D:
//
//   - both use HPKE KEM id 0x647a;
//   - private keys are the same 32-byte seed and give the same public key;
//   - what one seals the other opens, both ways;
//   - DeriveKeyPair agrees: both take the seed from draft-ietf-hpke-pq's
//     labeled one-stage derivation, SHAKE256(ikm || "HPKE-v1" || "KEM" ||
//     0x647a || 0x000d || "DeriveKeyPair" || 0x0020) to 32 bytes (checked
//     against the formula below, and against the draft's vectors in
//     TestXWingVectors); the unlabeled derivation of X-Wing's own draft,
//     SHAKE256(ikm, 32), is only used when asked for
//     (WithUnlabeledXWingDeriveKeyPair).
//
// The stdlib provider does not offer suite 0x004D (the standard library
// exports no ChaCha20-Poly1305 AEAD for the MLS layer), so crypto/hpke
// stands in for it here.
func TestXWingCrossCheck(t *testing.T) {
	cs, err := defaultcrypto.New().CipherSuite(providers.CipherSuiteXWing)
	if err != nil {
		t.Fatal(err)
	}
	unlabeled, err := defaultcrypto.New(defaultcrypto.WithUnlabeledXWingDeriveKeyPair()).CipherSuite(providers.CipherSuiteXWing)
	if err != nil {
		t.Fatal(err)
	}
	goKEM := hpke.MLKEM768X25519()
	if goKEM.ID() != 0x647a {
		t.Errorf("crypto/hpke MLKEM768X25519 id = 0x%04x, want 0x647a", goKEM.ID())
	}
	kdf, aead := hpke.HKDFSHA256(), hpke.ChaCha20Poly1305()
	info := []byte("mlskit x-wing cross check")
	aad := []byte("aad")

	for i := range 8 {
		priv, pub, err := cs.GenerateKeyPair(nil)
		if err != nil {
			t.Fatal(err)
		}
		goPriv, err := goKEM.NewPrivateKey(priv)
		if err != nil {
			t.Fatalf("crypto/hpke rejects circl's private key: %v", err)
		}
		if got := goPriv.PublicKey().Bytes(); !bytes.Equal(got, pub) {
			t.Fatalf("public keys differ for the same seed:\n circl %x...\n go    %x...", pub[:16], got[:16])
		}
		if b, _ := goPriv.Bytes(); !bytes.Equal(b, priv) {
			t.Errorf("crypto/hpke serializes the private key as %x, circl as %x", b, priv)
		}

		pt := make([]byte, 1+i*37)
		rand.Read(pt)

		// circl seals, Go opens.
		enc, ct, err := cs.SealBase(pub, info, aad, pt)
		if err != nil {
			t.Fatal(err)
		}
		r, err := hpke.NewRecipient(enc, goPriv, kdf, aead, info)
		if err != nil {
			t.Fatalf("crypto/hpke rejects circl's encapsulation: %v", err)
		}
		got, err := r.Open(aad, ct)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("crypto/hpke cannot open circl's ciphertext: %v", err)
		}

		// Go seals, circl opens.
		enc, s, err := hpke.NewSender(goPriv.PublicKey(), kdf, aead, info)
		if err != nil {
			t.Fatal(err)
		}
		ct, err = s.Seal(aad, pt)
		if err != nil {
			t.Fatal(err)
		}
		got, err = cs.OpenBase(priv, enc, info, aad, ct)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("circl cannot open crypto/hpke's ciphertext: %v", err)
		}
	}

	// DeriveKeyPair: same construction of the key from a seed, different
	// seed derivation from ikm.
	for _, n := range []int{0, 32, 64, 100} {
		ikm := make([]byte, n)
		rand.Read(ikm)
		circlPriv, circlPub, err := cs.DeriveKeyPair(ikm)
		if err != nil {
			t.Fatal(err)
		}
		goSK, err := goKEM.DeriveKeyPair(ikm)
		if err != nil {
			t.Fatal(err)
		}
		goPriv, _ := goSK.Bytes()

		var label []byte
		label = append(label, ikm...)
		label = append(label, "HPKE-v1KEM"...)
		label = binary.BigEndian.AppendUint16(label, 0x647a)
		label = binary.BigEndian.AppendUint16(label, uint16(len("DeriveKeyPair")))
		label = append(label, "DeriveKeyPair"...)
		label = binary.BigEndian.AppendUint16(label, 32)
		if want := sha3.SumSHAKE256(label, 32); !bytes.Equal(goPriv, want) {
			t.Errorf("crypto/hpke DeriveKeyPair(%d bytes) = %x, want labeled SHAKE256 = %x", n, goPriv, want)
		}
		if !bytes.Equal(circlPriv, goPriv) || !bytes.Equal(circlPub, goSK.PublicKey().Bytes()) {
			t.Errorf("DeriveKeyPair(%d bytes) differs from crypto/hpke: %x, want %x", n, circlPriv, goPriv)
		}
		// The unlabeled derivation, on request only.
		uPriv, uPub, err := unlabeled.DeriveKeyPair(ikm)
		if err != nil {
			t.Fatal(err)
		}
		if want := sha3.SumSHAKE256(ikm, 32); !bytes.Equal(uPriv, want[:]) {
			t.Errorf("unlabeled DeriveKeyPair(%d bytes) = %x, want SHAKE256(ikm, 32) = %x", n, uPriv, want)
		}
		if goU, err := goKEM.NewPrivateKey(uPriv); err != nil || !bytes.Equal(goU.PublicKey().Bytes(), uPub) {
			t.Errorf("crypto/hpke disagrees on the public key of the unlabeled derived key: %v", err)
		}
		// Each side's key is usable by the other.
		goFromCircl, err := goKEM.NewPrivateKey(circlPriv)
		if err != nil || !bytes.Equal(goFromCircl.PublicKey().Bytes(), circlPub) {
			t.Errorf("crypto/hpke disagrees on the public key of circl's derived key: %v", err)
		}
	}
}

// TestChaChaSuiteHPKEAgainstStdlib checks the HPKE of suite 0x0003, which
// the stdlib provider cannot offer as a whole (no exported ChaCha20-Poly1305
// AEAD), against crypto/hpke's DHKEM(X25519) + HKDF-SHA256 +
// ChaCha20-Poly1305: identical DeriveKeyPair, and each opens what the other
// sealed.
func TestChaChaSuiteHPKEAgainstStdlib(t *testing.T) {
	cs, err := defaultcrypto.New().CipherSuite(codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	goKEM, kdf, aead := hpke.DHKEM(ecdh.X25519()), hpke.HKDFSHA256(), hpke.ChaCha20Poly1305()
	info, aad := []byte("info"), []byte("aad")
	for n := range 10 {
		ikm := make([]byte, n*13)
		rand.Read(ikm)
		priv, pub, err := cs.DeriveKeyPair(ikm)
		if err != nil {
			t.Fatal(err)
		}
		goSK, err := goKEM.DeriveKeyPair(ikm)
		if err != nil {
			t.Fatal(err)
		}
		goPriv, _ := goSK.Bytes()
		if !bytes.Equal(priv, goPriv) || !bytes.Equal(pub, goSK.PublicKey().Bytes()) {
			t.Fatalf("DeriveKeyPair(%d bytes) differs from crypto/hpke", len(ikm))
		}
		pt := ikm
		enc, ct, err := cs.SealBase(pub, info, aad, pt)
		if err != nil {
			t.Fatal(err)
		}
		r, err := hpke.NewRecipient(enc, goSK, kdf, aead, info)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := r.Open(aad, ct); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("crypto/hpke cannot open: %v", err)
		}
		enc, s, err := hpke.NewSender(goSK.PublicKey(), kdf, aead, info)
		if err != nil {
			t.Fatal(err)
		}
		ct, _ = s.Seal(aad, pt)
		if got, err := cs.OpenBase(priv, enc, info, aad, ct); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("cannot open crypto/hpke's ciphertext: %v", err)
		}
	}
}

// TestXWingVectors checks suite 0x004D's HPKE against the published test
// vectors of draft-ietf-hpke-pq for KEM 0x647a (testdata/xwing-hpke-pq.json,
// from Go's crypto/hpke testdata): DeriveKeyPair(ikmR) gives skRm and pkRm
// for both entries; for the entry with HKDF-SHA256 and ChaCha20-Poly1305
// (the suite's HPKE), the first ciphertext opens to its plaintext and the
// exported values match.
func TestXWingVectors(t *testing.T) {
	data, err := os.ReadFile("testdata/xwing-hpke-pq.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			Mode        int    `json:"mode"`
			KEM         uint16 `json:"kem_id"`
			KDF         uint16 `json:"kdf_id"`
			AEAD        uint16 `json:"aead_id"`
			Info        string `json:"info"`
			IKMR        string `json:"ikmR"`
			SKRm        string `json:"skRm"`
			PKRm        string `json:"pkRm"`
			Enc         string `json:"enc"`
			Encryptions []struct {
				AAD, CT, PT string
			} `json:"encryptions"`
			Exports []struct {
				Context string `json:"exporter_context"`
				L       int    `json:"L"`
				Value   string `json:"exported_value"`
			} `json:"exports"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	cs, err := defaultcrypto.New().CipherSuite(providers.CipherSuiteXWing)
	if err != nil {
		t.Fatal(err)
	}
	unlabeled, err := defaultcrypto.New(defaultcrypto.WithUnlabeledXWingDeriveKeyPair()).CipherSuite(providers.CipherSuiteXWing)
	if err != nil {
		t.Fatal(err)
	}
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	derived, opened := 0, 0
	for i, v := range file.Vectors {
		if v.KEM != 0x647a || v.Mode != 0 {
			t.Fatalf("vector %d: kem 0x%04x mode %d", i, v.KEM, v.Mode)
		}
		priv, pub, err := cs.DeriveKeyPair(h(v.IKMR))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(priv, h(v.SKRm)) || !bytes.Equal(pub, h(v.PKRm)) {
			t.Errorf("vector %d: DeriveKeyPair(ikmR) = %x..., want skRm %x...", i, priv[:8], h(v.SKRm)[:8])
		}
		derived++
		if up, _, err := unlabeled.DeriveKeyPair(h(v.IKMR)); err != nil || bytes.Equal(up, h(v.SKRm)) {
			t.Errorf("vector %d: the unlabeled derivation matches the labeled vector (%v)", i, err)
		}
		// 0x004D's HPKE is HKDF-SHA256 (1) with ChaCha20-Poly1305 (3).
		if v.KDF != 1 || v.AEAD != 3 {
			continue
		}
		e := v.Encryptions[0]
		pt, err := cs.OpenBase(h(v.SKRm), h(v.Enc), h(v.Info), h(e.AAD), h(e.CT))
		if err != nil || !bytes.Equal(pt, h(e.PT)) {
			t.Errorf("vector %d: OpenBase: %v", i, err)
		}
		for j, x := range v.Exports {
			got, err := cs.ExportBaseR(h(v.SKRm), h(v.Enc), h(v.Info), h(x.Context), x.L)
			if err != nil || !bytes.Equal(got, h(x.Value)) {
				t.Errorf("vector %d export %d: %x, %v", i, j, got, err)
			}
		}
		opened++
	}
	if derived != 2 || opened != 1 {
		t.Fatalf("%d DeriveKeyPair and %d open/export vectors checked, want 2 and 1", derived, opened)
	}
}
