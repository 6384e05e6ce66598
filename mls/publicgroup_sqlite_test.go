//go:build !js && !wasip1

package mls

import (
	"path/filepath"
	"testing"

	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/sqlitestore"
)

// pgSQLiteStore is a SQLite file in a temporary directory that reopen
// closes and opens again.
func pgSQLiteStore(t *testing.T) (pgStore, bool) {
	dir := t.TempDir()
	var db *sqlitestore.DB
	openDB := func() providers.Storage {
		var err error
		if db, err = sqlitestore.Open(filepath.Join(dir, "ds.db"), nil); err != nil {
			t.Fatal(err)
		}
		return db.Store([]byte("ds"))
	}
	t.Cleanup(func() {
		if db != nil {
			db.Close()
		}
	})
	return pgStore{"sqlitestore", openDB, func() providers.Storage {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return openDB()
	}}, true
}
