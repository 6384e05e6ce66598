package storagetest

import (
	"errors"
	"fmt"
	"sync"

	"github.com/mlskit/mlskit/internal/storehook"
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
// It is a configuration of the interceptor internal/storehook (a Before
// hook that counts and fails).
//
// It is safe for concurrent use.
type Faulty struct {
	storage // the storehook.Store over s
	s       providers.Storage
	mu      sync.Mutex
	n       int
	fail    func(Op) bool
	log     []Op
}

// storage names the embedded interceptor without exporting it.
type storage = providers.Storage

var _ providers.Storage = (*Faulty)(nil)

// NewFaulty returns a Faulty store over s that fails nothing until told to.
func NewFaulty(s providers.Storage) *Faulty {
	f := &Faulty{s: s}
	f.storage = storehook.New(s, storehook.Hooks{Before: func(o storehook.Op) error { return f.op(o.Name, o.InTx) }})
	return f
}

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
