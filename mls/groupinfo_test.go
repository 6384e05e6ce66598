package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

// giTestGroupInfo returns an unsigned GroupInfo of suite with a ratchet
// tree extension holding one leaf.
func giTestGroupInfo(t *testing.T, p providers.Provider, suite codec.CipherSuite) (*codec.GroupInfo, *SignatureKeyPair, *ratchettree.Tree) {
	t.Helper()
	cs, err := p.CipherSuite(suite)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := newBuilder(t, p, suite).Build()
	if err != nil {
		t.Fatal(err)
	}
	tree, err := ratchettree.New(cs, &kb.KeyPackage.LeafNode)
	if err != nil {
		t.Fatal(err)
	}
	rtExt, err := oneExtension(Extensions(nil).WithRatchetTree(tree.RatchetTree()))
	if err != nil {
		t.Fatal(err)
	}
	th, err := tree.TreeHash()
	if err != nil {
		t.Fatal(err)
	}
	gi := &codec.GroupInfo{
		GroupContext: codec.GroupContext{
			CipherSuite: suite, GroupID: []byte("gi"), Epoch: 1, TreeHash: th,
			ConfirmedTranscriptHash: bytes.Repeat([]byte{5}, cs.HashSize()),
			Extensions:              []codec.Extension{},
		},
		Extensions:      []codec.Extension{rtExt},
		ConfirmationTag: bytes.Repeat([]byte{6}, cs.HashSize()),
		Signer:          0,
	}
	signer, err := GenerateSignatureKeyPair(p, suite)
	if err != nil {
		t.Fatal(err)
	}
	return gi, signer, tree
}

// TestGroupInfoSignature signs and verifies GroupInfos of every suite, and
// checks that any change to a signed field breaks the signature.
func TestGroupInfoSignature(t *testing.T) {
	p := defaultcrypto.New()
	for _, suite := range p.CipherSuites() {
		t.Run(suite.String(), func(t *testing.T) {
			cs, _ := p.CipherSuite(suite)
			gi, signer, _ := giTestGroupInfo(t, p, suite)
			if err := SignGroupInfo(signer, gi); err != nil {
				t.Fatal(err)
			}
			if err := VerifyGroupInfo(cs, gi, signer.PublicKey()); err != nil {
				t.Fatalf("fresh GroupInfo: %v", err)
			}
			// Over the wire as an MLSMessage.
			enc, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSGroupInfo, GroupInfo: gi}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var m codec.MLSMessage
			if err := m.Unmarshal(enc); err != nil {
				t.Fatal(err)
			}
			if err := VerifyGroupInfo(cs, m.GroupInfo, signer.PublicKey()); err != nil {
				t.Fatalf("decoded GroupInfo: %v", err)
			}
			giEnc, err := gi.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			mutations := map[string]func(g *codec.GroupInfo){
				"epoch":            func(g *codec.GroupInfo) { g.GroupContext.Epoch++ },
				"group id":         func(g *codec.GroupInfo) { g.GroupContext.GroupID = []byte("gj") },
				"tree hash":        func(g *codec.GroupInfo) { g.GroupContext.TreeHash[0] ^= 1 },
				"extensions":       func(g *codec.GroupInfo) { g.Extensions = nil },
				"confirmation tag": func(g *codec.GroupInfo) { g.ConfirmationTag[0] ^= 1 },
				"signer":           func(g *codec.GroupInfo) { g.Signer = 1 },
				"signature":        func(g *codec.GroupInfo) { g.Signature[len(g.Signature)/2] ^= 1 },
			}
			for name, mut := range mutations {
				var g codec.GroupInfo
				if err := g.Unmarshal(giEnc); err != nil {
					t.Fatal(err)
				}
				mut(&g)
				if err := VerifyGroupInfo(cs, &g, signer.PublicKey()); !errors.Is(err, ErrInvalidGroupInfoSignature) {
					t.Errorf("%s changed: got %v, want ErrInvalidGroupInfoSignature", name, err)
				}
			}
			other, _ := GenerateSignatureKeyPair(p, suite)
			if err := VerifyGroupInfo(cs, gi, other.PublicKey()); !errors.Is(err, ErrInvalidGroupInfoSignature) || !errors.Is(err, providers.ErrInvalidSignature) {
				t.Errorf("other key: %v", err)
			}
		})
	}
	p2 := defaultcrypto.New()
	gi, signer, _ := giTestGroupInfo(t, p2, testSuite)
	if err := SignGroupInfo(signer, gi); err != nil {
		t.Fatal(err)
	}
	cs2, _ := p2.CipherSuite(codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519)
	if err := VerifyGroupInfo(cs2, gi, signer.PublicKey()); !errors.Is(err, ErrInvalidGroupInfoSignature) {
		t.Errorf("other suite: %v", err)
	}
	if err := SignGroupInfo(nil, gi); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil signer: %v", err)
	}
	if err := VerifyGroupInfo(nil, gi, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil suite: %v", err)
	}
}

// TestSignGroupInfoEncoding: the encoding signGroupInfo builds around the
// in-place signature is the codec's encoding of the signed GroupInfo, for
// extensions of every varint length class (RFC 9420 §2.1.2), and verifies;
// the MLSMessage framed around it in the same buffer is the codec's
// encoding of the message.
func TestSignGroupInfoEncoding(t *testing.T) {
	p := defaultcrypto.New()
	cs, _ := p.CipherSuite(testSuite)
	for _, n := range []int{0, 1, 62, 64, 16382, 16384, 300000} {
		gi, signer, _ := giTestGroupInfo(t, p, testSuite)
		gi.Extensions = append(gi.Extensions, codec.Extension{ExtensionType: 0x0a0a, ExtensionData: bytes.Repeat([]byte{7}, n)})
		gi.GroupContext.Extensions = append(gi.GroupContext.Extensions, codec.Extension{ExtensionType: 0x1a1a, ExtensionData: bytes.Repeat([]byte{8}, n/2)})
		msg, enc, err := signGroupInfoMessage(signer, gi)
		if err != nil {
			t.Fatal(err)
		}
		want, err := gi.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, want) {
			t.Fatalf("%d bytes of extension: signGroupInfo's encoding differs from GroupInfo.Marshal", n)
		}
		wantMsg, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSGroupInfo, GroupInfo: gi}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(msg, wantMsg) {
			t.Fatalf("%d bytes of extension: signGroupInfoMessage's message differs from MLSMessage.Marshal", n)
		}
		if len(msg) < len(enc) || &msg[len(msg)-len(enc)] != &enc[0] {
			t.Fatalf("%d bytes of extension: the message is not framed around the GroupInfo in place", n)
		}
		if err := VerifyGroupInfo(cs, gi, signer.PublicKey()); err != nil {
			t.Fatalf("%d bytes of extension: %v", n, err)
		}
	}
	if _, err := signGroupInfo(nil, &codec.GroupInfo{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil signer: %v", err)
	}
}

// TestGroupInfoExtensions round-trips the ratchet_tree and external_pub
// extensions and rejects malformed ones.
func TestGroupInfoExtensions(t *testing.T) {
	p := defaultcrypto.New()
	cs, _ := p.CipherSuite(testSuite)
	gi, _, tree := giTestGroupInfo(t, p, testSuite)

	rt, ok, err := Extensions(gi.Extensions).RatchetTree()
	if err != nil || !ok {
		t.Fatalf("ratchet_tree: %v %v", ok, err)
	}
	back, err := ratchettree.FromRatchetTree(cs, rt)
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := tree.TreeHash()
	h2, _ := back.TreeHash()
	if !bytes.Equal(h1, h2) {
		t.Error("tree hash changed through the extension")
	}
	if _, ok, err := Extensions(nil).RatchetTree(); ok || err != nil {
		t.Errorf("no extension: %v %v", ok, err)
	}
	bad := []codec.Extension{{ExtensionType: codec.ExtensionTypeRatchetTree, ExtensionData: []byte{0x05, 0x01}}}
	if _, ok, err := Extensions(bad).RatchetTree(); !ok || !errors.Is(err, ErrMalformedExtension) {
		t.Errorf("malformed ratchet_tree: %v %v", ok, err)
	}
	if _, err := oneExtension(Extensions(nil).WithRatchetTree(append(rt, nil))); !errors.Is(err, RuleTreeTrailingBlank) {
		t.Errorf("trailing blank: %v", err)
	}

	priv, pub, err := keyschedule.ExternalKeyPair(cs, bytes.Repeat([]byte{1}, cs.HashSize()))
	if err != nil {
		t.Fatal(err)
	}
	priv.Zero()
	e, err := oneExtension(Extensions(nil).WithExternalPub(pub))
	if err != nil {
		t.Fatal(err)
	}
	exts := []codec.Extension{gi.Extensions[0], e}
	got, ok, err := Extensions(exts).ExternalPub()
	if err != nil || !ok || !bytes.Equal(got, pub) {
		t.Fatalf("external_pub: %x %v %v", got, ok, err)
	}
	got[0] ^= 1 // the result does not alias the extension
	if again, _, _ := Extensions(exts).ExternalPub(); !bytes.Equal(again, pub) {
		t.Error("Extensions.ExternalPub aliases the extension data")
	}
	if _, ok, err := Extensions(gi.Extensions).ExternalPub(); ok || err != nil {
		t.Errorf("no external_pub: %v %v", ok, err)
	}
	for _, data := range [][]byte{{0x01}, {0x00}, append([]byte{0x02, 1, 2}, 3)} {
		bad := []codec.Extension{{ExtensionType: codec.ExtensionTypeExternalPub, ExtensionData: data}}
		if _, ok, err := Extensions(bad).ExternalPub(); !ok || !errors.Is(err, ErrMalformedExtension) {
			t.Errorf("malformed external_pub %x: %v %v", data, ok, err)
		}
	}
	if _, err := oneExtension(Extensions(nil).WithExternalPub(nil)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty external_pub: %v", err)
	}
}

type passiveWelcomeCase struct {
	CipherSuite uint16 `json:"cipher_suite"`
	ExternalPSK []struct {
		PSKID testvectors.HexBytes `json:"psk_id"`
		PSK   testvectors.HexBytes `json:"psk"`
	} `json:"external_psks"`
	KeyPackage                testvectors.HexBytes `json:"key_package"`
	InitPriv                  testvectors.HexBytes `json:"init_priv"`
	Welcome                   testvectors.HexBytes `json:"welcome"`
	RatchetTree               testvectors.HexBytes `json:"ratchet_tree"`
	InitialEpochAuthenticator testvectors.HexBytes `json:"initial_epoch_authenticator"`
}

// TestPassiveClientWelcomeOpen opens the Welcomes of
// passive-client-welcome.json (the joining step only; the group state
// machine runs the whole scenarios): external PSKs from a PSKStore, the
// signer's key from the ratchet tree (GroupInfo extension or out of band),
// and the epoch authenticator of the joined epoch.
func TestPassiveClientWelcomeOpen(t *testing.T) {
	var cases []passiveWelcomeCase
	testvectors.Load(t, "passive-client-welcome.json", &cases)
	ran := testvectors.Expect(t, "passive-client-welcome.json", len(cases))
	p := defaultcrypto.New()
	passed, withPSK, withTree, padded := 0, 0, 0, 0
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d/suite%d", i, c.CipherSuite), func(t *testing.T) {
			cs, err := p.CipherSuite(codec.CipherSuite(c.CipherSuite))
			if err != nil {
				t.Fatal(err)
			}
			kp, w := wvDecode(t, c.KeyPackage).KeyPackage, wvDecode(t, c.Welcome).Welcome
			ref, err := KeyPackageRef(cs, kp)
			if err != nil {
				t.Fatal(err)
			}
			initPriv := []byte(c.InitPriv)
			if c.CipherSuite == 5 && len(initPriv) < 66 {
				// Some P-521 cases write the HPKE private key without its
				// leading zero byte (65 bytes); the provider takes the
				// fixed-length SerializePrivateKey of 66 bytes (RFC 9180
				// §7.1.2, providers package doc).
				initPriv = append(make([]byte, 66-len(initPriv)), initPriv...)
				padded++
			}
			kps := memstore.New()
			if err := (&KeyPackageBundle{KeyPackage: *kp, Ref: ref, InitPrivateKey: initPriv}).Store(kps); err != nil {
				t.Fatal(err)
			}
			psks := memstore.New()
			for _, e := range c.ExternalPSK {
				if err := StoreExternalPSK(psks, e.PSKID, e.PSK); err != nil {
					t.Fatal(err)
				}
			}
			var tree *ratchettree.Tree
			signerKey := func(gi *codec.GroupInfo) ([]byte, error) {
				var rt codec.RatchetTree
				if c.RatchetTree != nil {
					if err := rt.Unmarshal(c.RatchetTree); err != nil {
						return nil, err
					}
				} else {
					var ok bool
					if rt, ok, err = Extensions(gi.Extensions).RatchetTree(); err != nil || !ok {
						return nil, fmt.Errorf("no ratchet tree: %v", err)
					}
				}
				if tree, err = ratchettree.FromRatchetTree(cs, rt); err != nil {
					return nil, err
				}
				ln := tree.Leaf(ratchettree.LeafIndex(gi.Signer))
				if ln == nil {
					return nil, fmt.Errorf("signer leaf %d is blank", gi.Signer)
				}
				return ln.SignatureKey, nil
			}
			o, err := openWelcome(cs, w, StoreKeyPackageFinder(kps), pskResolver{store: psks}, signerKey)
			if err != nil {
				t.Fatal(err)
			}
			defer o.zero()
			if !bytes.Equal(o.Epoch.EpochAuthenticator, c.InitialEpochAuthenticator) {
				t.Fatalf("epoch authenticator %x, want %x", o.Epoch.EpochAuthenticator, c.InitialEpochAuthenticator)
			}
			th, err := tree.TreeHash()
			if err != nil || !bytes.Equal(th, o.GroupInfo.GroupContext.TreeHash) {
				t.Fatalf("tree hash does not match the GroupInfo: %v", err)
			}
			if len(c.ExternalPSK) > 0 {
				withPSK++
				if len(o.GroupSecrets.Psks) > 0 {
					// Without the PSKs the Welcome cannot be opened.
					if _, err := openWelcome(cs, w, StoreKeyPackageFinder(kps), pskResolver{store: memstore.New()}, signerKey); !errors.Is(err, ErrMissingPSK) {
						t.Errorf("without PSKs: got %v, want ErrMissingPSK", err)
					}
				}
			}
			if c.RatchetTree == nil {
				withTree++
			}
			passed++
			ran.Ran()
		})
	}
	t.Logf("passive-client-welcome.json (Welcome step): %d of %d cases passed (%d with external PSKs, %d with the tree in the GroupInfo; %d P-521 init keys of 65 bytes left-padded to 66), 0 skipped", passed, len(cases), withPSK, withTree, padded)
}

// TestVerifyGroupInfoBytes: a GroupInfo received as an MLSMessage is
// verified over the bytes received, in place (without allocating a copy of
// a 1 MB extension), for every suite; flipping any byte of the
// GroupInfoTBS or of the signature in the received bytes makes it fail.
// mlsMessageHeader is the length of an MLSMessage's fields before its
// content: version and wire_format, two uint16 (RFC 9420 §6).
const mlsMessageHeader = 4

func TestVerifyGroupInfoBytes(t *testing.T) {
	p := defaultcrypto.New()
	for _, suite := range p.CipherSuites() {
		t.Run(suite.String(), func(t *testing.T) {
			cs, _ := p.CipherSuite(suite)
			gi, signer, _ := giTestGroupInfo(t, p, suite)
			gi.Extensions = append(gi.Extensions, codec.Extension{ExtensionType: 0xff00, ExtensionData: bytes.Repeat([]byte{9}, 1<<20)})
			if err := SignGroupInfo(signer, gi); err != nil {
				t.Fatal(err)
			}
			data, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSGroupInfo, GroupInfo: gi}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			giEnc, err := gi.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data[mlsMessageHeader:], giEnc) {
				t.Fatal("the GroupInfo is not the MLSMessage after mlsMessageHeader bytes")
			}
			decode := func(data []byte) (*codec.GroupInfo, groupInfoBytes) {
				var m codec.MLSMessage
				b, err := DefaultLimits().decodeGroupInfo(data, &m)
				if err != nil {
					t.Fatal(err)
				}
				return m.GroupInfo, b
			}
			g, b := decode(data)
			got := allocated(func() { err = verifyGroupInfoBytes(cs, g, b, signer.PublicKey()) })
			if err != nil {
				t.Fatalf("valid GroupInfo: %v", err)
			}
			if got > 64<<10 {
				t.Errorf("verifying a %d-byte GroupInfo allocated %d bytes: not in place", len(data), got)
			}
			// Again (a Stage retried): the room is rewritten alike.
			if err := verifyGroupInfoBytes(cs, g, b, signer.PublicKey()); err != nil {
				t.Fatalf("verified twice: %v", err)
			}
			tbsEnd := len(data) - 1 - len(gi.Signature) // a one-byte varint prefix
			for _, i := range []int{mlsMessageHeader, mlsMessageHeader + 5, len(data) / 2, tbsEnd - 1, len(data) - 1} {
				bad := bytes.Clone(data)
				bad[i] ^= 1
				var m codec.MLSMessage
				b, err := DefaultLimits().decodeGroupInfo(bad, &m)
				if err != nil {
					continue // no longer decodes
				}
				if err := verifyGroupInfoBytes(cs, m.GroupInfo, b, signer.PublicKey()); !errors.Is(err, ErrInvalidGroupInfoSignature) {
					t.Errorf("byte %d of %d flipped: %v, want ErrInvalidGroupInfoSignature", i, len(data), err)
				}
			}
			other, _ := GenerateSignatureKeyPair(p, suite)
			if err := verifyGroupInfoBytes(cs, g, b, other.PublicKey()); !errors.Is(err, ErrInvalidGroupInfoSignature) {
				t.Errorf("other key: %v", err)
			}
		})
	}
}
