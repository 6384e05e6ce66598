package sqlitestore

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlskit/mlskit/providers"
)

// queueBehindBlocker writes "old" to record p of stores c0…c(n-1), then
// runs fn(i, tx) as an Update of store ci, for each i at once, all queued
// while another transaction holds the writer, so that they run as one
// group once it lets go. It returns each Update's error and panic, and the
// number of commits the blocker and the group made.
func queueBehindBlocker(t *testing.T, db *DB, n int, fn func(i int, tx providers.Records) error) (errs []error, panics []any, commitCount int) {
	t.Helper()
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
	var wg sync.WaitGroup
	errs = make([]error, n)
	panics = make([]any, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			errs[i] = db.Store(fmt.Appendf(nil, "c%d", i)).Update(func(tx providers.Records) error { return fn(i, tx) })
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
	return errs, panics, commits() - before
}

// stored returns record p of store ci.
func stored(t *testing.T, db *DB, i int) string {
	t.Helper()
	v, err := db.Store(fmt.Appendf(nil, "c%d", i)).ReadPSK([]byte("p"))
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// TestGroupCommit: transactions that queue up while another holds the
// writer run as one group (one SQLite transaction, one commit, one
// checkpoint): each succeeds or fails on its own (a failing or panicking
// function rolls back only its own writes, and the panic reaches its own
// caller), every successful one is stored, and with the default settings
// the log is truncated (erased) when they return.
func TestGroupCommit(t *testing.T) {
	db := openTemp(t, nil) // FULL, erase on commit
	const n = 8
	errFn := errors.New("refused")
	errs, panics, commits := queueBehindBlocker(t, db, n, func(i int, tx providers.Records) error {
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
	if commits != 2 {
		t.Fatalf("%d commits for the blocker and %d queued transactions, want 2", commits, n)
	}
	for i := range n {
		v := stored(t, db, i)
		switch i {
		case 2:
			if !errors.Is(errs[i], errFn) || v != "old" {
				t.Errorf("failing transaction: %v, stored %q", errs[i], v)
			}
		case 5:
			if panics[i] != "boom" || v != "old" {
				t.Errorf("panicking transaction: panic %v, stored %q", panics[i], v)
			}
		default:
			if errs[i] != nil || panics[i] != nil || v != fmt.Sprintf("new %d", i) {
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

// TestGroupCommitDatabaseError: a database error inside one transaction of
// a group (here a trigger that aborts the write of store c2) fails every
// transaction of the group, those that ran before it included, and stores
// none of them: each Update that returned an error left its records as
// they were, so the caller's rollback of its memory matches storage.
func TestGroupCommitDatabaseError(t *testing.T) {
	db := openTemp(t, fast)
	if _, err := db.w.Exec(`CREATE TRIGGER poison BEFORE UPDATE ON record WHEN NEW.ns = CAST('c2' AS BLOB)
		BEGIN SELECT RAISE(ABORT, 'poisoned write'); END`); err != nil {
		t.Fatal(err)
	}
	const n = 6
	errs, panics, commits := queueBehindBlocker(t, db, n, func(i int, tx providers.Records) error {
		return tx.WritePSK([]byte("p"), fmt.Appendf(nil, "new %d", i))
	})
	if commits != 1 {
		t.Fatalf("%d commits, want 1 (the blocker's; the group must not commit)", commits)
	}
	for i := range n {
		if v := stored(t, db, i); errs[i] == nil || panics[i] != nil || v != "old" {
			t.Errorf("transaction %d of a group with a database error: err %v, panic %v, stored %q; want an error and \"old\"", i, errs[i], panics[i], v)
		}
	}
	if !strings.Contains(errs[2].Error(), "poisoned write") {
		t.Errorf("the failing transaction's error does not carry the database's: %v", errs[2])
	}
	// The writer is usable afterwards.
	if _, err := db.w.Exec(`DROP TRIGGER poison`); err != nil {
		t.Fatal(err)
	}
	if err := db.Store([]byte("c2")).WritePSK([]byte("p"), []byte("x")); err != nil {
		t.Fatal(err)
	}
}
