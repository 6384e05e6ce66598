package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The schema is versioned: the table schema_version holds one row, the
// version of the layout the file has. Open applies, in one transaction,
// every migration from the file's version to schemaVersion; a crash during
// a migration leaves the file at its old version. A file of a later
// version than this package knows is refused (ErrUnsupportedVersion).
//
// Version history:
//
//	1  schema_version; record (ns, space, key, epoch, version, value).
//	2  meta (name, value): the encryption setting ("cipher", and for an
//	   encrypted database "salt" and "keycheck"); a database migrated
//	   from version 1 is plaintext.
//
// The secret tree key space (space 8: epoch column = 8-byte epoch then
// 4-byte node, big-endian) needs no change of the layout.
const schemaVersion = 2

// migrations[v] brings a database from version v to v+1; migrations[0]
// creates an empty database.
var migrations = []func(ctx context.Context, tx *sql.Tx) error{
	0: execAll(
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		`INSERT INTO schema_version (version) VALUES (0)`,
		// One row per record. space is one of the space constants;
		// epoch is the big-endian 8-byte epoch in the epoch key spaces
		// and empty elsewhere, so that ORDER BY epoch is numeric order
		// and ORDER BY key is ascending byte order. version is the group
		// state's format version (0 in the other key spaces).
		`CREATE TABLE record (
			ns      BLOB    NOT NULL,
			space   INTEGER NOT NULL,
			key     BLOB    NOT NULL,
			epoch   BLOB    NOT NULL,
			version INTEGER NOT NULL,
			value   BLOB    NOT NULL,
			PRIMARY KEY (ns, space, key, epoch)
		)`,
	),
	1: execAll(
		`CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)`,
	),
}

func execAll(stmts ...string) func(ctx context.Context, tx *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
}

// readVersion returns the schema version of the database (0 for a new,
// empty file).
func readVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'`).Scan(&n)
	if err != nil || n == 0 {
		return 0, err
	}
	var v int
	if err := q.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, &Error{Op: "open", Kind: ErrCorrupt, Err: errors.New("schema_version is empty")}
		}
		return 0, err
	}
	return v, nil
}

// migrate brings the database to schemaVersion.
func (db *DB) migrate(ctx context.Context) error {
	v, err := readVersion(ctx, db.w)
	if err != nil {
		return dbErr("open", err)
	}
	if v > schemaVersion || v < 0 {
		return &Error{Op: "open", Kind: ErrUnsupportedVersion, Err: fmt.Errorf("the file has schema version %d, this package knows up to %d", v, schemaVersion)}
	}
	if v == schemaVersion {
		return nil
	}
	if db.opts.ReadOnly {
		return &Error{Op: "open", Kind: ErrReadOnly, Err: fmt.Errorf("schema version %d needs a migration to %d", v, schemaVersion)}
	}
	tx, err := db.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		return dbErr("migrate", err)
	}
	defer tx.Rollback()
	// Another process may have migrated while we waited for the lock.
	if v, err = readVersion(ctx, tx); err != nil {
		return dbErr("migrate", err)
	}
	if v > schemaVersion {
		return &Error{Op: "open", Kind: ErrUnsupportedVersion, Err: fmt.Errorf("the file has schema version %d, this package knows up to %d", v, schemaVersion)}
	}
	for ; v < schemaVersion; v++ {
		if err := migrations[v](ctx, tx); err != nil {
			return dbErr(fmt.Sprintf("migrate from schema version %d", v), err)
		}
	}
	if err := setupCipher(ctx, tx, db.opts.Key); err != nil {
		return dbErr("open", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, schemaVersion); err != nil {
		return dbErr("migrate", err)
	}
	return dbErr("migrate", tx.Commit())
}

// Statements, prepared on every connection.
const (
	stGet = iota
	stUpdate
	stInsert
	stDelete
	stListKeys
	stListEpochs
	stListNodes
	stNamespaces
	stDeleteNamespace
	stDeleteNodes
	numStmts
)

var stmtSQL = [numStmts]string{
	stGet:             `SELECT version, value FROM record WHERE ns = ?1 AND space = ?2 AND key = ?3 AND epoch = ?4`,
	stUpdate:          `UPDATE record SET version = ?5, value = ?6 WHERE ns = ?1 AND space = ?2 AND key = ?3 AND epoch = ?4`,
	stInsert:          `INSERT INTO record (ns, space, key, epoch, version, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (ns, space, key, epoch) DO NOTHING`,
	stDelete:          `DELETE FROM record WHERE ns = ?1 AND space = ?2 AND key = ?3 AND epoch = ?4`,
	stListKeys:        `SELECT key FROM record WHERE ns = ?1 AND space = ?2 ORDER BY key`,
	stListEpochs:      `SELECT epoch FROM record WHERE ns = ?1 AND space = ?2 AND key = ?3 ORDER BY epoch`,
	stListNodes:       `SELECT epoch FROM record WHERE ns = ?1 AND space = ?2 AND key = ?3 AND epoch BETWEEN ?4 AND ?5 ORDER BY epoch`,
	stNamespaces:      `SELECT DISTINCT ns FROM record ORDER BY ns`,
	stDeleteNamespace: `DELETE FROM record WHERE ns = ?1`,
	stDeleteNodes:     `DELETE FROM record WHERE ns = ?1 AND space = ?2 AND key = ?3 AND epoch BETWEEN ?4 AND ?5`,
}

type stmts struct {
	all [numStmts]*sql.Stmt
	// namespaces is all[stNamespaces], for DB.Namespaces.
	namespaces *sql.Stmt
}

func prepare(ctx context.Context, db *sql.DB) (*stmts, error) {
	s := new(stmts)
	for i, q := range stmtSQL {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return nil, dbErr("prepare", err)
		}
		s.all[i] = st
	}
	s.namespaces = s.all[stNamespaces]
	return s, nil
}
