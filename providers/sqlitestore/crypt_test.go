package sqlitestore

import (
	"bytes"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/storagetest"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestConformanceEncrypted(t *testing.T) {
	o := *fast
	o.Key = testKey(1)
	db := openTemp(t, &o)
	var n byte
	storagetest.Run(t, func() providers.Storage {
		n++
		return db.Store([]byte{n})
	})
}

// TestEncryptedFileRevealsNoValue writes distinctive secrets in every key
// space of an encrypted database, closes it and scans the raw files for
// them; then checks the key: the right one reads them back, a wrong or
// missing one fails at Open.
func TestEncryptedFileRevealsNoValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mls.db")
	o := *fast
	o.Key = testKey(7)
	db, err := Open(path, &o)
	if err != nil {
		t.Fatal(err)
	}
	sec := newSecrets()
	s := db.Store([]byte("client"))
	for _, k := range recordKinds {
		for _, size := range []int{40, 9000} {
			if err := k.write(s, sec.value(k.name, size)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if found := scanFiles(t, path, sec.marker); len(found) > 0 {
		t.Fatalf("plaintext of an encrypted database in %v (database open)", found)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if found := scanFiles(t, path, sec.marker); len(found) > 0 {
		t.Fatalf("plaintext of an encrypted database in %v", found)
	}

	for _, c := range []struct {
		name string
		key  []byte
		want error
	}{
		{"wrong key", testKey(8), ErrWrongKey},
		{"no key", nil, ErrWrongKey},
	} {
		o.Key = c.key
		if db, err := Open(path, &o); !errors.Is(err, c.want) {
			if err == nil {
				db.Close()
			}
			t.Fatalf("%s: Open = %v, want %v", c.name, err, c.want)
		}
	}
	o.Key = testKey(7)
	db, err = Open(path, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s = db.Store([]byte("client"))
	if _, v, err := s.ReadGroupState([]byte("g")); err != nil || !bytes.Equal(v, sec.value("group state", 9000)) {
		t.Fatalf("ReadGroupState with the right key: %v", err)
	}
	if _, err := db.Store([]byte("other")).ReadPSK([]byte("id")); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("another namespace: %v", err)
	}
}

// TestEncryptedRecordsCannotBeSwapped moves sealed values between records
// with raw SQL: each one then fails to open with ErrCorrupt instead of
// being read as the record it was moved to.
func TestEncryptedRecordsCannotBeSwapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mls.db")
	o := *fast
	o.Key = testKey(3)
	db, err := Open(path, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, b := db.Store([]byte("a")), db.Store([]byte("b"))
	for _, s := range []*Store{a, b} {
		if err := s.WriteEpochSecrets([]byte("g"), 1, []byte("one")); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteEpochSecrets([]byte("g"), 2, []byte("two")); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteGroupState([]byte("g"), 5, []byte("state")); err != nil {
			t.Fatal(err)
		}
		if err := s.WritePSK([]byte("g"), []byte("psk")); err != nil {
			t.Fatal(err)
		}
	}
	raw := rawConn(t, path)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	// Another epoch's value.
	exec(`UPDATE record SET value = (SELECT value FROM record WHERE ns = x'61' AND space = 6 AND epoch = ?) WHERE ns = x'61' AND space = 6 AND epoch = ?`, be(2), be(1))
	if _, err := a.ReadEpochSecrets([]byte("g"), 1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("value of epoch 2 read as epoch 1: %v, want ErrCorrupt", err)
	}
	// Another namespace's value.
	exec(`UPDATE record SET value = (SELECT value FROM record WHERE ns = x'62' AND space = 5) WHERE ns = x'61' AND space = 5`)
	if _, err := a.ReadPSK([]byte("g")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("value of namespace b read in a: %v, want ErrCorrupt", err)
	}
	// Another key space's value (same key).
	exec(`UPDATE record SET value = (SELECT value FROM record WHERE ns = x'62' AND space = 1) WHERE ns = x'62' AND space = 5`)
	if _, err := b.ReadPSK([]byte("g")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("group state read as a PSK: %v, want ErrCorrupt", err)
	}
	// Another format version.
	exec(`UPDATE record SET version = 6 WHERE ns = x'62' AND space = 1`)
	if _, _, err := b.ReadGroupState([]byte("g")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("group state with a changed version: %v, want ErrCorrupt", err)
	}
	// The untouched records still read.
	if v, err := b.ReadEpochSecrets([]byte("g"), 1); err != nil || string(v) != "one" {
		t.Errorf("untouched record: %q, %v", v, err)
	}
}

// TestKeyForPlaintextDatabase: a database created without a key refuses
// one (its records are plaintext), and keys of the wrong size are refused.
func TestKeyForPlaintextDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mls.db")
	db, err := Open(path, fast)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	o := *fast
	o.Key = testKey(1)
	if _, err := Open(path, &o); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("Open with a key = %v, want ErrNotEncrypted", err)
	}
	o.Key = make([]byte, 16)
	if _, err := Open(filepath.Join(t.TempDir(), "new.db"), &o); err == nil {
		t.Fatal("Open with a 16-byte key succeeded")
	}
}

func be(e uint64) []byte { return byEpoch(spaceTree, nil, e).epoch }

// rawConn opens the database file with plain SQL, as an attacker or a
// fixture would.
func rawConn(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+escapePath(path)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}
