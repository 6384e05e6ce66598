package mls_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers/memstore"
)

// rtReInit ends the group with a ReInit proposed by ms[1] and committed by
// ms[0].
func rtReInit(t *testing.T, ms []*apiMember, ri codec.ReInit) {
	t.Helper()
	prop, _, err := ms[1].g.ProposeReInit(ri)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if i == 1 {
			continue
		}
		pm, err := m.g.ProcessMessage(prop)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.g.StoreProposal(pm.Proposal); err != nil {
			t.Fatal(err)
		}
	}
	res, err := ms[0].g.CommitPendingProposals()
	if err != nil {
		t.Fatal(err)
	}
	if err := ms[0].g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[1:] {
		pm, err := m.g.ProcessMessage(res.Commit)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.g.MergeStagedCommit(pm.Commit); err != nil {
			t.Fatal(err)
		}
	}
}

// ReInit completed (RFC 9420 §11.2): the successor group, created with the
// ReInit's parameters by one member, is joined by the others with the
// reinit PSK of the old group's last epoch; every member agrees.
func TestReInitSuccessor(t *testing.T) {
	const oldSuite = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519
	const newSuite = codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true}
	ms := apiGroup(t, oldSuite, cfg, "alice", "bob", "carol")
	rc, err := mls.Extensions(nil).WithRequiredCapabilities(&codec.RequiredCapabilities{})
	if err != nil {
		t.Fatal(err)
	}
	ri := codec.ReInit{GroupID: []byte("successor"), Version: codec.ProtocolVersionMLS10, CipherSuite: newSuite, Extensions: rc}
	rtReInit(t, ms, ri)

	// Each member's client for the new suite: a new signer, the same
	// identity; Alice and Carol keep their storage (the old group stays
	// loadable beside the new one), Bob starts a new one.
	next := make([]*mls.Client, len(ms))
	var kps []*codec.KeyPackage
	for i, m := range ms {
		sk, err := mls.GenerateSignatureKeyPair(m.c.Provider, newSuite)
		if err != nil {
			t.Fatal(err)
		}
		c := *m.c
		if i == 1 {
			c.Storage = memstore.New()
		}
		if err := sk.Store(c.Storage); err != nil {
			t.Fatal(err)
		}
		c.Signer = sk
		next[i] = &c
		if i != 2 {
			kps = append(kps, apiKeyPackage(t, next[i], newSuite))
		}
	}

	// A group that was not reinitialized has no successor.
	other := apiGroup(t, oldSuite, cfg, "dave", "erin")
	if _, _, err := other[0].g.ReInitSuccessor(next[2], cfg, kps, nil); !errors.Is(err, mls.ErrNoReInit) {
		t.Fatalf("ReInitSuccessor of an active group: %v", err)
	}

	// Carol creates the successor.
	ng, res, err := ms[2].g.ReInitSuccessor(next[2], cfg, kps, &mls.ResumeOptions{ForcePath: true})
	if err != nil {
		t.Fatal(err)
	}
	if ng.Epoch() != 1 || ng.CipherSuite() != newSuite || string(ng.GroupID()) != "successor" || ng.MemberCount() != 3 {
		t.Fatalf("successor: epoch %d suite %v id %q members %d", ng.Epoch(), ng.CipherSuite(), ng.GroupID(), ng.MemberCount())
	}

	// Without the old group (not in Bob's new storage), the reinit PSK is
	// missing: a typed error.
	_, err = mls.JoinFromWelcome(next[1], res.Welcome, nil, cfg)
	var missing *mls.MissingPSKError
	if !errors.As(err, &missing) || !errors.Is(err, mls.ErrMissingPSK) || missing.ID.Usage != codec.ResumptionPSKUsageReInit || missing.ID.PSKEpoch != ms[0].g.Epoch() {
		t.Fatalf("join without the reinit PSK: %v", err)
	}
	// Nor does a join with another group's PSKs work.
	if _, err := mls.JoinReInit(next[1], other[0].g, res.Welcome, nil, cfg); !errors.Is(err, mls.ErrNoReInit) {
		t.Fatalf("JoinReInit with an unrelated group: %v", err)
	}
	withOther := cfg
	withOther.ResumptionPSKs = mls.ResumptionPSKsOf(other[0].g)
	if _, err := mls.JoinFromWelcome(next[1], res.Welcome, nil, withOther); !errors.Is(err, mls.ErrMissingPSK) {
		t.Fatalf("join with an unrelated group's PSKs: %v", err)
	}

	// Alice's plain join resolves the PSK from the old group in her
	// storage; Bob joins with his old group in memory.
	ga, err := mls.JoinFromWelcome(next[0], res.Welcome, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := mls.JoinReInit(next[1], ms[1].g, res.Welcome, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	apiAgreeGroups(t, ng, ga, gb)
	if !bytes.Equal(ga.Extensions()[0].ExtensionData, rc[0].ExtensionData) {
		t.Fatal("successor extensions are not the ReInit's")
	}
}

// A Welcome whose GroupContext does not match the ReInit is refused.
func TestReInitSuccessorMismatch(t *testing.T) {
	const suite = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true}
	ms := apiGroup(t, suite, cfg, "alice", "bob")
	rtReInit(t, ms, codec.ReInit{GroupID: []byte("next"), Version: codec.ProtocolVersionMLS10, CipherSuite: suite})
	// Bob's view of the old group: another group with a ReInit of other
	// parameters, under the same group id, cannot vouch for the Welcome.
	kp := apiKeyPackage(t, ms[1].c, suite)
	ng, res, err := ms[0].g.ReInitSuccessor(ms[0].c, cfg, []*codec.KeyPackage{kp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := mls.JoinReInit(ms[1].c, ms[1].g, res.Welcome, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	apiAgreeGroups(t, ng, g)

	// A branch Welcome is not a ReInit Welcome.
	ms2 := apiGroup(t, suite, cfg, "alice", "bob")
	rtReInit(t, ms2, codec.ReInit{GroupID: []byte("next2"), Version: codec.ProtocolVersionMLS10, CipherSuite: suite})
	kp = apiKeyPackage(t, ms2[1].c, suite)
	other := apiGroup(t, suite, cfg, "alice", "bob")
	_, res, err = other[0].g.Branch(other[0].c, cfg, []*codec.KeyPackage{kp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mls.JoinReInit(ms2[1].c, ms2[1].g, res.Welcome, nil, cfg); err == nil {
		t.Fatal("a branch Welcome joined as a ReInit successor")
	}
}

// Subgroup branching (RFC 9420 §11.3): a member branches a subgroup of some
// members with a branch PSK; they join resolving it from the parent group.
func TestBranch(t *testing.T) {
	const suite = codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true}
	ms := apiGroup(t, suite, cfg, "alice", "bob", "carol", "dave")
	// Bob joins the branch with a client whose storage does not hold the
	// parent group; Dave with his usual one.
	bob := *ms[1].c
	bob.Storage = memstore.New()
	kps := []*codec.KeyPackage{apiKeyPackage(t, &bob, suite), apiKeyPackage(t, ms[3].c, suite)}
	sub, res, err := ms[0].g.Branch(ms[0].c, mls.GroupConfig{UseRatchetTreeExtension: true}, kps, &mls.ResumeOptions{CreateOptions: mls.CreateOptions{GroupID: []byte("sub")}})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Epoch() != 1 || sub.MemberCount() != 3 || !ms[0].g.Active() {
		t.Fatalf("branch: epoch %d, %d members, parent active %v", sub.Epoch(), sub.MemberCount(), ms[0].g.Active())
	}

	// Without the parent the branch PSK is missing: a typed error.
	_, err = mls.JoinFromWelcome(&bob, res.Welcome, nil, cfg)
	var missing *mls.MissingPSKError
	if !errors.As(err, &missing) || missing.ID.Usage != codec.ResumptionPSKUsageBranch || !bytes.Equal(missing.ID.PSKGroupID, ms[0].g.GroupID()) {
		t.Fatalf("join without the branch PSK: %v", err)
	}
	// Another group cannot resolve it either.
	other := apiGroup(t, suite, cfg, "bob", "erin")
	if _, err := mls.JoinBranch(&bob, other[0].g, res.Welcome, nil, cfg); !errors.Is(err, mls.ErrResumption) && !errors.Is(err, mls.ErrMissingPSK) {
		t.Fatalf("JoinBranch with another parent: %v", err)
	}

	gb, err := mls.JoinBranch(&bob, ms[1].g, res.Welcome, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Dave's plain join finds the parent in his storage.
	gd, err := mls.JoinFromWelcome(ms[3].c, res.Welcome, sub.RatchetTree(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	apiAgreeGroups(t, sub, gb, gd)
	// The parent group goes on.
	apiAgreeGroups(t, ms[0].g, ms[1].g, ms[2].g, ms[3].g)
}

// A branch that includes someone who is not a member of the parent is
// refused by the joiners (§11.3: the new group's members are a subset).
func TestBranchNonMember(t *testing.T) {
	const suite = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true}
	ms := apiGroup(t, suite, cfg, "alice", "bob")
	mallory := apiClient(t, suite, "mallory")
	kps := []*codec.KeyPackage{apiKeyPackage(t, ms[1].c, suite), apiKeyPackage(t, mallory, suite)}
	_, res, err := ms[0].g.Branch(ms[0].c, cfg, kps, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mls.JoinBranch(ms[1].c, ms[1].g, res.Welcome, nil, cfg); !errors.Is(err, mls.ErrResumption) {
		t.Fatalf("branch with a non-member: %v", err)
	}
	// The creator must be a member of the parent.
	if _, _, err := ms[0].g.Branch(mallory, cfg, kps[:1], nil); !errors.Is(err, mls.ErrResumption) {
		t.Fatalf("branch by a non-member: %v", err)
	}
}
