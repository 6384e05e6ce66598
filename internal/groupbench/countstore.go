package groupbench

import (
	"sync"
	"sync/atomic"

	"github.com/mlskit/mlskit/providers"
)

// CountingStore wraps a providers.Storage and counts the bytes and records
// written through it (values of every Write call, in transactions too, and
// one record per Delete), so that benchmarks can print what an operation
// writes to storage. Writes of a transaction that fails are counted too.
type CountingStore struct {
	providers.Storage
	c counts
	// txs holds idle countingTx, so that counting costs a transaction no
	// allocation (the operations measured count theirs).
	txs sync.Pool
}

// countingTx is the wrapping of one transaction: run calls fn with rec.
type countingTx struct {
	rec countingRecords
	fn  func(providers.Records) error
	run func(providers.Records) error
}

type counts struct {
	bytes, records atomic.Int64
}

// NewCountingStore wraps s.
func NewCountingStore(s providers.Storage) *CountingStore { return &CountingStore{Storage: s} }

// Written returns the bytes and records written so far.
func (s *CountingStore) Written() (bytes, records int64) {
	return s.c.bytes.Load(), s.c.records.Load()
}

func (c *counts) add(n int) {
	c.bytes.Add(int64(n))
	c.records.Add(1)
}

// Update counts the writes of fn's transaction.
func (s *CountingStore) Update(fn func(tx providers.Records) error) error {
	t, _ := s.txs.Get().(*countingTx)
	if t == nil {
		t = new(countingTx)
		t.run = func(tx providers.Records) error {
			t.rec.Records = tx
			return t.fn(&t.rec)
		}
	}
	t.fn, t.rec.c = fn, &s.c
	err := s.Storage.Update(t.run)
	t.fn, t.rec = nil, countingRecords{}
	s.txs.Put(t)
	return err
}

func (s *CountingStore) WriteGroupState(groupID []byte, version uint16, state []byte) error {
	s.c.add(len(state))
	return s.Storage.WriteGroupState(groupID, version, state)
}
func (s *CountingStore) DeleteGroupState(groupID []byte) error {
	s.c.add(0)
	return s.Storage.DeleteGroupState(groupID)
}
func (s *CountingStore) WriteKeyPackage(ref, bundle []byte) error {
	s.c.add(len(bundle))
	return s.Storage.WriteKeyPackage(ref, bundle)
}
func (s *CountingStore) DeleteKeyPackage(ref []byte) error {
	s.c.add(0)
	return s.Storage.DeleteKeyPackage(ref)
}
func (s *CountingStore) WriteSignatureKeyPair(pub, kp []byte) error {
	s.c.add(len(kp))
	return s.Storage.WriteSignatureKeyPair(pub, kp)
}
func (s *CountingStore) DeleteSignatureKeyPair(pub []byte) error {
	s.c.add(0)
	return s.Storage.DeleteSignatureKeyPair(pub)
}
func (s *CountingStore) WriteEncryptionKeyPair(pub, kp []byte) error {
	s.c.add(len(kp))
	return s.Storage.WriteEncryptionKeyPair(pub, kp)
}
func (s *CountingStore) DeleteEncryptionKeyPair(pub []byte) error {
	s.c.add(0)
	return s.Storage.DeleteEncryptionKeyPair(pub)
}
func (s *CountingStore) WritePSK(id, psk []byte) error {
	s.c.add(len(psk))
	return s.Storage.WritePSK(id, psk)
}
func (s *CountingStore) DeletePSK(id []byte) error {
	s.c.add(0)
	return s.Storage.DeletePSK(id)
}
func (s *CountingStore) WriteEpochSecrets(groupID []byte, epoch uint64, b []byte) error {
	s.c.add(len(b))
	return s.Storage.WriteEpochSecrets(groupID, epoch, b)
}
func (s *CountingStore) DeleteEpochSecrets(groupID []byte, epoch uint64) error {
	s.c.add(0)
	return s.Storage.DeleteEpochSecrets(groupID, epoch)
}
func (s *CountingStore) WriteRatchetTree(groupID []byte, epoch uint64, b []byte) error {
	s.c.add(len(b))
	return s.Storage.WriteRatchetTree(groupID, epoch, b)
}
func (s *CountingStore) DeleteRatchetTree(groupID []byte, epoch uint64) error {
	s.c.add(0)
	return s.Storage.DeleteRatchetTree(groupID, epoch)
}

// countingRecords counts the writes of a transaction.
type countingRecords struct {
	providers.Records
	c *counts
}

func (s *countingRecords) WriteGroupState(groupID []byte, version uint16, state []byte) error {
	s.c.add(len(state))
	return s.Records.WriteGroupState(groupID, version, state)
}
func (s *countingRecords) DeleteGroupState(groupID []byte) error {
	s.c.add(0)
	return s.Records.DeleteGroupState(groupID)
}
func (s *countingRecords) WriteKeyPackage(ref, bundle []byte) error {
	s.c.add(len(bundle))
	return s.Records.WriteKeyPackage(ref, bundle)
}
func (s *countingRecords) DeleteKeyPackage(ref []byte) error {
	s.c.add(0)
	return s.Records.DeleteKeyPackage(ref)
}
func (s *countingRecords) WriteSignatureKeyPair(pub, kp []byte) error {
	s.c.add(len(kp))
	return s.Records.WriteSignatureKeyPair(pub, kp)
}
func (s *countingRecords) DeleteSignatureKeyPair(pub []byte) error {
	s.c.add(0)
	return s.Records.DeleteSignatureKeyPair(pub)
}
func (s *countingRecords) WriteEncryptionKeyPair(pub, kp []byte) error {
	s.c.add(len(kp))
	return s.Records.WriteEncryptionKeyPair(pub, kp)
}
func (s *countingRecords) DeleteEncryptionKeyPair(pub []byte) error {
	s.c.add(0)
	return s.Records.DeleteEncryptionKeyPair(pub)
}
func (s *countingRecords) WritePSK(id, psk []byte) error {
	s.c.add(len(psk))
	return s.Records.WritePSK(id, psk)
}
func (s *countingRecords) DeletePSK(id []byte) error {
	s.c.add(0)
	return s.Records.DeletePSK(id)
}
func (s *countingRecords) WriteEpochSecrets(groupID []byte, epoch uint64, b []byte) error {
	s.c.add(len(b))
	return s.Records.WriteEpochSecrets(groupID, epoch, b)
}
func (s *countingRecords) DeleteEpochSecrets(groupID []byte, epoch uint64) error {
	s.c.add(0)
	return s.Records.DeleteEpochSecrets(groupID, epoch)
}
func (s *countingRecords) WriteRatchetTree(groupID []byte, epoch uint64, b []byte) error {
	s.c.add(len(b))
	return s.Records.WriteRatchetTree(groupID, epoch, b)
}
func (s *countingRecords) DeleteRatchetTree(groupID []byte, epoch uint64) error {
	s.c.add(0)
	return s.Records.DeleteRatchetTree(groupID, epoch)
}

func (s *CountingStore) WriteSecretTreeNode(groupID []byte, epoch uint64, node uint32, b []byte) error {
	s.c.add(len(b))
	return s.Storage.WriteSecretTreeNode(groupID, epoch, node, b)
}
func (s *CountingStore) DeleteSecretTreeNode(groupID []byte, epoch uint64, node uint32) error {
	s.c.add(0)
	return s.Storage.DeleteSecretTreeNode(groupID, epoch, node)
}
func (s *countingRecords) WriteSecretTreeNode(groupID []byte, epoch uint64, node uint32, b []byte) error {
	s.c.add(len(b))
	return s.Records.WriteSecretTreeNode(groupID, epoch, node, b)
}
func (s *countingRecords) DeleteSecretTreeNode(groupID []byte, epoch uint64, node uint32) error {
	s.c.add(0)
	return s.Records.DeleteSecretTreeNode(groupID, epoch, node)
}
