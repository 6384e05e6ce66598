// Package storagetest is the conformance test suite for implementations of
// [providers.Storage]. An implementation's tests call [Run]:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func() providers.Storage { return mystore.New() })
//	}
//
// It checks the contract documented on providers.Storage that can be
// observed through the interface: round trips in every key space, empty and
// binary keys and values, ErrNotFound, idempotent deletion, separate key
// spaces, no aliasing of caller buffers, group state versions, listing of
// epoch secrets and ratchet trees, concurrent use (run it with -race), and
// transactions: atomic commit and rollback, reads of a transaction's own
// writes, isolation from other readers, serializability.
// Durability and erasure on disk are the implementation's own tests to
// write.
package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/mlskit/mlskit/providers"
)

// kind adapts one key space of providers.Storage to a common shape.
type kind struct {
	name  string
	write func(s providers.Storage, k, v []byte) error
	read  func(s providers.Storage, k []byte) ([]byte, error)
	del   func(s providers.Storage, k []byte) error
	list  func(s providers.Storage) ([][]byte, error) // nil if the kind has no listing
}

// groupVersion is the format version the suite writes with group states.
const groupVersion = 0x0102

// suiteEpoch is the epoch under which the epoch-secret key space is
// exercised by the generic tests.
const suiteEpoch = 7

func kinds() []kind {
	return []kind{
		{
			name: "GroupState",
			write: func(s providers.Storage, k, v []byte) error {
				return s.WriteGroupState(k, groupVersion, v)
			},
			read: func(s providers.Storage, k []byte) ([]byte, error) {
				ver, v, err := s.ReadGroupState(k)
				if err == nil && ver != groupVersion {
					return nil, fmt.Errorf("ReadGroupState version = %d, want %d", ver, groupVersion)
				}
				return v, err
			},
			del:  func(s providers.Storage, k []byte) error { return s.DeleteGroupState(k) },
			list: func(s providers.Storage) ([][]byte, error) { return s.ListGroups() },
		},
		{
			name:  "KeyPackage",
			write: func(s providers.Storage, k, v []byte) error { return s.WriteKeyPackage(k, v) },
			read:  func(s providers.Storage, k []byte) ([]byte, error) { return s.ReadKeyPackage(k) },
			del:   func(s providers.Storage, k []byte) error { return s.DeleteKeyPackage(k) },
			list:  func(s providers.Storage) ([][]byte, error) { return s.ListKeyPackages() },
		},
		{
			name:  "SignatureKeyPair",
			write: func(s providers.Storage, k, v []byte) error { return s.WriteSignatureKeyPair(k, v) },
			read:  func(s providers.Storage, k []byte) ([]byte, error) { return s.ReadSignatureKeyPair(k) },
			del:   func(s providers.Storage, k []byte) error { return s.DeleteSignatureKeyPair(k) },
		},
		{
			name:  "EncryptionKeyPair",
			write: func(s providers.Storage, k, v []byte) error { return s.WriteEncryptionKeyPair(k, v) },
			read:  func(s providers.Storage, k []byte) ([]byte, error) { return s.ReadEncryptionKeyPair(k) },
			del:   func(s providers.Storage, k []byte) error { return s.DeleteEncryptionKeyPair(k) },
		},
		{
			name:  "PSK",
			write: func(s providers.Storage, k, v []byte) error { return s.WritePSK(k, v) },
			read:  func(s providers.Storage, k []byte) ([]byte, error) { return s.ReadPSK(k) },
			del:   func(s providers.Storage, k []byte) error { return s.DeletePSK(k) },
		},
		{
			name: "EpochSecrets",
			write: func(s providers.Storage, k, v []byte) error {
				return s.WriteEpochSecrets(k, suiteEpoch, v)
			},
			read: func(s providers.Storage, k []byte) ([]byte, error) { return s.ReadEpochSecrets(k, suiteEpoch) },
			del:  func(s providers.Storage, k []byte) error { return s.DeleteEpochSecrets(k, suiteEpoch) },
		},
		{
			name: "RatchetTree",
			write: func(s providers.Storage, k, v []byte) error {
				return s.WriteRatchetTree(k, suiteEpoch, v)
			},
			read: func(s providers.Storage, k []byte) ([]byte, error) { return s.ReadRatchetTree(k, suiteEpoch) },
			del:  func(s providers.Storage, k []byte) error { return s.DeleteRatchetTree(k, suiteEpoch) },
		},
		{
			name: "SecretTreeNode",
			write: func(s providers.Storage, k, v []byte) error {
				return s.WriteSecretTreeNode(k, suiteEpoch, suiteNode, v)
			},
			read: func(s providers.Storage, k []byte) ([]byte, error) {
				return s.ReadSecretTreeNode(k, suiteEpoch, suiteNode)
			},
			del: func(s providers.Storage, k []byte) error { return s.DeleteSecretTreeNode(k, suiteEpoch, suiteNode) },
		},
	}
}

// suiteNode is the node under which the secret tree key space is exercised
// by the generic tests.
const suiteNode = 12

// epochKind adapts one key space keyed by group id and epoch.
type epochKind struct {
	name  string
	write func(s providers.Storage, g []byte, e uint64, v []byte) error
	read  func(s providers.Storage, g []byte, e uint64) ([]byte, error)
	del   func(s providers.Storage, g []byte, e uint64) error
	list  func(s providers.Storage, g []byte) ([]uint64, error)
}

func epochKinds() []epochKind {
	return []epochKind{
		{
			name:  "EpochSecrets",
			write: func(s providers.Storage, g []byte, e uint64, v []byte) error { return s.WriteEpochSecrets(g, e, v) },
			read:  func(s providers.Storage, g []byte, e uint64) ([]byte, error) { return s.ReadEpochSecrets(g, e) },
			del:   func(s providers.Storage, g []byte, e uint64) error { return s.DeleteEpochSecrets(g, e) },
			list:  func(s providers.Storage, g []byte) ([]uint64, error) { return s.ListEpochs(g) },
		},
		{
			name:  "RatchetTree",
			write: func(s providers.Storage, g []byte, e uint64, v []byte) error { return s.WriteRatchetTree(g, e, v) },
			read:  func(s providers.Storage, g []byte, e uint64) ([]byte, error) { return s.ReadRatchetTree(g, e) },
			del:   func(s providers.Storage, g []byte, e uint64) error { return s.DeleteRatchetTree(g, e) },
			list:  func(s providers.Storage, g []byte) ([]uint64, error) { return s.ListRatchetTrees(g) },
		},
	}
}

// Keys exercised by the suite: empty, with zero bytes, prefixes of each
// other, non-UTF-8, and long.
func testKeys() [][]byte {
	return [][]byte{
		{},
		{0},
		{0, 0},
		[]byte("a"),
		[]byte("a\x00"),
		[]byte("ab"),
		{0xff, 0xfe, 0x80},
		bytes.Repeat([]byte{0x5a}, 300),
	}
}

func value(kind string, key []byte, n int) []byte {
	return fmt.Appendf(nil, "%s|%x|%d", kind, key, n)
}

// Run runs the conformance suite. newStore must return a new, empty store on
// every call.
func Run(t *testing.T, newStore func() providers.Storage) {
	t.Helper()
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			t.Run("MissingIsNotFound", func(t *testing.T) { testMissing(t, newStore(), k) })
			t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore(), k) })
			t.Run("EmptyAndLargeValues", func(t *testing.T) { testValues(t, newStore(), k) })
			t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, newStore(), k) })
			t.Run("Delete", func(t *testing.T) { testDelete(t, newStore(), k) })
			t.Run("NoAliasing", func(t *testing.T) { testNoAliasing(t, newStore(), k) })
			if k.list != nil {
				t.Run("List", func(t *testing.T) { testList(t, newStore(), k) })
			}
		})
	}
	t.Run("SeparateKeySpaces", func(t *testing.T) { testSeparateKinds(t, newStore()) })
	t.Run("GroupStateVersion", func(t *testing.T) { testGroupVersion(t, newStore()) })
	for _, k := range epochKinds() {
		t.Run("Epochs"+k.name, func(t *testing.T) { testEpochKeyed(t, newStore(), k) })
	}
	t.Run("EpochKeySpacesSeparate", func(t *testing.T) { testEpochKindsSeparate(t, newStore()) })
	t.Run("SecretTreeNodes", func(t *testing.T) { testSecretTreeNodes(t, newStore()) })
	t.Run("DeleteSecretTree", func(t *testing.T) { testDeleteSecretTree(t, newStore()) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newStore()) })
	runTx(t, newStore)
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("%s: error = %v, want ErrNotFound", what, err)
	}
}

func mustRead(t *testing.T, s providers.Storage, k kind, key, want []byte) {
	t.Helper()
	got, err := k.read(s, key)
	if err != nil {
		t.Fatalf("read %x: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %x = %q, want %q", key, got, want)
	}
}

func testMissing(t *testing.T, s providers.Storage, k kind) {
	for _, key := range testKeys() {
		v, err := k.read(s, key)
		wantNotFound(t, fmt.Sprintf("read %x of an empty store", key), err)
		if v != nil {
			t.Errorf("read %x of an empty store returned a value %q", key, v)
		}
	}
}

func testRoundTrip(t *testing.T, s providers.Storage, k kind) {
	keys := testKeys()
	for i, key := range keys {
		if err := k.write(s, key, value(k.name, key, i)); err != nil {
			t.Fatalf("write %x: %v", key, err)
		}
	}
	// Every key reads back its own value: keys that are prefixes of one
	// another or differ only by a trailing zero do not collide.
	for i, key := range keys {
		mustRead(t, s, k, key, value(k.name, key, i))
	}
}

func testValues(t *testing.T, s providers.Storage, k kind) {
	large := make([]byte, 1<<16+3)
	for i := range large {
		large[i] = byte(i * 7)
	}
	binary := []byte{0, 1, 0, 0xff, 0}
	cases := map[string][]byte{"empty": {}, "nil": nil, "binary": binary, "large": large}
	for name, v := range cases {
		key := []byte(name)
		if err := k.write(s, key, v); err != nil {
			t.Fatalf("write %s value: %v", name, err)
		}
		got, err := k.read(s, key)
		if err != nil {
			t.Fatalf("read %s value: %v (an empty value is not an absent one)", name, err)
		}
		if !bytes.Equal(got, v) {
			t.Fatalf("read %s value: got %d bytes, want %d", name, len(got), len(v))
		}
	}
}

func testOverwrite(t *testing.T, s providers.Storage, k kind) {
	key := []byte("key")
	for i, v := range [][]byte{[]byte("first, longer value"), []byte("second"), {}, []byte("fourth")} {
		if err := k.write(s, key, v); err != nil {
			t.Fatalf("write #%d: %v", i, err)
		}
		mustRead(t, s, k, key, v)
	}
}

func testDelete(t *testing.T, s providers.Storage, k kind) {
	keys := testKeys()
	for i, key := range keys {
		if err := k.write(s, key, value(k.name, key, i)); err != nil {
			t.Fatal(err)
		}
	}
	// Delete every other key; the rest stay.
	for i, key := range keys {
		if i%2 == 0 {
			if err := k.del(s, key); err != nil {
				t.Fatalf("delete %x: %v", key, err)
			}
		}
	}
	for i, key := range keys {
		if i%2 == 0 {
			_, err := k.read(s, key)
			wantNotFound(t, fmt.Sprintf("read %x after delete", key), err)
		} else {
			mustRead(t, s, k, key, value(k.name, key, i))
		}
	}
	// Deleting again, or deleting what never existed, succeeds.
	if err := k.del(s, keys[0]); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if err := k.del(s, []byte("never written")); err != nil {
		t.Errorf("delete of an absent key: %v", err)
	}
	// A deleted key can be written again.
	if err := k.write(s, keys[0], []byte("again")); err != nil {
		t.Fatal(err)
	}
	mustRead(t, s, k, keys[0], []byte("again"))
}

func testNoAliasing(t *testing.T, s providers.Storage, k kind) {
	key := []byte("alias-key")
	v := []byte("original value")
	if err := k.write(s, key, v); err != nil {
		t.Fatal(err)
	}
	// The store must not retain the caller's key or value slices.
	v[0] = 'X'
	key[0] = 'X'
	mustRead(t, s, k, []byte("alias-key"), []byte("original value"))
	// A value read is the caller's to modify or zero.
	got, err := k.read(s, []byte("alias-key"))
	if err != nil {
		t.Fatal(err)
	}
	clear(got)
	mustRead(t, s, k, []byte("alias-key"), []byte("original value"))
}

func testList(t *testing.T, s providers.Storage, k kind) {
	want := func(keys ...[]byte) {
		t.Helper()
		got, err := k.list(s)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if got == nil || len(got) != len(keys) {
			t.Fatalf("list = %x, want %x", got, keys)
		}
		for i := range keys {
			if !bytes.Equal(got[i], keys[i]) {
				t.Fatalf("list = %x, want %x (ascending byte order)", got, keys)
			}
		}
	}
	want()
	keys := testKeys()
	for i := len(keys) - 1; i >= 0; i-- {
		if err := k.write(s, keys[i], []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	// Overwriting does not duplicate an entry.
	if err := k.write(s, keys[3], []byte("w")); err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, bytes.Compare)
	want(sorted...)
	got, _ := k.list(s)
	clear(got[len(got)-1]) // the caller owns the returned keys
	want(sorted...)
	for _, key := range keys[1:] {
		if err := k.del(s, key); err != nil {
			t.Fatal(err)
		}
	}
	want(keys[0])
}

func testSeparateKinds(t *testing.T, s providers.Storage) {
	ks := kinds()
	key := []byte("shared key")
	for _, k := range ks {
		if err := k.write(s, key, value(k.name, key, 0)); err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
	}
	for _, k := range ks {
		mustRead(t, s, k, key, value(k.name, key, 0))
	}
	// Listings see only their own key space.
	_ = s.WriteSignatureKeyPair([]byte("only a signature key"), []byte("v"))
	for _, k := range ks {
		if k.list == nil {
			continue
		}
		got, err := k.list(s)
		if err != nil || len(got) != 1 || !bytes.Equal(got[0], key) {
			t.Fatalf("%s listing = %x, %v; want only %x", k.name, got, err, key)
		}
	}
	// Deleting from one key space leaves the others.
	for i, k := range ks {
		if err := k.del(s, key); err != nil {
			t.Fatal(err)
		}
		_, err := k.read(s, key)
		wantNotFound(t, k.name+" after delete", err)
		for _, other := range ks[i+1:] {
			mustRead(t, s, other, key, value(other.name, key, 0))
		}
	}
}

func testGroupVersion(t *testing.T, s providers.Storage) {
	id := []byte("group")
	for _, ver := range []uint16{0, 1, 0x7fff, math.MaxUint16, 3} {
		st := fmt.Appendf(nil, "state v%d", ver)
		if err := s.WriteGroupState(id, ver, st); err != nil {
			t.Fatal(err)
		}
		gotVer, got, err := s.ReadGroupState(id)
		if err != nil {
			t.Fatal(err)
		}
		if gotVer != ver || !bytes.Equal(got, st) {
			t.Fatalf("ReadGroupState = (%d, %q), want (%d, %q)", gotVer, got, ver, st)
		}
	}
	// Another group keeps its own version.
	if err := s.WriteGroupState([]byte("other"), 9, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if v, _, err := s.ReadGroupState(id); err != nil || v != 3 {
		t.Fatalf("version of the first group = %d, %v; want 3", v, err)
	}
}

// testEpochKeyed checks a key space keyed by group id and epoch: epochs
// of the whole uint64 range, listing per group in ascending order, groups
// whose ids are prefixes of each other, deletion.
func testEpochKeyed(t *testing.T, s providers.Storage, k epochKind) {
	ga, gb := []byte("a"), []byte("a\x00")
	wantEpochs := func(g []byte, want ...uint64) {
		t.Helper()
		got, err := k.list(s, g)
		if err != nil {
			t.Fatalf("list %s(%x): %v", k.name, g, err)
		}
		if want == nil {
			want = []uint64{}
		}
		if got == nil || len(got) != len(want) || !slices.Equal(got, want) {
			t.Fatalf("list %s(%x) = %v, want %v", k.name, g, got, want)
		}
	}
	wantEpochs(ga)
	epochs := []uint64{5, 0, math.MaxUint64, 1, 1 << 32}
	for _, e := range epochs {
		if err := k.write(s, ga, e, fmt.Appendf(nil, "a%d", e)); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.write(s, gb, 1, []byte("b1")); err != nil {
		t.Fatal(err)
	}
	wantEpochs(ga, 0, 1, 5, 1<<32, math.MaxUint64)
	wantEpochs(gb, 1)
	wantEpochs([]byte("unknown"))
	for _, e := range epochs {
		got, err := k.read(s, ga, e)
		if err != nil || !bytes.Equal(got, fmt.Appendf(nil, "a%d", e)) {
			t.Fatalf("read %s(a, %d) = %q, %v", k.name, e, got, err)
		}
	}
	if got, err := k.read(s, gb, 1); err != nil || string(got) != "b1" {
		t.Fatalf("read %s(b, 1) = %q, %v", k.name, got, err)
	}
	_, err := k.read(s, gb, 0)
	wantNotFound(t, "read of an absent epoch", err)
	if err := k.del(s, ga, 1); err != nil {
		t.Fatal(err)
	}
	_, err = k.read(s, ga, 1)
	wantNotFound(t, "read after delete", err)
	wantEpochs(ga, 0, 5, 1<<32, math.MaxUint64)
	wantEpochs(gb, 1)
	if err := k.del(s, ga, 1); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	for _, e := range []uint64{0, 5, 1 << 32, math.MaxUint64} {
		if err := k.del(s, ga, e); err != nil {
			t.Fatal(err)
		}
	}
	wantEpochs(ga)
	wantEpochs(gb, 1)
	// The group state of a group is independent of its epoch records.
	if err := s.WriteGroupState(gb, 1, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroupState(gb); err != nil {
		t.Fatal(err)
	}
	wantEpochs(gb, 1)
}

// testEpochKindsSeparate checks that the epoch-keyed key spaces are
// separate: same group and epoch, different records, listed and deleted
// independently.
func testEpochKindsSeparate(t *testing.T, s providers.Storage) {
	ks := epochKinds()
	g := []byte("group")
	for i, k := range ks {
		for e := range uint64(i + 2) {
			if err := k.write(s, g, e, fmt.Appendf(nil, "%s%d", k.name, e)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, k := range ks {
		got, err := k.list(s, g)
		if err != nil || len(got) != i+2 {
			t.Fatalf("list %s = %v, %v; want %d epochs", k.name, got, err, i+2)
		}
		if v, err := k.read(s, g, 1); err != nil || string(v) != k.name+"1" {
			t.Fatalf("read %s(1) = %q, %v", k.name, v, err)
		}
	}
	if err := ks[0].del(s, g, 1); err != nil {
		t.Fatal(err)
	}
	for _, k := range ks[1:] {
		if v, err := k.read(s, g, 1); err != nil || string(v) != k.name+"1" {
			t.Fatalf("%s(1) after deleting %s(1): %q, %v", k.name, ks[0].name, v, err)
		}
	}
}

func testConcurrent(t *testing.T, s providers.Storage) {
	const workers, rounds = 8, 200
	ks := kinds()
	shared := []byte("shared")
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := fmt.Appendf(nil, "worker-%d", w)
			for i := range rounds {
				k := ks[(w+i)%len(ks)]
				v := value(k.name, own, i)
				if err := k.write(s, own, v); err != nil {
					errs <- err
					return
				}
				got, err := k.read(s, own)
				if err != nil || !bytes.Equal(got, v) {
					errs <- fmt.Errorf("worker %d round %d %s: read %q, %v; want %q", w, i, k.name, got, err, v)
					return
				}
				// Racing writers on a shared key: any complete value is
				// acceptable, a torn one is not.
				sv := bytes.Repeat([]byte{byte(w)}, 64)
				if err := k.write(s, shared, sv); err != nil {
					errs <- err
					return
				}
				got, err = k.read(s, shared)
				if err != nil && !errors.Is(err, providers.ErrNotFound) {
					errs <- err
					return
				}
				if err == nil && (len(got) != 64 || !bytes.Equal(got, bytes.Repeat(got[:1], 64))) {
					errs <- fmt.Errorf("torn value %x", got)
					return
				}
				if i%5 == 0 {
					if err := k.del(s, shared); err != nil {
						errs <- err
						return
					}
				}
				if _, err := s.ListEpochs(own); err != nil {
					errs <- err
					return
				}
				if _, err := s.ListRatchetTrees(own); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// testDeleteSecretTree checks DeleteSecretTree: it deletes every node of
// one group's epoch (the first and last of the uint32 range included),
// none of another epoch or of a group whose id extends this one's, nor
// the epoch's EpochSecrets and RatchetTree records; deleting an empty
// tree is no error. In a transaction it deletes the nodes the
// transaction wrote too, a node written after it stays, and a
// transaction that fails deletes nothing.
func testDeleteSecretTree(t *testing.T, s providers.Storage) {
	ga, gb := []byte("a"), []byte("a\x00")
	wantNodes := func(r providers.Records, what string, g []byte, e uint64, want ...uint32) {
		t.Helper()
		got, err := r.ListSecretTreeNodes(g, e)
		if err != nil {
			t.Fatalf("%s: ListSecretTreeNodes(%x, %d): %v", what, g, e, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: ListSecretTreeNodes(%x, %d) = %v, want %v", what, g, e, got, want)
		}
	}
	nodes := []uint32{0, 1, 5, math.MaxUint32}
	for _, x := range nodes {
		for _, w := range []struct {
			g []byte
			e uint64
		}{{ga, 1}, {ga, 2}, {gb, 1}} {
			if err := s.WriteSecretTreeNode(w.g, w.e, x, fmt.Appendf(nil, "%x/%d/%d", w.g, w.e, x)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.WriteEpochSecrets(ga, 1, []byte("epoch")); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteRatchetTree(ga, 1, []byte("tree")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSecretTree(ga, 1); err != nil {
		t.Fatal(err)
	}
	wantNodes(s, "after DeleteSecretTree", ga, 1)
	for _, x := range nodes {
		_, err := s.ReadSecretTreeNode(ga, 1, x)
		wantNotFound(t, fmt.Sprintf("node %d of a deleted tree", x), err)
	}
	wantNodes(s, "another epoch", ga, 2, nodes...)
	wantNodes(s, "another group", gb, 1, nodes...)
	if got, err := s.ReadEpochSecrets(ga, 1); err != nil || string(got) != "epoch" {
		t.Fatalf("the epoch's secrets after DeleteSecretTree: %q, %v", got, err)
	}
	if got, err := s.ReadRatchetTree(ga, 1); err != nil || string(got) != "tree" {
		t.Fatalf("the epoch's ratchet tree after DeleteSecretTree: %q, %v", got, err)
	}
	if err := s.DeleteSecretTree(ga, 1); err != nil {
		t.Fatalf("deleting an empty tree: %v", err)
	}
	if err := s.DeleteSecretTree([]byte("none"), 7); err != nil {
		t.Fatalf("deleting the tree of an unknown group: %v", err)
	}

	// In a transaction: the store's nodes and the transaction's own.
	fail := errors.New("fail")
	for _, commit := range []bool{false, true} {
		err := s.Update(func(tx providers.Records) error {
			if err := tx.WriteSecretTreeNode(ga, 2, 9, []byte("new")); err != nil {
				return err
			}
			if err := tx.DeleteSecretTree(ga, 2); err != nil {
				return err
			}
			wantNodes(tx, "inside the transaction", ga, 2)
			for _, x := range append(nodes, 9) {
				_, err := tx.ReadSecretTreeNode(ga, 2, x)
				wantNotFound(t, fmt.Sprintf("node %d inside the transaction", x), err)
			}
			if err := tx.WriteSecretTreeNode(ga, 2, 3, []byte("after")); err != nil {
				return err
			}
			wantNodes(tx, "written after the deletion", ga, 2, 3)
			if !commit {
				return fail
			}
			return nil
		})
		if !commit {
			if !errors.Is(err, fail) {
				t.Fatalf("failed transaction: %v", err)
			}
			wantNodes(s, "after a failed transaction", ga, 2, nodes...)
			for _, x := range nodes {
				if got, err := s.ReadSecretTreeNode(ga, 2, x); err != nil || string(got) != fmt.Sprintf("%x/2/%d", ga, x) {
					t.Fatalf("node %d after a failed transaction: %q, %v", x, got, err)
				}
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		wantNodes(s, "after commit", ga, 2, 3)
		if got, err := s.ReadSecretTreeNode(ga, 2, 3); err != nil || string(got) != "after" {
			t.Fatalf("node written after the deletion: %q, %v", got, err)
		}
	}
	wantNodes(s, "another group, at the end", gb, 1, nodes...)
}

// testSecretTreeNodes checks the SecretTreeStore's keys: nodes of the
// whole uint32 range, listed per group and epoch in ascending order;
// groups whose ids are prefixes of each other, and epochs, kept apart;
// deletion; independence from the EpochSecrets and RatchetTree records of
// the same group and epoch.
func testSecretTreeNodes(t *testing.T, s providers.Storage) {
	ga, gb := []byte("a"), []byte("a\x00")
	wantNodes := func(g []byte, e uint64, want ...uint32) {
		t.Helper()
		got, err := s.ListSecretTreeNodes(g, e)
		if err != nil {
			t.Fatalf("ListSecretTreeNodes(%x, %d): %v", g, e, err)
		}
		if want == nil {
			want = []uint32{}
		}
		if got == nil || !slices.Equal(got, want) {
			t.Fatalf("ListSecretTreeNodes(%x, %d) = %v, want %v", g, e, got, want)
		}
	}
	wantNodes(ga, 1)
	nodes := []uint32{5, 0, math.MaxUint32, 1, 1 << 20}
	for _, x := range nodes {
		if err := s.WriteSecretTreeNode(ga, 1, x, fmt.Appendf(nil, "a1/%d", x)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WriteSecretTreeNode(ga, 2, 5, []byte("a2/5")); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteSecretTreeNode(gb, 1, 5, []byte("b1/5")); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteEpochSecrets(ga, 1, []byte("epoch")); err != nil {
		t.Fatal(err)
	}
	wantNodes(ga, 1, 0, 1, 5, 1<<20, math.MaxUint32)
	wantNodes(ga, 2, 5)
	wantNodes(gb, 1, 5)
	wantNodes(gb, 2)
	for _, x := range nodes {
		got, err := s.ReadSecretTreeNode(ga, 1, x)
		if err != nil || !bytes.Equal(got, fmt.Appendf(nil, "a1/%d", x)) {
			t.Fatalf("ReadSecretTreeNode(a, 1, %d) = %q, %v", x, got, err)
		}
	}
	if got, err := s.ReadSecretTreeNode(ga, 2, 5); err != nil || string(got) != "a2/5" {
		t.Fatalf("ReadSecretTreeNode(a, 2, 5) = %q, %v", got, err)
	}
	_, err := s.ReadSecretTreeNode(gb, 1, 0)
	wantNotFound(t, "read of an absent node", err)
	if err := s.DeleteSecretTreeNode(ga, 1, 5); err != nil {
		t.Fatal(err)
	}
	_, err = s.ReadSecretTreeNode(ga, 1, 5)
	wantNotFound(t, "read after delete", err)
	wantNodes(ga, 1, 0, 1, 1<<20, math.MaxUint32)
	wantNodes(ga, 2, 5)
	wantNodes(gb, 1, 5)
	if err := s.DeleteSecretTreeNode(ga, 1, 5); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	// The epoch's other records are separate.
	if err := s.DeleteEpochSecrets(ga, 1); err != nil {
		t.Fatal(err)
	}
	wantNodes(ga, 1, 0, 1, 1<<20, math.MaxUint32)
	for _, x := range []uint32{0, 1, 1 << 20, math.MaxUint32} {
		if err := s.DeleteSecretTreeNode(ga, 1, x); err != nil {
			t.Fatal(err)
		}
	}
	wantNodes(ga, 1)
	wantNodes(ga, 2, 5)
	if got, err := s.ListEpochs(ga); err != nil || len(got) != 0 {
		t.Fatalf("ListEpochs = %v, %v; want none", got, err)
	}
}
