package mls

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
)

// Processing messages in batches.
//
// Every accepted PrivateMessage deletes the key of its generation (RFC 9420
// §9.2), a change of the group that must be durable before the message is
// handed to the application: otherwise a crash would bring the key back,
// and with it the possibility to decrypt the message again. ProcessMessage
// pays one storage transaction (with a durable store, one flush to stable
// storage) per message. ProcessMessages processes many messages with one
// transaction for all of them: each accepted message commits its
// generation in memory so that the next message sees it (a replay within
// the batch is refused, as it would be in sequence), the secret trees
// record what they replaced (secrettree.Tree.Mark), and at the end the
// nodes the batch changed are written once each, in one transaction
// (saveTreeNodes: a record consumed and recreated within the batch is
// written once, and a node secret derived and consumed within the batch
// not at all). If that transaction fails, the trees are restored
// (secrettree.Tree.Undo) to what storage still holds. ProcessMessage is a
// batch of one.

// batch is a run of messages processed with one storage transaction.
type batch struct {
	g *Group
	// marked are the epochs whose secret trees the batch changed (marked
	// for undo); a batch of one message marks at most one, kept in
	// marked0 without an allocation.
	marked  []markedTree
	marked0 [1]markedTree
}

type markedTree struct {
	epoch uint64
	tree  *secrettree.Tree
}

// ProcessResult is the outcome of one message of ProcessMessages: the
// processed message, or the error that refused it.
type ProcessResult struct {
	Message *ProcessedMessage
	Err     error
}

// ErrNotProcessed: a message of a batch (ProcessMessages) that was not
// processed because an earlier message of the batch was a proposal or a
// Commit that the application must handle first. Nothing was done with
// it: pass it again.
var ErrNotProcessed = errors.New("mls: not processed: an earlier handshake message of the batch needs the application first")

// ProcessMessages processes msgs, MLSMessages of this group, in order, as
// ProcessMessage would one after another, and stores what they change in
// one storage transaction: one durable write for the whole batch instead
// of one per message. It returns one ProcessResult per message, at the
// same index.
//
//   - Each message is processed against the group as the earlier messages
//     of the batch left it: a generation consumed by an earlier message is
//     refused as reused (§9.2), so a message given twice is accepted once.
//   - A message that is refused leaves the group exactly as it was before
//     it (with the one exception ProcessMessage documents: an
//     authenticated PrivateMessage whose content breaks a rule consumes
//     its generation); the other messages of the batch still apply.
//   - The generations the accepted messages consume (§9.2: a key is used
//     once) are stored in one providers.Storage transaction, each changed
//     record of the secret trees written once. Nothing is returned before
//     that transaction committed. If it fails, the group is, in memory
//     and in storage, exactly as before the batch, the error is returned,
//     and every result's Err wraps it (with the message's own error, if
//     any): the whole batch can be processed again.
//   - A handshake message that needs the application's decision ends the
//     batch: after an accepted proposal (KindProposal, to store with
//     StoreProposal, §12.1) or Commit (KindCommit, to merge with
//     MergeStagedCommit, §12.4.2), the remaining messages are not
//     processed and their results hold ErrNotProcessed, since a later
//     Commit may cover that proposal and later messages may belong to the
//     epoch that Commit starts. Pass them again once it is handled. An
//     encrypted Commit consumes its generation only when merged, as with
//     ProcessMessage.
//
// The batch is bounded only by the caller: its results (decrypted
// application messages included) are held until the transaction commits.
func (g *Group) ProcessMessages(msgs [][]byte) ([]ProcessResult, error) {
	res := make([]ProcessResult, len(msgs))
	b := g.newBatch()
	stop := -1
	for i, data := range msgs {
		if stop >= 0 {
			res[i].Err = fmt.Errorf("%w (message %d of the batch is a %v)", ErrNotProcessed, stop, res[stop].Message.Kind)
			continue
		}
		pm, err := b.processMessage(data)
		res[i] = ProcessResult{Message: pm, Err: err}
		if err == nil && (pm.Kind == KindProposal || pm.Kind == KindCommit) {
			stop = i
		}
	}
	if err := b.commit(); err != nil {
		err = fmt.Errorf("mls: storing the batch: %w", err)
		for i := range res {
			res[i] = ProcessResult{Err: errors.Join(res[i].Err, err)}
		}
		return res, err
	}
	return res, nil
}

// String returns the name of the kind.
func (k ContentKind) String() string {
	switch k {
	case KindApplication:
		return "application message"
	case KindProposal:
		return "proposal"
	case KindCommit:
		return "Commit"
	}
	return fmt.Sprintf("ContentKind(%d)", uint8(k))
}

// newBatch starts a batch of g.
func (g *Group) newBatch() batch { return batch{g: g} }

// processMessage decodes an MLSMessage and processes it in the batch.
func (b *batch) processMessage(data []byte) (*ProcessedMessage, error) {
	g := b.g
	var m codec.MLSMessage
	if err := g.limits().decodeMessage("MLSMessage", data, &m); err != nil {
		return nil, err
	}
	if err := g.limits().checkMessageCounts(&m); err != nil {
		return nil, err
	}
	if m.PublicMessage != nil && g.epoch != nil && g.epoch.protector != nil {
		g.epoch.protector.Reserve(len(data) + len(g.epoch.ctxBytes))
	}
	return b.process(&m, data)
}

// consume commits a generation of epoch's secret tree that a message of
// the batch used (§9.2), in memory: the tree is marked first, so that the
// batch can undo it if storing fails.
func (b *batch) consume(epoch uint64, key *secrettree.Staged) error {
	defer key.Discard()
	t := b.g.epochSecretTree(epoch)
	if t == nil {
		return fmt.Errorf("mls: no secret tree for epoch %d", epoch)
	}
	if !t.Marked() {
		t.Mark()
		if b.marked == nil {
			b.marked = b.marked0[:0]
		}
		b.marked = append(b.marked, markedTree{epoch: epoch, tree: t})
	}
	if err := key.Commit(); err != nil {
		return fmt.Errorf("mls: consuming a generation of epoch %d: %w", epoch, err)
	}
	return nil
}

// commit stores, in one transaction, the nodes of the secret trees that
// the batch changed (none: no transaction), and ends the batch: on success
// the trees keep their changes, on failure they are restored to what they
// held before the batch (what storage still holds) and the error is
// returned.
func (b *batch) commit() error {
	if len(b.marked) == 0 {
		return nil
	}
	l := b.g.stageMessage()
	for _, m := range b.marked {
		l.epochs = append(l.epochs, m.epoch)
	}
	err := l.commitMessage()
	for _, m := range b.marked {
		if err != nil {
			m.tree.Undo()
		} else {
			m.tree.Release()
		}
	}
	b.marked = nil
	return err
}
