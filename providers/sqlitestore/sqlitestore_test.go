package sqlitestore

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// openTemp opens a new database in a temporary directory, closed at the end
// of the test.
func openTemp(t testing.TB, opts *Options) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "mls.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// fast are the options of tests that do not test durability or erasure:
// each fsync costs milliseconds on an ordinary disk.
var fast = &Options{Synchronous: SyncNormal, Erasure: EraseOnCheckpoint}

func TestConformance(t *testing.T) {
	// One database for the whole suite: every store is a new namespace,
	// so the suite also checks that namespaces do not see each other.
	db := openTemp(t, fast)
	var n int
	storagetest.Run(t, func() providers.Storage {
		n++
		return db.Store(fmt.Appendf(nil, "client-%d", n))
	})
}

// TestNamespacesSeparate checks that namespaces whose names are prefixes of
// each other, or empty, hold separate records.
func TestNamespacesSeparate(t *testing.T) {
	db := openTemp(t, nil)
	names := [][]byte{nil, {0}, []byte("a"), []byte("a\x00"), []byte("ab")}
	for i, ns := range names {
		s := db.Store(ns)
		if err := s.WriteGroupState([]byte("g"), uint16(i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteEpochSecrets([]byte("g"), uint64(i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, ns := range names {
		s := db.Store(ns)
		v, st, err := s.ReadGroupState([]byte("g"))
		if err != nil || v != uint16(i) || !bytes.Equal(st, []byte{byte(i)}) {
			t.Fatalf("namespace %q: ReadGroupState = %d, %x, %v", ns, v, st, err)
		}
		if ep, err := s.ListEpochs([]byte("g")); err != nil || len(ep) != 1 || ep[0] != uint64(i) {
			t.Fatalf("namespace %q: ListEpochs = %v, %v", ns, ep, err)
		}
	}
	got, err := db.Namespaces()
	if err != nil || len(got) != len(names) {
		t.Fatalf("Namespaces = %q, %v", got, err)
	}
	if err := db.DeleteNamespace([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Store([]byte("a")).ReadGroupState([]byte("g")); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("after DeleteNamespace: %v", err)
	}
	if _, _, err := db.Store([]byte("a\x00")).ReadGroupState([]byte("g")); err != nil {
		t.Fatalf("DeleteNamespace(a) touched a\\x00: %v", err)
	}
}

// TestReopen checks that records survive closing and reopening the file.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mls.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := db.Store([]byte("alice"))
	if err := s.Update(func(tx providers.Records) error {
		if err := tx.WriteGroupState([]byte("g"), 2, []byte("state")); err != nil {
			return err
		}
		return tx.WriteRatchetTree([]byte("g"), 5, []byte("tree"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ReadGroupState([]byte("g")); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after Close: %v, want ErrClosed", err)
	}
	if err := s.WritePSK([]byte("p"), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: %v, want ErrClosed", err)
	}
	db, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s = db.Store([]byte("alice"))
	if v, st, err := s.ReadGroupState([]byte("g")); err != nil || v != 2 || string(st) != "state" {
		t.Fatalf("after reopen: %d, %q, %v", v, st, err)
	}
	if tr, err := s.ReadRatchetTree([]byte("g"), 5); err != nil || string(tr) != "tree" {
		t.Fatalf("after reopen: %q, %v", tr, err)
	}
}

// TestConcurrentTransactions runs transactions of many namespaces and
// readers of one shared database at once (run with -race): no lost
// update, no deadlock between a transaction and readers.
func TestConcurrentTransactions(t *testing.T) {
	// The default options: every transaction erases, so it checkpoints
	// while readers run.
	db := openTemp(t, &Options{Readers: 2})
	const workers, rounds = 6, 30
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for w := range workers {
		s := db.Store(fmt.Appendf(nil, "client-%d", w%3)) // two workers per namespace
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range rounds {
				err := s.Update(func(tx providers.Records) error {
					_, v, err := tx.ReadGroupState([]byte("g"))
					if err != nil && !errors.Is(err, providers.ErrNotFound) {
						return err
					}
					n := len(v)
					// Readers outside the transaction, from another
					// goroutine, while it holds the writer.
					done := make(chan error)
					go func() {
						_, err := s.ListGroups()
						done <- err
					}()
					if err := <-done; err != nil {
						return err
					}
					if err := tx.WriteEpochSecrets([]byte("g"), uint64(i), []byte("s")); err != nil {
						return err
					}
					if i > 0 {
						if err := tx.DeleteEpochSecrets([]byte("g"), uint64(i-1)); err != nil {
							return err
						}
					}
					return tx.WriteGroupState([]byte("g"), 1, bytes.Repeat([]byte{1}, n+1))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range rounds {
				if _, _, err := s.ReadGroupState([]byte("g")); err != nil && !errors.Is(err, providers.ErrNotFound) {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for ns := range 3 {
		_, v, err := db.Store(fmt.Appendf(nil, "client-%d", ns)).ReadGroupState([]byte("g"))
		if err != nil || len(v) != 2*rounds {
			t.Fatalf("namespace %d: %d increments, %v; want %d", ns, len(v), err, 2*rounds)
		}
	}
}

// TestPanicInTransaction: a panicking transaction function writes nothing
// and leaves the store usable.
func TestPanicInTransaction(t *testing.T) {
	db := openTemp(t, fast)
	s := db.Store(nil)
	func() {
		defer func() { recover() }()
		s.Update(func(tx providers.Records) error {
			tx.WritePSK([]byte("p"), []byte("x"))
			panic("boom")
		})
	}()
	if _, err := s.ReadPSK([]byte("p")); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("write of a panicked transaction: %v", err)
	}
	if err := s.WritePSK([]byte("p"), []byte("y")); err != nil {
		t.Fatalf("write after a panicked transaction: %v", err)
	}
}

// TestCloseDuringUse closes the database while goroutines read and write:
// every call either succeeds or fails with ErrClosed.
func TestCloseDuringUse(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "mls.db"), fast)
	if err != nil {
		t.Fatal(err)
	}
	s := db.Store(nil)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				var err error
				if w%2 == 0 {
					err = s.WritePSK([]byte{byte(w)}, []byte{byte(i)})
				} else {
					_, err = s.ReadPSK([]byte{byte(w - 1)})
					if errors.Is(err, providers.ErrNotFound) {
						err = nil
					}
				}
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("error other than ErrClosed: %v", err)
	}
}
