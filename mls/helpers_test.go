package mls

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// The test helpers of package mls: clients and key packages, the group
// simulator gtSim that the end-to-end, property, negative, persistence
// and PublicGroup tests share, and gtMust. Helpers report failures with
// t.Fatal (after t.Helper), never by panicking. Only the property tests'
// recorder (gtRecorder, property_test.go) turns a fatal call into a panic,
// on purpose: gopter must see a failed property, and shrink the sequence,
// instead of the test stopping at the first failure.

// gtMust fails t if err is not nil and returns v otherwise. A multi-valued
// call cannot be passed next to t, so the check is a second call:
//
//	res := gtMust(g.Commit(opts))(t)
func gtMust[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// gtMust2 is gtMust for calls with two results and an error (the Propose
// methods):
//
//	msg, q := gtMust2(g.ProposeRemove(l))(t)
func gtMust2[T, U any](v T, u U, err error) func(testing.TB) (T, U) {
	return func(t testing.TB) (T, U) {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v, u
	}
}

// gtSuites are the cipher suites the end-to-end tests run in.
var gtSuites = []codec.CipherSuite{
	codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519,
	codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256,
	codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519,
	providers.CipherSuiteXWing,
}

// gtMember is one simulated client and its view of the group.
type gtMember struct {
	name  string
	suite codec.CipherSuite
	c     *Client
	g     *Group
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

// gtNewMember makes a client of the suite that is not yet in a group.
func gtNewMember(t testing.TB, p providers.Provider, suite codec.CipherSuite, name string) *gtMember {
	t.Helper()
	return &gtMember{name: name, suite: suite, c: gtNewClient(t, p, suite, name)}
}

// keyPackage builds and stores a key package of m.
func (m *gtMember) keyPackage(t testing.TB) *codec.KeyPackage {
	t.Helper()
	return gtKeyPackage(t, m.c, m.suite)
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
	s.members = []*gtMember{{name: "m0", suite: suite, c: c, g: g}}
	return s
}

// newClient makes a client that is not yet a member.
func (s *gtSim) newClient() *gtMember {
	name := fmt.Sprintf("m%d", s.nextID)
	s.nextID++
	return gtNewMember(s.t, s.p, s.suite, name)
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

func gtForSuites(t *testing.T, f func(t *testing.T, suite codec.CipherSuite)) {
	for _, suite := range gtSuites {
		t.Run(fmt.Sprintf("suite%#04x", uint16(suite)), func(t *testing.T) { f(t, suite) })
	}
}

// gtExternalJoin has a new client join s by external Commit from a
// GroupInfo of member from, and every member process it.
func (s *gtSim) externalJoin(from *gtMember, withTree bool, opts *ExternalCommitOptions) *gtMember {
	s.t.Helper()
	gi, err := from.g.GroupInfo(withTree)
	if err != nil {
		s.t.Fatal(err)
	}
	var tree codec.RatchetTree
	if !withTree {
		tree = from.g.RatchetTree()
	}
	j := s.newClient()
	g, commit, err := JoinByExternalCommit(j.c, gi, tree, s.cfg, opts)
	if err != nil {
		s.t.Fatalf("%s joining by external commit: %v", j.name, err)
	}
	j.g = g
	// The joiner's group is stored and loads back.
	if lg, err := LoadGroup(j.c, g.GroupID()); err != nil || gtSnapshot(lg) != gtSnapshot(g) {
		s.t.Fatalf("LoadGroup of the external joiner: %v", err)
	}
	s.deliverExternal(commit)
	s.members = append(s.members, j)
	s.check()
	return j
}

// deliverExternal has every member process and merge an external commit.
func (s *gtSim) deliverExternal(commit []byte) {
	s.t.Helper()
	if s.ds != nil {
		s.ds.commit(nil, commit)
	}
	var stay []*gtMember
	for _, m := range s.members {
		pm, err := m.g.ProcessMessage(commit)
		if err != nil {
			s.t.Fatalf("%s processing the external commit: %v", m.name, err)
		}
		if pm.Kind != KindCommit || pm.Sender.SenderType != codec.SenderTypeNewMemberCommit {
			s.t.Fatalf("%s: kind %d sender %v", m.name, pm.Kind, pm.Sender.SenderType)
		}
		if err := m.g.MergeStagedCommit(pm.Commit); err != nil {
			s.t.Fatal(err)
		}
		if pm.Commit.SelfRemoved() {
			continue
		}
		stay = append(stay, m)
	}
	s.members = stay
}

// reload checks that the store holds exactly the in-memory state, loads the
// group from storage, checks that the loaded group holds the same state,
// and continues with the loaded group.
func (m *gtMember) reload(t testing.TB, step string) {
	t.Helper()
	mem := snapshotOf(t, m.g)
	if st := storedSnapshot(t, m.c.Storage, m.g.GroupID()); !st.equal(mem) {
		t.Fatalf("%s: %s's stored state differs from its in-memory state", step, m.name)
	}
	g2, err := LoadGroup(m.c, m.g.GroupID())
	if err != nil {
		t.Fatalf("%s: LoadGroup(%s): %v", step, m.name, err)
	}
	if !snapshotOf(t, g2).equal(mem) {
		t.Fatalf("%s: %s's loaded group differs from the in-memory one", step, m.name)
	}
	if g2.HasPendingCommit() != m.g.HasPendingCommit() || g2.Active() != m.g.Active() || len(g2.PendingProposals()) != len(m.g.PendingProposals()) {
		t.Fatalf("%s: %s's loaded group: pending %v/%v, active %v/%v", step, m.name, g2.HasPendingCommit(), m.g.HasPendingCommit(), g2.Active(), m.g.Active())
	}
	m.g = g2
}

func (s *gtSim) reloadAll(step string) {
	s.t.Helper()
	for _, m := range s.members {
		if m.g != nil {
			m.reload(s.t, step)
		}
	}
}

// deliver has every other member with a group process msg; commits are
// merged, proposals stored. With shadow, each receiver also processes the
// message with a freshly loaded copy of its group and must get the same
// result.
func (s *gtSim) deliver(from *gtMember, msg []byte, shadow bool) {
	s.t.Helper()
	for _, m := range s.members {
		if m == from || m.g == nil || !m.g.Active() {
			continue
		}
		var twin *Group
		if shadow {
			var err error
			if twin, err = LoadGroup(m.c, m.g.GroupID()); err != nil {
				s.t.Fatal(err)
			}
		}
		pm, err := m.g.ProcessMessage(msg)
		if err != nil {
			s.t.Fatalf("%s processing %s's message: %v", m.name, from.name, err)
		}
		if twin != nil {
			pm2, err := twin.ProcessMessage(msg)
			if err != nil {
				s.t.Fatalf("%s's loaded twin processing %s's message: %v", m.name, from.name, err)
			}
			if pm2.Kind != pm.Kind || !bytes.Equal(pm2.ApplicationData, pm.ApplicationData) {
				s.t.Fatalf("%s's loaded twin: %v %q, in-memory %v %q", m.name, pm2.Kind, pm2.ApplicationData, pm.Kind, pm.ApplicationData)
			}
			if pm.Kind == KindCommit && !bytes.Equal(pm.Commit.EpochAuthenticator(), pm2.Commit.EpochAuthenticator()) {
				s.t.Fatalf("%s's loaded twin stages another epoch", m.name)
			}
			if !snapshotOf(s.t, twin).equal(snapshotOf(s.t, m.g)) {
				s.t.Fatalf("%s's loaded twin differs after processing", m.name)
			}
		}
		switch pm.Kind {
		case KindCommit:
			if err := m.g.MergeStagedCommit(pm.Commit); err != nil {
				s.t.Fatal(err)
			}
		case KindProposal:
			if err := m.g.StoreProposal(pm.Proposal); err != nil {
				s.t.Fatal(err)
			}
		}
	}
}

// agree checks that the active members share the epoch authenticator.
func (s *gtSim) agree(step string) {
	s.t.Helper()
	var ref *gtMember
	for _, m := range s.members {
		if m.g == nil || !m.g.Active() {
			continue
		}
		if ref == nil {
			ref = m
			continue
		}
		if m.g.Epoch() != ref.g.Epoch() || !bytes.Equal(m.g.EpochAuthenticator(), ref.g.EpochAuthenticator()) {
			s.t.Fatalf("%s: %s (epoch %d) and %s (epoch %d) disagree", step, m.name, m.g.Epoch(), ref.name, ref.g.Epoch())
		}
	}
}

func (s *gtSim) sendText(from *gtMember, text string, shadow bool) {
	s.t.Helper()
	msg, err := from.g.SendApplicationMessage([]byte(text), nil)
	if err != nil {
		s.t.Fatal(err)
	}
	s.deliver(from, msg, shadow)
}
