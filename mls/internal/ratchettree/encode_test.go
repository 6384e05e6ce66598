package ratchettree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"
	"weak"

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
		switch i % 4 {
		case 2:
			// Every kept encoding shared with the nodes.
			tr.minSharedTest = 1
		case 3:
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
			check("diff again", again, err, d.RatchetTree())
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
			if e := tr.encoded; e != nil && e.gen == tr.gen {
				adopted++
			} else if tr.maxKeptTest == 0 {
				t.Fatalf("case %d: the merged tree did not carry its encoding across the merge", i)
			}
			enc, err = tr.EncodedRatchetTree()
			check("merged tree", enc, err, tr.RatchetTree())
			if _, err := d.EncodedRatchetTree(); merge == d && err != ErrStaleDiff {
				t.Fatalf("case %d: a merged Diff encoded: %v", i, err)
			}
		}
	}
	if adopted == 0 {
		t.Error("no merged tree carried its encoding across a merge")
	}
}

// TestEncoderAcrossMerges: over long random sequences of merged Diffs
// (adds that extend the tree, removes that truncate it, updates and
// paths; trees whose encoding is kept and trees too large to keep it),
// each Diff's Encoder, the Tree's Encoder and Tree.EncodedRatchetTree give
// codec.RatchetTree.Marshal's bytes, written after other bytes (as in a
// GroupInfoTBS) and at the start of a buffer, with Len exact; the kept
// encoding is carried across every merge (its changes overlaid, not
// encoded again) and flattened once the overlay passes maxOver.
func TestEncoderAcrossMerges(t *testing.T) {
	seed := testseed.Seed(t)
	cs := suite(t, 1)
	flattened := 0
	for i := range 12 {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		g := &keyGen{}
		tr := buildTree(t, cs, g, 1+r.IntN(30), r.IntN(2) == 0)
		switch i % 4 {
		case 2:
			tr.minSharedTest = 1
		case 3:
			tr.maxKeptTest = 1
		}
		check := func(name string, enc *Encoder, err error, rt codec.RatchetTree) {
			t.Helper()
			if err != nil {
				t.Fatalf("case %d, %s: %v", i, name, err)
			}
			want := marshalView(t, rt)
			if enc.Len() != len(want) {
				t.Fatalf("case %d, %s: Len %d, want %d", i, name, enc.Len(), len(want))
			}
			for _, prefix := range [][]byte{nil, []byte("a GroupInfoTBS head")} {
				got, err := enc.AppendTo(append([]byte(nil), prefix...))
				if err != nil || !bytes.Equal(got, append(append([]byte(nil), prefix...), want...)) {
					t.Fatalf("case %d, %s, after %d bytes: encoding of %d bytes differs from the codec's %d (%v)", i, name, len(prefix), len(got)-len(prefix), len(want), err)
				}
			}
		}
		prevOver := 0
		for round := range 40 {
			d := tr.Stage()
			if err := randomOps(t, d, g, r, 1+r.IntN(4)); err != nil {
				t.Fatal(err)
			}
			enc, err := d.Encoder()
			check("diff", enc, err, d.RatchetTree())
			if e := tr.encoded; e != nil {
				if len(e.over) < prevOver {
					flattened++
				}
				if len(e.over) > maxOver(NodeIndex(width(tr))) {
					t.Fatalf("case %d, round %d: an overlay of %d nodes was used", i, round, len(e.over))
				}
			}
			if _, err := d.Merge(); err != nil {
				t.Fatal(err)
			}
			if e := tr.encoded; tr.maxKeptTest == 0 && (e == nil || e.gen != tr.gen) && prevOver <= maxOver(NodeIndex(width(tr))) {
				t.Fatalf("case %d, round %d: the merged tree has no encoding of its state", i, round)
			}
			if e := tr.encoded; e != nil {
				prevOver = len(e.over)
			}
			if round%5 == 4 {
				enc, err := tr.Encoder()
				check("tree", enc, err, tr.RatchetTree())
				b, err := tr.EncodedRatchetTree()
				if err != nil || !bytes.Equal(b, marshalView(t, tr.RatchetTree())) {
					t.Fatalf("case %d: the tree's encoding differs from the codec's (%v)", i, err)
				}
				if e := tr.encoded; tr.maxKeptTest == 0 && (e == nil || !e.flat()) {
					t.Fatalf("case %d: the tree's encoding was not flattened", i)
				}
				if tr.minSharedTest > 0 {
					if x, ok := unshared(tr, tr.encoded.data); !ok {
						t.Fatalf("case %d, round %d: node %d does not share the kept encoding", i, round, x)
					}
				}
			}
		}
	}
	if flattened == 0 {
		t.Error("no overlay was flattened past maxOver")
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

// TestHashInputScratch: a tree's hash input is the generated encoding of
// its TreeHashInput (RFC 9420 §7.8), for leaves and parents, blank or
// not; given no scratch or too small a one, it is encoded in a new buffer
// of exactly its length (one allocation, not grown by append); given a
// scratch that holds it, in that scratch, without allocating.
func TestHashInputScratch(t *testing.T) {
	var g keyGen
	ln := g.fakeLeaf(codec.LeafNodeSourceCommit)
	ln.ParentHash = g.key('p')
	ln.Credential.Identity = make([]byte, 300) // a 2-byte varint prefix
	pn := &codec.ParentNode{EncryptionKey: g.key('e'), ParentHash: g.key('p'), UnmergedLeaves: []uint32{1, 3}}
	lh, rh := g.key('l'), g.key('r')
	leafIn := func(l uint32, ln *codec.LeafNode) codec.TreeHashInput {
		return codec.TreeHashInput{NodeType: codec.NodeTypeLeaf, LeafNode: &codec.LeafNodeHashInput{LeafIndex: l, LeafNode: ln}}
	}
	parentIn := func(pn *codec.ParentNode) codec.TreeHashInput {
		return codec.TreeHashInput{NodeType: codec.NodeTypeParent, ParentNode: &codec.ParentNodeHashInput{ParentNode: pn, LeftHash: lh, RightHash: rh}}
	}
	for _, c := range []struct {
		name string
		enc  func([]byte) ([]byte, error)
		in   codec.TreeHashInput
	}{
		{"leaf", func(b []byte) ([]byte, error) { return leafHashInput(b, 5, ln) }, leafIn(5, ln)},
		{"blank leaf", func(b []byte) ([]byte, error) { return leafHashInput(b, 2, nil) }, leafIn(2, nil)},
		{"parent", func(b []byte) ([]byte, error) { return parentHashInputTH(b, pn, lh, rh) }, parentIn(pn)},
		{"blank parent", func(b []byte) ([]byte, error) { return parentHashInputTH(b, nil, lh, rh) }, parentIn(nil)},
	} {
		want, err := c.in.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.enc(nil)
		if err != nil || !bytes.Equal(got, want) || cap(got) != len(want) {
			t.Errorf("%s: no scratch: %d bytes of capacity %d (%v), want the %d of the TreeHashInput", c.name, len(got), cap(got), err, len(want))
		}
		small := make([]byte, 3, len(want)-1)
		if got, err = c.enc(small); err != nil || !bytes.Equal(got, want) || cap(got) != len(want) {
			t.Errorf("%s: scratch one byte short: %d bytes of capacity %d (%v), want %d", c.name, len(got), cap(got), err, len(want))
		}
		big := make([]byte, 3, len(want)+10)
		if got, err = c.enc(big); err != nil || !bytes.Equal(got, want) || &got[0] != &big[0] {
			t.Errorf("%s: a scratch that holds the input was not used (%v)", c.name, err)
		}
		if n := testing.AllocsPerRun(20, func() { _, _ = c.enc(nil) }); n != 1 {
			t.Errorf("%s: %.0f allocations without scratch, want 1", c.name, n)
		}
		if n := testing.AllocsPerRun(20, func() { _, _ = c.enc(big) }); n != 0 {
			t.Errorf("%s: %.0f allocations with scratch, want 0", c.name, n)
		}
	}
}

// TestEncodedAfterTruncation: a Tree whose kept encoding a merge only
// truncated (the rightmost members removed: no node below the new width
// changed, so nothing is overlaid) encodes its new, shorter state, not
// the kept bytes.
func TestEncodedAfterTruncation(t *testing.T) {
	cs := suite(t, 1)
	g := &keyGen{}
	tr := buildTree(t, cs, g, 8, false)
	if _, err := tr.EncodedRatchetTree(); err != nil {
		t.Fatal(err)
	}
	for tr.LeafCount() > 1 {
		d := tr.Stage()
		var last LeafIndex
		d.Members(func(l LeafIndex, _ *codec.LeafNode) bool { last = l; return true })
		if err := d.Remove(last); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Merge(); err != nil {
			t.Fatal(err)
		}
		got, err := tr.EncodedRatchetTree()
		if err != nil || !bytes.Equal(got, marshalView(t, tr.RatchetTree())) {
			t.Fatalf("%d leaves: the encoding differs from the codec's (%v)", tr.LeafCount(), err)
		}
	}
}

// TestEncodingDroppedWhenUnused: a Tree that keeps its encoding but merges
// many changes without encoding (a member that only processes others'
// Commits) drops it once the overlay passes twice maxOver, so that each
// merge costs its change alone; its next encoding is still the codec's.
func TestEncodingDroppedWhenUnused(t *testing.T) {
	seed := testseed.Seed(t)
	r := rand.New(rand.NewPCG(seed, 1))
	cs := suite(t, 1)
	g := &keyGen{}
	tr := buildTree(t, cs, g, 100, true) // 255 nodes: more than twice maxOver
	if _, err := tr.EncodedRatchetTree(); err != nil {
		t.Fatal(err)
	}
	dropped := false
	for range 200 {
		d := tr.Stage()
		if err := randomOps(t, d, g, r, 3); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Merge(); err != nil {
			t.Fatal(err)
		}
		e := tr.encoded
		if e != nil && len(e.over) > 2*maxOver(NodeIndex(width(tr))) {
			t.Fatalf("an overlay of %d nodes was kept", len(e.over))
		}
		if e == nil {
			dropped = true
			break
		}
	}
	if !dropped {
		t.Fatal("the unused encoding was never dropped")
	}
	got, err := tr.EncodedRatchetTree()
	if err != nil || !bytes.Equal(got, marshalView(t, tr.RatchetTree())) {
		t.Fatalf("the encoding differs from the codec's (%v)", err)
	}
}

// within reports whether b lies in data's memory (a slice of it).
func within(b, data []byte) bool {
	if len(b) == 0 {
		return true
	}
	p, s := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	return p >= s && p+uintptr(len(b)) <= s+uintptr(len(data))
}

// unshared returns a non-blank node of tr with a byte field outside data
// (ok false), if any: after Tree.share every node's bytes are data's.
func unshared(tr *Tree, data []byte) (NodeIndex, bool) {
	for x := NodeIndex(0); x < NodeIndex(width(tr)); x++ {
		var fields [][]byte
		if x.IsLeaf() {
			if ln := tr.leafAt(LeafIndex(x >> 1)); ln != nil {
				fields = [][]byte{ln.EncryptionKey, ln.SignatureKey, ln.Credential.Identity, ln.ParentHash, ln.Signature}
			}
		} else if p := tr.parentAt(x); p != nil {
			fields = [][]byte{p.EncryptionKey, p.ParentHash}
		}
		for _, f := range fields {
			if !within(f, data) {
				return x, false
			}
		}
	}
	return 0, true
}

// TestSharedEncoding: a Tree that keeps an encoding of at least minShared
// bytes shares it with its nodes (Tree.share): afterwards every node's
// bytes are the kept encoding's, the buffer the nodes were decoded from
// is released (no second copy of the tree is held), and the tree is the
// same: its encoding, tree hash, key lookups. An encoding below the bound
// is kept as a copy, the nodes untouched.
func TestSharedEncoding(t *testing.T) {
	cs := suite(t, 1)
	for _, c := range []struct {
		n      int
		dense  bool
		shared bool
	}{{1, false, true}, {37, false, true}, {37, true, true}, {64, true, true}, {37, true, false}} {
		g := &keyGen{}
		src := buildTree(t, cs, g, c.n, c.dense)
		data := marshalView(t, src.RatchetTree())
		wantHash, err := src.TreeHash()
		if err != nil {
			t.Fatal(err)
		}
		// Nodes decoded from a buffer of our own, watched weakly.
		buf := bytes.Clone(data)
		var rt codec.RatchetTree
		if err := rt.Decode(codec.NewReader(buf)); err != nil {
			t.Fatal(err)
		}
		tr, err := FromRatchetTree(cs, rt)
		if err != nil {
			t.Fatal(err)
		}
		decoded := weak.Make(&buf[0])
		buf, rt = nil, nil
		tr.minSharedTest = len(data) // shared from exactly its size
		if !c.shared {
			tr.minSharedTest = len(data) + 1
		}
		enc, err := tr.EncodedRatchetTree()
		if err != nil || !bytes.Equal(enc, data) {
			t.Fatalf("N=%d: encoding differs from the codec's (%v)", c.n, err)
		}
		e := tr.encoded
		if e == nil || !e.flat() || !bytes.Equal(e.data, data) {
			t.Fatalf("N=%d: no flat encoding kept", c.n)
		}
		x, ok := unshared(tr, e.data)
		runtime.GC()
		runtime.GC()
		released := decoded.Value() == nil
		switch {
		case c.shared && !ok:
			t.Errorf("N=%d: node %d does not share the kept encoding", c.n, x)
		case c.shared && !released:
			t.Errorf("N=%d: the buffer the nodes were decoded from is still held", c.n)
		case !c.shared && (ok || released):
			t.Errorf("N=%d, below the bound: nodes moved to the kept encoding (%v) or their buffer released (%v)", c.n, ok, released)
		}
		if h, err := tr.TreeHash(); err != nil || !bytes.Equal(h, wantHash) {
			t.Errorf("N=%d: tree hash changed (%v)", c.n, err)
		}
		fresh, err := DecodeRatchetTree(cs, marshalView(t, tr.RatchetTree()))
		if err != nil {
			t.Fatal(err)
		}
		if h, err := fresh.TreeHash(); err != nil || !bytes.Equal(h, wantHash) {
			t.Errorf("N=%d: the tree's nodes hash to another tree (%v)", c.n, err)
		}
		for l := LeafIndex(0); uint32(l) < uint32(tr.LeafCount()); l++ {
			ln := tr.Leaf(l)
			if ln == nil {
				continue
			}
			if got, ok := tr.sigOwner(ln.SignatureKey); !ok || got != l {
				t.Errorf("N=%d: signature key of leaf %d found at %d, %v", c.n, l, got, ok)
			}
			if got, ok := tr.encOwner(ln.EncryptionKey); !ok || got != l.Node() {
				t.Errorf("N=%d: encryption key of leaf %d found at %d, %v", c.n, l, got, ok)
			}
		}
		runtime.KeepAlive(tr)
	}
}

// TestSharedEncodingHeap: keeping a shared encoding adds to a decoded
// tree's heap only its element offsets (4 bytes a node; under a 16th of
// the encoding), not a second copy of its bytes nor the slack of a buffer
// grown by append (the first encoding is made without a size hint),
// which is what keeping an unshared one adds (the control, which shows
// that the measurement sees it).
func TestSharedEncodingHeap(t *testing.T) {
	cs := suite(t, 1)
	data := fakeFullTree(t, 5000)
	live := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for _, shared := range []bool{true, false} {
		// A tree that keeps no encoding yet (DecodeRatchetTree's keeps
		// the one it was decoded from).
		var rt codec.RatchetTree
		if err := rt.Unmarshal(data); err != nil {
			t.Fatal(err)
		}
		tr, err := FromRatchetTree(cs, rt)
		if err != nil {
			t.Fatal(err)
		}
		rt = nil
		tr.minSharedTest = 1
		if !shared {
			tr.minSharedTest = maxKept + 1
		}
		before := live()
		if _, err := tr.EncodedRatchetTree(); err != nil {
			t.Fatal(err)
		}
		after := live()
		if tr.encoded == nil {
			t.Fatal("no encoding kept")
		}
		grew := int64(after) - int64(before)
		t.Logf("shared %v: a %d-byte encoding kept, heap grew by %d bytes", shared, len(data), grew)
		if shared && grew > int64(len(data)/16) {
			t.Errorf("keeping a shared encoding of %d bytes grew the heap by %d", len(data), grew)
		}
		if !shared && grew < int64(len(data))*9/10 {
			t.Errorf("keeping an unshared encoding of %d bytes grew the heap by %d only: the measurement misses it", len(data), grew)
		}
		runtime.KeepAlive(tr)
	}
}
