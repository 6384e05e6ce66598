package ratchettree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/cputime"
	"github.com/mlskit/mlskit/internal/testseed"
)

// marshalView is the generated codec's encoding of v's ratchet_tree value,
// the reference EncodedRatchetTree must equal.
func marshalView(t *testing.T, rt codec.RatchetTree) []byte {
	t.Helper()
	b, err := rt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncodedRatchetTree: the kept encodings of a Tree and of its Diffs
// are codec.RatchetTree.Marshal's, on random trees and random changes
// (adds that extend the tree, removes that truncate it, updates and
// paths), and never stale: a Diff changed after it was encoded, a Tree
// after a Merge (of the encoded Diff, whose encoding it adopts, or of
// another), each encode their new state.
func TestEncodedRatchetTree(t *testing.T) {
	seed := testseed.Seed(t)
	cs := suite(t, 1)
	adopted := 0
	for i := range 40 {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		g := &keyGen{}
		tr := buildTree(t, cs, g, 1+r.IntN(40), r.IntN(2) == 0)
		check := func(name string, got []byte, err error, rt codec.RatchetTree) {
			t.Helper()
			if err != nil {
				t.Fatalf("case %d, %s: %v", i, name, err)
			}
			if want := marshalView(t, rt); !bytes.Equal(got, want) {
				t.Fatalf("case %d, %s: encoding of %d bytes differs from the codec's %d", i, name, len(got), len(want))
			}
		}
		if i%4 == 3 {
			// Encodings too large to keep: made for each use, correct.
			tr.maxKeptTest = 1
		}
		enc, err := tr.EncodedRatchetTree()
		check("tree", enc, err, tr.RatchetTree())
		for round := range 3 {
			d := tr.Stage()
			enc, err := d.EncodedRatchetTree()
			check("unchanged diff", enc, err, d.RatchetTree())
			if err := randomOps(t, d, g, r, 1+r.IntN(8)); err != nil {
				t.Fatal(err)
			}
			enc, err = d.EncodedRatchetTree()
			check("diff", enc, err, d.RatchetTree())
			again, err := d.EncodedRatchetTree()
			if kept := tr.maxKeptTest == 0; err != nil || kept != (&again[0] == &enc[0]) {
				t.Fatalf("case %d: an unchanged Diff's encoding was made again (kept: %v)", i, kept)
			}
			// A change after the encoding: the next one is the new state's.
			if err := randomOps(t, d, g, r, 1); err != nil {
				t.Fatal(err)
			}
			enc, err = d.EncodedRatchetTree()
			check("diff changed after encoding", enc, err, d.RatchetTree())
			// A sibling Diff merged instead (every other round) leaves the
			// tree with no kept encoding of the state it merged.
			merge := d
			if round%2 == 1 {
				merge = tr.Stage()
				if err := randomOps(t, merge, g, r, 1+r.IntN(4)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := merge.Merge(); err != nil {
				t.Fatal(err)
			}
			if tr.encoded != nil {
				adopted++
			} else if merge == d && tr.maxKeptTest == 0 {
				t.Fatalf("case %d: the merged tree did not adopt its Diff's encoding", i)
			}
			enc, err = tr.EncodedRatchetTree()
			check("merged tree", enc, err, tr.RatchetTree())
			if _, err := d.EncodedRatchetTree(); merge == d && err != ErrStaleDiff {
				t.Fatalf("case %d: a merged Diff encoded: %v", i, err)
			}
		}
	}
	if adopted == 0 {
		t.Error("no merged tree adopted its Diff's encoding")
	}
}

// BenchmarkEncodedRatchetTree: the ratchet_tree extension of a Diff that
// adds one member to a tree of N members (an add commit's GroupInfo, RFC
// 9420 §12.4.3.3), encoded whole by the codec (codec) and spliced from the
// base tree's kept encoding (kept; the base's own encoding made once).
func BenchmarkEncodedRatchetTree(b *testing.B) {
	cs := suite(b, 1)
	for _, n := range []int{1000, 10000} {
		g := &keyGen{}
		tr := buildTree(b, cs, g, n, false)
		extra := g.fakeLeaf(codec.LeafNodeSourceKeyPackage)
		stage := func() *Diff {
			d := tr.Stage()
			if _, err := d.Add(extra); err != nil {
				b.Fatal(err)
			}
			return d
		}
		b.Run(fmt.Sprintf("N=%d/codec", n), func(b *testing.B) {
			cpu := cputime.Process()
			for b.Loop() {
				if _, err := stage().RatchetTree().Marshal(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
		})
		b.Run(fmt.Sprintf("N=%d/kept", n), func(b *testing.B) {
			cpu := cputime.Process()
			for b.Loop() {
				if _, err := stage().EncodedRatchetTree(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// TestHashBuf: a new hash input buffer holds the TreeHashInput of a
// commit-source leaf as mlskit makes one (32-byte keys and parent hash, a
// 64-byte signature, a basic credential, capabilities listing several
// values of each kind) without growing, and a buffer is reused emptied.
func TestHashBuf(t *testing.T) {
	var g keyGen
	ln := g.fakeLeaf(codec.LeafNodeSourceCommit)
	ln.ParentHash = g.key('p')
	ln.Credential.Identity = make([]byte, 64)
	for i := range 8 {
		ln.Capabilities.CipherSuites = append(ln.Capabilities.CipherSuites, codec.CipherSuite(0x0a0a+0x1010*i))
		ln.Capabilities.Extensions = append(ln.Capabilities.Extensions, codec.ExtensionType(0x0a0a+0x1010*i))
		ln.Capabilities.Proposals = append(ln.Capabilities.Proposals, codec.ProposalType(0x0a0a+0x1010*i))
		ln.Capabilities.Credentials = append(ln.Capabilities.Credentials, codec.CredentialType(0x0a0a+0x1010*i))
	}
	b := hashBuf(nil)
	in, err := leafHashInput(b, 5, ln)
	if err != nil {
		t.Fatal(err)
	}
	if cap(in) != hashInputCap || &in[:1][0] != &b[:1][0] {
		t.Errorf("a leaf's hash input of %d bytes outgrew the new buffer of %d", len(in), hashInputCap)
	}
	if again := hashBuf(in); len(again) != 0 || cap(again) != cap(in) || &again[:1][0] != &in[0] {
		t.Errorf("hashBuf did not reuse the buffer: len %d cap %d", len(again), cap(again))
	}
}
