package sqlitestore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlskit/mlskit/providers"
)

// TestBusy: a writer that waits longer than its busy timeout for another
// DB's transaction fails with ErrBusy and changes nothing; it succeeds once
// the other commits.
func TestBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mls.db")
	a, err := Open(path, fast)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	o := *fast
	o.BusyTimeout = 50 * time.Millisecond
	b, err := Open(path, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	inTx, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- a.Store(nil).Update(func(tx providers.Records) error {
			if err := tx.WritePSK([]byte("a"), []byte("a")); err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	<-inTx
	err = b.Store(nil).WritePSK([]byte("b"), []byte("b"))
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("write while another DB holds a transaction = %v, want ErrBusy", err)
	}
	// Reads are not blocked by the writer (WAL).
	if _, err := b.Store(nil).ReadPSK([]byte("a")); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("read during the other transaction = %v, want ErrNotFound", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := b.Store(nil).WritePSK([]byte("b"), []byte("b")); err != nil {
		t.Fatalf("write after the other transaction: %v", err)
	}
	if v, err := b.Store(nil).ReadPSK([]byte("a")); err != nil || string(v) != "a" {
		t.Fatalf("the other transaction's write: %q, %v", v, err)
	}
}

// TestReadOnly: a database opened read-only reads, and every write fails
// with ErrReadOnly leaving the records as they were.
func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mls.db")
	db, err := Open(path, fast)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Store(nil).WriteGroupState([]byte("g"), 1, []byte("state")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	check := func(t *testing.T, db *DB) {
		t.Helper()
		s := db.Store(nil)
		if err := s.WriteGroupState([]byte("g"), 1, []byte("new")); !errors.Is(err, ErrReadOnly) {
			t.Errorf("WriteGroupState = %v, want ErrReadOnly", err)
		}
		if err := s.DeleteGroupState([]byte("g")); !errors.Is(err, ErrReadOnly) {
			t.Errorf("DeleteGroupState = %v, want ErrReadOnly", err)
		}
		err := s.Update(func(tx providers.Records) error { return tx.WritePSK([]byte("p"), []byte("x")) })
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("Update = %v, want ErrReadOnly", err)
		}
		if _, st, err := s.ReadGroupState([]byte("g")); err != nil || string(st) != "state" {
			t.Errorf("ReadGroupState after failed writes = %q, %v", st, err)
		}
		if _, err := s.ReadPSK([]byte("p")); !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("ReadPSK after a failed transaction = %v", err)
		}
	}
	t.Run("Options.ReadOnly", func(t *testing.T) {
		db, err := Open(path, &Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		check(t, db)
	})
	t.Run("read-only file", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root: file permissions do not stop writes")
		}
		dir := filepath.Dir(path)
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			os.Chmod(f, 0o444)
		}
		os.Chmod(dir, 0o555)
		defer os.Chmod(dir, 0o755)
		db, err := Open(path, &Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		check(t, db)
		if _, err := Open(path, nil); err == nil {
			t.Error("read-write Open of a read-only file succeeded")
		}
	})
}

// TestFull: a transaction that does not fit in the database (a full disk,
// simulated with max_page_count) fails with ErrFull, writes none of its
// records, and leaves the store usable.
func TestFull(t *testing.T) {
	o := *fast
	o.maxPageCount = 40 // 160 KiB
	db := openTemp(t, &o)
	s := db.Store(nil)
	big := bytes.Repeat([]byte{7}, 40_000)
	if err := s.WriteGroupState([]byte("g"), 1, big); err != nil {
		t.Fatal(err)
	}
	err := s.Update(func(tx providers.Records) error {
		if err := tx.WriteGroupState([]byte("g"), 2, []byte("new state")); err != nil {
			return err
		}
		for e := range uint64(10) {
			if err := tx.WriteEpochSecrets([]byte("g"), e, big); err != nil {
				// An application ignoring the error and committing
				// anyway must not get a partial transaction.
				_ = err
			}
		}
		return nil
	})
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Update = %v, want ErrFull", err)
	}
	if v, st, err := s.ReadGroupState([]byte("g")); err != nil || v != 1 || !bytes.Equal(st, big) {
		t.Fatalf("group state after the failed transaction: version %d, %d bytes, %v", v, len(st), err)
	}
	if ep, err := s.ListEpochs([]byte("g")); err != nil || len(ep) != 0 {
		t.Fatalf("epochs after the failed transaction: %v, %v", ep, err)
	}
	if err := s.WriteEpochSecrets([]byte("g"), 1, big); !errors.Is(err, ErrFull) {
		// One more big value may or may not fit; it must not be torn.
		if err != nil {
			t.Fatalf("single write: %v", err)
		}
	}
	// Usable afterwards: small writes and deletions work.
	if err := s.WriteGroupState([]byte("g"), 3, []byte("small")); err != nil {
		t.Fatalf("write after ErrFull: %v", err)
	}
	if _, st, err := s.ReadGroupState([]byte("g")); err != nil || string(st) != "small" {
		t.Fatalf("read after ErrFull: %q, %v", st, err)
	}
}

// TestCorrupt: a file that is not a database, or whose pages are damaged,
// gives ErrCorrupt — at Open, at Check or on a read — never a panic or a
// wrong value.
func TestCorrupt(t *testing.T) {
	write := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "mls.db")
		db, err := Open(path, fast)
		if err != nil {
			t.Fatal(err)
		}
		s := db.Store(nil)
		for i := range 50 {
			if err := s.WriteEpochSecrets([]byte("g"), uint64(i), bytes.Repeat([]byte{byte(i)}, 500)); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	damage := func(t *testing.T, path string, off int64, n int) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, n), off); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("not a database", func(t *testing.T) {
		path := write(t)
		damage(t, path, 0, 100)
		if db, err := Open(path, fast); !errors.Is(err, ErrCorrupt) {
			if err == nil {
				db.Close()
			}
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
	})
	t.Run("damaged pages", func(t *testing.T) {
		path := write(t)
		st, _ := os.Stat(path)
		// Every page but the first (the header and the schema).
		damage(t, path, 4096, int(st.Size())-4096)
		db, err := Open(path, fast)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
			return
		}
		defer db.Close()
		if err := db.Check(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Check = %v, want ErrCorrupt", err)
		}
		s := db.Store(nil)
		for i := range 50 {
			v, err := s.ReadEpochSecrets([]byte("g"), uint64(i))
			if err == nil && !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, 500)) {
				t.Fatalf("epoch %d: a wrong value and no error", i)
			}
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, providers.ErrNotFound) {
				t.Fatalf("epoch %d: %v, want ErrCorrupt", i, err)
			}
		}
		if _, err := s.ListEpochs([]byte("g")); !errors.Is(err, ErrCorrupt) {
			t.Errorf("ListEpochs = %v, want ErrCorrupt", err)
		}
	})
}
