package ratchettree

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/providers"
)

// randomOps applies nops random operations (Add, Remove, Update, a commit
// path) to d, drawing from r and g.
func randomOps(t testing.TB, d *Diff, g *keyGen, r *rand.Rand, nops int) error {
	for range nops {
		var members []LeafIndex
		d.Members(func(l LeafIndex, _ *codec.LeafNode) bool { members = append(members, l); return true })
		pick := func() LeafIndex { return members[r.IntN(len(members))] }
		switch op := r.IntN(10); {
		case op < 3:
			if _, err := d.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage)); err != nil {
				return fmt.Errorf("add: %w", err)
			}
		case op < 6:
			if len(members) > 1 {
				// Mostly the rightmost members, to make truncations.
				l := pick()
				if r.IntN(2) == 0 {
					l = members[len(members)-1]
				}
				if err := d.Remove(l); err != nil {
					return fmt.Errorf("remove: %w", err)
				}
			}
		case op < 8:
			l := pick()
			ln := g.fakeLeaf(codec.LeafNodeSourceUpdate)
			if r.IntN(2) == 0 {
				ln.SignatureKey = d.Leaf(l).SignatureKey
			}
			if err := d.Update(l, ln); err != nil {
				return fmt.Errorf("update: %w", err)
			}
		default:
			g.commit(t, d, pick())
		}
	}
	return nil
}

// sameDiffs checks that two Diffs describe the same tree: serialization,
// tree hash, per-node reads and key indices (compareWithFresh), members.
func sameDiffs(cs providers.CipherSuite, a, b *Diff) error {
	ra, rb := a.RatchetTree(), b.RatchetTree()
	ea, err := ra.Marshal()
	if err != nil {
		return err
	}
	eb, err := rb.Marshal()
	if err != nil {
		return err
	}
	if !bytes.Equal(ea, eb) || a.LeafCount() != b.LeafCount() || a.MemberCount() != b.MemberCount() {
		return fmt.Errorf("trees differ: %d/%d leaves, %d/%d members", a.LeafCount(), b.LeafCount(), a.MemberCount(), b.MemberCount())
	}
	ha, err1 := a.TreeHash()
	hb, err2 := b.TreeHash()
	if err1 != nil || err2 != nil || !bytes.Equal(ha, hb) {
		return fmt.Errorf("tree hashes differ (%v, %v)", err1, err2)
	}
	return compareWithFresh(cs, b, rb)
}

// sameChanges checks that d lists the change set (n, want), comparing
// values by encoding.
func sameChanges(d *Diff, n LeafCount, want []NodeChange) error {
	n2, got := d.Changes()
	if n2 != n || len(got) != len(want) {
		return fmt.Errorf("changes: %d leaves, %d nodes; want %d, %d", n2, len(got), n, len(want))
	}
	for i := range got {
		if got[i].Node != want[i].Node || (got[i].Value == nil) != (want[i].Value == nil) {
			return fmt.Errorf("change %d: node %d, want %d", i, got[i].Node, want[i].Node)
		}
		if got[i].Value != nil {
			a, _ := got[i].Value.Marshal()
			b, _ := want[i].Value.Marshal()
			if !bytes.Equal(a, b) {
				return fmt.Errorf("change %d: node %d has another value", i, got[i].Node)
			}
		}
	}
	return nil
}

// runChangesScenario: random Diffs on a random tree; each Diff's change set
// is staged on a fresh copy of the tree (decoded from its serialization)
// and must give the same tree, the same behaviour under further random
// operations (same draws) and the same merged tree.
func runChangesScenario(t testing.TB, initial int, seed uint64, steps int) error {
	cs := suite(t, 1)
	g := &keyGen{}
	r := rand.New(rand.NewPCG(seed, 11))
	tr := buildTree(t, cs, g, initial, r.IntN(2) == 0)
	for step := range steps {
		enc, err := tr.RatchetTree().Marshal()
		if err != nil {
			return err
		}
		if r.IntN(2) == 0 { // sometimes a warm hash cache in the base
			if _, err := tr.TreeHash(); err != nil {
				return err
			}
		}
		d := tr.Stage()
		if err := randomOps(t, d, g, r, r.IntN(6)); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		if r.IntN(2) == 0 { // sometimes a warm hash cache in the Diff
			if _, err := d.TreeHash(); err != nil {
				return err
			}
		}
		n, changes := d.Changes()
		if n != d.LeafCount() {
			return fmt.Errorf("step %d: Changes leaf count %d, diff %d", step, n, d.LeafCount())
		}
		for i := 1; i < len(changes); i++ {
			if changes[i-1].Node >= changes[i].Node {
				return fmt.Errorf("step %d: changes not in ascending node order", step)
			}
		}
		fresh, err := DecodeRatchetTree(cs, enc)
		if err != nil {
			return err
		}
		d2, err := fresh.StageChanges(n, changes)
		if err != nil {
			return fmt.Errorf("step %d: StageChanges: %w", step, err)
		}
		// StageChanges leaves its tree unchanged.
		if after, _ := fresh.RatchetTree().Marshal(); !bytes.Equal(after, enc) {
			return fmt.Errorf("step %d: StageChanges changed its tree", step)
		}
		if err := sameDiffs(cs, d, d2); err != nil {
			return fmt.Errorf("step %d: restaged diff: %w", step, err)
		}
		// The restaged Diff lists the same changes (canonical list).
		if err := sameChanges(d2, n, changes); err != nil {
			return fmt.Errorf("step %d: restaged diff: %w", step, err)
		}
		// Further operations, with the same draws and keys, agree.
		r1, r2 := rand.New(rand.NewPCG(seed, uint64(step))), rand.New(rand.NewPCG(seed, uint64(step)))
		g1, g2 := *g, *g
		if err := randomOps(t, d, &g1, r1, 2); err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		if err := randomOps(t, d2, &g2, r2, 2); err != nil {
			return fmt.Errorf("step %d: on the restaged diff: %w", step, err)
		}
		*g = g1
		if err := sameDiffs(cs, d, d2); err != nil {
			return fmt.Errorf("step %d: after more operations: %w", step, err)
		}
		// The list Changes keeps (computed above, before these
		// operations) follows the Diff's changes.
		ln, lc := d.listChanges()
		if err := sameChanges(d, ln, lc); err != nil {
			return fmt.Errorf("step %d: the list Changes kept: %w", step, err)
		}
		n, changes = d.Changes()
		prev, err := DecodeRatchetTree(cs, enc)
		if err != nil {
			return err
		}
		gen := tr.Generation()
		if _, err := d.Merge(); err != nil {
			return err
		}
		if _, err := d2.Merge(); err != nil {
			return err
		}
		// The merge's change set restages the merged tree on the tree
		// before the merge.
		gm, n2, c2, ok := tr.LastMerge()
		if !ok || gm != gen+1 || gm != tr.Generation() || n2 != n || len(c2) != len(changes) {
			return fmt.Errorf("step %d: LastMerge gen %d (%v), %d leaves, %d changes; want gen %d, %d, %d", step, gm, ok, n2, len(c2), gen+1, n, len(changes))
		}
		d3, err := prev.StageChanges(n2, c2)
		if err != nil {
			return fmt.Errorf("step %d: staging LastMerge: %w", step, err)
		}
		if _, err := d3.Merge(); err != nil {
			return err
		}
		e3, _ := prev.RatchetTree().Marshal()
		if e, _ := tr.RatchetTree().Marshal(); !bytes.Equal(e, e3) {
			return fmt.Errorf("step %d: LastMerge restaged gives another tree", step)
		}
		e1, _ := tr.RatchetTree().Marshal()
		e2, _ := fresh.RatchetTree().Marshal()
		h1, _ := tr.TreeHash()
		h2, _ := fresh.TreeHash()
		if !bytes.Equal(e1, e2) || !bytes.Equal(h1, h2) {
			return fmt.Errorf("step %d: merged trees differ", step)
		}
		if err := checkIndex(fresh); err != nil {
			return fmt.Errorf("step %d: merged restaged tree: %w", step, err)
		}
		if err := verifyUnmerged(fresh); err != nil {
			return fmt.Errorf("step %d: merged restaged tree: %w", step, err)
		}
	}
	return nil
}

func TestChangesRoundTrip(t *testing.T) {
	cases, steps := 60, 10
	if testing.Short() {
		cases, steps = 15, 5
	}
	r := testseed.Rand(t)
	for i := range cases {
		seed := r.Uint64()
		initial := 1 + int(seed%97)
		if i%5 == 0 {
			initial = 1 + int(seed%300)
		}
		if err := runChangesScenario(t, initial, seed, steps); err != nil {
			t.Fatalf("initial=%d seed=%d: %v", initial, seed, err)
		}
	}
	t.Logf("%d random scenarios of %d diffs restaged", cases, steps)
}

// TestChangesTruncateThenExtend: a Diff that truncates the tree and then
// extends it again must list the base's nodes in the regrown half as blank.
func TestChangesTruncateThenExtend(t *testing.T) {
	cs := suite(t, 1)
	g := &keyGen{}
	tr := buildTree(t, cs, g, 8, true)
	enc, _ := tr.RatchetTree().Marshal()
	d := tr.Stage()
	for l := LeafIndex(4); l < 8; l++ {
		if err := d.Remove(l); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage)); err != nil {
		t.Fatal(err)
	}
	n, changes := d.Changes()
	if n != 8 {
		t.Fatalf("leaf count %d, want 8", n)
	}
	blanks := 0
	for _, c := range changes {
		if c.Value == nil && c.Node > 7 {
			blanks++
		}
	}
	if blanks == 0 {
		t.Fatal("the regrown half's blanked nodes are not listed")
	}
	fresh, err := DecodeRatchetTree(cs, enc)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := fresh.StageChanges(n, changes)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameDiffs(cs, d, d2); err != nil {
		t.Fatal(err)
	}
	// Truncation alone (8 -> 4 leaves) round-trips too.
	d3 := fresh.Stage()
	for l := LeafIndex(4); l < 8; l++ {
		if err := d3.Remove(l); err != nil {
			t.Fatal(err)
		}
	}
	n, changes = d3.Changes()
	d4, err := tr.Clone().StageChanges(n, changes)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameDiffs(cs, d3, d4); err != nil {
		t.Fatal(err)
	}
}

// TestChangesCanonical: a node changed and changed back (a leaf added and
// removed again in one Diff) is not listed.
func TestChangesCanonical(t *testing.T) {
	cs := suite(t, 1)
	g := &keyGen{}
	tr := buildTree(t, cs, g, 6, false)
	d := tr.Stage()
	l, err := d.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage))
	if err != nil {
		t.Fatal(err)
	}
	_, changes := d.Changes()
	if len(changes) == 0 {
		t.Fatal("an Add lists no change")
	}
	if err := d.Remove(l); err != nil {
		t.Fatal(err)
	}
	n, changes := d.Changes()
	for _, c := range changes {
		if c.Node == l.Node() {
			t.Fatalf("leaf %d added and removed is listed", l)
		}
	}
	d2, err := tr.StageChanges(n, changes)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameDiffs(cs, d, d2); err != nil {
		t.Fatal(err)
	}
	if err := sameChanges(d2, n, changes); err != nil {
		t.Fatal(err)
	}
}

// TestChangesEmpty: an unchanged Diff has no changes, and StageChanges of
// nothing is an unchanged Diff.
func TestChangesEmpty(t *testing.T) {
	cs := suite(t, 1)
	tr := buildTree(t, cs, &keyGen{}, 5, false)
	n, changes := tr.Stage().Changes()
	if n != tr.LeafCount() || len(changes) != 0 {
		t.Fatalf("unchanged diff: %d leaves, %d changes", n, len(changes))
	}
	if _, _, _, ok := tr.Clone().LastMerge(); ok {
		t.Fatal("a clone has a last merge")
	}
	d, err := tr.StageChanges(n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameDiffs(cs, tr.Stage(), d); err != nil {
		t.Fatal(err)
	}
}

// TestStageChangesErrors: a malformed change set is refused with a specific
// error and the tree is unchanged.
func TestStageChangesErrors(t *testing.T) {
	cs := suite(t, 1)
	g := &keyGen{}
	tr := buildTree(t, cs, g, 6, true)
	enc, _ := tr.RatchetTree().Marshal()
	th, _ := tr.TreeHash()
	leaf := func(ln *codec.LeafNode) *codec.Node { return &codec.Node{NodeType: codec.NodeTypeLeaf, LeafNode: ln} }
	parent := func(key []byte) *codec.Node {
		return &codec.Node{NodeType: codec.NodeTypeParent, ParentNode: &codec.ParentNode{EncryptionKey: key, ParentHash: []byte{}, UnmergedLeaves: []uint32{}}}
	}
	other := tr.Leaf(1)
	dupEnc := g.fakeLeaf(codec.LeafNodeSourceUpdate)
	dupEnc.EncryptionKey = other.EncryptionKey
	dupSig := g.fakeLeaf(codec.LeafNodeSourceUpdate)
	dupSig.SignatureKey = other.SignatureKey
	moved := tr.Leaf(2)
	cases := []struct {
		name  string
		n     LeafCount
		nodes []NodeChange
		want  error
		node  NodeIndex
	}{
		{"zero leaves", 0, nil, ErrMalformedTree, 0},
		{"not a power of two", 6, nil, ErrMalformedTree, 0},
		{"too many leaves", 3 << 30, nil, ErrTreeFull, 0},
		{"extended with an empty right half", 1 << 30, []NodeChange{{Node: 4}}, ErrMalformedTree, 0},
		{"extended with only a parent in the right half", 16, []NodeChange{{Node: 17, Value: parent(g.key('p'))}}, ErrMalformedTree, 0},
		{"node out of range", 8, []NodeChange{{Node: 15}}, ErrNodeOutOfRange, 15},
		{"node listed twice", 8, []NodeChange{{Node: 4}, {Node: 4}}, ErrMalformedTree, 4},
		{"leaf at a parent index", 8, []NodeChange{{Node: 3, Value: leaf(g.fakeLeaf(codec.LeafNodeSourceUpdate))}}, ErrMalformedTree, 3},
		{"parent at a leaf index", 8, []NodeChange{{Node: 4, Value: parent(g.key('p'))}}, ErrMalformedTree, 4},
		{"missing arm", 8, []NodeChange{{Node: 4, Value: &codec.Node{NodeType: codec.NodeTypeLeaf}}}, ErrMalformedTree, 4},
		{"encryption key of another leaf", 8, []NodeChange{{Node: 4, Value: leaf(dupEnc)}}, ErrDuplicateEncryptionKey, 4},
		{"signature key of another leaf", 8, []NodeChange{{Node: 4, Value: leaf(dupSig)}}, ErrDuplicateSignatureKey, 4},
		{"parent key of a leaf", 8, []NodeChange{{Node: 5, Value: parent(other.EncryptionKey)}}, ErrDuplicateEncryptionKey, 5},
		{"same key twice", 8, []NodeChange{{Node: 5, Value: parent(moved.EncryptionKey)}, {Node: 4, Value: nil}, {Node: 9, Value: parent(moved.EncryptionKey)}}, ErrDuplicateEncryptionKey, 9},
	}
	for _, c := range cases {
		d, err := tr.StageChanges(c.n, c.nodes)
		if !errors.Is(err, c.want) || d != nil {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
			continue
		}
		if c.node != 0 {
			var ne *NodeError
			if !errors.As(err, &ne) || ne.Node != c.node {
				t.Errorf("%s: %v does not name node %d", c.name, err, c.node)
			}
		}
	}
	// A key may move from one listed node to another: leaf 2's keys
	// into leaf 6 (node 12) while leaf 2 (node 4) becomes blank.
	d, err := tr.StageChanges(8, []NodeChange{{Node: 4}, {Node: 12, Value: leaf(moved)}})
	if err != nil {
		t.Fatalf("moved key: %v", err)
	}
	if l, ok := d.FindSignatureKey(moved.SignatureKey); !ok || l != 6 {
		t.Fatalf("moved signature key found at %d, %v", l, ok)
	}
	if x, ok := d.FindEncryptionKey(moved.EncryptionKey); !ok || x != 12 {
		t.Fatalf("moved encryption key found at %d, %v", x, ok)
	}
	if after, _ := tr.RatchetTree().Marshal(); !bytes.Equal(after, enc) {
		t.Fatal("the tree changed")
	}
	if th2, _ := tr.TreeHash(); !bytes.Equal(th, th2) {
		t.Fatal("the tree hash changed")
	}
}

func BenchmarkChanges(b *testing.B) {
	cs := suite(b, 1)
	g := &keyGen{}
	tr := buildTree(b, cs, g, 1000, false)
	if _, err := tr.TreeHash(); err != nil {
		b.Fatal(err)
	}
	d := tr.Stage()
	g.commit(b, d, 3)
	b.Run("Changes", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			d.Changes()
		}
	})
	n, changes := d.Changes()
	b.Run("StageChanges+TreeHash", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			d2, err := tr.StageChanges(n, changes)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := d2.TreeHash(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
