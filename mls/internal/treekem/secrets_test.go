package treekem

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

func suites(t *testing.T) []providers.CipherSuite {
	t.Helper()
	p := defaultcrypto.New()
	var out []providers.CipherSuite
	for _, id := range []codec.CipherSuite{1, 2, 3, 4, 5, 6, 7} {
		cs, err := p.CipherSuite(id)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cs)
	}
	return out
}

// TestDerivePath checks derivePath against DeriveSecret (RFC 9420 §7.4):
// the chain starts with a copy of first, each next path_secret and the
// commit_secret are DeriveSecret(previous, "path"), each node_secret is
// DeriveSecret(path_secret, "node"), and without the commit_secret the
// last node_secret is still derived.
func TestDerivePath(t *testing.T) {
	for _, cs := range suites(t) {
		first := bytes.Repeat([]byte{7}, cs.HashSize())
		p, err := derivePath(cs, first, 4, true)
		if err != nil {
			t.Fatal(err)
		}
		chain, commit := p.chain, p.commit
		if !bytes.Equal(chain[0], first) || &chain[0][0] == &first[0] {
			t.Fatalf("suite %d: chain[0] must be a copy of first", cs.ID())
		}
		all := append(chain, commit)
		for i := 1; i < len(all); i++ {
			want, _ := NextPathSecret(cs, all[i-1])
			want2, _ := providers.DeriveSecret(cs, all[i-1], "path")
			if !bytes.Equal(all[i], want) || !bytes.Equal(want, want2) || len(want) != cs.HashSize() {
				t.Fatalf("suite %d: secret %d is not DeriveSecret(previous, \"path\")", cs.ID(), i)
			}
		}
		for i, ps := range chain {
			want, _ := providers.DeriveSecret(cs, ps, "node")
			if !bytes.Equal(p.nodes[i], want) {
				t.Fatalf("suite %d: node secret %d is not DeriveSecret(path_secret, \"node\")", cs.ID(), i)
			}
		}
		q, err := derivePath(cs, first, 4, false)
		if err != nil {
			t.Fatal(err)
		}
		if q.commit != nil || !bytes.Equal(q.nodes[3], p.nodes[3]) || !bytes.Equal(q.chain[3], chain[3]) {
			t.Fatalf("suite %d: a path without commit_secret differs from one with it", cs.ID())
		}
		if _, err := derivePath(cs, first, 0, true); err == nil {
			t.Errorf("n = 0 accepted")
		}
		// node key pair = DeriveKeyPair(DeriveSecret(ps, "node")).
		priv, pub, err := NodeKeyPair(cs, first)
		if err != nil {
			t.Fatal(err)
		}
		ns, _ := providers.DeriveSecret(cs, first, "node")
		priv2, pub2, _ := cs.DeriveKeyPair(ns)
		if !bytes.Equal(priv, priv2) || !bytes.Equal(pub, pub2) {
			t.Errorf("suite %d: NodeKeyPair differs from DeriveKeyPair(DeriveSecret(ps, \"node\"))", cs.ID())
		}
	}
}

// TestEncryptPathSecret encrypts to a long list of keys (concurrently) and
// decrypts each ciphertext with its key, in order; a different context
// fails with providers.ErrDecryption.
func TestEncryptPathSecret(t *testing.T) {
	for _, cs := range suites(t) {
		const n = parallelMin + 8 // encrypted concurrently
		privs := make([][]byte, n)
		pubs := make([][]byte, n)
		for i := range pubs {
			var err error
			if privs[i], pubs[i], err = cs.GenerateKeyPair(nil); err != nil {
				t.Fatal(err)
			}
		}
		secret := bytes.Repeat([]byte{9}, cs.HashSize())
		info, _ := EncryptContext([]byte("group context"))
		cts, err := EncryptPathSecret(cs, info, secret, pubs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range cts {
			got, err := DecryptPathSecret(cs, info, privs[i], &cts[i])
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("suite %d: ciphertext %d: %v", cs.ID(), i, err)
			}
			// RFC 9420 §7.6: EncryptWithLabel(pk, "UpdatePathNode", ctx, ps).
			got, err = providers.DecryptWithLabel(cs, privs[i], "UpdatePathNode", []byte("group context"), cts[i].KEMOutput, cts[i].Ciphertext)
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("suite %d: ciphertext %d is not EncryptWithLabel: %v", cs.ID(), i, err)
			}
		}
		other, _ := EncryptContext([]byte("other context"))
		if _, err := DecryptPathSecret(cs, other, privs[0], &cts[0]); !errors.Is(err, providers.ErrDecryption) {
			t.Errorf("suite %d: wrong context: %v", cs.ID(), err)
		}
		// A bad public key in the list is an error, not a panic.
		bad := append([][]byte{}, pubs...)
		bad[n/2] = []byte{1, 2, 3}
		if _, err := EncryptPathSecret(cs, info, secret, bad); err == nil {
			t.Errorf("suite %d: bad public key accepted", cs.ID())
		}
	}
}

func TestParallel(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 100} {
		var calls [100]atomic.Int32
		if err := parallel(n, 2, func(i int) error { calls[i].Add(1); return nil }); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			if want := int32(0); i < n {
				want = 1
				if calls[i].Load() != want {
					t.Fatalf("n=%d: f(%d) called %d times", n, i, calls[i].Load())
				}
			} else if calls[i].Load() != want {
				t.Fatalf("n=%d: f(%d) called", n, i)
			}
		}
	}
	boom := errors.New("boom")
	if err := parallel(50, 2, func(i int) error {
		if i == 7 {
			return boom
		}
		return nil
	}); !errors.Is(err, boom) {
		t.Fatalf("error not propagated: %v", err)
	}
}

func TestPrivateKeysZeroing(t *testing.T) {
	k := NewPrivateKeys()
	priv := []byte{1, 2, 3}
	k.Set(4, priv, []byte{9})
	held, _, _ := k.Get(4)
	if &held[0] == &priv[0] {
		t.Fatal("Set must copy")
	}
	c := k.Clone()
	k.Delete(4)
	if !bytes.Equal(held, []byte{0, 0, 0}) {
		t.Errorf("Delete did not zero the key: %v", held)
	}
	if p, _, ok := c.Get(4); !ok || !bytes.Equal(p, priv) {
		t.Errorf("Clone is not independent")
	}
	// Merge zeroes replaced keys and takes ownership of the new ones.
	c.Set(3, []byte{5, 5}, []byte{8})
	old, _, _ := c.Get(3)
	pk := &PathKeys{sender: 0, directPath: []treemath.NodeIndex{1, 3},
		keys: []nodeKeyPair{{3, keyPair{[]byte{6, 6}, []byte{7}}}}}
	c.Merge(pk)
	pk.Zero()
	if !bytes.Equal(old, []byte{0, 0}) {
		t.Errorf("Merge did not zero the replaced key")
	}
	if p, _, _ := c.Get(3); !bytes.Equal(p, []byte{6, 6}) {
		t.Errorf("PathKeys.Zero after Merge erased an installed key: %v", p)
	}
	held, _, _ = c.Get(4)
	c.Zero()
	if c.Len() != 0 || !bytes.Equal(held, []byte{0, 0, 0}) {
		t.Errorf("Zero left keys")
	}
}

func TestWelcomePathSecret(t *testing.T) {
	s, sender, cr := negativeGroup(t, impls[0])
	st := s.tree.stage()
	cr2, err := CreateUpdatePath(st, &CreateParams{Suite: s.cs, Leaf: sender, LeafNode: s.tree.Leaf(sender),
		Signer: s.members[sender].signer, GroupID: s.groupID, Context: s.ctx()})
	if err != nil {
		t.Fatal(err)
	}
	_ = cr
	for _, l := range s.memberList() {
		if l == sender {
			continue
		}
		ps, _, _ := cr2.PathSecretFor(l)
		k := NewPrivateKeys()
		if err := k.SetWelcomePathSecret(s.cs, st, l, sender, ps); err != nil {
			t.Fatalf("leaf %d: %v", l, err)
		}
		if err := k.Check(s.cs, st); err != nil {
			t.Fatalf("leaf %d: %v", l, err)
		}
		k2 := NewPrivateKeys()
		wrong := bytes.Clone(ps)
		wrong[0] ^= 1
		if err := k2.SetWelcomePathSecret(s.cs, st, l, sender, wrong); !errors.Is(err, ErrPublicKeyMismatch) || k2.Len() != 0 {
			t.Fatalf("leaf %d: wrong path secret: %v, %d keys", l, err, k2.Len())
		}
	}
	if err := NewPrivateKeys().SetWelcomePathSecret(s.cs, st, sender, sender, []byte{1}); !errors.Is(err, ErrInvalidLeaf) {
		t.Errorf("self == committer: %v", err)
	}
}

// TestGivenLeafSecret checks the derivation chain of CreateUpdatePath from a
// given leaf secret (§7.4): the leaf key pair is the node key pair of the
// leaf secret, path_secret[0] = DeriveSecret(leaf_secret, "path"), each next
// one DeriveSecret(previous, "path"), the node keys are derived from them,
// and commit_secret follows the last; the same secret gives the same path.
func TestGivenLeafSecret(t *testing.T) {
	s, sender, _ := negativeGroup(t, impls[0])
	secret := bytes.Repeat([]byte{0x42}, s.cs.HashSize())
	create := func() *CreateResult {
		cr, err := CreateUpdatePath(s.tree.stage(), &CreateParams{Suite: s.cs, Leaf: sender, LeafNode: s.tree.Leaf(sender),
			Signer: s.members[sender].signer, GroupID: s.groupID, Context: s.ctx(), LeafSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		return cr
	}
	a, b := create(), create()
	if !bytes.Equal(a.CommitSecret, b.CommitSecret) || !bytes.Equal(a.Path.LeafNode.EncryptionKey, b.Path.LeafNode.EncryptionKey) {
		t.Fatal("the same leaf secret gave different paths")
	}
	_, leafPub, _ := NodeKeyPair(s.cs, secret)
	if !bytes.Equal(a.Path.LeafNode.EncryptionKey, leafPub) {
		t.Error("leaf key is not the node key pair of the leaf secret")
	}
	ps := secret
	for i := range a.PathSecrets {
		ps, _ = providers.DeriveSecret(s.cs, ps, "path")
		if !bytes.Equal(a.PathSecrets[i], ps) {
			t.Fatalf("path secret %d", i)
		}
		_, pub, _ := NodeKeyPair(s.cs, ps)
		if !bytes.Equal(a.Path.Nodes[i].EncryptionKey, pub) {
			t.Fatalf("node key %d", i)
		}
	}
	if commit, _ := providers.DeriveSecret(s.cs, ps, "path"); !bytes.Equal(commit, a.CommitSecret) {
		t.Error("commit secret does not follow the last path secret")
	}
	if !bytes.Equal(secret, bytes.Repeat([]byte{0x42}, s.cs.HashSize())) {
		t.Error("the caller's leaf secret was modified")
	}
}

// openLog is a cipher suite that records the keys its SplitInfoOpener is
// given and counts the calls to its OpenBase.
type openLog struct {
	providers.CipherSuite
	mu          sync.Mutex
	privs, pubs [][]byte
	openBase    int
}

func (s *openLog) OpenBase(priv, kemOutput, info, aad, ct []byte) ([]byte, error) {
	s.mu.Lock()
	s.openBase++
	s.mu.Unlock()
	return s.CipherSuite.OpenBase(priv, kemOutput, info, aad, ct)
}

func (s *openLog) OpenBaseSplitInfo(priv, pub, kemOutput, head, tail, aad, ct []byte) ([]byte, error) {
	s.mu.Lock()
	s.privs = append(s.privs, bytes.Clone(priv))
	s.pubs = append(s.pubs, bytes.Clone(pub))
	s.mu.Unlock()
	return providers.OpenBaseSplitInfo(s.CipherSuite, priv, pub, kemOutput, head, tail, aad, ct)
}

// TestApplyUpdatePathGivesNodeKey: a receiver opens its path secret
// through the suite's SplitInfoOpener, never OpenBase, giving the public
// key of its resolution node from the tree (RFC 9420 §7.6), which is its
// private key's: the pk(skR) of the KEM context (RFC 9180 §4.1), so the
// suite need not compute it.
func TestApplyUpdatePathGivesNodeKey(t *testing.T) {
	inner := suites(t)[0]
	log := &openLog{CipherSuite: inner}
	s, err := newSim(log, 3, impls[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		by   treemath.LeafIndex
		adds int
	}{{0, 5}, {2, 0}, {4, 1}, {1, 0}} {
		if err := s.commit(c.by, c.adds, nil); err != nil {
			t.Fatal(err)
		}
	}
	if log.openBase != 0 {
		t.Errorf("%d OpenBase calls, want none", log.openBase)
	}
	if len(log.pubs) != s.applies || s.applies == 0 {
		t.Fatalf("%d opens with a public key for %d applied paths", len(log.pubs), s.applies)
	}
	for i, pub := range log.pubs {
		want, err := inner.HPKEPublicKey(log.privs[i])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pub, want) {
			t.Errorf("open %d: public key %x, want the private key's %x", i, pub, want)
		}
	}
}
