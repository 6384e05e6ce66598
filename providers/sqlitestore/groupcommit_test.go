package sqlitestore

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mlskit/mlskit/providers"
)

// TestGroupCommit: transactions that queue up while another holds the
// writer run as one group (one SQLite transaction, one commit, one
// checkpoint): each succeeds or fails on its own (a failing or panicking
// function rolls back only its own writes, and the panic reaches its own
// caller), every successful one is stored, and with the default settings
// the log is truncated (erased) when they return.
func TestGroupCommit(t *testing.T) {
	db := openTemp(t, nil) // FULL, erase on commit
	const n = 8
	// Records to overwrite, so that the group erases.
	for i := range n {
		if err := db.Store(fmt.Appendf(nil, "c%d", i)).WritePSK([]byte("p"), []byte("old")); err != nil {
			t.Fatal(err)
		}
	}
	commits := func() int {
		db.wmu.Lock()
		defer db.wmu.Unlock()
		return db.commits
	}
	before := commits()
	hold, held := make(chan struct{}), make(chan struct{})
	blocker := make(chan error, 1)
	go func() {
		blocker <- db.Store([]byte("blocker")).Update(func(tx providers.Records) error {
			close(held)
			<-hold
			return tx.WritePSK([]byte("p"), []byte("blocker"))
		})
	}()
	<-held
	errFn := errors.New("refused")
	var wg sync.WaitGroup
	errs := make([]error, n)
	panics := make([]any, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			errs[i] = db.Store(fmt.Appendf(nil, "c%d", i)).Update(func(tx providers.Records) error {
				if err := tx.WritePSK([]byte("p"), fmt.Appendf(nil, "new %d", i)); err != nil {
					return err
				}
				switch i {
				case 2:
					return errFn
				case 5:
					panic("boom")
				}
				return nil
			})
		}()
	}
	// Wait until all n are queued behind the blocker.
	for deadline := time.Now().Add(10 * time.Second); ; {
		db.qmu.Lock()
		q := len(db.queue)
		db.qmu.Unlock()
		if q == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions queued, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	if got := commits() - before; got != 2 {
		t.Fatalf("%d commits for the blocker and %d queued transactions, want 2", got, n)
	}
	for i := range n {
		v, err := db.Store(fmt.Appendf(nil, "c%d", i)).ReadPSK([]byte("p"))
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 2:
			if !errors.Is(errs[i], errFn) || string(v) != "old" {
				t.Errorf("failing transaction: %v, stored %q", errs[i], v)
			}
		case 5:
			if panics[i] != "boom" || string(v) != "old" {
				t.Errorf("panicking transaction: panic %v, stored %q", panics[i], v)
			}
		default:
			if errs[i] != nil || panics[i] != nil || string(v) != fmt.Sprintf("new %d", i) {
				t.Errorf("transaction %d: %v, %v, stored %q", i, errs[i], panics[i], v)
			}
		}
	}
	if fi, err := os.Stat(db.path + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("the log holds %d bytes after the group's erasing commit", fi.Size())
	}
	// The writer is usable afterwards, alone and grouped.
	if err := db.Store([]byte("c0")).WritePSK([]byte("q"), []byte("x")); err != nil {
		t.Fatal(err)
	}
}
