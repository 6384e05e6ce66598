package mls

import (
	"fmt"

	"github.com/mlskit/mlskit/codec"
)

// Subgroup branching (RFC 9420 §11.3): a member creates a new group of some
// of the members, with the same version and cipher suite, whose first
// Commit injects a resumption PSK with usage branch of the parent group's
// current epoch (Group.Branch); the invited members join it resolving that
// PSK from the parent group (JoinBranch).

// Branch creates a subgroup of g (RFC 9420 §11.3): a new group of g's
// cipher suite created by c (a member of g: its credential's identity must
// be one of g's members'), configured by cfg (local settings) and opts
// (group id, GroupContext extensions, the creator's leaf), and its first
// Commit, merged, adding the key
// packages (fresh ones of the members to include) and injecting the
// resumption PSK with usage branch of g's current epoch with a fresh
// psk_nonce. The new group is in epoch 1; res.Welcome is for the members to
// join with JoinBranch. opts.GroupID should differ from g's.
func (g *Group) Branch(c *Client, cfg GroupConfig, kps []*codec.KeyPackage, opts *ResumeOptions) (*Group, *CommitResult, error) {
	if c == nil || c.Credential.IsZero() {
		return nil, nil, fmt.Errorf("%w: a Client needs a Credential", ErrInvalidArgument)
	}
	if !g.active && g.reinit == nil {
		return nil, nil, ErrInactive
	}
	if err := membersMatch([]Member{{Credential: c.Credential}}, g.Members(), "new", "parent"); err != nil {
		return nil, nil, err
	}
	return g.resume(c, g.epoch.ctx.CipherSuite, cfg, codec.ResumptionPSKUsageBranch, kps, opts)
}

// JoinBranch joins a subgroup of parent from the Welcome that Branch made
// (RFC 9420 §11.3, §12.4.3.1). c holds the key package the Welcome is for;
// the branch PSK is resolved from parent (its current epoch or a kept one).
// Besides the checks of every join it verifies that the Welcome injects
// exactly one branch PSK, of parent; that the new group is in epoch 1 with
// parent's version and cipher suite; and that every member of the new group
// is (by credential identity) a member of parent. These failures match
// ErrResumption; without parent's PSK the join fails with a
// *MissingPSKError.
func JoinBranch(c *Client, parent *Group, welcome []byte, tree codec.RatchetTree, cfg GroupConfig) (*Group, error) {
	if parent == nil {
		return nil, fmt.Errorf("%w: nil parent group", ErrInvalidArgument)
	}
	cfg.ResumptionPSKs = ResumptionPSKsOf(parent)
	pw, err := ProcessWelcome(c, welcome, cfg)
	if err != nil {
		return nil, err
	}
	sw, err := func() (*StagedWelcome, error) {
		if _, err := pw.requireResumption(codec.ResumptionPSKUsageBranch, parent); err != nil {
			return nil, err
		}
		ctx := &pw.d.GroupInfo.GroupContext
		if ctx.CipherSuite != parent.epoch.ctx.CipherSuite {
			return nil, fmt.Errorf("%w: the branch's suite %v differs from the parent's %v", ErrResumption, ctx.CipherSuite, parent.epoch.ctx.CipherSuite)
		}
		sw, err := pw.Stage(tree)
		if err != nil {
			return nil, err
		}
		if err := membersMatch(sw.Members(), parent.Members(), "branch", "parent"); err != nil {
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
