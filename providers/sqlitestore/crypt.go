package sqlitestore

import (
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Encryption at rest
//
// With Options.Key, every value is sealed with XChaCha20-Poly1305 under a
// key derived from it (HKDF-SHA256 with a random salt of the database, so
// two databases under the same application key use different keys). A
// sealed value is a random 24-byte nonce followed by the ciphertext and
// its tag; its associated data is the record's full address — namespace,
// key space, key, epoch — and the group state's format version, so a value
// moved to another record, another namespace or another version fails to
// open (ErrCorrupt) instead of being read as that record. Keys (group ids,
// public keys, key package refs) and the namespaces are not encrypted.
//
// Whether a database is encrypted is decided when it is created and kept
// in its meta table with a key-check value (a constant sealed under the
// derived key), so that Open with a wrong key fails at once with
// ErrWrongKey. Encryption protects a copy of the file from being read; it
// does not stop someone who can write the file from restoring an older
// copy of a record.

// KeySize is the size of Options.Key.
const KeySize = 32

var (
	// ErrWrongKey: the database is encrypted and Options.Key is missing
	// or is not the key it was created with.
	ErrWrongKey = errors.New("sqlitestore: wrong or missing encryption key")
	// ErrNotEncrypted: Options.Key was given but the database was created
	// without encryption (its records are plaintext).
	ErrNotEncrypted = errors.New("sqlitestore: database is not encrypted")
)

// Values of the meta table's "cipher" entry.
const (
	cipherNone              = "none"
	cipherXChaCha20Poly1305 = "xchacha20-poly1305/hkdf-sha256"
)

const (
	hkdfInfo     = "mlskit sqlitestore v1 record key"
	keyCheckText = "mlskit sqlitestore key check"
	keyCheckAD   = "mlskit sqlitestore key check"
	recordADTag  = "mlskit sqlitestore record"
)

// setupCipher records, in a database being created (or migrated to the
// first version with a meta table), whether it is encrypted. A database
// with records is never turned into an encrypted one.
func setupCipher(ctx context.Context, tx *sql.Tx, key []byte) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM meta WHERE name = 'cipher'`).Scan(&n); err != nil || n > 0 {
		return err
	}
	if key == nil {
		_, err := tx.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES ('cipher', ?)`, []byte(cipherNone))
		return err
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM record`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return &Error{Op: "open", Kind: ErrNotEncrypted, Err: errors.New("the database already holds plaintext records")}
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	aead, err := deriveAEAD(key, salt)
	if err != nil {
		return err
	}
	check := sealWith(aead, []byte(keyCheckText), []byte(keyCheckAD))
	for name, v := range map[string][]byte{"cipher": []byte(cipherXChaCha20Poly1305), "salt": salt, "keycheck": check} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES (?, ?)`, name, v); err != nil {
			return err
		}
	}
	return nil
}

// loadCipher reads the database's encryption setting and checks opts.Key
// against it.
func (db *DB) loadCipher(ctx context.Context) error {
	meta := map[string][]byte{}
	rows, err := db.w.QueryContext(ctx, `SELECT name, value FROM meta`)
	if err != nil {
		return dbErr("open", err)
	}
	for rows.Next() {
		var name string
		var v []byte
		if err := rows.Scan(&name, &v); err != nil {
			rows.Close()
			return dbErr("open", err)
		}
		meta[name] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return dbErr("open", err)
	}
	key := db.opts.Key
	switch c := string(meta["cipher"]); c {
	case cipherNone:
		if key != nil {
			return &Error{Op: "open", Kind: ErrNotEncrypted, Err: errors.New("a key was given for a database created without encryption")}
		}
		return nil
	case cipherXChaCha20Poly1305:
		if key == nil {
			return &Error{Op: "open", Kind: ErrWrongKey, Err: errors.New("the database is encrypted and no key was given")}
		}
		aead, err := deriveAEAD(key, meta["salt"])
		if err != nil {
			return err
		}
		if _, err := openWith(aead, meta["keycheck"], []byte(keyCheckAD)); err != nil {
			return &Error{Op: "open", Kind: ErrWrongKey, Err: errors.New("the key does not open the database's key check")}
		}
		db.aead = aead
		return nil
	default:
		return &Error{Op: "open", Kind: ErrCorrupt, Err: fmt.Errorf("unknown cipher %q in the meta table", c)}
	}
}

func deriveAEAD(key, salt []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sqlitestore: Options.Key is %d bytes, want %d", len(key), KeySize)
	}
	if len(salt) != 32 {
		return nil, &Error{Op: "open", Kind: ErrCorrupt, Err: fmt.Errorf("salt of %d bytes", len(salt))}
	}
	k, err := hkdf.Key(sha256.New, key, salt, hkdfInfo, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return chacha20poly1305.NewX(k)
}

func sealWith(aead cipher.AEAD, plaintext, ad []byte) []byte {
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return aead.Seal(out, out, plaintext, ad)
}

func openWith(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("sealed value too short")
	}
	n := aead.NonceSize()
	return aead.Open(make([]byte, 0, len(sealed)-n-aead.Overhead()), sealed[:n], sealed[n:], ad)
}

// recordAD is the associated data of record k of namespace ns: every part
// of its address, length-prefixed, and the format version.
//
// It is encoded here, not by a codec generated from schema/, because it
// is not a wire or stored structure: it never leaves this function, is
// never stored or decoded, and is only the AEAD's associated data, built
// anew from the record's address for each seal and open. What it needs
// is to be injective (4-byte length prefixes: no two addresses give the
// same bytes; TestEncryptedRecordsCannotBeSwapped) and stable: the
// records of existing encrypted databases were sealed with exactly these
// bytes, so that any other encoding would fail to open them.
func recordAD(ns []byte, k rkey, version uint16) []byte {
	ad := make([]byte, 0, len(recordADTag)+len(ns)+len(k.key)+len(k.epoch)+16)
	ad = append(ad, recordADTag...)
	for _, part := range [][]byte{ns, k.key, k.epoch} {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(part)))
		ad = append(ad, part...)
	}
	ad = binary.BigEndian.AppendUint16(ad, uint16(k.space))
	return binary.BigEndian.AppendUint16(ad, version)
}

// seal returns the stored form of value, the record k of namespace ns.
func (db *DB) seal(ns []byte, k rkey, version uint16, value []byte) ([]byte, error) {
	if db.aead == nil {
		return nonNil(value), nil
	}
	return sealWith(db.aead, value, recordAD(ns, k, version)), nil
}

// open returns a copy of the value whose stored form is stored.
func (db *DB) open(ns []byte, k rkey, version uint16, stored []byte) ([]byte, error) {
	if db.aead == nil {
		return append(make([]byte, 0, len(stored)), stored...), nil
	}
	v, err := openWith(db.aead, stored, recordAD(ns, k, version))
	if err != nil {
		return nil, &Error{Op: "read " + k.String(), Kind: ErrCorrupt, Err: errors.New("the value fails authentication: damaged, or moved from another record")}
	}
	return v, nil
}
