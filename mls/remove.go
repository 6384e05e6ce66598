package mls

import (
	"bytes"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// RemoveKind interprets a removal from the point of view of the member that
// processes (or creates) the Commit, as OpenMLS's RemoveOperation does.
type RemoveKind uint8

const (
	// WeLeft: this member is removed by its own request — its SelfRemove
	// proposal, or a Remove proposal of its own leaf that it sent.
	WeLeft RemoveKind = iota + 1
	// WeWereRemovedBy: this member is removed at the request of another
	// sender (RemoveOperation.Remover): a member, an external sender, or
	// an external committer.
	WeWereRemovedBy
	// TheyLeft: another member is removed by its own request (SelfRemove,
	// or a Remove of its own leaf that it sent).
	TheyLeft
	// TheyWereRemovedBy: another member is removed at the request of a
	// third sender (RemoveOperation.Remover), not this member.
	TheyWereRemovedBy
	// WeRemovedThem: another member is removed at this member's request —
	// its Remove proposal, or an inline Remove of its own Commit.
	WeRemovedThem
)

func (k RemoveKind) String() string {
	switch k {
	case WeLeft:
		return "WeLeft"
	case WeWereRemovedBy:
		return "WeWereRemovedBy"
	case TheyLeft:
		return "TheyLeft"
	case TheyWereRemovedBy:
		return "TheyWereRemovedBy"
	case WeRemovedThem:
		return "WeRemovedThem"
	}
	return fmt.Sprintf("RemoveKind(%d)", uint8(k))
}

// RemoveOperation is one removal a Commit performs (RFC 9420 §12.1.3
// Remove, and SelfRemove of draft-ietf-mls-extensions), with who asked for
// it. The removed member's details are those of the tree before the Commit.
type RemoveOperation struct {
	// Removed is the leaf that is removed; RemovedCredential and
	// RemovedSignatureKey are the credential and signature key it held.
	Removed             LeafIndex
	RemovedCredential   Credential
	RemovedSignatureKey []byte
	// Remover is the sender of the proposal: a member (for a Remove
	// proposal inline in a Commit, the committer), an external sender
	// (SenderIndex into external_senders), or new_member_commit for the
	// inline Remove of an external Commit (§12.4.3.2, "resync").
	Remover codec.Sender
	// RemoverCredential is the remover's credential where it is known: a
	// member's leaf before the Commit, an external sender's
	// external_senders entry, an external committer's new leaf.
	RemoverCredential Credential
	// ProposalType is ProposalTypeRemove or ProposalTypeSelfRemove;
	// ProposalRef is the proposal's reference, nil for an inline proposal.
	ProposalType codec.ProposalType
	ProposalRef  codec.ProposalRef

	kind RemoveKind
}

// Kind returns the interpretation of the removal from the point of view of
// the member whose Commit (or staged Commit) it comes from.
func (r *RemoveOperation) Kind() RemoveKind { return r.kind }

// RemovedSelf reports whether the removal is of this member (WeLeft or
// WeWereRemovedBy).
func (r *RemoveOperation) RemovedSelf() bool { return r.kind == WeLeft || r.kind == WeWereRemovedBy }

func (r RemoveOperation) String() string {
	return fmt.Sprintf("%v(removed=%d remover=%v/%d/%d)", r.kind, r.Removed, r.Remover.SenderType, r.Remover.LeafIndex, r.Remover.SenderIndex)
}

// removeKind classifies the removal of leaf removed at the request of
// sender, seen by the member at leaf own.
func removeKind(own, removed LeafIndex, sender codec.Sender) RemoveKind {
	if sender.SenderType == codec.SenderTypeMember {
		l := LeafIndex(sender.LeafIndex)
		if l == own {
			if removed == own {
				return WeLeft
			}
			return WeRemovedThem
		}
		if l == removed {
			return TheyLeft
		}
	}
	if removed == own {
		return WeWereRemovedBy
	}
	return TheyWereRemovedBy
}

// removeOperations interprets the Remove and SelfRemove proposals of a
// Commit (props, as resolved) against the current tree, before the Commit
// changes it. path is the Commit's UpdatePath (for an external committer's
// credential), or nil.
func (g *Group) removeOperations(props []committedProposal, path *codec.UpdatePath) []RemoveOperation {
	var out []RemoveOperation
	for _, cp := range props {
		var removed LeafIndex
		switch cp.p.ProposalType {
		case codec.ProposalTypeRemove:
			removed = LeafIndex(cp.p.Remove.Removed)
		case codec.ProposalTypeSelfRemove:
			removed = LeafIndex(cp.sender.LeafIndex)
		default:
			continue
		}
		op := RemoveOperation{
			Removed:      removed,
			Remover:      cp.sender,
			ProposalType: cp.p.ProposalType,
			ProposalRef:  bytes.Clone(cp.ref),
			kind:         removeKind(g.epoch.own, removed, cp.sender),
		}
		if ln := g.epoch.tree.Leaf(treemath.LeafIndex(removed)); ln != nil {
			op.RemovedCredential = CredentialFromWire(&ln.Credential)
			op.RemovedSignatureKey = bytes.Clone(ln.SignatureKey)
		}
		switch cp.sender.SenderType {
		case codec.SenderTypeMember:
			if ln := g.epoch.tree.Leaf(treemath.LeafIndex(cp.sender.LeafIndex)); ln != nil {
				op.RemoverCredential = CredentialFromWire(&ln.Credential)
			}
		case codec.SenderTypeExternal:
			if es, err := externalSenders(g.epoch.ctx.Extensions); err == nil && uint64(cp.sender.SenderIndex) < uint64(len(es)) {
				op.RemoverCredential = CredentialFromWire(&es[cp.sender.SenderIndex].Credential)
			}
		case codec.SenderTypeNewMemberCommit:
			if path != nil {
				op.RemoverCredential = CredentialFromWire(&path.LeafNode.Credential)
			}
		}
		out = append(out, op)
	}
	return out
}

// RemoveOperations returns the removals the Commit performs, in the order
// of its proposal list, each with its interpretation from this member's
// point of view (RemoveOperation.Kind). The removed members' credentials
// are those of the tree before the Commit, also after it is merged.
func (sc *StagedCommit) RemoveOperations() []RemoveOperation {
	return append([]RemoveOperation(nil), sc.removes...)
}

// PendingCommitInfo describes our pending Commit (Group.PendingCommit).
type PendingCommitInfo struct {
	// Proposals are the proposals the Commit covers, in order: stored
	// ones with their senders and references, then ours inline.
	Proposals []*QueuedProposal
	// RemoveOperations are the removals it performs, seen by this member
	// (WeRemovedThem for its own Removes, TheyLeft and TheyWereRemovedBy
	// for stored proposals of others).
	RemoveOperations []RemoveOperation
	// AddedLeaves are the leaves its Add proposals fill.
	AddedLeaves []LeafIndex
	// Restored is set for a pending Commit that LoadGroup restored from
	// a group state of format version 3, which does not keep its
	// proposals: the fields above are empty. (Versions 4 and later keep
	// them.)
	Restored bool
}

// newPendingCommitInfo describes a Commit of ours being created; it must be
// called before the Commit changes the tree.
func (g *Group) newPendingCommitInfo(props []committedProposal, res *proposalResult) *PendingCommitInfo {
	info := &PendingCommitInfo{
		Proposals:        make([]*QueuedProposal, len(props)),
		RemoveOperations: g.removeOperations(props, nil),
		AddedLeaves:      append([]LeafIndex(nil), res.added...),
	}
	for i, cp := range props {
		info.Proposals[i] = &QueuedProposal{Proposal: cp.p, Ref: cp.ref, Sender: cp.sender, Epoch: g.epoch.ctx.Epoch,
			Own: cp.ref == nil || cp.sender.SenderType == codec.SenderTypeMember && LeafIndex(cp.sender.LeafIndex) == g.epoch.own}
	}
	return info
}

// PendingCommit describes our pending Commit, if there is one: its
// proposals and the removals it performs (see PendingCommitInfo).
func (g *Group) PendingCommit() (PendingCommitInfo, bool) {
	if g.pending == nil {
		return PendingCommitInfo{}, false
	}
	if g.pending.info == nil {
		return PendingCommitInfo{Restored: true}, true
	}
	info := *g.pending.info
	info.Proposals = append([]*QueuedProposal(nil), info.Proposals...)
	info.RemoveOperations = append([]RemoveOperation(nil), info.RemoveOperations...)
	info.AddedLeaves = append([]LeafIndex(nil), info.AddedLeaves...)
	return info, true
}
