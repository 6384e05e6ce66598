package mls

import (
	"sort"
	"strings"
	"testing"

	"github.com/mlskit/mlskit/codec"
)

// rmView is one member's interpretation of a Commit's removals, as
// "Kind:removed-name:remover-name" strings in order.
type rmView map[string][]string

// rmDescribe renders removal operations with the members' names (taken
// from the credentials, which are the tree's before the Commit).
func rmDescribe(ops []RemoveOperation) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		remover := string(op.RemoverCredential.Identity())
		if op.RemoverCredential.IsZero() {
			remover = "?"
		}
		out[i] = op.Kind().String() + ":" + string(op.RemovedCredential.Identity()) + ":" + remover
	}
	return out
}

// rmCommit delivers the committer's Commit res like gtSim.applyCommit,
// and returns each member's view of its removals: the committer's from
// PendingCommit before merging, the others' from their StagedCommit (read
// after merging, to check the values survive it).
func rmCommit(t *testing.T, s *gtSim, committer *gtMember, res *CommitResult) rmView {
	t.Helper()
	v := rmView{}
	info, ok := committer.g.PendingCommit()
	if !ok || info.Restored {
		t.Fatalf("%s: no pending commit info", committer.name)
	}
	v[committer.name] = rmDescribe(info.RemoveOperations)
	var stay []*gtMember
	for _, m := range s.members {
		if m == committer {
			stay = append(stay, m)
			continue
		}
		pm, err := m.g.ProcessMessage(res.Commit)
		if err != nil || pm.Kind != KindCommit {
			t.Fatalf("%s processing the commit: %v", m.name, err)
		}
		if err := m.g.MergeStagedCommit(pm.Commit); err != nil {
			t.Fatal(err)
		}
		ops := pm.Commit.RemoveOperations()
		v[m.name] = rmDescribe(ops)
		self := false
		for i := range ops {
			self = self || ops[i].RemovedSelf()
		}
		if self != pm.Commit.SelfRemoved() {
			t.Fatalf("%s: RemovedSelf %v, SelfRemoved %v", m.name, self, pm.Commit.SelfRemoved())
		}
		if !self {
			stay = append(stay, m)
		}
	}
	if err := committer.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	if _, ok := committer.g.PendingCommit(); ok {
		t.Fatal("pending commit info after merging")
	}
	s.members = stay
	s.check()
	return v
}

func rmExpect(t *testing.T, got rmView, want rmView) {
	t.Helper()
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.Join(got[n], ",") != strings.Join(want[n], ",") {
			t.Errorf("%s sees %v, want %v", n, got[n], want[n])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d views, want %d: %v", len(got), len(want), got)
	}
}

// rmGroup makes a group of n members m0..m(n-1) at leaves 0..n-1.
func rmGroup(t *testing.T, n int, opts *CreateOptions) *gtSim {
	t.Helper()
	s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true}, opts)
	s.add(s.members[0], n-1, false)
	return s
}

// TestRemoveOperationsByCommitter: an inline Remove of the committer's
// Commit is WeRemovedThem for it, WeWereRemovedBy for the removed member,
// TheyWereRemovedBy for the others.
func TestRemoveOperationsByCommitter(t *testing.T) {
	s := rmGroup(t, 4, nil)
	m0, m2 := s.members[0], s.members[2]
	res := gtMust(m0.g.RemoveMembers(m2.g.OwnLeafIndex()))(t)
	info, _ := m0.g.PendingCommit()
	if len(info.Proposals) != 1 || !info.Proposals[0].Own || info.Proposals[0].Ref != nil || len(info.RemoveOperations) != 1 {
		t.Fatalf("pending commit info %+v", info)
	}
	if op := info.RemoveOperations[0]; op.Removed != 2 || op.Remover.LeafIndex != 0 || op.ProposalType != codec.ProposalTypeRemove || op.ProposalRef != nil {
		t.Fatalf("operation %v", op)
	}
	got := rmCommit(t, s, m0, res)
	rmExpect(t, got, rmView{
		"m0": {"WeRemovedThem:m2:m0"},
		"m1": {"TheyWereRemovedBy:m2:m0"},
		"m2": {"WeWereRemovedBy:m2:m0"},
		"m3": {"TheyWereRemovedBy:m2:m0"},
	})
}

// TestRemoveOperationsByProposal: a Remove proposal of m1, committed by
// m0: the proposer removed them (WeRemovedThem), the committer sees a
// third party's removal (TheyWereRemovedBy m1), the removed member
// WeWereRemovedBy m1.
func TestRemoveOperationsByProposal(t *testing.T) {
	s := rmGroup(t, 4, nil)
	m0, m1 := s.members[0], s.members[1]
	prop, _ := gtMust2(m1.g.ProposeRemove(3))(t)
	s.broadcast(m1, prop)
	res := gtMust(m0.g.CommitPendingProposals())(t)
	info, _ := m0.g.PendingCommit()
	if len(info.Proposals) != 1 || info.Proposals[0].Own || info.Proposals[0].Ref == nil {
		t.Fatalf("pending commit proposals %+v", info.Proposals)
	}
	if op := info.RemoveOperations[0]; op.ProposalRef == nil || op.Remover != (codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: 1}) {
		t.Fatalf("operation %v", op)
	}
	rmExpect(t, rmCommit(t, s, m0, res), rmView{
		"m0": {"TheyWereRemovedBy:m3:m1"},
		"m1": {"WeRemovedThem:m3:m1"},
		"m2": {"TheyWereRemovedBy:m3:m1"},
		"m3": {"WeWereRemovedBy:m3:m1"},
	})
}

// TestRemoveOperationsLeave: a member that leaves, by SelfRemove or by a
// Remove proposal of its own leaf, sees WeLeft; everyone else, including
// the committer, TheyLeft. Two leaves in one Commit are both reported, in
// proposal order.
func TestRemoveOperationsLeave(t *testing.T) {
	s := rmGroup(t, 5, nil)
	m0, m2, m4 := s.members[0], s.members[2], s.members[4]
	self, _ := gtMust2(m2.g.ProposeSelfRemove())(t)
	s.broadcast(m2, self)
	own, _ := gtMust2(m4.g.ProposeRemove(m4.g.OwnLeafIndex()))(t)
	s.broadcast(m4, own)
	res := gtMust(m0.g.CommitPendingProposals())(t)
	info, _ := m0.g.PendingCommit()
	if len(info.RemoveOperations) != 2 || info.RemoveOperations[0].ProposalType != codec.ProposalTypeSelfRemove || info.RemoveOperations[1].ProposalType != codec.ProposalTypeRemove {
		t.Fatalf("operations %v", info.RemoveOperations)
	}
	rmExpect(t, rmCommit(t, s, m0, res), rmView{
		"m0": {"TheyLeft:m2:m2", "TheyLeft:m4:m4"},
		"m1": {"TheyLeft:m2:m2", "TheyLeft:m4:m4"},
		"m2": {"WeLeft:m2:m2", "TheyLeft:m4:m4"},
		"m3": {"TheyLeft:m2:m2", "TheyLeft:m4:m4"},
		"m4": {"TheyLeft:m2:m2", "WeLeft:m4:m4"},
	})
	// LeaveGroup (SelfRemove here, since all members support it).
	m1 := s.members[1]
	s.broadcast(m1, gtMust(m1.g.LeaveGroup())(t))
	res = gtMust(s.members[2].g.CommitPendingProposals())(t)
	rmExpect(t, rmCommit(t, s, s.members[2], res), rmView{
		"m0": {"TheyLeft:m1:m1"},
		"m1": {"WeLeft:m1:m1"},
		"m3": {"TheyLeft:m1:m1"},
	})
}

// TestRemoveOperationsExternal: removals asked by non-members: an external
// sender's Remove (its credential from external_senders), and the inline
// Remove of an external Commit that resyncs a member (new_member_commit,
// with the joiner's new credential).
func TestRemoveOperationsExternal(t *testing.T) {
	s := rmGroup(t, 3, gtExternalSenderOptions(t))
	m0, m1 := s.members[0], s.members[1]
	ds := &ExternalProposer{Provider: s.p, Signer: gtExternalSigner(t)}
	ctx := m0.g.GroupContext()
	msg := gtMust(ds.ProposeRemove(&ctx, 2, nil))(t)
	epProcessAll(t, s, msg, codec.SenderTypeExternal)
	res := gtMust(m1.g.CommitPendingProposals())(t)
	info, _ := m1.g.PendingCommit()
	if op := info.RemoveOperations[0]; op.Remover != (codec.Sender{SenderType: codec.SenderTypeExternal}) {
		t.Fatalf("operation %v", op)
	}
	rmExpect(t, rmCommit(t, s, m1, res), rmView{
		"m1": {"TheyWereRemovedBy:m2:ds"},
		"m0": {"TheyWereRemovedBy:m2:ds"},
		"m2": {"WeWereRemovedBy:m2:ds"},
	})

	// m1 lost its state and rejoins by external Commit, removing its old
	// leaf.
	s.add(m0, 1, false) // m3
	old := m1.g.OwnLeafIndex()
	g, commit, err := JoinByExternalCommit(m1.c, gtMust(m0.g.GroupInfo(true))(t), nil, s.cfg, &ExternalCommitOptions{RemoveLeaf: &old})
	if err != nil {
		t.Fatal(err)
	}
	got := rmView{}
	var stay []*gtMember
	for _, m := range s.members {
		pm, err := m.g.ProcessMessage(commit)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		ops := pm.Commit.RemoveOperations()
		got[m.name] = rmDescribe(ops)
		if ops[0].Remover.SenderType != codec.SenderTypeNewMemberCommit {
			t.Fatalf("%s: remover %v", m.name, ops[0].Remover)
		}
		if err := m.g.MergeStagedCommit(pm.Commit); err != nil {
			t.Fatal(err)
		}
		if !pm.Commit.SelfRemoved() {
			stay = append(stay, m)
		}
	}
	rmExpect(t, got, rmView{
		"m0": {"TheyWereRemovedBy:m1:m1"},
		"m1": {"WeWereRemovedBy:m1:m1"},
		"m3": {"TheyWereRemovedBy:m1:m1"},
	})
	m1.g = g
	s.members = append(stay, m1)
	s.check()
}

// TestRemoveOperationsNone: a Commit without removals has none; a pending
// Commit restored by LoadGroup says its details are unknown.
func TestRemoveOperationsNone(t *testing.T) {
	s := rmGroup(t, 2, nil)
	m0 := s.members[0]
	if _, ok := m0.g.PendingCommit(); ok {
		t.Fatal("pending commit info without a pending commit")
	}
	j := s.newClient()
	res := gtMust(m0.g.Commit(CommitOptions{Add: []*codec.KeyPackage{gtKeyPackage(t, j.c, s.suite)}}))(t)
	info, ok := m0.g.PendingCommit()
	if !ok || len(info.RemoveOperations) != 0 || len(info.AddedLeaves) != 1 || info.AddedLeaves[0] != 2 {
		t.Fatalf("pending commit info %+v", info)
	}
	lg, err := LoadGroup(m0.c, m0.g.GroupID())
	if err != nil {
		t.Fatal(err)
	}
	// LoadGroup restores the description (state format version 4).
	if info, ok := lg.PendingCommit(); !ok || info.Restored || len(info.Proposals) != 1 || len(info.RemoveOperations) != 0 || len(info.AddedLeaves) != 1 || info.AddedLeaves[0] != 2 {
		t.Fatalf("restored pending commit info %+v", info)
	}
	pm := gtMust(s.members[1].g.ProcessMessage(res.Commit))(t)
	if ops := pm.Commit.RemoveOperations(); len(ops) != 0 {
		t.Fatalf("operations %v", ops)
	}
	if err := m0.g.ClearPendingCommit(); err != nil {
		t.Fatal(err)
	}
	if _, ok := m0.g.PendingCommit(); ok {
		t.Fatal("pending commit info after clearing")
	}
	if RemoveKind(0).String() != "RemoveKind(0)" || WeLeft.String() != "WeLeft" {
		t.Fatal("RemoveKind.String")
	}
}
