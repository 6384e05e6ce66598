package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
)

// Resumption PSKs on the join path (RFC 9420 §8.6, §11.2, §11.3,
// §12.4.3.1): a Welcome whose GroupSecrets name resumption PSKs (usage
// application, reinit or branch) is joined with a ResumptionPSKFunc that
// finds them in the groups this client has.

// ErrResumption is matched by every error of the checks a joiner makes on a
// Welcome that uses a reinit or branch resumption PSK (RFC 9420 §12.4.3.1):
// more than one such PSK, an epoch other than 1, parameters that do not
// match the ReInit proposal or the parent group, or members that were not
// members of the referenced group.
var ErrResumption = errors.New("mls: Welcome does not match the group it resumes")

// ResumptionPSKsOf returns a ResumptionPSKFunc that serves the resumption
// PSKs the groups hold (RFC 9420 §8.6): the current epoch's of each group
// (also of a group that a ReInit Commit ended: its last epoch is the one a
// reinit PSK names), and those of the past epochs each group keeps
// (GroupConfig.NumberOfResumptionPSKs). Other PSKs give ErrNotFound.
func ResumptionPSKsOf(groups ...*Group) ResumptionPSKFunc {
	return func(groupID []byte, epoch uint64) ([]byte, error) {
		for _, g := range groups {
			if g == nil || g.epoch == nil || !bytes.Equal(g.epoch.ctx.GroupID, groupID) {
				continue
			}
			if v, err := g.resumptionPSK(groupID, epoch); err == nil {
				return v, nil
			}
		}
		return nil, fmt.Errorf("%w: resumption PSK of group %x epoch %d", ErrNotFound, groupID, epoch)
	}
}

// StoredResumptionPSKs returns a ResumptionPSKFunc that loads the group a
// resumption PSK names from the client's storage (LoadGroup) and returns
// the PSK if the group holds it (see ResumptionPSKsOf). A group that is not
// stored gives ErrNotFound.
func StoredResumptionPSKs(c *Client) ResumptionPSKFunc {
	return func(groupID []byte, epoch uint64) ([]byte, error) {
		g, err := LoadGroup(c, groupID)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: loading group %x: %v", ErrNotFound, groupID, err)
		}
		defer g.epoch.zero()
		return ResumptionPSKsOf(g)(groupID, epoch)
	}
}

// resumptionPSK returns the reinit or branch PSK of the Welcome's
// GroupSecrets (nil if none) after checking that it is the only one and
// that the GroupInfo's epoch is 1 (RFC 9420 §12.4.3.1).
func (pw *ProcessedWelcome) resumptionPSK() (*codec.PreSharedKeyID, error) {
	var found *codec.PreSharedKeyID
	for i := range pw.d.GroupSecrets.Psks {
		id := &pw.d.GroupSecrets.Psks[i]
		if id.PSKType != codec.PSKTypeResumption || (id.Usage != codec.ResumptionPSKUsageReInit && id.Usage != codec.ResumptionPSKUsageBranch) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: more than one reinit or branch PSK (RFC 9420 §12.4.3.1)", ErrResumption)
		}
		found = id
	}
	if found != nil && pw.d.GroupInfo.GroupContext.Epoch != 1 {
		return nil, fmt.Errorf("%w: a %v PSK in a Welcome to epoch %d, not 1 (RFC 9420 §12.4.3.1)", ErrResumption, found.Usage, pw.d.GroupInfo.GroupContext.Epoch)
	}
	return found, nil
}

// requireResumption checks that the Welcome injects a resumption PSK of
// usage of the group old in one of its epochs, and returns it.
func (pw *ProcessedWelcome) requireResumption(usage codec.ResumptionPSKUsage, old *Group) (*codec.PreSharedKeyID, error) {
	id, err := pw.resumptionPSK()
	if err != nil {
		return nil, err
	}
	if id == nil || id.Usage != usage {
		return nil, fmt.Errorf("%w: the Welcome has no %v PSK", ErrResumption, usage)
	}
	if !bytes.Equal(id.PSKGroupID, old.epoch.ctx.GroupID) {
		return nil, fmt.Errorf("%w: the %v PSK names group %x, not %x", ErrResumption, usage, id.PSKGroupID, old.epoch.ctx.GroupID)
	}
	return id, nil
}

// membersMatch checks that every member of sub has the identity of some
// member of super ("according to the application": the credentials'
// identities are equal) (RFC 9420 §11.2, §11.3).
func membersMatch(sub, super []Member, subName, superName string) error {
	ids := map[string]bool{}
	for _, m := range super {
		ids[string(m.Credential.Identity())] = true
	}
	for _, m := range sub {
		if !ids[string(m.Credential.Identity())] {
			return fmt.Errorf("%w: %q of the %s group is not a member of the %s group", ErrResumption, m.Credential.Identity(), subName, superName)
		}
	}
	return nil
}

// initialCommit creates and merges the first Commit of a group created to
// resume old (a ReInit successor or a branch, RFC 9420 §11.2, §11.3): it
// adds the key packages and injects the resumption PSK of usage for old's
// current epoch, with a fresh psk_nonce. The Welcome it returns is what the
// new members join with.
func (g *Group) initialCommit(old *Group, usage codec.ResumptionPSKUsage, kps []*codec.KeyPackage, opts *ResumeOptions) (*CommitResult, error) {
	id, err := NewResumptionPSKID(g.provider, g.cs, usage, old.epoch.ctx.GroupID, old.epoch.ctx.Epoch)
	if err != nil {
		return nil, err
	}
	// The PSK's value is old's resumption_psk (of its current epoch; for
	// a group a ReInit ended, its last one).
	res, err := g.Commit(CommitOptions{Add: kps, PSKs: []codec.PreSharedKeyID{id}, ForcePath: opts.ForcePath, RatchetTreeOutOfBand: opts.RatchetTreeOutOfBand, ExcludePending: true, initialResumption: ResumptionPSKsOf(old)})
	if err != nil {
		return nil, err
	}
	if err := g.MergePendingCommit(); err != nil {
		return nil, err
	}
	return res, nil
}
