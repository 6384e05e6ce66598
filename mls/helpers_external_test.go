package mls_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// The test helpers of package mls_test, the tests that use only the public
// API (package mls's own are in helpers_test.go; the examples' in
// example_test.go): one kind of member (apiMember) and one way to build a
// group of them (apiGroup), shared by the fault, resumption, external
// commit, interop and out-of-band tree tests. Helpers fail t (after
// t.Helper), never panic.

// apiMember is a client of a public-API test and its group.
type apiMember struct {
	name string
	c    *mls.Client
	// f is c's storage, a memstore that can be made to fail.
	f *storagetest.Faulty
	// kp is a key package of c, in its storage.
	kp *codec.KeyPackage
	g  *mls.Group
}

// apiClient makes a client of suite with its own storage (a memstore behind
// a storagetest.Faulty), a fresh signature key pair (stored, so that
// LoadGroup finds it) and a basic credential.
func apiClient(t testing.TB, suite codec.CipherSuite, name string) *mls.Client {
	t.Helper()
	p := defaultcrypto.New()
	sk, err := mls.GenerateSignatureKeyPair(p, suite)
	if err != nil {
		t.Fatal(err)
	}
	store := storagetest.NewFaulty(memstore.New())
	if err := sk.Store(store); err != nil {
		t.Fatal(err)
	}
	return &mls.Client{Provider: p, Storage: store, Signer: sk, Credential: mls.NewBasicCredential([]byte(name))}
}

// apiKeyPackage builds a key package of c for suite, stored in c's storage.
func apiKeyPackage(t testing.TB, c *mls.Client, suite codec.CipherSuite) *codec.KeyPackage {
	t.Helper()
	b := &mls.KeyPackageBuilder{Provider: c.Provider, CipherSuite: suite, Credential: c.Credential, Signer: c.Signer}
	kp, err := b.BuildAndStore(c.Storage)
	if err != nil {
		t.Fatal(err)
	}
	return &kp.KeyPackage
}

// apiNewMember makes a client of suite with a key package, not yet in a
// group.
func apiNewMember(t testing.TB, suite codec.CipherSuite, name string) *apiMember {
	t.Helper()
	c := apiClient(t, suite, name)
	return &apiMember{name: name, c: c, f: c.Storage.(*storagetest.Faulty), kp: apiKeyPackage(t, c, suite)}
}

// apiNames returns the names m0 ... m(n-1).
func apiNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("m%d", i)
	}
	return names
}

// apiGroup makes a group of the named members in suite, all with cfg: the
// first creates it and adds the others in one Commit, they join from its
// Welcome (with the tree from the Welcome if cfg puts it there, out of
// band otherwise).
func apiGroup(t testing.TB, suite codec.CipherSuite, cfg mls.GroupConfig, names ...string) []*apiMember {
	t.Helper()
	ms := make([]*apiMember, len(names))
	kps := make([]*codec.KeyPackage, 0, len(names)-1)
	for i, n := range names {
		ms[i] = apiNewMember(t, suite, n)
		if i > 0 {
			kps = append(kps, ms[i].kp)
		}
	}
	g, err := mls.NewGroup(ms[0].c, suite, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ms[0].g = g
	if len(ms) == 1 {
		return ms
	}
	res, err := g.AddMembers(kps...)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	var tree codec.RatchetTree
	if !cfg.UseRatchetTreeExtension {
		tree = g.RatchetTree()
	}
	for _, m := range ms[1:] {
		if m.g, err = mls.JoinFromWelcome(m.c, res.Welcome, tree, cfg); err != nil {
			t.Fatalf("%s joins: %v", m.name, err)
		}
	}
	return ms
}

// apiDeliver has each member process msg; proposals are stored, Commits
// merged. It returns the members still in the group.
func apiDeliver(t testing.TB, msg []byte, ms ...*apiMember) []*apiMember {
	t.Helper()
	var stay []*apiMember
	for _, m := range ms {
		pm, err := m.g.ProcessMessage(msg)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		switch pm.Kind {
		case mls.KindProposal:
			if err := m.g.StoreProposal(pm.Proposal); err != nil {
				t.Fatal(err)
			}
		case mls.KindCommit:
			if err := m.g.MergeStagedCommit(pm.Commit); err != nil {
				t.Fatal(err)
			}
			if pm.Commit.SelfRemoved() {
				continue
			}
		}
		stay = append(stay, m)
	}
	return stay
}

// apiView is what a group shows of its epoch.
type apiView struct {
	epoch  uint64
	auth   []byte
	export []byte
}

func apiViewOf(t testing.TB, g *mls.Group) apiView {
	t.Helper()
	exp, err := g.Export("api", nil, 32)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return apiView{epoch: g.Epoch(), auth: g.EpochAuthenticator(), export: exp}
}

func (v apiView) equal(o apiView) bool {
	return v.epoch == o.epoch && bytes.Equal(v.auth, o.auth) && bytes.Equal(v.export, o.export)
}

// apiAgree checks that the members are in the same epoch (epoch
// authenticator, exporter), whose epoch authenticator is not all zeros.
func apiAgree(t testing.TB, step string, ms ...*apiMember) {
	t.Helper()
	ref := apiViewOf(t, ms[0].g)
	if bytes.Equal(ref.auth, make([]byte, len(ref.auth))) {
		t.Fatalf("%s: %s's epoch authenticator is all zeros", step, ms[0].name)
	}
	for _, m := range ms[1:] {
		if v := apiViewOf(t, m.g); !v.equal(ref) {
			t.Fatalf("%s: %s (epoch %d) and %s (epoch %d) disagree", step, m.name, v.epoch, ms[0].name, ref.epoch)
		}
	}
}

// apiAgreeAll is apiAgree for all the members of the group: their number
// is the group's.
func apiAgreeAll(t testing.TB, step string, ms ...*apiMember) {
	t.Helper()
	apiAgree(t, step, ms...)
	for _, m := range ms {
		if m.g.MemberCount() != len(ms) {
			t.Fatalf("%s: %s sees %d members, want %d", step, m.name, m.g.MemberCount(), len(ms))
		}
	}
}

// apiSend sends an application message from a to every other member, who
// must decrypt it.
func apiSend(t testing.TB, from *apiMember, to ...*apiMember) {
	t.Helper()
	msg, err := from.g.SendApplicationMessage([]byte("hello from "+from.name), nil)
	if err != nil {
		t.Fatalf("%s sending: %v", from.name, err)
	}
	for _, m := range to {
		pm, err := m.g.ProcessMessage(msg)
		if err != nil {
			t.Fatalf("%s receiving from %s: %v", m.name, from.name, err)
		}
		if pm.Kind != mls.KindApplication || string(pm.ApplicationData) != "hello from "+from.name {
			t.Fatalf("%s received %v %q", m.name, pm.Kind, pm.ApplicationData)
		}
	}
}

// apiProcessCommit has m process a Commit, which it must accept.
func apiProcessCommit(t testing.TB, m *apiMember, msg []byte) *mls.StagedCommit {
	t.Helper()
	pm, err := m.g.ProcessMessage(msg)
	if err != nil {
		t.Fatalf("%s processing a commit: %v", m.name, err)
	}
	if pm.Kind != mls.KindCommit {
		t.Fatalf("%s: %v, want a commit", m.name, pm.Kind)
	}
	return pm.Commit
}

// apiMergeCommit has m process and merge a Commit.
func apiMergeCommit(t testing.TB, m *apiMember, msg []byte) {
	t.Helper()
	if err := m.g.MergeStagedCommit(apiProcessCommit(t, m, msg)); err != nil {
		t.Fatalf("%s merging a commit: %v", m.name, err)
	}
}

// apiSelfUpdate has m commit a self-update, and merge it if merge is set;
// it returns the Commit.
func apiSelfUpdate(t testing.TB, m *apiMember, merge bool) []byte {
	t.Helper()
	res, err := m.g.SelfUpdate(nil)
	if err != nil {
		t.Fatalf("%s: SelfUpdate: %v", m.name, err)
	}
	if merge {
		if err := m.g.MergePendingCommit(); err != nil {
			t.Fatalf("%s: MergePendingCommit: %v", m.name, err)
		}
	}
	return res.Commit
}

// apiReload replaces m's group by the one LoadGroup reads from its
// storage.
func apiReload(t testing.TB, m *apiMember) {
	t.Helper()
	g, err := mls.LoadGroup(m.c, m.g.GroupID())
	if err != nil {
		t.Fatalf("%s: LoadGroup: %v", m.name, err)
	}
	m.g = g
}

// apiFailing runs op with m's k-th storage operation failing, and returns
// the operations that failed (none if op has fewer than k) and op's error.
func apiFailing(m *apiMember, k int, op func() error) ([]storagetest.Op, error) {
	m.f.FailAt(k)
	err := op()
	failed := m.f.Failed()
	m.f.Reset()
	return failed, err
}

// apiAgreeGroups checks that the groups agree on the epoch authenticator and that
// an application message of each reaches the others.
func apiAgreeGroups(t testing.TB, gs ...*mls.Group) {
	t.Helper()
	for _, g := range gs[1:] {
		if !bytes.Equal(g.EpochAuthenticator(), gs[0].EpochAuthenticator()) {
			t.Fatal("members disagree on the epoch authenticator")
		}
	}
	for i, s := range gs {
		msg, err := s.SendApplicationMessage([]byte("hello"), nil)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range gs {
			if i == j {
				continue
			}
			pm, err := r.ProcessMessage(msg)
			if err != nil || string(pm.ApplicationData) != "hello" {
				t.Fatalf("member %d reading member %d: %v", j, i, err)
			}
		}
	}
}
