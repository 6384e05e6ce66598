package ratchettree

import (
	"bytes"
	"testing"

	"github.com/mlskit/mlskit/codec"
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
			e := tr.encoded
			if e == nil || !e.flat() || e.gen != tr.gen || !bytes.Equal(e.data, data) {
				t.Fatalf("N=%d: the decoded bytes are not kept as the tree's flat encoding", c.n)
			}
			if &e.data[0] == &data[0] {
				t.Fatalf("N=%d: DecodeRatchetTree keeps the caller's buffer, not its copy", c.n)
			}
			if x, ok := unshared(tr, e.data); !ok {
				t.Fatalf("N=%d: node %d does not alias the kept encoding", c.n, x)
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
			wantHash := referenceTreeHash(t, cs, tr.RatchetTree())
			before := nodePointers(tr)
			enc, err := tr.EncodedRatchetTree()
			if err != nil || !bytes.Equal(enc, data) || &enc[0] != &e.data[0] {
				t.Fatalf("N=%d: first encoding is not the kept bytes (%v)", c.n, err)
			}
			after := nodePointers(tr)
			for x := range before {
				if before[x] != after[x] {
					t.Fatalf("N=%d, shared %v: node %d decoded again by the first encoding", c.n, shared, x)
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

// TestKeepDecodedRefuses: KeepDecoded keeps nothing, and says so, for
// bytes the nodes were not decoded from in place — a copy of them, those
// of another tree, a truncated or extended vector — and only notes the
// size of an encoding too large to keep.
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
	tr := fromCopy()
	if err := tr.KeepDecoded(data); err == nil || tr.encoded != nil {
		t.Errorf("bytes equal to the nodes' but not theirs: kept (%v)", err)
	}
	if err := tr.KeepDecoded(other); err == nil || tr.encoded != nil {
		t.Errorf("another tree's bytes: kept (%v)", err)
	}
	owned, err := DecodeRatchetTree(cs, data)
	if err != nil {
		t.Fatal(err)
	}
	if owned.encoded == nil {
		t.Fatal("DecodeRatchetTree keeps no encoding")
	}
	own := owned.encoded.data
	for name, b := range map[string][]byte{
		"truncated": own[:len(own)-1],
		"extended":  append(own[:len(own):len(own)], 0),
		"no prefix": own[owned.encoded.hdr:],
	} {
		owned.encoded = nil
		if err := owned.KeepDecoded(b); err == nil || owned.encoded != nil {
			t.Errorf("%s: kept (%v)", name, err)
		}
	}
	if err := owned.KeepDecoded(own); err != nil || owned.encoded == nil {
		t.Errorf("its own bytes: not kept (%v)", err)
	}
	big := fromCopy()
	big.maxKeptTest = len(data) - 1
	if err := big.KeepDecoded(data); err != nil || big.encoded != nil || big.encodedLen != len(data) {
		t.Errorf("too large to keep: kept %v, size %d noted (%v)", big.encoded != nil, big.encodedLen, err)
	}
}
