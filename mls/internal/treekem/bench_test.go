package treekem

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/cputime"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// benchGroup is a full tree of n members: leaves 0..n-1 occupied, every
// parent node whose subtree holds a member non-blank, no unmerged leaves.
// Node keys are derived from the node index, so that any member's private
// state is known.
type benchGroup struct {
	cs      providers.CipherSuite
	n       int
	tree    *ratchettree.Tree
	signers map[treemath.LeafIndex]providers.Signer
	groupID []byte
}

func nodeSeed(x treemath.NodeIndex) []byte {
	var b [36]byte
	copy(b[:], "treekem benchmark node key seed ")
	binary.BigEndian.PutUint32(b[32:], uint32(x))
	return b[:]
}

func newBenchGroup(b *testing.B, cs providers.CipherSuite, n int) *benchGroup {
	b.Helper()
	full := treemath.FullLeafCount(treemath.LeafCount(n))
	if full < 2 {
		full = 2
	}
	g := &benchGroup{cs: cs, n: n, signers: map[treemath.LeafIndex]providers.Signer{}, groupID: []byte("bench group")}
	rt := make(codec.RatchetTree, treemath.NodeWidth(full))
	// One signature key for every member but the two the benchmarks use:
	// the tree only needs distinct encryption keys.
	sigPriv, _, err := cs.GenerateSignatureKeyPair(nil)
	if err != nil {
		b.Fatal(err)
	}
	for x := range rt {
		nx := treemath.NodeIndex(x)
		if uint64(leftmostLeaf(nx)) >= uint64(n) {
			continue
		}
		_, pub, err := cs.DeriveKeyPair(nodeSeed(nx))
		if err != nil {
			b.Fatal(err)
		}
		if l, ok := nx.Leaf(); ok {
			sp := sigPriv
			if l == 0 || int(l) == n-1 {
				if sp, _, err = cs.GenerateSignatureKeyPair(nil); err != nil {
					b.Fatal(err)
				}
			}
			s, err := cs.NewSigner(sp)
			if err != nil {
				b.Fatal(err)
			}
			if l == 0 || int(l) == n-1 {
				g.signers[l] = s
			}
			ln := &codec.LeafNode{
				EncryptionKey:  pub,
				SignatureKey:   s.PublicKey(),
				Credential:     codec.Credential{CredentialType: codec.CredentialTypeBasic, Identity: fmt.Appendf(nil, "member %d", l)},
				LeafNodeSource: codec.LeafNodeSourceKeyPackage,
				Lifetime:       &codec.Lifetime{NotAfter: math.MaxUint64},
				Signature:      []byte("unverified"),
			}
			if l != 0 && int(l) != n-1 {
				// Signature keys must be distinct in the tree.
				ln.SignatureKey = fmt.Appendf(nil, "sig %d", l)
			}
			rt[x] = &codec.Node{NodeType: codec.NodeTypeLeaf, LeafNode: ln}
		} else {
			rt[x] = &codec.Node{NodeType: codec.NodeTypeParent, ParentNode: &codec.ParentNode{EncryptionKey: pub}}
		}
	}
	for len(rt) > 0 && rt[len(rt)-1] == nil {
		rt = rt[:len(rt)-1]
	}
	if g.tree, err = ratchettree.FromRatchetTree(cs, rt); err != nil {
		b.Fatal(err)
	}
	if _, err := g.tree.TreeHash(); err != nil { // fill the hash cache
		b.Fatal(err)
	}
	return g
}

// keysOf returns the private state of member l: its leaf and direct path.
func (g *benchGroup) keysOf(b *testing.B, l treemath.LeafIndex) *PrivateKeys {
	k := NewPrivateKeys()
	dp, _ := treemath.DirectPath(l.Node(), g.tree.LeafCount())
	for _, x := range append([]treemath.NodeIndex{l.Node()}, dp...) {
		priv, pub, err := g.cs.DeriveKeyPair(nodeSeed(x))
		if err != nil {
			b.Fatal(err)
		}
		k.Set(x, priv, pub)
	}
	return k
}

func (g *benchGroup) ctx() ContextFunc {
	return contextFunc(g.cs.ID(), g.groupID, 8, make([]byte, g.cs.HashSize()))
}

// measure runs f b.N times and reports, besides ns/op (wall clock), the
// process CPU time per operation (cpu-ns/op), which other processes on a
// shared machine disturb much less. With GOMAXPROCS=1 it is the sequential
// cost; with more, the total work of all goroutines.
func measure(b *testing.B, f func()) {
	b.ReportAllocs()
	b.ResetTimer()
	start := cputime.Process()
	for i := 0; i < b.N; i++ {
		f()
	}
	b.StopTimer()
	b.ReportMetric(float64((cputime.Process()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

var benchSizes = []int{2, 10, 100, 1000, 10000}

// floorMicros is the floor for creating an UpdatePath at n members:
// 79 + 87·log2(n) µs.
func floorMicros(n int) float64 { return 79 + 87*math.Log2(float64(n)) }

func benchSuite(b *testing.B) providers.CipherSuite {
	cs, err := defaultcrypto.New().CipherSuite(codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

// BenchmarkTreeKEM measures creating and applying an UpdatePath on full
// trees (suite 1), next to the primitives they are made of, in one run.
// The x_floor metric of create is ns/op divided by the floor
// (79 + 87·log2 N µs); apply/far is a receiver whose common ancestor with
// the committer is the root (half the group), apply/near the committer's
// sibling (the most key derivations).
func BenchmarkTreeKEM(b *testing.B) {
	cs := benchSuite(b)
	b.Run("primitives", func(b *testing.B) { benchPrimitives(b, cs) })
	for _, n := range benchSizes {
		if testing.Short() && n > 1000 {
			continue
		}
		g := newBenchGroup(b, cs, n)
		b.Run(fmt.Sprintf("create/N=%d", n), func(b *testing.B) {
			tmpl := g.tree.Leaf(0)
			measure(b, func() {
				cr, err := CreateUpdatePath(g.tree.Stage(), &CreateParams{
					Suite: cs, Leaf: 0, LeafNode: tmpl, Signer: g.signers[0], GroupID: g.groupID, Context: g.ctx(),
				})
				if err != nil {
					b.Fatal(err)
				}
				cr.Zero()
			})
			perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(perOp/(floorMicros(n)*1000), "x_floor")
		})
		cr, err := CreateUpdatePath(g.tree.Stage(), &CreateParams{
			Suite: cs, Leaf: 0, LeafNode: g.tree.Leaf(0), Signer: g.signers[0], GroupID: g.groupID, Context: g.ctx(),
		})
		if err != nil {
			b.Fatal(err)
		}
		receivers := []struct {
			name string
			l    treemath.LeafIndex
		}{{"far", treemath.LeafIndex(n - 1)}, {"near", 1}}
		for _, r := range receivers {
			if r.name == "near" && n == 2 {
				continue // the same receiver as far
			}
			keys := g.keysOf(b, r.l)
			b.Run(fmt.Sprintf("apply/%s/N=%d", r.name, n), func(b *testing.B) {
				measure(b, func() {
					res, err := ApplyUpdatePath(g.tree.Stage(), &ApplyParams{
						Suite: cs, Sender: 0, Path: cr.Path, GroupID: g.groupID, Self: r.l, Keys: keys, Context: g.ctx(),
					})
					if err != nil {
						b.Fatal(err)
					}
					res.Zero()
				})
			})
		}
	}
}

func benchPrimitives(b *testing.B, cs providers.CipherSuite) {
	priv, pub, err := cs.DeriveKeyPair([]byte("bench ikm"))
	if err != nil {
		b.Fatal(err)
	}
	info, _ := EncryptContext(make([]byte, 120))
	secret := make([]byte, 32)
	kem, ct, err := cs.SealBase(pub, info, nil, secret)
	if err != nil {
		b.Fatal(err)
	}
	sp, _, _ := cs.GenerateSignatureKeyPair(nil)
	signer, _ := cs.NewSigner(sp)
	msg := make([]byte, 300)
	sig, _ := signer.Sign(msg)
	b.Run("hpke-seal", func(b *testing.B) {
		measure(b, func() {
			if _, _, err := cs.SealBase(pub, info, nil, secret); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("hpke-open", func(b *testing.B) {
		measure(b, func() {
			if _, err := cs.OpenBase(priv, kem, info, nil, ct); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("derive-key-pair", func(b *testing.B) {
		measure(b, func() {
			if _, _, err := cs.DeriveKeyPair(secret); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("ed25519-sign", func(b *testing.B) {
		measure(b, func() {
			if _, err := signer.Sign(msg); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("ed25519-verify", func(b *testing.B) {
		measure(b, func() {
			if err := cs.Verify(signer.PublicKey(), msg, sig); err != nil {
				b.Fatal(err)
			}
		})
	})
}
