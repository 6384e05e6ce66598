package providers_test

import (
	"bytes"
	"crypto/rand"
	"errors"
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

// TestDecryptWithLabelLargeContext: a large context (a Welcome's encrypted
// GroupInfo) decrypts as a small one does — through SplitInfoOpener where
// the suite has it — and another context or label does not.
func TestDecryptWithLabelLargeContext(t *testing.T) {
	eachSuite(t, func(t *testing.T, cs providers.CipherSuite) {
		priv, pub, err := cs.GenerateKeyPair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1000, 1025, 70000} {
			ctx := bytes.Repeat([]byte{byte(n)}, n)
			kem, ct, err := providers.EncryptWithLabel(cs, pub, "Welcome", ctx, []byte("group secrets"))
			if err != nil {
				t.Fatal(err)
			}
			pt, err := providers.DecryptWithLabel(cs, priv, "Welcome", ctx, kem, ct)
			if err != nil || !bytes.Equal(pt, []byte("group secrets")) {
				t.Fatalf("%d-byte context: %q, %v", n, pt, err)
			}
			other := bytes.Clone(ctx)
			other[n-1] ^= 1
			if _, err := providers.DecryptWithLabel(cs, priv, "Welcome", other, kem, ct); !errors.Is(err, providers.ErrDecryption) {
				t.Fatalf("%d-byte context: another context: %v", n, err)
			}
			if _, err := providers.DecryptWithLabel(cs, priv, "Welcomf", ctx, kem, ct); !errors.Is(err, providers.ErrDecryption) {
				t.Fatalf("%d-byte context: another label: %v", n, err)
			}
		}
	})
}

// TestDecryptWithLabelKeyPair: given the recipient's public key, it opens
// what EncryptWithLabel sealed, small or large context, through the suite's
// optional openers or without them (a suite wrapped to hide them), and
// nothing sealed with another context or to another key; with a public
// key that is not the private key's it fails or, for a KEM whose context
// does not hold pk(skR), opens the same plaintext.
func TestDecryptWithLabelKeyPair(t *testing.T) {
	type plain struct{ providers.CipherSuite }
	eachSuite(t, func(t *testing.T, cs providers.CipherSuite) {
		priv, pub, err := cs.GenerateKeyPair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		other, otherPub, err := cs.GenerateKeyPair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		want := []byte("group secrets")
		for _, n := range []int{10, 1024, 1025, 70000} {
			ctx := bytes.Repeat([]byte{byte(n)}, n)
			kem, ct, err := providers.EncryptWithLabel(cs, pub, "Welcome", ctx, want)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []providers.CipherSuite{cs, plain{cs}} {
				pt, err := providers.DecryptWithLabelKeyPair(s, priv, pub, "Welcome", ctx, kem, ct)
				if err != nil || !bytes.Equal(pt, want) {
					t.Fatalf("%d-byte context (%T): %q, %v", n, s, pt, err)
				}
			}
			bad := bytes.Clone(ctx)
			bad[n/2] ^= 1
			if _, err := providers.DecryptWithLabelKeyPair(cs, priv, pub, "Welcome", bad, kem, ct); !errors.Is(err, providers.ErrDecryption) {
				t.Fatalf("%d-byte context: another context: %v", n, err)
			}
			if _, err := providers.DecryptWithLabelKeyPair(cs, other, otherPub, "Welcome", ctx, kem, ct); !errors.Is(err, providers.ErrDecryption) {
				t.Fatalf("%d-byte context: another key pair: %v", n, err)
			}
			if pt, err := providers.DecryptWithLabelKeyPair(cs, priv, otherPub, "Welcome", ctx, kem, ct); err == nil && !bytes.Equal(pt, want) {
				t.Fatalf("%d-byte context: another public key opened %q", n, pt)
			}
		}
	})
}

// TestOpenBaseSplitInfo: providers.OpenBaseSplitInfo(head, tail), through
// the suite's SplitInfoOpener or (a suite wrapped to hide it) OpenBase,
// opens what SealBase sealed with the info head || tail wherever the info
// is split, with or without the recipient's public key, and nothing sealed
// with another info, aad, kem_output or private key. With a public key
// that is not the private key's it fails or, for a suite that does not use
// it, opens the same plaintext: never another one.
func TestOpenBaseSplitInfo(t *testing.T) {
	type plain struct{ providers.CipherSuite }
	eachSuite(t, func(t *testing.T, cs providers.CipherSuite) {
		if _, ok := cs.(providers.SplitInfoOpener); !ok {
			t.Log("no SplitInfoOpener: the OpenBase fallback only")
		}
		priv, pub, err := cs.GenerateKeyPair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		other, otherPub, err := cs.GenerateKeyPair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		info := bytes.Repeat([]byte("info "), 400)
		aad := []byte("aad")
		want := []byte("secret")
		kem, ct, err := cs.SealBase(pub, info, aad, want)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []providers.CipherSuite{cs, plain{cs}} {
			for _, p := range [][]byte{nil, pub} {
				open := func(priv, kem, head, tail, aad []byte) ([]byte, error) {
					return providers.OpenBaseSplitInfo(s, priv, p, kem, head, tail, aad, ct)
				}
				for _, cut := range []int{0, 1, 64, 1000, len(info)} {
					pt, err := open(priv, kem, info[:cut], info[cut:], aad)
					if err != nil || !bytes.Equal(pt, want) {
						t.Fatalf("%T, pub %x: split at %d: %q, %v", s, p, cut, pt, err)
					}
				}
				if _, err := open(priv, kem, info[:10], info[11:], aad); !errors.Is(err, providers.ErrDecryption) {
					t.Fatalf("%T, pub %x: another info: %v", s, p, err)
				}
				if _, err := open(priv, kem, info, nil, nil); !errors.Is(err, providers.ErrDecryption) {
					t.Fatalf("%T, pub %x: another aad: %v", s, p, err)
				}
				if _, err := open(priv, kem[1:], info, nil, aad); !errors.Is(err, providers.ErrInvalidKEMOutput) {
					t.Fatalf("%T, pub %x: truncated kem_output: %v", s, p, err)
				}
				// An altered kem_output is not a point of a NIST curve, or
				// (X25519, X448, X-Wing) decapsulates to another shared
				// secret.
				bad := bytes.Clone(kem)
				bad[len(bad)/2] ^= 1
				if _, err := open(priv, bad, info, nil, aad); !errors.Is(err, providers.ErrInvalidKEMOutput) && !errors.Is(err, providers.ErrDecryption) {
					t.Fatalf("%T, pub %x: altered kem_output: %v", s, p, err)
				}
				if _, err := open(priv[1:], kem, info, nil, aad); !errors.Is(err, providers.ErrInvalidPrivateKey) {
					t.Fatalf("%T, pub %x: truncated private key: %v", s, p, err)
				}
				if _, err := open(other, kem, info, nil, aad); !errors.Is(err, providers.ErrDecryption) {
					t.Fatalf("%T, pub %x: another private key: %v", s, p, err)
				}
			}
			// A public key that is not priv's (TestSealBaseMatchesCircl in
			// defaultcrypto: the X25519 and X448 suites fail).
			if pt, err := providers.OpenBaseSplitInfo(s, priv, otherPub, kem, info[:1], info[1:], aad, ct); err == nil && !bytes.Equal(pt, want) {
				t.Fatalf("%T: another public key opened %q", s, pt)
			}
		}
	})
}

// TestEncryptContextInPlace: the EncryptContext written around content in
// place equals EncryptContext's, for contents of every varint length
// class; too little room or a range past the buffer is refused.
func TestEncryptContextInPlace(t *testing.T) {
	const label = "Welcome"
	room := providers.SignContentRoom(label)
	for _, n := range []int{0, 63, 64, 16383, 16384, 70000} {
		content := bytes.Repeat([]byte{byte(n + 1)}, n)
		want, err := providers.EncryptContext(label, content)
		if err != nil {
			t.Fatal(err)
		}
		buf := append(append(make([]byte, room), content...), "trailer"...)
		got, err := providers.EncryptContextInPlace(label, buf, room, n)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: in place differs from EncryptContext", n)
		}
		if _, err := providers.EncryptContextInPlace(label, buf, 3, n); !errors.Is(err, providers.ErrInvalidLength) {
			t.Fatalf("%d bytes: 3 bytes of room: %v", n, err)
		}
		if _, err := providers.EncryptContextInPlace(label, buf, room, len(buf)); !errors.Is(err, providers.ErrInvalidLength) {
			t.Fatalf("%d bytes: past the buffer: %v", n, err)
		}
	}
}

// TestVerifyWithLabelInPlace: verifying content in place, with the header
// of SignContent written before it, agrees with VerifyWithLabel, for a
// valid signature and for altered content, label and signature; too
// little room is refused. Signing in place (SignWithLabelInPlace) gives
// signatures VerifyWithLabel accepts, for that label only.
func TestVerifyWithLabelInPlace(t *testing.T) {
	eachSuite(t, func(t *testing.T, cs providers.CipherSuite) {
		priv, pub, err := cs.GenerateSignatureKeyPair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := cs.NewSigner(priv)
		if err != nil {
			t.Fatal(err)
		}
		const label = "GroupInfoTBS"
		room := providers.SignContentRoom(label)
		for _, n := range []int{0, 63, 64, 20000} {
			content := bytes.Repeat([]byte{byte(n + 1)}, n)
			sig, err := providers.SignWithLabel(signer, label, content)
			if err != nil {
				t.Fatal(err)
			}
			inPlace := func(content []byte, label string, sig []byte) error {
				buf := append(make([]byte, room), content...)
				buf = append(buf, "trailer"...)
				return providers.VerifyWithLabelInPlace(cs, pub, label, buf, room, len(content), sig)
			}
			if err := inPlace(content, label, sig); err != nil {
				t.Fatalf("%d bytes: %v", n, err)
			}
			if err := providers.VerifyWithLabel(cs, pub, label, content, sig); err != nil {
				t.Fatalf("%d bytes: VerifyWithLabel: %v", n, err)
			}
			longer := append(bytes.Clone(content), 0)
			if err := inPlace(longer, label, sig); !errors.Is(err, providers.ErrInvalidSignature) {
				t.Fatalf("%d bytes: longer content: %v", n, err)
			}
			if err := inPlace(content, "GroupInfoTBT", sig); !errors.Is(err, providers.ErrInvalidSignature) {
				t.Fatalf("%d bytes: another label: %v", n, err)
			}
			bad := bytes.Clone(sig)
			bad[len(bad)/2] ^= 1
			if err := inPlace(content, label, bad); !errors.Is(err, providers.ErrInvalidSignature) {
				t.Fatalf("%d bytes: altered signature: %v", n, err)
			}
			// Signing in place verifies as SignWithLabel's signature does.
			sbuf := append(append(make([]byte, room), content...), "trailer"...)
			sig2, err := providers.SignWithLabelInPlace(signer, label, sbuf, room, n)
			if err != nil {
				t.Fatalf("%d bytes: SignWithLabelInPlace: %v", n, err)
			}
			if err := providers.VerifyWithLabel(cs, pub, label, content, sig2); err != nil {
				t.Fatalf("%d bytes: signed in place: %v", n, err)
			}
			if err := providers.VerifyWithLabel(cs, pub, "GroupInfoTBT", content, sig2); !errors.Is(err, providers.ErrInvalidSignature) {
				t.Fatalf("%d bytes: signed in place, another label: %v", n, err)
			}
			if _, err := providers.SignWithLabelInPlace(signer, label, sbuf, 3, n); !errors.Is(err, providers.ErrInvalidLength) {
				t.Fatalf("%d bytes: signing with 3 bytes of room: %v", n, err)
			}
			if _, err := providers.SignWithLabelInPlace(signer, label, sbuf, room, len(sbuf)); !errors.Is(err, providers.ErrInvalidLength) {
				t.Fatalf("%d bytes: signing past the buffer: %v", n, err)
			}
			buf := append(make([]byte, 3), content...)
			if err := providers.VerifyWithLabelInPlace(cs, pub, label, buf, 3, n, sig); !errors.Is(err, providers.ErrInvalidLength) {
				t.Fatalf("%d bytes: 3 bytes of room: %v", n, err)
			}
			if err := providers.VerifyWithLabelInPlace(cs, pub, label, buf, 3, n+1, sig); !errors.Is(err, providers.ErrInvalidLength) {
				t.Fatalf("%d bytes: past the buffer: %v", n, err)
			}
		}
	})
}
