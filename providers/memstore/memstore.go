// Package memstore is an in-memory [providers.Storage]: maps guarded by a
// mutex. It suits tests, short-lived clients and as a model for persistent
// implementations; its content is lost when the process exits.
//
// Values are copied on the way in and on the way out, so callers never alias
// the store's buffers, and every value is overwritten with zeros when it is
// deleted or replaced (RFC 9420 §9.2: deleted secrets must not linger in
// memory the store controls).
package memstore

import (
	"bytes"
	"fmt"
	"slices"
	"sync"

	"github.com/mlskit/mlskit/providers"
)

// Store is an in-memory providers.Storage. The zero value is not usable; call
// [New]. It is safe for concurrent use.
type Store struct {
	mu           sync.RWMutex
	groups       map[string]groupState
	keyPackages  map[string][]byte
	sigKeys      map[string][]byte
	encKeys      map[string][]byte
	psks         map[string][]byte
	epochSecrets map[string]map[uint64][]byte
	trees        map[string]map[uint64][]byte
}

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
	}
}

// clone returns a copy of b that is never nil, so that a stored empty value
// reads back as empty rather than absent.
func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}

// zero overwrites b with zeros.
func zero(b []byte) {
	clear(b)
}

func notFound(kind string, key []byte) error {
	return fmt.Errorf("memstore: %s %x: %w", kind, key, providers.ErrNotFound)
}

// put stores a copy of v under k in m, zeroing the value it replaces.
func (s *Store) put(m map[string][]byte, k, v []byte) {
	c := clone(v)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := m[string(k)]; ok {
		zero(old)
	}
	m[string(k)] = c
}

func (s *Store) get(m map[string][]byte, kind string, k []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := m[string(k)]
	if !ok {
		return nil, notFound(kind, k)
	}
	return clone(v), nil
}

func (s *Store) del(m map[string][]byte, k []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := m[string(k)]; ok {
		zero(old)
		delete(m, string(k))
	}
}

// WriteGroupState implements providers.GroupStateStore.
func (s *Store) WriteGroupState(groupID []byte, version uint16, state []byte) error {
	c := clone(state)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.groups[string(groupID)]; ok {
		zero(old.state)
	}
	s.groups[string(groupID)] = groupState{version: version, state: c}
	return nil
}

// ReadGroupState implements providers.GroupStateStore.
func (s *Store) ReadGroupState(groupID []byte) (uint16, []byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g, ok := s.groups[string(groupID)]
	if !ok {
		return 0, nil, notFound("group state", groupID)
	}
	return g.version, clone(g.state), nil
}

// DeleteGroupState implements providers.GroupStateStore.
func (s *Store) DeleteGroupState(groupID []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.groups[string(groupID)]; ok {
		zero(old.state)
		delete(s.groups, string(groupID))
	}
	return nil
}

// ListGroups implements providers.GroupStateStore.
func (s *Store) ListGroups() ([][]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([][]byte, 0, len(s.groups))
	for id := range s.groups {
		ids = append(ids, []byte(id))
	}
	slices.SortFunc(ids, bytes.Compare)
	return ids, nil
}

// WriteKeyPackage implements providers.KeyPackageStore.
func (s *Store) WriteKeyPackage(ref, bundle []byte) error {
	s.put(s.keyPackages, ref, bundle)
	return nil
}

// ReadKeyPackage implements providers.KeyPackageStore.
func (s *Store) ReadKeyPackage(ref []byte) ([]byte, error) {
	return s.get(s.keyPackages, "key package", ref)
}

// DeleteKeyPackage implements providers.KeyPackageStore.
func (s *Store) DeleteKeyPackage(ref []byte) error {
	s.del(s.keyPackages, ref)
	return nil
}

// ListKeyPackages implements providers.KeyPackageStore.
func (s *Store) ListKeyPackages() ([][]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	refs := make([][]byte, 0, len(s.keyPackages))
	for ref := range s.keyPackages {
		refs = append(refs, []byte(ref))
	}
	slices.SortFunc(refs, bytes.Compare)
	return refs, nil
}

// WriteSignatureKeyPair implements providers.SignatureKeyStore.
func (s *Store) WriteSignatureKeyPair(publicKey, keyPair []byte) error {
	s.put(s.sigKeys, publicKey, keyPair)
	return nil
}

// ReadSignatureKeyPair implements providers.SignatureKeyStore.
func (s *Store) ReadSignatureKeyPair(publicKey []byte) ([]byte, error) {
	return s.get(s.sigKeys, "signature key pair", publicKey)
}

// DeleteSignatureKeyPair implements providers.SignatureKeyStore.
func (s *Store) DeleteSignatureKeyPair(publicKey []byte) error {
	s.del(s.sigKeys, publicKey)
	return nil
}

// WriteEncryptionKeyPair implements providers.EncryptionKeyStore.
func (s *Store) WriteEncryptionKeyPair(publicKey, keyPair []byte) error {
	s.put(s.encKeys, publicKey, keyPair)
	return nil
}

// ReadEncryptionKeyPair implements providers.EncryptionKeyStore.
func (s *Store) ReadEncryptionKeyPair(publicKey []byte) ([]byte, error) {
	return s.get(s.encKeys, "encryption key pair", publicKey)
}

// DeleteEncryptionKeyPair implements providers.EncryptionKeyStore.
func (s *Store) DeleteEncryptionKeyPair(publicKey []byte) error {
	s.del(s.encKeys, publicKey)
	return nil
}

// WritePSK implements providers.PSKStore.
func (s *Store) WritePSK(id, psk []byte) error {
	s.put(s.psks, id, psk)
	return nil
}

// ReadPSK implements providers.PSKStore.
func (s *Store) ReadPSK(id []byte) ([]byte, error) {
	return s.get(s.psks, "PSK", id)
}

// DeletePSK implements providers.PSKStore.
func (s *Store) DeletePSK(id []byte) error {
	s.del(s.psks, id)
	return nil
}

// WriteEpochSecrets implements providers.EpochSecretStore.
func (s *Store) WriteEpochSecrets(groupID []byte, epoch uint64, secrets []byte) error {
	s.putEpoch(s.epochSecrets, groupID, epoch, secrets)
	return nil
}

// ReadEpochSecrets implements providers.EpochSecretStore.
func (s *Store) ReadEpochSecrets(groupID []byte, epoch uint64) ([]byte, error) {
	return s.getEpoch(s.epochSecrets, "epoch secrets", groupID, epoch)
}

// DeleteEpochSecrets implements providers.EpochSecretStore.
func (s *Store) DeleteEpochSecrets(groupID []byte, epoch uint64) error {
	s.delEpoch(s.epochSecrets, groupID, epoch)
	return nil
}

// ListEpochs implements providers.EpochSecretStore.
func (s *Store) ListEpochs(groupID []byte) ([]uint64, error) {
	return s.listEpochs(s.epochSecrets, groupID), nil
}

// WriteRatchetTree implements providers.RatchetTreeStore.
func (s *Store) WriteRatchetTree(groupID []byte, epoch uint64, tree []byte) error {
	s.putEpoch(s.trees, groupID, epoch, tree)
	return nil
}

// ReadRatchetTree implements providers.RatchetTreeStore.
func (s *Store) ReadRatchetTree(groupID []byte, epoch uint64) ([]byte, error) {
	return s.getEpoch(s.trees, "ratchet tree", groupID, epoch)
}

// DeleteRatchetTree implements providers.RatchetTreeStore.
func (s *Store) DeleteRatchetTree(groupID []byte, epoch uint64) error {
	s.delEpoch(s.trees, groupID, epoch)
	return nil
}

// ListRatchetTrees implements providers.RatchetTreeStore.
func (s *Store) ListRatchetTrees(groupID []byte) ([]uint64, error) {
	return s.listEpochs(s.trees, groupID), nil
}

// putEpoch stores a copy of v under (groupID, epoch) in m, zeroing the
// value it replaces.
func (s *Store) putEpoch(m map[string]map[uint64][]byte, groupID []byte, epoch uint64, v []byte) {
	c := clone(v)
	s.mu.Lock()
	defer s.mu.Unlock()
	g := m[string(groupID)]
	if g == nil {
		g = make(map[uint64][]byte)
		m[string(groupID)] = g
	}
	if old, ok := g[epoch]; ok {
		zero(old)
	}
	g[epoch] = c
}

func (s *Store) getEpoch(m map[string]map[uint64][]byte, kind string, groupID []byte, epoch uint64) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := m[string(groupID)][epoch]
	if !ok {
		return nil, fmt.Errorf("memstore: %s of group %x epoch %d: %w", kind, groupID, epoch, providers.ErrNotFound)
	}
	return clone(v), nil
}

// delEpoch zeroes and removes the value under (groupID, epoch), and the
// group's map once empty.
func (s *Store) delEpoch(m map[string]map[uint64][]byte, groupID []byte, epoch uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := m[string(groupID)]
	if old, ok := g[epoch]; ok {
		zero(old)
		delete(g, epoch)
		if len(g) == 0 {
			delete(m, string(groupID))
		}
	}
}

func (s *Store) listEpochs(m map[string]map[uint64][]byte, groupID []byte) []uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := m[string(groupID)]
	epochs := make([]uint64, 0, len(g))
	for e := range g {
		epochs = append(epochs, e)
	}
	slices.Sort(epochs)
	return epochs
}
