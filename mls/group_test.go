package mls

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// This file holds end-to-end tests of the group state machine (RFC 9420
// §11–§14) with real crypto and storage, and the small simulation harness
// (gt*) the property, negative and state tests share.

// gtSuites are the cipher suites the end-to-end tests run in.
var gtSuites = []codec.CipherSuite{
	codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519,
	codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256,
	codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519,
	providers.CipherSuiteXWing,
}

// gtMember is one simulated client and its view of the group.
type gtMember struct {
	name string
	c    *Client
	g    *Group
}

// gtSim is a simulated group: the members that currently belong to it
// and the Delivery Service that hands every message to all of them.
type gtSim struct {
	t       testing.TB
	p       providers.Provider
	suite   codec.CipherSuite
	cfg     GroupConfig
	members []*gtMember
	// outOfBandTree makes joiners take the tree from the committer's
	// RatchetTree() instead of the Welcome.
	outOfBandTree bool
	nextID        int
	// faults, when set, makes members' stores fail at random operations
	// of merges, sends and receives (gtSim.withFaults); injected counts
	// the failures.
	faults   *rand.Rand
	injected int
	// ds, when set, sees every proposal and Commit before the members,
	// and checks its view after each check (publicgroup_test.go).
	ds gtObserver
}

// gtObserver follows a simulated group from outside: a Delivery Service.
type gtObserver interface {
	proposal(sender *gtMember, msg []byte)
	commit(committer *gtMember, msg []byte) // committer nil: an external Commit
	check(s *gtSim)
}

// withFaults runs op, an operation of m, with (when s.faults is set, one
// time in three) one of its first storage operations failing. If it failed
// it must have failed with the injected error leaving m's epoch as it was;
// then recover (nil: op again) repairs m (retrying op, or reloading m from
// its storage first) and the result is recover's.
func (s *gtSim) withFaults(m *gtMember, op func() error, recover func(reload bool) error) error {
	s.t.Helper()
	f, ok := m.c.Storage.(*storagetest.Faulty)
	if s.faults == nil || !ok || s.faults.IntN(3) != 0 {
		return op()
	}
	epoch, auth := m.g.Epoch(), m.g.EpochAuthenticator()
	f.FailAt(1 + s.faults.IntN(8))
	err := op()
	failed := len(f.Failed()) > 0
	f.Reset()
	if !failed {
		return err
	}
	if !errors.Is(err, storagetest.ErrInjected) {
		s.t.Fatalf("%s: with a failing store: %v", m.name, err)
	}
	if m.g.Epoch() != epoch || !bytes.Equal(m.g.EpochAuthenticator(), auth) {
		s.t.Fatalf("%s: a failed operation changed the epoch", m.name)
	}
	s.injected++
	reload := s.faults.IntN(2) == 0
	if reload {
		g, err := LoadGroup(m.c, m.g.GroupID())
		if err != nil {
			s.t.Fatalf("%s: LoadGroup after a failed operation: %v", m.name, err)
		}
		if g.Epoch() != epoch || !bytes.Equal(g.EpochAuthenticator(), auth) {
			s.t.Fatalf("%s: the store is not in the group's epoch after a failed operation", m.name)
		}
		m.g = g
	}
	if recover == nil {
		return op()
	}
	return recover(reload)
}

// gtNewClient makes a client with a fresh signature key and basic
// credential.
func gtNewClient(t testing.TB, p providers.Provider, suite codec.CipherSuite, name string) *Client {
	t.Helper()
	sk, err := GenerateSignatureKeyPair(p, suite)
	if err != nil {
		t.Fatalf("signature key: %v", err)
	}
	return &Client{Provider: p, Storage: storagetest.NewFaulty(memstore.New()), Signer: sk, Credential: NewBasicCredential([]byte(name))}
}

// gtKeyPackage builds and stores a key package of c.
func gtKeyPackage(t testing.TB, c *Client, suite codec.CipherSuite) *codec.KeyPackage {
	t.Helper()
	b, err := (&KeyPackageBuilder{Provider: c.Provider, CipherSuite: suite, Credential: c.Credential, Signer: c.Signer}).BuildAndStore(c.Storage)
	if err != nil {
		t.Fatalf("key package: %v", err)
	}
	return &b.KeyPackage
}

// newGTSim creates a group with one member, "m0", and the create options
// opts[0] if given; every member uses cfg.
func newGTSim(t testing.TB, suite codec.CipherSuite, cfg GroupConfig, opts ...*CreateOptions) *gtSim {
	t.Helper()
	s := &gtSim{t: t, p: defaultcrypto.New(), suite: suite, cfg: cfg}
	c := gtNewClient(t, s.p, suite, "m0")
	var o *CreateOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	g, err := NewGroup(c, suite, cfg, o)
	if err != nil {
		t.Fatalf("NewGroup: %v", err)
	}
	s.nextID = 1
	s.members = []*gtMember{{name: "m0", c: c, g: g}}
	return s
}

// newClient makes a client that is not yet a member.
func (s *gtSim) newClient() *gtMember {
	name := fmt.Sprintf("m%d", s.nextID)
	s.nextID++
	return &gtMember{name: name, c: gtNewClient(s.t, s.p, s.suite, name)}
}

// broadcast hands a proposal message to every member but the sender, who
// stores it; each checks it is a proposal.
func (s *gtSim) broadcast(sender *gtMember, msg []byte) {
	s.t.Helper()
	if s.ds != nil {
		s.ds.proposal(sender, msg)
	}
	for _, m := range s.members {
		if m == sender {
			continue
		}
		pm, err := m.g.ProcessMessage(msg)
		if err != nil {
			s.t.Fatalf("%s processing proposal of %s: %v", m.name, sender.name, err)
		}
		if pm.Kind != KindProposal {
			s.t.Fatalf("%s: kind %d, want proposal", m.name, pm.Kind)
		}
		if err := m.g.StoreProposal(pm.Proposal); err != nil {
			s.t.Fatalf("%s: StoreProposal: %v", m.name, err)
		}
	}
}

// applyCommit merges the committer's pending commit, has every other
// member process and merge it, and the joiners join from the Welcome. It
// returns the members the commit removed (they stay readable and are no
// longer in s.members).
func (s *gtSim) applyCommit(committer *gtMember, res *CommitResult, joiners ...*gtMember) []*gtMember {
	s.t.Helper()
	var tree codec.RatchetTree
	var removed []*gtMember
	var stay []*gtMember
	if s.ds != nil {
		s.ds.commit(committer, res.Commit)
	}
	for _, m := range s.members {
		if m == committer {
			stay = append(stay, m)
			continue
		}
		process := func() *StagedCommit {
			pm, err := m.g.ProcessMessage(res.Commit)
			if err != nil {
				s.t.Fatalf("%s processing commit of %s: %v", m.name, committer.name, err)
			}
			if pm.Kind != KindCommit {
				s.t.Fatalf("%s: kind %d, want commit", m.name, pm.Kind)
			}
			return pm.Commit
		}
		sc := process()
		if err := s.withFaults(m, func() error { return m.g.MergeStagedCommit(sc) }, func(reload bool) error {
			if reload {
				sc = process() // the loaded group processes the Commit again
			}
			return m.g.MergeStagedCommit(sc)
		}); err != nil {
			s.t.Fatalf("%s: MergeStagedCommit: %v", m.name, err)
		}
		if sc.SelfRemoved() {
			if m.g.Active() {
				s.t.Fatalf("%s: removed but still active", m.name)
			}
			removed = append(removed, m)
			continue
		}
		stay = append(stay, m)
	}
	if err := s.withFaults(committer, func() error { return committer.g.MergePendingCommit() }, nil); err != nil {
		s.t.Fatalf("%s: MergePendingCommit: %v", committer.name, err)
	}
	s.members = stay
	if len(joiners) > 0 {
		if res.Welcome == nil {
			s.t.Fatalf("commit of %s adds members but has no Welcome", committer.name)
		}
		if s.outOfBandTree {
			tree = committer.g.RatchetTree()
		}
		for _, j := range joiners {
			g, err := JoinFromWelcome(j.c, res.Welcome, tree, s.cfg)
			if err != nil {
				s.t.Fatalf("%s joining: %v", j.name, err)
			}
			j.g = g
			s.members = append(s.members, j)
		}
	}
	s.check()
	return removed
}

// add has committer add n new clients by value (with or without a path).
func (s *gtSim) add(committer *gtMember, n int, forcePath bool) []*gtMember {
	s.t.Helper()
	var kps []*codec.KeyPackage
	var js []*gtMember
	for i := 0; i < n; i++ {
		j := s.newClient()
		js = append(js, j)
		kps = append(kps, gtKeyPackage(s.t, j.c, s.suite))
	}
	res, err := committer.g.Commit(CommitOptions{Add: kps, ForcePath: forcePath})
	if err != nil {
		s.t.Fatalf("%s adding: %v", committer.name, err)
	}
	s.applyCommit(committer, res, js...)
	return js
}

// check asserts that all members agree on the epoch, epoch authenticator,
// tree hash, membership and an exported secret, and that each sees itself
// at its own leaf.
func (s *gtSim) check() {
	s.t.Helper()
	if len(s.members) == 0 {
		return
	}
	ref := s.members[0].g
	refMembers := gtMemberKeys(ref)
	refExp, err := ref.Export("gt", []byte("ctx"), 32)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, m := range s.members {
		g := m.g
		if !g.Active() {
			s.t.Fatalf("%s is not active", m.name)
		}
		if g.Epoch() != ref.Epoch() {
			s.t.Fatalf("%s in epoch %d, %s in %d", m.name, g.Epoch(), s.members[0].name, ref.Epoch())
		}
		if !bytes.Equal(g.EpochAuthenticator(), ref.EpochAuthenticator()) {
			s.t.Fatalf("epoch %d: %s and %s disagree on the epoch authenticator", g.Epoch(), m.name, s.members[0].name)
		}
		if !bytes.Equal(g.TreeHash(), ref.TreeHash()) {
			s.t.Fatalf("%s: tree hash differs", m.name)
		}
		if got := gtMemberKeys(g); got != refMembers {
			s.t.Fatalf("%s: members\n%s\nwant\n%s", m.name, got, refMembers)
		}
		exp, err := g.Export("gt", []byte("ctx"), 32)
		if err != nil || !bytes.Equal(exp, refExp) {
			s.t.Fatalf("%s: exporter differs (%v)", m.name, err)
		}
		if me, ok := g.Member(g.OwnLeafIndex()); !ok || !bytes.Equal(me.SignatureKey, m.c.Signer.PublicKey()) && !bytes.Equal(me.SignatureKey, g.signer.PublicKey()) {
			s.t.Fatalf("%s: own leaf %d does not hold its key", m.name, g.OwnLeafIndex())
		}
	}
	if len(s.members) != ref.MemberCount() {
		s.t.Fatalf("%d simulated members, group has %d", len(s.members), ref.MemberCount())
	}
	if s.ds != nil {
		s.ds.check(s)
	}
}

// gtMemberKeys summarizes a group's membership: leaf, identity, keys.
func gtMemberKeys(g *Group) string {
	var b bytes.Buffer
	for _, m := range g.Members() {
		fmt.Fprintf(&b, "%d:%s:%x:%x\n", m.Index, m.Credential.Identity(), m.SignatureKey[:8], m.EncryptionKey[:8])
	}
	return b.String()
}

// sendApp sends an application message from m and checks that every other
// member decrypts it with its AAD and sender.
func (s *gtSim) sendApp(from *gtMember, data, aad []byte) {
	s.t.Helper()
	var msg []byte
	if err := s.withFaults(from, func() (err error) {
		msg, err = from.g.SendApplicationMessage(data, aad)
		return err
	}, nil); err != nil {
		s.t.Fatalf("%s sending: %v", from.name, err)
	}
	for _, m := range s.members {
		if m == from {
			continue
		}
		var pm *ProcessedMessage
		if err := s.withFaults(m, func() (err error) {
			pm, err = m.g.ProcessMessage(msg)
			return err
		}, nil); err != nil {
			s.t.Fatalf("%s decrypting from %s: %v", m.name, from.name, err)
		}
		if pm.Kind != KindApplication || !bytes.Equal(pm.ApplicationData, data) || !bytes.Equal(pm.AuthenticatedData, aad) {
			s.t.Fatalf("%s: got kind %d data %q aad %q", m.name, pm.Kind, pm.ApplicationData, pm.AuthenticatedData)
		}
		if pm.Sender.SenderType != codec.SenderTypeMember || LeafIndex(pm.Sender.LeafIndex) != from.g.OwnLeafIndex() {
			s.t.Fatalf("%s: sender %+v, want leaf %d", m.name, pm.Sender, from.g.OwnLeafIndex())
		}
		if !bytes.Equal(pm.SenderCredential.Identity(), []byte(from.name)) {
			s.t.Fatalf("%s: sender credential %q, want %q", m.name, pm.SenderCredential.Identity(), from.name)
		}
	}
}

// gtMust returns v, or panics on an error (which fails the test with the
// stack of the failing call).
func gtMust[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}

func gtForSuites(t *testing.T, f func(t *testing.T, suite codec.CipherSuite)) {
	for _, suite := range gtSuites {
		t.Run(fmt.Sprintf("suite%#04x", uint16(suite)), func(t *testing.T) { f(t, suite) })
	}
}

// TestGroupLifecycle runs a group through every kind of change, in several
// suites and both handshake wire formats, checking after each step that all
// members agree (epoch authenticator, tree hash, members, exporter).
func TestGroupLifecycle(t *testing.T) {
	gtForSuites(t, func(t *testing.T, suite codec.CipherSuite) {
		for _, wf := range []struct {
			name string
			p    WireFormatPolicy
		}{{"ciphertext", PureCiphertext()}, {"plaintext", PurePlaintext()}} {
			t.Run(wf.name, func(t *testing.T) {
				gtLifecycle(t, suite, GroupConfig{WireFormatPolicy: wf.p, UseRatchetTreeExtension: true})
			})
		}
	})
}

func gtLifecycle(t *testing.T, suite codec.CipherSuite, cfg GroupConfig, setup ...func(*gtSim)) {
	s := newGTSim(t, suite, cfg)
	for _, f := range setup {
		f(s)
	}
	a := s.members[0]
	if a.g.Epoch() != 0 || a.g.MemberCount() != 1 || a.g.OwnLeafIndex() != 0 {
		t.Fatalf("new group: %v", a.g)
	}
	s.check()

	// Add without a path (only Adds: no path required, §12.4.1).
	bs := s.add(a, 1, false)
	b := bs[0]
	if b.g.Epoch() != 1 {
		t.Fatalf("epoch %d after the first add", b.g.Epoch())
	}
	// Add two with a path.
	cd := s.add(b, 2, true)
	c, d := cd[0], cd[1]
	s.sendApp(c, []byte("hello"), []byte("aad"))
	s.sendApp(a, []byte("hi"), nil)

	// Add by reference: c proposes, d commits.
	e := s.newClient()
	prop, q, err := c.g.ProposeAdd(gtKeyPackage(t, e.c, suite))
	if err != nil {
		t.Fatal(err)
	}
	if !q.Own || q.Type() != codec.ProposalTypeAdd {
		t.Fatalf("queued proposal %+v", q)
	}
	s.broadcast(c, prop)
	for _, m := range s.members {
		if n := len(m.g.PendingProposals()); n != 1 {
			t.Fatalf("%s has %d pending proposals", m.name, n)
		}
	}
	res, err := d.g.CommitPendingProposals()
	if err != nil {
		t.Fatal(err)
	}
	s.applyCommit(d, res, e)
	for _, m := range s.members {
		if n := len(m.g.PendingProposals()); n != 0 {
			t.Fatalf("%s has %d pending proposals after the commit", m.name, n)
		}
	}

	// Remove by commit.
	res = gtMust(a.g.RemoveMembers(b.g.OwnLeafIndex()))
	removed := s.applyCommit(a, res)
	if len(removed) != 1 || removed[0] != b {
		t.Fatalf("removed %v", removed)
	}
	if b.g.Active() {
		t.Fatal("removed member still active")
	}
	if _, err := b.g.SendApplicationMessage([]byte("x"), nil); !errors.Is(err, ErrInactive) {
		t.Fatalf("removed member sends: %v", err)
	}
	// Removed but still readable.
	_ = b.g.Members()
	_ = b.g.Epoch()

	// Remove by proposal: e proposes removing c, a commits.
	prop, _, err = e.g.ProposeRemove(c.g.OwnLeafIndex())
	if err != nil {
		t.Fatal(err)
	}
	s.broadcast(e, prop)
	res = gtMust(a.g.CommitPendingProposals())
	if removed := s.applyCommit(a, res); len(removed) != 1 || removed[0] != c {
		t.Fatalf("removed %v", removed)
	}

	// Self update, immediate.
	oldKey := bytes.Clone(d.g.OwnLeafNode().EncryptionKey)
	res = gtMust(d.g.SelfUpdate(nil))
	s.applyCommit(d, res)
	if bytes.Equal(oldKey, d.g.OwnLeafNode().EncryptionKey) {
		t.Fatal("self update kept the encryption key")
	}
	// Self update with a new signer (LeafNodeOptions).
	newSigner := gtMust(GenerateSignatureKeyPair(s.p, suite))
	newCred := NewBasicCredential([]byte(e.name))
	res = gtMust(e.g.SelfUpdate(&LeafNodeOptions{Signer: newSigner, Credential: &newCred}))
	s.applyCommit(e, res)
	if me, _ := a.g.Member(e.g.OwnLeafIndex()); !bytes.Equal(me.SignatureKey, newSigner.PublicKey()) {
		t.Fatal("the new signature key is not in the tree")
	}
	// The new signer is in use: e's messages verify with it.
	s.sendApp(e, []byte("after key change"), []byte("k"))
	res = gtMust(e.g.SelfUpdate(nil))
	s.applyCommit(e, res)

	// Self update as a proposal committed by another member.
	oldKey = bytes.Clone(a.g.OwnLeafNode().EncryptionKey)
	prop, _, err = a.g.ProposeSelfUpdate(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.broadcast(a, prop)
	res = gtMust(d.g.CommitPendingProposals())
	s.applyCommit(d, res)
	if bytes.Equal(oldKey, a.g.OwnLeafNode().EncryptionKey) {
		t.Fatal("update proposal kept the encryption key")
	}
	s.sendApp(a, []byte("after update"), nil)

	// GroupContextExtensions proposal (by value and by reference).
	ext := codec.Extension{ExtensionType: codec.ExtensionTypeApplicationID, ExtensionData: []byte("app-1")}
	res = gtMust(a.g.Commit(CommitOptions{GroupContextExtensions: []codec.Extension{ext}}))
	s.applyCommit(a, res)
	for _, m := range s.members {
		if x := m.g.Extensions().Find(codec.ExtensionTypeApplicationID); x == nil || string(x.ExtensionData) != "app-1" {
			t.Fatalf("%s: extensions %v", m.name, m.g.Extensions())
		}
	}
	ext.ExtensionData = []byte("app-2")
	prop, _, err = d.g.ProposeGroupContextExtensions([]codec.Extension{ext})
	if err != nil {
		t.Fatal(err)
	}
	s.broadcast(d, prop)
	res = gtMust(e.g.CommitPendingProposals())
	s.applyCommit(e, res)
	if x := a.g.Extensions().Find(codec.ExtensionTypeApplicationID); x == nil || string(x.ExtensionData) != "app-2" {
		t.Fatalf("extensions %v", a.g.Extensions())
	}

	// Leave: a SelfRemove proposal committed by another member.
	f := s.add(a, 1, false)[0]
	out, err := f.g.LeaveGroup()
	if err != nil {
		t.Fatal(err)
	}
	s.broadcast(f, out)
	res = gtMust(d.g.CommitPendingProposals())
	// f processes the commit itself below: it is removed.
	if removed := s.applyCommit(d, res); len(removed) != 1 || removed[0] != f {
		t.Fatalf("removed %v", removed)
	}
	if f.g.Active() {
		t.Fatal("left member still active")
	}
	if _, err := f.g.Commit(CommitOptions{}); !errors.Is(err, ErrInactive) {
		t.Fatalf("left member commits: %v", err)
	}
	if n := f.g.MemberCount(); n != len(s.members) {
		t.Fatalf("left member sees %d members, want %d", n, len(s.members))
	}
	s.sendApp(d, []byte("bye f"), nil)

	// Empty commit (path only).
	res = gtMust(e.g.Commit(CommitOptions{}))
	s.applyCommit(e, res)

	// The GroupInfo of a commit verifies with the committer's key.
	res = gtMust(a.g.SelfUpdate(nil))
	if res.GroupInfo != nil {
		t.Fatal("GroupInfo built without WithGroupInfo")
	}
	s.applyCommit(a, res)
	res = gtMust(a.g.Commit(CommitOptions{ForcePath: true, WithGroupInfo: true}))
	gtCheckGroupInfo(t, s, res.GroupInfo, a)
	s.applyCommit(a, res)
	gi := gtMust(d.g.GroupInfo(true))
	gtCheckGroupInfo(t, s, gi, d)
}

// gtCheckGroupInfo verifies a GroupInfo message: the signature with the
// signer's key in the epoch the GroupInfo describes, the external_pub
// extension, the confirmation tag.
func gtCheckGroupInfo(t *testing.T, s *gtSim, msg []byte, signer *gtMember) {
	t.Helper()
	var m codec.MLSMessage
	if err := m.Unmarshal(msg); err != nil || m.GroupInfo == nil {
		t.Fatalf("GroupInfo message: %v", err)
	}
	gi := m.GroupInfo
	cs := gtMust(s.p.CipherSuite(s.suite))
	if err := VerifyGroupInfo(cs, gi, signer.g.signerFor().PublicKey()); err != nil {
		t.Fatalf("GroupInfo does not verify: %v", err)
	}
	if _, ok, err := Extensions(gi.Extensions).ExternalPub(); !ok || err != nil {
		t.Fatalf("no external_pub: %v", err)
	}
	bad := *gi
	bad.ConfirmationTag = bytes.Clone(gi.ConfirmationTag)
	bad.ConfirmationTag[0] ^= 1
	if err := VerifyGroupInfo(cs, &bad, signer.g.signerFor().PublicKey()); !errors.Is(err, ErrInvalidGroupInfoSignature) {
		t.Fatalf("tampered GroupInfo: %v", err)
	}
}

// signerFor returns the signer the group signs with after its pending
// commit merges (test helper).
func (g *Group) signerFor() providers.Signer {
	if g.pending != nil && g.pending.newSigner != nil {
		return g.pending.newSigner
	}
	return g.signer
}

// TestGroupPSKProposal injects an external PSK, by value and by reference
// (RFC 9420 §8.4, §12.1.4); a member without the PSK cannot process it.
func TestGroupPSKProposal(t *testing.T) {
	gtForSuites(t, func(t *testing.T, suite codec.CipherSuite) {
		s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: true})
		a := s.members[0]
		s.add(a, 2, false)
		b, c := s.members[1], s.members[2]
		cs := gtMust(s.p.CipherSuite(suite))
		pskID := []byte("shared psk")
		secret := bytes.Repeat([]byte{7}, cs.HashSize())
		for _, m := range s.members {
			if err := StoreExternalPSK(m.c.Storage, pskID, secret); err != nil {
				t.Fatal(err)
			}
		}
		id := gtMust(NewExternalPSKID(s.p, cs, pskID))
		res := gtMust(a.g.Commit(CommitOptions{PSKs: []codec.PreSharedKeyID{id}}))
		s.applyCommit(a, res)

		id2 := gtMust(NewExternalPSKID(s.p, cs, pskID))
		prop, _, err := b.g.ProposePSK(id2)
		if err != nil {
			t.Fatal(err)
		}
		s.broadcast(b, prop)
		res = gtMust(c.g.CommitPendingProposals())
		s.applyCommit(c, res)

		// A PSK that a member lacks: the member cannot process the commit.
		other := []byte("only a and b")
		for _, m := range []*gtMember{a, b} {
			if err := StoreExternalPSK(m.c.Storage, other, secret); err != nil {
				t.Fatal(err)
			}
		}
		id3 := gtMust(NewExternalPSKID(s.p, cs, other))
		if _, _, err := c.g.ProposePSK(id3); !errors.Is(err, RulePSKAvailable) {
			t.Fatalf("proposing an unknown PSK: %v", err)
		}
		res = gtMust(a.g.Commit(CommitOptions{PSKs: []codec.PreSharedKeyID{id3}}))
		if _, err := c.g.ProcessMessage(res.Commit); !errors.Is(err, RulePSKAvailable) {
			t.Fatalf("commit with a missing PSK: %v", err)
		}
		pm := gtMust(b.g.ProcessMessage(res.Commit))
		if err := b.g.MergeStagedCommit(pm.Commit); err != nil {
			t.Fatal(err)
		}
		if err := a.g.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.g.EpochAuthenticator(), b.g.EpochAuthenticator()) {
			t.Fatal("a and b disagree")
		}
	})
}

// TestGroupClearPendingCommit: clearing a pending commit restores the exact
// state, and later commits work (RFC 9420 §12.4.1).
func TestGroupClearPendingCommit(t *testing.T) {
	gtForSuites(t, func(t *testing.T, suite codec.CipherSuite) {
		s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: true})
		a := s.members[0]
		s.add(a, 2, true)
		b := s.members[1]
		snap := gtSnapshot(a.g)
		stored := gtFullSnapshot(t, a, false)

		x := s.newClient()
		res := gtMust(a.g.Commit(CommitOptions{Add: []*codec.KeyPackage{gtKeyPackage(t, x.c, suite)}, Remove: []LeafIndex{2}, ForcePath: true}))
		if !a.g.HasPendingCommit() {
			t.Fatal("no pending commit")
		}
		if _, err := a.g.Commit(CommitOptions{}); !errors.Is(err, ErrPendingCommit) {
			t.Fatalf("second commit: %v", err)
		}
		// Our own commit cannot be processed.
		if err := a.g.ClearPendingCommit(); err != nil {
			t.Fatal(err)
		}
		if got := gtSnapshot(a.g); got != snap {
			t.Fatalf("state after ClearPendingCommit:\n%s\nwant\n%s", got, snap)
		}
		// The stored group state too (the pending commit record is gone).
		// With PureCiphertext the Commit consumed a handshake key (§9.2),
		// so the secret tree record is not compared.
		if got := gtFullSnapshot(t, a, false); got != stored {
			t.Fatal("stored state after ClearPendingCommit differs")
		}
		if lg, err := LoadGroup(a.c, a.g.GroupID()); err != nil || gtSnapshot(lg) != snap || lg.HasPendingCommit() {
			t.Fatalf("LoadGroup after ClearPendingCommit: %v", err)
		}
		if err := a.g.ClearPendingCommit(); !errors.Is(err, ErrNoPendingCommit) {
			t.Fatalf("second clear: %v", err)
		}
		if err := a.g.MergePendingCommit(); !errors.Is(err, ErrNoPendingCommit) {
			t.Fatalf("merge after clear: %v", err)
		}
		// The others never saw the commit; a commit of b now works for all.
		_ = res.Commit
		res = gtMust(b.g.SelfUpdate(nil))
		s.applyCommit(b, res)
		res = gtMust(a.g.SelfUpdate(nil))
		s.applyCommit(a, res)
		s.sendApp(a, []byte("still here"), nil)
	})
}

// gtSnapshot is the observable state of a group.
func gtSnapshot(g *Group) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "epoch %d active %v pending %v\nauth %x\ntree %x\nctx %x\ntag %x\n", g.Epoch(), g.Active(), g.HasPendingCommit(), g.EpochAuthenticator(), g.TreeHash(), g.epoch.ctxBytes, g.ConfirmationTag())
	b.WriteString(gtMemberKeys(g))
	for _, q := range g.PendingProposals() {
		fmt.Fprintf(&b, "proposal %x %v\n", q.Ref, q.Type())
	}
	exp, _ := g.Export("snapshot", nil, 16)
	fmt.Fprintf(&b, "export %x\n", exp)
	return b.String()
}

// TestGroupOutOfBandTree: without the ratchet_tree extension the Welcome
// carries no tree; joiners take it from Group.RatchetTree (§12.4.3.3).
func TestGroupOutOfBandTree(t *testing.T) {
	gtForSuites(t, func(t *testing.T, suite codec.CipherSuite) {
		s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: false})
		s.outOfBandTree = true
		a := s.members[0]
		j := s.newClient()
		res := gtMust(a.g.AddMembers(gtKeyPackage(t, j.c, suite)))
		// Without a tree the join fails with ErrNoRatchetTree.
		if _, err := JoinFromWelcome(j.c, res.Welcome, nil, s.cfg); !errors.Is(err, ErrNoRatchetTree) {
			t.Fatalf("join without a tree: %v", err)
		}
		// The failed join consumed nothing: the key package is still there.
		s.applyCommit(a, res, j)
		s.add(j, 2, true)
		s.sendApp(s.members[3], []byte("oob"), nil)
	})
}

// TestGroupJoinWrongTree: a tree given out of band that is not the
// group's (another epoch's) is refused (§12.4.3.1: the tree hash must match
// the GroupInfo's), and the key package is not consumed.
func TestGroupJoinWrongTree(t *testing.T) {
	suite := gtSuites[0]
	s := newGTSim(t, suite, GroupConfig{})
	s.outOfBandTree = true
	a := s.members[0]
	s.add(a, 1, false)
	oldTree := a.g.RatchetTree()
	j := s.newClient()
	res := gtMust(a.g.AddMembers(gtKeyPackage(t, j.c, suite)))
	if _, err := JoinFromWelcome(j.c, res.Welcome, oldTree, s.cfg); !errors.Is(err, ratchettree.ErrTreeHashMismatch) {
		t.Fatalf("joining with the tree of the previous epoch: %v", err)
	}
	s.applyCommit(a, res, j)

	// A client whose signer is not its key package's cannot join.
	k := s.newClient()
	res = gtMust(a.g.AddMembers(gtKeyPackage(t, k.c, suite)))
	wrong := *k.c
	wrong.Signer = gtMust(GenerateSignatureKeyPair(s.p, suite))
	if _, err := JoinFromWelcome(&wrong, res.Welcome, a.g.pending.diff.RatchetTree(), s.cfg); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("joining with another signer: %v", err)
	}
	s.applyCommit(a, res, k)
}

// TestGroupTwoStepJoin inspects a Welcome before joining.
func TestGroupTwoStepJoin(t *testing.T) {
	suite := gtSuites[0]
	s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: true})
	a := s.members[0]
	j := s.newClient()
	res := gtMust(a.g.AddMembers(gtKeyPackage(t, j.c, suite)))
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	pw := gtMust(ProcessWelcome(j.c, res.Welcome, s.cfg))
	sw := gtMust(pw.Stage(nil))
	if sw.OwnLeafIndex() != 1 || len(sw.Members()) != 2 || !bytes.Equal(sw.Sender().SignatureKey, a.c.Signer.PublicKey()) {
		t.Fatalf("staged welcome: leaf %d, %d members", sw.OwnLeafIndex(), len(sw.Members()))
	}
	if !bytes.Equal(sw.EpochAuthenticator(), a.g.EpochAuthenticator()) {
		t.Fatal("staged welcome's epoch authenticator differs")
	}
	j.g = gtMust(sw.Join())
	s.members = append(s.members, j)
	s.check()
	// The key package is consumed: the Welcome cannot be joined twice.
	if _, err := JoinFromWelcome(j.c, res.Welcome, nil, s.cfg); !errors.Is(err, ErrNoMatchingKeyPackage) {
		t.Fatalf("second join: %v", err)
	}
}

// TestGroupLateApplicationMessage: with MaxPastEpochs an application
// message of the previous epoch still decrypts after a commit.
func TestGroupLateApplicationMessage(t *testing.T) {
	suite := gtSuites[0]
	s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: true, MaxPastEpochs: 2})
	a := s.members[0]
	s.cfg.MaxPastEpochs = 2
	s.add(a, 1, false)
	b := s.members[1]
	late := gtMust(b.g.SendApplicationMessage([]byte("late"), []byte("ad")))
	res := gtMust(a.g.SelfUpdate(nil))
	s.applyCommit(a, res)
	pm := gtMust(a.g.ProcessMessage(late))
	if string(pm.ApplicationData) != "late" || pm.Epoch != 1 || string(pm.SenderCredential.Identity()) != b.name {
		t.Fatalf("late message: %+v", pm)
	}
	// A second decryption of the same message fails (the key is gone).
	if _, err := a.g.ProcessMessage(late); !errors.Is(err, RuleDecryption) {
		t.Fatalf("replayed message: %v", err)
	}
}

// TestGroupResumptionPSK injects the resumption PSK of a past epoch
// (RFC 9420 §8.6) with NumberOfResumptionPSKs; a member that joined later
// does not have it.
func TestGroupResumptionPSK(t *testing.T) {
	suite := gtSuites[0]
	cfg := GroupConfig{UseRatchetTreeExtension: true, NumberOfResumptionPSKs: 3}
	s := newGTSim(t, suite, cfg)
	a := s.members[0]
	s.add(a, 2, false) // epoch 1
	b := s.members[1]
	s.applyCommit(b, gtMust(b.g.SelfUpdate(nil))) // epoch 2
	cs := gtMust(s.p.CipherSuite(suite))
	for _, epoch := range []uint64{1, 2} { // a past and the current epoch
		id := gtMust(NewResumptionPSKID(s.p, cs, codec.ResumptionPSKUsageApplication, a.g.GroupID(), epoch))
		prop, _ := gtMust2(b.g.ProposePSK(id))
		s.broadcast(b, prop)
		s.applyCommit(a, gtMust(a.g.CommitPendingProposals()))
	}
	// A member that joins now has no resumption PSK of epoch 2.
	late := s.add(a, 1, false)[0]
	id := gtMust(NewResumptionPSKID(s.p, cs, codec.ResumptionPSKUsageApplication, a.g.GroupID(), 2))
	res := gtMust(a.g.Commit(CommitOptions{PSKs: []codec.PreSharedKeyID{id}}))
	if _, err := late.g.ProcessMessage(res.Commit); !errors.Is(err, RulePSKAvailable) {
		t.Fatalf("late joiner with a past resumption PSK: %v", err)
	}
	if err := a.g.ClearPendingCommit(); err != nil {
		t.Fatal(err)
	}
	// An epoch no longer kept is unavailable to all.
	id = gtMust(NewResumptionPSKID(s.p, cs, codec.ResumptionPSKUsageApplication, a.g.GroupID(), 0))
	if _, _, err := b.g.ProposePSK(id); !errors.Is(err, RulePSKAvailable) {
		t.Fatalf("resumption PSK of a dropped epoch: %v", err)
	}
}

// TestGroupReInit commits a ReInit proposal (RFC 9420 §11.2): every member
// sees it and the group becomes inactive.
func TestGroupReInit(t *testing.T) {
	suite := gtSuites[0]
	s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: true})
	a := s.members[0]
	s.add(a, 2, false)
	b := s.members[1]
	ri := codec.ReInit{GroupID: []byte("new group"), Version: codec.ProtocolVersionMLS10, CipherSuite: codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519}
	prop, _ := gtMust2(b.g.ProposeReInit(ri))
	s.broadcast(b, prop)
	res := gtMust(a.g.CommitPendingProposals())
	for _, m := range s.members[1:] {
		pm := gtMust(m.g.ProcessMessage(res.Commit))
		if got, ok := pm.Commit.ReInit(); !ok || string(got.GroupID) != "new group" {
			t.Fatalf("%s: staged ReInit %v %v", m.name, got, ok)
		}
		if err := m.g.MergeStagedCommit(pm.Commit); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	for _, m := range s.members {
		if m.g.Active() {
			t.Fatalf("%s still active after ReInit", m.name)
		}
		if got, ok := m.g.ReInit(); !ok || got.CipherSuite != ri.CipherSuite {
			t.Fatalf("%s: ReInit %v", m.name, ok)
		}
		if _, err := m.g.SendApplicationMessage([]byte("x"), nil); !errors.Is(err, ErrInactive) {
			t.Fatalf("%s sends after ReInit: %v", m.name, err)
		}
	}
	if !bytes.Equal(a.g.EpochAuthenticator(), b.g.EpochAuthenticator()) {
		t.Fatal("members disagree after ReInit")
	}
}

// TestGroupConcurrentCommits: two members commit in the same epoch; the
// Delivery Service accepts one. The other processes it (its own pending
// commit is dropped) and can commit again. A member with a pending commit
// still sends application messages in the current epoch (§12.4.1), and
// members with different padding settings interoperate (§6.3.1).
func TestGroupConcurrentCommits(t *testing.T) {
	suite := gtSuites[0]
	s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: true, PaddingSize: 64})
	a := s.members[0]
	s.add(a, 3, true)
	b, c := s.members[1], s.members[2]
	c.g.cfg.PaddingSize = 0 // c pads nothing; others pad to 64 bytes

	resA := gtMust(a.g.SelfUpdate(nil))
	resB := gtMust(b.g.Commit(CommitOptions{Remove: []LeafIndex{3}}))
	// Both still send in the current epoch.
	s.sendApp(a, []byte("a while pending"), nil)
	s.sendApp(b, []byte("b while pending"), []byte("ad"))
	s.sendApp(c, []byte("c unpadded"), nil)

	// The DS accepts a's commit: b processes it and drops its own.
	s.applyCommit(a, resA)
	if b.g.HasPendingCommit() {
		t.Fatal("b's losing commit is still pending")
	}
	// b's commit of the old epoch is refused by the others.
	if _, err := c.g.ProcessMessage(resB.Commit); !errors.Is(err, RuleWrongEpoch) {
		t.Fatalf("losing commit: %v", err)
	}
	s.applyCommit(b, gtMust(b.g.Commit(CommitOptions{Remove: []LeafIndex{3}})))
	s.sendApp(c, []byte("after"), nil)
	if len(s.members) != 3 {
		t.Fatalf("%d members", len(s.members))
	}
}

// TestGroupSignerRotationReload: after a Commit with a new signer
// (a *SignatureKeyPair) the new key pair is stored on merge, so the group
// reloads with a Client that still holds the old signer, and with one that
// holds the new one.
func TestGroupSignerRotationReload(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true})
	a := s.members[0]
	s.add(a, 1, false)
	ns := gtMust(GenerateSignatureKeyPair(s.p, s.suite))
	s.applyCommit(a, gtMust(a.g.SelfUpdate(&LeafNodeOptions{Signer: ns})))
	if _, err := LoadSignatureKeyPair(s.p, a.c.Storage, ns.PublicKey()); err != nil {
		t.Fatalf("new signer not stored on merge: %v", err)
	}
	rotated := *a.c
	rotated.Signer = ns
	g := gtMust(LoadGroup(&rotated, a.g.GroupID()))
	if gtSnapshot(g) != gtSnapshot(a.g) {
		t.Fatal("reloaded group differs")
	}
	a.g = gtMust(LoadGroup(a.c, a.g.GroupID()))
	if gtSnapshot(a.g) != gtSnapshot(g) {
		t.Fatal("reloaded group (old signer in the Client) differs")
	}
	s.sendApp(a, []byte("signed with the new key"), nil)
	s.applyCommit(a, gtMust(a.g.SelfUpdate(nil)))
}

// TestCommitFilter: the application's policy callback chooses which stored
// proposals a Commit covers; the others stay out of the new epoch.
func TestCommitFilter(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true})
	a := s.members[0]
	s.add(a, 3, false)
	b, c := s.members[1], s.members[2]
	// b proposes removing the last member; c proposes a GroupContextExtensions change.
	msgRemove, _ := gtMust2(b.g.ProposeRemove(s.members[3].g.OwnLeafIndex()))
	msgGCE, _ := gtMust2(c.g.ProposeGroupContextExtensions(nil))
	for _, msg := range [][]byte{msgRemove, msgGCE} {
		pm := gtMust(a.g.ProcessMessage(msg))
		if err := a.g.StoreProposal(pm.Proposal); err != nil {
			t.Fatal(err)
		}
	}
	res := gtMust(a.g.Commit(CommitOptions{Filter: func(q *QueuedProposal) bool {
		return q.Type() != codec.ProposalTypeGroupContextExtensions
	}}))
	var covered []codec.ProposalType
	pm := gtMust(b.g.ProcessMessage(res.Commit))
	for _, q := range pm.Commit.Proposals() {
		covered = append(covered, q.Type())
	}
	if len(covered) != 1 || covered[0] != codec.ProposalTypeRemove {
		t.Fatalf("commit covers %v, want only the Remove", covered)
	}
	if err := a.g.ClearPendingCommit(); err != nil {
		t.Fatal(err)
	}
}
