package secrettree_test

import (
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// store mirrors a tree node by node, as the mls package stores it: after
// each operation the changed nodes' contents are written (or deleted).
type store map[treemath.NodeIndex]secrettree.NodeContent

func (s store) sync(tr *secrettree.Tree) int {
	changed := tr.Changed()
	for _, x := range changed {
		if old, ok := s[x]; ok {
			old.Zero()
			delete(s, x)
		}
		if c := tr.ExportNode(x); !c.Empty() {
			s[x] = c
		}
	}
	tr.ClearChanged()
	return len(changed)
}

func (s store) load(t *testing.T, tr *secrettree.Tree, cfg secrettree.Config) *secrettree.Tree {
	t.Helper()
	var nodes []secrettree.NodeContent
	for _, c := range s {
		nodes = append(nodes, c)
	}
	st, err := secrettree.RecordOf(tr.LeafCount(), nodes)
	if err != nil {
		t.Fatalf("RecordOf: %v", err)
	}
	c, err := secrettree.Import(tr.Suite(), st, cfg)
	if err != nil {
		t.Fatalf("Import of the stored nodes: %v", err)
	}
	if len(c.Changed()) != 0 {
		t.Fatalf("an imported tree has changes: %v", c.Changed())
	}
	return c
}

// TestChangedProperty runs random requests on a tree, storing after each
// only the nodes it reports changed: the stored nodes are always exactly
// what the tree holds (Export), a tree imported from them answers later
// requests as the original does, and each request changes at most
// log2(width)+2 nodes.
func TestChangedProperty(t *testing.T) {
	runs := 200
	if testing.Short() {
		runs = 40
	}
	cfg := secrettree.Config{OutOfOrderTolerance: 4, MaximumForwardDistance: 12}
	seed := testseed.Seed(t)
	for run := range runs {
		r := rand.New(rand.NewPCG(seed, uint64(run)))
		n := 1 + r.IntN(40)
		a := newTree(t, n, cfg)
		s := store{}
		if got := s.sync(a); got != 1 {
			t.Fatalf("a new tree has %d changed nodes, want 1 (the root)", got)
		}
		limit := bits.Len(uint(treemath.NodeWidth(treemath.FullLeafCount(treemath.LeafCount(n))))) + 2
		for step := range 80 {
			o := randomOp(r, n)
			o.apply(a)
			if got := s.sync(a); got > limit {
				t.Fatalf("run %d step %d: %d nodes changed, want at most %d", run, step, got, limit)
			}
			if r.IntN(6) == 0 {
				b := s.load(t, a, cfg)
				ea, eb := a.Export(), b.Export()
				if !statesEqual(ea, eb) {
					t.Fatalf("run %d step %d: stored nodes differ from the tree", run, step)
				}
				secrettree.ZeroRecord(ea)
				secrettree.ZeroRecord(eb)
				for range 10 {
					o := randomOp(r, n)
					if ka, kb := o.apply(a), o.apply(b); !ka.equal(kb) {
						t.Fatalf("run %d step %d %+v: original %v, loaded %v", run, step, o, ka.err, kb.err)
					}
				}
				s.sync(a)
				b.Zero()
			}
		}
	}
}

// TestChangedNothingOnRefusal: a refused request, and a staged key that is
// discarded, change nothing.
func TestChangedNothingOnRefusal(t *testing.T) {
	cfg := secrettree.DefaultConfig()
	tr := newTree(t, 8, cfg)
	tr.ClearChanged()
	if _, err := tr.Get(3, secrettree.Application, cfg.MaximumForwardDistance+1); err == nil {
		t.Fatal("too far accepted")
	}
	st, err := tr.Stage(5, secrettree.Handshake, 2)
	if err != nil {
		t.Fatal(err)
	}
	st.Discard()
	if c := tr.Changed(); len(c) != 0 {
		t.Fatalf("changed %v", c)
	}
	if _, err := tr.Next(5, secrettree.Application); err != nil {
		t.Fatal(err)
	}
	// Leaf 5's first key: root 7 consumed, siblings 3, 13, 8 stored, leaf
	// 5 (node 10) started.
	want := []treemath.NodeIndex{3, 7, 8, 10, 13}
	if c := tr.Changed(); !equalNodes(c, want) {
		t.Fatalf("changed %v, want %v", c, want)
	}
	tr.ClearChanged()
	if _, err := tr.Next(5, secrettree.Application); err != nil {
		t.Fatal(err)
	}
	if c := tr.Changed(); !equalNodes(c, []treemath.NodeIndex{10}) {
		t.Fatalf("changed %v, want [10]", c)
	}
}

func equalNodes(a, b []treemath.NodeIndex) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStateOfRejects: a node with a secret and ratchets, or ratchets at
// another leaf's node, are refused.
func TestStateOfRejects(t *testing.T) {
	leaf := &record.LeafRatchets{Leaf: 1}
	for name, nodes := range map[string][]secrettree.NodeContent{
		"both":       {{Node: 2, Secret: []byte{1}, Leaf: leaf}},
		"wrong node": {{Node: 4, Leaf: leaf}},
		"odd node":   {{Node: 3, Leaf: leaf}},
	} {
		if _, err := secrettree.RecordOf(4, nodes); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
