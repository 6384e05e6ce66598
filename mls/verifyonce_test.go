package mls

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// verifyLog is a provider whose cipher suites record the public key of
// every signature verification.
type verifyLog struct {
	providers.Provider
	mu   sync.Mutex
	keys [][]byte
}

type verifyLogSuite struct {
	providers.CipherSuite
	log *verifyLog
}

func (p *verifyLog) CipherSuite(id codec.CipherSuite) (providers.CipherSuite, error) {
	cs, err := p.Provider.CipherSuite(id)
	if err != nil {
		return nil, err
	}
	return &verifyLogSuite{CipherSuite: cs, log: p}, nil
}

func (s *verifyLogSuite) Verify(pub, msg, sig []byte) error {
	s.log.mu.Lock()
	s.log.keys = append(s.log.keys, bytes.Clone(pub))
	s.log.mu.Unlock()
	return s.CipherSuite.Verify(pub, msg, sig)
}

// verifiedBy reports whether a verification with key was recorded since
// the log was last reset, and resets it.
func (p *verifyLog) verifiedBy(key []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	found := false
	for _, k := range p.keys {
		found = found || bytes.Equal(k, key)
	}
	p.keys = nil
	return found
}

// newVerifyOnceGroup is a group of a (creator), b, c and d, where d's
// provider logs its signature verifications.
func newVerifyOnceGroup(t *testing.T) (s *gtSim, log *verifyLog) {
	t.Helper()
	s = newGTSim(t, gtSuites[0], GroupConfig{WireFormatPolicy: PurePlaintext(), UseRatchetTreeExtension: true})
	var kps []*codec.KeyPackage
	var js []*gtMember
	for i := range 3 {
		if i == 2 {
			log = &verifyLog{Provider: s.p}
			s.p = log
		}
		j := s.newClient()
		js = append(js, j)
		kps = append(kps, gtKeyPackageCaps(t, j.c, s.suite, nil))
	}
	res := gtMust(s.members[0].g.Commit(CommitOptions{Add: kps}))(t)
	s.applyCommit(s.members[0], res, js...)
	return s, log
}

// TestUpdateLeafVerifiedOnce: an Update proposal's leaf signature is
// verified when the proposal is processed, and not again when a Commit
// covers it by reference (RFC 9420 §12.1.2, §12.4.2).
func TestUpdateLeafVerifiedOnce(t *testing.T) {
	s, log := newVerifyOnceGroup(t)
	a, b, c, d := s.members[0], s.members[1], s.members[2], s.members[3]
	prop, _, err := b.g.ProposeSelfUpdate(nil)
	if err != nil {
		t.Fatal(err)
	}
	bKey := b.g.OwnLeafNode().SignatureKey
	for _, m := range []*gtMember{a, c, d} {
		pm, err := m.g.ProcessMessage(prop)
		if err != nil || pm.Kind != KindProposal {
			t.Fatalf("%s: proposal: %v", m.name, err)
		}
		if err := m.g.StoreProposal(pm.Proposal); err != nil {
			t.Fatal(err)
		}
	}
	if !log.verifiedBy(bKey) {
		t.Fatal("processing b's Update verified nothing with b's key")
	}
	res := gtMust(c.g.CommitPendingProposals())(t)
	pm, err := d.g.ProcessMessage(res.Commit)
	if err != nil || pm.Kind != KindCommit {
		t.Fatalf("d processing the Commit: %v", err)
	}
	if log.verifiedBy(bKey) {
		t.Fatal("the Update's leaf signature was verified again at the Commit")
	}
	if err := d.g.MergeStagedCommit(pm.Commit); err != nil {
		t.Fatal(err)
	}
	if got, want := d.g.epoch.tree.Leaf(1).EncryptionKey, b.g.epoch.tree.Leaf(1).EncryptionKey; bytes.Equal(got, want) {
		// b has not merged; its tree still has the old key.
		t.Fatal("d's tree kept b's old encryption key")
	}
}

// TestUpdateLeafChangedAfterVerification: a stored Update proposal whose
// leaf was changed after its signature was verified is verified again
// when a Commit covers it, and refused (the verification is tied to the
// leaf's exact bytes and to the sender's leaf).
func TestUpdateLeafChangedAfterVerification(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(q *QueuedProposal)
	}{
		{"signature", func(q *QueuedProposal) {
			sig := bytes.Clone(q.Proposal.Update.LeafNode.Signature)
			sig[0] ^= 1
			q.Proposal.Update.LeafNode.Signature = sig
		}},
		{"field", func(q *QueuedProposal) {
			key := bytes.Clone(q.Proposal.Update.LeafNode.EncryptionKey)
			key[len(key)-1] ^= 1
			q.Proposal.Update.LeafNode.EncryptionKey = key
		}},
		{"leaf", func(q *QueuedProposal) { q.verified.leaf++ }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, log := newVerifyOnceGroup(t)
			a, b, c, d := s.members[0], s.members[1], s.members[2], s.members[3]
			prop, _, err := b.g.ProposeSelfUpdate(nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []*gtMember{a, c, d} {
				pm, err := m.g.ProcessMessage(bytes.Clone(prop))
				if err != nil || pm.Kind != KindProposal {
					t.Fatalf("%s: proposal: %v", m.name, err)
				}
				if m == d {
					// A copy, so that the tampering stays d's.
					p := *pm.Proposal.Proposal
					u := *p.Update
					p.Update = &u
					pm.Proposal.Proposal = &p
					tc.tamper(pm.Proposal)
				}
				if err := m.g.StoreProposal(pm.Proposal); err != nil {
					t.Fatal(err)
				}
			}
			log.verifiedBy(nil)
			res := gtMust(c.g.CommitPendingProposals())(t)
			before := gtSnapshot(d.g)
			_, err = d.g.ProcessMessage(res.Commit)
			if tc.name == "leaf" {
				// The leaf itself is intact: verified again, and accepted.
				if err != nil {
					t.Fatalf("Commit refused: %v", err)
				}
			} else if !errors.Is(err, RuleLeafNodeSignature) {
				t.Fatalf("got %v, want %v", err, RuleLeafNodeSignature)
			}
			if !log.verifiedBy(b.g.OwnLeafNode().SignatureKey) {
				t.Fatal("the changed Update's leaf was not verified again")
			}
			if after := gtSnapshot(d.g); after != before {
				t.Fatal("a refused Commit changed the group")
			}
		})
	}
}

// badLeafSigner signs everything correctly but LeafNodeTBS, whose
// signatures it corrupts.
type badLeafSigner struct{ providers.Signer }

func (s badLeafSigner) Sign(msg []byte) ([]byte, error) {
	sig, err := s.Signer.Sign(msg)
	if err == nil && bytes.Contains(msg, []byte("MLS 1.0 LeafNodeTBS")) {
		sig[0] ^= 1
	}
	return sig, err
}

// TestJoinBadSignerLeaf: a Welcome whose GroupInfo is validly signed by a
// member whose own leaf signature is not valid is refused: the joiner
// verifies every leaf but its own, the GroupInfo signer's included (RFC 9420
// §12.4.3.1).
func TestJoinBadSignerLeaf(t *testing.T) {
	for _, withPath := range []bool{false, true} {
		s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true})
		c := gtNewClient(t, s.p, s.suite, "bad")
		c.Signer = badLeafSigner{c.Signer}
		g, err := NewGroup(c, s.suite, GroupConfig{UseRatchetTreeExtension: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		j := s.newClient()
		kp := gtKeyPackage(t, j.c, s.suite)
		res, err := g.Commit(CommitOptions{Add: []*codec.KeyPackage{kp}, ForcePath: withPath})
		if err != nil {
			// Refusing our own bad leaf at the Commit is also safe.
			t.Logf("path=%v: Commit: %v", withPath, err)
			continue
		}
		if _, err := JoinFromWelcome(j.c, res.Welcome, nil, GroupConfig{}); !errors.Is(err, RuleLeafNodeSignature) {
			t.Fatalf("path=%v: join: got %v, want %v", withPath, err, RuleLeafNodeSignature)
		}
	}
}

// TestLeafSizeBound: leafSizeBound is at least the size of a leaf's
// encoding, for an ordinary leaf and for leaves with large or many fields,
// so that the leaves Stage verifies before the GroupInfo stay within its
// bound.
func TestLeafSizeBound(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{})
	base := gtKeyPackage(t, s.members[0].c, s.suite).LeafNode
	for name, mod := range map[string]func(ln *codec.LeafNode){
		"ordinary": func(*codec.LeafNode) {},
		"identity": func(ln *codec.LeafNode) { ln.Credential.Identity = make([]byte, 70000) },
		"certificates": func(ln *codec.LeafNode) {
			ln.Credential = codec.Credential{CredentialType: codec.CredentialTypeX509, Certificates: make([]codec.Certificate, 300)}
			ln.Credential.Certificates[7].CertData = make([]byte, 20000)
		},
		"capabilities": func(ln *codec.LeafNode) { ln.Capabilities.Proposals = make([]codec.ProposalType, 40000) },
		"extensions": func(ln *codec.LeafNode) {
			ln.Extensions = make([]codec.Extension, 3000)
			ln.Extensions[5].ExtensionData = make([]byte, 100)
		},
	} {
		ln := base
		mod(&ln)
		enc, err := ln.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if b := leafSizeBound(&ln); b < len(enc) {
			t.Errorf("%s: bound %d below the encoding's %d bytes", name, b, len(enc))
		}
	}
}

// TestAddKeyPackageVerifiedOnce: an Add proposal's KeyPackage signatures
// are verified when the proposal is processed, and not again when a Commit
// covers it by reference (RFC 9420 §12.1.1, §12.4.2); a stored copy changed
// since is verified again and refused.
func TestAddKeyPackageVerifiedOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(q *QueuedProposal)
		want   error // nil: accepted
	}{
		{"unchanged", nil, nil},
		{"key package signature", func(q *QueuedProposal) {
			sig := bytes.Clone(q.Proposal.Add.KeyPackage.Signature)
			sig[0] ^= 1
			q.Proposal.Add.KeyPackage.Signature = sig
		}, RuleKeyPackageSignature},
		{"leaf signature", func(q *QueuedProposal) {
			sig := bytes.Clone(q.Proposal.Add.KeyPackage.LeafNode.Signature)
			sig[0] ^= 1
			q.Proposal.Add.KeyPackage.LeafNode.Signature = sig
		}, RuleKeyPackageSignature}, // the leaf is part of KeyPackageTBS
		{"recorded as an Update", func(q *QueuedProposal) { q.verified.typ = codec.ProposalTypeUpdate }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, log := newVerifyOnceGroup(t)
			a, b, c, d := s.members[0], s.members[1], s.members[2], s.members[3]
			e := s.newClient()
			kp := gtKeyPackage(t, e.c, s.suite)
			prop, _, err := b.g.ProposeAdd(kp)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []*gtMember{a, c, d} {
				pm, err := m.g.ProcessMessage(bytes.Clone(prop))
				if err != nil || pm.Kind != KindProposal {
					t.Fatalf("%s: proposal: %v", m.name, err)
				}
				if m == d && tc.tamper != nil {
					// A copy, so that the tampering stays d's.
					p := *pm.Proposal.Proposal
					add := *p.Add
					p.Add = &add
					pm.Proposal.Proposal = &p
					tc.tamper(pm.Proposal)
				}
				if err := m.g.StoreProposal(pm.Proposal); err != nil {
					t.Fatal(err)
				}
			}
			eKey := kp.LeafNode.SignatureKey
			if !log.verifiedBy(eKey) {
				t.Fatal("processing the Add verified nothing with the new member's key")
			}
			res := gtMust(c.g.CommitPendingProposals())(t)
			before := gtSnapshot(d.g)
			pm, err := d.g.ProcessMessage(res.Commit)
			reverified := log.verifiedBy(eKey)
			if tc.want == nil {
				if err != nil || pm.Kind != KindCommit {
					t.Fatalf("Commit refused: %v", err)
				}
				if reverified != (tc.tamper != nil) {
					t.Fatalf("key package verified again: %v", reverified)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !reverified {
				t.Fatal("the changed KeyPackage was not verified again")
			}
			if after := gtSnapshot(d.g); after != before {
				t.Fatal("a refused Commit changed the group")
			}
		})
	}
}
