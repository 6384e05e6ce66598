package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/treekem"
	"github.com/mlskit/mlskit/providers"
)

// This file holds end-to-end tests of the group state machine (RFC 9420
// §11–§14) with real crypto and storage, and the small simulation harness
// (gt*) the property, negative and state tests share.

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
	res = gtMust(a.g.RemoveMembers(b.g.OwnLeafIndex()))(t)
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
	res = gtMust(a.g.CommitPendingProposals())(t)
	if removed := s.applyCommit(a, res); len(removed) != 1 || removed[0] != c {
		t.Fatalf("removed %v", removed)
	}

	// Self update, immediate.
	oldKey := bytes.Clone(d.g.OwnLeafNode().EncryptionKey)
	res = gtMust(d.g.SelfUpdate(nil))(t)
	s.applyCommit(d, res)
	if bytes.Equal(oldKey, d.g.OwnLeafNode().EncryptionKey) {
		t.Fatal("self update kept the encryption key")
	}
	// Self update with a new signer (LeafNodeOptions).
	newSigner := gtMust(GenerateSignatureKeyPair(s.p, suite))(t)
	newCred := NewBasicCredential([]byte(e.name))
	res = gtMust(e.g.SelfUpdate(&LeafNodeOptions{Signer: newSigner, Credential: &newCred}))(t)
	s.applyCommit(e, res)
	if me, _ := a.g.Member(e.g.OwnLeafIndex()); !bytes.Equal(me.SignatureKey, newSigner.PublicKey()) {
		t.Fatal("the new signature key is not in the tree")
	}
	// The new signer is in use: e's messages verify with it.
	s.sendApp(e, []byte("after key change"), []byte("k"))
	res = gtMust(e.g.SelfUpdate(nil))(t)
	s.applyCommit(e, res)

	// Self update as a proposal committed by another member.
	oldKey = bytes.Clone(a.g.OwnLeafNode().EncryptionKey)
	prop, _, err = a.g.ProposeSelfUpdate(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.broadcast(a, prop)
	res = gtMust(d.g.CommitPendingProposals())(t)
	s.applyCommit(d, res)
	if bytes.Equal(oldKey, a.g.OwnLeafNode().EncryptionKey) {
		t.Fatal("update proposal kept the encryption key")
	}
	s.sendApp(a, []byte("after update"), nil)

	// GroupContextExtensions proposal (by value and by reference).
	ext := codec.Extension{ExtensionType: codec.ExtensionTypeApplicationID, ExtensionData: []byte("app-1")}
	res = gtMust(a.g.Commit(CommitOptions{GroupContextExtensions: []codec.Extension{ext}}))(t)
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
	res = gtMust(e.g.CommitPendingProposals())(t)
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
	res = gtMust(d.g.CommitPendingProposals())(t)
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
	res = gtMust(e.g.Commit(CommitOptions{}))(t)
	s.applyCommit(e, res)

	// The GroupInfo of a commit verifies with the committer's key.
	res = gtMust(a.g.SelfUpdate(nil))(t)
	if res.GroupInfo != nil {
		t.Fatal("GroupInfo built without WithGroupInfo")
	}
	s.applyCommit(a, res)
	res = gtMust(a.g.Commit(CommitOptions{ForcePath: true, WithGroupInfo: true}))(t)
	gtCheckGroupInfo(t, s, res.GroupInfo, a)
	s.applyCommit(a, res)
	gi := gtMust(d.g.GroupInfo(true))(t)
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
	cs := gtMust(s.p.CipherSuite(s.suite))(t)
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
		cs := gtMust(s.p.CipherSuite(suite))(t)
		pskID := []byte("shared psk")
		secret := bytes.Repeat([]byte{7}, cs.HashSize())
		for _, m := range s.members {
			if err := StoreExternalPSK(m.c.Storage, pskID, secret); err != nil {
				t.Fatal(err)
			}
		}
		id := gtMust(NewExternalPSKID(s.p, cs, pskID))(t)
		res := gtMust(a.g.Commit(CommitOptions{PSKs: []codec.PreSharedKeyID{id}}))(t)
		s.applyCommit(a, res)

		id2 := gtMust(NewExternalPSKID(s.p, cs, pskID))(t)
		prop, _, err := b.g.ProposePSK(id2)
		if err != nil {
			t.Fatal(err)
		}
		s.broadcast(b, prop)
		res = gtMust(c.g.CommitPendingProposals())(t)
		s.applyCommit(c, res)

		// A PSK that a member lacks: the member cannot process the commit.
		other := []byte("only a and b")
		for _, m := range []*gtMember{a, b} {
			if err := StoreExternalPSK(m.c.Storage, other, secret); err != nil {
				t.Fatal(err)
			}
		}
		id3 := gtMust(NewExternalPSKID(s.p, cs, other))(t)
		if _, _, err := c.g.ProposePSK(id3); !errors.Is(err, RulePSKAvailable) {
			t.Fatalf("proposing an unknown PSK: %v", err)
		}
		res = gtMust(a.g.Commit(CommitOptions{PSKs: []codec.PreSharedKeyID{id3}}))(t)
		if _, err := c.g.ProcessMessage(res.Commit); !errors.Is(err, RulePSKAvailable) {
			t.Fatalf("commit with a missing PSK: %v", err)
		}
		pm := gtMust(b.g.ProcessMessage(res.Commit))(t)
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
		res := gtMust(a.g.Commit(CommitOptions{Add: []*codec.KeyPackage{gtKeyPackage(t, x.c, suite)}, Remove: []LeafIndex{2}, ForcePath: true}))(t)
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
		res = gtMust(b.g.SelfUpdate(nil))(t)
		s.applyCommit(b, res)
		res = gtMust(a.g.SelfUpdate(nil))(t)
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
		res := gtMust(a.g.AddMembers(gtKeyPackage(t, j.c, suite)))(t)
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
	res := gtMust(a.g.AddMembers(gtKeyPackage(t, j.c, suite)))(t)
	if _, err := JoinFromWelcome(j.c, res.Welcome, oldTree, s.cfg); !errors.Is(err, ratchettree.ErrTreeHashMismatch) {
		t.Fatalf("joining with the tree of the previous epoch: %v", err)
	}
	s.applyCommit(a, res, j)

	// A client whose signer is not its key package's cannot join.
	k := s.newClient()
	res = gtMust(a.g.AddMembers(gtKeyPackage(t, k.c, suite)))(t)
	wrong := *k.c
	wrong.Signer = gtMust(GenerateSignatureKeyPair(s.p, suite))(t)
	if _, err := JoinFromWelcome(&wrong, res.Welcome, a.g.pending.diff.RatchetTree(), s.cfg); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("joining with another signer: %v", err)
	}
	s.applyCommit(a, res, k)
}

// TestGroupJoinPrivateKeys: joining from a Welcome whose Commit has a path
// checks the private keys it installs (RFC 9420 §12.4.3.1): a path_secret
// whose derived public keys are not the tree's, or a KeyPackage bundle
// whose leaf private key is not the leaf's, fails Stage, and nothing is
// stored; the genuine ones join.
func TestGroupJoinPrivateKeys(t *testing.T) {
	suite := gtSuites[0]
	s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: true})
	a := s.members[0]
	s.add(a, 2, false)
	j := s.newClient()
	res := gtMust(a.g.Commit(CommitOptions{Add: []*codec.KeyPackage{gtKeyPackage(t, j.c, suite)}, ForcePath: true}))(t)
	stage := func(tamper func(d *decryptedWelcome)) error {
		pw := gtMust(ProcessWelcome(j.c, res.Welcome, s.cfg))(t)
		if pw.d.GroupSecrets.PathSecret == nil {
			t.Fatal("the Welcome of a Commit with a path has no path_secret")
		}
		tamper(pw.d)
		_, err := pw.Stage(nil)
		pw.Discard()
		return err
	}
	if err := stage(func(d *decryptedWelcome) { d.GroupSecrets.PathSecret.PathSecret[0] ^= 1 }); !errors.Is(err, treekem.ErrPublicKeyMismatch) {
		t.Fatalf("another path_secret: %v", err)
	}
	other, _ := gtMust2(gtMust(s.p.CipherSuite(suite))(t).GenerateKeyPair(nil))(t)
	if err := stage(func(d *decryptedWelcome) { d.Bundle.EncryptionPrivateKey = other }); !errors.Is(err, treekem.ErrPrivateKeyMismatch) {
		t.Fatalf("another leaf private key: %v", err)
	}
	if err := checkGroupAbsent(j.c.Storage, a.g.GroupID()); err != nil {
		t.Fatalf("a failed Stage stored the group: %v", err)
	}
	s.applyCommit(a, res, j)
	// The joiner holds the path's keys: it decrypts the next path to it.
	s.applyCommit(s.members[1], gtMust(s.members[1].g.SelfUpdate(nil))(t))
}

// TestGroupTwoStepJoin inspects a Welcome before joining.
func TestGroupTwoStepJoin(t *testing.T) {
	suite := gtSuites[0]
	s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: true})
	a := s.members[0]
	j := s.newClient()
	res := gtMust(a.g.AddMembers(gtKeyPackage(t, j.c, suite)))(t)
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	pw := gtMust(ProcessWelcome(j.c, res.Welcome, s.cfg))(t)
	sw := gtMust(pw.Stage(nil))(t)
	if sw.OwnLeafIndex() != 1 || len(sw.Members()) != 2 || !bytes.Equal(sw.Sender().SignatureKey, a.c.Signer.PublicKey()) {
		t.Fatalf("staged welcome: leaf %d, %d members", sw.OwnLeafIndex(), len(sw.Members()))
	}
	if !bytes.Equal(sw.EpochAuthenticator(), a.g.EpochAuthenticator()) {
		t.Fatal("staged welcome's epoch authenticator differs")
	}
	j.g = gtMust(sw.Join())(t)
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
	late := gtMust(b.g.SendApplicationMessage([]byte("late"), []byte("ad")))(t)
	res := gtMust(a.g.SelfUpdate(nil))(t)
	s.applyCommit(a, res)
	pm := gtMust(a.g.ProcessMessage(late))(t)
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
	s.applyCommit(b, gtMust(b.g.SelfUpdate(nil))(t)) // epoch 2
	cs := gtMust(s.p.CipherSuite(suite))(t)
	for _, epoch := range []uint64{1, 2} { // a past and the current epoch
		id := gtMust(NewResumptionPSKID(s.p, cs, codec.ResumptionPSKUsageApplication, a.g.GroupID(), epoch))(t)
		prop, _ := gtMust2(b.g.ProposePSK(id))(t)
		s.broadcast(b, prop)
		s.applyCommit(a, gtMust(a.g.CommitPendingProposals())(t))
	}
	// A member that joins now has no resumption PSK of epoch 2.
	late := s.add(a, 1, false)[0]
	id := gtMust(NewResumptionPSKID(s.p, cs, codec.ResumptionPSKUsageApplication, a.g.GroupID(), 2))(t)
	res := gtMust(a.g.Commit(CommitOptions{PSKs: []codec.PreSharedKeyID{id}}))(t)
	if _, err := late.g.ProcessMessage(res.Commit); !errors.Is(err, RulePSKAvailable) {
		t.Fatalf("late joiner with a past resumption PSK: %v", err)
	}
	if err := a.g.ClearPendingCommit(); err != nil {
		t.Fatal(err)
	}
	// An epoch no longer kept is unavailable to all.
	id = gtMust(NewResumptionPSKID(s.p, cs, codec.ResumptionPSKUsageApplication, a.g.GroupID(), 0))(t)
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
	prop, _ := gtMust2(b.g.ProposeReInit(ri))(t)
	s.broadcast(b, prop)
	res := gtMust(a.g.CommitPendingProposals())(t)
	for _, m := range s.members[1:] {
		pm := gtMust(m.g.ProcessMessage(res.Commit))(t)
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

	resA := gtMust(a.g.SelfUpdate(nil))(t)
	resB := gtMust(b.g.Commit(CommitOptions{Remove: []LeafIndex{3}}))(t)
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
	s.applyCommit(b, gtMust(b.g.Commit(CommitOptions{Remove: []LeafIndex{3}}))(t))
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
	ns := gtMust(GenerateSignatureKeyPair(s.p, s.suite))(t)
	s.applyCommit(a, gtMust(a.g.SelfUpdate(&LeafNodeOptions{Signer: ns}))(t))
	if _, err := LoadSignatureKeyPair(s.p, a.c.Storage, ns.PublicKey()); err != nil {
		t.Fatalf("new signer not stored on merge: %v", err)
	}
	rotated := *a.c
	rotated.Signer = ns
	g := gtMust(LoadGroup(&rotated, a.g.GroupID()))(t)
	if gtSnapshot(g) != gtSnapshot(a.g) {
		t.Fatal("reloaded group differs")
	}
	a.g = gtMust(LoadGroup(a.c, a.g.GroupID()))(t)
	if gtSnapshot(a.g) != gtSnapshot(g) {
		t.Fatal("reloaded group (old signer in the Client) differs")
	}
	s.sendApp(a, []byte("signed with the new key"), nil)
	s.applyCommit(a, gtMust(a.g.SelfUpdate(nil))(t))
}

// TestCommitFilter: the application's policy callback chooses which stored
// proposals a Commit covers; the others stay out of the new epoch.
func TestCommitFilter(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true})
	a := s.members[0]
	s.add(a, 3, false)
	b, c := s.members[1], s.members[2]
	// b proposes removing the last member; c proposes a GroupContextExtensions change.
	msgRemove, _ := gtMust2(b.g.ProposeRemove(s.members[3].g.OwnLeafIndex()))(t)
	msgGCE, _ := gtMust2(c.g.ProposeGroupContextExtensions(nil))(t)
	for _, msg := range [][]byte{msgRemove, msgGCE} {
		pm := gtMust(a.g.ProcessMessage(msg))(t)
		if err := a.g.StoreProposal(pm.Proposal); err != nil {
			t.Fatal(err)
		}
	}
	res := gtMust(a.g.Commit(CommitOptions{Filter: func(q *QueuedProposal) bool {
		return q.Type() != codec.ProposalTypeGroupContextExtensions
	}}))(t)
	var covered []codec.ProposalType
	pm := gtMust(b.g.ProcessMessage(res.Commit))(t)
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

// TestAddedLeafIsTheTreesOwn: the leaf an Add puts into the tree (RFC 9420
// §12.1.1) is the tree's own copy (compactLeaf): changing the caller's
// KeyPackage afterwards changes neither the pending nor the merged tree.
func TestAddedLeafIsTheTreesOwn(t *testing.T) {
	s := newGTSim(t, testSuite, GroupConfig{})
	a := s.members[0]
	j := s.newClient()
	kp := gtKeyPackage(t, j.c, testSuite)
	want, err := kp.LeafNode.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.g.AddMembers(kp); err != nil {
		t.Fatal(err)
	}
	kp.LeafNode.Signature[0] ^= 1
	kp.LeafNode.EncryptionKey[0] ^= 1
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	got, err := a.g.RatchetTree()[2].LeafNode.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the added leaf changed with the caller's KeyPackage")
	}
	if got, _ := compactLeaf(&kp.LeafNode).Marshal(); !bytes.Equal(got, func() []byte { b, _ := kp.LeafNode.Marshal(); return b }()) {
		t.Fatal("compactLeaf's copy does not encode as the leaf")
	}
}
