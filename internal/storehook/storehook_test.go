package storehook_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mlskit/mlskit/internal/storehook"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// A Store with hooks that do nothing is a conforming store, with and
// without reused transactions.
func TestConforms(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		h := storehook.Hooks{
			Before:  func(storehook.Op) error { return nil },
			After:   func(storehook.Op, time.Duration) {},
			ReuseTx: reuse,
		}
		storagetest.Run(t, func() providers.Storage { return storehook.New(memstore.New(), h) })
	}
}

// The hooks see every operation, on the store and in a transaction, with
// its name, InTx and written size, then the commit (Before) and the
// transaction (After).
func TestHooksSeeEveryOperation(t *testing.T) {
	var before, after []storehook.Op
	s := storehook.New(memstore.New(), storehook.Hooks{
		Before: func(o storehook.Op) error { before = append(before, o); return nil },
		After: func(o storehook.Op, d time.Duration) {
			if d < 0 {
				t.Errorf("%s took %v", o.Name, d)
			}
			after = append(after, o)
		},
	})
	if err := s.WritePSK([]byte("a"), []byte("12345")); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx providers.Records) error {
		if _, err := tx.ReadPSK([]byte("a")); err != nil {
			return err
		}
		return tx.DeletePSK([]byte("a"))
	}); err != nil {
		t.Fatal(err)
	}
	wantBefore := []storehook.Op{{Name: "WritePSK", Size: 5}, {Name: "ReadPSK", InTx: true}, {Name: "DeletePSK", InTx: true}, {Name: "Commit"}}
	wantAfter := []storehook.Op{{Name: "WritePSK", Size: 5}, {Name: "ReadPSK", InTx: true}, {Name: "DeletePSK", InTx: true}, {Name: "Update"}}
	if !equalOps(before, wantBefore) || !equalOps(after, wantAfter) {
		t.Fatalf("before %+v\nwant %+v\nafter %+v\nwant %+v", before, wantBefore, after, wantAfter)
	}
	for i, o := range before {
		if want := o.Name == "WritePSK" || o.Name == "DeletePSK"; o.Changes() != want {
			t.Errorf("op %d %s: Changes %v", i, o.Name, o.Changes())
		}
	}
}

func equalOps(a, b []storehook.Op) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// An error of Before fails the operation without calling the store; at
// Commit, the transaction is rolled back.
func TestBeforeFails(t *testing.T) {
	errHook := errors.New("hook")
	for _, failAt := range []string{"WritePSK", "Commit"} {
		inner := memstore.New()
		s := storehook.New(inner, storehook.Hooks{Before: func(o storehook.Op) error {
			if o.Name == failAt {
				return errHook
			}
			return nil
		}})
		err := s.Update(func(tx providers.Records) error { return tx.WritePSK([]byte("a"), []byte("1")) })
		if !errors.Is(err, errHook) {
			t.Fatalf("failing %s: %v", failAt, err)
		}
		if _, err := inner.ReadPSK([]byte("a")); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("failing %s: the write was kept (%v)", failAt, err)
		}
	}
}

// With ReuseTx, a transaction costs no allocation beyond the wrapped
// store's.
func TestReuseTxAllocates(t *testing.T) {
	inner := memstore.New()
	fn := func(tx providers.Records) error { _, err := tx.ReadPSK([]byte("a")); return err }
	if err := inner.WritePSK([]byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	base := testing.AllocsPerRun(100, func() { _ = inner.Update(fn) })
	s := storehook.New(inner, storehook.Hooks{Before: func(storehook.Op) error { return nil }, ReuseTx: true})
	if got := testing.AllocsPerRun(100, func() { _ = s.Update(fn) }); got != base {
		t.Fatalf("%v allocations per Update, the wrapped store %v", got, base)
	}
}
