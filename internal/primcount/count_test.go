package primcount_test

import (
	"bytes"
	"fmt"
	"math/bits"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/groupbench"
	"github.com/mlskit/mlskit/internal/primcount"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

const suite1 = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519

// TestSelfUpdateCounts counts the primitive calls of mlsbench's update
// commit (alice's SelfUpdate and merge) and update process (alice
// processes and merges the self-update of member 1, her sibling) in groups
// whose copaths are all set, and checks them against the RFC's count
// (UpdateCommit, UpdateProcess) plus the pinned extras: a redundant call
// anywhere in the chain fails it. The depth d is the number of levels
// above a leaf of an N-leaf tree, computed here as ceil(log2 N).
func TestSelfUpdateCounts(t *testing.T) {
	forCountSizes(t, func(n int, p *primcount.Provider, f *groupbench.Fixture) {
		d := bits.Len(uint(n - 1))
		for rep := range 2 {
			p.Reset()
			res := selfUpdate(t, f.AliceGroup)
			want := primcount.UpdateCommit(d, d).Add(primcount.Extras(true))
			if got := p.Counts(); got != want {
				t.Errorf("N=%d rep %d: update commit made\n %v\nwant (RFC + extras)\n %v", n, rep, got, want)
			}
			mergeCommit(t, f.M1Group, res.Commit)

			res = selfUpdate(t, f.M1Group)
			p.Reset()
			mergeCommit(t, f.AliceGroup, res.Commit)
			want = primcount.UpdateProcess(d).Add(primcount.Extras(false))
			if got := p.Counts(); got != want {
				t.Errorf("N=%d rep %d: update process made\n %v\nwant (RFC + extras)\n %v", n, rep, got, want)
			}
		}
	})
}

// TestAddCommitCounts counts the primitive calls of mlsbench's add commit
// (alice commits the Add of one KeyPackage with its Welcome, then clears
// it) against the RFC's count (AddCommit) plus the pinned extras, at sizes
// whose tree is extended by the Add (2, 8, 64: a power of two) and sizes
// whose new leaf fills a blank one (3, 13, 100). The tree hashes are
// checked once more here from the tree's shape, independently of
// AddCommit's formula: the nodes whose hash changes are the new leaf's
// path, or, when the tree doubles, the new half and root.
func TestAddCommitCounts(t *testing.T) {
	forCountSizes(t, func(n int, p *primcount.Provider, f *groupbench.Fixture) {
		// Leaves of the tree before the Add, and the nodes whose tree
		// hash the Add changes.
		width := 1
		for width < n {
			width *= 2
		}
		changed := 0
		if n == width {
			changed = 2*width - 1 + 1 // the new right half and the root
		} else {
			for w := width; w >= 1; w /= 2 {
				changed++ // the new leaf and each of its ancestors
			}
		}
		// The KeyPackageRef and the two transcript hashes.
		if got, want := primcount.AddCommit(n).Hash, changed+3; got != want {
			t.Errorf("N=%d: AddCommit counts %d hashes, the tree's shape gives %d", n, got, want)
		}
		for rep := range 2 {
			p.Reset()
			if _, err := f.AliceGroup.AddMembers(f.Extra); err != nil {
				t.Fatal(err)
			}
			if err := f.AliceGroup.ClearPendingCommit(); err != nil {
				t.Fatal(err)
			}
			want := primcount.AddCommit(n).Add(primcount.AddExtras())
			if got := p.Counts(); got != want {
				t.Errorf("N=%d rep %d: add commit made\n %v\nwant (RFC + extras)\n %v", n, rep, got, want)
			}
		}
	})
}

// TestMessageCounts counts the primitive calls of sending an application
// message (alice, right after her Commit and again later) and receiving
// one (alice, from member 1, whose leaf ratchet she holds) against Send
// and Receive, with no extras.
func TestMessageCounts(t *testing.T) {
	p := primcount.NewProvider(defaultcrypto.New())
	f, err := groupbench.New(p, suite1, 13, false)
	if err != nil {
		t.Fatal(err)
	}
	res := selfUpdate(t, f.AliceGroup)
	mergeCommit(t, f.M1Group, res.Commit)
	for i := range 3 {
		p.Reset()
		if _, err := f.AliceGroup.SendApplicationMessage([]byte("hello"), nil); err != nil {
			t.Fatal(err)
		}
		if got, want := p.Counts(), primcount.Send(); got != want {
			t.Errorf("send %d made\n %v\nwant\n %v", i, got, want)
		}
		ct, err := f.M1Group.SendApplicationMessage([]byte("hi"), nil)
		if err != nil {
			t.Fatal(err)
		}
		p.Reset()
		pm, err := f.AliceGroup.ProcessMessage(ct)
		if err != nil || pm.Kind != mls.KindApplication {
			t.Fatalf("receive: %v, %v", pm, err)
		}
		if i == 0 {
			continue // member 1's first message: its leaf ratchets are derived
		}
		if got, want := p.Counts(), primcount.Receive(); got != want {
			t.Errorf("receive %d made\n %v\nwant\n %v", i, got, want)
		}
	}
}

// TestJoinCounts counts the primitive calls of joining from a Welcome
// against Join plus the pinned JoinExtras: mlsbench's join (the last
// member joins from the Welcome of the Commit that created the group: a
// tree of ceil(log2 N) levels, every parent blank, no path_secret), and a
// join at leaf 1 from a Commit that removes its previous member and adds
// it with a path, whose path_secret is that of leaf 1's parent: the new
// member derives the key pair of every node of the committer's direct
// path, all non-blank.
func TestJoinCounts(t *testing.T) {
	countFixtures(t, []int{2, 3, 5, 8, 13, 64, 100}, true, func(n int, p *primcount.Provider, f *groupbench.Fixture) {
		d := bits.Len(uint(n - 1))
		leaves := 1 << d
		for rep := range 2 {
			c, err := f.FreshJoiner(len(f.Members) - 1)
			if err != nil {
				t.Fatal(err)
			}
			p.Reset()
			if _, err := mls.JoinFromWelcome(c, f.Welcome, nil, f.Config); err != nil {
				t.Fatal(err)
			}
			want := primcount.Join(leaves, n, 0, 0).Add(primcount.JoinExtras())
			if got := p.Counts(); got != want {
				t.Errorf("N=%d rep %d: join made\n %v\nwant (RFC + extras)\n %v", n, rep, got, want)
			}
		}

		joiner, bundle, err := groupbench.NewClient(p, suite1, "joiner")
		if err != nil {
			t.Fatal(err)
		}
		res, err := f.AliceGroup.Commit(mls.CommitOptions{Remove: []mls.LeafIndex{1}, Add: []*codec.KeyPackage{&bundle.KeyPackage}, ForcePath: true})
		if err != nil {
			t.Fatal(err)
		}
		p.Reset()
		g, err := mls.JoinFromWelcome(joiner, res.Welcome, nil, f.Config)
		if err != nil {
			t.Fatal(err)
		}
		if g.OwnLeafIndex() != 1 {
			t.Fatalf("N=%d: joined at leaf %d", n, g.OwnLeafIndex())
		}
		want := primcount.Join(leaves, n, d, d).Add(primcount.JoinExtras())
		if got := p.Counts(); got != want {
			t.Errorf("N=%d: join at leaf 1 with a path made\n %v\nwant (RFC + extras)\n %v", n, got, want)
		}
		if err := f.AliceGroup.ClearPendingCommit(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestJoinFloor: a join's floor is Floor's with a second pass of hashing
// and of signature checking over the GroupInfo's bytes.
func TestJoinFloor(t *testing.T) {
	k := primcount.Costs{X25519Base: 20e3, X25519DH: 30e3, HMAC: 300, Hash: 200, HashByte: 3, Verify: 50e3, VerifyByte: 5, AEAD: 500, AEADByte: 7}
	c := primcount.Join(16, 13, 0, 0)
	if got, want := k.JoinFloor(c, 0), k.Floor(c, 0); got != want {
		t.Errorf("JoinFloor of no bytes = %v, Floor = %v", got, want)
	}
	if got, want := k.JoinFloor(c, 1000)-k.Floor(c, 1000), time.Duration(1000*(3+5)); got != want {
		t.Errorf("JoinFloor - Floor for 1000 bytes = %v, want %v", got, want)
	}
}

// forCountSizes runs check on a counting provider's fixture of each size
// of the self-update and add commit counts: sizes whose tree the
// operations extend (2, 8, 64: powers of two) and others (3, 13, 100).
func forCountSizes(t *testing.T, check func(n int, p *primcount.Provider, f *groupbench.Fixture)) {
	t.Helper()
	countFixtures(t, []int{2, 3, 8, 13, 64, 100}, false, check)
}

// countFixtures runs check on a counting provider's fixture of each of
// sizes (2 and 13 only with -short); fresh leaves the parents blank
// (groupbench.New).
func countFixtures(t *testing.T, sizes []int, fresh bool, check func(n int, p *primcount.Provider, f *groupbench.Fixture)) {
	t.Helper()
	if testing.Short() {
		sizes = []int{2, 13}
	}
	for _, n := range sizes {
		p := primcount.NewProvider(defaultcrypto.New())
		f, err := groupbench.New(p, suite1, n, fresh)
		if err != nil {
			t.Fatal(err)
		}
		check(n, p, f)
	}
}

// selfUpdate commits a self-update of g and merges it, returning the Commit.
func selfUpdate(t *testing.T, g *mls.Group) *mls.CommitResult {
	t.Helper()
	res, err := g.SelfUpdate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	return res
}

func mergeCommit(t *testing.T, g *mls.Group, commit []byte) {
	t.Helper()
	if err := groupbench.MergeCommit(g, commit); err != nil {
		t.Fatal(err)
	}
}

// TestProviderCounts: the counting provider counts each call once,
// including the signatures of its signers and the prepared seals, and
// Reset starts over.
func TestProviderCounts(t *testing.T) {
	p := primcount.NewProvider(defaultcrypto.New())
	cs, err := p.CipherSuite(suite1)
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := cs.DeriveKeyPair(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	enc, ct, err := cs.SealBase(pub, nil, nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.OpenBase(priv, enc, nil, nil, ct); err != nil {
		t.Fatal(err)
	}
	sk, _, err := cs.GenerateSignatureKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cs.NewSigner(sk)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.Sign([]byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.Verify(s.PublicKey(), []byte("m"), sig); err != nil {
		t.Fatal(err)
	}
	cs.Hash(nil, []byte("m"))
	if _, err := cs.Expand(nil, make([]byte, 32), nil, 32); err != nil {
		t.Fatal(err)
	}
	// An Expander's outputs count as Expand calls, and are the suite's.
	if _, ok := cs.(providers.ExpanderMaker); !ok {
		t.Fatal("the counting suite has no NewExpander: an Expander would bypass its Expand")
	}
	x := providers.NewExpander(cs)
	if err := x.SetKey(make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	for _, info := range []string{"a", "b"} {
		got, err := x.Expand(nil, []byte(info), 32)
		want, _ := cs.Expand(nil, make([]byte, 32), []byte(info), 32)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Expander %q: %x, %v; want %x", info, got, err, want)
		}
	}
	want := primcount.Counts{DeriveKeyPair: 1, SealBase: 1, OpenBase: 1, Sign: 1, Verify: 1, Hash: 1, Expand: 1 + 2 + 2}
	if got := p.Counts(); got != want {
		t.Fatalf("counted %v, want %v", got, want)
	}
	p.Reset()
	if got := p.Counts(); got != (primcount.Counts{}) {
		t.Fatalf("after Reset: %v", got)
	}
}

// TestFirstMessageCounts counts the primitive calls of the first messages
// of an epoch, in the benchmark's groups, from the primitives' side. Alice
// commits (her ratchets are derived with her Commit: TestSelfUpdateCounts
// counts them in UpdateCommit) and her first and second sends make Send's
// calls; so does member 1's first, after the Commit it processed. Alice
// receives member 1's first message and the first of members N-1, N-2, …
// (mlsbench's first receive): each makes FirstReceive's calls for the
// steps that SecretTree, following RFC 9420 §9 and §9.2, gives its sender
// from the secrets alice holds; a sender's second message makes Receive's.
func TestFirstMessageCounts(t *testing.T) {
	forCountSizes(t, func(n int, p *primcount.Provider, f *groupbench.Fixture) {
		d := bits.Len(uint(n - 1))
		res := selfUpdate(t, f.AliceGroup)
		mergeCommit(t, f.M1Group, res.Commit)
		tree := primcount.NewSecretTree(n)
		if s := tree.Start(0); s != d {
			t.Fatalf("N=%d: alice's own leaf takes %d steps from the root, want %d", n, s, d)
		}
		count := func(what string, want primcount.Counts, op func() error) {
			t.Helper()
			p.Reset()
			if err := op(); err != nil {
				t.Fatalf("N=%d %s: %v", n, what, err)
			}
			if got := p.Counts(); got != want {
				t.Errorf("N=%d %s made\n %v\nwant\n %v", n, what, got, want)
			}
		}
		var ct []byte
		var err error
		send := func(g *mls.Group) func() error {
			return func() error {
				var err error
				ct, err = g.SendApplicationMessage([]byte("hello"), nil)
				return err
			}
		}
		receive := func() error {
			pm, err := f.AliceGroup.ProcessMessage(ct)
			if err == nil && pm.Kind != mls.KindApplication {
				err = fmt.Errorf("processed a %v", pm.Kind)
			}
			return err
		}
		count("alice's first send", primcount.Send(), send(f.AliceGroup))
		count("alice's second send", primcount.Send(), send(f.AliceGroup))
		count("member 1's first send", primcount.Send(), send(f.M1Group))
		count("member 1's first message received", primcount.FirstReceive(tree.Start(1)), receive)
		maxSteps := 0
		for l := n - 1; l >= 2 && l >= n-24; l-- {
			s := tree.Start(l)
			if s < 0 {
				t.Fatalf("N=%d: leaf %d has no secret above it", n, l)
			}
			maxSteps = max(maxSteps, s)
			if ct, err = f.MessageFrom(l, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			count(fmt.Sprintf("leaf %d's first message received (%d steps)", l, s), primcount.FirstReceive(s), receive)
		}
		if n >= 3 {
			// The first of them is in the half of the tree alice's
			// path left: its path starts below the root's child.
			if maxSteps != d-1 {
				t.Errorf("N=%d: the senders took at most %d steps, want %d", n, maxSteps, d-1)
			}
			if ct, err = f.MessageFrom(n-1, []byte("again")); err != nil {
				t.Fatal(err)
			}
			count("a second message received", primcount.Receive(), receive)
		}
	})
}

// TestSecretTreeSteps: the model's steps in a tree of 8 leaves whose
// first leaf started, against the derivations RFC 9420 §9 gives.
func TestSecretTreeSteps(t *testing.T) {
	tree := primcount.NewSecretTree(8)
	for _, c := range []struct{ leaf, steps int }{
		{0, 3}, // from the root: nodes of levels 3, 2, 1 split
		{0, -1},
		{7, 2}, // from the root's right child (held since leaf 0's path)
		{6, 0}, // leaf 7's sibling, held
		{5, 1}, // from the parent of leaves 4 and 5
		{4, 0},
		{1, 0},
		{3, 1},
		{2, 0},
		{8, -1}, // outside the tree
	} {
		if got := tree.Start(c.leaf); got != c.steps {
			t.Errorf("leaf %d: %d steps, want %d", c.leaf, got, c.steps)
		}
	}
	// 5 leaves span a tree of 8.
	if got := primcount.NewSecretTree(5).Start(4); got != 3 {
		t.Errorf("N=5, leaf 4: %d steps, want 3", got)
	}
	if got, want := primcount.FirstReceive(3).Expand-primcount.Receive().Expand, 8; got != want {
		t.Errorf("FirstReceive(3) has %d more Expand than Receive, want %d", got, want)
	}
}
