package ratchettree

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/mlskit/mlskit/internal/testseed"
)

// TestSharedTreeUnchangedByDiscardedDiff: a tree whose nodes share its
// kept encoding (Tree.share, forced on by minSharedTest) is not changed
// by a Diff staged on it, encoded (a Commit's GroupInfo) and dropped, nor
// by its own encoding made while such a Diff is pending (a GroupInfo of
// the current epoch while a Commit is pending, then the pending Commit
// cleared), in either order (the tree's encoding first shared before or
// after the Diff was staged): its nodes' encoding, its tree hash, its kept
// encoding's bytes and the sharing stay as they were, and a Diff staged
// afterwards merges to the tree the codec encodes.
func TestSharedTreeUnchangedByDiscardedDiff(t *testing.T) {
	seed := testseed.Seed(t)
	cs := suite(t, 1)
	for i := range 8 {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		g := &keyGen{}
		tr := buildTree(t, cs, g, 2+r.IntN(30), i%2 == 0)
		tr.minSharedTest = 1
		shareFirst := i%4 < 2
		if shareFirst {
			if _, err := tr.EncodedRatchetTree(); err != nil {
				t.Fatal(err)
			}
		}
		want := marshalView(t, tr.RatchetTree())
		wantHash, err := tr.TreeHash()
		if err != nil {
			t.Fatal(err)
		}
		wantHash = bytes.Clone(wantHash)
		for round := range 6 {
			d := tr.Stage()
			if err := randomOps(t, d, g, r, 1+r.IntN(4)); err != nil {
				t.Fatal(err)
			}
			// The Commit's GroupInfo, and one of the current epoch
			// while it is pending, in either order.
			if round%2 == 0 {
				if _, err := d.EncodedRatchetTree(); err != nil {
					t.Fatal(err)
				}
			}
			b, err := tr.EncodedRatchetTree()
			if err != nil || !bytes.Equal(b, want) {
				t.Fatalf("case %d, round %d: the tree's encoding with a Diff pending differs (%v)", i, round, err)
			}
			if round%2 == 1 {
				enc, err := d.Encoder()
				if err != nil {
					t.Fatal(err)
				}
				if got, err := enc.AppendTo(nil); err != nil || !bytes.Equal(got, marshalView(t, d.RatchetTree())) {
					t.Fatalf("case %d, round %d: the Diff's encoding differs from the codec's (%v)", i, round, err)
				}
			}
			e := tr.encoded
			if e == nil || !e.flat() {
				t.Fatalf("case %d, round %d: no flat encoding kept", i, round)
			}
			if x, ok := unshared(tr, e.data); !ok {
				t.Fatalf("case %d, round %d: node %d does not share the kept encoding", i, round, x)
			}
			kept := bytes.Clone(e.data)
			// The pending Commit is cleared: d is dropped (not used
			// again).
			if !bytes.Equal(marshalView(t, tr.RatchetTree()), want) {
				t.Fatalf("case %d, round %d: the tree changed", i, round)
			}
			if !bytes.Equal(tr.encoded.data, kept) || !bytes.Equal(kept, want) {
				t.Fatalf("case %d, round %d: the kept encoding's bytes changed", i, round)
			}
			if h, err := tr.TreeHash(); err != nil || !bytes.Equal(h, wantHash) {
				t.Fatalf("case %d, round %d: the tree hash changed (%v)", i, round, err)
			}
			fresh, err := DecodeRatchetTree(cs, want)
			if err != nil {
				t.Fatal(err)
			}
			if h, err := fresh.TreeHash(); err != nil || !bytes.Equal(h, wantHash) {
				t.Fatalf("case %d, round %d: the tree's nodes hash to another tree (%v)", i, round, err)
			}
		}
		// The tree goes on: a Diff staged now merges to what the codec
		// encodes.
		d := tr.Stage()
		if err := randomOps(t, d, g, r, 3); err != nil {
			t.Fatal(err)
		}
		next := marshalView(t, d.RatchetTree())
		if _, err := d.Merge(); err != nil {
			t.Fatal(err)
		}
		if b, err := tr.EncodedRatchetTree(); err != nil || !bytes.Equal(b, next) || !bytes.Equal(marshalView(t, tr.RatchetTree()), next) {
			t.Fatalf("case %d: the merged tree's encoding differs from the codec's (%v)", i, err)
		}
	}
}
