package treekem

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

type simMember struct {
	signer providers.Signer
	keys   *PrivateKeys
}

// sim is a group of members sharing one public tree, each with its own
// private TreeKEM state.
type sim struct {
	cs      providers.CipherSuite
	groupID []byte
	epoch   uint64
	tree    committed
	members map[treemath.LeafIndex]*simMember
	rng     *rand.Rand
	commits int
	applies int
}

func (s *sim) ctx() ContextFunc {
	return contextFunc(s.cs.ID(), s.groupID, s.epoch+1, []byte("cth"))
}

// newMemberLeaf returns a key-package leaf node with fresh keys.
func (s *sim) newMemberLeaf(id int) (*codec.LeafNode, *simMember, error) {
	hpriv, hpub, err := s.cs.GenerateKeyPair(nil)
	if err != nil {
		return nil, nil, err
	}
	spriv, _, err := s.cs.GenerateSignatureKeyPair(nil)
	if err != nil {
		return nil, nil, err
	}
	signer, err := s.cs.NewSigner(spriv)
	if err != nil {
		return nil, nil, err
	}
	ln := &codec.LeafNode{
		EncryptionKey:  hpub,
		SignatureKey:   signer.PublicKey(),
		Credential:     codec.Credential{CredentialType: codec.CredentialTypeBasic, Identity: fmt.Appendf(nil, "member-%d", id)},
		LeafNodeSource: codec.LeafNodeSourceKeyPackage,
		Lifetime:       &codec.Lifetime{NotBefore: 0, NotAfter: 1 << 62},
		Signature:      []byte("unchecked key package signature"),
	}
	m := &simMember{signer: signer, keys: NewPrivateKeys()}
	m.keys.Set(0, hpriv, hpub) // node fixed once the leaf is placed
	return ln, m, nil
}

// newSim starts a one-member group on the tree built by mk.
func newSim(cs providers.CipherSuite, seed uint64, f impl) (*sim, error) {
	s := &sim{cs: cs, groupID: []byte("treekem sim"), members: map[treemath.LeafIndex]*simMember{},
		rng: rand.New(rand.NewPCG(seed, 1))}
	ln, m, err := s.newMemberLeaf(0)
	if err != nil {
		return nil, err
	}
	if s.tree, err = f.fromRT(cs, codec.RatchetTree{{NodeType: codec.NodeTypeLeaf, LeafNode: ln}}); err != nil {
		return nil, err
	}
	s.members[0] = m
	return s, nil
}

func (s *sim) memberList() []treemath.LeafIndex {
	var out []treemath.LeafIndex
	for l := treemath.LeafIndex(0); uint64(l) < uint64(s.tree.LeafCount()); l++ {
		if s.members[l] != nil {
			out = append(out, l)
		}
	}
	return out
}

// commit has committer commit adding `adds` new members and removing the
// members in removes, with an UpdatePath; every other member applies it and
// must agree on the commit secret and tree hash.
func (s *sim) commit(committer treemath.LeafIndex, adds int, removes []treemath.LeafIndex) error {
	// The proposals, staged by everyone alike.
	var newLeaves []*codec.LeafNode
	var newMembers []*simMember
	for i := 0; i < adds; i++ {
		ln, m, err := s.newMemberLeaf(s.rng.Int())
		if err != nil {
			return err
		}
		newLeaves = append(newLeaves, ln)
		newMembers = append(newMembers, m)
	}
	stage := func() (staged, []treemath.LeafIndex, error) {
		st := s.tree.stage()
		for _, r := range removes {
			if err := st.removeLeaf(r); err != nil {
				return nil, nil, err
			}
		}
		var added []treemath.LeafIndex
		for _, ln := range newLeaves {
			l, err := st.addLeaf(ln)
			if err != nil {
				return nil, nil, err
			}
			added = append(added, l)
		}
		return st, added, nil
	}
	st0, added, err := stage()
	if err != nil {
		return err
	}
	joiners := map[treemath.LeafIndex]*simMember{}
	for i, l := range added {
		m := newMembers[i]
		priv, pub, _ := m.keys.Get(0)
		m.keys = NewPrivateKeys()
		m.keys.Set(l.Node(), priv, pub)
		joiners[l] = m
	}

	// Receivers stage the same proposals on their own views.
	removed := map[treemath.LeafIndex]bool{}
	for _, r := range removes {
		removed[r] = true
	}
	var receivers []treemath.LeafIndex
	var views []staged
	for _, l := range s.memberList() {
		if l == committer || removed[l] {
			continue
		}
		st, _, err := stage()
		if err != nil {
			return err
		}
		receivers = append(receivers, l)
		views = append(views, st)
	}

	cm := s.members[committer]
	cr, err := CreateUpdatePath(st0, &CreateParams{
		Suite: s.cs, Leaf: committer, LeafNode: st0.Leaf(committer), Signer: cm.signer,
		GroupID: s.groupID, Exclude: added, Context: s.ctx(),
	})
	if err != nil {
		return fmt.Errorf("create by %d: %w", committer, err)
	}
	wantTH, err := st0.rootHash()
	if err != nil {
		return err
	}
	if err := checkSeededHash(s.cs, st0, wantTH); err != nil {
		return fmt.Errorf("committer %d: %w", committer, err)
	}
	enc, err := cr.Path.Marshal()
	if err != nil {
		return err
	}
	var path codec.UpdatePath
	if err := path.Unmarshal(enc); err != nil {
		return err
	}
	results := map[treemath.LeafIndex]*ApplyResult{}
	for i, l := range receivers {
		st := views[i]
		res, err := ApplyUpdatePath(st, &ApplyParams{
			Suite: s.cs, Sender: committer, Path: &path, GroupID: s.groupID,
			Exclude: added, Self: l, Keys: s.members[l].keys, Context: s.ctx(),
		})
		if err != nil {
			return fmt.Errorf("apply at %d (committer %d): %w", l, committer, err)
		}
		if !bytes.Equal(res.CommitSecret, cr.CommitSecret) {
			return fmt.Errorf("member %d: commit secret differs", l)
		}
		th, err := st.rootHash()
		if err != nil {
			return err
		}
		if !bytes.Equal(th, wantTH) {
			return fmt.Errorf("member %d: tree hash differs", l)
		}
		if err := checkSeededHash(s.cs, st, th); err != nil {
			return fmt.Errorf("member %d: %w", l, err)
		}
		results[l] = res
		s.applies++
	}
	views = nil
	if s.tree, err = s.tree.merge(st0); err != nil {
		return err
	}
	// Merge: install keys, welcome joiners, drop removed members.
	s.epoch++
	s.commits++
	for _, r := range removes {
		s.members[r].keys.Zero()
		delete(s.members, r)
	}
	if cm.keys, err = nextKeys(cm.keys, cr.Keys, s.tree); err != nil {
		return fmt.Errorf("committer %d: %w", committer, err)
	}
	for l, res := range results {
		if s.members[l].keys, err = nextKeys(s.members[l].keys, res.Keys, s.tree); err != nil {
			return fmt.Errorf("member %d: %w", l, err)
		}
	}
	for l, m := range joiners {
		ps, x, ok := cr.PathSecretFor(l)
		if !ok || x != treemath.CommonAncestor(l.Node(), committer.Node()) {
			return fmt.Errorf("no path secret for joiner %d", l)
		}
		if err := m.keys.SetWelcomePathSecret(s.cs, s.tree, l, committer, ps); err != nil {
			return fmt.Errorf("joiner %d: %w", l, err)
		}
		s.members[l] = m
	}
	cr.Zero()
	return s.check()
}

// nextKeys returns k.Next(p, t), the keys of a member in the epoch a
// Commit with the path p begins (t its merged tree), after checking them
// against Clone, Merge and Prune, whose shortcut Next is, and zeroes k,
// as a group does once the Commit is merged.
func nextKeys(k *PrivateKeys, p *PathKeys, t TreeView) (*PrivateKeys, error) {
	q := &PathKeys{sender: p.sender, directPath: p.directPath}
	for _, nk := range p.keys {
		q.keys = append(q.keys, nodeKeyPair{nk.node, keyPair{priv: bytes.Clone(nk.kp.priv), pub: bytes.Clone(nk.kp.pub)}})
	}
	want := k.Clone()
	want.Merge(q)
	want.Prune(t)
	got := k.Next(p, t)
	if len(p.keys) != 0 {
		return nil, errors.New("Next left the path's keys to the PathKeys")
	}
	if fmt.Sprint(got.Nodes()) != fmt.Sprint(want.Nodes()) {
		return nil, fmt.Errorf("Next holds keys for %v, Clone+Merge+Prune for %v", got.Nodes(), want.Nodes())
	}
	for x, kp := range want.keys {
		if g := got.keys[x]; !bytes.Equal(g.priv, kp.priv) || !bytes.Equal(g.pub, kp.pub) {
			return nil, fmt.Errorf("Next's key of node %d differs", x)
		}
	}
	want.Zero()
	k.Zero()
	return got, nil
}

// checkSeededHash checks that th, the root hash of a staged ratchettree
// Diff whose path hashes TreeKEM seeded (HashSeeder), is the hash of the
// same tree computed from nothing: a tree decoded from the Diff's nodes.
func checkSeededHash(cs providers.CipherSuite, st staged, th []byte) error {
	d, ok := st.(rtStaged)
	if !ok {
		return nil
	}
	fresh, err := ratchettree.FromRatchetTree(cs, d.Diff.RatchetTree())
	if err != nil {
		return err
	}
	want, err := fresh.TreeHash()
	if err != nil {
		return err
	}
	if !bytes.Equal(th, want) {
		return fmt.Errorf("seeded tree hash %x, computed from the nodes %x", th, want)
	}
	return nil
}

// check verifies the tree invariant (§4.2) for every member: it holds a
// correct key for exactly the non-blank nodes of its direct path that do not
// list it as unmerged (and its leaf), and every parent node is parent-hash
// valid (§7.9.2).
func (s *sim) check() error {
	n := s.tree.LeafCount()
	for l, m := range s.members {
		m.keys.Prune(s.tree)
		if err := m.keys.Check(s.cs, s.tree); err != nil {
			return fmt.Errorf("member %d: %w", l, err)
		}
		want := []treemath.NodeIndex{l.Node()}
		dp, _ := treemath.DirectPath(l.Node(), n)
		for _, x := range dp {
			pn := s.tree.Parent(x)
			if pn == nil {
				continue
			}
			unmerged := false
			for _, u := range pn.UnmergedLeaves {
				unmerged = unmerged || treemath.LeafIndex(u) == l
			}
			if !unmerged {
				want = append(want, x)
			}
		}
		slices.Sort(want)
		if got := m.keys.Nodes(); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("member %d holds keys for %v, want %v", l, got, want)
		}
	}
	return s.tree.verifyParentHashes()
}

// externalJoin has a new member join by an external Commit with an
// UpdatePath (§12.4.3.2): it places its leaf at the leftmost blank leaf of
// its staged copy of the tree and creates the path; every member places the
// path's leaf the same way and applies it with External set.
func (s *sim) externalJoin() error {
	ln, m, err := s.newMemberLeaf(s.rng.Int())
	if err != nil {
		return err
	}
	st := s.tree.stage()
	l, err := st.addLeaf(ln)
	if err != nil {
		return err
	}
	cr, err := CreateUpdatePath(st, &CreateParams{
		Suite: s.cs, Leaf: l, LeafNode: ln, Signer: m.signer, GroupID: s.groupID, Context: s.ctx(),
	})
	if err != nil {
		return fmt.Errorf("external create at %d: %w", l, err)
	}
	wantTH, err := st.rootHash()
	if err != nil {
		return err
	}
	path := &cr.Path
	var results []*ApplyResult
	var receivers []treemath.LeafIndex
	for _, r := range s.memberList() {
		v := s.tree.stage()
		pl := (*path).LeafNode
		if got, err := v.addLeaf(&pl); err != nil || got != l {
			return fmt.Errorf("member %d places the joiner at %d (%v), joiner chose %d", r, got, err, l)
		}
		res, err := ApplyUpdatePath(v, &ApplyParams{Suite: s.cs, Sender: l, Path: *path, GroupID: s.groupID,
			Self: r, Keys: s.members[r].keys, Context: s.ctx(), External: true})
		if err != nil {
			return fmt.Errorf("external apply at %d (joiner %d): %w", r, l, err)
		}
		if !bytes.Equal(res.CommitSecret, cr.CommitSecret) {
			return fmt.Errorf("member %d: commit secret differs", r)
		}
		if th, _ := v.rootHash(); !bytes.Equal(th, wantTH) {
			return fmt.Errorf("member %d: tree hash differs", r)
		}
		results = append(results, res)
		receivers = append(receivers, r)
		s.applies++
	}
	if s.tree, err = s.tree.merge(st); err != nil {
		return err
	}
	s.epoch++
	s.commits++
	m.keys = NewPrivateKeys()
	m.keys.Merge(cr.Keys)
	s.members[l] = m
	for i, r := range receivers {
		s.members[r].keys.Merge(results[i].Keys)
	}
	cr.Zero()
	return s.check()
}

// step interprets one random operation: an UpdatePath alone, adds, or
// removes, each committed with a path by a random member.
func (s *sim) step(op uint32, maxAdd int) error {
	ms := s.memberList()
	committer := ms[int(op>>8)%len(ms)]
	switch op % 4 {
	case 3:
		return s.externalJoin()
	case 0:
		return s.commit(committer, 0, nil)
	case 1:
		return s.commit(committer, 1+int(op>>4)%maxAdd, nil)
	default:
		var rm []treemath.LeafIndex
		k := 1 + int(op>>4)%3
		for _, l := range ms {
			if len(rm) < k && l != committer && s.rng.IntN(2) == 0 {
				rm = append(rm, l)
			}
		}
		return s.commit(committer, 0, rm)
	}
}
