// Package memstore is an in-memory [providers.Storage]: maps guarded by a
// mutex. It suits tests, short-lived clients and as a model for persistent
// implementations; its content is lost when the process exits.
//
// Values are copied on the way in and on the way out, so callers never alias
// the store's buffers, and every value is overwritten with zeros when it is
// deleted or replaced (RFC 9420 §9.2: deleted secrets must not linger in
// memory the store controls).
//
// A transaction ([Store.Update]) collects its writes and deletions in an
// overlay that only its own reads see, and applies them all under the
// store's lock when it commits; transactions, and the single Write and
// Delete calls, run one at a time.
package memstore

import (
	"fmt"
	"slices"
	"sync"

	"github.com/mlskit/mlskit/providers"
)

// Store is an in-memory providers.Storage. The zero value is not usable; call
// [New]. It is safe for concurrent use.
type Store struct {
	// writeMu serializes writers: transactions and single writes.
	writeMu sync.Mutex
	// lastGroup is the group id of the previous transaction's records,
	// under writeMu (tx.groupKey).
	lastGroup string
	// mu guards the maps; readers take it shared.
	mu           sync.RWMutex
	groups       map[string]groupState
	keyPackages  map[string][]byte
	sigKeys      map[string][]byte
	encKeys      map[string][]byte
	psks         map[string][]byte
	epochSecrets map[string]map[uint64][]byte
	trees        map[string]map[uint64][]byte
	// secretTrees: group id → epoch → node → value.
	secretTrees map[string]map[uint64]map[uint32][]byte
	// spare and spareIndex are the change list and index of the last
	// transaction that outgrew tx.small, emptied, under writeMu: the next
	// transaction reuses them, so that one that changes many records (a
	// merged Commit changes about 30: the new epoch's secret tree nodes,
	// the pruned epoch's) does not grow its list and build its index
	// again each time. At most maxSpare changes are kept.
	spare      []txChange
	spareIndex map[recordKey]int
}

// maxSpare bounds the changes of the list and index a store keeps for its
// next transaction (Store.spare): larger ones, of a group's creation or of
// a large batch, are dropped.
const maxSpare = 256

type groupState struct {
	version uint16
	state   []byte
}

var _ providers.Storage = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		groups:       make(map[string]groupState),
		keyPackages:  make(map[string][]byte),
		sigKeys:      make(map[string][]byte),
		encKeys:      make(map[string][]byte),
		psks:         make(map[string][]byte),
		epochSecrets: make(map[string]map[uint64][]byte),
		trees:        make(map[string]map[uint64][]byte),
		secretTrees:  make(map[string]map[uint64]map[uint32][]byte),
	}
}

// clone returns a copy of b that is never nil, so that a stored empty value
// reads back as empty rather than absent.
func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}

// notFoundError is the error of a record that is not stored; it matches
// providers.ErrNotFound. A miss is an ordinary answer (a joiner checks
// that a group id is free, looks its KeyPackage up among a Welcome's
// entries), so the message is formatted only if asked for, not at each
// miss (about 1 µs each, a few per join).
type notFoundError struct {
	kind  string
	key   string // the record's key, or its group id
	epoch uint64
	node  uint32
	form  uint8 // 0: by key; 1: by group and epoch; 2: secret tree node
}

func (e *notFoundError) Error() string {
	switch e.form {
	case 1:
		return fmt.Sprintf("memstore: %s of group %x epoch %d: %v", e.kind, e.key, e.epoch, providers.ErrNotFound)
	case 2:
		return fmt.Sprintf("memstore: secret tree node %d of group %x epoch %d: %v", e.node, e.key, e.epoch, providers.ErrNotFound)
	}
	return fmt.Sprintf("memstore: %s %x: %v", e.kind, e.key, providers.ErrNotFound)
}

func (e *notFoundError) Unwrap() error { return providers.ErrNotFound }

func notFound(kind string, key []byte) error {
	return &notFoundError{kind: kind, key: string(key)}
}

func epochNotFound(kind string, groupID []byte, epoch uint64) error {
	return &notFoundError{kind: kind, key: string(groupID), epoch: epoch, form: 1}
}

// ---------------------------------------------------------------------------
// Key spaces

// space names a key space of the store.
type space uint8

const (
	spaceGroup space = iota
	spaceKeyPackage
	spaceSigKey
	spaceEncKey
	spacePSK
	spaceEpochSecrets
	spaceTree
	spaceSecretTree
)

var spaceNames = [...]string{
	spaceGroup:        "group state",
	spaceKeyPackage:   "key package",
	spaceSigKey:       "signature key pair",
	spaceEncKey:       "encryption key pair",
	spacePSK:          "PSK",
	spaceEpochSecrets: "epoch secrets",
	spaceTree:         "ratchet tree",
	spaceSecretTree:   "secret tree node",
}

// flat returns the map of a key space keyed by bytes alone.
func (s *Store) flat(sp space) map[string][]byte {
	switch sp {
	case spaceKeyPackage:
		return s.keyPackages
	case spaceSigKey:
		return s.sigKeys
	case spaceEncKey:
		return s.encKeys
	case spacePSK:
		return s.psks
	}
	panic("memstore: not a flat key space")
}

// byEpoch returns the map of a key space keyed by group id and epoch.
func (s *Store) byEpoch(sp space) map[string]map[uint64][]byte {
	switch sp {
	case spaceEpochSecrets:
		return s.epochSecrets
	case spaceTree:
		return s.trees
	}
	panic("memstore: not an epoch key space")
}

// recordKey addresses one record: its key space, its key (or group id) and,
// for the epoch key spaces, its epoch (and, for secret tree nodes, its
// node).
type recordKey struct {
	space space
	key   string
	epoch uint64
	node  uint32
}

// change is a write (del false) or deletion of one record.
type change struct {
	del     bool
	version uint16 // group state only
	value   []byte // the store's own copy
}

// apply makes c the record k's value, zeroing the value it replaces. The
// caller holds s.mu.
func (s *Store) apply(k recordKey, c change) {
	switch k.space {
	case spaceGroup:
		if old, ok := s.groups[k.key]; ok {
			clear(old.state)
			delete(s.groups, k.key)
		}
		if !c.del {
			s.groups[k.key] = groupState{version: c.version, state: c.value}
		}
	case spaceEpochSecrets, spaceTree:
		m := s.byEpoch(k.space)
		g := m[k.key]
		if old, ok := g[k.epoch]; ok {
			clear(old)
			delete(g, k.epoch)
		}
		if !c.del {
			if g == nil {
				g = make(map[uint64][]byte)
				m[k.key] = g
			}
			g[k.epoch] = c.value
		} else if g != nil && len(g) == 0 {
			delete(m, k.key)
		}
	case spaceSecretTree:
		g := s.secretTrees[k.key]
		e := g[k.epoch]
		if old, ok := e[k.node]; ok {
			clear(old)
			delete(e, k.node)
		}
		if !c.del {
			if g == nil {
				g = make(map[uint64]map[uint32][]byte)
				s.secretTrees[k.key] = g
			}
			if e == nil {
				e = make(map[uint32][]byte)
				g[k.epoch] = e
			}
			e[k.node] = c.value
		} else if e != nil && len(e) == 0 {
			delete(g, k.epoch)
			if len(g) == 0 {
				delete(s.secretTrees, k.key)
			}
		}
	default:
		m := s.flat(k.space)
		if old, ok := m[k.key]; ok {
			clear(old)
			delete(m, k.key)
		}
		if !c.del {
			m[k.key] = c.value
		}
	}
}

// lookup returns a copy of record k. The caller holds s.mu (shared).
func (s *Store) lookup(k recordKey) (version uint16, v []byte, ok bool) {
	switch k.space {
	case spaceGroup:
		g, ok := s.groups[k.key]
		return g.version, clone(g.state), ok
	case spaceEpochSecrets, spaceTree:
		v, ok := s.byEpoch(k.space)[k.key][k.epoch]
		return 0, clone(v), ok
	case spaceSecretTree:
		v, ok := s.secretTrees[k.key][k.epoch][k.node]
		return 0, clone(v), ok
	default:
		v, ok := s.flat(k.space)[k.key]
		return 0, clone(v), ok
	}
}

// keys lists the keys of a flat key space (or the group ids with a state),
// sorted. The caller holds s.mu (shared).
func (s *Store) keys(sp space) []string {
	var out []string
	if sp == spaceGroup {
		for k := range s.groups {
			out = append(out, k)
		}
	} else {
		for k := range s.flat(sp) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// epochs lists the epochs of groupID in an epoch key space, sorted. The
// caller holds s.mu (shared).
func (s *Store) epochs(sp space, groupID string) []uint64 {
	g := s.byEpoch(sp)[groupID]
	out := make([]uint64, 0, len(g))
	for e := range g {
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}

// nodes lists the secret tree nodes of groupID's epoch, sorted. The caller
// holds s.mu (shared).
func (s *Store) nodes(groupID string, epoch uint64) []uint32 {
	e := s.secretTrees[groupID][epoch]
	out := make([]uint32, 0, len(e))
	for x := range e {
		out = append(out, x)
	}
	slices.Sort(out)
	return out
}

// ---------------------------------------------------------------------------
// The store outside transactions: every method is a transaction of one
// operation.

func (s *Store) write(k recordKey, c change) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apply(k, c)
	return nil
}

func (s *Store) read(k recordKey, notFoundErr func() error) (uint16, []byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ver, v, ok := s.lookup(k)
	if !ok {
		return 0, nil, notFoundErr()
	}
	return ver, v, nil
}

func (s *Store) list(sp space) [][]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return toBytes(s.keys(sp))
}

func (s *Store) listEpochs(sp space, groupID []byte) []uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.epochs(sp, string(groupID))
}

func toBytes(keys []string) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = []byte(k)
	}
	return out
}

func put(v []byte) change                  { return change{value: clone(v)} }
func flatKey(sp space, k []byte) recordKey { return recordKey{space: sp, key: string(k)} }
func flatMissing(sp space, k []byte) func() error {
	return func() error { return notFound(spaceNames[sp], k) }
}
func epochKey(sp space, g []byte, e uint64) recordKey {
	return recordKey{space: sp, key: string(g), epoch: e}
}
func epochMissing(sp space, g []byte, e uint64) func() error {
	return func() error { return epochNotFound(spaceNames[sp], g, e) }
}
func nodeKey(g []byte, e uint64, x uint32) recordKey {
	return recordKey{space: spaceSecretTree, key: string(g), epoch: e, node: x}
}
func nodeMissing(g []byte, e uint64, x uint32) func() error {
	return func() error {
		return &notFoundError{key: string(g), epoch: e, node: x, form: 2}
	}
}

// WriteGroupState implements providers.GroupStateStore.
func (s *Store) WriteGroupState(groupID []byte, version uint16, state []byte) error {
	return s.write(flatKey(spaceGroup, groupID), change{version: version, value: clone(state)})
}

// ReadGroupState implements providers.GroupStateStore.
func (s *Store) ReadGroupState(groupID []byte) (uint16, []byte, error) {
	return s.read(flatKey(spaceGroup, groupID), flatMissing(spaceGroup, groupID))
}

// DeleteGroupState implements providers.GroupStateStore.
func (s *Store) DeleteGroupState(groupID []byte) error {
	return s.write(flatKey(spaceGroup, groupID), change{del: true})
}

// ListGroups implements providers.GroupStateStore.
func (s *Store) ListGroups() ([][]byte, error) { return s.list(spaceGroup), nil }

// WriteKeyPackage implements providers.KeyPackageStore.
func (s *Store) WriteKeyPackage(ref, bundle []byte) error {
	return s.write(flatKey(spaceKeyPackage, ref), put(bundle))
}

// ReadKeyPackage implements providers.KeyPackageStore.
func (s *Store) ReadKeyPackage(ref []byte) ([]byte, error) {
	_, v, err := s.read(flatKey(spaceKeyPackage, ref), flatMissing(spaceKeyPackage, ref))
	return v, err
}

// DeleteKeyPackage implements providers.KeyPackageStore.
func (s *Store) DeleteKeyPackage(ref []byte) error {
	return s.write(flatKey(spaceKeyPackage, ref), change{del: true})
}

// ListKeyPackages implements providers.KeyPackageStore.
func (s *Store) ListKeyPackages() ([][]byte, error) { return s.list(spaceKeyPackage), nil }

// WriteSignatureKeyPair implements providers.SignatureKeyStore.
func (s *Store) WriteSignatureKeyPair(publicKey, keyPair []byte) error {
	return s.write(flatKey(spaceSigKey, publicKey), put(keyPair))
}

// ReadSignatureKeyPair implements providers.SignatureKeyStore.
func (s *Store) ReadSignatureKeyPair(publicKey []byte) ([]byte, error) {
	_, v, err := s.read(flatKey(spaceSigKey, publicKey), flatMissing(spaceSigKey, publicKey))
	return v, err
}

// DeleteSignatureKeyPair implements providers.SignatureKeyStore.
func (s *Store) DeleteSignatureKeyPair(publicKey []byte) error {
	return s.write(flatKey(spaceSigKey, publicKey), change{del: true})
}

// WriteEncryptionKeyPair implements providers.EncryptionKeyStore.
func (s *Store) WriteEncryptionKeyPair(publicKey, keyPair []byte) error {
	return s.write(flatKey(spaceEncKey, publicKey), put(keyPair))
}

// ReadEncryptionKeyPair implements providers.EncryptionKeyStore.
func (s *Store) ReadEncryptionKeyPair(publicKey []byte) ([]byte, error) {
	_, v, err := s.read(flatKey(spaceEncKey, publicKey), flatMissing(spaceEncKey, publicKey))
	return v, err
}

// DeleteEncryptionKeyPair implements providers.EncryptionKeyStore.
func (s *Store) DeleteEncryptionKeyPair(publicKey []byte) error {
	return s.write(flatKey(spaceEncKey, publicKey), change{del: true})
}

// WritePSK implements providers.PSKStore.
func (s *Store) WritePSK(id, psk []byte) error { return s.write(flatKey(spacePSK, id), put(psk)) }

// ReadPSK implements providers.PSKStore.
func (s *Store) ReadPSK(id []byte) ([]byte, error) {
	_, v, err := s.read(flatKey(spacePSK, id), flatMissing(spacePSK, id))
	return v, err
}

// DeletePSK implements providers.PSKStore.
func (s *Store) DeletePSK(id []byte) error {
	return s.write(flatKey(spacePSK, id), change{del: true})
}

// WriteEpochSecrets implements providers.EpochSecretStore.
func (s *Store) WriteEpochSecrets(groupID []byte, epoch uint64, secrets []byte) error {
	return s.write(epochKey(spaceEpochSecrets, groupID, epoch), put(secrets))
}

// ReadEpochSecrets implements providers.EpochSecretStore.
func (s *Store) ReadEpochSecrets(groupID []byte, epoch uint64) ([]byte, error) {
	_, v, err := s.read(epochKey(spaceEpochSecrets, groupID, epoch), epochMissing(spaceEpochSecrets, groupID, epoch))
	return v, err
}

// DeleteEpochSecrets implements providers.EpochSecretStore.
func (s *Store) DeleteEpochSecrets(groupID []byte, epoch uint64) error {
	return s.write(epochKey(spaceEpochSecrets, groupID, epoch), change{del: true})
}

// ListEpochs implements providers.EpochSecretStore.
func (s *Store) ListEpochs(groupID []byte) ([]uint64, error) {
	return s.listEpochs(spaceEpochSecrets, groupID), nil
}

// WriteRatchetTree implements providers.RatchetTreeStore.
func (s *Store) WriteRatchetTree(groupID []byte, epoch uint64, tree []byte) error {
	return s.write(epochKey(spaceTree, groupID, epoch), put(tree))
}

// ReadRatchetTree implements providers.RatchetTreeStore.
func (s *Store) ReadRatchetTree(groupID []byte, epoch uint64) ([]byte, error) {
	_, v, err := s.read(epochKey(spaceTree, groupID, epoch), epochMissing(spaceTree, groupID, epoch))
	return v, err
}

// DeleteRatchetTree implements providers.RatchetTreeStore.
func (s *Store) DeleteRatchetTree(groupID []byte, epoch uint64) error {
	return s.write(epochKey(spaceTree, groupID, epoch), change{del: true})
}

// ListRatchetTrees implements providers.RatchetTreeStore.
func (s *Store) ListRatchetTrees(groupID []byte) ([]uint64, error) {
	return s.listEpochs(spaceTree, groupID), nil
}

// WriteSecretTreeNode implements providers.SecretTreeStore.
func (s *Store) WriteSecretTreeNode(groupID []byte, epoch uint64, node uint32, value []byte) error {
	return s.write(nodeKey(groupID, epoch, node), put(value))
}

// ReadSecretTreeNode implements providers.SecretTreeStore.
func (s *Store) ReadSecretTreeNode(groupID []byte, epoch uint64, node uint32) ([]byte, error) {
	_, v, err := s.read(nodeKey(groupID, epoch, node), nodeMissing(groupID, epoch, node))
	return v, err
}

// DeleteSecretTreeNode implements providers.SecretTreeStore.
func (s *Store) DeleteSecretTreeNode(groupID []byte, epoch uint64, node uint32) error {
	return s.write(nodeKey(groupID, epoch, node), change{del: true})
}

// ListSecretTreeNodes implements providers.SecretTreeStore.
func (s *Store) ListSecretTreeNodes(groupID []byte, epoch uint64) ([]uint32, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nodes(string(groupID), epoch), nil
}

// DeleteSecretTree implements providers.SecretTreeStore: every node of
// the epoch's tree is deleted (its value zeroed) under one lock.
func (s *Store) DeleteSecretTree(groupID []byte, epoch uint64) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	g := string(groupID)
	for _, x := range s.nodes(g, epoch) {
		s.apply(recordKey{space: spaceSecretTree, key: g, epoch: epoch, node: x}, change{del: true})
	}
	return nil
}
