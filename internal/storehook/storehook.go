// Package storehook wraps a providers.Storage and calls hooks around every
// operation on it. It is the one interceptor behind the store wrappers of
// the tests and benchmarks: storagetest.Faulty fails the operations a test
// chooses, groupbench.CountingStore counts the bytes and records written,
// and cmd/mlsbench times every storage call; each is a pair of hooks.
//
// Wrapping costs an operation no allocation (the hooks take an Op by
// value), and with Hooks.ReuseTx a transaction none either, so that
// benchmarks that count allocations count those of the code they measure.
package storehook

import (
	"strings"
	"sync"
	"time"

	"github.com/mlskit/mlskit/providers"
)

// Op is one operation on a Store.
type Op struct {
	// Name is the providers.Records method ("WriteGroupState", ...),
	// "Commit" (the end of a transaction whose function returned nil,
	// before the wrapped store commits it) or "Update" (a whole
	// transaction).
	Name string
	// InTx: the method was called on a transaction (false for the calls
	// on the store, and for Commit and Update).
	InTx bool
	// Size is the length of the value a Write method writes (0 for other
	// operations).
	Size int
}

// Changes reports whether the operation is a Write or a Delete.
func (o Op) Changes() bool {
	return strings.HasPrefix(o.Name, "Write") || strings.HasPrefix(o.Name, "Delete")
}

// Hooks are the functions a Store calls; nil ones are skipped.
type Hooks struct {
	// Before is called before every providers.Records method (on the
	// store or on a transaction) and before every Commit. An error fails
	// the operation: the wrapped store is not called and the error is
	// returned (for Commit, the wrapped store rolls the transaction back
	// and its Update returns the error).
	Before func(Op) error
	// After is called after every providers.Records method that Before did
	// not fail, with the time it took, and after every Update with the
	// time of the transaction outside its function (beginning, committing
	// and retrying it; the calls the function makes are timed on their
	// own).
	After func(Op, time.Duration)
	// ReuseTx reuses the wrapping of transactions, so that an Update
	// costs no allocation (for benchmarks that count allocations). A
	// transaction used after its function returned then reaches the
	// wrapped store's stale transaction (which refuses it) until the next
	// Update, and the next Update's after that: only for code that does
	// not keep transactions.
	ReuseTx bool
}

// Store is a providers.Storage whose operations call Hooks. It is safe for
// concurrent use if the wrapped store and the hooks are.
type Store struct {
	records
	s     providers.Storage
	hooks Hooks
	txs   sync.Pool // idle *tx
}

var _ providers.Storage = (*Store)(nil)

// New wraps s.
func New(s providers.Storage, h Hooks) *Store {
	st := &Store{s: s, hooks: h}
	st.records = records{r: s, hooks: &st.hooks}
	return st
}

// Unwrap returns the wrapped store.
func (s *Store) Unwrap() providers.Storage { return s.s }

// tx is the wrapping of one transaction: run calls fn with rec.
type tx struct {
	rec  records
	fn   func(providers.Records) error
	run  func(providers.Records) error
	inFn time.Duration
}

// Update implements providers.Transactor: fn gets a transaction whose
// methods call the hooks (InTx set), then Commit is called.
func (s *Store) Update(fn func(providers.Records) error) error {
	var t *tx
	if s.hooks.ReuseTx {
		t, _ = s.txs.Get().(*tx)
	}
	if t == nil {
		t = new(tx)
		t.run = func(r providers.Records) error {
			t.rec.r = r
			var start time.Time
			if t.rec.hooks.After != nil {
				start = time.Now()
			}
			err := t.fn(&t.rec)
			if t.rec.hooks.After != nil {
				t.inFn += time.Since(start)
			}
			if err != nil {
				return err
			}
			if t.rec.hooks.Before != nil {
				return t.rec.hooks.Before(Op{Name: "Commit"})
			}
			return nil
		}
	}
	t.fn, t.rec, t.inFn = fn, records{hooks: &s.hooks, tx: true}, 0
	var start time.Time
	if s.hooks.After != nil {
		start = time.Now()
	}
	err := s.s.Update(t.run)
	if s.hooks.After != nil {
		s.hooks.After(Op{Name: "Update"}, time.Since(start)-t.inFn)
	}
	if s.hooks.ReuseTx {
		// t.rec keeps the wrapped store's (now stale) transaction.
		t.fn = nil
		s.txs.Put(t)
	}
	return err
}

// records wraps the providers.Records of the store or of a transaction.
type records struct {
	r     providers.Records
	hooks *Hooks
	tx    bool
}

// before calls the Before hook and starts the clock for After.
func (r *records) before(name string, size int) (time.Time, error) {
	if r.hooks.Before != nil {
		if err := r.hooks.Before(Op{Name: name, InTx: r.tx, Size: size}); err != nil {
			return time.Time{}, err
		}
	}
	if r.hooks.After != nil {
		return time.Now(), nil
	}
	return time.Time{}, nil
}

// after calls the After hook with the time since start.
func (r *records) after(name string, size int, start time.Time) {
	if r.hooks.After != nil {
		r.hooks.After(Op{Name: name, InTx: r.tx, Size: size}, time.Since(start))
	}
}

// The providers.Records methods.

func (r *records) WriteGroupState(groupID []byte, version uint16, state []byte) error {
	start, err := r.before("WriteGroupState", len(state))
	if err != nil {
		return err
	}
	err = r.r.WriteGroupState(groupID, version, state)
	r.after("WriteGroupState", len(state), start)
	return err
}

func (r *records) ReadGroupState(groupID []byte) (uint16, []byte, error) {
	start, err := r.before("ReadGroupState", 0)
	if err != nil {
		return 0, nil, err
	}
	v, b, err := r.r.ReadGroupState(groupID)
	r.after("ReadGroupState", 0, start)
	return v, b, err
}

func (r *records) DeleteGroupState(groupID []byte) error {
	start, err := r.before("DeleteGroupState", 0)
	if err != nil {
		return err
	}
	err = r.r.DeleteGroupState(groupID)
	r.after("DeleteGroupState", 0, start)
	return err
}

func (r *records) ListGroups() ([][]byte, error) {
	start, err := r.before("ListGroups", 0)
	if err != nil {
		return nil, err
	}
	b, err := r.r.ListGroups()
	r.after("ListGroups", 0, start)
	return b, err
}

func (r *records) WriteKeyPackage(ref, bundle []byte) error {
	start, err := r.before("WriteKeyPackage", len(bundle))
	if err != nil {
		return err
	}
	err = r.r.WriteKeyPackage(ref, bundle)
	r.after("WriteKeyPackage", len(bundle), start)
	return err
}

func (r *records) ReadKeyPackage(ref []byte) ([]byte, error) {
	start, err := r.before("ReadKeyPackage", 0)
	if err != nil {
		return nil, err
	}
	b, err := r.r.ReadKeyPackage(ref)
	r.after("ReadKeyPackage", 0, start)
	return b, err
}

func (r *records) DeleteKeyPackage(ref []byte) error {
	start, err := r.before("DeleteKeyPackage", 0)
	if err != nil {
		return err
	}
	err = r.r.DeleteKeyPackage(ref)
	r.after("DeleteKeyPackage", 0, start)
	return err
}

func (r *records) ListKeyPackages() ([][]byte, error) {
	start, err := r.before("ListKeyPackages", 0)
	if err != nil {
		return nil, err
	}
	b, err := r.r.ListKeyPackages()
	r.after("ListKeyPackages", 0, start)
	return b, err
}

func (r *records) WriteSignatureKeyPair(pub, kp []byte) error {
	start, err := r.before("WriteSignatureKeyPair", len(kp))
	if err != nil {
		return err
	}
	err = r.r.WriteSignatureKeyPair(pub, kp)
	r.after("WriteSignatureKeyPair", len(kp), start)
	return err
}

func (r *records) ReadSignatureKeyPair(pub []byte) ([]byte, error) {
	start, err := r.before("ReadSignatureKeyPair", 0)
	if err != nil {
		return nil, err
	}
	b, err := r.r.ReadSignatureKeyPair(pub)
	r.after("ReadSignatureKeyPair", 0, start)
	return b, err
}

func (r *records) DeleteSignatureKeyPair(pub []byte) error {
	start, err := r.before("DeleteSignatureKeyPair", 0)
	if err != nil {
		return err
	}
	err = r.r.DeleteSignatureKeyPair(pub)
	r.after("DeleteSignatureKeyPair", 0, start)
	return err
}

func (r *records) WriteEncryptionKeyPair(pub, kp []byte) error {
	start, err := r.before("WriteEncryptionKeyPair", len(kp))
	if err != nil {
		return err
	}
	err = r.r.WriteEncryptionKeyPair(pub, kp)
	r.after("WriteEncryptionKeyPair", len(kp), start)
	return err
}

func (r *records) ReadEncryptionKeyPair(pub []byte) ([]byte, error) {
	start, err := r.before("ReadEncryptionKeyPair", 0)
	if err != nil {
		return nil, err
	}
	b, err := r.r.ReadEncryptionKeyPair(pub)
	r.after("ReadEncryptionKeyPair", 0, start)
	return b, err
}

func (r *records) DeleteEncryptionKeyPair(pub []byte) error {
	start, err := r.before("DeleteEncryptionKeyPair", 0)
	if err != nil {
		return err
	}
	err = r.r.DeleteEncryptionKeyPair(pub)
	r.after("DeleteEncryptionKeyPair", 0, start)
	return err
}

func (r *records) WritePSK(id, psk []byte) error {
	start, err := r.before("WritePSK", len(psk))
	if err != nil {
		return err
	}
	err = r.r.WritePSK(id, psk)
	r.after("WritePSK", len(psk), start)
	return err
}

func (r *records) ReadPSK(id []byte) ([]byte, error) {
	start, err := r.before("ReadPSK", 0)
	if err != nil {
		return nil, err
	}
	b, err := r.r.ReadPSK(id)
	r.after("ReadPSK", 0, start)
	return b, err
}

func (r *records) DeletePSK(id []byte) error {
	start, err := r.before("DeletePSK", 0)
	if err != nil {
		return err
	}
	err = r.r.DeletePSK(id)
	r.after("DeletePSK", 0, start)
	return err
}

func (r *records) WriteEpochSecrets(groupID []byte, epoch uint64, secrets []byte) error {
	start, err := r.before("WriteEpochSecrets", len(secrets))
	if err != nil {
		return err
	}
	err = r.r.WriteEpochSecrets(groupID, epoch, secrets)
	r.after("WriteEpochSecrets", len(secrets), start)
	return err
}

func (r *records) ReadEpochSecrets(groupID []byte, epoch uint64) ([]byte, error) {
	start, err := r.before("ReadEpochSecrets", 0)
	if err != nil {
		return nil, err
	}
	b, err := r.r.ReadEpochSecrets(groupID, epoch)
	r.after("ReadEpochSecrets", 0, start)
	return b, err
}

func (r *records) DeleteEpochSecrets(groupID []byte, epoch uint64) error {
	start, err := r.before("DeleteEpochSecrets", 0)
	if err != nil {
		return err
	}
	err = r.r.DeleteEpochSecrets(groupID, epoch)
	r.after("DeleteEpochSecrets", 0, start)
	return err
}

func (r *records) ListEpochs(groupID []byte) ([]uint64, error) {
	start, err := r.before("ListEpochs", 0)
	if err != nil {
		return nil, err
	}
	b, err := r.r.ListEpochs(groupID)
	r.after("ListEpochs", 0, start)
	return b, err
}

func (r *records) WriteRatchetTree(groupID []byte, epoch uint64, tree []byte) error {
	start, err := r.before("WriteRatchetTree", len(tree))
	if err != nil {
		return err
	}
	err = r.r.WriteRatchetTree(groupID, epoch, tree)
	r.after("WriteRatchetTree", len(tree), start)
	return err
}

func (r *records) ReadRatchetTree(groupID []byte, epoch uint64) ([]byte, error) {
	start, err := r.before("ReadRatchetTree", 0)
	if err != nil {
		return nil, err
	}
	b, err := r.r.ReadRatchetTree(groupID, epoch)
	r.after("ReadRatchetTree", 0, start)
	return b, err
}

func (r *records) DeleteRatchetTree(groupID []byte, epoch uint64) error {
	start, err := r.before("DeleteRatchetTree", 0)
	if err != nil {
		return err
	}
	err = r.r.DeleteRatchetTree(groupID, epoch)
	r.after("DeleteRatchetTree", 0, start)
	return err
}

func (r *records) ListRatchetTrees(groupID []byte) ([]uint64, error) {
	start, err := r.before("ListRatchetTrees", 0)
	if err != nil {
		return nil, err
	}
	b, err := r.r.ListRatchetTrees(groupID)
	r.after("ListRatchetTrees", 0, start)
	return b, err
}

func (r *records) WriteSecretTreeNode(groupID []byte, epoch uint64, node uint32, value []byte) error {
	start, err := r.before("WriteSecretTreeNode", len(value))
	if err != nil {
		return err
	}
	err = r.r.WriteSecretTreeNode(groupID, epoch, node, value)
	r.after("WriteSecretTreeNode", len(value), start)
	return err
}

func (r *records) ReadSecretTreeNode(groupID []byte, epoch uint64, node uint32) ([]byte, error) {
	start, err := r.before("ReadSecretTreeNode", 0)
	if err != nil {
		return nil, err
	}
	b, err := r.r.ReadSecretTreeNode(groupID, epoch, node)
	r.after("ReadSecretTreeNode", 0, start)
	return b, err
}

func (r *records) DeleteSecretTreeNode(groupID []byte, epoch uint64, node uint32) error {
	start, err := r.before("DeleteSecretTreeNode", 0)
	if err != nil {
		return err
	}
	err = r.r.DeleteSecretTreeNode(groupID, epoch, node)
	r.after("DeleteSecretTreeNode", 0, start)
	return err
}

func (r *records) DeleteSecretTree(groupID []byte, epoch uint64) error {
	start, err := r.before("DeleteSecretTree", 0)
	if err != nil {
		return err
	}
	err = r.r.DeleteSecretTree(groupID, epoch)
	r.after("DeleteSecretTree", 0, start)
	return err
}

func (r *records) ListSecretTreeNodes(groupID []byte, epoch uint64) ([]uint32, error) {
	start, err := r.before("ListSecretTreeNodes", 0)
	if err != nil {
		return nil, err
	}
	b, err := r.r.ListSecretTreeNodes(groupID, epoch)
	r.after("ListSecretTreeNodes", 0, start)
	return b, err
}
