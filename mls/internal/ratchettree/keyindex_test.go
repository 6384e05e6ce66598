package ratchettree

import (
	"errors"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
)

// TestKeyIndexTable: the open-addressing table of keyIndex, under random
// insertions, replacements and deletions of hashes crowded onto a few home
// slots (long probe runs that wrap around the end of the table, moved back
// by deletions) and growth, finds exactly the hashes a map holds, with
// their positions.
func TestKeyIndexTable(t *testing.T) {
	seed := testseed.Seed(t)
	for round := range 20 {
		r := rand.New(rand.NewPCG(seed, uint64(round)))
		var k keyIndex
		ref := map[uint64]uint32{}
		// Hashes whose home slots, for tables of up to 1024 slots,
		// are the last few and the first few.
		hash := func() uint64 {
			return uint64(r.IntN(64))<<10 | uint64(1024-3+r.IntN(6))%1024 | 1<<40
		}
		for step := range 400 {
			h := hash()
			if r.IntN(3) > 0 {
				p := r.Uint32()
				k.set(h, p)
				ref[h] = p
			} else if len(k.hs) > 0 {
				if i, ok := k.find(h); ok {
					k.remove(i)
				}
				delete(ref, h)
			}
			if k.used != len(ref) {
				t.Fatalf("round %d, step %d: %d slots used, want %d", round, step, k.used, len(ref))
			}
			if 4*k.used > 3*len(k.hs) {
				t.Fatalf("round %d, step %d: %d of %d slots used", round, step, k.used, len(k.hs))
			}
			for rh, rp := range ref {
				if p, ok := k.lookup(rh); !ok || p != rp {
					t.Fatalf("round %d, step %d: hash %#x at %d (%v), want %d", round, step, rh, p, ok, rp)
				}
			}
			for range 10 {
				if h := hash(); !hasKey(ref, h) {
					if p, ok := k.lookup(h); ok {
						t.Fatalf("round %d, step %d: absent hash %#x found at %d", round, step, h, p)
					}
				}
			}
		}
	}
}

func hasKey(m map[uint64]uint32, h uint64) bool { _, ok := m[h]; return ok }

// countCreds recounts the credential counters of v's leaves.
func countCreds(v view) credCounts {
	c := credCounts{use: map[codec.CredentialType]int{}, support: map[codec.CredentialType]int{}}
	for l := LeafIndex(0); uint32(l) < uint32(v.leafCount()); l++ {
		c.add(v.leafAt(l), 1)
	}
	return c
}

func sameCounts(a, b credCounts) bool {
	return maps.Equal(a.use, b.use) && maps.Equal(a.support, b.support)
}

// TestDiffCredCounts: a Diff's credential counters (RFC 9420 §7.3 checks)
// follow leaves replaced by others of the same credentials (shared with
// the Tree, which a self-update does not copy) and of other credentials,
// and the Tree's stay its own until a merge.
func TestDiffCredCounts(t *testing.T) {
	g := &keyGen{}
	tr := buildTree(t, suite(t, 1), g, 9, true)
	base := countCreds(tr)
	d := tr.Stage()
	g.commit(t, d, 2) // same credentials
	if !sameCounts(d.credCounts(), base) {
		t.Fatalf("after a path: %v, want %v", d.credCounts(), base)
	}
	other := g.fakeLeaf(codec.LeafNodeSourceUpdate)
	other.Credential.CredentialType = codec.CredentialTypeX509
	other.Capabilities.Credentials = []codec.CredentialType{codec.CredentialTypeBasic, codec.CredentialTypeX509}
	if err := d.Update(3, other); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(5); err != nil {
		t.Fatal(err)
	}
	if got, want := d.credCounts(), countCreds(d); !sameCounts(got, want) {
		t.Errorf("after an Update with another credential and a Remove: %v, want %v", got, want)
	}
	if got := tr.credCounts(); !sameCounts(got, base) {
		t.Errorf("the Tree's counters changed with its Diff: %v, want %v", got, base)
	}
	if _, err := d.Merge(); err != nil {
		t.Fatal(err)
	}
	if got, want := tr.credCounts(), countCreds(tr); !sameCounts(got, want) || got.use[codec.CredentialTypeX509] != 1 {
		t.Errorf("merged: %v, want %v", got, want)
	}
}

// TestDiffMapsReused: a merged Diff leaves its maps, emptied, to its Tree,
// and keeps none; the next Diff takes them and holds only its own changes.
func TestDiffMapsReused(t *testing.T) {
	g := &keyGen{}
	tr := buildTree(t, suite(t, 1), g, 16, true)
	d := tr.Stage()
	g.commit(t, d, 3)
	if _, err := d.Merge(); err != nil {
		t.Fatal(err)
	}
	m := tr.spare
	if m == nil {
		t.Fatal("the merged Diff left no maps")
	}
	for name, n := range map[string]int{"over": len(m.over), "dirty": len(m.dirty), "hcache": len(m.hcache), "encAdd": len(m.encAdd),
		"encDel": len(m.encDel), "sigAdd": len(m.sigAdd), "sigDel": len(m.sigDel)} {
		if n != 0 {
			t.Errorf("left map %s holds %d entries", name, n)
		}
	}
	if d.over != nil || d.encAdd != nil || d.hcache != nil {
		t.Error("the merged Diff kept its maps")
	}
	if d.Leaf(3) != tr.Leaf(3) {
		t.Error("a merged Diff reads another leaf than its Tree")
	}
	if err := d.Update(3, g.fakeLeaf(codec.LeafNodeSourceUpdate)); !errors.Is(err, ErrStaleDiff) {
		t.Errorf("Update of a merged Diff: %v", err)
	}
	d2 := tr.Stage()
	ln := g.fakeLeaf(codec.LeafNodeSourceUpdate)
	if err := d2.Update(5, ln); err != nil {
		t.Fatal(err)
	}
	if tr.spare != nil || d2.over == nil {
		t.Error("the next Diff did not take the maps")
	}
	// The Update sets leaf 5 and blanks its direct path (4 parents in a
	// full tree of 16 leaves): 5 nodes, one key added, 5 removed.
	if len(d2.over) != 5 || len(d2.encAdd) != 1 || len(d2.encDel) != 5 || len(d2.sigAdd) != 1 || len(d2.sigDel) != 1 {
		t.Errorf("the next Diff holds %d nodes, %d/%d encryption and %d/%d signature keys added/removed, want 5, 1/5, 1/1",
			len(d2.over), len(d2.encAdd), len(d2.encDel), len(d2.sigAdd), len(d2.sigDel))
	}
	if _, err := d2.Merge(); err != nil {
		t.Fatal(err)
	}
	if err := checkIndex(tr); err != nil {
		t.Error(err)
	}
}
