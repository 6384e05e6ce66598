package mls_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/groupbench"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// kpCountingStore counts the KeyPackage reads and lists of a store, and
// can fail its lists.
type kpCountingStore struct {
	providers.Storage
	reads, lists int
	failList     bool
}

func (s *kpCountingStore) ReadKeyPackage(ref []byte) ([]byte, error) {
	s.reads++
	return s.Storage.ReadKeyPackage(ref)
}

func (s *kpCountingStore) ListKeyPackages() ([][]byte, error) {
	s.lists++
	if s.failList {
		return nil, errors.New("list not supported")
	}
	return s.Storage.ListKeyPackages()
}

// TestJoinFindsKeyPackageByList: the joiner finds its entry of a Welcome
// of many entries (RFC 9420 §12.4.3.1) by listing its KeyPackages once
// and reading only its own, not one storage read per entry; a store that
// cannot list is read entry by entry, and a Welcome of few entries is
// looked up directly.
func TestJoinFindsKeyPackageByList(t *testing.T) {
	for _, tc := range []struct {
		n         int
		failList  bool
		lists     int
		readsOver int // the reads are more than this
		readsMax  int
	}{
		{n: 40, lists: 1, readsMax: 1},
		{n: 40, failList: true, lists: 1, readsOver: 1, readsMax: 39},
		{n: 3, lists: 0, readsMax: 2},
	} {
		f, err := groupbench.New(defaultcrypto.New(), benchSuite, tc.n, true)
		if err != nil {
			t.Fatal(err)
		}
		last := len(f.Members) - 1
		c, err := f.FreshJoiner(last)
		if err != nil {
			t.Fatal(err)
		}
		s := &kpCountingStore{Storage: c.Storage, failList: tc.failList}
		c.Storage = s
		g, err := mls.JoinFromWelcome(c, f.Welcome, nil, f.Config)
		if err != nil {
			t.Fatalf("n=%d failList=%v: %v", tc.n, tc.failList, err)
		}
		if g.OwnLeafIndex() != mls.LeafIndex(last+1) {
			t.Fatalf("joined at leaf %d", g.OwnLeafIndex())
		}
		if s.lists != tc.lists || s.reads <= tc.readsOver || s.reads > tc.readsMax {
			t.Errorf("n=%d failList=%v: %d lists, %d key package reads; want %d lists, reads in (%d, %d]", tc.n, tc.failList, s.lists, s.reads, tc.lists, tc.readsOver, tc.readsMax)
		}
	}
}

// TestJoinStoresTreeExtension: a joiner stores the tree of the Welcome's
// ratchet_tree extension as its own bytes, which are the tree's encoding
// (the codec is canonical): the stored record holds what encoding the
// joined group's tree gives, and the group loads from it; a tree given
// out of band is encoded as before.
func TestJoinStoresTreeExtension(t *testing.T) {
	// Right after creation (fresh): alice's tree is the Welcome's.
	f, err := groupbench.New(defaultcrypto.New(), benchSuite, 40, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, outOfBand := range []bool{false, true} {
		c, err := f.FreshJoiner(len(f.Members) - 1)
		if err != nil {
			t.Fatal(err)
		}
		var tree codec.RatchetTree
		if outOfBand {
			tree = f.AliceGroup.RatchetTree()
		}
		g, err := mls.JoinFromWelcome(c, f.Welcome, tree, f.Config)
		if err != nil {
			t.Fatal(err)
		}
		want, err := g.RatchetTree().Marshal()
		if err != nil {
			t.Fatal(err)
		}
		stored, err := c.Storage.ReadRatchetTree(g.GroupID(), g.Epoch())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(stored, want) || len(stored) > len(want)+9 {
			t.Fatalf("outOfBand=%v: the stored record (%d bytes) does not hold the tree's encoding (%d bytes)", outOfBand, len(stored), len(want))
		}
		loaded, err := mls.LoadGroup(c, g.GroupID())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(loaded.EpochAuthenticator(), g.EpochAuthenticator()) || !bytes.Equal(loaded.GroupContext().TreeHash, g.GroupContext().TreeHash) {
			t.Fatalf("outOfBand=%v: the loaded group differs", outOfBand)
		}
	}
}
