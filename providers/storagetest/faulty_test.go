package storagetest_test

import (
	"errors"
	"testing"

	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// A Faulty store that fails nothing is a conforming store.
func TestFaultyConforms(t *testing.T) {
	storagetest.Run(t, func() providers.Storage { return storagetest.NewFaulty(memstore.New()) })
}

// Each operation of a transaction, and its commit, can be failed; a failed
// transaction leaves nothing.
func TestFaultyFailsEachOperation(t *testing.T) {
	tx := func(s providers.Storage) error {
		return s.Update(func(tx providers.Records) error {
			if err := tx.WritePSK([]byte("a"), []byte("1")); err != nil {
				return err
			}
			if _, err := tx.ReadPSK([]byte("a")); err != nil {
				return err
			}
			return tx.WritePSK([]byte("b"), []byte("2"))
		})
	}
	f := storagetest.NewFaulty(memstore.New())
	f.Reset()
	if err := tx(f); err != nil {
		t.Fatal(err)
	}
	if n := f.Ops(); n != 4 {
		t.Fatalf("%d operations, want 4 (3 in the transaction and its commit)", n)
	}
	for k := 1; k <= 4; k++ {
		f := storagetest.NewFaulty(memstore.New())
		f.FailAt(k)
		if err := tx(f); !errors.Is(err, storagetest.ErrInjected) {
			t.Fatalf("operation %d: %v", k, err)
		}
		if failed := f.Failed(); len(failed) != 1 || failed[0].N != k || failed[0].InTx != (k < 4) {
			t.Fatalf("operation %d: failed %+v", k, failed)
		}
		for _, id := range []string{"a", "b"} {
			if _, err := f.Unwrap().ReadPSK([]byte(id)); !errors.Is(err, providers.ErrNotFound) {
				t.Fatalf("operation %d failed, but %q is stored (%v)", k, id, err)
			}
		}
		if err := tx(f); err != nil {
			t.Fatalf("retry after failing operation %d: %v", k, err)
		}
	}
}
