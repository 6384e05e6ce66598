package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
)

// Reinitialization completed (RFC 9420 §11.2): after a Commit covering a
// ReInit proposal ends a group, one member creates the successor group with
// the ReInit's parameters and a Welcome injecting the reinit resumption PSK
// of the old group's last epoch (Group.ReInitSuccessor); the other members
// join it, resolving that PSK from the old group (JoinReInit). The old
// group, inactive, keeps its last epoch's resumption_psk for this, in
// memory and in storage (LoadGroup).

// ErrNoReInit: the group was not ended by a Commit covering a ReInit
// proposal, so it has no successor to create or join (RFC 9420 §11.2).
var ErrNoReInit = errors.New("mls: the group was not reinitialized")

// ResumeOptions are the options of a group that resumes another (a ReInit
// successor or a branch): what its creator chooses, and of its first
// Commit. A ReInit successor's GroupID and GroupContextExtensions are the
// ReInit proposal's.
type ResumeOptions struct {
	CreateOptions
	// ForcePath includes an UpdatePath in the first Commit.
	ForcePath bool
	// RatchetTreeOutOfBand leaves the ratchet_tree extension out of the
	// Welcome and returns the new group's tree in CommitResult.RatchetTree,
	// as CommitOptions.RatchetTreeOutOfBand does.
	RatchetTreeOutOfBand bool
}

// ReInitSuccessor creates the group that replaces g after a merged Commit
// covering a ReInit proposal (RFC 9420 §11.2, step 3): a new group with the
// ReInit's group_id, cipher_suite and extensions (opts' GroupID and
// GroupContextExtensions are replaced by them), created by c — whose Signer
// must be of the new cipher suite — and its first Commit, merged, adding
// the key packages (of the other members, for the new suite) and injecting
// the resumption PSK with usage reinit of g's last epoch. The new group is
// in epoch 1; res.Welcome is for the members to join with JoinReInit.
//
// If the ReInit keeps the group id, c needs another storage than g's:
// NewGroup refuses an id already stored (ErrGroupExists), and the old group
// must stay where it is until the resumption is done.
func (g *Group) ReInitSuccessor(c *Client, cfg GroupConfig, kps []*codec.KeyPackage, opts *ResumeOptions) (*Group, *CommitResult, error) {
	ri, ok := g.ReInit()
	if !ok {
		return nil, nil, ErrNoReInit
	}
	if ri.Version != codec.ProtocolVersionMLS10 {
		return nil, nil, fmt.Errorf("%w: ReInit to protocol version %v", ErrInvalidArgument, ri.Version)
	}
	if c == nil || c.Signer == nil {
		return nil, nil, fmt.Errorf("%w: a Client needs a Signer", ErrInvalidArgument)
	}
	o := ResumeOptions{}
	if opts != nil {
		o = *opts
	}
	o.GroupID = bytes.Clone(nonNil(ri.GroupID))
	o.GroupContextExtensions = ri.Extensions
	return g.resume(c, ri.CipherSuite, cfg, codec.ResumptionPSKUsageReInit, kps, &o)
}

// resume creates a group of suite that resumes g with a resumption PSK of
// usage (§11.2, §11.3) and commits its first epoch.
func (g *Group) resume(c *Client, suite codec.CipherSuite, cfg GroupConfig, usage codec.ResumptionPSKUsage, kps []*codec.KeyPackage, opts *ResumeOptions) (*Group, *CommitResult, error) {
	if len(kps) == 0 {
		return nil, nil, fmt.Errorf("%w: no key packages: the new group needs members", ErrInvalidArgument)
	}
	if opts == nil {
		opts = &ResumeOptions{}
	}
	ng, err := NewGroup(c, suite, cfg, &opts.CreateOptions)
	if err != nil {
		return nil, nil, err
	}
	res, err := ng.initialCommit(g, usage, kps, opts)
	if err != nil {
		_ = DeleteGroup(c.Storage, ng.epoch.ctx.GroupID)
		ng.epoch.zero()
		return nil, nil, err
	}
	return ng, res, nil
}

// JoinReInit joins the successor of old, a group that a Commit covering a
// ReInit proposal ended, from the Welcome that ReInitSuccessor made (RFC
// 9420 §11.2, §12.4.3.1). c holds the key package (of the new cipher suite)
// the Welcome is for; the reinit PSK is resolved from old's last epoch.
// Besides the checks of every join it verifies that the Welcome injects
// exactly one reinit PSK, of old's last epoch; that the new group is in
// epoch 1 and its group_id, cipher_suite and extensions are the ReInit's;
// and that every member of old (by credential identity) is a member of the
// new group. These failures match ErrResumption; without old's PSK the
// join fails with a *MissingPSKError. If the ReInit keeps the group id, c
// needs another storage than the old group's (ErrGroupExists).
func JoinReInit(c *Client, old *Group, welcome []byte, tree codec.RatchetTree, cfg GroupConfig) (*Group, error) {
	if old == nil {
		return nil, fmt.Errorf("%w: nil old group", ErrInvalidArgument)
	}
	ri, ok := old.ReInit()
	if !ok {
		return nil, ErrNoReInit
	}
	cfg.ResumptionPSKs = ResumptionPSKsOf(old)
	pw, err := ProcessWelcome(c, welcome, cfg)
	if err != nil {
		return nil, err
	}
	sw, err := func() (*StagedWelcome, error) {
		id, err := pw.requireResumption(codec.ResumptionPSKUsageReInit, old)
		if err != nil {
			return nil, err
		}
		if id.PSKEpoch != old.Epoch() {
			return nil, fmt.Errorf("%w: the reinit PSK names epoch %d, the ReInit Commit started epoch %d", ErrResumption, id.PSKEpoch, old.Epoch())
		}
		ctx := &pw.d.GroupInfo.GroupContext
		if !bytes.Equal(ctx.GroupID, ri.GroupID) || ctx.CipherSuite != ri.CipherSuite {
			return nil, fmt.Errorf("%w: new group %x (suite %v) does not match the ReInit (%x, suite %v)", ErrResumption, ctx.GroupID, ctx.CipherSuite, ri.GroupID, ri.CipherSuite)
		}
		if !sameExtensions(ctx.Extensions, ri.Extensions) {
			return nil, fmt.Errorf("%w: the new group's extensions are not the ReInit's", ErrResumption)
		}
		sw, err := pw.Stage(tree)
		if err != nil {
			return nil, err
		}
		// All members of the old group are members of the new one.
		if err := membersMatch(old.Members(), sw.Members(), "old", "new"); err != nil {
			sw.Discard()
			return nil, err
		}
		return sw, nil
	}()
	if err != nil {
		pw.Discard()
		return nil, err
	}
	return joinOrDiscard(sw)
}

// sameExtensions reports whether a and b encode the same extension list.
func sameExtensions(a, b []codec.Extension) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ExtensionType != b[i].ExtensionType || !bytes.Equal(a[i].ExtensionData, b[i].ExtensionData) {
			return false
		}
	}
	return true
}
