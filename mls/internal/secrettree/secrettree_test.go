package secrettree_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/stdcrypto"
)

type hexBytes = testvectors.HexBytes

// secretTreeCase is one case of secret-tree.json (FORMAT.md, "Secret Tree").
type secretTreeCase struct {
	CipherSuite codec.CipherSuite `json:"cipher_suite"`
	SenderData  struct {
		SenderDataSecret hexBytes `json:"sender_data_secret"`
		Ciphertext       hexBytes `json:"ciphertext"`
		Key              hexBytes `json:"key"`
		Nonce            hexBytes `json:"nonce"`
	} `json:"sender_data"`
	EncryptionSecret hexBytes `json:"encryption_secret"`
	Leaves           [][]struct {
		Generation       uint32   `json:"generation"`
		HandshakeKey     hexBytes `json:"handshake_key"`
		HandshakeNonce   hexBytes `json:"handshake_nonce"`
		ApplicationKey   hexBytes `json:"application_key"`
		ApplicationNonce hexBytes `json:"application_nonce"`
	} `json:"leaves"`
}

func suite(t testing.TB, id codec.CipherSuite) providers.CipherSuite {
	t.Helper()
	cs, err := defaultcrypto.New().CipherSuite(id)
	if err != nil {
		t.Fatalf("suite %v: %v", id, err)
	}
	return cs
}

// TestSecretTreeVectors checks every leaf and generation of every case of
// secret-tree.json, in both ratchets, with a fresh tree per case and with
// Next (sending) as well as Get (receiving). The cases of the suites that
// stdcrypto supports run again with it: its suites have no Expander of
// their own (providers.NewExpander calls their Expand), defaultcrypto's
// do.
func TestSecretTreeVectors(t *testing.T) {
	var cases []secretTreeCase
	testvectors.Load(t, "secret-tree.json", &cases)
	ran := testvectors.Expect(t, "secret-tree.json", len(cases))
	seed := testseed.Seed(t) // the order in which each case's leaves are visited
	passed, checks, stdRuns := 0, 0, 0
	std := stdcrypto.New()
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d/suite%d/leaves%d", i, c.CipherSuite, len(c.Leaves)), func(t *testing.T) {
			suites := []providers.CipherSuite{suite(t, c.CipherSuite)}
			if _, ok := suites[0].(providers.ExpanderMaker); !ok {
				t.Fatalf("defaultcrypto suite %d has no Expander of its own", c.CipherSuite)
			}
			if slices.Contains(std.CipherSuites(), c.CipherSuite) {
				cs, err := std.CipherSuite(c.CipherSuite)
				if err != nil {
					t.Fatal(err)
				}
				suites = append(suites, cs)
				stdRuns++
			}
			for _, cs := range suites {
				checkSecretTreeCase(t, cs, c, rand.New(rand.NewPCG(seed, uint64(i))), &checks)
			}
			if !t.Failed() {
				passed++
			}
			ran.Ran()
		})
	}
	if stdRuns == 0 {
		t.Error("no case ran with stdcrypto")
	}
	t.Logf("secret-tree.json: %d of %d cases passed (%d key/nonce checks, %d cases with stdcrypto too), 0 skipped", passed, len(cases), checks, stdRuns)
}

// checkSecretTreeCase checks one case of secret-tree.json with cs,
// visiting the leaves in an order drawn from r.
func checkSecretTreeCase(t *testing.T, cs providers.CipherSuite, c secretTreeCase, r *rand.Rand, checks *int) {
	t.Helper()
	kn, err := secrettree.SenderDataKeyNonce(cs, c.SenderData.SenderDataSecret, c.SenderData.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kn.Key(), c.SenderData.Key) || !bytes.Equal(kn.Nonce(), c.SenderData.Nonce) {
		t.Errorf("sender data key/nonce = %x/%x, want %x/%x", kn.Key(), kn.Nonce(), c.SenderData.Key, c.SenderData.Nonce)
	}
	*checks++
	recv, err := secrettree.New(cs, c.EncryptionSecret, treemath.LeafCount(len(c.Leaves)), secrettree.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	send, err := secrettree.New(cs, c.EncryptionSecret, treemath.LeafCount(len(c.Leaves)), secrettree.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	// Visit the leaves in a shuffled order, so that the lazy
	// derivation is exercised from several stored ancestors.
	order := r.Perm(len(c.Leaves))
	for _, li := range order {
		leaf := treemath.LeafIndex(li)
		for _, g := range c.Leaves[li] {
			for _, rc := range []struct {
				rt         secrettree.RatchetType
				key, nonce []byte
			}{
				{secrettree.Handshake, g.HandshakeKey, g.HandshakeNonce},
				{secrettree.Application, g.ApplicationKey, g.ApplicationNonce},
			} {
				kn, err := recv.Get(leaf, rc.rt, g.Generation)
				if err != nil {
					t.Fatalf("Get(leaf %d, %v, %d): %v", leaf, rc.rt, g.Generation, err)
				}
				if !bytes.Equal(kn.Key(), rc.key) || !bytes.Equal(kn.Nonce(), rc.nonce) {
					t.Errorf("Get(leaf %d, %v, %d) = %x/%x, want %x/%x", leaf, rc.rt, g.Generation, kn.Key(), kn.Nonce(), rc.key, rc.nonce)
				}
				// The sender walks the ratchet with Next.
				var skn secrettree.KeyNonce
				for {
					skn, err = send.Next(leaf, rc.rt)
					if err != nil {
						t.Fatal(err)
					}
					if skn.Generation >= g.Generation {
						break
					}
				}
				if skn.Generation != g.Generation || !bytes.Equal(skn.Key(), rc.key) || !bytes.Equal(skn.Nonce(), rc.nonce) {
					t.Errorf("Next(leaf %d, %v) at %d = %x/%x, want %x/%x", leaf, rc.rt, skn.Generation, skn.Key(), skn.Nonce(), rc.key, rc.nonce)
				}
				*checks++
			}
		}
	}
}

func newTree(t testing.TB, n int, cfg secrettree.Config) *secrettree.Tree {
	t.Helper()
	cs := suite(t, codec.CipherSuite(1))
	secret := bytes.Repeat([]byte{7}, cs.HashSize())
	tr, err := secrettree.New(cs, secret, treemath.LeafCount(n), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestErrors(t *testing.T) {
	cfg := secrettree.Config{OutOfOrderTolerance: 3, MaximumForwardDistance: 10}
	tr := newTree(t, 4, cfg)
	if _, err := tr.Get(4, secrettree.Application, 0); !errors.Is(err, secrettree.ErrLeafOutOfRange) {
		t.Errorf("leaf out of range: %v", err)
	}
	var ge *secrettree.GenerationError
	if _, err := tr.Get(1, secrettree.Application, 11); !errors.Is(err, secrettree.ErrGenerationTooFar) || !errors.As(err, &ge) || ge.Generation != 11 || ge.Next != 0 {
		t.Errorf("too far: %v", err)
	}
	if _, err := tr.Get(1, secrettree.Application, 10); err != nil {
		t.Fatalf("at forward distance: %v", err)
	}
	if _, err := tr.Get(1, secrettree.Application, 10); !errors.Is(err, secrettree.ErrGenerationReused) {
		t.Errorf("reuse: %v", err)
	}
	for _, g := range []uint32{7, 8, 9} { // within the window of 3
		if _, err := tr.Get(1, secrettree.Application, g); err != nil {
			t.Errorf("out-of-order generation %d: %v", g, err)
		}
		if _, err := tr.Get(1, secrettree.Application, g); !errors.Is(err, secrettree.ErrGenerationReused) {
			t.Errorf("reuse of %d: %v", g, err)
		}
	}
	if _, err := tr.Get(1, secrettree.Application, 6); !errors.Is(err, secrettree.ErrGenerationTooOld) {
		t.Errorf("too old: %v", err)
	}
	// The handshake ratchet of the same leaf is independent.
	if _, err := tr.Get(1, secrettree.Handshake, 0); err != nil {
		t.Errorf("handshake 0: %v", err)
	}
	// Sender side: a generation handed out by Next cannot be received.
	kn, err := tr.Next(2, secrettree.Application)
	if err != nil || kn.Generation != 0 {
		t.Fatalf("Next: %v %d", err, kn.Generation)
	}
	if _, err := tr.Get(2, secrettree.Application, 0); !errors.Is(err, secrettree.ErrGenerationReused) {
		t.Errorf("Get after Next: %v", err)
	}
	tr.Zero()
	if _, err := tr.Get(3, secrettree.Application, 0); !errors.Is(err, secrettree.ErrSecretDeleted) {
		t.Errorf("after Zero: %v", err)
	}
	if _, err := tr.Next(1, secrettree.Application); !errors.Is(err, secrettree.ErrSecretDeleted) {
		t.Errorf("Next after Zero: %v", err)
	}
	cs := suite(t, codec.CipherSuite(1))
	if _, err := secrettree.New(cs, make([]byte, 31), 2, cfg); !errors.Is(err, secrettree.ErrInvalidSecret) {
		t.Errorf("short secret: %v", err)
	}
	if _, err := secrettree.New(cs, make([]byte, 32), 0, cfg); !errors.Is(err, secrettree.ErrLeafOutOfRange) {
		t.Errorf("zero leaves: %v", err)
	}
}

// TestStageDoesNotChangeTree: a staged but discarded key leaves the tree as
// it was, also for a sender's first message; a commit after another change
// is refused.
func TestStageDiscard(t *testing.T) {
	tr := newTree(t, 16, secrettree.DefaultConfig())
	ref := newTree(t, 16, secrettree.DefaultConfig())
	st, err := tr.Stage(5, secrettree.Application, 3)
	if err != nil {
		t.Fatal(err)
	}
	st.Discard()
	if err := st.Commit(); !errors.Is(err, secrettree.ErrStaleStage) {
		t.Errorf("commit after discard: %v", err)
	}
	for g := uint32(0); g < 5; g++ {
		a, err := tr.Get(5, secrettree.Application, g)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := ref.Get(5, secrettree.Application, g)
		if !bytes.Equal(a.Key(), b.Key()) {
			t.Fatalf("generation %d differs after discard", g)
		}
	}
	st1, err := tr.Stage(6, secrettree.Handshake, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Get(7, secrettree.Handshake, 0); err != nil {
		t.Fatal(err)
	}
	if err := st1.Commit(); !errors.Is(err, secrettree.ErrStaleStage) {
		t.Errorf("stale commit: %v", err)
	}
	if _, err := tr.Get(6, secrettree.Handshake, 0); err != nil {
		t.Errorf("leaf 6 after stale commit: %v", err)
	}
}

// TestOutOfOrderProperty: for random delivery orders of a sender's
// messages, a receiver obtains exactly the sender's keys for every
// generation it accepts; it accepts every generation within the window and
// never a generation twice; and what it refuses fails with the specific
// error the configuration implies.
func TestOutOfOrderProperty(t *testing.T) {
	params := testseed.Gopter(t)
	params.MinSuccessfulTests = 200
	if testing.Short() {
		params.MinSuccessfulTests = 30
	}
	cs := suite(t, codec.CipherSuite(1))
	secret := bytes.Repeat([]byte{9}, cs.HashSize())
	const msgs = 40
	sender, err := secrettree.New(cs, secret, 8, secrettree.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var want [msgs]secrettree.KeyNonce
	for i := range want {
		if want[i], err = sender.Next(3, secrettree.Application); err != nil {
			t.Fatal(err)
		}
	}
	props := gopter.NewProperties(params)
	props.Property("out-of-order delivery", prop.ForAll(
		func(seed uint64, tol, fwd uint32, dup int) bool {
			cfg := secrettree.Config{OutOfOrderTolerance: tol, MaximumForwardDistance: fwd}
			recv, err := secrettree.New(cs, secret, 8, cfg)
			if err != nil {
				return false
			}
			r := rand.New(rand.NewPCG(seed, 2))
			order := r.Perm(msgs)
			// Duplicate some deliveries.
			for i := 0; i < dup; i++ {
				order = append(order, order[r.IntN(len(order))])
			}
			used := map[uint32]bool{}
			highest := int64(-1)
			for _, gi := range order {
				g := uint32(gi)
				kn, err := recv.Get(3, secrettree.Application, g)
				next := uint32(highest + 1)
				switch {
				case highest >= 0 && int64(g) < highest && uint32(highest)-g > tol:
					if !errors.Is(err, secrettree.ErrGenerationTooOld) {
						t.Logf("generation %d too old (highest %d): %v", g, highest, err)
						return false
					}
				case used[g]:
					if !errors.Is(err, secrettree.ErrGenerationReused) {
						t.Logf("generation %d reused: %v", g, err)
						return false
					}
				case g >= next && g-next > fwd:
					if !errors.Is(err, secrettree.ErrGenerationTooFar) {
						t.Logf("generation %d too far (next %d): %v", g, next, err)
						return false
					}
				default:
					if err != nil {
						t.Logf("generation %d (highest %d): %v", g, highest, err)
						return false
					}
					if kn.Generation != g || !bytes.Equal(kn.Key(), want[g].Key()) || !bytes.Equal(kn.Nonce(), want[g].Nonce()) {
						return false
					}
					used[g] = true
					highest = max(highest, int64(g))
				}
			}
			return true
		},
		gen.UInt64(), gen.UInt32Range(0, 8), gen.UInt32Range(0, 12), gen.IntRange(0, 5),
	))
	props.TestingRun(t)
}

// TestLazyDerivation: a leaf of a 10,000-leaf tree costs O(log N) stored
// secrets, and all leaves still derive to the same values as in a tree
// visited in another order.
func TestLazyDerivation(t *testing.T) {
	big := newTree(t, 10000, secrettree.DefaultConfig())
	if _, err := big.Get(4321, secrettree.Application, 0); err != nil {
		t.Fatal(err)
	}
	if n := secrettree.StoredNodes(big); n > 14 {
		t.Errorf("%d node secrets stored after one leaf, want at most log2(16384)=14", n)
	}
	a := newTree(t, 37, secrettree.DefaultConfig())
	b := newTree(t, 37, secrettree.DefaultConfig())
	ka := map[int][]byte{}
	for l := 0; l < 37; l++ {
		kn, err := a.Get(treemath.LeafIndex(l), secrettree.Handshake, 0)
		if err != nil {
			t.Fatal(err)
		}
		ka[l] = bytes.Clone(kn.Key())
	}
	if n := secrettree.StoredNodes(a); n != 0 {
		// Every leaf derived: only secrets of the truncated right part of the
		// full tree (leaves 37..63) may remain.
		t.Logf("%d node secrets left for unused leaves", n)
	}
	for l := 36; l >= 0; l-- {
		kn, err := b.Get(treemath.LeafIndex(l), secrettree.Handshake, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ka[l], kn.Key()) {
			t.Errorf("leaf %d differs by visiting order", l)
		}
	}
}

// TestDeletion checks that used keys and consumed secrets are erased
// (§9.2): the sender keeps no past keys; a receiver keeps only skipped keys
// within the window; Zero clears everything.
func TestDeletion(t *testing.T) {
	tr := newTree(t, 4, secrettree.Config{OutOfOrderTolerance: 2, MaximumForwardDistance: 100})
	for i := 0; i < 5; i++ {
		if _, err := tr.Next(0, secrettree.Application); err != nil {
			t.Fatal(err)
		}
	}
	if n := secrettree.PastKeys(tr, 0, secrettree.Application); n != 0 {
		t.Errorf("sender keeps %d past keys", n)
	}
	if _, err := tr.Get(1, secrettree.Application, 50); err != nil {
		t.Fatal(err)
	}
	if n := secrettree.PastKeys(tr, 1, secrettree.Application); n != 2 {
		t.Errorf("receiver keeps %d past keys, want 2 (tolerance)", n)
	}
	if _, err := tr.Get(1, secrettree.Application, 49); err != nil {
		t.Fatal(err)
	}
	if n := secrettree.PastKeys(tr, 1, secrettree.Application); n != 1 {
		t.Errorf("after using one: %d past keys, want 1", n)
	}
	if _, err := tr.Get(1, secrettree.Application, 53); err != nil {
		t.Fatal(err)
	}
	// Window now 51..52; 48 was dropped (too old).
	if n := secrettree.PastKeys(tr, 1, secrettree.Application); n != 2 {
		t.Errorf("after moving on: %d past keys, want 2", n)
	}
	// Leaf 0 and 1 derived: their common parent was consumed; only the
	// right subtree's root remains.
	if n := secrettree.StoredNodes(tr); n != 1 {
		t.Errorf("%d node secrets stored, want 1", n)
	}
	tr.Zero()
	if n := secrettree.StoredNodes(tr); n != 0 {
		t.Errorf("after Zero: %d node secrets", n)
	}
}

// TestPrepare: Prepare derives a leaf's ratchets as its first message
// would (the lowest stored ancestor consumed, the siblings kept), changes
// no key of any leaf, is idempotent, and refuses a leaf outside the tree.
func TestPrepare(t *testing.T) {
	const n = 16
	prepared := newTree(t, n, secrettree.DefaultConfig())
	fresh := newTree(t, n, secrettree.DefaultConfig())
	prepared.ClearChanged()
	if err := prepared.Prepare(5); err != nil {
		t.Fatal(err)
	}
	// The root is consumed; one sibling secret per level (4) is kept.
	if got := secrettree.StoredNodes(prepared); got != 4 {
		t.Errorf("after Prepare(5): %d stored node secrets, want 4", got)
	}
	changed := map[treemath.NodeIndex]bool{}
	for _, x := range prepared.Changed() {
		changed[x] = true
	}
	root := treemath.Root(n)
	if !changed[root] || !changed[treemath.LeafIndex(5).Node()] || len(changed) != 6 {
		t.Errorf("changed nodes %v: want the root %d, leaf 5's node and its 4 siblings", prepared.Changed(), root)
	}
	if err := prepared.Prepare(5); err != nil {
		t.Fatal(err)
	}
	if got := secrettree.StoredNodes(prepared); got != 4 {
		t.Errorf("after a second Prepare(5): %d stored node secrets, want 4", got)
	}
	// Every leaf's keys are those of the tree that was not prepared.
	for l := range treemath.LeafIndex(n) {
		for _, rt := range []secrettree.RatchetType{secrettree.Handshake, secrettree.Application} {
			a, err := prepared.Next(l, rt)
			if err != nil {
				t.Fatal(err)
			}
			b, err := fresh.Next(l, rt)
			if err != nil {
				t.Fatal(err)
			}
			if a.Generation != b.Generation || !bytes.Equal(a.Key(), b.Key()) || !bytes.Equal(a.Nonce(), b.Nonce()) {
				t.Errorf("leaf %d %v: prepared tree gives %x/%x, fresh one %x/%x", l, rt, a.Key(), a.Nonce(), b.Key(), b.Nonce())
			}
		}
	}
	if err := fresh.Prepare(n); !errors.Is(err, secrettree.ErrLeafOutOfRange) {
		t.Errorf("Prepare(%d) of a %d-leaf tree: %v, want ErrLeafOutOfRange", n, n, err)
	}
}

// TestKeyNonceGeneration: a ratchet's key and nonce of a generation are
// DeriveTreeSecret(secret, "key"/"nonce", generation, Nk/Nn) (RFC 9420
// §9.1), whose encoding of the generation is checked by the RFC's
// crypto-basics vector (a generation of four distinct bytes); the vectors
// of secret-tree.json reach generation 15 only, so that a byte order
// wrong in the tree's own encoding of the upper bytes would pass them.
func TestKeyNonceGeneration(t *testing.T) {
	cs := suite(t, codec.CipherSuite(1))
	tr, err := secrettree.New(cs, make([]byte, cs.HashSize()), 2, secrettree.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	sec := bytes.Repeat([]byte{7}, cs.HashSize())
	for _, g := range []uint32{0, 1, 0x00000100, 0x01020304, 0xa0a0a0a1, 0xffffffff} {
		key, nonce, err := secrettree.KeyNonceAt(tr, sec, g)
		if err != nil {
			t.Fatal(err)
		}
		wantKey, err := providers.DeriveTreeSecret(cs, sec, "key", g, uint16(cs.AEADKeySize()))
		if err != nil {
			t.Fatal(err)
		}
		wantNonce, err := providers.DeriveTreeSecret(cs, sec, "nonce", g, uint16(cs.AEADNonceSize()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(key, wantKey) || !bytes.Equal(nonce, wantNonce) {
			t.Errorf("generation %#x: key %x nonce %x, want %x %x", g, key, nonce, wantKey, wantNonce)
		}
	}
}
