package mls

import (
	"errors"
	"testing"

	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// TestWelcomeGroupIDCollision (finding 7 of issue 10): a Welcome whose
// group_id is that of a group in the client's storage is refused, through
// every way of joining, and the stored group stays as it was (regression:
// it was overwritten).
func TestWelcomeGroupIDCollision(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true})
	s.add(s.members[0], 1, false)
	victim := s.members[1]
	id := victim.g.GroupID()
	before := gtSnapshot(gtMust(LoadGroup(victim.c, id))(t))

	// The attacker makes its own group with the same id and adds the
	// victim's (public) KeyPackage.
	evil := func() []byte {
		m := gtNewClient(t, s.p, s.suite, "mallory")
		g := gtMust(NewGroup(m, s.suite, GroupConfig{UseRatchetTreeExtension: true}, &CreateOptions{GroupID: id}))(t)
		res := gtMust(g.AddMembers(gtKeyPackage(t, victim.c, s.suite)))(t)
		return res.Welcome
	}
	if _, err := JoinFromWelcome(victim.c, evil(), nil, GroupConfig{}); !errors.Is(err, ErrGroupExists) {
		t.Fatalf("JoinFromWelcome: %v", err)
	}
	pw := gtMust(ProcessWelcome(victim.c, evil(), GroupConfig{}))(t)
	if _, err := pw.Stage(nil); !errors.Is(err, ErrGroupExists) {
		t.Fatalf("Stage: %v", err)
	}
	if after := gtSnapshot(gtMust(LoadGroup(victim.c, id))(t)); after != before {
		t.Fatal("the stored group changed")
	}

	// Two Welcomes for one new id staged together: only the first joins.
	fresh := gtNewClient(t, s.p, s.suite, "fresh")
	newID := []byte("a new group")
	var staged []*StagedWelcome
	for range 2 {
		m := gtNewClient(t, s.p, s.suite, "creator")
		g := gtMust(NewGroup(m, s.suite, GroupConfig{UseRatchetTreeExtension: true}, &CreateOptions{GroupID: newID}))(t)
		res := gtMust(g.AddMembers(gtKeyPackage(t, fresh, s.suite)))(t)
		staged = append(staged, gtMust(gtMust(ProcessWelcome(fresh, res.Welcome, GroupConfig{}))(t).Stage(nil))(t))
	}
	joined := gtMust(staged[0].Join())(t)
	if _, err := staged[1].Join(); !errors.Is(err, ErrGroupExists) {
		t.Fatalf("second Join: %v", err)
	}
	if gtSnapshot(gtMust(LoadGroup(fresh, newID))(t)) != gtSnapshot(joined) {
		t.Fatal("the first joined group was overwritten")
	}

	// After DeleteGroup the id is free again.
	if err := DeleteGroup(fresh.Storage, newID); err != nil {
		t.Fatal(err)
	}
	m := gtNewClient(t, s.p, s.suite, "creator")
	g := gtMust(NewGroup(m, s.suite, GroupConfig{UseRatchetTreeExtension: true}, &CreateOptions{GroupID: newID}))(t)
	res := gtMust(g.AddMembers(gtKeyPackage(t, fresh, s.suite)))(t)
	if _, err := JoinFromWelcome(fresh, res.Welcome, nil, GroupConfig{}); err != nil {
		t.Fatalf("join after DeleteGroup: %v", err)
	}
}

// TestNewGroupIDCollision: NewGroup refuses a GroupID already stored.
func TestNewGroupIDCollision(t *testing.T) {
	c := gtNewClient(t, defaultcrypto.New(), gtSuites[0], "alice")
	g := gtMust(NewGroup(c, gtSuites[0], GroupConfig{}, &CreateOptions{GroupID: []byte("g")}))(t)
	before := gtSnapshot(g)
	if _, err := NewGroup(c, gtSuites[0], GroupConfig{}, &CreateOptions{GroupID: []byte("g")}); !errors.Is(err, ErrGroupExists) {
		t.Fatalf("NewGroup with a stored id: %v", err)
	}
	if gtSnapshot(gtMust(LoadGroup(c, []byte("g")))(t)) != before {
		t.Fatal("the stored group changed")
	}
}

// TestStoreProposalEpoch (finding 8 of issue 10): a proposal processed in
// one epoch cannot be stored in the next (regression: it was stored, and
// the member's next Commit referenced a proposal nobody else had).
func TestStoreProposalEpoch(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true})
	s.add(s.members[0], 2, false)
	a, b, c := s.members[0], s.members[1], s.members[2]
	msg, _ := gtMust2(a.g.ProposeRemove(c.g.OwnLeafIndex()))(t)
	pm := gtMust(b.g.ProcessMessage(msg))(t)
	if pm.Proposal.Epoch != b.g.Epoch() {
		t.Fatalf("proposal of epoch %d, processed in %d", pm.Proposal.Epoch, b.g.Epoch())
	}
	s.applyCommit(c, gtMust(c.g.SelfUpdate(nil))(t))
	if err := b.g.StoreProposal(pm.Proposal); !errors.Is(err, ErrStaleProposal) {
		t.Fatalf("StoreProposal of the previous epoch's proposal: %v", err)
	}
	if n := len(b.g.PendingProposals()); n != 0 {
		t.Fatalf("%d proposals stored", n)
	}
	// b's next Commit is accepted by everyone.
	s.applyCommit(b, gtMust(b.g.Commit(CommitOptions{ForcePath: true}))(t))

	// A proposal of the current epoch is stored, also after a reload.
	msg, _ = gtMust2(a.g.ProposeRemove(c.g.OwnLeafIndex()))(t)
	pm = gtMust(b.g.ProcessMessage(msg))(t)
	if err := b.g.StoreProposal(pm.Proposal); err != nil {
		t.Fatal(err)
	}
	lg := gtMust(LoadGroup(b.c, b.g.GroupID()))(t)
	if q := lg.PendingProposals(); len(q) != 1 || q[0].Epoch != lg.Epoch() {
		t.Fatalf("reloaded proposals %v", q)
	}
}
