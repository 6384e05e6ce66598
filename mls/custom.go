package mls

import (
	"bytes"
	"fmt"

	"github.com/mlskit/mlskit/codec"
)

// Custom proposals (RFC 9420 §12.1, §13, §17.4).
//
// An application can define its own proposal types. A type must not be one
// of the RFC's or of the extensions this library implements; types only one
// application uses belong in the private-use range 0xF000–0xFFFF (§17.4).
// The content of a custom proposal is an opaque payload the application
// defines (the wire encoding is the type followed by the payload as an
// opaque<V>, the Proposal's default arm in schema/rfc9420.tls).
//
// The flow:
//
//   - Every member declares the custom types it supports in its leaf's
//     capabilities (KeyPackageBuilder.Capabilities,
//     GroupConfig.LeafCapabilities, LeafNodeOptions.Capabilities): a
//     proposal type that is not a default one may be used only if every
//     member supports it (§12.2, RuleProposalTypeUnsupported). A Commit that covers a custom
//     proposal some remaining member does not support is refused by every
//     receiver, and Commit and ProposeCustom refuse to create one.
//   - A member proposes one by reference with ProposeCustom or commits one
//     by value with CommitOptions.Custom.
//   - Receivers see it as a KindProposal (QueuedProposal.Custom) and, in a
//     Commit, in StagedCommit.Proposals and StagedCommit.CustomProposals,
//     before MergeStagedCommit: what a custom proposal means, and whether
//     to merge a Commit that covers it, is the application's policy. The
//     library changes nothing for it but the transcript.
//   - A custom proposal requires the Commit to carry an UpdatePath (the
//     RFC leaves "Path Required" to each type's registration; this library
//     assumes the safe answer for types it does not know).
//   - External Commits cannot carry custom proposals (§12.2, RuleExternalCommitProposalType).

// CustomProposal is an application-defined proposal: its type and its
// opaque payload.
type CustomProposal struct {
	Type    codec.ProposalType
	Payload []byte
}

// IsCustomProposalType reports whether t can be the type of a custom
// proposal: not a proposal type this library implements, not 0 (reserved)
// and not a GREASE value (RFC 9420 §13.5).
func IsCustomProposalType(t codec.ProposalType) bool {
	return t != 0 && !t.IsKnown() && !IsGREASE(uint16(t))
}

// proposal returns the wire Proposal of c.
func (c CustomProposal) proposal() (*codec.Proposal, error) {
	if !IsCustomProposalType(c.Type) {
		return nil, fmt.Errorf("%w: proposal type %v is not a custom type", ErrInvalidArgument, c.Type)
	}
	return &codec.Proposal{ProposalType: c.Type, ProposalData: bytes.Clone(c.Payload)}, nil
}

// customProposalOf returns the custom proposal p carries, if any.
func customProposalOf(p *codec.Proposal) (CustomProposal, bool) {
	if p == nil || !IsCustomProposalType(p.ProposalType) {
		return CustomProposal{}, false
	}
	return CustomProposal{Type: p.ProposalType, Payload: bytes.Clone(p.ProposalData)}, true
}

// Custom returns the custom proposal q carries, if it is one.
func (q *QueuedProposal) Custom() (CustomProposal, bool) { return customProposalOf(q.Proposal) }

// CustomProposals returns the custom proposals the Commit covers, in the
// order of its proposal list, for the application's policy before
// MergeStagedCommit.
func (sc *StagedCommit) CustomProposals() []CustomProposal {
	var out []CustomProposal
	for _, cp := range sc.props {
		if c, ok := customProposalOf(cp.p); ok {
			out = append(out, c)
		}
	}
	return out
}

// ProposeCustom proposes an application-defined proposal, by reference
// (RFC 9420 §12.1): it is stored in the proposal store and the message to
// send is returned. Every member must support c.Type (RuleProposalTypeUnsupported).
func (g *Group) ProposeCustom(c CustomProposal) ([]byte, *QueuedProposal, error) {
	p, err := c.proposal()
	if err != nil {
		return nil, nil, err
	}
	if err := g.validateProposal(p, codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: uint32(g.epoch.own)}); err != nil {
		return nil, nil, err
	}
	return g.propose(p, nil)
}

// validateCustomProposal checks a custom proposal on its own: every member
// of the current epoch supports its type (RuleProposalTypeUnsupported).
func (g *Group) validateCustomProposal(p *codec.Proposal) error {
	if !IsCustomProposalType(p.ProposalType) {
		return RuleProposalTypeUnsupported.Errorf("proposal type %v is not supported by this implementation", p.ProposalType)
	}
	return g.allSupportProposal(g.epoch.tree.Stage(), p.ProposalType, nil)
}
