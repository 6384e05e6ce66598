package mls

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
)

// Finding 5 of issue 10 (RFC 9420 §5.3.1): a member's new credential in an
// Update proposal or a Commit's path leaf must be a valid successor of its
// old one; without an application policy, the identity must not change.

// gtAnySuccessor accepts every credential and every successor: a member
// whose application allows identity changes (or an attacker that skips the
// check on its side).
type gtAnySuccessor struct{ BasicCredentialValidator }

func (gtAnySuccessor) ValidateSuccessor(codec.CipherSuite, Credential, Credential) error { return nil }

// gtRenameSuccessor allows exactly the rename "m1" → "m1-renamed".
type gtRenameSuccessor struct{ BasicCredentialValidator }

func (gtRenameSuccessor) ValidateSuccessor(_ codec.CipherSuite, old, new Credential) error {
	if string(old.Identity()) == "m1" && string(new.Identity()) == "m1-renamed" {
		return nil
	}
	return errors.New("rename not allowed")
}

// TestSuccessorUpdateProposal: b proposes an Update whose leaf carries c's
// identity; the other members refuse it (regression: it was accepted).
func TestSuccessorUpdateProposal(t *testing.T) {
	n := newGTNeg(t, nil)
	stolen := n.c.g.Credential().Wire()
	p := n.update(n.b, func(ln *codec.LeafNode) { ln.Credential = stolen })
	msg := n.public(n.b, gtProposalFC(p), nil)
	n.expect(n.a, msg, RuleCredentialSuccessor)
	n.expect(n.d, msg, RuleCredentialSuccessor)

	// A changed credential of another type is refused too.
	p = n.update(n.b, func(ln *codec.LeafNode) {
		ln.Credential = codec.Credential{CredentialType: codec.CredentialTypeX509, Certificates: []codec.Certificate{{CertData: []byte{1}}}}
	})
	n.expect(n.a, n.public(n.b, gtProposalFC(p), nil), RuleCredentialSuccessor)

	// The same identity with a fresh key is an ordinary Update.
	p = n.update(n.b, nil)
	n.deliver(n.a, n.public(n.b, gtProposalFC(p), nil))

	// Our own side refuses to propose another identity.
	other := NewBasicCredential([]byte("m3"))
	if _, _, err := n.b.g.ProposeSelfUpdate(&LeafNodeOptions{Credential: &other}); !errors.Is(err, RuleCredentialSuccessor) {
		t.Fatalf("ProposeSelfUpdate with another identity: %v", err)
	}
}

// TestSuccessorCommitPath: a Commit whose path leaf changes the committer's
// identity is refused by our side when creating it and by receivers.
func TestSuccessorCommitPath(t *testing.T) {
	n := newGTNeg(t, nil)
	stolen := n.c.g.Credential()
	if _, err := n.b.g.SelfUpdate(&LeafNodeOptions{Credential: &stolen}); !errors.Is(err, RuleCredentialSuccessor) {
		t.Fatalf("SelfUpdate taking c's identity: %v", err)
	}
	if n.b.g.HasPendingCommit() {
		t.Fatal("a refused Commit is pending")
	}
	// b's application allows any change; the receivers' default does not.
	n.b.g.validator = gtAnySuccessor{}
	res, err := n.b.g.SelfUpdate(&LeafNodeOptions{Credential: &stolen})
	if err != nil {
		t.Fatal(err)
	}
	n.expect(n.a, res.Commit, RuleCredentialSuccessor)
	n.expect(n.c, res.Commit, RuleCredentialSuccessor)
	if err := n.b.g.ClearPendingCommit(); err != nil {
		t.Fatal(err)
	}

	// The same identity in a new credential value is not a change.
	same := n.b.g.Credential()
	res = gtMust(n.b.g.SelfUpdate(&LeafNodeOptions{Credential: &same}))(t)
	n.s.applyCommit(n.b, res)
}

// TestSuccessorApplicationPolicy: a CredentialSuccessorValidator decides
// instead of the default, on every side.
func TestSuccessorApplicationPolicy(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true})
	s.members[0].c.CredentialValidator = gtRenameSuccessor{}
	s.members[0].g.validator = gtRenameSuccessor{}
	s.add(s.members[0], 2, false)
	for _, m := range s.members {
		m.c.CredentialValidator = gtRenameSuccessor{}
		m.g.validator = gtRenameSuccessor{}
	}
	m1 := s.members[1]
	renamed := NewBasicCredential([]byte("m1-renamed"))
	res := gtMust(m1.g.SelfUpdate(&LeafNodeOptions{Credential: &renamed}))(t)
	s.applyCommit(m1, res)
	if got := string(m1.g.Credential().Identity()); got != "m1-renamed" {
		t.Fatalf("identity %q after the rename", got)
	}
	// The policy refuses anything else.
	back := NewBasicCredential([]byte("m1"))
	if _, err := m1.g.SelfUpdate(&LeafNodeOptions{Credential: &back}); !errors.Is(err, RuleCredentialSuccessor) {
		t.Fatalf("rename back: %v", err)
	}
}

// TestSameIdentity: the default policy per credential type.
func TestSameIdentity(t *testing.T) {
	ca := newTestCA(t)
	pub1, _, _ := ed25519.GenerateKey(rand.Reader)
	pub2, _, _ := ed25519.GenerateKey(rand.Reader)
	alice1 := gtMust(NewX509Credential([][]byte{ca.issue(t, "alice", pub1)}))(t)
	alice2 := gtMust(NewX509Credential([][]byte{ca.issue(t, "alice", pub2)}))(t)
	bob := gtMust(NewX509Credential([][]byte{ca.issue(t, "bob", pub2)}))(t)
	garbage := gtMust(NewX509Credential([][]byte{{1, 2, 3}}))(t)
	other := func(data string) Credential {
		return CredentialFromWire(&codec.Credential{CredentialType: 0xf000, CredentialData: []byte(data)})
	}
	for _, c := range []struct {
		name     string
		old, new Credential
		ok       bool
	}{
		{"basic same", NewBasicCredential([]byte("a")), NewBasicCredential([]byte("a")), true},
		{"basic other", NewBasicCredential([]byte("a")), NewBasicCredential([]byte("b")), false},
		{"type change", NewBasicCredential([]byte("alice")), alice1, false},
		{"x509 new key, same subject", alice1, alice2, true},
		{"x509 other subject", alice1, bob, false},
		{"x509 unparsable", alice1, garbage, false},
		{"other type same", other("x"), other("x"), true},
		{"other type changed", other("x"), other("y"), false},
	} {
		if err := SameIdentity(c.old, c.new); (err == nil) != c.ok {
			t.Errorf("%s: SameIdentity = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// TestExternalCommitRemoveSuccessor (finding 6): an outsider with the
// GroupInfo cannot evict a member by an external Commit that removes it
// (RFC 9420 §12.4.3.2): our side refuses to build it, receivers refuse it.
// The member itself can still resync.
func TestExternalCommitRemoveSuccessor(t *testing.T) {
	n := newGTNeg(t, nil)
	victim := n.c.g.OwnLeafIndex()
	gi := gtMust(n.a.g.GroupInfo(true))(t)
	mallory := gtNewClient(t, n.s.p, n.s.suite, "mallory")
	if _, _, err := JoinByExternalCommit(mallory, gi, nil, n.s.cfg, &ExternalCommitOptions{RemoveLeaf: &victim}); !errors.Is(err, RuleCredentialSuccessor) {
		t.Fatalf("external commit removing another member: %v", err)
	}
	// An attacker skipping that check: every member refuses the Commit.
	mallory.CredentialValidator = gtAnySuccessor{}
	_, commit, err := JoinByExternalCommit(mallory, gi, nil, n.s.cfg, &ExternalCommitOptions{RemoveLeaf: &victim})
	if err != nil {
		t.Fatal(err)
	}
	n.expect(n.a, commit, RuleCredentialSuccessor)
	n.expect(n.b, commit, RuleCredentialSuccessor)
	n.expect(n.c, commit, RuleCredentialSuccessor)
	// Without a Remove the outsider just joins (if the application allows
	// external joins at all).
	_, commit, err = JoinByExternalCommit(gtNewClient(t, n.s.p, n.s.suite, "carol"), gi, nil, n.s.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pm, err := n.b.g.ProcessMessage(commit); err != nil || pm.Kind != KindCommit {
		t.Fatalf("plain external join: %v", err)
	}
	// The victim's own resync (same identity, new key) is accepted.
	again := gtNewClient(t, n.s.p, n.s.suite, n.c.name)
	_, commit, err = JoinByExternalCommit(again, gi, nil, n.s.cfg, &ExternalCommitOptions{RemoveLeaf: &victim})
	if err != nil {
		t.Fatal(err)
	}
	if pm, err := n.b.g.ProcessMessage(commit); err != nil || pm.Kind != KindCommit {
		t.Fatalf("resync: %v", err)
	}
}
