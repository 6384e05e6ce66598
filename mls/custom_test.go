package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/mlskit/mlskit/codec"
)

const testCustomType codec.ProposalType = 0xF0F0

// customCaps are the default capabilities with the custom proposal type.
func customCaps(s *gtSim) *codec.Capabilities {
	c := DefaultCapabilities(s.p)
	c.Proposals = append(c.Proposals, testCustomType)
	return &c
}

// TestCustomProposals runs custom proposals through a group of four in
// which d does not support the type: nobody can propose or commit one
// (the creator refuses, and receivers refuse a Commit or proposal that
// carries one anyway); once d is removed, a custom proposal by reference
// and one by value reach every member's StagedCommit, also for a member
// reloaded from storage with the proposal in its store.
func TestCustomProposals(t *testing.T) {
	for _, wf := range []WireFormatPolicy{PurePlaintext(), PureCiphertext()} {
		t.Run(fmt.Sprint(wf.Outgoing), func(t *testing.T) {
			cfg := GroupConfig{WireFormatPolicy: wf, UseRatchetTreeExtension: true}
			s := newGTSim(t, gtSuites[0], cfg)
			caps := customCaps(s)
			// The creator supports the type.
			s.members[0] = &gtMember{name: "a", c: s.members[0].c}
			s.members[0].g = gtMust(NewGroup(s.members[0].c, s.suite, cfg, &CreateOptions{LeafCapabilities: caps}))(t)
			a := s.members[0]
			var kps []*codec.KeyPackage
			var js []*gtMember
			for i := range 3 {
				j := s.newClient()
				js = append(js, j)
				if i < 2 {
					kps = append(kps, gtKeyPackageCaps(t, j.c, s.suite, caps))
				} else {
					kps = append(kps, gtKeyPackage(t, j.c, s.suite)) // d: no support
				}
			}
			s.applyCommit(a, gtMust(a.g.Commit(CommitOptions{Add: kps}))(t), js...)
			b, c, d := js[0], js[1], js[2]
			cp1 := CustomProposal{Type: testCustomType, Payload: []byte("by reference")}
			cp2 := CustomProposal{Type: testCustomType, Payload: []byte("by value")}

			// d does not support the type: nobody creates one.
			if _, _, err := a.g.ProposeCustom(cp1); !errors.Is(err, RuleProposalTypeUnsupported) {
				t.Fatalf("ProposeCustom with a member that does not support it: %v", err)
			}
			if _, err := a.g.Commit(CommitOptions{Custom: []CustomProposal{cp2}}); !errors.Is(err, RuleProposalTypeUnsupported) {
				t.Fatalf("Commit with a custom proposal a member does not support: %v", err)
			}
			if a.g.HasPendingCommit() || len(a.g.PendingProposals()) != 0 {
				t.Fatal("a refused custom proposal left something pending")
			}
			for _, bad := range []codec.ProposalType{0, codec.ProposalTypeAdd, codec.ProposalTypeSelfRemove, 0x0A0A} {
				if _, _, err := a.g.ProposeCustom(CustomProposal{Type: bad}); !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("ProposeCustom of type %v: %v", bad, err)
				}
			}
			// Receivers refuse it too: a's custom proposal and a Commit
			// carrying one, made without a's checks.
			n := &gtNeg{t: t, s: s, a: a, b: b, c: c, d: d, cs: gtMust(s.p.CipherSuite(s.suite))(t)}
			protect := n.public
			if wf == PureCiphertext() {
				protect = n.private
			}
			prop := &codec.Proposal{ProposalType: testCustomType, ProposalData: cp1.Payload}
			n.expect(b, protect(a, gtProposalFC(prop), nil), RuleProposalTypeUnsupported)
			// A real path of a's, from a Commit of hers sent as a
			// PublicMessage (which she can read back).
			policy := a.g.cfg.WireFormatPolicy
			a.g.cfg.WireFormatPolicy = PurePlaintext()
			path := n.realCommit(a, CommitOptions{ForcePath: true}).Content.Commit.Path
			a.g.cfg.WireFormatPolicy = policy
			n.expect(b, protect(a, gtCommitFC(gtInline(prop), path), n.tag()), RuleProposalTypeUnsupported)

			// Without d, custom proposals flow.
			s.applyCommit(a, gtMust(a.g.RemoveMembers(d.g.OwnLeafIndex()))(t))
			msg, q := gtMust2(a.g.ProposeCustom(cp1))(t)
			if got, ok := q.Custom(); !ok || got.Type != cp1.Type || !bytes.Equal(got.Payload, cp1.Payload) {
				t.Fatalf("own queued custom proposal: %v %+v", ok, got)
			}
			for _, m := range []*gtMember{b, c} {
				pm := gtMust(m.g.ProcessMessage(msg))(t)
				got, ok := pm.Proposal.Custom()
				if pm.Kind != KindProposal || !ok || !bytes.Equal(got.Payload, cp1.Payload) {
					t.Fatalf("%s: custom proposal received as %+v", m.name, got)
				}
				if err := m.g.StoreProposal(pm.Proposal); err != nil {
					t.Fatal(err)
				}
			}
			// b is reloaded: its store keeps the custom proposal.
			b.g = gtMust(LoadGroup(b.c, b.g.GroupID()))(t)
			if ps := b.g.PendingProposals(); len(ps) != 1 || !bytes.Equal(ps[0].Proposal.ProposalData, cp1.Payload) {
				t.Fatalf("reloaded proposal store: %v", ps)
			}
			// c commits it with another by value; a and b see both
			// before merging.
			res := gtMust(c.g.Commit(CommitOptions{Custom: []CustomProposal{cp2}}))(t)
			want := []CustomProposal{cp1, cp2}
			for _, m := range []*gtMember{a, b} {
				pm := gtMust(m.g.ProcessMessage(res.Commit))(t)
				got := pm.Commit.CustomProposals()
				if !slices.EqualFunc(got, want, func(x, y CustomProposal) bool { return x.Type == y.Type && bytes.Equal(x.Payload, y.Payload) }) {
					t.Fatalf("%s: StagedCommit custom proposals %+v, want %+v", m.name, got, want)
				}
				if len(pm.Commit.Proposals()) != 2 || pm.Commit.Proposals()[0].Ref == nil || pm.Commit.Proposals()[1].Ref != nil {
					t.Fatalf("%s: proposals %+v: want one by reference then one by value", m.name, pm.Commit.Proposals())
				}
			}
			s.members = []*gtMember{a, b, c}
			s.applyCommit(c, res)
			// A member added by the same Commit need not support the
			// type: it does not process the Commit (§12.2).
			e := s.newClient()
			if _, err := a.g.Commit(CommitOptions{Add: []*codec.KeyPackage{gtKeyPackage(t, e.c, s.suite)}, Custom: []CustomProposal{cp2}}); err != nil {
				t.Fatalf("adding a member in a Commit with a custom proposal: %v", err)
			}
			if err := a.g.ClearPendingCommit(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
