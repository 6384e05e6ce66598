package mls

import (
	"crypto/subtle"
	"errors"
	"slices"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// Echoes of our own messages.
//
// Most Delivery Services fan a handshake message out to every member of
// the group, its sender included. A member cannot process its own messages
// as it processes others': the key of a PrivateMessage it sent is deleted
// once used (RFC 9420 §9.2), and its own Commit is already staged as the
// pending Commit (§12.4.1). So Process recognises the echo of
//
//   - our pending Commit: the ProcessedMessage (Own set) carries a
//     StagedCommit (StagedCommit.Own) that MergeStagedCommit merges exactly
//     as MergePendingCommit would. MergePendingCommit, on the Delivery
//     Service's acknowledgement, stays the other way; an echo that arrives
//     after that merge is of a past epoch and refused as any late
//     handshake message (RuleWrongEpoch);
//   - a proposal of ours that is in the proposal store: the
//     ProcessedMessage (Own set) carries the stored QueuedProposal, and
//     StoreProposal of it does nothing.
//
// An echo is recognised by its bytes: the hash of the whole MLSMessage
// must equal the hash of the MLSMessage this member produced, which the
// group state keeps (and stores) with the pending Commit and each own
// proposal. The sender field is not trusted: another member can put our
// leaf index into a message (in a PrivateMessage anyone in the group can
// write the sender data), and a modified copy of our message has other
// bytes. Anything else that names our own leaf as sender is refused with
// an error matching ErrOwnMessage (together with its rule: RuleNotCommitter
// for a Commit, RuleProposalSender for a proposal, RuleDecryption for a
// PrivateMessage this member can no longer decrypt).
//
// Our own application messages are not kept (there may be any number per
// epoch): their echo is such a refused message, matching ErrOwnMessage, and
// an application whose Delivery Service echoes application messages drops
// those errors.

// ErrOwnMessage: a message names this member's own leaf as its sender but is
// not the echo of its pending Commit or of a proposal in its store. It is
// an echo of an application message of ours, an echo of a Commit or
// proposal that is no longer pending, or a forgery.
var ErrOwnMessage = errors.New("mls: message from this member's own leaf that is not an echo of its pending commit or stored proposals")

// echo recognises the Delivery Service's echo of our pending Commit or of
// a proposal of ours in the store (see above). ok is false for any other
// message, which Process then handles as usual.
//
// raw is the message's encoding as received, when known (ProcessMessage):
// it is hashed as it is, not encoded again. An encoding that is not the
// one we produced (we produce the canonical one) does not match, and the
// message is then handled as any other.
func (g *Group) echo(m *codec.MLSMessage, raw []byte) (pm *ProcessedMessage, ok bool, err error) {
	p := g.pending
	commitCandidate := p != nil && p.msgHash != nil
	var (
		ct  codec.ContentType
		aad []byte
	)
	switch {
	case m.WireFormat == codec.WireFormatMLSPublicMessage && m.PublicMessage != nil:
		fc := &m.PublicMessage.Content
		if fc.Epoch != g.epoch.ctx.Epoch || fc.Sender.SenderType != codec.SenderTypeMember || LeafIndex(fc.Sender.LeafIndex) != g.epoch.own {
			return nil, false, nil
		}
		ct, aad = fc.ContentType, fc.AuthenticatedData
	case m.WireFormat == codec.WireFormatMLSPrivateMessage && m.PrivateMessage != nil:
		if m.PrivateMessage.Epoch != g.epoch.ctx.Epoch {
			return nil, false, nil
		}
		ct, aad = m.PrivateMessage.ContentType, m.PrivateMessage.AuthenticatedData
	default:
		return nil, false, nil
	}
	switch ct {
	case codec.ContentTypeCommit:
		if !commitCandidate {
			return nil, false, nil
		}
	case codec.ContentTypeProposal:
		if !slices.ContainsFunc(g.proposals, func(q *QueuedProposal) bool { return q.msgHash != nil }) {
			return nil, false, nil
		}
	default:
		return nil, false, nil
	}
	enc := raw
	if enc == nil {
		if enc, err = m.Marshal(); err != nil {
			// Not an echo: what we send encodes.
			return nil, false, nil
		}
	}
	h := g.cs.Hash(nil, enc)
	self := codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: uint32(g.epoch.own)}
	pm = &ProcessedMessage{Sender: self, Epoch: g.epoch.ctx.Epoch, AuthenticatedData: aad, WireFormat: m.WireFormat, Own: true}
	if ln := g.epoch.tree.Leaf(treemath.LeafIndex(g.epoch.own)); ln != nil {
		pm.SenderCredential = CredentialFromWire(&ln.Credential)
	}
	if ct == codec.ContentTypeCommit {
		if subtle.ConstantTimeCompare(h, p.msgHash) != 1 {
			return nil, false, nil
		}
		pm.Kind, pm.Commit = KindCommit, g.stageOwnCommit(p)
		return pm, true, nil
	}
	for _, q := range g.proposals {
		if q.msgHash != nil && subtle.ConstantTimeCompare(h, q.msgHash) == 1 {
			pm.Kind, pm.Proposal = KindProposal, q
			return pm, true, nil
		}
	}
	return nil, false, nil
}

// stageOwnCommit wraps our pending Commit as the StagedCommit of its echo.
func (g *Group) stageOwnCommit(p *pendingCommit) *StagedCommit {
	sc := &StagedCommit{g: g, base: g.epoch, diff: p.diff, next: p.next, res: p.res,
		sender: codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: uint32(g.epoch.own)}, own: p}
	if p.info != nil {
		for _, q := range p.info.Proposals {
			sc.props = append(sc.props, committedProposal{p: q.Proposal, sender: q.Sender, ref: q.Ref})
		}
		sc.removes = append([]RemoveOperation(nil), p.info.RemoveOperations...)
	}
	return sc
}

// Own reports whether the StagedCommit is this member's pending Commit,
// recognised in the Delivery Service's echo of it (see ErrOwnMessage):
// MergeStagedCommit merges it as MergePendingCommit does.
func (sc *StagedCommit) Own() bool { return sc.own != nil }
