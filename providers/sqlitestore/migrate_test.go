package sqlitestore

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlskit/mlskit/providers"
)

// fixture creates a database from an SQL file of testdata.
func fixture(t *testing.T, name string) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", "file:"+escapePath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, stmt := range strings.Split(string(script), ";\n") {
		if strings.TrimSpace(stripComments(stmt)) == "" {
			continue
		}
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return path
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func schemaVersionOf(t *testing.T, path string) int {
	t.Helper()
	var v int
	if err := rawConn(t, path).QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMigrateFromV1 opens a hand-written database of schema version 1: it is
// migrated to the current version and every record reads back.
func TestMigrateFromV1(t *testing.T) {
	path := fixture(t, "schema-v1.sql")
	// Opening it read-only cannot migrate it.
	if _, err := Open(path, &Options{ReadOnly: true}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only Open of a v1 database = %v, want ErrReadOnly", err)
	}
	// Nor can a key encrypt its plaintext records; the failed migration
	// leaves it at version 1.
	if _, err := Open(path, &Options{Key: testKey(1)}); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("Open of a v1 database with a key = %v, want ErrNotEncrypted", err)
	}
	if v := schemaVersionOf(t, path); v != 1 {
		t.Fatalf("schema version after failed migrations = %d, want 1", v)
	}
	db, err := Open(path, fast)
	if err != nil {
		t.Fatalf("Open of a v1 database: %v", err)
	}
	defer db.Close()
	if v := schemaVersionOf(t, path); v != schemaVersion {
		t.Fatalf("schema version after Open = %d, want %d", v, schemaVersion)
	}
	a := db.Store([]byte("alice"))
	if ver, st, err := a.ReadGroupState([]byte("group")); err != nil || ver != 2 || string(st) != "state" {
		t.Fatalf("alice's group state: %d, %q, %v", ver, st, err)
	}
	if ep, err := a.ListEpochs([]byte("group")); err != nil || !slices.Equal(ep, []uint64{4, 5}) {
		t.Fatalf("alice's epochs: %v, %v", ep, err)
	}
	for _, c := range []struct {
		read func() ([]byte, error)
		want string
	}{
		{func() ([]byte, error) { return a.ReadEpochSecrets([]byte("group"), 5) }, "epoch5"},
		{func() ([]byte, error) { return a.ReadRatchetTree([]byte("group"), 5) }, "tree5"},
		{func() ([]byte, error) { return a.ReadKeyPackage([]byte("ref")) }, "kp"},
		{func() ([]byte, error) { return a.ReadSignatureKeyPair([]byte("pub")) }, "sigkey"},
		{func() ([]byte, error) { return a.ReadEncryptionKeyPair([]byte("pub")) }, "enckey"},
		{func() ([]byte, error) { return a.ReadPSK(nil) }, ""},
	} {
		if v, err := c.read(); err != nil || string(v) != c.want {
			t.Fatalf("read %q: %q, %v", c.want, v, err)
		}
	}
	if ver, st, err := db.Store([]byte("bob")).ReadGroupState([]byte("group")); err != nil || ver != 1 || string(st) != "bob stat" {
		t.Fatalf("bob's group state: %d, %q, %v", ver, st, err)
	}
	// And it is writable in the new version.
	if err := a.DeleteEpochSecrets([]byte("group"), 4); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReadEpochSecrets([]byte("group"), 4); !errors.Is(err, providers.ErrNotFound) {
		t.Fatal(err)
	}
}

// TestNewerVersionRefused: a file of a schema version this package does not
// know is refused, not modified.
func TestNewerVersionRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mls.db")
	db, err := Open(path, fast)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := rawConn(t, path).Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, fast); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("Open = %v, want ErrUnsupportedVersion", err)
	}
	if v := schemaVersionOf(t, path); v != 99 {
		t.Fatalf("version = %d after a refused Open", v)
	}
}
