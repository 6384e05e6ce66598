package treekem

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// negativeGroup returns a simulated group of 10 members whose tree has
// parent nodes with and without unmerged leaves, and an UpdatePath from
// member 1 created on a staged view.
func negativeGroup(t *testing.T, f impl) (*sim, treemath.LeafIndex, *CreateResult) {
	t.Helper()
	cs, err := defaultcrypto.New().CipherSuite(codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSim(cs, 7, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		by   treemath.LeafIndex
		adds int
	}{{0, 7}, {3, 0}, {5, 2}} {
		if err := s.commit(c.by, c.adds, nil); err != nil {
			t.Fatal(err)
		}
	}
	const sender = 1
	cr, err := CreateUpdatePath(s.tree.stage(), &CreateParams{
		Suite: cs, Leaf: sender, LeafNode: s.tree.Leaf(sender), Signer: s.members[sender].signer,
		GroupID: s.groupID, Context: s.ctx(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, sender, cr
}

func clonePath(t *testing.T, p *codec.UpdatePath) *codec.UpdatePath {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var c codec.UpdatePath
	if err := c.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	return &c
}

// resign recomputes the parent hashes of a tampered path on view and signs
// its leaf again, as a malicious committer would.
func resign(t *testing.T, s *sim, view Tree, sender treemath.LeafIndex, p *codec.UpdatePath) {
	t.Helper()
	plan, _ := planPath(view, sender, nil, true)
	pubs := make([][]byte, len(p.Nodes))
	for i := range p.Nodes {
		pubs[i] = p.Nodes[i].EncryptionKey
	}
	_, leafPH, err := parentHashes(s.cs, view, plan, pubs)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := commitLeafNode(s.members[sender].signer, &p.LeafNode, s.groupID, sender, p.LeafNode.EncryptionKey, leafPH)
	if err != nil {
		t.Fatal(err)
	}
	p.LeafNode = *ln
}

// reencrypt encrypts the path secrets of cr again under the provisional
// context of the tampered path p on view, as a malicious committer would.
func reencrypt(t *testing.T, s *sim, view Tree, sender treemath.LeafIndex, p *codec.UpdatePath, cr *CreateResult) {
	t.Helper()
	plan, _ := planPath(view, sender, nil, true)
	pubs := make([][]byte, len(p.Nodes))
	for i := range p.Nodes {
		pubs[i] = p.Nodes[i].EncryptionKey
	}
	nodePH, _, err := parentHashes(s.cs, view, plan, pubs)
	if err != nil {
		t.Fatal(err)
	}
	th, _, err := pathTreeHash(s.cs, view, plan, &p.LeafNode, pubs, nodePH)
	if err != nil {
		t.Fatal(err)
	}
	info, err := provisionalContext(th, s.ctx())
	if err != nil {
		t.Fatal(err)
	}
	for i, res := range plan.res {
		for j, x := range res {
			kem, ct, err := s.cs.SealBase(nodeKey(view, x), info, nil, cr.PathSecrets[i])
			if err != nil {
				t.Fatal(err)
			}
			p.Nodes[i].EncryptedPathSecret[j] = codec.HPKECiphertext{KEMOutput: kem, Ciphertext: ct}
		}
	}
}

func TestNegativeUpdatePaths(t *testing.T) {
	for _, f := range impls {
		t.Run(f.name, func(t *testing.T) { runNegative(t, f) })
	}
}

func runNegative(t *testing.T, f impl) {
	s, sender, cr := negativeGroup(t, f)
	receivers := []treemath.LeafIndex{}
	for _, l := range s.memberList() {
		if l != sender {
			receivers = append(receivers, l)
		}
	}
	_, freshPub, err := s.cs.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	k := len(cr.Path.Nodes)
	if k < 3 {
		t.Fatalf("path of %d nodes; the test wants at least 3", k)
	}
	existing := s.tree.Leaf(receivers[0]).EncryptionKey

	cases := []struct {
		name   string
		tamper func(v Tree, p *codec.UpdatePath) // v is the receiver's view
		keys   func(l treemath.LeafIndex) *PrivateKeys
		ctx    ContextFunc
		self   func(l treemath.LeafIndex) treemath.LeafIndex
		want   []error
		node   treemath.NodeIndex // expected PathError.Node, or InvalidNode to skip
	}{
		{name: "wrong public key (root), parent hashes and signature consistent",
			tamper: func(v Tree, p *codec.UpdatePath) {
				p.Nodes[k-1].EncryptionKey = freshPub
				resign(t, s, v, sender, p)
				reencrypt(t, s, v, sender, p, cr)
			},
			want: []error{ErrPublicKeyMismatch}, node: cr.FilteredDirectPath[k-1]},
		{name: "path one node short",
			tamper: func(v Tree, p *codec.UpdatePath) { p.Nodes = p.Nodes[:k-1] },
			want:   []error{ErrPathLength}, node: sender.Node()},
		{name: "path one node long",
			tamper: func(v Tree, p *codec.UpdatePath) { p.Nodes = append(p.Nodes, p.Nodes[0]) },
			want:   []error{ErrPathLength}, node: sender.Node()},
		{name: "bad leaf signature",
			tamper: func(v Tree, p *codec.UpdatePath) { p.LeafNode.Signature[3] ^= 1 },
			want:   []error{ErrLeafSignature, providers.ErrInvalidSignature}, node: sender.Node()},
		{name: "leaf signed for another leaf index",
			tamper: func(v Tree, p *codec.UpdatePath) {
				ln, _ := commitLeafNode(s.members[sender].signer, &p.LeafNode, s.groupID, sender+1, p.LeafNode.EncryptionKey, p.LeafNode.ParentHash)
				p.LeafNode = *ln
			},
			want: []error{ErrLeafSignature, providers.ErrInvalidSignature}, node: sender.Node()},
		{name: "tampered ciphertexts",
			tamper: func(v Tree, p *codec.UpdatePath) {
				for i := range p.Nodes {
					for j := range p.Nodes[i].EncryptedPathSecret {
						p.Nodes[i].EncryptedPathSecret[j].Ciphertext[0] ^= 0x80
					}
				}
			},
			want: []error{ErrDecryption, providers.ErrDecryption}, node: treemath.InvalidNode},
		{name: "tampered kem_output",
			tamper: func(v Tree, p *codec.UpdatePath) {
				for i := range p.Nodes {
					for j := range p.Nodes[i].EncryptedPathSecret {
						p.Nodes[i].EncryptedPathSecret[j].KEMOutput[5] ^= 0x01
					}
				}
			},
			want: []error{ErrDecryption}, node: treemath.InvalidNode},
		{name: "wrong provisional group context",
			ctx:  func(th []byte) ([]byte, error) { return s.ctx()(append(bytes.Clone(th), 0)) },
			want: []error{ErrDecryption, providers.ErrDecryption}, node: treemath.InvalidNode},
		{name: "missing ciphertext",
			tamper: func(v Tree, p *codec.UpdatePath) {
				p.Nodes[k-1].EncryptedPathSecret = p.Nodes[k-1].EncryptedPathSecret[1:]
			},
			want: []error{ErrCiphertextCount}, node: cr.FilteredDirectPath[k-1]},
		{name: "leaf_node_source update",
			tamper: func(v Tree, p *codec.UpdatePath) { p.LeafNode.LeafNodeSource = codec.LeafNodeSourceUpdate },
			want:   []error{ErrLeafNodeSource}, node: sender.Node()},
		{name: "node key changed without new parent hash",
			tamper: func(v Tree, p *codec.UpdatePath) { p.Nodes[k-1].EncryptionKey = freshPub },
			want:   []error{ErrParentHash}, node: sender.Node()},
		{name: "leaf encryption key unchanged",
			tamper: func(v Tree, p *codec.UpdatePath) {
				p.LeafNode.EncryptionKey = v.Leaf(sender).EncryptionKey
				resign(t, s, v, sender, p)
			},
			want: []error{ErrEncryptionKeyReuse}, node: sender.Node()},
		{name: "node key already in the tree",
			tamper: func(v Tree, p *codec.UpdatePath) {
				p.Nodes[1].EncryptionKey = existing
				resign(t, s, v, sender, p)
			},
			want: []error{ErrEncryptionKeyReuse}, node: treemath.InvalidNode},
		{name: "node key repeated in the path",
			tamper: func(v Tree, p *codec.UpdatePath) {
				p.Nodes[1].EncryptionKey = p.Nodes[2].EncryptionKey
				resign(t, s, v, sender, p)
			},
			want: []error{ErrEncryptionKeyReuse}, node: treemath.InvalidNode},
		{name: "receiver holds no key",
			keys: func(treemath.LeafIndex) *PrivateKeys { return NewPrivateKeys() },
			want: []error{ErrNoPrivateKey}, node: treemath.InvalidNode},
		{name: "receiver is the sender",
			self: func(treemath.LeafIndex) treemath.LeafIndex { return sender },
			want: []error{ErrInvalidLeaf}, node: sender.Node()},
		{name: "receiver out of range",
			self: func(treemath.LeafIndex) treemath.LeafIndex { return 1 << 20 },
			want: []error{ErrInvalidLeaf}, node: treemath.InvalidNode},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, l := range receivers {
				v := s.tree.stage()
				before, _ := v.rootHash()
				p := clonePath(t, cr.Path)
				if c.tamper != nil {
					c.tamper(v, p)
				}
				keys := s.members[l].keys
				if c.keys != nil {
					keys = c.keys(l)
				}
				ctx := s.ctx()
				if c.ctx != nil {
					ctx = c.ctx
				}
				self := l
				if c.self != nil {
					self = c.self(l)
				}
				nkeys := keys.Len()
				res, err := ApplyUpdatePath(v, &ApplyParams{Suite: s.cs, Sender: sender, Path: p,
					GroupID: s.groupID, Self: self, Keys: keys, Context: ctx})
				if err == nil {
					t.Fatalf("receiver %d: no error (commit secret %x)", l, res.CommitSecret)
				}
				for _, w := range c.want {
					if !errors.Is(err, w) {
						t.Fatalf("receiver %d: error %v is not %v", l, err, w)
					}
				}
				var pe *PathError
				if !errors.As(err, &pe) {
					t.Fatalf("receiver %d: error %T is not a *PathError", l, err)
				}
				if c.node != treemath.InvalidNode && pe.Node != c.node {
					t.Errorf("receiver %d: error names node %d, want %d (%v)", l, pe.Node, c.node, err)
				}
				after, _ := v.rootHash()
				if !bytes.Equal(before, after) {
					t.Errorf("receiver %d: the staged tree changed on error", l)
				}
				if keys.Len() != nkeys {
					t.Errorf("receiver %d: the private keys changed on error", l)
				}
			}
		})
	}
	// MergePublicUpdatePath (a non-member's merge) refuses every tampered
	// path whose fault needs no private key, with the same rule, and
	// leaves the tree unchanged; those it cannot see (decryption, derived
	// keys) it accepts.
	publicRuns := 0
	for _, c := range cases {
		if c.tamper == nil {
			continue
		}
		v := s.tree.stage()
		before, _ := v.rootHash()
		p := clonePath(t, cr.Path)
		c.tamper(v, p)
		err := MergePublicUpdatePath(v, &PublicParams{Suite: s.cs, Sender: sender, Path: p, GroupID: s.groupID})
		if errors.Is(c.want[0], ErrDecryption) || errors.Is(c.want[0], ErrPublicKeyMismatch) {
			if err != nil {
				t.Errorf("%s: public merge: %v", c.name, err)
			}
			continue
		}
		publicRuns++
		for _, w := range c.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: public merge: error %v is not %v", c.name, err, w)
			}
		}
		if after, _ := v.rootHash(); !bytes.Equal(before, after) {
			t.Errorf("%s: public merge changed the staged tree on error", c.name)
		}
	}
	if publicRuns < 8 {
		t.Errorf("%d public cases", publicRuns)
	}
	// The untampered path gives a non-member the tree a member gets.
	{
		pub := s.tree.stage()
		if err := MergePublicUpdatePath(pub, &PublicParams{Suite: s.cs, Sender: sender, Path: clonePath(t, cr.Path), GroupID: s.groupID}); err != nil {
			t.Fatalf("public merge of the untampered path: %v", err)
		}
		mem := s.tree.stage()
		if _, err := ApplyUpdatePath(mem, &ApplyParams{Suite: s.cs, Sender: sender, Path: clonePath(t, cr.Path),
			GroupID: s.groupID, Self: receivers[0], Keys: s.members[receivers[0]].keys, Context: s.ctx()}); err != nil {
			t.Fatal(err)
		}
		ph, _ := pub.rootHash()
		mh, _ := mem.rootHash()
		if !bytes.Equal(ph, mh) {
			t.Fatal("public merge and member's apply give different trees")
		}
	}
	// A caller that verified the leaf itself skips the signature check.
	v := s.tree.stage()
	p := clonePath(t, cr.Path)
	p.LeafNode.Signature[3] ^= 1
	if _, err := ApplyUpdatePath(v, &ApplyParams{Suite: s.cs, Sender: sender, Path: p, GroupID: s.groupID,
		Self: receivers[0], Keys: s.members[receivers[0]].keys, Context: s.ctx(), LeafNodeVerified: true}); errors.Is(err, ErrLeafSignature) {
		t.Errorf("LeafNodeVerified: signature checked anyway")
	}
	// The untampered path still applies everywhere (the cases above failed
	// for their own reason, not the test setup).
	for _, l := range receivers {
		res, err := ApplyUpdatePath(s.tree.stage(), &ApplyParams{Suite: s.cs, Sender: sender, Path: clonePath(t, cr.Path),
			GroupID: s.groupID, Self: l, Keys: s.members[l].keys, Context: s.ctx()})
		if err != nil || !bytes.Equal(res.CommitSecret, cr.CommitSecret) {
			t.Fatalf("untampered path at %d: %v", l, err)
		}
	}
}

// TestMutatedPathsNoPanic applies randomly mutated encodings of a valid
// UpdatePath: each either fails to decode, fails with a *PathError or some
// other error, or (for mutations of unauthenticated bytes) succeeds; it
// never panics, and a failed apply leaves the staged tree unchanged.
func TestMutatedPathsNoPanic(t *testing.T) {
	s, sender, cr := negativeGroup(t, impls[0])
	enc, err := cr.Path.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	n := 300
	if testing.Short() {
		n = 60
	}
	ref := s.tree.stage()
	if _, err := ApplyUpdatePath(ref, &ApplyParams{Suite: s.cs, Sender: sender, Path: clonePath(t, cr.Path),
		GroupID: s.groupID, Self: 0, Keys: s.members[0].keys, Context: s.ctx()}); err != nil {
		t.Fatal(err)
	}
	wantTH, _ := ref.rootHash()
	rng := testseed.Rand(t)
	var decodeErr, applyErr, ok int
	for i := 0; i < n; i++ {
		b := bytes.Clone(enc)
		for m := 1 + rng.IntN(3); m > 0; m-- {
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		}
		var p codec.UpdatePath
		if err := p.Unmarshal(b); err != nil {
			decodeErr++
			continue
		}
		v := s.tree.stage()
		before, _ := v.rootHash()
		res, err := ApplyUpdatePath(v, &ApplyParams{Suite: s.cs, Sender: sender, Path: &p,
			GroupID: s.groupID, Self: 0, Keys: s.members[0].keys, Context: s.ctx()})
		if err != nil {
			applyErr++
			if after, _ := v.rootHash(); !bytes.Equal(before, after) {
				t.Fatalf("mutation %d: staged tree changed on error %v", i, err)
			}
			continue
		}
		// Only bytes this receiver does not depend on may change: it must
		// reach the committer's secret and tree.
		if !bytes.Equal(res.CommitSecret, cr.CommitSecret) {
			t.Fatalf("mutation %d: accepted with a different commit secret", i)
		}
		if after, _ := v.rootHash(); !bytes.Equal(after, wantTH) {
			t.Fatalf("mutation %d: accepted with a different tree", i)
		}
		ok++
	}
	t.Logf("%d mutations: %d rejected by the decoder, %d by ApplyUpdatePath, %d applied (bytes receiver 0 does not use)", n, decodeErr, applyErr, ok)
}

// TestCreateErrors checks CreateUpdatePath's input checks.
func TestCreateErrors(t *testing.T) {
	s, _, _ := negativeGroup(t, impls[0])
	other := s.members[2].signer
	v := s.tree.stage()
	before, _ := v.rootHash()
	_, err := CreateUpdatePath(v, &CreateParams{Suite: s.cs, Leaf: 1, LeafNode: s.tree.Leaf(1), Signer: other,
		GroupID: s.groupID, Context: s.ctx()})
	if !errors.Is(err, ErrLeafSignature) {
		t.Errorf("wrong signer: %v", err)
	}
	_, err = CreateUpdatePath(v, &CreateParams{Suite: s.cs, Leaf: 1 << 20, LeafNode: s.tree.Leaf(1), Signer: s.members[1].signer,
		GroupID: s.groupID, Context: s.ctx()})
	if !errors.Is(err, ErrInvalidLeaf) {
		t.Errorf("leaf out of range: %v", err)
	}
	boom := errors.New("no context")
	_, err = CreateUpdatePath(v, &CreateParams{Suite: s.cs, Leaf: 1, LeafNode: s.tree.Leaf(1), Signer: s.members[1].signer,
		GroupID: s.groupID, Context: func([]byte) ([]byte, error) { return nil, boom }})
	if !errors.Is(err, boom) {
		t.Errorf("context error: %v", err)
	}
	if after, _ := v.rootHash(); !bytes.Equal(before, after) {
		t.Errorf("staged tree changed by failed creates")
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
