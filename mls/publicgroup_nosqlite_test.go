//go:build js || wasip1

package mls

import "testing"

// pgSQLiteStore: SQLite (modernc.org/sqlite) does not build here.
func pgSQLiteStore(*testing.T) (pgStore, bool) { return pgStore{}, false }
