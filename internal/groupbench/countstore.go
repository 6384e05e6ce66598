package groupbench

import (
	"sync/atomic"

	"github.com/mlskit/mlskit/internal/storehook"
	"github.com/mlskit/mlskit/providers"
)

// CountingStore wraps a providers.Storage and counts the bytes and records
// written through it (values of every Write call, in transactions too, and
// one record per Delete), so that benchmarks can print what an operation
// writes to storage. Writes of a transaction that fails are counted too.
// It is a configuration of the interceptor internal/storehook (a Before
// hook; transactions reused, so that counting costs no allocation).
type CountingStore struct {
	*storehook.Store
	bytes, records atomic.Int64
}

// NewCountingStore wraps s.
func NewCountingStore(s providers.Storage) *CountingStore {
	c := new(CountingStore)
	c.Store = storehook.New(s, storehook.Hooks{Before: c.count, ReuseTx: true})
	return c
}

// Written returns the bytes and records written so far.
func (s *CountingStore) Written() (bytes, records int64) {
	return s.bytes.Load(), s.records.Load()
}

// count counts a Write or Delete.
func (s *CountingStore) count(op storehook.Op) error {
	if op.Changes() {
		s.bytes.Add(int64(op.Size))
		s.records.Add(1)
	}
	return nil
}
