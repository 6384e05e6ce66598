package storagetest

import (
	"errors"
	"fmt"
	"sync"

	"github.com/mlskit/mlskit/providers"
)

// ErrInjected is the error a [Faulty] store returns for an operation it was
// told to fail.
var ErrInjected = errors.New("storagetest: injected storage fault")

// Op is one operation on a [Faulty] store: a method of providers.Records
// (on the store or on a transaction), or the commit of a transaction.
type Op struct {
	// N numbers the operations since the store was created or last
	// Reset, from 1.
	N int
	// Name is the method's name ("WriteGroupState", ...), or "Commit" for
	// the commit of an Update whose function returned nil.
	Name string
	// InTx: the operation was called on a transaction (false for the
	// commit itself and for calls on the store).
	InTx bool
}

// Faulty wraps a providers.Storage and fails the operations a rule
// chooses, with ErrInjected, to test what a failing store does to its
// users: a failed Read, Write, Delete or List returns the error without
// calling the wrapped store; a failed commit runs the transaction's
// function and then rolls it back (the wrapped store's Update returns
// ErrInjected and keeps nothing of it). Every operation is counted, those
// inside transactions and each commit included, so a test can count the
// operations of a step (Ops) and then fail each of them in turn (FailAt).
//
// It is safe for concurrent use.
type Faulty struct {
	s    providers.Storage
	mu   sync.Mutex
	n    int
	fail func(Op) bool
	log  []Op
}

// NewFaulty returns a Faulty store over s that fails nothing until told to.
func NewFaulty(s providers.Storage) *Faulty { return &Faulty{s: s} }

// Reset restarts the operation count and fails nothing.
func (f *Faulty) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n, f.fail, f.log = 0, nil, nil
}

// FailAt restarts the operation count and fails the k-th operation from
// now on (k >= 1), and only it.
func (f *Faulty) FailAt(k int) {
	f.FailWhen(func(op Op) bool { return op.N == k })
}

// FailWhen restarts the operation count and fails every operation for
// which fail returns true (nil: none).
func (f *Faulty) FailWhen(fail func(Op) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n, f.fail, f.log = 0, fail, nil
}

// Ops returns the number of operations since the count was restarted.
func (f *Faulty) Ops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// Failed returns the operations failed since the count was restarted.
func (f *Faulty) Failed() []Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Op(nil), f.log...)
}

// Unwrap returns the wrapped store.
func (f *Faulty) Unwrap() providers.Storage { return f.s }

// op counts an operation and reports whether to fail it.
func (f *Faulty) op(name string, inTx bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	o := Op{N: f.n, Name: name, InTx: inTx}
	if f.fail != nil && f.fail(o) {
		f.log = append(f.log, o)
		return fmt.Errorf("%w (operation %d, %s)", ErrInjected, o.N, o.Name)
	}
	return nil
}

// Update implements providers.Transactor.
func (f *Faulty) Update(fn func(tx providers.Records) error) error {
	return f.s.Update(func(tx providers.Records) error {
		fr := &faultyRecords{r: tx, f: f, tx: true}
		if err := fn(fr); err != nil {
			return err
		}
		return f.op("Commit", false)
	})
}

var _ providers.Storage = (*Faulty)(nil)

// The Records methods of the store.

func (f *Faulty) recs() *faultyRecords { return &faultyRecords{r: f.s, f: f} }

func (f *Faulty) WriteGroupState(groupID []byte, version uint16, state []byte) error {
	return f.recs().WriteGroupState(groupID, version, state)
}
func (f *Faulty) ReadGroupState(groupID []byte) (uint16, []byte, error) {
	return f.recs().ReadGroupState(groupID)
}
func (f *Faulty) DeleteGroupState(groupID []byte) error { return f.recs().DeleteGroupState(groupID) }
func (f *Faulty) ListGroups() ([][]byte, error)         { return f.recs().ListGroups() }
func (f *Faulty) WriteKeyPackage(ref, bundle []byte) error {
	return f.recs().WriteKeyPackage(ref, bundle)
}
func (f *Faulty) ReadKeyPackage(ref []byte) ([]byte, error) { return f.recs().ReadKeyPackage(ref) }
func (f *Faulty) DeleteKeyPackage(ref []byte) error         { return f.recs().DeleteKeyPackage(ref) }
func (f *Faulty) ListKeyPackages() ([][]byte, error)        { return f.recs().ListKeyPackages() }
func (f *Faulty) WriteSignatureKeyPair(pub, kp []byte) error {
	return f.recs().WriteSignatureKeyPair(pub, kp)
}
func (f *Faulty) ReadSignatureKeyPair(pub []byte) ([]byte, error) {
	return f.recs().ReadSignatureKeyPair(pub)
}
func (f *Faulty) DeleteSignatureKeyPair(pub []byte) error {
	return f.recs().DeleteSignatureKeyPair(pub)
}
func (f *Faulty) WriteEncryptionKeyPair(pub, kp []byte) error {
	return f.recs().WriteEncryptionKeyPair(pub, kp)
}
func (f *Faulty) ReadEncryptionKeyPair(pub []byte) ([]byte, error) {
	return f.recs().ReadEncryptionKeyPair(pub)
}
func (f *Faulty) DeleteEncryptionKeyPair(pub []byte) error {
	return f.recs().DeleteEncryptionKeyPair(pub)
}
func (f *Faulty) WritePSK(id, psk []byte) error     { return f.recs().WritePSK(id, psk) }
func (f *Faulty) ReadPSK(id []byte) ([]byte, error) { return f.recs().ReadPSK(id) }
func (f *Faulty) DeletePSK(id []byte) error         { return f.recs().DeletePSK(id) }
func (f *Faulty) WriteEpochSecrets(groupID []byte, epoch uint64, secrets []byte) error {
	return f.recs().WriteEpochSecrets(groupID, epoch, secrets)
}
func (f *Faulty) ReadEpochSecrets(groupID []byte, epoch uint64) ([]byte, error) {
	return f.recs().ReadEpochSecrets(groupID, epoch)
}
func (f *Faulty) DeleteEpochSecrets(groupID []byte, epoch uint64) error {
	return f.recs().DeleteEpochSecrets(groupID, epoch)
}
func (f *Faulty) ListEpochs(groupID []byte) ([]uint64, error) { return f.recs().ListEpochs(groupID) }
func (f *Faulty) WriteRatchetTree(groupID []byte, epoch uint64, tree []byte) error {
	return f.recs().WriteRatchetTree(groupID, epoch, tree)
}
func (f *Faulty) ReadRatchetTree(groupID []byte, epoch uint64) ([]byte, error) {
	return f.recs().ReadRatchetTree(groupID, epoch)
}
func (f *Faulty) DeleteRatchetTree(groupID []byte, epoch uint64) error {
	return f.recs().DeleteRatchetTree(groupID, epoch)
}
func (f *Faulty) ListRatchetTrees(groupID []byte) ([]uint64, error) {
	return f.recs().ListRatchetTrees(groupID)
}

// faultyRecords counts and fails the calls on the store or a transaction.
type faultyRecords struct {
	r  providers.Records
	f  *Faulty
	tx bool
}

func (r *faultyRecords) WriteGroupState(groupID []byte, version uint16, state []byte) error {
	if err := r.f.op("WriteGroupState", r.tx); err != nil {
		return err
	}
	return r.r.WriteGroupState(groupID, version, state)
}

func (r *faultyRecords) ReadGroupState(groupID []byte) (uint16, []byte, error) {
	if err := r.f.op("ReadGroupState", r.tx); err != nil {
		return 0, nil, err
	}
	return r.r.ReadGroupState(groupID)
}

func (r *faultyRecords) DeleteGroupState(groupID []byte) error {
	if err := r.f.op("DeleteGroupState", r.tx); err != nil {
		return err
	}
	return r.r.DeleteGroupState(groupID)
}

func (r *faultyRecords) ListGroups() ([][]byte, error) {
	if err := r.f.op("ListGroups", r.tx); err != nil {
		return nil, err
	}
	return r.r.ListGroups()
}

func (r *faultyRecords) WriteKeyPackage(ref, bundle []byte) error {
	if err := r.f.op("WriteKeyPackage", r.tx); err != nil {
		return err
	}
	return r.r.WriteKeyPackage(ref, bundle)
}

func (r *faultyRecords) ReadKeyPackage(ref []byte) ([]byte, error) {
	if err := r.f.op("ReadKeyPackage", r.tx); err != nil {
		return nil, err
	}
	return r.r.ReadKeyPackage(ref)
}

func (r *faultyRecords) DeleteKeyPackage(ref []byte) error {
	if err := r.f.op("DeleteKeyPackage", r.tx); err != nil {
		return err
	}
	return r.r.DeleteKeyPackage(ref)
}

func (r *faultyRecords) ListKeyPackages() ([][]byte, error) {
	if err := r.f.op("ListKeyPackages", r.tx); err != nil {
		return nil, err
	}
	return r.r.ListKeyPackages()
}

func (r *faultyRecords) WriteSignatureKeyPair(pub, kp []byte) error {
	if err := r.f.op("WriteSignatureKeyPair", r.tx); err != nil {
		return err
	}
	return r.r.WriteSignatureKeyPair(pub, kp)
}

func (r *faultyRecords) ReadSignatureKeyPair(pub []byte) ([]byte, error) {
	if err := r.f.op("ReadSignatureKeyPair", r.tx); err != nil {
		return nil, err
	}
	return r.r.ReadSignatureKeyPair(pub)
}

func (r *faultyRecords) DeleteSignatureKeyPair(pub []byte) error {
	if err := r.f.op("DeleteSignatureKeyPair", r.tx); err != nil {
		return err
	}
	return r.r.DeleteSignatureKeyPair(pub)
}

func (r *faultyRecords) WriteEncryptionKeyPair(pub, kp []byte) error {
	if err := r.f.op("WriteEncryptionKeyPair", r.tx); err != nil {
		return err
	}
	return r.r.WriteEncryptionKeyPair(pub, kp)
}

func (r *faultyRecords) ReadEncryptionKeyPair(pub []byte) ([]byte, error) {
	if err := r.f.op("ReadEncryptionKeyPair", r.tx); err != nil {
		return nil, err
	}
	return r.r.ReadEncryptionKeyPair(pub)
}

func (r *faultyRecords) DeleteEncryptionKeyPair(pub []byte) error {
	if err := r.f.op("DeleteEncryptionKeyPair", r.tx); err != nil {
		return err
	}
	return r.r.DeleteEncryptionKeyPair(pub)
}

func (r *faultyRecords) WritePSK(id, psk []byte) error {
	if err := r.f.op("WritePSK", r.tx); err != nil {
		return err
	}
	return r.r.WritePSK(id, psk)
}

func (r *faultyRecords) ReadPSK(id []byte) ([]byte, error) {
	if err := r.f.op("ReadPSK", r.tx); err != nil {
		return nil, err
	}
	return r.r.ReadPSK(id)
}

func (r *faultyRecords) DeletePSK(id []byte) error {
	if err := r.f.op("DeletePSK", r.tx); err != nil {
		return err
	}
	return r.r.DeletePSK(id)
}

func (r *faultyRecords) WriteEpochSecrets(groupID []byte, epoch uint64, secrets []byte) error {
	if err := r.f.op("WriteEpochSecrets", r.tx); err != nil {
		return err
	}
	return r.r.WriteEpochSecrets(groupID, epoch, secrets)
}

func (r *faultyRecords) ReadEpochSecrets(groupID []byte, epoch uint64) ([]byte, error) {
	if err := r.f.op("ReadEpochSecrets", r.tx); err != nil {
		return nil, err
	}
	return r.r.ReadEpochSecrets(groupID, epoch)
}

func (r *faultyRecords) DeleteEpochSecrets(groupID []byte, epoch uint64) error {
	if err := r.f.op("DeleteEpochSecrets", r.tx); err != nil {
		return err
	}
	return r.r.DeleteEpochSecrets(groupID, epoch)
}

func (r *faultyRecords) ListEpochs(groupID []byte) ([]uint64, error) {
	if err := r.f.op("ListEpochs", r.tx); err != nil {
		return nil, err
	}
	return r.r.ListEpochs(groupID)
}

func (r *faultyRecords) WriteRatchetTree(groupID []byte, epoch uint64, tree []byte) error {
	if err := r.f.op("WriteRatchetTree", r.tx); err != nil {
		return err
	}
	return r.r.WriteRatchetTree(groupID, epoch, tree)
}

func (r *faultyRecords) ReadRatchetTree(groupID []byte, epoch uint64) ([]byte, error) {
	if err := r.f.op("ReadRatchetTree", r.tx); err != nil {
		return nil, err
	}
	return r.r.ReadRatchetTree(groupID, epoch)
}

func (r *faultyRecords) DeleteRatchetTree(groupID []byte, epoch uint64) error {
	if err := r.f.op("DeleteRatchetTree", r.tx); err != nil {
		return err
	}
	return r.r.DeleteRatchetTree(groupID, epoch)
}

func (r *faultyRecords) ListRatchetTrees(groupID []byte) ([]uint64, error) {
	if err := r.f.op("ListRatchetTrees", r.tx); err != nil {
		return nil, err
	}
	return r.r.ListRatchetTrees(groupID)
}

func (f *Faulty) WriteSecretTreeNode(groupID []byte, epoch uint64, node uint32, value []byte) error {
	return f.recs().WriteSecretTreeNode(groupID, epoch, node, value)
}
func (f *Faulty) ReadSecretTreeNode(groupID []byte, epoch uint64, node uint32) ([]byte, error) {
	return f.recs().ReadSecretTreeNode(groupID, epoch, node)
}
func (f *Faulty) DeleteSecretTreeNode(groupID []byte, epoch uint64, node uint32) error {
	return f.recs().DeleteSecretTreeNode(groupID, epoch, node)
}
func (f *Faulty) ListSecretTreeNodes(groupID []byte, epoch uint64) ([]uint32, error) {
	return f.recs().ListSecretTreeNodes(groupID, epoch)
}

func (r *faultyRecords) WriteSecretTreeNode(groupID []byte, epoch uint64, node uint32, value []byte) error {
	if err := r.f.op("WriteSecretTreeNode", r.tx); err != nil {
		return err
	}
	return r.r.WriteSecretTreeNode(groupID, epoch, node, value)
}

func (r *faultyRecords) ReadSecretTreeNode(groupID []byte, epoch uint64, node uint32) ([]byte, error) {
	if err := r.f.op("ReadSecretTreeNode", r.tx); err != nil {
		return nil, err
	}
	return r.r.ReadSecretTreeNode(groupID, epoch, node)
}

func (r *faultyRecords) DeleteSecretTreeNode(groupID []byte, epoch uint64, node uint32) error {
	if err := r.f.op("DeleteSecretTreeNode", r.tx); err != nil {
		return err
	}
	return r.r.DeleteSecretTreeNode(groupID, epoch, node)
}

func (r *faultyRecords) ListSecretTreeNodes(groupID []byte, epoch uint64) ([]uint32, error) {
	if err := r.f.op("ListSecretTreeNodes", r.tx); err != nil {
		return nil, err
	}
	return r.r.ListSecretTreeNodes(groupID, epoch)
}
