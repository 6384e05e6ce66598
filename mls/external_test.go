package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
)

// TestExternalCommitJoin: a new member joins by external Commit (RFC 9420
// §12.4.3.2), with the tree from the GroupInfo and out of band, in every
// test suite and wire format; the group then goes on normally.
func TestExternalCommitJoin(t *testing.T) {
	gtForSuites(t, func(t *testing.T, suite codec.CipherSuite) {
		for _, pol := range []WireFormatPolicy{PureCiphertext(), PurePlaintext()} {
			s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: true, WireFormatPolicy: pol})
			a := s.members[0]
			s.add(a, 2, true)
			j := s.externalJoin(s.members[1], true, &ExternalCommitOptions{AuthenticatedData: []byte("ext")})
			s.sendApp(j, []byte("joined"), nil)
			s.sendApp(a, []byte("welcome"), nil)
			// A blank leaf in the middle is filled first.
			res, err := a.g.RemoveMembers(1)
			if err != nil {
				t.Fatal(err)
			}
			s.applyCommit(a, res)
			k := s.externalJoin(j, false, nil)
			if k.g.OwnLeafIndex() != 1 {
				t.Fatalf("external joiner at leaf %d, want the blank leaf 1", k.g.OwnLeafIndex())
			}
			res, err = k.g.SelfUpdate(nil)
			if err != nil {
				t.Fatal(err)
			}
			s.applyCommit(k, res)
			s.add(k, 1, false)
			s.sendApp(k, []byte("all good"), []byte("x"))
		}
	})
}

// TestExternalCommitResync: a member that lost its state rejoins and
// removes its old leaf in the same external Commit (§12.4.3.2).
func TestExternalCommitResync(t *testing.T) {
	suite := gtSuites[0]
	s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: true})
	a := s.members[0]
	s.add(a, 3, false)
	lost := s.members[2]
	old := lost.g.OwnLeafIndex()
	gi, err := a.g.GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	// The same client (same signer) rejoins: without removing the old
	// leaf its signature key is a duplicate.
	if _, _, err := JoinByExternalCommit(lost.c, gi, nil, s.cfg, nil); !errors.Is(err, RuleAddSignatureKeyDuplicate) {
		t.Fatalf("rejoin without Remove: %v", err)
	}
	g, commit, err := JoinByExternalCommit(lost.c, gi, nil, s.cfg, &ExternalCommitOptions{RemoveLeaf: &old})
	if err != nil {
		t.Fatal(err)
	}
	// The old instance processes the commit that removes it.
	others := s.members
	s.deliverExternal(commit)
	if lost.g.Active() {
		t.Fatal("old instance still active")
	}
	if len(s.members) != len(others)-1 {
		t.Fatalf("%d members after resync", len(s.members))
	}
	lost.g = g
	s.members = append(s.members, lost)
	s.check()
	if g.OwnLeafIndex() != old {
		t.Fatalf("rejoined at leaf %d, want %d", g.OwnLeafIndex(), old)
	}
	s.sendApp(lost, []byte("back"), nil)
}

// TestExternalCommitErrors: bad GroupInfos are refused with specific errors.
func TestExternalCommitErrors(t *testing.T) {
	suite := gtSuites[0]
	s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: true})
	a := s.members[0]
	s.add(a, 1, false)
	j := s.newClient()
	gi, err := a.g.GroupInfo(false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := JoinByExternalCommit(j.c, gi, nil, s.cfg, nil); !errors.Is(err, ErrNoRatchetTree) {
		t.Fatalf("no tree: %v", err)
	}
	gi, err = a.g.GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	var m codec.MLSMessage
	if err := m.Unmarshal(gi); err != nil {
		t.Fatal(err)
	}
	// Tampered GroupInfo: the signature fails.
	m.GroupInfo.GroupContext.Epoch++
	bad, _ := m.Marshal()
	if _, _, err := JoinByExternalCommit(j.c, bad, nil, s.cfg, nil); !errors.Is(err, ErrInvalidGroupInfoSignature) {
		t.Fatalf("tampered GroupInfo: %v", err)
	}
	m.GroupInfo.GroupContext.Epoch--
	// Without external_pub (re-signed by a, so that only that is wrong).
	var exts []codec.Extension
	for _, e := range m.GroupInfo.Extensions {
		if e.ExtensionType != codec.ExtensionTypeExternalPub {
			exts = append(exts, e)
		}
	}
	m.GroupInfo.Extensions = exts
	if err := SignGroupInfo(a.c.Signer, m.GroupInfo); err != nil {
		t.Fatal(err)
	}
	bad, _ = m.Marshal()
	if _, _, err := JoinByExternalCommit(j.c, bad, nil, s.cfg, nil); !errors.Is(err, ErrNoExternalPub) {
		t.Fatalf("no external_pub: %v", err)
	}
	// A signer index that names no member (re-signed by a).
	good := *m.GroupInfo
	m.GroupInfo.Signer = 9
	if err := SignGroupInfo(a.c.Signer, m.GroupInfo); err != nil {
		t.Fatal(err)
	}
	bad, _ = m.Marshal()
	if _, _, err := JoinByExternalCommit(j.c, bad, nil, s.cfg, nil); !errors.Is(err, ErrInvalidGroupInfoSignature) {
		t.Fatalf("GroupInfo signer outside the tree: %v", err)
	}
	// A tree whose leaf was altered (GroupInfo re-signed): the tree
	// validation refuses it.
	*m.GroupInfo = good
	rt := a.g.RatchetTree()
	var tree codec.RatchetTree // a deep copy: RatchetTree may share nodes
	if err := tree.Unmarshal(gtMust(rt.Marshal())(t)); err != nil {
		t.Fatal(err)
	}
	tree[2].LeafNode.Extensions = []codec.Extension{{ExtensionType: codec.ExtensionTypeApplicationID, ExtensionData: []byte("x")}}
	if _, _, err := JoinByExternalCommit(j.c, gi, tree, s.cfg, nil); !errors.Is(err, ratchettree.ErrTreeHashMismatch) {
		t.Fatalf("altered tree: %v", err)
	}
	// With the GroupInfo's tree hash adjusted (and re-signed), the leaf
	// signature check refuses it.
	cs, _ := s.p.CipherSuite(suite)
	altered, err := ratchettree.FromRatchetTree(cs, tree)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Unmarshal(gi); err != nil {
		t.Fatal(err)
	}
	m.GroupInfo.GroupContext.TreeHash = gtMust(altered.TreeHash())(t)
	m.GroupInfo.Extensions = []codec.Extension{*Extensions(m.GroupInfo.Extensions).Find(codec.ExtensionTypeExternalPub)}
	if err := SignGroupInfo(a.c.Signer, m.GroupInfo); err != nil {
		t.Fatal(err)
	}
	bad, _ = m.Marshal()
	if _, _, err := JoinByExternalCommit(j.c, bad, tree, s.cfg, nil); !errors.Is(err, RuleLeafNodeSignature) {
		t.Fatalf("altered leaf: %v", err)
	}
	// A signer of another cipher suite.
	p256 := *j.c
	p256.Signer = gtMust(GenerateSignatureKeyPair(s.p, codec.CipherSuiteMLS128DHKEMP256AES128GCMSHA256P256))(t)
	if _, _, err := JoinByExternalCommit(&p256, gi, nil, s.cfg, nil); !errors.Is(err, ErrWrongCipherSuite) {
		t.Fatalf("signer of another suite: %v", err)
	}
	// Not a GroupInfo.
	if _, _, err := JoinByExternalCommit(j.c, []byte{0, 1, 0, 4}, nil, s.cfg, nil); err == nil {
		t.Fatal("garbage accepted")
	}
	// A GroupInfo of an old epoch: the commit is refused by the members
	// (wrong epoch), and the group is unchanged.
	old, _ := a.g.GroupInfo(true)
	res, _ := a.g.SelfUpdate(nil)
	s.applyCommit(a, res)
	_, commit, err := JoinByExternalCommit(j.c, old, nil, s.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := gtSnapshot(a.g)
	if _, err := a.g.ProcessMessage(commit); !errors.Is(err, RuleWrongEpoch) {
		t.Fatalf("stale external commit: %v", err)
	}
	if gtSnapshot(a.g) != before || !bytes.Equal(a.g.EpochAuthenticator(), s.members[1].g.EpochAuthenticator()) {
		t.Fatal("state changed")
	}
}

// TestExternalCommitOptions: an external Commit with a PSK, a GroupInfo
// taken from a CommitResult (WithGroupInfo), and a group with a custom
// context extension that the joiner must declare in its capabilities.
func TestExternalCommitOptions(t *testing.T) {
	suite := gtSuites[0]
	opts := gtCustomExtOptions()
	s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: true}, opts)
	a := s.members[0]
	j0 := s.newClient()
	res, err := a.g.AddMembers(gtKeyPackageCaps(t, j0.c, suite, opts.LeafCapabilities))
	if err != nil {
		t.Fatal(err)
	}
	s.applyCommit(a, res, j0)

	// GroupInfo from a commit result, after the commit merged.
	res, err = a.g.Commit(CommitOptions{ForcePath: true, WithGroupInfo: true})
	if err != nil {
		t.Fatal(err)
	}
	s.applyCommit(a, res)
	gi := res.GroupInfo

	// Without the extension in its capabilities the joiner cannot join.
	j := s.newClient()
	if _, _, err := JoinByExternalCommit(j.c, gi, nil, GroupConfig{}, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("joiner without the group's extension: %v", err)
	}
	// With a PSK every member and the joiner hold.
	cs, _ := s.p.CipherSuite(suite)
	pskID := []byte("ext psk")
	for _, c := range []*Client{a.c, j0.c, j.c} {
		if err := StoreExternalPSK(c.Storage, pskID, bytes.Repeat([]byte{3}, cs.HashSize())); err != nil {
			t.Fatal(err)
		}
	}
	id, err := NewExternalPSKID(s.p, cs, pskID)
	if err != nil {
		t.Fatal(err)
	}
	jcfg := GroupConfig{UseRatchetTreeExtension: true}
	g, commit, err := JoinByExternalCommit(j.c, gi, nil, jcfg, &ExternalCommitOptions{PSKs: []codec.PreSharedKeyID{id}, LeafCapabilities: opts.LeafCapabilities})
	if err != nil {
		t.Fatal(err)
	}
	j.g = g
	s.deliverExternal(commit)
	s.members = append(s.members, j)
	s.check()
	s.sendApp(j, []byte("with psk"), nil)
	// A PSK the joiner lacks.
	id2, _ := NewExternalPSKID(s.p, cs, []byte("absent"))
	k := s.newClient()
	if _, _, err := JoinByExternalCommit(k.c, gtMust(a.g.GroupInfo(true))(t), nil, jcfg, &ExternalCommitOptions{PSKs: []codec.PreSharedKeyID{id2}, LeafCapabilities: opts.LeafCapabilities}); !errors.Is(err, RulePSKAvailable) {
		t.Fatalf("external commit with a missing PSK: %v", err)
	}
	// Leaf extensions that are not leaf node extensions.
	bad := &ExternalCommitOptions{LeafCapabilities: opts.LeafCapabilities, LeafExtensions: Extensions{{ExtensionType: codec.ExtensionTypeExternalSenders, ExtensionData: []byte{}}}}
	if _, _, err := JoinByExternalCommit(k.c, gtMust(a.g.GroupInfo(true))(t), nil, jcfg, bad); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("external_senders as a leaf extension: %v", err)
	}
}

// TestExternalProposals: proposals from non-members (RFC 9420 §12.1.8): an
// external sender listed in external_senders proposes a Remove, and a new
// member proposes its own Add (new_member_proposal); members store and
// commit them by reference, and the new member joins from the Welcome.
func TestExternalProposals(t *testing.T) {
	n := newGTNeg(t, gtExternalSenderOptions(t))
	ds := gtExternalSigner(t)
	fc := gtProposalFC(gtRemove(3))
	fc.Sender = codec.Sender{SenderType: codec.SenderTypeExternal, SenderIndex: 0}
	msg := n.external(ds, fc, nil)
	for _, m := range []*gtMember{n.a, n.b, n.c, n.d} {
		pm, err := m.g.ProcessMessage(msg)
		if err != nil || pm.Kind != KindProposal || pm.Sender.SenderType != codec.SenderTypeExternal {
			t.Fatalf("%s: external Remove: %v", m.name, err)
		}
		if err := m.g.StoreProposal(pm.Proposal); err != nil {
			t.Fatal(err)
		}
	}
	if removed := n.s.applyCommit(n.b, gtMust(n.b.g.CommitPendingProposals())(t)); len(removed) != 1 || removed[0] != n.d {
		t.Fatalf("removed %v", removed)
	}

	// A new member proposes its own Add, signed with its key package's key.
	j := n.s.newClient()
	kp := gtKeyPackage(t, j.c, n.s.suite)
	fc = gtProposalFC(gtAdd(kp))
	fc.Sender = codec.Sender{SenderType: codec.SenderTypeNewMemberProposal}
	msg = n.external(j.c.Signer, fc, nil)
	for _, m := range n.s.members {
		pm, err := m.g.ProcessMessage(msg)
		if err != nil || pm.Kind != KindProposal {
			t.Fatalf("%s: new_member_proposal: %v", m.name, err)
		}
		if err := m.g.StoreProposal(pm.Proposal); err != nil {
			t.Fatal(err)
		}
	}
	n.s.applyCommit(n.c, gtMust(n.c.g.CommitPendingProposals())(t), j)
	n.s.sendApp(j, []byte("in"), nil)
	// Signed by another key than its key package's: refused.
	k := n.s.newClient()
	fc = gtProposalFC(gtAdd(gtKeyPackage(t, k.c, n.s.suite)))
	fc.Sender = codec.Sender{SenderType: codec.SenderTypeNewMemberProposal}
	n.expect(n.b, n.external(ds, fc, nil), RuleSignature)
}

// TestCommitWelcomeGroupInfoExternalPub: the GroupInfo a Commit signs for
// its Welcome carries external_pub (RFC 9420 §12.4.3.2: optional) only when
// CommitOptions.WithGroupInfo asks for a GroupInfo to publish, and then the
// one GroupInfo is both the Welcome's and CommitResult.GroupInfo; without
// it CommitResult.GroupInfo is nil. A member who joined from a Welcome
// without external_pub derives the external key pair itself (§8.3): its
// Group.GroupInfo lets a new client join by external Commit.
func TestCommitWelcomeGroupInfoExternalPub(t *testing.T) {
	suite := gtSuites[0]
	s := newGTSim(t, suite, GroupConfig{UseRatchetTreeExtension: true})
	a := s.members[0]
	cs := gtMust(s.p.CipherSuite(suite))(t)
	// welcomeGroupInfo decrypts the GroupInfo of res's Welcome with j's
	// KeyPackage.
	welcomeGroupInfo := func(j *gtMember, res *CommitResult) codec.GroupInfo {
		t.Helper()
		var m codec.MLSMessage
		if err := m.Unmarshal(res.Welcome); err != nil || m.Welcome == nil {
			t.Fatalf("Welcome does not decode: %v", err)
		}
		d, err := decryptWelcome(cs, m.Welcome, StoreKeyPackageFinder(j.c.Storage), pskResolver{store: j.c.Storage})
		if err != nil {
			t.Fatal(err)
		}
		gi := d.GroupInfo
		d.zero()
		return gi
	}
	hasExternalPub := func(gi *codec.GroupInfo) bool {
		t.Helper()
		_, ok, err := Extensions(gi.Extensions).ExternalPub()
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	// Without WithGroupInfo.
	j1 := s.newClient()
	res, err := a.g.AddMembers(gtKeyPackage(t, j1.c, suite))
	if err != nil {
		t.Fatal(err)
	}
	if res.GroupInfo != nil {
		t.Fatal("an add without WithGroupInfo returned a GroupInfo")
	}
	if gi := welcomeGroupInfo(j1, res); hasExternalPub(&gi) {
		t.Fatal("the Welcome's GroupInfo has external_pub without WithGroupInfo")
	}
	s.applyCommit(a, res, j1)
	// The new member publishes a GroupInfo with external_pub, and a new
	// client joins from it; every member agrees (s.check).
	if gi := gtMust(j1.g.GroupInfo(true))(t); !hasExternalPub(gtMust(groupInfoMessage(gi))(t)) {
		t.Fatal("Group.GroupInfo of the new member has no external_pub")
	}
	s.externalJoin(j1, true, nil)

	// With WithGroupInfo: one GroupInfo, with external_pub, in both.
	j2 := s.newClient()
	res, err = j1.g.Commit(CommitOptions{Add: []*codec.KeyPackage{gtKeyPackage(t, j2.c, suite)}, WithGroupInfo: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.GroupInfo == nil {
		t.Fatal("WithGroupInfo returned no GroupInfo")
	}
	pub := gtMust(groupInfoMessage(res.GroupInfo))(t)
	wgi := welcomeGroupInfo(j2, res)
	if !hasExternalPub(pub) || !hasExternalPub(&wgi) {
		t.Fatalf("WithGroupInfo: external_pub in CommitResult.GroupInfo %v, in the Welcome's %v", hasExternalPub(pub), hasExternalPub(&wgi))
	}
	if !bytes.Equal(gtMust(wgi.Marshal())(t), gtMust(pub.Marshal())(t)) {
		t.Fatal("the Welcome's GroupInfo is not CommitResult.GroupInfo")
	}
	s.applyCommit(j1, res, j2)
	k := s.newClient()
	g, commit, err := JoinByExternalCommit(k.c, res.GroupInfo, nil, s.cfg, nil)
	if err != nil {
		t.Fatalf("external join from CommitResult.GroupInfo: %v", err)
	}
	k.g = g
	s.deliverExternal(commit)
	s.members = append(s.members, k)
	s.check()
}

// groupInfoMessage decodes a GroupInfo MLSMessage.
func groupInfoMessage(b []byte) (*codec.GroupInfo, error) {
	var m codec.MLSMessage
	if err := m.Unmarshal(b); err != nil {
		return nil, err
	}
	if m.GroupInfo == nil {
		return nil, errors.New("not a GroupInfo")
	}
	return m.GroupInfo, nil
}
