package mls

import (
	"slices"

	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/providers"
)

// A change of a group is staged, written, and only then installed:
//
//  1. stage: the group as it will be is built as a copy of the Group (next)
//     whose changed fields are new values; nothing the live group holds is
//     modified (slices are copied before they are changed, secrets the
//     change ends are erased only at step 3). A Commit's change of the
//     ratchet tree stays a ratchettree.Diff, and a consumed generation of
//     a sender ratchet stays a secrettree.Staged: the records are written
//     from them as they will be (Diff.Changes, Diff.RatchetTree,
//     Tree.ExportStaged).
//  2. write: every record of the change — group state, epoch secrets,
//     ratchet trees, the pruning of epochs no longer kept, key pairs the
//     change stores or deletes — is written in one providers.Storage
//     Update transaction.
//  3. install, only if the transaction committed: the Diff is merged, the
//     staged generations are committed to their secret trees, the live
//     Group becomes next, and the secrets of the old state that the new one
//     does not keep are erased.
//
// A change whose transaction fails leaves the group, in memory and in
// storage, exactly as it was: it can be retried.
//
// Received messages (batch.go) are the one exception to "staged, then
// installed": each message of a batch commits the generation it consumes
// in memory, so that the next message sees it, on a secret tree marked
// for undo (secrettree.Tree.Mark), and the batch then writes the changed
// nodes as a light change (stageSecrets). If that transaction fails, the
// trees are restored to what they held at the mark (Tree.Undo), which is
// what storage holds: the outcome is the same, the group is as it was. Nothing after the commit
// point can fail (a Diff merges unless stale, which staging excludes; a
// Staged commits unless its tree changed, which nothing does in between).
type change struct {
	g *Group
	// next is the staged group (nil for a light change): a pointer, so
	// that a light change, made for every message sent or received, is
	// a small allocation rather than one the size of a Group.
	next *Group
	// diff is a Commit's change of the current tree (nil if none): the
	// tree of next's current epoch is diff's until it is merged.
	diff *ratchettree.Diff
	// keys are the sender-ratchet generations the change consumes (§9.2);
	// a message consumes one, kept in key0 without an allocation.
	keys []stagedKey
	key0 [1]stagedKey
	// writes are other writes of the transaction (key pairs).
	writes []func(providers.Records) error
	// done runs after the change is installed: erasing what the old
	// state held and the new one does not (§9.2).
	done []func()
	// fail runs when the change is abandoned: erasing what only the
	// staged state held.
	fail []func()
	// trees are the secret trees whose changes the transaction stores,
	// forgotten once it is installed (Tree.ClearChanged); a message
	// stores one, kept in tree0 without an allocation.
	trees []*secrettree.Tree
	tree0 [1]*secrettree.Tree
	// nodes, leaf and record are the storage in which a message's change
	// of a secret tree is exported and encoded (saveTreeNodes: the
	// sender's leaf, and the nodes a first derivation changes), part of
	// the change's one allocation; each is erased after use.
	nodes  [2]secrettree.NodeContent
	leaf   secrettree.LeafRecord
	record [128]byte
	// light marks a change that only consumes generations (stageSecrets):
	// next is not used, the group itself is the staged group.
	light bool
}

// group returns the group as the change makes it: next, or the group
// itself for a light change.
func (c *change) group() *Group {
	if c.light {
		return c.g
	}
	return c.next
}

// storesTree records that the transaction stores the changes of t.
func (c *change) storesTree(t *secrettree.Tree) {
	if c.trees == nil {
		c.trees = c.tree0[:0]
	}
	c.trees = append(c.trees, t)
}

// stagedKey is a generation of a sender ratchet of an epoch's secret tree,
// consumed by a change.
type stagedKey struct {
	epoch uint64
	st    *secrettree.Staged
}

// stage starts a change of g: next is a copy of g whose slices the change
// may modify.
func (g *Group) stage() *change {
	n := new(Group)
	*n = *g
	c := &change{g: g, next: n}
	n.proposals = slices.Clone(g.proposals)
	n.past = slices.Clone(g.past)
	n.resumption = slices.Clone(g.resumption)
	n.treeCache.wholes = slices.Clone(g.treeCache.wholes)
	return c
}

// stageSecrets starts a change of g that only consumes sender-ratchet
// generations (sending or receiving a message): the staged group is g
// itself, read only, so nothing is copied.
func (g *Group) stageSecrets() *change {
	return &change{g: g, light: true}
}

// lightChange is a light change (stageSecrets) that stores the changed
// nodes of the secret trees of some epochs, kept by the group with the
// function its transaction runs (write), so that the change of a message
// sent or received, made for every message, allocates neither: one per
// group suffices, as a Group is not safe for concurrent use and a
// message's change is committed or abandoned before the method that
// started it returns.
type lightChange struct {
	c      change
	epochs []uint64 // the epochs whose secret trees write stores
	epoch0 [1]uint64
	write  func(tx providers.Records) error
}

// stageMessage starts the light change of g that stores the secret trees
// of epochs (their changed nodes, with the generations the change
// consumes, saveTreeNodes); the caller adds the consumed generations
// (change.consume) and commits it with commitMessage.
func (g *Group) stageMessage() *lightChange {
	l := g.light
	if l == nil {
		l = new(lightChange)
		l.write = func(tx providers.Records) error {
			for _, e := range l.epochs {
				if err := l.c.saveTreeNodes(tx, e); err != nil {
					return err
				}
			}
			return nil
		}
		g.light = l
	}
	l.c = change{g: g, light: true}
	l.epochs = l.epoch0[:0]
	return l
}

// commitMessage commits the change (change.commit) and ends it: the
// lightChange keeps nothing of it.
func (l *lightChange) commitMessage() error {
	err := l.c.commit(l.write)
	l.c = change{}
	l.epochs = nil
	return err
}

// consume adds a consumed generation of epoch's secret tree.
func (c *change) consume(epoch uint64, st *secrettree.Staged) {
	if st != nil {
		if c.keys == nil {
			c.keys = c.key0[:0]
		}
		c.keys = append(c.keys, stagedKey{epoch: epoch, st: st})
	}
}

// staged returns the consumed generation of epoch's secret tree, if any.
func (c *change) staged(epoch uint64) *secrettree.Staged {
	for _, k := range c.keys {
		if k.epoch == epoch {
			return k.st
		}
	}
	return nil
}

// commit writes the change with write (called with the change's
// transaction) and the change's other writes in one transaction, and
// installs it if the transaction committed. On error the change is
// abandoned and the group is unchanged.
func (c *change) commit(write func(tx providers.Records) error) error {
	g := c.g
	fn := write
	if len(c.writes) > 0 {
		fn = func(tx providers.Records) error {
			for _, w := range c.writes {
				if err := w(tx); err != nil {
					return err
				}
			}
			return write(tx)
		}
	}
	err := g.store.Update(fn)
	if err != nil {
		c.abandon()
		return err
	}
	if c.diff != nil {
		if _, err := c.diff.Merge(); err != nil {
			// Unreachable: the change was staged on the current tree
			// and nothing changed it since.
			panic("mls: merging a staged tree change after it was stored: " + err.Error())
		}
	}
	for _, k := range c.keys {
		if err := k.st.Commit(); err != nil {
			panic("mls: committing a staged key after it was stored: " + err.Error())
		}
		k.st.Discard()
	}
	if !c.light {
		*g = *c.next
	}
	for _, t := range c.trees {
		t.ClearChanged()
	}
	for _, f := range c.done {
		f()
	}
	return nil
}

// abandon drops a change that was not installed.
func (c *change) abandon() {
	for _, k := range c.keys {
		k.st.Discard()
	}
	for _, f := range c.fail {
		f()
	}
}

// save writes the whole staged state (see (*change).save).
func (c *change) commitSave() error {
	return c.commit(c.save)
}

// save writes g's current state again, in one transaction; it changes
// nothing (tests and tools use it).
func (g *Group) save() error { return g.stage().commitSave() }

// saveSecrets writes the current epoch's secret tree again.
func (g *Group) saveSecrets() error {
	c := g.stageSecrets()
	return c.commit(func(tx providers.Records) error { return c.saveEpochSecrets(tx, g.epoch.ctx.Epoch) })
}
