package mls_test

import (
	"testing"

	"github.com/mlskit/mlskit/internal/groupbench"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// TestFirstMessageOfEpoch: a member's own ratchets are derived when its
// epoch begins (RFC 9420 §9), so its first message of an epoch writes to
// storage what its second does — one ratchet record — whether the epoch
// began with its own Commit or one it processed.
func TestFirstMessageOfEpoch(t *testing.T) {
	f, err := groupbench.New(defaultcrypto.New(), benchSuite, 16, true)
	if err != nil {
		t.Fatal(err)
	}
	m1Store := groupbench.NewCountingStore(f.Members[0].Client.Storage)
	m1Client := *f.Members[0].Client
	m1Client.Storage = m1Store
	m1, err := mls.LoadGroup(&m1Client, f.M1Group.GroupID())
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.AliceGroup.SelfUpdate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.AliceGroup.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	pm, err := m1.ProcessMessage(res.Commit)
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.MergeStagedCommit(pm.Commit); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		g     *mls.Group
		store *groupbench.CountingStore
	}{
		{"after its own Commit", f.AliceGroup, f.AliceStore},
		{"after a processed Commit", m1, m1Store},
	} {
		var bytes, records [2]int64
		for i := range 2 {
			b0, r0 := c.store.Written()
			if _, err := c.g.SendApplicationMessage([]byte("hello"), nil); err != nil {
				t.Fatal(err)
			}
			b1, r1 := c.store.Written()
			bytes[i], records[i] = b1-b0, r1-r0
		}
		if records[0] != records[1] || bytes[0] != bytes[1] || records[0] != 1 {
			t.Errorf("%s: first message wrote %d records (%d B), second %d (%d B); want 1 each, the same size", c.name, records[0], bytes[0], records[1], bytes[1])
		}
	}
}
