package storagetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/mlskit/mlskit/providers"
)

// runTx runs the transaction part of the suite (providers.Transactor).
func runTx(t *testing.T, newStore func() providers.Storage) {
	t.Run("TxCommitWritesAll", func(t *testing.T) { testTxCommit(t, newStore()) })
	t.Run("TxErrorWritesNothing", func(t *testing.T) { testTxRollback(t, newStore()) })
	t.Run("TxReadsOwnWrites", func(t *testing.T) { testTxReadsOwnWrites(t, newStore()) })
	t.Run("TxIsolated", func(t *testing.T) { testTxIsolated(t, newStore()) })
	t.Run("TxListsSeeOverlay", func(t *testing.T) { testTxLists(t, newStore()) })
	t.Run("TxUnusableAfterReturn", func(t *testing.T) { testTxAfterReturn(t, newStore()) })
	t.Run("TxSerializable", func(t *testing.T) { testTxSerializable(t, newStore()) })
}

// txKinds adapts the key spaces to a transaction's Records.
type txKind struct {
	name  string
	write func(r providers.Records, k, v []byte) error
	read  func(r providers.Records, k []byte) ([]byte, error)
	del   func(r providers.Records, k []byte) error
}

func txKinds() []txKind {
	return []txKind{
		{"GroupState",
			func(r providers.Records, k, v []byte) error { return r.WriteGroupState(k, groupVersion, v) },
			func(r providers.Records, k []byte) ([]byte, error) { _, v, err := r.ReadGroupState(k); return v, err },
			func(r providers.Records, k []byte) error { return r.DeleteGroupState(k) }},
		{"KeyPackage",
			func(r providers.Records, k, v []byte) error { return r.WriteKeyPackage(k, v) },
			func(r providers.Records, k []byte) ([]byte, error) { return r.ReadKeyPackage(k) },
			func(r providers.Records, k []byte) error { return r.DeleteKeyPackage(k) }},
		{"SignatureKeyPair",
			func(r providers.Records, k, v []byte) error { return r.WriteSignatureKeyPair(k, v) },
			func(r providers.Records, k []byte) ([]byte, error) { return r.ReadSignatureKeyPair(k) },
			func(r providers.Records, k []byte) error { return r.DeleteSignatureKeyPair(k) }},
		{"EncryptionKeyPair",
			func(r providers.Records, k, v []byte) error { return r.WriteEncryptionKeyPair(k, v) },
			func(r providers.Records, k []byte) ([]byte, error) { return r.ReadEncryptionKeyPair(k) },
			func(r providers.Records, k []byte) error { return r.DeleteEncryptionKeyPair(k) }},
		{"PSK",
			func(r providers.Records, k, v []byte) error { return r.WritePSK(k, v) },
			func(r providers.Records, k []byte) ([]byte, error) { return r.ReadPSK(k) },
			func(r providers.Records, k []byte) error { return r.DeletePSK(k) }},
		{"EpochSecrets",
			func(r providers.Records, k, v []byte) error { return r.WriteEpochSecrets(k, suiteEpoch, v) },
			func(r providers.Records, k []byte) ([]byte, error) { return r.ReadEpochSecrets(k, suiteEpoch) },
			func(r providers.Records, k []byte) error { return r.DeleteEpochSecrets(k, suiteEpoch) }},
		{"RatchetTree",
			func(r providers.Records, k, v []byte) error { return r.WriteRatchetTree(k, suiteEpoch, v) },
			func(r providers.Records, k []byte) ([]byte, error) { return r.ReadRatchetTree(k, suiteEpoch) },
			func(r providers.Records, k []byte) error { return r.DeleteRatchetTree(k, suiteEpoch) }},
		{"SecretTreeNode",
			func(r providers.Records, k, v []byte) error {
				return r.WriteSecretTreeNode(k, suiteEpoch, suiteNode, v)
			},
			func(r providers.Records, k []byte) ([]byte, error) {
				return r.ReadSecretTreeNode(k, suiteEpoch, suiteNode)
			},
			func(r providers.Records, k []byte) error { return r.DeleteSecretTreeNode(k, suiteEpoch, suiteNode) }},
	}
}

// seed writes "old" under keys "keep" and "gone" of every kind.
func seed(t *testing.T, s providers.Storage) {
	t.Helper()
	for _, k := range txKinds() {
		for _, key := range []string{"keep", "gone"} {
			if err := k.write(s, []byte(key), []byte("old-"+k.name)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// mutate writes "new" over "keep", deletes "gone" and creates "fresh" in
// every kind.
func mutate(r providers.Records) error {
	for _, k := range txKinds() {
		if err := k.write(r, []byte("keep"), []byte("new-"+k.name)); err != nil {
			return err
		}
		if err := k.del(r, []byte("gone")); err != nil {
			return err
		}
		if err := k.write(r, []byte("fresh"), []byte("new-"+k.name)); err != nil {
			return err
		}
	}
	return nil
}

func testTxCommit(t *testing.T, s providers.Storage) {
	seed(t, s)
	if err := s.Update(mutate); err != nil {
		t.Fatalf("Update: %v", err)
	}
	for _, k := range txKinds() {
		mustReadKind(t, s, k, "keep", "new-"+k.name)
		mustReadKind(t, s, k, "fresh", "new-"+k.name)
		if _, err := k.read(s, []byte("gone")); !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("%s: deleted record after commit: err = %v, want ErrNotFound", k.name, err)
		}
	}
}

func mustReadKind(t *testing.T, r providers.Records, k txKind, key, want string) {
	t.Helper()
	got, err := k.read(r, []byte(key))
	if err != nil || string(got) != want {
		t.Errorf("%s %q: read %q, %v; want %q", k.name, key, got, err, want)
	}
}

func testTxRollback(t *testing.T, s providers.Storage) {
	seed(t, s)
	errAbort := errors.New("abort")
	err := s.Update(func(tx providers.Records) error {
		if err := mutate(tx); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errAbort)
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("Update = %v, want an error matching fn's", err)
	}
	for _, k := range txKinds() {
		mustReadKind(t, s, k, "keep", "old-"+k.name)
		mustReadKind(t, s, k, "gone", "old-"+k.name)
		if _, err := k.read(s, []byte("fresh")); !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("%s: record written by a failed transaction: err = %v, want ErrNotFound", k.name, err)
		}
	}
	if ids, _ := s.ListGroups(); len(ids) != 2 {
		t.Errorf("ListGroups after a failed transaction = %q, want keep and gone", ids)
	}
}

func testTxReadsOwnWrites(t *testing.T, s providers.Storage) {
	seed(t, s)
	err := s.Update(func(tx providers.Records) error {
		if err := mutate(tx); err != nil {
			return err
		}
		for _, k := range txKinds() {
			mustReadKind(t, tx, k, "keep", "new-"+k.name)
			mustReadKind(t, tx, k, "fresh", "new-"+k.name)
			if _, err := k.read(tx, []byte("gone")); !errors.Is(err, providers.ErrNotFound) {
				t.Errorf("%s: transaction reads its own deletion: err = %v, want ErrNotFound", k.name, err)
			}
			// Written, deleted and written again in one transaction.
			if err := k.del(tx, []byte("fresh")); err != nil {
				return err
			}
			if _, err := k.read(tx, []byte("fresh")); !errors.Is(err, providers.ErrNotFound) {
				t.Errorf("%s: read after delete in tx: %v", k.name, err)
			}
			if err := k.write(tx, []byte("fresh"), []byte("again")); err != nil {
				return err
			}
			mustReadKind(t, tx, k, "fresh", "again")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range txKinds() {
		mustReadKind(t, s, k, "fresh", "again")
	}
}

// testTxIsolated checks that another reader sees none of a transaction's
// writes before it commits.
func testTxIsolated(t *testing.T, s providers.Storage) {
	seed(t, s)
	err := s.Update(func(tx providers.Records) error {
		if err := mutate(tx); err != nil {
			return err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, k := range txKinds() {
				mustReadKind(t, s, k, "keep", "old-"+k.name)
				mustReadKind(t, s, k, "gone", "old-"+k.name)
				if _, err := k.read(s, []byte("fresh")); !errors.Is(err, providers.ErrNotFound) {
					t.Errorf("%s: uncommitted record visible outside the transaction: %v", k.name, err)
				}
			}
		}()
		<-done
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testTxLists(t *testing.T, s providers.Storage) {
	g := []byte("g")
	for _, e := range []uint64{1, 2, 3} {
		if err := s.WriteEpochSecrets(g, e, []byte{1}); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteRatchetTree(g, e, []byte{1}); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteSecretTreeNode(g, 7, uint32(e), []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "c"} {
		if err := s.WriteGroupState([]byte(id), 1, []byte{1}); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteKeyPackage([]byte(id), []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	wantEpochs := []uint64{2, 3, 4}
	wantIDs := [][]byte{[]byte("b"), []byte("c")}
	err := s.Update(func(tx providers.Records) error {
		for _, step := range []error{
			tx.DeleteEpochSecrets(g, 1), tx.WriteEpochSecrets(g, 4, []byte{2}),
			tx.DeleteRatchetTree(g, 1), tx.WriteRatchetTree(g, 4, []byte{2}),
			tx.DeleteSecretTreeNode(g, 7, 1), tx.WriteSecretTreeNode(g, 7, 4, []byte{2}),
			tx.DeleteGroupState([]byte("a")), tx.WriteGroupState([]byte("b"), 1, []byte{2}),
			tx.DeleteKeyPackage([]byte("a")), tx.WriteKeyPackage([]byte("b"), []byte{2}),
		} {
			if step != nil {
				return step
			}
		}
		checkLists(t, "inside the transaction", tx, g, wantEpochs, wantIDs)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkLists(t, "after commit", s, g, wantEpochs, wantIDs)
}

func checkLists(t *testing.T, when string, r providers.Records, g []byte, epochs []uint64, ids [][]byte) {
	t.Helper()
	if got, err := r.ListEpochs(g); err != nil || !slices.Equal(got, epochs) {
		t.Errorf("%s: ListEpochs = %v, %v; want %v", when, got, err, epochs)
	}
	if got, err := r.ListRatchetTrees(g); err != nil || !slices.Equal(got, epochs) {
		t.Errorf("%s: ListRatchetTrees = %v, %v; want %v", when, got, err, epochs)
	}
	var nodes []uint32
	for _, e := range epochs {
		nodes = append(nodes, uint32(e))
	}
	if got, err := r.ListSecretTreeNodes(g, 7); err != nil || !slices.Equal(got, nodes) {
		t.Errorf("%s: ListSecretTreeNodes = %v, %v; want %v", when, got, err, nodes)
	}
	eq := func(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }
	if got, err := r.ListGroups(); err != nil || !eq(got, ids) {
		t.Errorf("%s: ListGroups = %q, %v; want %q", when, got, err, ids)
	}
	if got, err := r.ListKeyPackages(); err != nil || !eq(got, ids) {
		t.Errorf("%s: ListKeyPackages = %q, %v; want %q", when, got, err, ids)
	}
}

func testTxAfterReturn(t *testing.T, s providers.Storage) {
	var leaked providers.Records
	if err := s.Update(func(tx providers.Records) error { leaked = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := leaked.WritePSK([]byte("late"), []byte("x")); err == nil {
		t.Error("a write on a finished transaction succeeded")
	}
	if _, err := s.ReadPSK([]byte("late")); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("a write on a finished transaction reached the store: %v", err)
	}
}

// testTxSerializable runs read-modify-write transactions on one counter from
// several goroutines: with serializable transactions no increment is lost.
func testTxSerializable(t *testing.T, s providers.Storage) {
	const workers, rounds = 4, 50
	key := []byte("counter")
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				err := s.Update(func(tx providers.Records) error {
					var n uint64
					v, err := tx.ReadPSK(key)
					switch {
					case err == nil && len(v) == 8:
						n = binary.BigEndian.Uint64(v)
					case err != nil && !errors.Is(err, providers.ErrNotFound):
						return err
					}
					return tx.WritePSK(key, binary.BigEndian.AppendUint64(nil, n+1))
				})
				if err != nil {
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
	v, err := s.ReadPSK(key)
	if err != nil || len(v) != 8 || binary.BigEndian.Uint64(v) != workers*rounds {
		t.Fatalf("counter = %x, %v; want %d (an increment was lost: transactions are not serializable)", v, err, workers*rounds)
	}
}
