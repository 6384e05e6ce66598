package secrettree_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// keyOf is the outcome of asking a tree for a key: the key and nonce, or the
// error's sentinel.
type keyOf struct {
	key, nonce []byte
	err        error
}

func outcome(kn secrettree.KeyNonce, err error) keyOf {
	if err != nil {
		for _, s := range []error{secrettree.ErrGenerationReused, secrettree.ErrGenerationTooOld, secrettree.ErrGenerationTooFar, secrettree.ErrRatchetExhausted, secrettree.ErrSecretDeleted, secrettree.ErrLeafOutOfRange} {
			if errors.Is(err, s) {
				return keyOf{err: s}
			}
		}
		return keyOf{err: err}
	}
	return keyOf{key: bytes.Clone(kn.Key()), nonce: bytes.Clone(kn.Nonce())}
}

func (k keyOf) equal(o keyOf) bool {
	return k.err == o.err && bytes.Equal(k.key, o.key) && bytes.Equal(k.nonce, o.nonce)
}

// op is one random request to a tree.
type op struct {
	send bool
	leaf treemath.LeafIndex
	rt   secrettree.RatchetType
	gen  uint32
}

func randomOp(r *rand.Rand, n int) op {
	return op{
		send: r.IntN(4) == 0,
		leaf: treemath.LeafIndex(r.IntN(n + 1)), // sometimes out of range
		rt:   secrettree.RatchetType(r.IntN(2)),
		gen:  uint32(r.IntN(24)),
	}
}

func (o op) apply(t *secrettree.Tree) keyOf {
	if o.send {
		return outcome(t.Next(o.leaf, o.rt))
	}
	return outcome(t.Get(o.leaf, o.rt, o.gen))
}

func roundTrip(t *testing.T, tr *secrettree.Tree, cfg secrettree.Config) *secrettree.Tree {
	t.Helper()
	s := tr.Export()
	defer secrettree.ZeroRecord(s)
	c, err := secrettree.Import(tr.Suite(), s, cfg)
	if err != nil {
		t.Fatalf("Import of an exported tree: %v", err)
	}
	return c
}

// TestExportImportProperty runs random sequences of sending and receiving
// requests on a tree, exporting and importing it at random points: the
// imported tree answers every later request exactly as the original does
// (same keys, same refusals), and holds the same number of secrets.
func TestExportImportProperty(t *testing.T) {
	runs := 300
	if testing.Short() {
		runs = 60
	}
	cfg := secrettree.Config{OutOfOrderTolerance: 4, MaximumForwardDistance: 12}
	seed := testseed.Seed(t)
	for run := range runs {
		r := rand.New(rand.NewPCG(seed, uint64(run)))
		n := 1 + r.IntN(9)
		a := newTree(t, n, cfg)
		b := roundTrip(t, a, cfg)
		for step := range 60 {
			o := randomOp(r, n)
			ka, kb := o.apply(a), o.apply(b)
			if !ka.equal(kb) {
				t.Fatalf("run %d step %d %+v: original %x/%x/%v, imported %x/%x/%v", run, step, o, ka.key, ka.nonce, ka.err, kb.key, kb.nonce, kb.err)
			}
			if r.IntN(5) == 0 {
				b.Zero()
				b = roundTrip(t, a, cfg)
				if secrettree.StoredNodes(a) != secrettree.StoredNodes(b) {
					t.Fatalf("run %d: %d node secrets after import, want %d", run, secrettree.StoredNodes(b), secrettree.StoredNodes(a))
				}
				for l := range treemath.LeafIndex(n) {
					for _, rt := range []secrettree.RatchetType{secrettree.Handshake, secrettree.Application} {
						if pa, pb := secrettree.PastKeys(a, l, rt), secrettree.PastKeys(b, l, rt); pa != pb {
							t.Fatalf("run %d leaf %d: %d kept keys after import, want %d", run, l, pb, pa)
						}
					}
				}
			}
		}
	}
}

// TestImportKeepsDeletions checks that nothing deleted comes back (§9.2):
// used keys, keys handed out for sending, keys below the window and consumed
// node secrets stay deleted in the imported tree; and that Zero's deletion
// survives an export.
func TestImportKeepsDeletions(t *testing.T) {
	cfg := secrettree.Config{OutOfOrderTolerance: 2, MaximumForwardDistance: 100}
	tr := newTree(t, 4, cfg)
	for range 3 {
		if _, err := tr.Next(0, secrettree.Application); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tr.Get(1, secrettree.Application, 10); err != nil { // keeps 8, 9
		t.Fatal(err)
	}
	if _, err := tr.Get(1, secrettree.Application, 9); err != nil { // keeps 8
		t.Fatal(err)
	}
	c := roundTrip(t, tr, cfg)
	for _, tc := range []struct {
		leaf treemath.LeafIndex
		gen  uint32
		want error
	}{
		{0, 0, secrettree.ErrGenerationReused}, // handed out for sending
		{0, 2, secrettree.ErrGenerationReused},
		{1, 10, secrettree.ErrGenerationReused}, // used
		{1, 9, secrettree.ErrGenerationReused},  // used out of order
		{1, 7, secrettree.ErrGenerationTooOld},  // below the window
	} {
		if _, err := c.Get(tc.leaf, secrettree.Application, tc.gen); !errors.Is(err, tc.want) {
			t.Errorf("leaf %d generation %d after import: %v, want %v", tc.leaf, tc.gen, err, tc.want)
		}
	}
	// The kept key of generation 8 is still there, once.
	k1, err := c.Get(1, secrettree.Application, 8)
	if err != nil {
		t.Fatalf("kept generation 8: %v", err)
	}
	k2, err := tr.Get(1, secrettree.Application, 8)
	if err != nil || !bytes.Equal(k1.Key(), k2.Key()) {
		t.Fatalf("kept generation 8 differs: %v", err)
	}
	// Leaves 0 and 1 started: their parent and the root were consumed.
	if n := secrettree.StoredNodes(c); n != 1 {
		t.Errorf("%d node secrets after import, want 1", n)
	}
	s := c.Export()
	for _, ns := range s.Nodes {
		if ns.Node != 5 {
			t.Errorf("node %d stored, want only node 5 (the right subtree)", ns.Node)
		}
	}
	secrettree.ZeroRecord(s)

	tr.Zero()
	z := roundTrip(t, tr, cfg)
	if _, err := z.Next(2, secrettree.Handshake); !errors.Is(err, secrettree.ErrSecretDeleted) {
		t.Errorf("zeroed tree after import: %v, want ErrSecretDeleted", err)
	}
}

// TestImportRejects checks that states no tree could have exported are
// refused, in particular those that would give back consumed secrets.
func TestImportRejects(t *testing.T) {
	cfg := secrettree.DefaultConfig()
	tr := newTree(t, 4, cfg)
	if _, err := tr.Get(1, secrettree.Handshake, 3); err != nil {
		t.Fatal(err)
	}
	cs := suite(t, codec.CipherSuite(1))
	nh := cs.HashSize()
	good := tr.Export()
	if _, err := secrettree.Import(cs, good, cfg); err != nil {
		t.Fatalf("good state: %v", err)
	}
	for name, mutate := range map[string]func(s *record.SecretTree){
		"zero leaves":       func(s *record.SecretTree) { s.LeafCount = 0 },
		"node outside":      func(s *record.SecretTree) { s.Nodes[0].Node = 7 },
		"short node secret": func(s *record.SecretTree) { s.Nodes[0].Secret = s.Nodes[0].Secret[:nh-1] },
		"root back": func(s *record.SecretTree) {
			s.Nodes = append(s.Nodes, record.NodeSecret{Node: 3, Secret: make([]byte, nh)})
		},
		"parent of leaf back": func(s *record.SecretTree) {
			s.Nodes = append([]record.NodeSecret{{Node: 1, Secret: make([]byte, nh)}}, s.Nodes...)
		},
		"leaf outside":         func(s *record.SecretTree) { s.Leaves[0].Leaf = 4 },
		"leaf under stored":    func(s *record.SecretTree) { s.Leaves[0].Leaf = 2 },
		"short ratchet":        func(s *record.SecretTree) { s.Leaves[0].Application.Secret = nil },
		"past above next":      func(s *record.SecretTree) { s.Leaves[0].Handshake.Kept[0].Generation = 9 },
		"past out of order":    func(s *record.SecretTree) { p := s.Leaves[0].Handshake.Kept; p[0], p[1] = p[1], p[0] },
		"short past key":       func(s *record.SecretTree) { s.Leaves[0].Handshake.Kept[0].Key = []byte{1} },
		"exhausted too early":  func(s *record.SecretTree) { s.Leaves[0].Handshake.Exhausted = record.BoolTrue },
		"duplicate leaf":       func(s *record.SecretTree) { s.Leaves = append(s.Leaves, s.Leaves[0]) },
		"nodes not ascending":  func(s *record.SecretTree) { s.Nodes = append(s.Nodes, s.Nodes[0]) },
		"nil ratchet secret 0": func(s *record.SecretTree) { s.Leaves[0].Handshake.Secret = nil },
	} {
		s := tr.Export()
		mutate(s)
		if _, err := secrettree.Import(cs, s, cfg); !errors.Is(err, secrettree.ErrInvalidSecret) && !errors.Is(err, secrettree.ErrLeafOutOfRange) {
			t.Errorf("%s: Import = %v, want ErrInvalidSecret or ErrLeafOutOfRange", name, err)
		}
	}
	if _, err := secrettree.Import(cs, nil, cfg); !errors.Is(err, secrettree.ErrInvalidSecret) {
		t.Errorf("nil state: %v", err)
	}
}

// BenchmarkExportImport measures a round trip of a tree in which 64 of
// 1024 senders have started their ratchets.
func BenchmarkExportImport(b *testing.B) {
	cfg := secrettree.DefaultConfig()
	tr := newTree(b, 1024, cfg)
	for l := treemath.LeafIndex(0); l < 1024; l += 16 {
		if _, err := tr.Get(l, secrettree.Application, 3); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		s := tr.Export()
		c, err := secrettree.Import(tr.Suite(), s, cfg)
		if err != nil {
			b.Fatal(err)
		}
		secrettree.ZeroRecord(s)
		c.Zero()
	}
}

// TestExportStagedProperty: on random trees, ExportStaged of a staged
// request (StageNext for sending, Stage for receiving) leaves the tree as it
// was and equals Export after the request's Commit; StageNext gives Next's
// key.
func TestExportStagedProperty(t *testing.T) {
	cfg := secrettree.Config{OutOfOrderTolerance: 4, MaximumForwardDistance: 12}
	for run := range 100 {
		r := rand.New(rand.NewPCG(uint64(run), 7))
		n := 1 + r.IntN(9)
		a := newTree(t, n, cfg)
		b := roundTrip(t, a, cfg) // follows a with Next/Get
		for step := range 40 {
			o := randomOp(r, n)
			var st secrettree.Staged
			var err error
			if o.send {
				st, err = a.StageNext(o.leaf, o.rt)
			} else {
				st, err = a.Stage(o.leaf, o.rt, o.gen)
			}
			var kst keyOf
			if err != nil {
				kst = outcome(secrettree.KeyNonce{}, err)
			} else {
				kst = outcome(st.KeyNonce, nil)
			}
			if kb := o.apply(b); !kb.equal(kst) {
				t.Fatalf("run %d step %d %+v: staged %v, direct %v", run, step, o, kst.err, kb.err)
			}
			if err != nil {
				continue
			}
			before := a.Export()
			exp, err := a.ExportStaged(&st)
			if err != nil {
				t.Fatal(err)
			}
			if after := a.Export(); !statesEqual(before, after) {
				t.Fatalf("run %d step %d: ExportStaged changed the tree", run, step)
			}
			nodes, err := a.ExportStagedNodesTo(nil, nil, &st)
			if err != nil {
				t.Fatal(err)
			}
			if r.IntN(4) == 0 {
				st.Discard()
				b.Zero()
				b = roundTrip(t, a, cfg)
				continue
			}
			if err := st.Commit(); err != nil {
				t.Fatal(err)
			}
			if got := a.Export(); !statesEqual(got, exp) {
				t.Fatalf("run %d step %d %+v: ExportStaged differs from Export after Commit", run, step, o)
			}
			changed := a.Changed()
			if len(changed) != len(nodes) {
				t.Fatalf("run %d step %d: %d staged nodes, %d changed", run, step, len(nodes), len(changed))
			}
			for i, c := range nodes {
				got := a.ExportNode(c.Node)
				if changed[i] != c.Node || !contentEqual(&got, &c) {
					t.Fatalf("run %d step %d: staged content of node %d differs", run, step, c.Node)
				}
			}
			a.ClearChanged()
		}
	}
}

// statesEqual reports whether two exported secret trees hold the same
// nodes, leaves, ratchets and kept past keys.
func statesEqual(a, b *record.SecretTree) bool {
	if a.LeafCount != b.LeafCount || len(a.Nodes) != len(b.Nodes) || len(a.Leaves) != len(b.Leaves) {
		return false
	}
	for i := range a.Nodes {
		if a.Nodes[i].Node != b.Nodes[i].Node || !bytes.Equal(a.Nodes[i].Secret, b.Nodes[i].Secret) {
			return false
		}
	}
	for i := range a.Leaves {
		x, y := &a.Leaves[i], &b.Leaves[i]
		if x.Leaf != y.Leaf {
			return false
		}
		for _, r := range [][2]*record.SenderRatchet{{&x.Handshake, &y.Handshake}, {&x.Application, &y.Application}} {
			p, q := r[0], r[1]
			if p.Next != q.Next || p.Exhausted != q.Exhausted || !bytes.Equal(p.Secret, q.Secret) || len(p.Kept) != len(q.Kept) {
				return false
			}
			for k := range p.Kept {
				if p.Kept[k].Generation != q.Kept[k].Generation || !bytes.Equal(p.Kept[k].Key, q.Kept[k].Key) || !bytes.Equal(p.Kept[k].Nonce, q.Kept[k].Nonce) {
					return false
				}
			}
		}
	}
	return true
}

func contentEqual(a, b *secrettree.NodeContent) bool {
	if a.Node != b.Node || !bytes.Equal(a.Secret, b.Secret) || (a.Leaf == nil) != (b.Leaf == nil) {
		return false
	}
	if a.Leaf == nil {
		return true
	}
	return statesEqual(&record.SecretTree{Leaves: []record.LeafRatchets{*a.Leaf}}, &record.SecretTree{Leaves: []record.LeafRatchets{*b.Leaf}})
}
