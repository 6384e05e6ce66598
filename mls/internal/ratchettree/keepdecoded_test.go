package ratchettree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
)

// nodePointers returns the node values of tr, in node order.
func nodePointers(tr *Tree) []any {
	var p []any
	for x := NodeIndex(0); x < NodeIndex(width(tr)); x++ {
		if x.IsLeaf() {
			p = append(p, tr.leafAt(LeafIndex(x>>1)))
		} else {
			p = append(p, tr.parentAt(x))
		}
	}
	return p
}

// TestDecodedTreeKeepsItsEncoding: a tree decoded from a ratchet_tree
// (DecodeRatchetTree, as a group loaded from storage) keeps the bytes it
// was decoded from as its encoding, with the offsets encoding it would
// give, so that its first encoding, shared with the nodes (minSharedTest
// 1) or not, neither decodes a node again (the node values are the same
// ones) nor makes a new buffer, and the tree hash is unchanged; a Diff's
// Encoder and a Merge then work from it as from any kept encoding.
func TestDecodedTreeKeepsItsEncoding(t *testing.T) {
	cs := suite(t, 1)
	for _, c := range []struct {
		n     int
		dense bool
	}{{1, true}, {2, false}, {5, false}, {7, true}, {33, false}, {100, true}} {
		g := &keyGen{}
		data := marshalView(t, buildTree(t, cs, g, c.n, c.dense).RatchetTree())
		for _, shared := range []bool{true, false} {
			tr, err := DecodeRatchetTree(cs, data)
			if err != nil {
				t.Fatal(err)
			}
			if shared {
				tr.minSharedTest = 1
			}
			if tr.encoded != nil || tr.decoded == nil {
				t.Fatalf("N=%d: decoded bytes not recorded, or made an encoding before one is needed", c.n)
			}
			if &tr.decoded.data[0] == &data[0] {
				t.Fatalf("N=%d: DecodeRatchetTree keeps the caller's buffer, not its copy", c.n)
			}
			wantHash := referenceTreeHash(t, cs, tr.RatchetTree())
			before := nodePointers(tr)
			enc, err := tr.EncodedRatchetTree()
			if err != nil || !bytes.Equal(enc, data) {
				t.Fatalf("N=%d: first encoding differs from the codec's (%v)", c.n, err)
			}
			e := tr.encoded
			if e == nil || !e.flat() || e.gen != tr.gen || &e.data[0] != &enc[0] || tr.decoded != nil {
				t.Fatalf("N=%d: the decoded bytes are not the tree's flat kept encoding", c.n)
			}
			if x, ok := unshared(tr, e.data); !ok {
				t.Fatalf("N=%d: node %d does not alias the kept encoding", c.n, x)
			}
			after := nodePointers(tr)
			for x := range before {
				if before[x] != after[x] {
					t.Fatalf("N=%d, shared %v: node %d decoded again by the first encoding", c.n, shared, x)
				}
			}
			fresh, err := encodeView(tr, 0)
			if err != nil {
				t.Fatal(err)
			}
			if e.hdr != fresh.hdr || e.minW != fresh.minW || len(e.off) != len(fresh.off) {
				t.Fatalf("N=%d: kept header %d, width %d, %d offsets; encoding anew gives %d, %d, %d", c.n, e.hdr, e.minW, len(e.off), fresh.hdr, fresh.minW, len(fresh.off))
			}
			for x := range e.off {
				if e.off[x] != fresh.off[x] {
					t.Fatalf("N=%d: element %d at %d, encoding anew puts it at %d", c.n, x, e.off[x], fresh.off[x])
				}
			}
			if h, err := tr.TreeHash(); err != nil || !bytes.Equal(h, wantHash) {
				t.Fatalf("N=%d: tree hash changed (%v)", c.n, err)
			}
			// A Diff's encoding and the merged tree's, from the kept one.
			d := tr.Stage()
			if _, err := d.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage)); err != nil {
				t.Fatal(err)
			}
			denc, err := d.EncodedRatchetTree()
			if err != nil || !bytes.Equal(denc, marshalView(t, d.RatchetTree())) {
				t.Fatalf("N=%d: Diff's encoding differs from the codec's (%v)", c.n, err)
			}
			if _, err := d.Merge(); err != nil {
				t.Fatal(err)
			}
			menc, err := tr.EncodedRatchetTree()
			if err != nil || !bytes.Equal(menc, marshalView(t, tr.RatchetTree())) {
				t.Fatalf("N=%d: merged tree's encoding differs from the codec's (%v)", c.n, err)
			}
		}
	}
}

// TestKeepDecodedRefuses: KeepDecoded refuses bytes that are not a
// ratchet_tree vector (truncated, extended, without its length), keeps
// nothing of bytes the nodes were not decoded from in place (a copy of
// them, another tree's), found out when they would become its encoding,
// which is then made anew, and only notes the size of an encoding too
// large to keep.
func TestKeepDecodedRefuses(t *testing.T) {
	cs := suite(t, 1)
	g := &keyGen{}
	data := marshalView(t, buildTree(t, cs, g, 9, false).RatchetTree())
	other := marshalView(t, buildTree(t, cs, &keyGen{}, 9, false).RatchetTree())
	fromCopy := func() *Tree {
		var rt codec.RatchetTree
		if err := rt.Unmarshal(data); err != nil { // decodes a copy
			t.Fatal(err)
		}
		tr, err := FromRatchetTree(cs, rt)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	for name, b := range map[string][]byte{
		"truncated": data[:len(data)-1],
		"extended":  append(data[:len(data):len(data)], 0),
		"no prefix": data[codec.VarintSize(len(data)-2):],
	} {
		tr := fromCopy()
		if err := tr.KeepDecoded(b); err == nil || tr.decoded != nil {
			t.Errorf("%s: recorded (%v)", name, err)
		}
	}
	for name, b := range map[string][]byte{"equal bytes": data, "another tree's": other} {
		tr := fromCopy()
		if err := tr.KeepDecoded(b); err != nil {
			t.Fatal(err)
		}
		if tr.KeptEncoding() != nil || tr.decoded != nil {
			t.Errorf("%s: kept", name)
		}
		enc, err := tr.EncodedRatchetTree()
		if err != nil || !bytes.Equal(enc, data) || &enc[0] == &b[0] {
			t.Errorf("%s: encoding not made anew, or not the codec's (%v)", name, err)
		}
	}
	big := fromCopy()
	big.maxKeptTest = len(data) - 1
	if err := big.KeepDecoded(data); err != nil || big.decoded != nil || big.encoded != nil || big.encodedLen != len(data) {
		t.Errorf("too large to keep: recorded %v, size %d noted (%v)", big.decoded != nil, big.encodedLen, err)
	}
}

// TestDecodedTreeMergedFirst: a decoded tree that merges Diffs before
// making any encoding (a load replaying its chain of changes) carries the
// bytes it was decoded from across the merges without computing their
// offsets (only a truncating merge, or an overlay too long, ends that),
// and its first encoding after is the codec's, made from those bytes
// with the merged changes overlaid; on random trees and random changes
// (adds that extend the tree, removes that truncate it, updates, paths).
func TestDecodedTreeMergedFirst(t *testing.T) {
	seed := testseed.Seed(t)
	cs := suite(t, 1)
	carried := 0
	for i := range 60 {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		g := &keyGen{}
		data := marshalView(t, buildTree(t, cs, g, 1+r.IntN(40), r.IntN(2) == 0).RatchetTree())
		tr, err := DecodeRatchetTree(cs, data)
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 1 {
			tr.minSharedTest = 1
		}
		orig := tr.decoded.data
		pending := true
		for round := range r.IntN(6) {
			d := tr.Stage()
			if err := randomOps(t, d, g, r, 1+r.IntN(4)); err != nil {
				t.Fatal(err)
			}
			truncates := d.LeafCount() < tr.LeafCount()
			if _, err := d.Merge(); err != nil {
				t.Fatal(err)
			}
			switch {
			case !pending:
			case truncates:
				// The bytes became the kept encoding before the merge.
				if e := tr.encoded; e == nil || e.gen != tr.gen || &e.data[0] != &orig[0] || tr.decoded != nil {
					t.Fatalf("case %d, round %d: a truncating merge did not carry the decoded bytes as the kept encoding", i, round)
				}
				pending = false
			case tr.decoded == nil:
				pending = false // the overlay grew too long
			case tr.encoded != nil || tr.decoded.gen != tr.gen:
				t.Fatalf("case %d, round %d: offsets computed, or the decoded bytes not carried, at a merge", i, round)
			}
		}
		before := nodePointers(tr)
		enc, err := tr.Encoder()
		if err != nil {
			t.Fatal(err)
		}
		got, err := enc.AppendTo(nil)
		if err != nil || !bytes.Equal(got, marshalView(t, tr.RatchetTree())) {
			t.Fatalf("case %d: the first encoding differs from the codec's (%v)", i, err)
		}
		if pending {
			if e := tr.encoded; e == nil || e.gen != tr.gen || &e.data[0] != &orig[0] {
				t.Fatalf("case %d: the first encoding was not made from the decoded bytes", i)
			}
			carried++
		}
		for x, p := range nodePointers(tr) {
			if p != before[x] {
				t.Fatalf("case %d: node %d decoded again by the first encoding", i, x)
			}
		}
		b, err := tr.EncodedRatchetTree()
		if err != nil || !bytes.Equal(b, marshalView(t, tr.RatchetTree())) {
			t.Fatalf("case %d: the flattened encoding differs from the codec's (%v)", i, err)
		}
	}
	if carried == 0 {
		t.Error("no decoded bytes carried across a merge")
	}
}

// BenchmarkFirstEncoding measures a decoded tree's first whole encoding
// (EncodedRatchetTree): with the bytes it was decoded from kept
// (KeepDecoded, here included in the loop) or without (encoded anew and,
// shared from minShared bytes on, decoded again: Tree.share).
func BenchmarkFirstEncoding(b *testing.B) {
	cs := suite(b, 1)
	for _, n := range []int{10000, 100000} {
		data := fakeFullTree(b, n)
		for _, keep := range []bool{true, false} {
			b.Run(fmt.Sprintf("N=%d/keep=%v", n, keep), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					buf := bytes.Clone(data)
					var rt codec.RatchetTree
					if err := rt.Decode(codec.NewReader(buf)); err != nil {
						b.Fatal(err)
					}
					tr, err := FromRatchetTree(cs, rt)
					if err != nil {
						b.Fatal(err)
					}
					if n < 100000 {
						tr.minSharedTest = 1 // shared at every size measured
					}
					b.StartTimer()
					if keep {
						if err := tr.KeepDecoded(buf); err != nil {
							b.Fatal(err)
						}
					}
					if _, err := tr.EncodedRatchetTree(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
