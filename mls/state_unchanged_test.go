package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/codec"
)

// A message that fails processing leaves the group as it was (ARCHITECTURE.md:
// "a message that fails any check leaves the group exactly as it was";
// RFC 9420 §12.4.2):
// epoch, epoch authenticator, members, tree hash, proposal store, exporter,
// and the bytes the group stored; and the next valid message processes.

// gtFullSnapshot is gtSnapshot plus what the group wrote to storage: the
// group state record and, if withSecrets, the current epoch's secret tree
// record (a PrivateMessage that authenticates consumes a key even when its
// content is then refused, §9.2, so that record is compared only for
// failures before authentication).
func gtFullSnapshot(t testing.TB, m *gtMember, withSecrets bool) string {
	t.Helper()
	s := gtSnapshot(m.g)
	_, st, err := m.c.Storage.ReadGroupState(m.g.GroupID())
	if err != nil {
		t.Fatalf("reading the stored group state: %v", err)
	}
	s += fmt.Sprintf("stored state %x\n", st)
	if withSecrets {
		sec, err := m.c.Storage.ReadEpochSecrets(m.g.GroupID(), m.g.Epoch())
		if err != nil {
			t.Fatalf("reading the stored epoch secrets: %v", err)
		}
		s += fmt.Sprintf("stored secrets %x\n", sec)
	}
	return s
}

// gtRefused processes msg at m, expects an error and an unchanged state.
func gtRefused(t testing.TB, m *gtMember, msg []byte, withSecrets bool, what string) {
	t.Helper()
	before := gtFullSnapshot(t, m, withSecrets)
	pm, err := m.g.ProcessMessage(msg)
	if err == nil {
		t.Fatalf("%s: accepted (kind %d)", what, pm.Kind)
	}
	if after := gtFullSnapshot(t, m, withSecrets); after != before {
		t.Fatalf("%s: state changed by a refused message (%v):\n%s\nwant\n%s", what, err, after, before)
	}
	// What is stored loads back to the same group.
	lg, err := LoadGroup(m.c, m.g.GroupID())
	if err != nil {
		t.Fatalf("%s: LoadGroup: %v", what, err)
	}
	if gtSnapshot(lg) != gtSnapshot(m.g) {
		t.Fatalf("%s: stored group differs from the group in memory", what)
	}
}

// gtMutations yields tampered and truncated versions of msg: every byte
// flipped (every step-th position for long messages) and prefixes.
func gtMutations(msg []byte, f func(what string, m []byte)) {
	step := 1
	if len(msg) > 400 {
		step = len(msg) / 200
	}
	for i := 0; i < len(msg); i += step {
		m := bytes.Clone(msg)
		m[i] ^= 0x01
		f(fmt.Sprintf("byte %d flipped", i), m)
	}
	for n := 0; n < len(msg); n += step {
		f(fmt.Sprintf("truncated to %d bytes", n), msg[:n])
	}
	f("trailing byte", append(bytes.Clone(msg), 0))
}

// TestStateUnchangedTampered: every tampering and truncation of a real
// Commit, proposal and application message, in both wire formats, is
// refused without any change; the original messages then process.
func TestStateUnchangedTampered(t *testing.T) {
	for _, pol := range []struct {
		name string
		p    WireFormatPolicy
	}{{"ciphertext", PureCiphertext()}, {"plaintext", PurePlaintext()}} {
		t.Run(pol.name, func(t *testing.T) {
			s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true, WireFormatPolicy: pol.p})
			a := s.members[0]
			s.add(a, 3, false)
			b, c := s.members[1], s.members[2]
			// b has a proposal in its store: it must survive the failures.
			prop, _ := gtMust2(c.g.ProposeRemove(3))(t)
			s.broadcast(c, prop)

			app := gtMust(a.g.SendApplicationMessage([]byte("app"), []byte("ad")))(t)
			upd, _ := gtMust2(a.g.ProposeSelfUpdate(nil))(t)
			res := gtMust(a.g.Commit(CommitOptions{ForcePath: true, ExcludePending: true}))(t)
			n := 0
			for _, msg := range [][]byte{app, upd, res.Commit} {
				gtMutations(msg, func(what string, m []byte) {
					n++
					gtRefused(t, b, m, true, what)
				})
			}
			t.Logf("%d tampered or truncated messages refused, state unchanged", n)
			// The originals still process.
			for _, m := range s.members[1:] {
				pm := gtMust(m.g.ProcessMessage(app))(t)
				if string(pm.ApplicationData) != "app" || string(pm.AuthenticatedData) != "ad" {
					t.Fatalf("%s: application message lost", m.name)
				}
			}
			s.broadcast(a, upd)
			s.applyCommit(a, res)
		})
	}
}

// TestStateUnchangedInvalid: authenticated but invalid messages — bad
// signature, wrong or old epoch, invalid commits of several kinds, a commit
// with a wrong confirmation tag (refused only after the whole next epoch
// was computed) — change nothing; the next valid commit processes.
func TestStateUnchangedInvalid(t *testing.T) {
	n := newGTNeg(t, nil)
	// b has a stored proposal.
	prop, _ := gtMust2(n.c.g.ProposeRemove(3))(t)
	n.deliver(n.b, prop)
	n.deliver(n.a, prop)
	n.deliver(n.d, prop)

	check := func(what string, msg []byte) {
		t.Helper()
		gtRefused(t, n.b, msg, true, what)
	}
	// Bad signature.
	ac := n.sign(n.a, codec.WireFormatMLSPublicMessage, gtProposalFC(gtRemove(2)), nil)
	ac.Auth.Signature[3] ^= 0x80
	check("bad signature", gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSPublicMessage, PublicMessage: gtMust(n.a.g.epoch.protector.ProtectPublic(ac))(t)}).Marshal())(t))
	// Wrong epochs.
	var m codec.MLSMessage
	_ = m.Unmarshal(n.public(n.a, gtProposalFC(gtRemove(2)), nil))
	m.PublicMessage.Content.Epoch += 5
	check("future epoch", gtMust(m.Marshal())(t))
	// Invalid commits.
	check("commit removing its committer", n.public(n.a, gtCommitFC(gtInline(gtRemove(0)), n.dummyPath(n.a)), n.tag()))
	check("commit without path", n.public(n.a, gtCommitFC(gtInline(gtRemove(2)), nil), n.tag()))
	check("commit with unknown reference", n.public(n.a, gtCommitFC([]codec.ProposalOrRef{gtRef(bytes.Repeat([]byte{1}, n.cs.HashSize()))}, n.dummyPath(n.a)), n.tag()))
	pm := n.realCommit(n.a, CommitOptions{ForcePath: true, ExcludePending: true})
	pm.Auth.ConfirmationTag = n.tag()
	check("wrong confirmation tag", n.resign(n.a, pm))
	pm = n.realCommit(n.a, CommitOptions{ForcePath: true, Add: []*codec.KeyPackage{n.otherKP("x", nil)}})
	for i := range pm.Content.Commit.Path.Nodes[0].EncryptedPathSecret {
		pm.Content.Commit.Path.Nodes[0].EncryptedPathSecret[i].Ciphertext[0] ^= 1
	}
	check("undecryptable path", n.resign(n.a, pm))
	check("external commit with two ExternalInits", func() []byte {
		j, pm := n.externalCommit(nil)
		pm.Content.Commit.Proposals = append(pm.Content.Commit.Proposals, pm.Content.Commit.Proposals[0])
		return n.external(j.Signer, pm.Content, pm.Auth.ConfirmationTag)
	}())
	// A message of the old epoch after a valid commit.
	old := n.public(n.a, gtProposalFC(gtRemove(2)), nil)
	res := gtMust(n.d.g.Commit(CommitOptions{ForcePath: true, ExcludePending: true}))(t)
	n.s.applyCommit(n.d, res)
	check("old epoch", old)
	// Our own pending commit survives a refused message and merges.
	res = gtMust(n.b.g.SelfUpdate(nil))(t)
	check("refused while a commit is pending", n.public(n.a, gtCommitFC(gtInline(gtRemove(1)), nil), n.tag()))
	n.s.applyCommit(n.b, res)
	n.s.sendApp(n.b, []byte("still fine"), nil)
}

// TestStateUnchangedPrivateInvalid: an authenticated PrivateMessage whose
// content is invalid is refused without changing the group (its key of the
// secret tree is consumed, as §9.2 requires, and nothing else); later
// messages of the same sender still decrypt.
func TestStateUnchangedPrivateInvalid(t *testing.T) {
	n := newGTNeg(t, nil)
	for _, m := range n.s.members {
		m.g.cfg.WireFormatPolicy = MixedCiphertext()
	}
	for _, c := range []struct {
		what string
		fc   codec.FramedContent
	}{
		{"commit removing its committer", gtCommitFC(gtInline(gtRemove(0)), n.dummyPath(n.a))},
		{"remove of a blank leaf", gtProposalFC(gtRemove(9))},
		{"unsupported proposal", gtProposalFC(&codec.Proposal{ProposalType: 0x0a0a})},
	} {
		var tag []byte
		if c.fc.ContentType == codec.ContentTypeCommit {
			tag = n.tag()
		}
		gtRefused(t, n.b, n.private(n.a, c.fc, tag), false, c.what)
	}
	n.s.sendApp(n.a, []byte("after"), nil)
	n.s.applyCommit(n.a, gtMust(n.a.g.SelfUpdate(nil))(t))
}

// TestStateUnchangedLocalErrors: API calls with bad input fail with a clear
// error and change nothing (package doc: a failed step leaves the group exactly as it was).
func TestStateUnchangedLocalErrors(t *testing.T) {
	n := newGTNeg(t, nil)
	a, b := n.a, n.b
	other := gtNewClient(t, n.s.p, codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519, "x")
	wrongSuiteKP := gtKeyPackage(t, other, codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519)
	unknownPSK := gtMust(NewExternalPSKID(n.s.p, n.cs, []byte("nope")))(t)
	// A staged commit of b that goes stale once another commit merges.
	staleRes := gtMust(a.g.SelfUpdate(nil))(t)
	stale := gtMust(b.g.ProcessMessage(staleRes.Commit))(t).Commit
	if err := a.g.ClearPendingCommit(); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		what string
		m    *gtMember
		want error
		call func() error
	}{
		{"AddMembers(nil)", a, ErrInvalidArgument, func() error { _, err := a.g.AddMembers(nil); return err }},
		{"AddMembers(other suite)", a, RuleAddSuiteOrVersion, func() error { _, err := a.g.AddMembers(wrongSuiteKP); return err }},
		{"RemoveMembers(self)", a, RuleCommitterRemoved, func() error { _, err := a.g.RemoveMembers(0); return err }},
		{"RemoveMembers(blank)", a, RuleRemoveNotMember, func() error { _, err := a.g.RemoveMembers(7); return err }},
		{"RemoveMembers twice", a, RuleRemoveDuplicate, func() error { _, err := a.g.RemoveMembers(2, 2); return err }},
		{"Commit with unknown PSK", a, RulePSKAvailable, func() error {
			_, err := a.g.Commit(CommitOptions{PSKs: []codec.PreSharedKeyID{unknownPSK}})
			return err
		}},
		{"ProposeAdd(nil)", a, ErrInvalidArgument, func() error { _, _, err := a.g.ProposeAdd(nil); return err }},
		{"ProposeAdd(other suite)", a, RuleAddSuiteOrVersion, func() error { _, _, err := a.g.ProposeAdd(wrongSuiteKP); return err }},
		{"ProposeRemove(blank)", a, ErrUnknownMember, func() error { _, _, err := a.g.ProposeRemove(9); return err }},
		{"ProposePSK(unknown)", a, RulePSKAvailable, func() error { _, _, err := a.g.ProposePSK(unknownPSK); return err }},
		{"ProposeSelfUpdate(new signer)", a, ErrInvalidArgument, func() error {
			_, _, err := a.g.ProposeSelfUpdate(&LeafNodeOptions{Signer: gtMust(GenerateSignatureKeyPair(n.s.p, n.s.suite))(t)})
			return err
		}},
		{"ProposeGroupContextExtensions(unsupported)", a, RuleGroupContextExtensionsUnsupported, func() error {
			_, _, err := a.g.ProposeGroupContextExtensions([]codec.Extension{{ExtensionType: 0xff00}})
			return err
		}},
		{"MergePendingCommit without one", a, ErrNoPendingCommit, func() error { return a.g.MergePendingCommit() }},
		{"ClearPendingCommit without one", a, ErrNoPendingCommit, func() error { return a.g.ClearPendingCommit() }},
		{"MergeStagedCommit(nil)", b, ErrStaleCommit, func() error { return b.g.MergeStagedCommit(nil) }},
		{"MergeStagedCommit of another group", n.c, ErrStaleCommit, func() error { return n.c.g.MergeStagedCommit(stale) }},
		{"StoreProposal(nil)", b, ErrInvalidArgument, func() error { return b.g.StoreProposal(nil) }},
		{"RemovePendingProposal(unknown)", b, ErrUnknownProposal, func() error { return b.g.RemovePendingProposal([]byte("x")) }},
		{"ProcessMessage(nil)", b, nil, func() error { _, err := b.g.ProcessMessage(nil); return err }},
		{"ProcessMessage(KeyPackage)", b, nil, func() error {
			_, err := b.g.ProcessMessage(gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSKeyPackage, KeyPackage: wrongSuiteKP}).Marshal())(t))
			return err
		}},
	}
	for _, c := range calls {
		before := gtFullSnapshot(t, c.m, true)
		err := c.call()
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Fatalf("%s: %v, want %v", c.what, err, c.want)
		}
		if after := gtFullSnapshot(t, c.m, true); after != before {
			t.Fatalf("%s changed the state:\n%s\nwant\n%s", c.what, after, before)
		}
	}
	// After another commit merges, b's staged commit is stale.
	n.s.applyCommit(n.d, gtMust(n.d.g.SelfUpdate(nil))(t))
	if err := b.g.MergeStagedCommit(stale); !errors.Is(err, ErrStaleCommit) {
		t.Fatalf("merging a stale commit: %v", err)
	}
	n.s.sendApp(b, []byte("fine"), nil)
	// Nil and incomplete clients.
	if _, _, err := JoinByExternalCommit(nil, nil, nil, GroupConfig{}, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("JoinByExternalCommit(nil client): %v", err)
	}
	if _, err := NewGroup(&Client{}, n.s.suite, GroupConfig{}, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NewGroup(empty client): %v", err)
	}
}
