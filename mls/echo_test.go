package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/providers"
)

// echoDS is a Delivery Service that fans every message out to every member,
// its sender included, and orders Commits: of the Commits submitted for an
// epoch it accepts the first and rejects the others.
type echoDS struct {
	t       *testing.T
	members []*gtMember
	inbox   map[*gtMember][][]byte
	epoch   uint64 // the epoch whose Commit the DS accepts next
}

func (ds *echoDS) fanOut(msg []byte) {
	for _, m := range ds.members {
		ds.inbox[m] = append(ds.inbox[m], msg)
	}
}

// submitCommit accepts the Commit if it is the first for ds.epoch.
func (ds *echoDS) submitCommit(epoch uint64, msg []byte) bool {
	if epoch != ds.epoch {
		return false
	}
	ds.epoch++
	ds.fanOut(msg)
	return true
}

// echoStats counts what members saw of their own messages.
type echoStats struct {
	ownCommits, ownProposals, ownApplication, appReceived int
}

// deliver makes every member process its inbox, as an application would:
// store proposals, merge Commits (its own through the echo), read
// application messages. Every error fails the test, but for the echo of
// an own application message (ErrOwnMessage).
func (ds *echoDS) deliver(st *echoStats) {
	ds.t.Helper()
	for _, m := range ds.members {
		msgs := ds.inbox[m]
		ds.inbox[m] = nil
		for _, msg := range msgs {
			pm, err := m.g.ProcessMessage(msg)
			if err != nil {
				var mm codec.MLSMessage
				if errors.Is(err, ErrOwnMessage) && mm.Unmarshal(msg) == nil && mm.PrivateMessage != nil && mm.PrivateMessage.ContentType == codec.ContentTypeApplication {
					st.ownApplication++
					continue
				}
				ds.t.Fatalf("%s: processing: %v", m.name, err)
			}
			switch pm.Kind {
			case KindApplication:
				if pm.Own {
					ds.t.Fatalf("%s: an application message marked own", m.name)
				}
				st.appReceived++
			case KindProposal:
				if pm.Own != (LeafIndex(pm.Sender.LeafIndex) == m.g.OwnLeafIndex()) || pm.Own != pm.Proposal.Own {
					ds.t.Fatalf("%s: proposal of leaf %d, Own %v", m.name, pm.Sender.LeafIndex, pm.Own)
				}
				if pm.Own {
					st.ownProposals++
				}
				if err := m.g.StoreProposal(pm.Proposal); err != nil {
					ds.t.Fatalf("%s: StoreProposal: %v", m.name, err)
				}
			case KindCommit:
				own := LeafIndex(pm.Sender.LeafIndex) == m.g.OwnLeafIndex()
				if pm.Own != own || pm.Commit.Own() != own {
					ds.t.Fatalf("%s: Commit of leaf %d: Own %v/%v", m.name, pm.Sender.LeafIndex, pm.Own, pm.Commit.Own())
				}
				if own {
					st.ownCommits++
					want, _ := m.g.PendingCommit()
					if got := pm.Commit.Proposals(); len(got) != len(want.Proposals) {
						ds.t.Fatalf("%s: echo of own Commit has %d proposals, pending %d", m.name, len(got), len(want.Proposals))
					}
					if !bytes.Equal(pm.Commit.EpochAuthenticator(), m.g.pending.next.secrets.EpochAuthenticator) {
						ds.t.Fatalf("%s: echo's epoch is not the pending Commit's", m.name)
					}
				}
				if err := m.g.MergeStagedCommit(pm.Commit); err != nil {
					ds.t.Fatalf("%s: merge: %v", m.name, err)
				}
				if m.g.HasPendingCommit() {
					ds.t.Fatalf("%s: a Commit merged but ours still pending", m.name)
				}
			}
		}
	}
}

// converged checks that all members share the epoch and its secrets.
func (ds *echoDS) converged(step string) {
	ds.t.Helper()
	a := ds.members[0].g
	for _, m := range ds.members[1:] {
		if m.g.Epoch() != a.Epoch() || !bytes.Equal(m.g.EpochAuthenticator(), a.EpochAuthenticator()) || !bytes.Equal(m.g.TreeHash(), a.TreeHash()) {
			ds.t.Fatalf("%s: %s in epoch %d, %s in epoch %d, or their secrets differ", step, ds.members[0].name, a.Epoch(), m.name, m.g.Epoch())
		}
	}
	if a.Epoch() != ds.epoch {
		ds.t.Fatalf("%s: members in epoch %d, DS in %d", step, a.Epoch(), ds.epoch)
	}
}

// TestEchoDeliveryService runs a group behind a Delivery Service that echoes
// every message to its sender, over PublicMessage and PrivateMessage: each
// round some members send application messages and proposals, then several
// members commit at once and the DS accepts only one Commit. Everyone
// processes everything it receives: its own Commit and proposals come back
// as echoes (Own), its own application messages as ErrOwnMessage, and the
// losers of the round drop their pending Commit when they merge the
// winner's. Some committers are reloaded from storage before their echo
// arrives. After each round every member is in the DS's epoch with the
// same epoch authenticator and tree hash.
func TestEchoDeliveryService(t *testing.T) {
	for _, wf := range []struct {
		name string
		p    WireFormatPolicy
	}{{"public", PurePlaintext()}, {"private", PureCiphertext()}} {
		t.Run(wf.name, func(t *testing.T) {
			rng := testseed.Rand(t)
			s := newGTSim(t, gtSuites[0], GroupConfig{WireFormatPolicy: wf.p, UseRatchetTreeExtension: true})
			ds := &echoDS{t: t, inbox: map[*gtMember][][]byte{}}
			ds.members = s.members
			var st echoStats

			// Creation: alice adds four members; her Commit comes back.
			alice := s.members[0]
			var js []*gtMember
			var kps []*codec.KeyPackage
			for range 4 {
				j := s.newClient()
				js = append(js, j)
				kps = append(kps, gtKeyPackage(t, j.c, s.suite))
			}
			res := gtMust(alice.g.AddMembers(kps...))(t)
			if !ds.submitCommit(alice.g.Epoch(), res.Commit) {
				t.Fatal("DS refused the first Commit")
			}
			ds.deliver(&st)
			for _, j := range js {
				j.g = gtMust(JoinFromWelcome(j.c, res.Welcome, nil, s.cfg))(t)
				ds.members = append(ds.members, j)
			}
			ds.converged("creation")

			for round := range 8 {
				// Application messages and proposals, echoed to all.
				for _, m := range ds.members {
					switch rng.IntN(3) {
					case 0:
						ds.fanOut(gtMust(m.g.SendApplicationMessage(fmt.Appendf(nil, "%s in round %d", m.name, round), nil))(t))
					case 1:
						msg, _ := gtMust2(m.g.ProposeSelfUpdate(nil))(t)
						ds.fanOut(msg)
					}
				}
				ds.deliver(&st)
				// Concurrent Commits: between two and all members
				// commit, in a random order; the DS accepts the first.
				order := rng.Perm(len(ds.members))
				n := 2 + rng.IntN(len(ds.members)-1)
				type sub struct {
					m     *gtMember
					epoch uint64
					msg   []byte
				}
				var subs []sub
				for _, i := range order[:n] {
					m := ds.members[i]
					res := gtMust(m.g.Commit(CommitOptions{ForcePath: rng.IntN(2) == 0}))(t)
					subs = append(subs, sub{m, m.g.Epoch(), res.Commit})
				}
				winners := 0
				for _, sb := range subs {
					if ds.submitCommit(sb.epoch, sb.msg) {
						winners++
						if rng.IntN(2) == 0 {
							// A crash before the echo: the pending
							// Commit is restored with what
							// recognises its echo.
							sb.m.g = gtMust(LoadGroup(sb.m.c, sb.m.g.GroupID()))(t)
							if !sb.m.g.HasPendingCommit() {
								t.Fatal("reloaded committer lost its pending Commit")
							}
						}
					}
				}
				if winners != 1 {
					t.Fatalf("round %d: %d Commits accepted", round, winners)
				}
				ds.deliver(&st)
				ds.converged(fmt.Sprintf("round %d", round))
				for _, m := range ds.members {
					if m.g.HasPendingCommit() {
						t.Fatalf("round %d: %s still has a pending Commit", round, m.name)
					}
				}
			}
			// Application messages flow in the final epoch.
			before := st.appReceived
			for _, m := range ds.members {
				ds.fanOut(gtMust(m.g.SendApplicationMessage([]byte("last"), nil))(t))
			}
			ds.deliver(&st)
			if got, want := st.appReceived-before, len(ds.members)*(len(ds.members)-1); got != want {
				t.Fatalf("%d application messages received in the last epoch, want %d", got, want)
			}
			if st.ownCommits != 9 || st.ownProposals == 0 || st.ownApplication == 0 {
				t.Fatalf("echoes seen: %+v; want 9 own Commits and some own proposals and application messages", st)
			}
		})
	}
}

// TestEchoForged checks that only the exact bytes of our own messages are
// taken as echoes: a Commit or proposal of another member that names our
// leaf, a modified copy of our pending Commit or of our own proposal, and
// our own Commit once cleared, are all refused, leaving the group as it was.
func TestEchoForged(t *testing.T) {
	for _, private := range []bool{false, true} {
		t.Run(fmt.Sprintf("private=%v", private), func(t *testing.T) {
			n := newGTNeg(t, nil)
			b := n.b
			if private {
				for _, m := range n.s.members {
					m.g.cfg.WireFormatPolicy = PureCiphertext()
				}
			}
			protect := n.public
			if private {
				protect = n.private
			}
			self := codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: uint32(b.g.OwnLeafIndex())}
			// b has a pending Commit and a proposal of its own.
			prop, _ := gtMust2(b.g.ProposeRemove(3))(t)
			res := gtMust(b.g.Commit(CommitOptions{ExcludePending: true, ForcePath: true}))(t)

			// c signs a Commit and a proposal naming b's leaf (c
			// knows every group secret, so it can protect them).
			// As a PublicMessage its signature does not verify with
			// b's key; as a PrivateMessage b cannot decrypt it (its own
			// keys of the generation are deleted).
			var forged error = RuleSignature
			if private {
				forged = ErrOwnMessage
			}
			fc := gtCommitFC(nil, nil)
			fc.Sender = self
			n.expect(b, protect(n.c, fc, n.tag()), forged)
			fp := gtProposalFC(gtRemove(3))
			fp.Sender = self
			n.expect(b, protect(n.c, fp, nil), forged)

			// Modified copies of b's own messages.
			for name, orig := range map[string][]byte{"commit": res.Commit, "proposal": prop} {
				for _, i := range []int{len(orig) - 1, len(orig) / 2} {
					mod := bytes.Clone(orig)
					mod[i] ^= 1
					before := gtSnapshot(b.g)
					pm, err := b.g.ProcessMessage(mod)
					if err == nil {
						t.Fatalf("%s modified at byte %d accepted (own %v)", name, i, pm.Own)
					}
					if after := gtSnapshot(b.g); after != before {
						t.Fatalf("%s modified at byte %d changed the group", name, i)
					}
				}
			}
			// The real echoes are recognised.
			pm := gtMust(b.g.ProcessMessage(prop))(t)
			if !pm.Own || pm.Kind != KindProposal {
				t.Fatalf("echo of own proposal: kind %d own %v", pm.Kind, pm.Own)
			}
			pm = gtMust(b.g.ProcessMessage(res.Commit))(t)
			if !pm.Own || pm.Kind != KindCommit || !pm.Commit.Own() {
				t.Fatalf("echo of own Commit: kind %d own %v", pm.Kind, pm.Own)
			}
			// Once the pending Commit is cleared, its echo is refused,
			// and the staged echo can no longer be merged.
			if err := b.g.ClearPendingCommit(); err != nil {
				t.Fatal(err)
			}
			if err := b.g.MergeStagedCommit(pm.Commit); !errors.Is(err, ErrStaleCommit) {
				t.Fatalf("merging the echo of a cleared Commit: %v", err)
			}
			n.expect(b, res.Commit, ErrOwnMessage)
			// Others process b's messages as usual.
			if pm := gtMust(n.d.g.ProcessMessage(prop))(t); pm.Own {
				t.Fatal("d sees b's proposal as its own")
			}
		})
	}
}

// TestEchoStateVersion3 loads a group whose state was written in format
// version 3 (no echo data): it loads, its pending Commit merges, and the
// next change writes version 4, which recognises echoes again.
func TestEchoStateVersion3(t *testing.T) {
	n := newGTNeg(t, nil)
	b := n.b
	prop, _ := gtMust2(b.g.ProposeRemove(3))(t)
	res := gtMust(b.g.Commit(CommitOptions{}))(t)
	_, data := gtMust2(b.c.Storage.ReadGroupState(b.g.GroupID()))(t)
	var rec record.GroupState
	if err := rec.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	if len(rec.Proposals) != 1 || rec.Proposals[0].MessageHash == nil || rec.PendingCommit == nil || rec.PendingCommit.MessageHash == nil {
		t.Fatal("version 4 record without the hashes of own messages")
	}
	v3 := record.GroupStateV3{Current: rec.Current, Config: rec.Config, Active: rec.Active, ReInit: rec.ReInit,
		SignerPublicKey: rec.SignerPublicKey, PastEpochs: rec.PastEpochs, ResumptionPsks: rec.ResumptionPsks}
	for _, p := range rec.Proposals {
		v3.Proposals = append(v3.Proposals, record.StoredProposalV3{Proposal: p.Proposal, Ref: p.Ref, Sender: p.Sender, Own: p.Own})
	}
	pc := rec.PendingCommit
	v3.PendingCommit = &record.PendingCommitV3{Next: pc.Next, Tree: pc.Tree, SecretTree: pc.SecretTree, ReInit: pc.ReInit, NewSignerPublicKey: pc.NewSignerPublicKey}
	enc := gtMust(v3.Marshal())(t)
	if err := b.c.Storage.Update(func(tx providers.Records) error { return tx.WriteGroupState(b.g.GroupID(), 3, enc) }); err != nil {
		t.Fatal(err)
	}
	g := gtMust(LoadGroup(b.c, b.g.GroupID()))(t)
	if info, ok := g.PendingCommit(); !ok || !info.Restored {
		t.Fatalf("pending Commit of a version-3 record: %v %+v", ok, info)
	}
	// Without the hashes the echoes are not recognised, but refused.
	if _, err := g.ProcessMessage(prop); !errors.Is(err, ErrOwnMessage) {
		t.Fatalf("echo of a proposal loaded from version 3: %v", err)
	}
	if _, err := g.ProcessMessage(res.Commit); !errors.Is(err, ErrOwnMessage) {
		t.Fatalf("echo of a Commit loaded from version 3: %v", err)
	}
	if err := g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.EpochAuthenticator(), b.g.pending.next.secrets.EpochAuthenticator) {
		t.Fatal("the pending Commit loaded from version 3 starts another epoch")
	}
	if v, _, err := b.c.Storage.ReadGroupState(b.g.GroupID()); err != nil || v != groupStateVersion {
		t.Fatalf("after a change: version %d, %v", v, err)
	}
}

// stPendingRemoves gives b a pending Commit (with a path if forcePath) of
// two Removes: c's proposal q of leaf 3, stored by reference, and its own
// of leaf 0, by value.
func stPendingRemoves(t *testing.T, forcePath bool) (*gtNeg, *QueuedProposal, *CommitResult) {
	t.Helper()
	n := newGTNeg(t, nil)
	prop, q := gtMust2(n.c.g.ProposeRemove(3))(t)
	gtMust(n.b.g.ProcessMessage(prop))(t)
	if err := n.b.g.StoreProposal(q); err != nil {
		t.Fatal(err)
	}
	return n, q, gtMust(n.b.g.Commit(CommitOptions{Remove: []LeafIndex{0}, ForcePath: forcePath}))(t)
}

// TestEchoPendingInfoReloaded checks that LoadGroup restores the
// description of a pending Commit (versions 4 and 5 store it), also through the
// echo's StagedCommit.
func TestEchoPendingInfoReloaded(t *testing.T) {
	n, q, res := stPendingRemoves(t, false)
	b := n.b
	want, _ := b.g.PendingCommit()
	g := gtMust(LoadGroup(b.c, b.g.GroupID()))(t)
	got, ok := g.PendingCommit()
	if !ok || got.Restored || fmt.Sprint(got.RemoveOperations) != fmt.Sprint(want.RemoveOperations) || len(got.Proposals) != 2 || !bytes.Equal(got.Proposals[0].Ref, q.Ref) {
		t.Fatalf("reloaded pending Commit info %+v, want %+v", got, want)
	}
	pm := gtMust(g.ProcessMessage(res.Commit))(t)
	if !pm.Own || fmt.Sprint(pm.Commit.RemovedLeaves()) != "[3 0]" || len(pm.Commit.RemoveOperations()) != 2 {
		t.Fatalf("echo after reload: own %v removed %v", pm.Own, pm.Commit.RemovedLeaves())
	}
	if err := g.MergeStagedCommit(pm.Commit); err != nil {
		t.Fatal(err)
	}
	if g.MemberCount() != 2 {
		t.Fatalf("%d members after the echo's merge", g.MemberCount())
	}
}

// TestEchoDecoded: an echo handed to Process already decoded (no received
// bytes to hash) is recognised as well, by its encoding.
func TestEchoDecoded(t *testing.T) {
	n := newGTNeg(t, nil)
	b := n.b
	prop, _ := gtMust2(b.g.ProposeRemove(3))(t)
	res := gtMust(b.g.Commit(CommitOptions{ExcludePending: true, ForcePath: true}))(t)
	for name, raw := range map[string][]byte{"proposal": prop, "commit": res.Commit} {
		var m codec.MLSMessage
		if err := m.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		pm, err := b.g.Process(&m)
		if err != nil || !pm.Own {
			t.Fatalf("%s: decoded echo not recognised: %v", name, err)
		}
	}
}

// stAsVersion4 rewrites b's stored GroupState, of the current version, as
// version 4 would have stored it: the pending Commit with the whole
// AuthenticatedContent of content (made by ac from the message that
// carried the Commit) instead of its proposals.
func stAsVersion4(t *testing.T, m *gtMember, content func(commit []byte) []byte, commit []byte) {
	t.Helper()
	_, data := gtMust2(m.c.Storage.ReadGroupState(m.g.GroupID()))(t)
	var rec record.GroupState
	if err := rec.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	pc := rec.PendingCommit
	if pc == nil || len(pc.Commit) == 0 || len(pc.MessageHash) == 0 {
		t.Fatal("no pending Commit with its proposals and message hash stored")
	}
	v4 := record.GroupStateV4{Current: rec.Current, Config: rec.Config, Active: rec.Active, ReInit: rec.ReInit,
		SignerPublicKey: rec.SignerPublicKey, Proposals: rec.Proposals, PastEpochs: rec.PastEpochs, ResumptionPsks: rec.ResumptionPsks,
		PendingCommit: &record.PendingCommitV4{Next: pc.Next, Tree: pc.Tree, SecretTree: pc.SecretTree, ReInit: pc.ReInit, NewSignerPublicKey: pc.NewSignerPublicKey,
			MessageHash: pc.MessageHash, Content: content(commit), AddedLeaves: pc.AddedLeaves, RemovedLeaves: pc.RemovedLeaves}}
	enc := gtMust(v4.Marshal())(t)
	if err := m.c.Storage.Update(func(tx providers.Records) error { return tx.WriteGroupState(m.g.GroupID(), 4, enc) }); err != nil {
		t.Fatal(err)
	}
}

// stContentOf is the AuthenticatedContent encoding of a PublicMessage.
func stContentOf(t *testing.T, msg []byte) []byte {
	t.Helper()
	var m codec.MLSMessage
	if err := m.Unmarshal(msg); err != nil || m.PublicMessage == nil {
		t.Fatalf("not a PublicMessage: %v", err)
	}
	ac := codec.AuthenticatedContent{WireFormat: codec.WireFormatMLSPublicMessage, Content: m.PublicMessage.Content, Auth: m.PublicMessage.Auth}
	return gtMust(ac.Marshal())(t)
}

// TestPendingCommitVersion4 loads a group whose pending Commit was stored
// in format version 4 (the Commit's whole AuthenticatedContent; version 5
// keeps its proposals only): its description is restored, its echo is
// recognised and merges into the epoch the Commit starts, and the next
// change writes the current version. The pending record of version 5 is
// smaller by the Commit's path, signature and tags.
func TestPendingCommitVersion4(t *testing.T) {
	n, q, res := stPendingRemoves(t, true)
	b := n.b
	want, _ := b.g.PendingCommit()
	wantAuth := b.g.pending.next.secrets.EpochAuthenticator
	_, v5 := gtMust2(b.c.Storage.ReadGroupState(b.g.GroupID()))(t)
	stAsVersion4(t, b, func(c []byte) []byte { return stContentOf(t, c) }, res.Commit)
	_, v4 := gtMust2(b.c.Storage.ReadGroupState(b.g.GroupID()))(t)
	content := stContentOf(t, res.Commit)
	if len(v5) > len(v4)-len(content)+64 {
		t.Errorf("version 5 record of %d bytes, version 4's %d with a content of %d", len(v5), len(v4), len(content))
	}
	g := gtMust(LoadGroup(b.c, b.g.GroupID()))(t)
	if v, _, _ := b.c.Storage.ReadGroupState(b.g.GroupID()); v != 4 {
		t.Fatalf("LoadGroup rewrote the version-4 record as version %d", v)
	}
	got, ok := g.PendingCommit()
	if !ok || got.Restored || fmt.Sprint(got.RemoveOperations) != fmt.Sprint(want.RemoveOperations) || len(got.Proposals) != 2 || !bytes.Equal(got.Proposals[0].Ref, q.Ref) {
		t.Fatalf("pending Commit of a version-4 record: %+v, want %+v", got, want)
	}
	pm := gtMust(g.ProcessMessage(res.Commit))(t)
	if !pm.Own || fmt.Sprint(pm.Commit.RemovedLeaves()) != "[3 0]" {
		t.Fatalf("echo of a Commit loaded from version 4: own %v removed %v", pm.Own, pm.Commit.RemovedLeaves())
	}
	if err := g.MergeStagedCommit(pm.Commit); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.EpochAuthenticator(), wantAuth) || g.MemberCount() != 2 {
		t.Fatal("the pending Commit loaded from version 4 starts another epoch")
	}
	if v, _, err := b.c.Storage.ReadGroupState(b.g.GroupID()); err != nil || v != groupStateVersion {
		t.Fatalf("after the merge: version %d, %v", v, err)
	}
	gtMust(LoadGroup(b.c, b.g.GroupID()))(t)
}

// TestPendingCommitRecordCorrupt: a pending Commit record whose Commit
// (version 5) or content (version 4) does not decode, or is not what it
// must be, fails LoadGroup with ErrCorruptState and leaves the stored
// record as it was.
func TestPendingCommitRecordCorrupt(t *testing.T) {
	n := newGTNeg(t, nil)
	b := n.b
	res := gtMust(b.g.Commit(CommitOptions{Remove: []LeafIndex{3}}))(t)
	id := b.g.GroupID()
	_, good := gtMust2(b.c.Storage.ReadGroupState(id))(t)
	var rec record.GroupState
	if err := rec.Unmarshal(bytes.Clone(good)); err != nil {
		t.Fatal(err)
	}
	prop, _ := gtMust2(n.c.g.ProposeRemove(3))(t)
	withPath := n.realCommit(n.c, CommitOptions{ForcePath: true, ExcludePending: true}).Content.Commit
	v5 := map[string]func(pc *record.PendingCommit){
		"commit garbage":          func(pc *record.PendingCommit) { pc.Commit = []byte{7, 7, 7} },
		"commit truncated":        func(pc *record.PendingCommit) { pc.Commit = pc.Commit[:len(pc.Commit)-1] },
		"commit with a path":      func(pc *record.PendingCommit) { pc.Commit = gtMust(withPath.Marshal())(t) },
		"commit without its hash": func(pc *record.PendingCommit) { pc.MessageHash = nil },
		"hash without its commit": func(pc *record.PendingCommit) { pc.Commit = nil },
		"hash of the wrong size":  func(pc *record.PendingCommit) { pc.MessageHash = pc.MessageHash[1:] },
		"unknown proposal referred": func(pc *record.PendingCommit) {
			pc.Commit = gtMust((&codec.Commit{Proposals: []codec.ProposalOrRef{{Type: codec.ProposalOrRefTypeReference, Reference: make([]byte, 32)}}}).Marshal())(t)
		},
	}
	check := func(name string, version uint16, enc []byte) {
		t.Helper()
		if err := b.c.Storage.Update(func(tx providers.Records) error { return tx.WriteGroupState(id, version, enc) }); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadGroup(b.c, id); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: LoadGroup: %v, want ErrCorruptState", name, err)
		}
		if v, got, _ := b.c.Storage.ReadGroupState(id); v != version || !bytes.Equal(got, enc) {
			t.Errorf("%s: the stored record changed", name)
		}
	}
	for name, mutate := range v5 {
		var r record.GroupState
		if err := r.Unmarshal(bytes.Clone(good)); err != nil {
			t.Fatal(err)
		}
		mutate(r.PendingCommit)
		check(name, groupStateVersion, gtMust(r.Marshal())(t))
	}
	v4 := map[string]func(commit []byte) []byte{
		"content garbage":              func([]byte) []byte { return []byte{1, 2, 3} },
		"content truncated":            func(c []byte) []byte { b := stContentOf(t, c); return b[:len(b)-1] },
		"content of a proposal":        func([]byte) []byte { return stContentOf(t, prop) },
		"content with a trailing byte": func(c []byte) []byte { return append(stContentOf(t, c), 0) },
	}
	for name, content := range v4 {
		if err := b.c.Storage.Update(func(tx providers.Records) error { return tx.WriteGroupState(id, groupStateVersion, good) }); err != nil {
			t.Fatal(err)
		}
		stAsVersion4(t, b, content, res.Commit)
		_, enc := gtMust2(b.c.Storage.ReadGroupState(id))(t)
		check("version 4: "+name, 4, enc)
	}
	// The record as it was loads.
	if err := b.c.Storage.Update(func(tx providers.Records) error { return tx.WriteGroupState(id, groupStateVersion, good) }); err != nil {
		t.Fatal(err)
	}
	if g := gtMust(LoadGroup(b.c, id))(t); !g.HasPendingCommit() {
		t.Fatal("the pending Commit did not load")
	}
}
