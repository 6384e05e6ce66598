package memstore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func() providers.Storage { return New() })
}

// TestDeleteZeroes checks that deleted and replaced values are overwritten in
// the store's own buffers, not merely dropped from the maps.
func TestDeleteZeroes(t *testing.T) {
	s := New()
	secret := []byte("a secret that must not linger")
	check := func(name string, buf []byte) {
		t.Helper()
		if !bytes.Equal(buf, make([]byte, len(buf))) {
			t.Errorf("%s: buffer not zeroed: %q", name, buf)
		}
	}

	_ = s.WriteKeyPackage([]byte("r"), secret)
	buf := s.keyPackages["r"]
	_ = s.DeleteKeyPackage([]byte("r"))
	check("DeleteKeyPackage", buf)

	_ = s.WriteSignatureKeyPair([]byte("p"), secret)
	buf = s.sigKeys["p"]
	_ = s.WriteSignatureKeyPair([]byte("p"), []byte("new"))
	check("WriteSignatureKeyPair over an old value", buf)
	buf = s.sigKeys["p"]
	_ = s.DeleteSignatureKeyPair([]byte("p"))
	check("DeleteSignatureKeyPair", buf)

	_ = s.WriteEncryptionKeyPair([]byte("p"), secret)
	buf = s.encKeys["p"]
	_ = s.DeleteEncryptionKeyPair([]byte("p"))
	check("DeleteEncryptionKeyPair", buf)

	_ = s.WritePSK([]byte("id"), secret)
	buf = s.psks["id"]
	_ = s.DeletePSK([]byte("id"))
	check("DeletePSK", buf)

	_ = s.WriteGroupState([]byte("g"), 1, secret)
	buf = s.groups["g"].state
	_ = s.WriteGroupState([]byte("g"), 1, []byte("new"))
	check("WriteGroupState over an old value", buf)
	buf = s.groups["g"].state
	_ = s.DeleteGroupState([]byte("g"))
	check("DeleteGroupState", buf)

	_ = s.WriteEpochSecrets([]byte("g"), 3, secret)
	buf = s.epochSecrets["g"][3]
	_ = s.WriteEpochSecrets([]byte("g"), 3, []byte("new"))
	check("WriteEpochSecrets over an old value", buf)
	buf = s.epochSecrets["g"][3]
	_ = s.DeleteEpochSecrets([]byte("g"), 3)
	check("DeleteEpochSecrets", buf)
	if _, ok := s.epochSecrets["g"]; ok {
		t.Error("empty epoch map of a group is kept after its last epoch is deleted")
	}

	_ = s.WriteRatchetTree([]byte("g"), 3, secret)
	buf = s.trees["g"][3]
	_ = s.WriteRatchetTree([]byte("g"), 3, []byte("new"))
	check("WriteRatchetTree over an old value", buf)
	buf = s.trees["g"][3]
	_ = s.DeleteRatchetTree([]byte("g"), 3)
	check("DeleteRatchetTree", buf)
	if _, ok := s.trees["g"]; ok {
		t.Error("empty tree map of a group is kept after its last tree is deleted")
	}

	// DeleteSecretTree, on the store and in a transaction.
	for _, inTx := range []bool{false, true} {
		_ = s.WriteSecretTreeNode([]byte("g"), 3, 1, secret)
		_ = s.WriteSecretTreeNode([]byte("g"), 3, 9, secret)
		bufs := [][]byte{s.secretTrees["g"][3][1], s.secretTrees["g"][3][9]}
		if inTx {
			_ = s.Update(func(tx providers.Records) error { return tx.DeleteSecretTree([]byte("g"), 3) })
		} else {
			_ = s.DeleteSecretTree([]byte("g"), 3)
		}
		for i, buf := range bufs {
			check(fmt.Sprintf("DeleteSecretTree (in a transaction: %v), node %d", inTx, i), buf)
		}
		if _, ok := s.secretTrees["g"]; ok {
			t.Errorf("DeleteSecretTree (in a transaction: %v): the group's empty tree map is kept", inTx)
		}
	}
}

// TestLargeTransaction: a transaction changing more records than it scans
// (indexFrom) finds its own changes, keeps one change per record (the
// last), and commits all of them or, failing, none.
func TestLargeTransaction(t *testing.T) {
	for _, fail := range []bool{false, true} {
		s := New()
		g := []byte("group")
		const n = 3 * indexFrom
		errFail := errors.New("fail")
		err := s.Update(func(tx providers.Records) error {
			for i := range uint32(n) {
				if err := tx.WriteSecretTreeNode(g, 1, i, []byte{byte(i)}); err != nil {
					return err
				}
			}
			for i := uint32(0); i < n; i += 2 { // rewrite the even ones
				if err := tx.WriteSecretTreeNode(g, 1, i, []byte{byte(i), 1}); err != nil {
					return err
				}
			}
			if err := tx.DeleteSecretTreeNode(g, 1, 5); err != nil {
				return err
			}
			for i := range uint32(n) {
				v, err := tx.ReadSecretTreeNode(g, 1, i)
				switch {
				case i == 5:
					if err == nil {
						t.Errorf("deleted node %d read in the transaction: %x", i, v)
					}
				case err != nil || v[0] != byte(i) || (len(v) == 2) != (i%2 == 0):
					t.Errorf("node %d in the transaction: %x, %v", i, v, err)
				}
			}
			if xs, err := tx.ListSecretTreeNodes(g, 1); err != nil || len(xs) != n-1 {
				t.Errorf("listed %d nodes in the transaction, want %d: %v", len(xs), n-1, err)
			}
			if fail {
				return errFail
			}
			return nil
		})
		if fail {
			if !errors.Is(err, errFail) {
				t.Fatal(err)
			}
			if xs, _ := s.ListSecretTreeNodes(g, 1); len(xs) != 0 {
				t.Fatalf("a failed transaction left %d nodes", len(xs))
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		xs, err := s.ListSecretTreeNodes(g, 1)
		if err != nil || len(xs) != n-1 {
			t.Fatalf("committed: %d nodes, want %d: %v", len(xs), n-1, err)
		}
		for i := range uint32(n) {
			v, err := s.ReadSecretTreeNode(g, 1, i)
			if i == 5 {
				if err == nil {
					t.Errorf("deleted node read: %x", v)
				}
				continue
			}
			if err != nil || v[0] != byte(i) || (len(v) == 2) != (i%2 == 0) {
				t.Errorf("committed node %d: %x, %v", i, v, err)
			}
		}
	}
}

// TestListOverlay checks the lists a transaction sees when its changes
// leave them as they are (a write of a stored record, a deletion of an
// absent one) and when they add or remove the first, a middle or the last
// entry: the store's sorted list with each change applied in place.
func TestListOverlay(t *testing.T) {
	g := []byte("g")
	s := New()
	for _, e := range []uint64{2, 4, 6} {
		if err := s.WriteEpochSecrets(g, e, []byte{1}); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteSecretTreeNode(g, 9, uint32(e), []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		write []uint64
		del   []uint64
		want  []uint64
	}{
		{"none", nil, nil, []uint64{2, 4, 6}},
		{"write stored, delete absent", []uint64{4}, []uint64{5}, []uint64{2, 4, 6}},
		{"add first, middle, last", []uint64{1, 3, 7}, nil, []uint64{1, 2, 3, 4, 6, 7}},
		{"delete first, middle, last", nil, []uint64{2, 4, 6}, []uint64{}},
		{"delete then write again", []uint64{4}, []uint64{4}, []uint64{2, 4, 6}},
	}
	stop := errors.New("roll back")
	for _, c := range cases {
		err := s.Update(func(tx providers.Records) error {
			for _, e := range c.del {
				if err := tx.DeleteEpochSecrets(g, e); err != nil {
					return err
				}
				if err := tx.DeleteSecretTreeNode(g, 9, uint32(e)); err != nil {
					return err
				}
			}
			for _, e := range c.write {
				if err := tx.WriteEpochSecrets(g, e, []byte{2}); err != nil {
					return err
				}
				if err := tx.WriteSecretTreeNode(g, 9, uint32(e), []byte{2}); err != nil {
					return err
				}
			}
			epochs, err := tx.ListEpochs(g)
			if err != nil {
				return err
			}
			nodes, err := tx.ListSecretTreeNodes(g, 9)
			if err != nil {
				return err
			}
			if len(epochs) != len(c.want) || len(nodes) != len(c.want) {
				t.Errorf("%s: ListEpochs = %v, ListSecretTreeNodes = %v; want %v", c.name, epochs, nodes, c.want)
				return stop
			}
			for i, e := range c.want {
				if epochs[i] != e || nodes[i] != uint32(e) {
					t.Errorf("%s: ListEpochs = %v, ListSecretTreeNodes = %v; want %v", c.name, epochs, nodes, c.want)
					break
				}
			}
			return stop
		})
		if !errors.Is(err, stop) {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
}

// TestNotFoundMessages: a missing record's error matches
// providers.ErrNotFound and names the record, in each of the three forms
// (by key, by group and epoch, a secret tree node).
func TestNotFoundMessages(t *testing.T) {
	s := New()
	_, _, err := s.ReadGroupState([]byte{0xab, 0xcd})
	if !errors.Is(err, providers.ErrNotFound) || err.Error() != "memstore: group state abcd: "+providers.ErrNotFound.Error() {
		t.Errorf("group state: %v", err)
	}
	_, err = s.ReadEpochSecrets([]byte{0x01}, 7)
	if !errors.Is(err, providers.ErrNotFound) || err.Error() != "memstore: epoch secrets of group 01 epoch 7: "+providers.ErrNotFound.Error() {
		t.Errorf("epoch secrets: %v", err)
	}
	_, err = s.ReadSecretTreeNode([]byte{0x02}, 3, 9)
	if !errors.Is(err, providers.ErrNotFound) || err.Error() != "memstore: secret tree node 9 of group 02 epoch 3: "+providers.ErrNotFound.Error() {
		t.Errorf("secret tree node: %v", err)
	}
}

// TestReusedChangeList checks transactions that reuse the change list and
// index of the one before (Store.recycle): each sees only its own
// changes, a failed one leaves the store as it was, and a transaction
// used after it finished is refused rather than writing into the next
// one's list.
func TestReusedChangeList(t *testing.T) {
	s := New()
	g := []byte("group")
	const nodes = 3 * indexFrom // indexed, outgrowing tx.small
	write := func(epoch uint64, fail bool) error {
		return s.Update(func(tx providers.Records) error {
			for x := uint32(0); x < nodes; x++ {
				if err := tx.WriteSecretTreeNode(g, epoch, x, []byte{byte(epoch), byte(x)}); err != nil {
					return err
				}
			}
			if epoch > 0 {
				for x := uint32(0); x < nodes; x++ {
					if err := tx.DeleteSecretTreeNode(g, epoch-1, x); err != nil {
						return err
					}
				}
			}
			if fail {
				return errors.New("fail")
			}
			return nil
		})
	}
	var stale providers.Records
	for epoch := uint64(0); epoch < 6; epoch++ {
		if epoch%2 == 1 {
			if err := write(epoch, true); err == nil {
				t.Fatalf("epoch %d: failing transaction committed", epoch)
			}
			xs, err := s.ListSecretTreeNodes(g, epoch)
			if err != nil || len(xs) != 0 {
				t.Fatalf("epoch %d after a failed transaction: %v, %v", epoch, xs, err)
			}
		}
		if err := write(epoch, false); err != nil {
			t.Fatalf("epoch %d: %v", epoch, err)
		}
		for e := uint64(0); e <= epoch; e++ {
			xs, err := s.ListSecretTreeNodes(g, e)
			want := 0
			if e == epoch {
				want = nodes
			}
			if err != nil || len(xs) != want {
				t.Fatalf("epoch %d: %d nodes of epoch %d, want %d (%v)", epoch, len(xs), e, want, err)
			}
		}
		v, err := s.ReadSecretTreeNode(g, epoch, nodes-1)
		if err != nil || !bytes.Equal(v, []byte{byte(epoch), nodes - 1}) {
			t.Fatalf("epoch %d: node %d = %x, %v", epoch, nodes-1, v, err)
		}
		if stale != nil {
			if err := stale.WriteSecretTreeNode(g, 99, 0, []byte{1}); !errors.Is(err, ErrTxDone) {
				t.Fatalf("a finished transaction wrote: %v", err)
			}
		}
		_ = s.Update(func(tx providers.Records) error { stale = tx; return nil })
	}
	if _, err := s.ReadSecretTreeNode(g, 99, 0); err == nil {
		t.Fatal("a finished transaction's write reached the store")
	}
}
