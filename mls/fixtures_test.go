package mls

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

// Fixtures of the stored key-package bundle format, one per format version
// the project has stored (testdata/fixtures/keypackage-bundle-v*.txt): each
// was written by the code of its version (version 1 by commit 23dc7bb^ with
// the generator below, adapted) and must load with this one. A change of
// the format adds a version, a migration in LoadKeyPackageBundle and a
// fixture; it never makes an old one fail.
//
// Regenerate the fixture of the current version with
// MLS_WRITE_FIXTURES=1 go test ./mls -run TestWriteKeyPackageFixture.

func TestWriteKeyPackageFixture(t *testing.T) {
	if os.Getenv("MLS_WRITE_FIXTURES") == "" {
		t.Skip("MLS_WRITE_FIXTURES not set")
	}
	p := defaultcrypto.New()
	s := memstore.New()
	signer, err := GenerateSignatureKeyPair(p, testSuite)
	if err != nil {
		t.Fatal(err)
	}
	b := &KeyPackageBuilder{Provider: p, CipherSuite: testSuite, Credential: NewBasicCredential([]byte("fixture")), Signer: signer}
	kp, err := b.BuildAndStore(s)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := s.ReadKeyPackage(kp.Ref)
	kpEnc, _ := kp.KeyPackage.Marshal()
	if err := signer.Store(s); err != nil {
		t.Fatal(err)
	}
	sig, _ := s.ReadSignatureKeyPair(signer.PublicKey())
	f := fmt.Sprintf("ref %x\nkey_package %x\ninit_private_key %x\nencryption_private_key %x\nrecord %x\nsignature_public_key %x\nsignature_key_pair_record %x\n",
		[]byte(kp.Ref), kpEnc, kp.InitPrivateKey, kp.EncryptionPrivateKey, rec, signer.PublicKey(), sig)
	name := filepath.Join("testdata", "fixtures", fmt.Sprintf("keypackage-bundle-v%d.txt", keyPackageBundleVersion))
	if err := os.WriteFile(name, []byte(f), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFixture(t *testing.T, path string) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, ok := strings.Cut(l, " ")
		d, err := hex.DecodeString(v)
		if !ok || err != nil {
			t.Fatalf("%s: bad line %q", path, l)
		}
		out[k] = d
	}
	return out
}

// TestKeyPackageBundleFixtures loads the key-package bundle (and signature
// key pair) of every stored format version and joins a group with it.
func TestKeyPackageBundleFixtures(t *testing.T) {
	for v := 1; v <= keyPackageBundleVersion; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			f := readFixture(t, filepath.Join("testdata", "fixtures", fmt.Sprintf("keypackage-bundle-v%d.txt", v)))
			if got := int(f["record"][0])<<8 | int(f["record"][1]); got != v {
				t.Fatalf("the fixture's record is of version %d", got)
			}
			p := defaultcrypto.New()
			s := memstore.New()
			if err := s.WriteKeyPackage(f["ref"], f["record"]); err != nil {
				t.Fatal(err)
			}
			if err := s.WriteSignatureKeyPair(f["signature_public_key"], f["signature_key_pair_record"]); err != nil {
				t.Fatal(err)
			}
			b, err := LoadKeyPackageBundle(s, f["ref"])
			if err != nil {
				t.Fatalf("LoadKeyPackageBundle: %v", err)
			}
			kpEnc, _ := b.KeyPackage.Marshal()
			if !bytes.Equal(kpEnc, f["key_package"]) || !bytes.Equal(b.Ref, f["ref"]) ||
				!bytes.Equal(b.InitPrivateKey, f["init_private_key"]) || !bytes.Equal(b.EncryptionPrivateKey, f["encryption_private_key"]) {
				t.Fatal("the loaded bundle differs from the one stored")
			}
			signer, err := LoadSignatureKeyPair(p, s, f["signature_public_key"])
			if err != nil {
				t.Fatalf("LoadSignatureKeyPair: %v", err)
			}
			// Join a group with it, at a time within its lifetime.
			lt := b.KeyPackage.LeafNode.Lifetime
			now := func() time.Time { return time.Unix(int64(lt.NotBefore), 0).Add(time.Hour) }
			alice := newFixtureClient(t, p, "alice", now)
			g, err := NewGroup(alice, testSuite, GroupConfig{UseRatchetTreeExtension: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := g.AddMembers(&b.KeyPackage)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.MergePendingCommit(); err != nil {
				t.Fatal(err)
			}
			joiner := &Client{Provider: p, Storage: s, Signer: signer, Credential: NewBasicCredential([]byte("fixture")), Now: now}
			j, err := JoinFromWelcome(joiner, res.Welcome, nil, GroupConfig{UseRatchetTreeExtension: true})
			if err != nil {
				t.Fatalf("JoinFromWelcome with the stored bundle: %v", err)
			}
			if !bytes.Equal(j.EpochAuthenticator(), g.EpochAuthenticator()) {
				t.Fatal("the joiner disagrees on the epoch authenticator")
			}
			msg, err := j.SendApplicationMessage([]byte("hello"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if pm, err := g.ProcessMessage(msg); err != nil || string(pm.ApplicationData) != "hello" {
				t.Fatalf("ProcessMessage: %v", err)
			}
			if _, err := s.ReadKeyPackage(f["ref"]); err == nil {
				t.Error("the consumed bundle is still stored")
			}
		})
	}
}

func newFixtureClient(t *testing.T, p *defaultcrypto.Provider, name string, now func() time.Time) *Client {
	t.Helper()
	signer, err := GenerateSignatureKeyPair(p, testSuite)
	if err != nil {
		t.Fatal(err)
	}
	return &Client{Provider: p, Storage: memstore.New(), Signer: signer, Credential: NewBasicCredential([]byte(name)), Now: now}
}
