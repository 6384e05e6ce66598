package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"
	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

type welcomeVectorCase struct {
	CipherSuite uint16               `json:"cipher_suite"`
	InitPriv    testvectors.HexBytes `json:"init_priv"`
	SignerPub   testvectors.HexBytes `json:"signer_pub"`
	KeyPackage  testvectors.HexBytes `json:"key_package"`
	Welcome     testvectors.HexBytes `json:"welcome"`
}

// wvDecode decodes an MLSMessage of the vectors.
func wvDecode(t *testing.T, b []byte) *codec.MLSMessage {
	t.Helper()
	var m codec.MLSMessage
	if err := m.Unmarshal(b); err != nil {
		t.Fatalf("MLSMessage: %v", err)
	}
	return &m
}

// TestWelcomeVectors runs welcome.json (RFC 9420 §12.4.3.1): find the entry
// for key_package, decrypt the GroupSecrets with init_priv and the GroupInfo,
// verify the GroupInfo signature with signer_pub and the confirmation tag of
// the epoch the joiner_secret starts.
func TestWelcomeVectors(t *testing.T) {
	var cases []welcomeVectorCase
	testvectors.Load(t, "welcome.json", &cases)
	ran := testvectors.Expect(t, "welcome.json", len(cases))
	p := defaultcrypto.New()
	passed := 0
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d/suite%d", i, c.CipherSuite), func(t *testing.T) {
			cs, err := p.CipherSuite(codec.CipherSuite(c.CipherSuite))
			if err != nil {
				t.Fatal(err)
			}
			kpMsg, wMsg := wvDecode(t, c.KeyPackage), wvDecode(t, c.Welcome)
			if kpMsg.KeyPackage == nil || wMsg.Welcome == nil {
				t.Fatal("vector messages are not a KeyPackage and a Welcome")
			}
			kp, w := kpMsg.KeyPackage, wMsg.Welcome
			ref, err := KeyPackageRef(cs, kp)
			if err != nil {
				t.Fatal(err)
			}
			find := func(r codec.KeyPackageRef) (*KeyPackageBundle, error) {
				if !bytes.Equal(r, ref) {
					return nil, ErrNotFound
				}
				return &KeyPackageBundle{KeyPackage: *kp, Ref: ref, InitPrivateKey: bytes.Clone(c.InitPriv)}, nil
			}
			signerKey := func(gi *codec.GroupInfo) ([]byte, error) { return c.SignerPub, nil }
			o, err := openWelcome(cs, w, find, pskResolver{}, signerKey)
			if err != nil {
				t.Fatalf("openWelcome: %v", err)
			}
			defer o.zero()
			if len(o.GroupSecrets.Psks) != 0 || o.PSKSecret != nil {
				t.Errorf("vector has no PSKs, got %d", len(o.GroupSecrets.Psks))
			}
			if !bytes.Equal(o.Epoch.Joiner, o.GroupSecrets.JoinerSecret) {
				t.Error("epoch joiner secret differs from GroupSecrets")
			}
			// The same checks fail with another signer key or a tag flipped.
			if _, err := openWelcome(cs, w, find, pskResolver{}, func(*codec.GroupInfo) ([]byte, error) { return kp.LeafNode.SignatureKey, nil }); !errors.Is(err, ErrInvalidGroupInfoSignature) {
				t.Errorf("wrong signer key: got %v, want ErrInvalidGroupInfoSignature", err)
			}
			d, err := decryptWelcome(cs, w, find, pskResolver{})
			if err != nil {
				t.Fatal(err)
			}
			d.GroupInfo.ConfirmationTag[0] ^= 1
			if _, err := d.verify(cs, c.SignerPub); !errors.Is(err, ErrInvalidGroupInfoSignature) {
				t.Errorf("tampered tag under the signature: got %v, want ErrInvalidGroupInfoSignature", err)
			}
			passed++
			ran.Ran()
		})
	}
	t.Logf("welcome.json: %d of %d cases passed (decrypt, signature with signer_pub, confirmation tag), 0 skipped", passed, len(cases))
}

// welcomeFixture is a group epoch for which Welcomes are sealed: a signed
// GroupInfo whose confirmation tag is right for joinerSecret and the PSKs.
type welcomeFixture struct {
	p        providers.Provider
	cs       providers.CipherSuite
	signer   *SignatureKeyPair
	joiner   []byte
	psks     []codec.PreSharedKeyID
	pskStore *memstore.Store
	pskSec   keyschedule.Secret
	gi       codec.GroupInfo
}

// newWelcomeFixture makes a GroupInfo of suite for an epoch started from a
// random joiner_secret with nPSK external PSKs stored in a memstore.
func newWelcomeFixture(t testing.TB, p providers.Provider, suite codec.CipherSuite, nPSK int, badTag bool) *welcomeFixture {
	t.Helper()
	cs, err := p.CipherSuite(suite)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := GenerateSignatureKeyPair(p, suite)
	if err != nil {
		t.Fatal(err)
	}
	f := &welcomeFixture{p: p, cs: cs, signer: signer, pskStore: memstore.New()}
	f.joiner = make([]byte, cs.HashSize())
	p.Rand().Read(f.joiner)
	for i := range nPSK {
		id := []byte(fmt.Sprintf("psk-%d", i))
		if err := StoreExternalPSK(f.pskStore, id, []byte(fmt.Sprintf("value of psk %d", i))); err != nil {
			t.Fatal(err)
		}
		pid, err := NewExternalPSKID(p, cs, id)
		if err != nil {
			t.Fatal(err)
		}
		f.psks = append(f.psks, pid)
	}
	if f.pskSec, err = f.resolver().pskSecret(cs, f.psks); err != nil {
		t.Fatal(err)
	}
	f.gi = codec.GroupInfo{
		GroupContext: codec.GroupContext{
			CipherSuite:             suite,
			GroupID:                 []byte("welcome test group"),
			Epoch:                   7,
			TreeHash:                bytes.Repeat([]byte{0x11}, cs.HashSize()),
			ConfirmedTranscriptHash: bytes.Repeat([]byte{0x22}, cs.HashSize()),
			Extensions:              []codec.Extension{},
		},
		Extensions: []codec.Extension{{ExtensionType: 0xff00, ExtensionData: []byte("x")}},
		Signer:     3,
	}
	ctx, err := f.gi.GroupContext.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ep, err := keyschedule.FromJoiner(cs, f.joiner, f.pskSec, ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.gi.ConfirmationTag = keyschedule.ConfirmationTag(cs, ep.Confirmation, f.gi.GroupContext.ConfirmedTranscriptHash)
	ep.Zero()
	if badTag {
		f.gi.ConfirmationTag[len(f.gi.ConfirmationTag)-1] ^= 0x80
	}
	if err := SignGroupInfo(signer, &f.gi); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *welcomeFixture) resolver() pskResolver { return pskResolver{store: f.pskStore} }

func (f *welcomeFixture) signerKey(*codec.GroupInfo) ([]byte, error) {
	return f.signer.PublicKey(), nil
}

// newRecipients builds n key packages with the builder of keypackage.go and
// stores them in a memstore.
func newRecipients(t testing.TB, p providers.Provider, suite codec.CipherSuite, n int) ([]*KeyPackageBundle, *memstore.Store) {
	t.Helper()
	store := memstore.New()
	b := newBuilder(t, p, suite)
	out := make([]*KeyPackageBundle, n)
	for i := range out {
		kb, err := b.BuildAndStore(store)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = kb
	}
	return out, store
}

func (f *welcomeFixture) seal(t testing.TB, kbs []*KeyPackageBundle, withPath bool) *codec.Welcome {
	t.Helper()
	rs := make([]welcomeRecipient, len(kbs))
	for i, kb := range kbs {
		rs[i].KeyPackage = &kb.KeyPackage
		if withPath {
			rs[i].PathSecret = bytes.Repeat([]byte{byte(i + 1)}, f.cs.HashSize())
		}
	}
	w, err := sealWelcome(f.cs, &f.gi, f.joiner, f.pskSec, f.psks, rs)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestWelcomeRoundTrip seals Welcomes for several key packages in every
// suite and opens each from the recipients' stores.
func TestWelcomeRoundTrip(t *testing.T) {
	p := defaultcrypto.New()
	for _, suite := range p.CipherSuites() {
		for _, nPSK := range []int{0, 2} {
			t.Run(fmt.Sprintf("%v/psks=%d", suite, nPSK), func(t *testing.T) {
				f := newWelcomeFixture(t, p, suite, nPSK, false)
				kbs, store := newRecipients(t, p, suite, 5) // ≥ welcomeParallelMin
				w := f.seal(t, kbs, true)
				// The Welcome goes over the wire.
				enc, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSWelcome, Welcome: w}).Marshal()
				if err != nil {
					t.Fatal(err)
				}
				w = wvDecode(t, enc).Welcome
				if len(w.Secrets) != len(kbs) {
					t.Fatalf("%d secrets for %d recipients", len(w.Secrets), len(kbs))
				}
				for i, kb := range kbs {
					if !bytes.Equal(w.Secrets[i].NewMember, kb.Ref) {
						t.Fatalf("secrets[%d] is not for recipient %d", i, i)
					}
					// Each recipient only knows its own key package.
					own := memstore.New()
					if err := kb.Store(own); err != nil {
						t.Fatal(err)
					}
					o, err := openWelcome(f.cs, w, StoreKeyPackageFinder(own), f.resolver(), f.signerKey)
					if err != nil {
						t.Fatalf("recipient %d: %v", i, err)
					}
					if o.Index != i || !bytes.Equal(o.Bundle.Ref, kb.Ref) {
						t.Errorf("recipient %d matched entry %d", i, o.Index)
					}
					if !bytes.Equal(o.GroupSecrets.JoinerSecret, f.joiner) {
						t.Error("joiner_secret differs")
					}
					if o.GroupSecrets.PathSecret == nil || !bytes.Equal(o.GroupSecrets.PathSecret.PathSecret, bytes.Repeat([]byte{byte(i + 1)}, f.cs.HashSize())) {
						t.Error("path_secret differs")
					}
					if len(o.GroupSecrets.Psks) != nPSK || !bytes.Equal(o.PSKSecret, f.pskSec) {
						t.Error("PSKs differ")
					}
					if o.GroupInfo.GroupContext.Epoch != 7 || o.GroupInfo.Signer != 3 {
						t.Error("GroupInfo differs")
					}
					o.zero()
					if !allZero(o.GroupSecrets.JoinerSecret) || !allZero(o.Bundle.InitPrivateKey) || !allZero(o.Epoch.Confirmation) {
						t.Error("zero left secrets")
					}
				}
				// A client holding all key packages matches the first.
				o, err := openWelcome(f.cs, w, StoreKeyPackageFinder(store), f.resolver(), f.signerKey)
				if err != nil || o.Index != 0 {
					t.Fatalf("store with all key packages: index %v, %v", o, err)
				}
				// Without a path secret the GroupSecrets carry none.
				w2 := f.seal(t, kbs[:1], false)
				o, err = openWelcome(f.cs, w2, StoreKeyPackageFinder(store), f.resolver(), f.signerKey)
				if err != nil || o.GroupSecrets.PathSecret != nil {
					t.Fatalf("no path secret: %v", err)
				}
			})
		}
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// TestWelcomeNegative checks that every failure of §12.4.3.1 gives its
// specific error.
func TestWelcomeNegative(t *testing.T) {
	p := defaultcrypto.New()
	suite := testSuite
	f := newWelcomeFixture(t, p, suite, 1, false)
	kbs, store := newRecipients(t, p, suite, 2)
	w := f.seal(t, kbs[:1], true)
	find := StoreKeyPackageFinder(store)
	clone := func() *codec.Welcome {
		enc, err := w.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var c codec.Welcome
		if err := c.Unmarshal(enc); err != nil {
			t.Fatal(err)
		}
		return &c
	}
	open := func(w *codec.Welcome, find KeyPackageFinder, r pskResolver, sk SignerKeyFunc) error {
		o, err := openWelcome(f.cs, w, find, r, sk)
		if err == nil {
			o.zero()
		}
		return err
	}
	if err := open(w, find, f.resolver(), f.signerKey); err != nil {
		t.Fatalf("baseline: %v", err)
	}

	t.Run("wrong key package", func(t *testing.T) {
		other := memstore.New()
		if err := kbs[1].Store(other); err != nil {
			t.Fatal(err)
		}
		if err := open(w, StoreKeyPackageFinder(other), f.resolver(), f.signerKey); !errors.Is(err, ErrNoMatchingKeyPackage) {
			t.Fatalf("got %v, want ErrNoMatchingKeyPackage", err)
		}
		if err := open(w, StoreKeyPackageFinder(memstore.New()), f.resolver(), f.signerKey); !errors.Is(err, ErrNoMatchingKeyPackage) {
			t.Fatalf("empty store: got %v, want ErrNoMatchingKeyPackage", err)
		}
	})
	t.Run("finder failure", func(t *testing.T) {
		boom := errors.New("storage down")
		err := open(w, func(codec.KeyPackageRef) (*KeyPackageBundle, error) { return nil, boom }, f.resolver(), f.signerKey)
		if !errors.Is(err, boom) || errors.Is(err, ErrNoMatchingKeyPackage) {
			t.Fatalf("got %v, want the storage error", err)
		}
	})
	t.Run("wrong init key", func(t *testing.T) {
		err := open(w, func(r codec.KeyPackageRef) (*KeyPackageBundle, error) {
			b, err := LoadKeyPackageBundle(store, r)
			if err == nil {
				b.InitPrivateKey = kbs[1].InitPrivateKey
			}
			return b, err
		}, f.resolver(), f.signerKey)
		if !errors.Is(err, ErrWelcomeDecryption) || !errors.Is(err, providers.ErrDecryption) {
			t.Fatalf("got %v, want ErrWelcomeDecryption", err)
		}
	})
	t.Run("tampered encrypted group info", func(t *testing.T) {
		for _, pos := range []int{0, len(w.EncryptedGroupInfo) / 2, len(w.EncryptedGroupInfo) - 1} {
			c := clone()
			c.EncryptedGroupInfo[pos] ^= 0x01
			if err := open(c, find, f.resolver(), f.signerKey); !errors.Is(err, ErrWelcomeDecryption) {
				t.Fatalf("byte %d: got %v, want ErrWelcomeDecryption", pos, err)
			}
		}
	})
	t.Run("group info under another welcome key", func(t *testing.T) {
		// GroupSecrets that decrypt but carry another joiner_secret: the
		// GroupInfo AEAD must fail.
		c := clone()
		gs := codec.GroupSecrets{JoinerSecret: bytes.Repeat([]byte{9}, f.cs.HashSize()), Psks: f.psks}
		pt, _ := gs.Marshal()
		kem, ct, err := providers.EncryptWithLabel(f.cs, kbs[0].KeyPackage.InitKey, labelWelcome, c.EncryptedGroupInfo, pt)
		if err != nil {
			t.Fatal(err)
		}
		c.Secrets[0].EncryptedGroupSecrets = codec.HPKECiphertext{KEMOutput: kem, Ciphertext: ct}
		err = open(c, find, f.resolver(), f.signerKey)
		if !errors.Is(err, ErrWelcomeDecryption) || !errors.Is(err, providers.ErrDecryption) {
			t.Fatalf("got %v, want ErrWelcomeDecryption", err)
		}
	})
	t.Run("tampered group secrets", func(t *testing.T) {
		for _, field := range []string{"kem_output", "ciphertext"} {
			c := clone()
			hc := &c.Secrets[0].EncryptedGroupSecrets
			if field == "kem_output" {
				hc.KEMOutput[len(hc.KEMOutput)-1] ^= 0x04
			} else {
				hc.Ciphertext[0] ^= 0x04
			}
			if err := open(c, find, f.resolver(), f.signerKey); !errors.Is(err, ErrWelcomeDecryption) {
				t.Fatalf("%s: got %v, want ErrWelcomeDecryption", field, err)
			}
		}
	})
	t.Run("undecodable group secrets", func(t *testing.T) {
		c := clone()
		kem, ct, err := providers.EncryptWithLabel(f.cs, kbs[0].KeyPackage.InitKey, labelWelcome, c.EncryptedGroupInfo, []byte{0xff, 0xff})
		if err != nil {
			t.Fatal(err)
		}
		c.Secrets[0].EncryptedGroupSecrets = codec.HPKECiphertext{KEMOutput: kem, Ciphertext: ct}
		if err := open(c, find, f.resolver(), f.signerKey); !errors.Is(err, ErrMalformedWelcome) {
			t.Fatalf("got %v, want ErrMalformedWelcome", err)
		}
	})
	t.Run("wrong signature key", func(t *testing.T) {
		other, err := GenerateSignatureKeyPair(p, suite)
		if err != nil {
			t.Fatal(err)
		}
		err = open(w, find, f.resolver(), func(*codec.GroupInfo) ([]byte, error) { return other.PublicKey(), nil })
		if !errors.Is(err, ErrInvalidGroupInfoSignature) || !errors.Is(err, providers.ErrInvalidSignature) {
			t.Fatalf("got %v, want ErrInvalidGroupInfoSignature", err)
		}
		err = open(w, find, f.resolver(), func(*codec.GroupInfo) ([]byte, error) { return []byte{1, 2, 3}, nil })
		if !errors.Is(err, ErrInvalidGroupInfoSignature) {
			t.Fatalf("undecodable key: got %v, want ErrInvalidGroupInfoSignature", err)
		}
		blank := errors.New("leaf is blank")
		if err := open(w, find, f.resolver(), func(*codec.GroupInfo) ([]byte, error) { return nil, blank }); !errors.Is(err, blank) {
			t.Fatalf("signer key error: got %v", err)
		}
	})
	t.Run("wrong confirmation tag", func(t *testing.T) {
		bad := newWelcomeFixture(t, p, suite, 0, true)
		wb := bad.seal(t, kbs[:1], false)
		err := open(wb, find, bad.resolver(), bad.signerKey)
		if !errors.Is(err, ErrWelcomeConfirmationTag) || !errors.Is(err, keyschedule.ErrInvalidConfirmationTag) {
			t.Fatalf("got %v, want ErrWelcomeConfirmationTag", err)
		}
	})
	t.Run("missing PSK", func(t *testing.T) {
		err := open(w, find, pskResolver{store: memstore.New()}, f.signerKey)
		var me *MissingPSKError
		if !errors.Is(err, ErrMissingPSK) || !errors.As(err, &me) || !bytes.Equal(me.ID.PSKID, f.psks[0].PSKID) || !errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v, want a MissingPSKError for %x", err, f.psks[0].PSKID)
		}
		if err := open(w, find, pskResolver{}, f.signerKey); !errors.Is(err, ErrMissingPSK) {
			t.Fatalf("no store: got %v, want ErrMissingPSK", err)
		}
	})
	t.Run("wrong PSK value", func(t *testing.T) {
		s := memstore.New()
		if err := StoreExternalPSK(s, f.psks[0].PSKID, []byte("another value")); err != nil {
			t.Fatal(err)
		}
		if err := open(w, find, pskResolver{store: s}, f.signerKey); !errors.Is(err, ErrWelcomeDecryption) {
			t.Fatalf("got %v, want ErrWelcomeDecryption", err)
		}
	})
	t.Run("bad psk nonce", func(t *testing.T) {
		bad := *f
		bad.psks = []codec.PreSharedKeyID{f.psks[0]}
		bad.psks[0].PSKNonce = bad.psks[0].PSKNonce[:5]
		wb := bad.seal(t, kbs[:1], false)
		if err := open(wb, find, f.resolver(), f.signerKey); !errors.Is(err, RulePSKNonceLength) {
			t.Fatalf("got %v, want RulePSKNonceLength", err)
		}
	})
	t.Run("cipher suite mismatch", func(t *testing.T) {
		c := clone()
		c.CipherSuite = codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256
		if err := open(c, find, f.resolver(), f.signerKey); !errors.Is(err, ErrMalformedWelcome) {
			t.Fatalf("got %v, want ErrMalformedWelcome", err)
		}
		cs2, _ := p.CipherSuite(codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256)
		if _, err := openWelcome(cs2, w, find, f.resolver(), f.signerKey); !errors.Is(err, ErrMalformedWelcome) {
			t.Fatalf("opened with another suite: got %v, want ErrMalformedWelcome", err)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		if _, err := openWelcome(nil, w, find, f.resolver(), f.signerKey); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("nil suite: %v", err)
		}
		if _, err := openWelcome(f.cs, nil, find, f.resolver(), f.signerKey); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("nil welcome: %v", err)
		}
		if _, err := openWelcome(f.cs, w, find, f.resolver(), nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("nil signer key: %v", err)
		}
		if _, err := sealWelcome(f.cs, &f.gi, f.joiner, nil, nil, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("no recipients: %v", err)
		}
		kp2 := newBuilder(t, p, codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256)
		kb2, err := kp2.Build()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sealWelcome(f.cs, &f.gi, f.joiner, nil, nil, []welcomeRecipient{{KeyPackage: &kb2.KeyPackage}}); !errors.Is(err, RuleAddSuiteOrVersion) {
			t.Errorf("recipient of another suite: %v", err)
		}
		if _, err := sealWelcome(f.cs, &f.gi, f.joiner[:3], nil, nil, []welcomeRecipient{{KeyPackage: &kbs[0].KeyPackage}}); err == nil {
			t.Error("short joiner secret accepted")
		}
	})
	// Nothing above changed the stored key packages.
	if _, err := LoadKeyPackageBundle(store, kbs[0].Ref); err != nil {
		t.Fatalf("key package lost: %v", err)
	}
}

// BenchmarkSealWelcome measures building a Welcome for n new members
// (sealWelcome: one AEAD and n HPKE encryptions, concurrent from 4 members),
// next to n sequential EncryptWithLabel calls.
func BenchmarkSealWelcome(b *testing.B) {
	p := defaultcrypto.New()
	for _, n := range []int{1, 10, 100} {
		f := newWelcomeFixture(b, p, testSuite, 0, false)
		kbs, _ := newRecipients(b, p, testSuite, n)
		rs := make([]welcomeRecipient, n)
		for i := range rs {
			rs[i].KeyPackage = &kbs[i].KeyPackage
		}
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sealWelcome(f.cs, &f.gi, f.joiner, nil, nil, rs); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("ref-EncryptWithLabel-sequential/members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			pt := make([]byte, 40)
			for b.Loop() {
				for i := range rs {
					if _, _, err := providers.EncryptWithLabel(f.cs, rs[i].KeyPackage.InitKey, labelWelcome, pt, pt); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkOpenWelcome measures a new member decrypting and verifying a
// Welcome (HPKE decryption, AEAD, signature verification, key schedule).
func BenchmarkOpenWelcome(b *testing.B) {
	p := defaultcrypto.New()
	f := newWelcomeFixture(b, p, testSuite, 0, false)
	kbs, store := newRecipients(b, p, testSuite, 1)
	w := f.seal(b, kbs, true)
	find := StoreKeyPackageFinder(store)
	b.ReportAllocs()
	for b.Loop() {
		o, err := openWelcome(f.cs, w, find, pskResolver{}, f.signerKey)
		if err != nil {
			b.Fatal(err)
		}
		o.zero()
	}
}

// TestWelcomeBitFlips flips each bit position class (0x01, 0x80) of every
// byte of an encoded Welcome: each mutant either fails to decode or fails
// to open with an error, never panics, and never opens.
func TestWelcomeBitFlips(t *testing.T) {
	p := defaultcrypto.New()
	f := newWelcomeFixture(t, p, testSuite, 1, false)
	kbs, store := newRecipients(t, p, testSuite, 1)
	w := f.seal(t, kbs, true)
	enc, err := w.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	find := StoreKeyPackageFinder(store)
	decodeFail, openFail := 0, 0
	for i := range enc {
		for _, bit := range []byte{0x01, 0x80} {
			m := bytes.Clone(enc)
			m[i] ^= bit
			var mw codec.Welcome
			if err := mw.Unmarshal(m); err != nil {
				decodeFail++
				continue
			}
			o, err := openWelcome(f.cs, &mw, find, f.resolver(), f.signerKey)
			if err == nil {
				o.zero()
				t.Fatalf("byte %d bit %#x: mutated Welcome opened", i, bit)
			}
			openFail++
		}
	}
	if _, err := LoadKeyPackageBundle(store, kbs[0].Ref); err != nil {
		t.Fatalf("key package lost: %v", err)
	}
	t.Logf("%d mutants: %d did not decode, %d failed to open", decodeFail+openFail, decodeFail, openFail)
}

// TestPropertyWelcomeRoundTrip: for random suites, numbers of new members,
// PSKs and path secrets, every recipient opens the Welcome to the same
// joiner_secret, psk_secret and GroupInfo, with its own path secret, and
// the epoch it derives matches the committer's (RFC 9420 §12.4.3.1).
func TestPropertyWelcomeRoundTrip(t *testing.T) {
	n := 30
	if testing.Short() {
		n = 8
	}
	p := defaultcrypto.New()
	suites := p.CipherSuites()
	params := testseed.Gopter(t)
	params.MinSuccessfulTests = n
	props := gopter.NewProperties(params)
	props.Property("every recipient opens the Welcome", prop.ForAll(
		func(si uint8, members, nPSK uint8, pathMask uint8) string {
			suite := suites[int(si)%len(suites)]
			f := newWelcomeFixture(t, p, suite, int(nPSK%4), false)
			kbs, _ := newRecipients(t, p, suite, 1+int(members%6))
			rs := make([]welcomeRecipient, len(kbs))
			for i, kb := range kbs {
				rs[i].KeyPackage = &kb.KeyPackage
				if pathMask&(1<<i) != 0 {
					rs[i].PathSecret = bytes.Repeat([]byte{byte(0xa0 + i)}, f.cs.HashSize())
				}
			}
			w, err := sealWelcome(f.cs, &f.gi, f.joiner, f.pskSec, f.psks, rs)
			if err != nil {
				return err.Error()
			}
			ctx, _ := f.gi.GroupContext.Marshal()
			want, err := keyschedule.FromJoiner(f.cs, f.joiner, f.pskSec, ctx)
			if err != nil {
				return err.Error()
			}
			defer want.Zero()
			for i, kb := range kbs {
				own := memstore.New()
				if err := kb.Store(own); err != nil {
					return err.Error()
				}
				o, err := openWelcome(f.cs, w, StoreKeyPackageFinder(own), f.resolver(), f.signerKey)
				if err != nil {
					return fmt.Sprintf("recipient %d: %v", i, err)
				}
				switch {
				case o.Index != i:
					return fmt.Sprintf("recipient %d matched entry %d", i, o.Index)
				case !bytes.Equal(o.Epoch.EpochAuthenticator, want.EpochAuthenticator) || !bytes.Equal(o.Epoch.Init, want.Init):
					return fmt.Sprintf("recipient %d derived another epoch", i)
				case (o.GroupSecrets.PathSecret != nil) != (rs[i].PathSecret != nil):
					return fmt.Sprintf("recipient %d: path secret presence differs", i)
				case o.GroupSecrets.PathSecret != nil && !bytes.Equal(o.GroupSecrets.PathSecret.PathSecret, rs[i].PathSecret):
					return fmt.Sprintf("recipient %d: path secret differs", i)
				case len(o.GroupSecrets.Psks) != len(f.psks):
					return fmt.Sprintf("recipient %d: %d psks", i, len(o.GroupSecrets.Psks))
				}
				o.zero()
			}
			return ""
		},
		gen.UInt8(), gen.UInt8(), gen.UInt8(), gen.UInt8(),
	))
	props.TestingRun(t)
}

// FuzzOpenWelcome opens arbitrary Welcomes with a fixed key package: no
// input may panic, and no mutant of the sealed seed may open.
func FuzzOpenWelcome(f *testing.F) {
	p := defaultcrypto.New()
	fx := newWelcomeFixture(f, p, testSuite, 1, false)
	kbs, store := newRecipients(f, p, testSuite, 1)
	w := fx.seal(f, kbs, true)
	seed, err := w.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte{0, 1, 0, 0})
	find := StoreKeyPackageFinder(store)
	f.Fuzz(func(t *testing.T, data []byte) {
		var mw codec.Welcome
		if err := mw.Unmarshal(data); err != nil {
			return
		}
		o, err := openWelcome(fx.cs, &mw, find, fx.resolver(), fx.signerKey)
		if err != nil {
			return
		}
		o.zero()
		if !bytes.Equal(data, seed) {
			t.Fatalf("a Welcome other than the sealed one opened: %x", data)
		}
	})
}

// TestWelcomeMessageInPlace: the Welcome message sealWelcomeEncoded returns
// is the codec's encoding of its Welcome byte for byte, in every suite,
// with and without PSKs and path secrets, for one and several recipients,
// and holds the encrypted GroupInfo where it was sealed (not a copy);
// welcomeMessageInPlace encodes the whole message anew, still the same
// bytes, when its room is too short or the GroupInfo is elsewhere.
func TestWelcomeMessageInPlace(t *testing.T) {
	p := defaultcrypto.New()
	for _, suite := range p.CipherSuites() {
		for _, n := range []int{1, 5} {
			for _, nPSK := range []int{0, 2} {
				t.Run(fmt.Sprintf("%v/n=%d/psks=%d", suite, n, nPSK), func(t *testing.T) {
					f := newWelcomeFixture(t, p, suite, nPSK, false)
					kbs, store := newRecipients(t, p, suite, n)
					rs := make([]welcomeRecipient, n)
					for i, kb := range kbs {
						rs[i].KeyPackage = &kb.KeyPackage
						if i%2 == 0 {
							rs[i].PathSecret = bytes.Repeat([]byte{byte(i + 1)}, f.cs.HashSize())
						}
					}
					w, msg, err := sealWelcomeEncoded(f.cs, &f.gi, welcomeGroupInfo{}, f.joiner, f.pskSec, nil, f.psks, rs)
					if err != nil {
						t.Fatal(err)
					}
					want, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSWelcome, Welcome: w}).Marshal()
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(msg, want) {
						t.Fatalf("message of %d bytes differs from the codec's encoding of %d", len(msg), len(want))
					}
					egi := w.EncryptedGroupInfo
					if &msg[len(msg)-len(egi)] != &egi[0] {
						t.Error("the message holds a copy of the encrypted GroupInfo")
					}
					if got := wvDecode(t, msg).Welcome; !bytes.Equal(got.EncryptedGroupInfo, egi) || len(got.Secrets) != n {
						t.Error("the message does not decode to the Welcome")
					}
					head := len(want) - len(egi)
					// The room sealWelcomeEncoded leaves is computed
					// before the sealing, from the field lengths: the
					// head exactly when the KEM output is as long as the
					// init key, as DHKEM's (more for X-Wing's).
					pts, exact := make([][]byte, n), true
					for i, s := range w.Secrets {
						pts[i] = make([]byte, len(s.EncryptedGroupSecrets.Ciphertext)-f.cs.AEADOverhead())
						exact = exact && len(s.EncryptedGroupSecrets.KEMOutput) == len(rs[i].KeyPackage.InitKey)
					}
					if room, err := welcomeHeadRoom(f.cs, rs, func(i int) int { return len(pts[i]) }, len(egi)); err != nil || room < head || exact && room != head {
						t.Errorf("welcomeHeadRoom = %d, %v; head %d (exact %v)", room, err, head, exact)
					}
					for _, c := range []struct {
						name string
						off  int
						// copied: the message must be encoded anew.
						copied bool
					}{
						{"exact room", head, false},
						{"room to spare", head + 100, false},
						{"one byte short", head - 1, true},
						{"no room", 0, true},
					} {
						buf := make([]byte, c.off+len(egi))
						copy(buf[c.off:], egi)
						for i := range c.off {
							buf[i] = 0xa5
						}
						ww := *w
						ww.EncryptedGroupInfo = buf[c.off:]
						got, err := welcomeMessageInPlace(&ww, buf, c.off)
						if err != nil {
							t.Fatalf("%s: %v", c.name, err)
						}
						if !bytes.Equal(got, want) {
							t.Errorf("%s: message differs from the codec's encoding", c.name)
						}
						if inPlace := &got[len(got)-len(egi)] == &buf[c.off]; inPlace == c.copied {
							t.Errorf("%s: encrypted GroupInfo in place %v, want %v", c.name, inPlace, !c.copied)
						}
					}
					// An encrypted GroupInfo that is not buf[off:] is
					// never overwritten nor assumed: encoded anew.
					buf := make([]byte, head+len(egi))
					ww := *w
					ww.EncryptedGroupInfo = bytes.Clone(egi)
					got, err := welcomeMessageInPlace(&ww, buf, head)
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("GroupInfo elsewhere: %v, equal %v", err, bytes.Equal(got, want))
					}
					checkWelcomeSealedInPlace(t, f, rs, store, w)
				})
			}
		}
	}
}

// TestWelcomeHeadRoom: welcomeHeadRoom is the length of the codec's
// encoding of a Welcome message before its encrypted GroupInfo, for
// recipients of one or two shapes (with and without a path_secret), and
// for secrets and encrypted GroupInfos on each side of the varint length
// prefix boundaries of RFC 9420 §2.1.2 (2 bytes from 64, 4 from 16384).
func TestWelcomeHeadRoom(t *testing.T) {
	cs, err := defaultcrypto.New().CipherSuite(codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 3, 150, 400} {
		for _, egiLen := range []int{16, 63, 64, 16383, 16384, 70000} {
			rs := make([]welcomeRecipient, n)
			pts := make([][]byte, n)
			w := &codec.Welcome{CipherSuite: cs.ID(), Secrets: make([]codec.EncryptedGroupSecrets, n), EncryptedGroupInfo: make([]byte, egiLen)}
			for i := range rs {
				rs[i].KeyPackage = &codec.KeyPackage{InitKey: make([]byte, 32)}
				pts[i] = make([]byte, 40+32*(i%2))
				w.Secrets[i] = codec.EncryptedGroupSecrets{
					NewMember:             make([]byte, cs.HashSize()),
					EncryptedGroupSecrets: codec.HPKECiphertext{KEMOutput: make([]byte, 32), Ciphertext: make([]byte, len(pts[i])+cs.AEADOverhead())},
				}
			}
			msg, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSWelcome, Welcome: w}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if got, err := welcomeHeadRoom(cs, rs, func(i int) int { return len(pts[i]) }, egiLen); err != nil || got != len(msg)-egiLen {
				t.Errorf("%d recipients, encrypted GroupInfo of %d bytes: %d, %v; want %d", n, egiLen, got, err, len(msg)-egiLen)
			}
		}
	}
}

// checkWelcomeSealedInPlace: a GroupInfo signed into a buffer with the
// room welcomeRoom gives, handed to sealWelcomeEncoded as spare, is
// encrypted where it was encoded (the Welcome and its message hold that
// buffer, not a copy), to the encrypted GroupInfo of w (same key and
// nonce, for the same signature), and every recipient opens the Welcome
// to the GroupInfo; with a byte of room too few, or a buffer not spare,
// the GroupInfo is encrypted into a new buffer and its own is left as it
// was.
func checkWelcomeSealedInPlace(t *testing.T, f *welcomeFixture, rs []welcomeRecipient, store *memstore.Store, w *codec.Welcome) {
	t.Helper()
	front, err := welcomeRoom(f.cs, rs, f.joiner, f.psks)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		front   int
		spare   bool
		inPlace bool
	}{
		{"welcomeRoom", front, true, true},
		{"not spare", front, false, false},
		{"too little room", 0, true, false},
	} {
		gi := f.gi
		sgi, err := signGroupInfoInto(f.signer, &gi, c.front, f.cs.AEADOverhead())
		if err != nil {
			t.Fatal(err)
		}
		want := gtMust(gi.Marshal())(t)
		if !bytes.Equal(sgi.enc(), want) {
			t.Fatalf("%s: signGroupInfoInto's encoding differs from the GroupInfo's", c.name)
		}
		gib := welcomeGroupInfo{enc: sgi.buf, off: sgi.off, spare: c.spare}
		if c.name == "too little room" {
			// The GroupInfo moved to the start of its buffer's room.
			gib.off = 0
			gib.enc = sgi.buf[sgi.off:]
		}
		ws, msg, err := sealWelcomeEncoded(f.cs, &gi, gib, f.joiner, f.pskSec, nil, f.psks, rs)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		egi := ws.EncryptedGroupInfo
		// (The same signature, in a suite whose signatures are
		// deterministic, gives the same ciphertext.)
		if bytes.Equal(gi.Signature, f.gi.Signature) && !bytes.Equal(egi, w.EncryptedGroupInfo) {
			t.Errorf("%s: encrypted GroupInfo differs from the one sealed into a new buffer", c.name)
		}
		if inPlace := &egi[0] == &gib.enc[gib.off]; inPlace != c.inPlace {
			t.Errorf("%s: sealed in place %v, want %v", c.name, inPlace, c.inPlace)
		}
		if !c.inPlace && !bytes.Equal(gib.enc[gib.off:], want) {
			t.Errorf("%s: the GroupInfo's buffer was overwritten", c.name)
		}
		if &msg[len(msg)-len(egi)] != &egi[0] {
			t.Errorf("%s: the message holds a copy of the encrypted GroupInfo", c.name)
		}
		if enc := gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSWelcome, Welcome: ws}).Marshal())(t); !bytes.Equal(msg, enc) {
			t.Errorf("%s: message differs from the codec's encoding", c.name)
		}
		for i := range rs {
			ref := gtMust(KeyPackageRef(f.cs, rs[i].KeyPackage))(t)
			find := func(r codec.KeyPackageRef) (*KeyPackageBundle, error) {
				if !bytes.Equal(r, ref) {
					return nil, ErrNotFound
				}
				return StoreKeyPackageFinder(store)(r)
			}
			o, err := openWelcome(f.cs, wvDecode(t, msg).Welcome, find, f.resolver(), f.signerKey)
			if err != nil {
				t.Fatalf("%s: recipient %d: %v", c.name, i, err)
			}
			got := gtMust(o.GroupInfo.Marshal())(t)
			o.zero()
			if !bytes.Equal(got, want) {
				t.Errorf("%s: recipient %d opened another GroupInfo", c.name, i)
			}
		}
	}
}
