package ratchettree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/providers"
)

// opsScenario is a random scenario: an initial size and a sequence of
// steps, each a few operations staged on one Diff that is then merged or
// discarded.
type opsScenario struct {
	initial int
	seed    uint64
	steps   int
	collide bool // force hash collisions in the key indices
}

func (s opsScenario) String() string {
	return fmt.Sprintf("initial=%d seed=%d steps=%d", s.initial, s.seed, s.steps)
}

// runScenario plays s and returns an error describing the first broken
// invariant:
//   - after every merge, the cached tree hash equals a from-scratch
//     computation over the serialized tree, parent hashes verify, unmerged
//     leaves are consistent and the key indices match the nodes;
//   - a discarded Diff leaves the tree (serialization and hash) unchanged;
//   - the Diff's own tree hash equals the from-scratch one before merging;
//   - a LeafSnapshot taken before a merge keeps returning the leaves (and
//     leaf count) of its time after every later merge.
func runScenario(t testing.TB, s opsScenario) error {
	cs := suite(t, 1)
	g := &keyGen{}
	r := rand.New(rand.NewPCG(s.seed, 7))
	tr := buildTree(t, cs, g, s.initial, r.IntN(2) == 0)
	if s.collide {
		forceCollisions(tr)
	}
	type snapshotCheck struct {
		s    *LeafSnapshot
		want []*codec.LeafNode // the leaves, and two beyond the count
	}
	var snaps []snapshotCheck
	for step := range s.steps {
		before, _ := tr.RatchetTree().Marshal()
		beforeHash, err := tr.TreeHash()
		if err != nil {
			return err
		}
		d := tr.Stage()
		nops := 1 + r.IntN(4)
		for range nops {
			var members []LeafIndex
			d.Members(func(l LeafIndex, _ *codec.LeafNode) bool { members = append(members, l); return true })
			pick := func() LeafIndex { return members[r.IntN(len(members))] }
			switch op := r.IntN(10); {
			case op < 3:
				if _, err := d.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage)); err != nil {
					return fmt.Errorf("step %d add: %w", step, err)
				}
			case op < 6:
				if len(members) > 1 {
					if err := d.Remove(pick()); err != nil {
						return fmt.Errorf("step %d remove: %w", step, err)
					}
				}
			case op < 8:
				l := pick()
				ln := g.fakeLeaf(codec.LeafNodeSourceUpdate)
				if r.IntN(2) == 0 {
					ln.SignatureKey = d.Leaf(l).SignatureKey
				}
				if err := d.Update(l, ln); err != nil {
					return fmt.Errorf("step %d update: %w", step, err)
				}
			default:
				g.commit(t, d, pick())
			}
		}
		rt := d.RatchetTree()
		ref := referenceTreeHash(t, cs, rt)
		if err := compareWithFresh(cs, d, rt); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		dh, err := d.TreeHash()
		if err != nil {
			return err
		}
		if !bytes.Equal(dh, ref) {
			return fmt.Errorf("step %d: diff tree hash %x, reference %x", step, dh, ref)
		}
		if r.IntN(3) == 0 {
			// discard
			after, _ := tr.RatchetTree().Marshal()
			ah, err := tr.TreeHash()
			if err != nil {
				return err
			}
			if !bytes.Equal(before, after) || !bytes.Equal(ah, beforeHash) {
				return fmt.Errorf("step %d: discarded diff changed the tree", step)
			}
			continue
		}
		// A snapshot of the leaves before the merge keeps them.
		if r.IntN(2) == 0 {
			want := make([]*codec.LeafNode, tr.LeafCount()+2)
			for l := range want {
				want[l] = tr.Leaf(LeafIndex(l))
			}
			snaps = append(snaps, snapshotCheck{tr.LeafSnapshot(), want})
		}
		if _, err := d.Merge(); err != nil {
			return err
		}
		for i, sc := range snaps {
			if sc.s.LeafCount() != LeafCount(len(sc.want)-2) {
				return fmt.Errorf("step %d: snapshot %d has %d leaves, want %d", step, i, sc.s.LeafCount(), len(sc.want)-2)
			}
			for l, w := range sc.want {
				if got := sc.s.Leaf(LeafIndex(l)); got != w {
					return fmt.Errorf("step %d: snapshot %d leaf %d changed", step, i, l)
				}
			}
		}
		if _, err := d.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage)); err != ErrStaleDiff {
			return fmt.Errorf("merged diff still usable: %v", err)
		}
		th, err := tr.TreeHash()
		if err != nil {
			return err
		}
		if !bytes.Equal(th, ref) {
			return fmt.Errorf("step %d: merged tree hash %x, reference %x", step, th, ref)
		}
		if err := tr.VerifyParentHashes(); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		if err := verifyUnmerged(tr); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		if err := checkIndex(tr); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		// A tree rebuilt from the serialization is the same tree.
		tr2, err := FromRatchetTree(cs, rt)
		if err != nil {
			return fmt.Errorf("step %d: rebuild: %w", step, err)
		}
		if tr2.LeafCount() != tr.LeafCount() || tr2.MemberCount() != tr.MemberCount() {
			return fmt.Errorf("step %d: rebuilt tree differs: %d/%d leaves, %d/%d members", step,
				tr2.LeafCount(), tr.LeafCount(), tr2.MemberCount(), tr.MemberCount())
		}
	}
	return nil
}

// compareWithFresh checks that the Diff's reads (resolutions, filtered
// direct paths, per-node tree hashes, key lookups) equal those of a tree
// built from scratch from its serialization.
func compareWithFresh(cs providers.CipherSuite, d *Diff, rt codec.RatchetTree) error {
	fresh, err := FromRatchetTree(cs, rt)
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	// The fresh tree may be smaller only if d has trailing blank leaves
	// beyond a non-full right half, which truncation forbids.
	if fresh.LeafCount() != d.LeafCount() {
		return fmt.Errorf("leaf count %d, fresh %d", d.LeafCount(), fresh.LeafCount())
	}
	for x := NodeIndex(0); uint32(x) < width(d); x++ {
		if !slices.Equal(d.Resolution(x), fresh.Resolution(x)) {
			return fmt.Errorf("resolution of %d: %v, fresh %v", x, d.Resolution(x), fresh.Resolution(x))
		}
		h1, err1 := d.NodeTreeHash(x)
		h2, err2 := fresh.NodeTreeHash(x)
		if err1 != nil || err2 != nil || !bytes.Equal(h1, h2) {
			return fmt.Errorf("tree hash of node %d differs (%v, %v)", x, err1, err2)
		}
		if ln := d.Leaf(LeafIndex(x >> 1)); x.IsLeaf() && ln != nil {
			l := LeafIndex(x >> 1)
			p1, c1, _ := d.FilteredDirectPath(l)
			p2, c2, _ := fresh.FilteredDirectPath(l)
			if !slices.Equal(p1, p2) || !slices.Equal(c1, c2) {
				return fmt.Errorf("filtered direct path of leaf %d differs", l)
			}
			if o, ok := d.FindSignatureKey(ln.SignatureKey); !ok || o != l {
				return fmt.Errorf("signature key of leaf %d found at %d, %v", l, o, ok)
			}
			if o, ok := d.FindEncryptionKey(ln.EncryptionKey); !ok || o != x {
				return fmt.Errorf("encryption key of leaf %d found at %d, %v", l, o, ok)
			}
		} else if p := d.Parent(x); p != nil {
			if o, ok := d.FindEncryptionKey(p.EncryptionKey); !ok || o != x {
				return fmt.Errorf("encryption key of node %d found at %d, %v", x, o, ok)
			}
		}
	}
	if d.MemberCount() != fresh.MemberCount() {
		return fmt.Errorf("members %d, fresh %d", d.MemberCount(), fresh.MemberCount())
	}
	return nil
}

// forceCollisions rebuilds the key indices of tr with a hash that maps all
// keys to three values, so that nearly every key lives in the overflow map.
func forceCollisions(tr *Tree) {
	weak := func(b []byte) uint64 { return uint64(len(b)+int(b[len(b)-1])) % 3 }
	tr.enc = keyIndex{t: tr, hash: weak}
	tr.sig = keyIndex{t: tr, sig: true, hash: weak}
	for x := NodeIndex(0); uint32(x) < width(tr); x++ {
		if ln := tr.leafAt(LeafIndex(x >> 1)); x.IsLeaf() && ln != nil {
			tr.enc.put(ln.EncryptionKey, uint32(x))
			tr.sig.put(ln.SignatureKey, uint32(x>>1))
		} else if p := tr.parentAt(x); p != nil {
			tr.enc.put(p.EncryptionKey, uint32(x))
		}
	}
}

func TestKeyIndexCollisions(t *testing.T) {
	tr := buildTree(t, suite(t, 1), &keyGen{}, 20, true)
	forceCollisions(tr)
	if len(tr.enc.over) < 10 || len(tr.sig.over) < 10 {
		t.Fatalf("overflow maps hold %d and %d keys", len(tr.enc.over), len(tr.sig.over))
	}
	if err := checkIndex(tr); err != nil {
		t.Fatal(err)
	}
	for seed := range uint64(20) {
		if err := runScenario(t, opsScenario{initial: 5 + int(seed)*7, seed: seed, steps: 10, collide: true}); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// checkIndex verifies that the key indices hold exactly the tree's keys.
func checkIndex(tr *Tree) error {
	count := 0
	for x := NodeIndex(0); uint32(x) < width(tr); x++ {
		var key []byte
		if ln := tr.leafAt(LeafIndex(x >> 1)); x.IsLeaf() && ln != nil {
			key = ln.EncryptionKey
			if l, ok := tr.FindSignatureKey(ln.SignatureKey); !ok || l.Node() != x {
				return fmt.Errorf("signature key of leaf %d indexed at %d, %v", x>>1, l, ok)
			}
		} else if p := tr.parentAt(x); p != nil {
			key = p.EncryptionKey
		}
		if key == nil {
			continue
		}
		count++
		if o, ok := tr.FindEncryptionKey(key); !ok || o != x {
			return fmt.Errorf("encryption key of node %d indexed at %d, %v", x, o, ok)
		}
	}
	if count != tr.enc.len() || tr.members != tr.sig.len() {
		return fmt.Errorf("index sizes %d/%d, nodes %d/%d", tr.enc.len(), tr.sig.len(), count, tr.members)
	}
	occ := 0
	tr.Members(func(LeafIndex, *codec.LeafNode) bool { occ++; return true })
	if occ != tr.members {
		return fmt.Errorf("occupancy %d, members %d", occ, tr.members)
	}
	return nil
}

func TestPropertyRandomOperations(t *testing.T) {
	params := testseed.Gopter(t)
	params.MinSuccessfulTests = 60
	maxInitial, steps := 300, 12
	if testing.Short() {
		params.MinSuccessfulTests = 15
		maxInitial, steps = 100, 6
	}
	props := gopter.NewProperties(params)
	props.Property("tree hash equals an uncached computation; discarded diffs change nothing", prop.ForAll(
		func(s opsScenario) string {
			if err := runScenario(t, s); err != nil {
				return err.Error()
			}
			return ""
		},
		gopter.CombineGens(gen.IntRange(1, maxInitial), gen.UInt64()).Map(func(v []any) opsScenario {
			return opsScenario{initial: v[0].(int), seed: v[1].(uint64), steps: steps}
		}),
	))
	props.TestingRun(t)
}
