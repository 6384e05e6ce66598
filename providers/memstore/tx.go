package memstore

import (
	"errors"
	"slices"

	"github.com/mlskit/mlskit/providers"
)

// ErrTxDone is returned by a call on a transaction after its function
// returned.
var ErrTxDone = errors.New("memstore: transaction already finished")

// Update implements providers.Transactor. The transaction's writes and
// deletions are kept in an overlay (copies of the values) that its own
// reads consult first; when fn returns nil they are applied together under
// the store's lock, so no reader ever sees part of them. A transaction that
// fails is dropped with its overlay's copies zeroed.
func (s *Store) Update(fn func(tx providers.Records) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx := &tx{s: s}
	tx.changes = tx.small[:0]
	if s.spare != nil {
		tx.changes, s.spare = s.spare, nil
	}
	err := fn(tx)
	tx.done = true
	if err != nil {
		tx.discard()
		s.recycle(tx)
		return err
	}
	s.mu.Lock()
	for i := range tx.changes {
		s.apply(tx.changes[i].k, tx.changes[i].c)
	}
	s.mu.Unlock()
	s.recycle(tx)
	return nil
}

// recycle keeps the change list and index of tx, a finished transaction,
// for the next one (Store.spare), emptied: the values they referred to
// are the store's now, or zeroed. The caller holds writeMu; tx refers to
// neither afterwards (a call on it returns ErrTxDone before looking).
func (s *Store) recycle(tx *tx) {
	if cap(tx.changes) > len(tx.small) && cap(tx.changes) <= maxSpare {
		clear(tx.changes)
		s.spare = tx.changes[:0]
	}
	if tx.index != nil && len(tx.index) <= maxSpare {
		clear(tx.index)
		s.spareIndex = tx.index
	}
	tx.changes, tx.index = nil, nil
}

// tx is a transaction's view of the store. Only the goroutine that runs
// its function uses it; the store's writeMu keeps every other writer out
// until it finishes.
type tx struct {
	s *Store
	// changes holds one change per record, in the order in which records
	// were first changed, so that a commit applies them
	// deterministically. A transaction of a message changes one or a few
	// records: they are found by a scan of small, without a map; index
	// maps the keys of a larger one.
	changes []txChange
	small   [4]txChange
	index   map[recordKey]int
	done    bool
}

// txChange is a change of the record k.
type txChange struct {
	k recordKey
	c change
}

// indexFrom is the number of changes from which a transaction indexes
// them in a map.
const indexFrom = 16

var _ providers.Records = (*tx)(nil)

// find returns the position of record k's change, or -1.
func (t *tx) find(k recordKey) int {
	if t.index != nil {
		if i, ok := t.index[k]; ok {
			return i
		}
		return -1
	}
	for i := range t.changes {
		if t.changes[i].k == k {
			return i
		}
	}
	return -1
}

func (t *tx) set(k recordKey, c change) error {
	if t.done {
		if !c.del {
			clear(c.value)
		}
		return ErrTxDone
	}
	if i := t.find(k); i >= 0 {
		if old := t.changes[i].c; !old.del {
			clear(old.value)
		}
		t.changes[i].c = c
		return nil
	}
	t.changes = append(t.changes, txChange{k: k, c: c})
	switch n := len(t.changes); {
	case t.index != nil:
		t.index[k] = n - 1
	case n >= indexFrom:
		if t.index, t.s.spareIndex = t.s.spareIndex, nil; t.index == nil {
			t.index = make(map[recordKey]int, 2*n)
		}
		for i := range t.changes {
			t.index[t.changes[i].k] = i
		}
	}
	return nil
}

func (t *tx) get(k recordKey, missing func() error) (uint16, []byte, error) {
	if t.done {
		return 0, nil, ErrTxDone
	}
	if i := t.find(k); i >= 0 {
		c := t.changes[i].c
		if c.del {
			return 0, nil, missing()
		}
		return c.version, clone(c.value), nil
	}
	return t.s.read(k, missing)
}

// groupKey returns groupID as a key string, without allocating when it is
// the group of the store's previous transaction (a group's records are
// keyed by its id; the store keeps the last one, under writeMu).
func (t *tx) groupKey(groupID []byte) string {
	if string(groupID) != t.s.lastGroup {
		t.s.lastGroup = string(groupID)
	}
	return t.s.lastGroup
}

func (t *tx) epochKey(sp space, g []byte, e uint64) recordKey {
	return recordKey{space: sp, key: t.groupKey(g), epoch: e}
}

func (t *tx) nodeKey(g []byte, e uint64, x uint32) recordKey {
	return recordKey{space: spaceSecretTree, key: t.groupKey(g), epoch: e, node: x}
}

// discard zeroes the overlay's copies of a transaction that did not commit.
func (t *tx) discard() {
	for i := range t.changes {
		if c := t.changes[i].c; !c.del {
			clear(c.value)
		}
	}
}

// listKeys merges the committed keys of a key space with the overlay's.
func (t *tx) listKeys(sp space) ([][]byte, error) {
	if t.done {
		return nil, ErrTxDone
	}
	t.s.mu.RLock()
	keys := t.s.keys(sp)
	t.s.mu.RUnlock()
	present := make(map[string]bool, len(keys))
	for _, k := range keys {
		present[k] = true
	}
	for i := range t.changes {
		if k, c := t.changes[i].k, t.changes[i].c; k.space == sp {
			present[k.key] = !c.del
		}
	}
	out := make([]string, 0, len(present))
	for k, ok := range present {
		if ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return toBytes(out), nil
}

// listEpochs merges the committed epochs of a group in an epoch key space
// with the overlay's.
func (t *tx) listEpochs(sp space, groupID []byte) ([]uint64, error) {
	if t.done {
		return nil, ErrTxDone
	}
	out := t.s.listEpochs(sp, groupID)
	for i := range t.changes {
		if k := t.changes[i].k; k.space == sp && k.key == string(groupID) {
			out = overlay(out, k.epoch, t.changes[i].c.del)
		}
	}
	return out, nil
}

// overlay applies a transaction's change of the record x to sorted, the
// sorted list of the store's records, and returns the list the
// transaction sees. A transaction holds one change per record, so its
// changes can be applied one by one, without a set.
func overlay[T uint32 | uint64](sorted []T, x T, del bool) []T {
	i, found := slices.BinarySearch(sorted, x)
	switch {
	case del && found:
		return slices.Delete(sorted, i, i+1)
	case !del && !found:
		return slices.Insert(sorted, i, x)
	}
	return sorted
}

func (t *tx) WriteGroupState(groupID []byte, version uint16, state []byte) error {
	return t.set(recordKey{space: spaceGroup, key: t.groupKey(groupID)}, change{version: version, value: clone(state)})
}

func (t *tx) ReadGroupState(groupID []byte) (uint16, []byte, error) {
	return t.get(recordKey{space: spaceGroup, key: t.groupKey(groupID)}, flatMissing(spaceGroup, groupID))
}

func (t *tx) DeleteGroupState(groupID []byte) error {
	return t.set(recordKey{space: spaceGroup, key: t.groupKey(groupID)}, change{del: true})
}

func (t *tx) ListGroups() ([][]byte, error) { return t.listKeys(spaceGroup) }

func (t *tx) WriteKeyPackage(ref, bundle []byte) error {
	return t.set(flatKey(spaceKeyPackage, ref), put(bundle))
}

func (t *tx) ReadKeyPackage(ref []byte) ([]byte, error) {
	_, v, err := t.get(flatKey(spaceKeyPackage, ref), flatMissing(spaceKeyPackage, ref))
	return v, err
}

func (t *tx) DeleteKeyPackage(ref []byte) error {
	return t.set(flatKey(spaceKeyPackage, ref), change{del: true})
}

func (t *tx) ListKeyPackages() ([][]byte, error) { return t.listKeys(spaceKeyPackage) }

func (t *tx) WriteSignatureKeyPair(publicKey, keyPair []byte) error {
	return t.set(flatKey(spaceSigKey, publicKey), put(keyPair))
}

func (t *tx) ReadSignatureKeyPair(publicKey []byte) ([]byte, error) {
	_, v, err := t.get(flatKey(spaceSigKey, publicKey), flatMissing(spaceSigKey, publicKey))
	return v, err
}

func (t *tx) DeleteSignatureKeyPair(publicKey []byte) error {
	return t.set(flatKey(spaceSigKey, publicKey), change{del: true})
}

func (t *tx) WriteEncryptionKeyPair(publicKey, keyPair []byte) error {
	return t.set(flatKey(spaceEncKey, publicKey), put(keyPair))
}

func (t *tx) ReadEncryptionKeyPair(publicKey []byte) ([]byte, error) {
	_, v, err := t.get(flatKey(spaceEncKey, publicKey), flatMissing(spaceEncKey, publicKey))
	return v, err
}

func (t *tx) DeleteEncryptionKeyPair(publicKey []byte) error {
	return t.set(flatKey(spaceEncKey, publicKey), change{del: true})
}

func (t *tx) WritePSK(id, psk []byte) error { return t.set(flatKey(spacePSK, id), put(psk)) }

func (t *tx) ReadPSK(id []byte) ([]byte, error) {
	_, v, err := t.get(flatKey(spacePSK, id), flatMissing(spacePSK, id))
	return v, err
}

func (t *tx) DeletePSK(id []byte) error { return t.set(flatKey(spacePSK, id), change{del: true}) }

func (t *tx) WriteEpochSecrets(groupID []byte, epoch uint64, secrets []byte) error {
	return t.set(t.epochKey(spaceEpochSecrets, groupID, epoch), put(secrets))
}

func (t *tx) ReadEpochSecrets(groupID []byte, epoch uint64) ([]byte, error) {
	_, v, err := t.get(t.epochKey(spaceEpochSecrets, groupID, epoch), epochMissing(spaceEpochSecrets, groupID, epoch))
	return v, err
}

func (t *tx) DeleteEpochSecrets(groupID []byte, epoch uint64) error {
	return t.set(t.epochKey(spaceEpochSecrets, groupID, epoch), change{del: true})
}

func (t *tx) ListEpochs(groupID []byte) ([]uint64, error) {
	return t.listEpochs(spaceEpochSecrets, groupID)
}

func (t *tx) WriteRatchetTree(groupID []byte, epoch uint64, tree []byte) error {
	return t.set(t.epochKey(spaceTree, groupID, epoch), put(tree))
}

func (t *tx) ReadRatchetTree(groupID []byte, epoch uint64) ([]byte, error) {
	_, v, err := t.get(t.epochKey(spaceTree, groupID, epoch), epochMissing(spaceTree, groupID, epoch))
	return v, err
}

func (t *tx) DeleteRatchetTree(groupID []byte, epoch uint64) error {
	return t.set(t.epochKey(spaceTree, groupID, epoch), change{del: true})
}

func (t *tx) ListRatchetTrees(groupID []byte) ([]uint64, error) {
	return t.listEpochs(spaceTree, groupID)
}

func (t *tx) WriteSecretTreeNode(groupID []byte, epoch uint64, node uint32, value []byte) error {
	return t.set(t.nodeKey(groupID, epoch, node), put(value))
}

func (t *tx) ReadSecretTreeNode(groupID []byte, epoch uint64, node uint32) ([]byte, error) {
	_, v, err := t.get(t.nodeKey(groupID, epoch, node), nodeMissing(groupID, epoch, node))
	return v, err
}

func (t *tx) DeleteSecretTreeNode(groupID []byte, epoch uint64, node uint32) error {
	return t.set(t.nodeKey(groupID, epoch, node), change{del: true})
}

// DeleteSecretTree deletes, in the transaction, every node of the epoch's
// tree that it sees: the store's and those the transaction wrote.
func (t *tx) DeleteSecretTree(groupID []byte, epoch uint64) error {
	xs, err := t.ListSecretTreeNodes(groupID, epoch)
	if err != nil {
		return err
	}
	for _, x := range xs {
		if err := t.set(t.nodeKey(groupID, epoch, x), change{del: true}); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) ListSecretTreeNodes(groupID []byte, epoch uint64) ([]uint32, error) {
	if t.done {
		return nil, ErrTxDone
	}
	t.s.mu.RLock()
	out := t.s.nodes(string(groupID), epoch)
	t.s.mu.RUnlock()
	for i := range t.changes {
		if k := t.changes[i].k; k.space == spaceSecretTree && k.key == string(groupID) && k.epoch == epoch {
			out = overlay(out, k.node, t.changes[i].c.del)
		}
	}
	return out, nil
}
