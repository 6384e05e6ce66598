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

// TestKeyIndexStringKeys: the string forms Diff.Merge uses (its key maps
// hold strings) hash as the byte forms do (maphash.String and
// maphash.Bytes), so a key put as a string is found as bytes and deleted
// as a string, with its collision partner promoted from the overflow
// map; and neither allocates (a []byte(key) conversion would, per key and
// per Commit).
func TestKeyIndexStringKeys(t *testing.T) {
	tr := &Tree{}
	k := newKeyIndex(tr, true, 64)
	r := rand.New(rand.NewPCG(testseed.Seed(t), 1))
	keys := make([][]byte, 40)
	tr.leaves = make([]*codec.LeafNode, len(keys))
	for i := range keys {
		keys[i] = make([]byte, 32)
		for j := range keys[i] {
			keys[i][j] = byte(r.Uint32())
		}
		tr.leaves[i] = &codec.LeafNode{SignatureKey: keys[i]}
		if a, b := k.sum(keys[i]), k.sumString(string(keys[i])); a != b {
			t.Fatalf("key %d: sum %#x, sumString %#x", i, a, b)
		}
	}
	for i, key := range keys {
		k.putString(string(key), uint32(i))
	}
	for i, key := range keys {
		if p, ok := k.get(key); !ok || p != uint32(i) {
			t.Fatalf("key %d found at %d, %v", i, p, ok)
		}
	}
	strs := make([]string, len(keys))
	for i, key := range keys {
		strs[i] = string(key)
	}
	allocs := testing.AllocsPerRun(10, func() {
		for i, s := range strs {
			k.delString(s)
			k.putString(s, uint32(i))
		}
	})
	if allocs != 0 {
		t.Errorf("delString and putString allocate %v times per round", allocs)
	}
	k.delString(strs[3])
	if _, ok := k.get(keys[3]); ok || k.len() != len(keys)-1 {
		t.Fatalf("deleted key found, or %d keys indexed", k.len())
	}

	// Colliding keys: the second goes to the overflow map, and comes back
	// to the table when the first is deleted.
	weak := keyIndex{t: tr, sig: true, hash: func([]byte) uint64 { return 7 }}
	weak.putString(strs[0], 0)
	weak.putString(strs[1], 1)
	if len(weak.over) != 1 {
		t.Fatalf("%d keys in the overflow map, want 1", len(weak.over))
	}
	weak.delString(strs[0])
	if p, ok := weak.get(keys[1]); !ok || p != 1 || len(weak.over) != 0 {
		t.Fatalf("after deleting its partner: key 1 at %d, %v; overflow %d", p, ok, len(weak.over))
	}
}
