package mls_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers/memstore"
)

// oobGroupInfoHasTree reports whether an encoded GroupInfo carries the
// ratchet_tree extension.
func oobGroupInfoHasTree(t *testing.T, b []byte) bool {
	t.Helper()
	var m codec.MLSMessage
	if err := m.Unmarshal(b); err != nil || m.GroupInfo == nil {
		t.Fatalf("GroupInfo: %v", err)
	}
	_, ok, err := mls.Extensions(m.GroupInfo.Extensions).RatchetTree()
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func oobTreeBytes(t *testing.T, rt codec.RatchetTree) []byte {
	t.Helper()
	b, err := rt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// CommitOptions.RatchetTreeOutOfBand (RFC 9420 §12.4.3.3): in a group whose
// config puts the tree into Welcomes, one Commit leaves it out of its
// Welcome and GroupInfo and returns the new epoch's tree instead; the
// joiner needs that tree, and with it agrees with the group. Without the
// option the tree stays in the Welcome and no tree is returned.
func TestCommitRatchetTreeOutOfBand(t *testing.T) {
	const suite = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true}
	ms := apiGroup(t, suite, cfg, "alice", "bob")

	// Out of band.
	carol := apiClient(t, suite, "carol")
	res, err := ms[0].g.Commit(mls.CommitOptions{Add: []*codec.KeyPackage{apiKeyPackage(t, carol, suite)}, RatchetTreeOutOfBand: true, WithGroupInfo: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.RatchetTree == nil {
		t.Fatal("no ratchet tree in the CommitResult")
	}
	if oobGroupInfoHasTree(t, res.GroupInfo) {
		t.Fatal("the GroupInfo carries the ratchet tree")
	}
	if err := ms[0].g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(oobTreeBytes(t, res.RatchetTree), oobTreeBytes(t, ms[0].g.RatchetTree())) {
		t.Fatal("the returned tree is not the new epoch's")
	}
	pm, err := ms[1].g.ProcessMessage(res.Commit)
	if err != nil {
		t.Fatal(err)
	}
	if err := ms[1].g.MergeStagedCommit(pm.Commit); err != nil {
		t.Fatal(err)
	}
	if _, err := mls.JoinFromWelcome(carol, res.Welcome, nil, cfg); !errors.Is(err, mls.ErrNoRatchetTree) {
		t.Fatalf("join without the out-of-band tree: %v", err)
	}
	gc, err := mls.JoinFromWelcome(carol, res.Welcome, res.RatchetTree, cfg)
	if err != nil {
		t.Fatal(err)
	}
	apiAgreeGroups(t, ms[0].g, ms[1].g, gc)

	// In the Welcome, as the config says.
	dave := apiClient(t, suite, "dave")
	res, err = ms[1].g.Commit(mls.CommitOptions{Add: []*codec.KeyPackage{apiKeyPackage(t, dave, suite)}, WithGroupInfo: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.RatchetTree != nil || !oobGroupInfoHasTree(t, res.GroupInfo) {
		t.Fatalf("without the option: tree returned %v, in the GroupInfo %v", res.RatchetTree != nil, oobGroupInfoHasTree(t, res.GroupInfo))
	}
	if err := ms[1].g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*mls.Group{ms[0].g, gc} {
		pm, err := g.ProcessMessage(res.Commit)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.MergeStagedCommit(pm.Commit); err != nil {
			t.Fatal(err)
		}
	}
	gd, err := mls.JoinFromWelcome(dave, res.Welcome, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	apiAgreeGroups(t, ms[0].g, ms[1].g, gc, gd)
}

// ResumeOptions.RatchetTreeOutOfBand: a branch's Welcome without the tree;
// the joiner needs the returned tree.
func TestBranchRatchetTreeOutOfBand(t *testing.T) {
	const suite = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true}
	ms := apiGroup(t, suite, cfg, "alice", "bob")
	bob := *ms[1].c
	bob.Storage = memstore.New()
	kps := []*codec.KeyPackage{apiKeyPackage(t, &bob, suite)}
	sub, res, err := ms[0].g.Branch(ms[0].c, mls.GroupConfig{UseRatchetTreeExtension: true}, kps, &mls.ResumeOptions{CreateOptions: mls.CreateOptions{GroupID: []byte("sub")}, RatchetTreeOutOfBand: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.RatchetTree == nil || !bytes.Equal(oobTreeBytes(t, res.RatchetTree), oobTreeBytes(t, sub.RatchetTree())) {
		t.Fatal("the returned tree is not the branch's")
	}
	if _, err := mls.JoinBranch(&bob, ms[1].g, res.Welcome, nil, cfg); !errors.Is(err, mls.ErrNoRatchetTree) {
		t.Fatalf("join without the out-of-band tree: %v", err)
	}
	gb, err := mls.JoinBranch(&bob, ms[1].g, res.Welcome, res.RatchetTree, cfg)
	if err != nil {
		t.Fatal(err)
	}
	apiAgreeGroups(t, sub, gb)
}
