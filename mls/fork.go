package mls

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"slices"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// Fork detection and recovery.
//
// A fork: members of one group end up in different states, because two
// Commits of the same epoch were both merged by some members (a Delivery
// Service that did not order them, a member that merged its own Commit
// before the DS refused it) or a Commit was lost. Forked members cannot
// read each other's messages: their epoch secrets differ. RFC 9420 leaves
// recovery to the application (§8.7: members compare the epoch
// authenticator out of band to confirm they share the epoch; §16.4 on the
// Delivery Service ordering Commits). The flow:
//
//  1. Detect. Each member publishes its EpochReport (epoch number and
//     epoch authenticator, §8.7) through a channel the fork does not break
//     (the Delivery Service, an authenticated side channel). A member
//     passes the reports it received to CheckFork, which sorts the members
//     into those that share its epoch (InSync), those in the same epoch
//     number with another authenticator (Forked: certainly a fork), those
//     in another epoch (OtherEpoch: behind, ahead, or forked; the
//     application knows which, e.g. from its Delivery Service), and those
//     that did not report (Missing).
//  2. Recover, from one side of the fork (the application chooses which,
//     e.g. the side with the Delivery Service's accepted Commit):
//     (a) Re-add: a member of that side calls RecoverForkByReadding with
//     the leaves of the members on the other side and a fresh KeyPackage
//     of each: one Commit removes them and adds them again (checked: the
//     KeyPackages' identities are those of the removed members). Its own
//     side merges the Commit as usual; the re-added members join from the
//     Welcome with JoinAfterFork, which replaces their forked state of
//     the group (same group id) in one storage transaction.
//     (b) Reboot: a member calls Reboot with a fresh KeyPackage of every
//     other member: a new group (another group id) with the old group's
//     GroupContext extensions, whose first Commit adds them all. The
//     others join from the Welcome (JoinFromWelcome) and everyone deletes
//     the old group (DeleteGroup). The new group shares nothing with the
//     old one (no resumption PSK: the forked sides have no common epoch).
//  3. Check: after recovery every member's EpochReport agrees.

// EpochReport is what a member publishes of its state for fork detection:
// its epoch and the epoch authenticator (RFC 9420 §8.7).
type EpochReport struct {
	Epoch              uint64
	EpochAuthenticator []byte
}

// EpochReport returns this member's report of its current epoch.
func (g *Group) EpochReport() EpochReport {
	return EpochReport{Epoch: g.epoch.ctx.Epoch, EpochAuthenticator: g.EpochAuthenticator()}
}

// ForkCheck is the result of CheckFork: the members of this member's view
// of the group sorted by their reports, in leaf order.
type ForkCheck struct {
	// InSync reported this member's epoch and epoch authenticator (this
	// member is among them).
	InSync []LeafIndex
	// Forked reported this member's epoch number with another epoch
	// authenticator: their group state differs from ours.
	Forked []LeafIndex
	// OtherEpoch reported another epoch number.
	OtherEpoch []LeafIndex
	// Missing did not report.
	Missing []LeafIndex
}

// IsForked reports whether some member certainly has another state of the
// group (Forked is not empty).
func (fc ForkCheck) IsForked() bool { return len(fc.Forked) > 0 }

// CheckFork compares the reports of the members (by their leaf in this
// member's view of the group) with this member's own epoch (see above).
// Reports of leaves that are not members here are ignored.
func (g *Group) CheckFork(reports map[LeafIndex]EpochReport) ForkCheck {
	var fc ForkCheck
	own := g.EpochReport()
	g.epoch.tree.Members(func(tl treemath.LeafIndex, _ *codec.LeafNode) bool {
		l := LeafIndex(tl)
		r, ok := reports[l]
		switch {
		case l == g.epoch.own:
			fc.InSync = append(fc.InSync, l)
		case !ok:
			fc.Missing = append(fc.Missing, l)
		case r.Epoch != own.Epoch:
			fc.OtherEpoch = append(fc.OtherEpoch, l)
		case subtle.ConstantTimeCompare(r.EpochAuthenticator, own.EpochAuthenticator) != 1:
			fc.Forked = append(fc.Forked, l)
		default:
			fc.InSync = append(fc.InSync, l)
		}
		return true
	})
	return fc
}

// RecoverForkByReadding creates, from this member's side of a fork, the
// Commit that removes the members at leaves (the other side) and adds them
// again from fresh key packages kps, one per removed member with its
// credential's identity (in any order), together with a path (RFC 9420
// §12.4.1). Like any Commit it is pending until merged; the stored
// proposals are left out (they are of this side only). The re-added
// members join with JoinAfterFork.
func (g *Group) RecoverForkByReadding(leaves []LeafIndex, kps []*codec.KeyPackage) (*CommitResult, error) {
	if len(leaves) == 0 || len(leaves) != len(kps) {
		return nil, fmt.Errorf("%w: %d leaves to re-add with %d key packages", ErrInvalidArgument, len(leaves), len(kps))
	}
	var removed [][]byte
	for _, l := range leaves {
		if l == g.epoch.own {
			return nil, fmt.Errorf("%w: leaf %d is this member", ErrInvalidArgument, l)
		}
		ln := g.epoch.tree.Leaf(treemath.LeafIndex(l))
		if ln == nil {
			return nil, fmt.Errorf("%w: leaf %d", ErrUnknownMember, l)
		}
		removed = append(removed, CredentialFromWire(&ln.Credential).Identity())
	}
	for i, kp := range kps {
		if kp == nil {
			return nil, fmt.Errorf("%w: nil KeyPackage", ErrInvalidArgument)
		}
		id := CredentialFromWire(&kp.LeafNode.Credential).Identity()
		j := slices.IndexFunc(removed, func(r []byte) bool { return bytes.Equal(r, id) })
		if j < 0 {
			return nil, fmt.Errorf("%w: key package %d (identity %q) is not of a removed member", ErrInvalidArgument, i, id)
		}
		removed = slices.Delete(removed, j, j+1)
	}
	return g.Commit(CommitOptions{Remove: leaves, Add: kps, ExcludePending: true, ForcePath: true})
}

// JoinAfterFork joins, from a Welcome of RecoverForkByReadding, the group
// that old is this client's forked state of: the Welcome must be for old's
// group id, and joining replaces old in storage (DeleteGroup and the join
// are one transaction; if it fails, old stays stored). old must not be
// used afterwards: its secrets are erased and it is inactive. c must use
// old's storage.
func JoinAfterFork(c *Client, old *Group, welcome []byte, tree codec.RatchetTree, cfg GroupConfig) (*Group, error) {
	if c == nil || old == nil || c.Storage != old.store {
		return nil, fmt.Errorf("%w: JoinAfterFork needs the old group and a client with its storage", ErrInvalidArgument)
	}
	pw, err := ProcessWelcome(c, welcome, cfg)
	if err != nil {
		return nil, err
	}
	if id := pw.d.GroupInfo.GroupContext.GroupID; !bytes.Equal(id, old.epoch.ctx.GroupID) {
		pw.Discard()
		return nil, fmt.Errorf("%w: the Welcome is for group %x, not %x", ErrInvalidArgument, id, old.epoch.ctx.GroupID)
	}
	pw.replace = true
	sw, err := pw.Stage(tree)
	if err != nil {
		pw.Discard()
		return nil, err
	}
	g, err := joinOrDiscard(sw)
	if err != nil {
		return nil, err
	}
	old.zeroAll()
	old.active = false
	return g, nil
}

// Reboot creates a new group to replace g after a fork (see above): created
// by c (this member's client) with cfg and opts (nil: the defaults), whose
// GroupContextExtensions are replaced by g's and whose GroupID is random
// unless set, and its first
// Commit, merged, adding the key packages kps: a fresh one of every other
// member of g, by credential identity (checked, in any order). The others
// join from res.Welcome with JoinFromWelcome; g is left as it is, for the
// application to delete (DeleteGroup) once everyone moved.
func (g *Group) Reboot(c *Client, cfg GroupConfig, opts *CreateOptions, kps []*codec.KeyPackage) (*Group, *CommitResult, error) {
	if c == nil {
		return nil, nil, fmt.Errorf("%w: nil client", ErrInvalidArgument)
	}
	var others [][]byte
	g.epoch.tree.Members(func(l treemath.LeafIndex, ln *codec.LeafNode) bool {
		if LeafIndex(l) != g.epoch.own {
			others = append(others, CredentialFromWire(&ln.Credential).Identity())
		}
		return true
	})
	for i, kp := range kps {
		if kp == nil {
			return nil, nil, fmt.Errorf("%w: nil KeyPackage", ErrInvalidArgument)
		}
		id := CredentialFromWire(&kp.LeafNode.Credential).Identity()
		j := slices.IndexFunc(others, func(r []byte) bool { return bytes.Equal(r, id) })
		if j < 0 {
			return nil, nil, fmt.Errorf("%w: key package %d (identity %q) is not of a member of the old group", ErrInvalidArgument, i, id)
		}
		others = slices.Delete(others, j, j+1)
	}
	if len(others) > 0 {
		return nil, nil, fmt.Errorf("%w: no key package for %d members of the old group (first: %q)", ErrInvalidArgument, len(others), others[0])
	}
	var o CreateOptions
	if opts != nil {
		o = *opts
	}
	o.GroupContextExtensions = g.Extensions()
	if o.GroupID != nil && bytes.Equal(o.GroupID, g.epoch.ctx.GroupID) {
		return nil, nil, fmt.Errorf("%w: a rebooted group needs a new group id", ErrInvalidArgument)
	}
	ng, err := NewGroup(c, g.epoch.ctx.CipherSuite, cfg, &o)
	if err != nil {
		return nil, nil, err
	}
	if len(kps) == 0 {
		return ng, &CommitResult{}, nil
	}
	res, err := ng.Commit(CommitOptions{Add: kps})
	if err == nil {
		err = ng.MergePendingCommit()
	}
	if err != nil {
		_ = DeleteGroup(c.Storage, ng.epoch.ctx.GroupID)
		ng.zeroAll()
		return nil, nil, err
	}
	return ng, res, nil
}

// replaceGroup is the write of a join that replaces this client's stored
// state of the group (JoinAfterFork).
func replaceGroup(groupID []byte) func(tx providers.Records) error {
	return func(tx providers.Records) error { return deleteGroup(tx, groupID) }
}
