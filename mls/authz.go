package mls

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/providers"
)

// ErrGroupExists: a group being created or joined has the group_id of a
// group already in the client's storage (RFC 9420 §8.1: group ids are
// unique). mls never overwrites a stored group with another one: the
// group_id of a Welcome is chosen by its sender, and anyone holding one of
// our KeyPackages could otherwise replace a stored group. To join again a
// group this client was removed from, delete the old one first
// (DeleteGroup).
var ErrGroupExists = errors.New("mls: a group with this id is already stored")

// checkGroupAbsent returns ErrGroupExists if s holds a group groupID.
func checkGroupAbsent(s providers.GroupStateStore, groupID []byte) error {
	_, _, err := s.ReadGroupState(groupID)
	switch {
	case err == nil:
		return fmt.Errorf("%w: group %x", ErrGroupExists, groupID)
	case errors.Is(err, ErrNotFound):
		return nil
	}
	return fmt.Errorf("mls: looking up group %x: %w", groupID, err)
}

// ErrStaleProposal: StoreProposal was given a proposal of another epoch
// than the group's current one (RFC 9420 §12.4.2: the proposal store holds
// the proposals of one epoch; a Commit can only reference those).
var ErrStaleProposal = errors.New("mls: proposal of another epoch")

// checkProposalEpoch refuses a proposal that was not sent in the current
// epoch.
func (g *Group) checkProposalEpoch(q *QueuedProposal) error {
	if q.Epoch != g.epoch.ctx.Epoch {
		return fmt.Errorf("%w: proposal of epoch %d, group in epoch %d", ErrStaleProposal, q.Epoch, g.epoch.ctx.Epoch)
	}
	return nil
}
