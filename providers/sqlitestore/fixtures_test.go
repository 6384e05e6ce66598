package sqlitestore_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/sqlitestore"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// TestGroupStateFixtures loads groups stored by older code: each
// testdata/fixtures/groups-state-v<N>.db is a database file written by the
// code of a commit whose group-state format version (mls.groupStateVersion)
// is N (generate_groups_fixture.go.txt, run in a checkout of that commit),
// with groups-state-v<N>.txt saying what it holds. Version 2 was written
// at 6211a6c; mls.LoadGroup migrates it to the current version in one
// transaction (a failed commit of it leaves version 2, checked here), then
// loads it. A future format change must migrate these records too, not
// report ErrCorruptState, and add a fixture of its own. (mls keeps
// fixtures of every earlier version in memstore records.)
//
// Each fixture holds a group of alice, bob and carol at epoch 2 (kept past
// epoch 1, MaxPastEpochs 1), an application message of alice's that carol
// has not read ("late") and a pending self-update Commit of carol's.
func TestGroupStateFixtures(t *testing.T) {
	for _, v := range []string{"v2"} {
		t.Run(v, func(t *testing.T) {
			f := map[string][]byte{}
			txt, err := os.ReadFile(filepath.Join("testdata", "fixtures", "groups-state-"+v+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(strings.TrimSpace(string(txt)), "\n") {
				k, h, _ := strings.Cut(l, " ")
				if f[k], err = hex.DecodeString(h); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(t.TempDir(), "groups.db")
			copyFile(t, filepath.Join("testdata", "fixtures", "groups-state-"+v+".db"), path)
			db, err := sqlitestore.Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			p := defaultcrypto.New()
			// Within the lifetimes of the fixture's leaves (it was
			// written shortly before this time).
			now := func() time.Time { return time.Date(2026, 12, 6, 4, 22, 12, 0, time.UTC) }
			names := []string{"alice", "bob", "carol"}
			var groups []*mls.Group
			for i, n := range names {
				s := db.Store([]byte(n))
				if ver, _, err := s.ReadGroupState(f["group_id"]); err != nil || "v"+strconv.Itoa(int(ver)) != v {
					t.Fatalf("%s: the fixture's group state is of version %d (%v)", n, ver, err)
				}
				// A migration whose commit fails leaves the old records.
				fs := storagetest.NewFaulty(s)
				fs.FailWhen(func(op storagetest.Op) bool { return op.Name == "Commit" })
				c := &mls.Client{Provider: p, Storage: fs, Credential: mls.NewBasicCredential([]byte(n)), Now: now}
				if _, err := mls.LoadGroup(c, f["group_id"]); !errors.Is(err, storagetest.ErrInjected) {
					t.Fatalf("%s: LoadGroup with a failing commit: %v", n, err)
				}
				if ver, _, err := s.ReadGroupState(f["group_id"]); err != nil || "v"+strconv.Itoa(int(ver)) != v {
					t.Fatalf("%s: after a failed migration the group state is of version %d (%v)", n, ver, err)
				}
				c.Storage = s
				g, err := mls.LoadGroup(c, f["group_id"])
				if err != nil {
					t.Fatalf("%s: LoadGroup: %v", n, err)
				}
				if g.Epoch() != uint64(f["epoch_"+n][0]) || !bytes.Equal(g.EpochAuthenticator(), f["authenticator_"+n]) {
					t.Fatalf("%s: loaded at epoch %d with another authenticator than stored", n, g.Epoch())
				}
				var ids []string
				for _, m := range g.Members() {
					ids = append(ids, string(m.Credential.Identity()))
				}
				if !slices.Equal(ids, names) || g.OwnLeafIndex() != mls.LeafIndex(i) {
					t.Fatalf("%s: members %q, own leaf %d", n, ids, g.OwnLeafIndex())
				}
				if ver, _, _ := s.ReadGroupState(f["group_id"]); "v"+strconv.Itoa(int(ver)) == v {
					t.Fatalf("%s: the group state is still of version %d after loading", n, ver)
				}
				groups = append(groups, g)
			}
			alice, bob, carol := groups[0], groups[1], groups[2]
			// carol reads the late message, merges her pending Commit, and
			// the others process it.
			if pm, err := carol.ProcessMessage(f["late"]); err != nil || string(pm.ApplicationData) != "late" {
				t.Fatalf("carol reading the late message: %v", err)
			}
			if !carol.HasPendingCommit() {
				t.Fatal("carol's pending Commit was not loaded")
			}
			if err := carol.MergePendingCommit(); err != nil {
				t.Fatal(err)
			}
			for _, g := range []*mls.Group{alice, bob} {
				pm, err := g.ProcessMessage(f["carol_commit"])
				if err != nil {
					t.Fatal(err)
				}
				if err := g.MergeStagedCommit(pm.Commit); err != nil {
					t.Fatal(err)
				}
			}
			// A replay of a message read before the upgrade is refused.
			if _, err := bob.ProcessMessage(f["late"]); err == nil {
				t.Error("bob accepted the late message again")
			}
			for i, g := range groups {
				if g.Epoch() != 3 || !bytes.Equal(g.EpochAuthenticator(), alice.EpochAuthenticator()) {
					t.Fatalf("%s at epoch %d or with another authenticator", names[i], g.Epoch())
				}
				m, err := g.SendApplicationMessage([]byte(names[i]), nil)
				if err != nil {
					t.Fatal(err)
				}
				for j, h := range groups {
					if j == i {
						continue
					}
					if pm, err := h.ProcessMessage(m); err != nil || string(pm.ApplicationData) != names[i] {
						t.Fatalf("%s reading %s: %v", names[j], names[i], err)
					}
				}
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
