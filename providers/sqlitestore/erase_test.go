package sqlitestore

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlskit/mlskit/providers"
)

// secrets makes distinctive values: a random marker (so that it cannot
// occur in the file by chance) followed by a tag and padding to n bytes.
type secrets struct{ marker []byte }

func newSecrets() secrets {
	m := make([]byte, 16)
	rand.Read(m)
	return secrets{marker: m}
}

func (s secrets) value(tag string, n int) []byte {
	v := append(bytes.Clone(s.marker), tag...)
	for len(v) < n {
		v = append(v, s.marker...)
	}
	return v[:n]
}

// scan reports the files of the database (the file, its -wal and -shm)
// that contain the marker.
func scanFiles(t *testing.T, path string, marker []byte) []string {
	t.Helper()
	var found []string
	for _, f := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(b, marker); n > 0 {
			found = append(found, fmt.Sprintf("%s (%d times)", filepath.Base(f), n))
		}
	}
	return found
}

// recordKinds writes, deletes and reads one record of every key space.
var recordKinds = []struct {
	name  string
	write func(r providers.Records, v []byte) error
	del   func(r providers.Records) error
}{
	{"group state", func(r providers.Records, v []byte) error { return r.WriteGroupState([]byte("g"), 1, v) },
		func(r providers.Records) error { return r.DeleteGroupState([]byte("g")) }},
	{"key package", func(r providers.Records, v []byte) error { return r.WriteKeyPackage([]byte("ref"), v) },
		func(r providers.Records) error { return r.DeleteKeyPackage([]byte("ref")) }},
	{"signature key", func(r providers.Records, v []byte) error { return r.WriteSignatureKeyPair([]byte("pub"), v) },
		func(r providers.Records) error { return r.DeleteSignatureKeyPair([]byte("pub")) }},
	{"encryption key", func(r providers.Records, v []byte) error { return r.WriteEncryptionKeyPair([]byte("pub"), v) },
		func(r providers.Records) error { return r.DeleteEncryptionKeyPair([]byte("pub")) }},
	{"psk", func(r providers.Records, v []byte) error { return r.WritePSK([]byte("id"), v) },
		func(r providers.Records) error { return r.DeletePSK([]byte("id")) }},
	{"epoch secrets", func(r providers.Records, v []byte) error { return r.WriteEpochSecrets([]byte("g"), 3, v) },
		func(r providers.Records) error { return r.DeleteEpochSecrets([]byte("g"), 3) }},
	{"ratchet tree", func(r providers.Records, v []byte) error { return r.WriteRatchetTree([]byte("g"), 3, v) },
		func(r providers.Records) error { return r.DeleteRatchetTree([]byte("g"), 3) }},
	{"secret tree node", func(r providers.Records, v []byte) error { return r.WriteSecretTreeNode([]byte("g"), 3, 5, v) },
		func(r providers.Records) error { return r.DeleteSecretTreeNode([]byte("g"), 3, 5) }},
	{"secret tree", func(r providers.Records, v []byte) error {
		if err := r.WriteSecretTreeNode([]byte("g"), 4, 0, v); err != nil {
			return err
		}
		return r.WriteSecretTreeNode([]byte("g"), 4, 7, v)
	}, func(r providers.Records) error { return r.DeleteSecretTree([]byte("g"), 4) }},
}

// TestDeletedBytesLeaveTheFiles writes distinctive secrets in every key
// space, small ones (in the table's pages) and large ones (overflow pages),
// then deletes or overwrites them in each of the ways the store offers, and
// scans the raw database file, its WAL and its shared-memory file for them.
func TestDeletedBytesLeaveTheFiles(t *testing.T) {
	for _, size := range []int{48, 20000} {
		for _, how := range []string{"delete", "overwrite", "overwrite after creating records", "delete in a transaction", "delete namespace"} {
			t.Run(fmt.Sprintf("%s/%d bytes", how, size), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "mls.db")
				db, err := Open(path, &Options{Synchronous: SyncNormal})
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				sec := newSecrets()
				s := db.Store([]byte("client"))
				other := db.Store([]byte("other"))
				for _, k := range recordKinds {
					if err := k.write(s, sec.value(k.name, size)); err != nil {
						t.Fatal(err)
					}
					// Records that stay, around the deleted ones.
					if err := k.write(other, bytes.Repeat([]byte("keep"), size/4)); err != nil {
						t.Fatal(err)
					}
				}
				if found := scanFiles(t, path, sec.marker); len(found) == 0 {
					t.Fatal("the secrets are not in the files after writing them: the scan finds nothing")
				}
				switch how {
				case "delete":
					for _, k := range recordKinds {
						if err := k.del(s); err != nil {
							t.Fatal(err)
						}
					}
				case "overwrite":
					for _, k := range recordKinds {
						if err := k.write(s, []byte("replacement")); err != nil {
							t.Fatal(err)
						}
					}
				case "overwrite after creating records":
					// Each overwrite follows the creation of a record in
					// the same transaction, so that the store tries
					// INSERT first (see tx.write) and must still erase.
					err = s.Update(func(tx providers.Records) error {
						for i, k := range recordKinds {
							if err := tx.WriteSecretTreeNode([]byte("new"), 1, uint32(i), []byte("fresh")); err != nil {
								return err
							}
							if err := k.write(tx, []byte("replacement")); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					for i := range recordKinds {
						if v, err := s.ReadSecretTreeNode([]byte("new"), 1, uint32(i)); err != nil || string(v) != "fresh" {
							t.Fatalf("created record %d: %q, %v", i, v, err)
						}
					}
					if _, v, err := s.ReadGroupState([]byte("g")); err != nil || string(v) != "replacement" {
						t.Fatalf("overwritten group state: %q, %v", v, err)
					}
				case "delete in a transaction":
					err = s.Update(func(tx providers.Records) error {
						for _, k := range recordKinds {
							if err := k.del(tx); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
				case "delete namespace":
					if err := db.DeleteNamespace([]byte("client")); err != nil {
						t.Fatal(err)
					}
				}
				if found := scanFiles(t, path, sec.marker); len(found) > 0 {
					t.Fatalf("deleted secrets still in %v", found)
				}
				// The kept records are intact.
				for _, k := range recordKinds {
					if err := k.write(other, []byte("x")); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
}

// TestEraseOnCheckpoint checks the deferred mode: deleted bytes may stay in
// the log until Checkpoint (or Close), and are gone after it.
func TestEraseOnCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mls.db")
	db, err := Open(path, fast)
	if err != nil {
		t.Fatal(err)
	}
	sec := newSecrets()
	s := db.Store(nil)
	if err := s.WriteEpochSecrets([]byte("g"), 1, sec.value("e", 100)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEpochSecrets([]byte("g"), 1); err != nil {
		t.Fatal(err)
	}
	if found := scanFiles(t, path, sec.marker); len(found) == 0 {
		t.Log("note: the deleted secret already left the log before the checkpoint")
	}
	if err := db.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if found := scanFiles(t, path, sec.marker); len(found) > 0 {
		t.Fatalf("deleted secret still in %v after Checkpoint", found)
	}
	// And Close erases too.
	if err := s.WritePSK([]byte("p"), sec.value("p", 100)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePSK([]byte("p")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if found := scanFiles(t, path, sec.marker); len(found) > 0 {
		t.Fatalf("deleted secret still in %v after Close", found)
	}
}

// TestEraseDelay checks the deferred mode with a delay: the deleted bytes
// leave the files within the delay, without any further call.
func TestEraseDelay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mls.db")
	db, err := Open(path, &Options{Synchronous: SyncNormal, Erasure: EraseOnCheckpoint, EraseDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sec := newSecrets()
	s := db.Store(nil)
	for i := range uint64(5) {
		if err := s.WriteEpochSecrets([]byte("g"), i, sec.value("e", 300)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range uint64(5) {
		if err := s.DeleteEpochSecrets([]byte("g"), i); err != nil {
			t.Fatal(err)
		}
	}
	// The bound only catches an erasure that never happens: the loop ends
	// as soon as the files are clean, and a loaded machine can delay the
	// background erasure by far more than its 50 ms.
	deadline := time.Now().Add(2 * time.Minute)
	for len(scanFiles(t, path, sec.marker)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("deleted secrets still in %v 2 min after a 50 ms erase delay", scanFiles(t, path, sec.marker))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
