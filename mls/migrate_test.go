package mls

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// Fixtures of the stored group format, one per earlier format version
// (testdata/fixtures/groups-state-v<N>.txt; fixtureVersions): every record
// of three members' memstores, written by the code of a commit whose
// groupStateVersion is N (testdata/fixtures/generate_groups_state.go.txt,
// run in a checkout of that commit: version 1 at 880d851^, version 2 at
// 6211a6c, version 4 at 83b83a5). providers/sqlitestore keeps a SQLite database of version 2.
// Each holds a group of alice, bob and carol at epoch 2 (past epoch 1
// kept, MaxPastEpochs 1) with an application message of alice's that
// carol has not read ("late") and a pending self-update Commit of carol's
// ("carol_commit").

// groupFixture is a parsed fixture: its values and each member's store.
type groupFixture struct {
	v      map[string][]byte
	stores map[string]func() *memstore.Store
	now    time.Time
}

var fixtureMembers = []string{"alice", "bob", "carol"}

func readGroupFixture(t testing.TB, version int) *groupFixture {
	t.Helper()
	path := filepath.Join("testdata", "fixtures", fmt.Sprintf("groups-state-v%d.txt", version))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := &groupFixture{v: map[string][]byte{}, stores: map[string]func() *memstore.Store{}}
	recs := map[string][][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		fs := strings.Fields(l)
		if slices.Contains(fixtureMembers, fs[0]) {
			recs[fs[0]] = append(recs[fs[0]], fs[1:])
			continue
		}
		if len(fs) != 2 {
			t.Fatalf("%s: bad line %q", path, l)
		}
		if f.v[fs[0]], err = hex.DecodeString(fs[1]); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	sec, err := strconv.ParseInt(string(f.v["now"]), 10, 64)
	if err != nil {
		t.Fatalf("%s: now: %v", path, err)
	}
	f.now = time.Unix(sec, 0).Add(time.Hour)
	hx := func(s string) []byte {
		d, err := hex.DecodeString(s)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return d
	}
	num := func(s string) uint64 {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return n
	}
	for _, n := range fixtureMembers {
		rs := recs[n]
		f.stores[n] = func() *memstore.Store {
			s := memstore.New()
			for _, r := range rs {
				var err error
				switch r[0] {
				case "group_state":
					err = s.WriteGroupState(hx(r[1]), uint16(num(r[2])), hx(r[3]))
				case "epoch_secrets":
					err = s.WriteEpochSecrets(hx(r[1]), num(r[2]), hx(r[3]))
				case "ratchet_tree":
					err = s.WriteRatchetTree(hx(r[1]), num(r[2]), hx(r[3]))
				case "secret_tree_node":
					err = s.WriteSecretTreeNode(hx(r[1]), num(r[2]), uint32(num(r[3])), hx(r[4]))
				case "signature_key_pair":
					err = s.WriteSignatureKeyPair(hx(r[1]), hx(r[2]))
				case "key_package":
					err = s.WriteKeyPackage(hx(r[1]), hx(r[2]))
				default:
					t.Fatalf("%s: unknown record %q", path, r[0])
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			return s
		}
	}
	return f
}

// dumpGroup lists every record of the group groupID in s, with the group
// state's version.
func dumpGroup(t testing.TB, s providers.Records, groupID []byte) string {
	t.Helper()
	var w strings.Builder
	v, b, err := s.ReadGroupState(groupID)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&w, "group_state %d %x\n", v, b)
	es, _ := s.ListEpochs(groupID)
	for _, e := range es {
		b, err := s.ReadEpochSecrets(groupID, e)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&w, "epoch_secrets %d %x\n", e, b)
		xs, _ := s.ListSecretTreeNodes(groupID, e)
		for _, x := range xs {
			b, err := s.ReadSecretTreeNode(groupID, e, x)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&w, "secret_tree_node %d %d %x\n", e, x, b)
		}
	}
	rs, _ := s.ListRatchetTrees(groupID)
	for _, e := range rs {
		b, err := s.ReadRatchetTree(groupID, e)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&w, "ratchet_tree %d %x\n", e, b)
	}
	return w.String()
}

func (f *groupFixture) client(name string, s providers.Storage) *Client {
	now := f.now
	return &Client{Provider: defaultcrypto.New(), Storage: s, Credential: NewBasicCredential([]byte(name)), Now: func() time.Time { return now }}
}

// fixtureVersions are the earlier format versions of which testdata/fixtures
// holds a group: versions 1 and 2 are migrated when loaded, version 4 is
// read as it is (the next change writes the current version).
var fixtureVersions = []uint16{1, 2, 4}

// TestGroupStateFixtures loads the groups of earlier format versions,
// which migrates those of versions 1 and 2, checks what they hold, and
// carries the session on:
// carol reads the late message and merges her pending Commit, the others
// process it, a message read before the upgrade is refused again, every
// member sends to the others and commits a self-update, and every member
// loads again from the migrated and updated records.
func TestGroupStateFixtures(t *testing.T) {
	for _, v := range fixtureVersions {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			f := readGroupFixture(t, int(v))
			loaded := v // the version stored once loaded
			if v < migratedVersion {
				loaded = migratedVersion
			}
			gid := f.v["group_id"]
			groups := make([]*Group, len(fixtureMembers))
			clients := make([]*Client, len(fixtureMembers))
			for i, n := range fixtureMembers {
				s := f.stores[n]()
				if got, _, err := s.ReadGroupState(gid); err != nil || got != v {
					t.Fatalf("%s: the fixture's group state is of version %d (%v)", n, got, err)
				}
				clients[i] = f.client(n, s)
				g, err := LoadGroup(clients[i], gid)
				if err != nil {
					t.Fatalf("%s: LoadGroup: %v", n, err)
				}
				if g.Epoch() != uint64(f.v["epoch_"+n][0]) || !bytes.Equal(g.EpochAuthenticator(), f.v["authenticator_"+n]) {
					t.Fatalf("%s: loaded at epoch %d with another authenticator than stored", n, g.Epoch())
				}
				if got, _, _ := s.ReadGroupState(gid); got != loaded {
					t.Fatalf("%s: the stored group state is of version %d after loading, want %d", n, got, loaded)
				}
				var ids []string
				for _, m := range g.Members() {
					ids = append(ids, string(m.Credential.Identity()))
				}
				if !slices.Equal(ids, fixtureMembers) || g.OwnLeafIndex() != LeafIndex(i) {
					t.Fatalf("%s: members %q, own leaf %d", n, ids, g.OwnLeafIndex())
				}
				groups[i] = g
			}
			alice, bob, carol := groups[0], groups[1], groups[2]
			// carol reads the late message, merges her pending Commit,
			// and the others process it. (The kept past epoch 1 is
			// checked at load: its tree against its GroupContext, its
			// secret tree imported.)
			if pm, err := carol.ProcessMessage(f.v["late"]); err != nil || string(pm.ApplicationData) != "late" {
				t.Fatalf("carol reading the late message: %v", err)
			}
			info, ok := carol.PendingCommit()
			if !ok {
				t.Fatal("carol's pending Commit was not loaded")
			}
			if v >= 4 {
				// Stored with the hash of its message and its
				// proposals: described, and its echo recognised.
				if info.Restored {
					t.Fatal("carol's pending Commit is not described")
				}
				pm, err := carol.ProcessMessage(f.v["carol_commit"])
				if err != nil || !pm.Own {
					t.Fatalf("carol processing the echo of her Commit: %v", err)
				}
				if err := carol.MergeStagedCommit(pm.Commit); err != nil {
					t.Fatal(err)
				}
			} else if err := carol.MergePendingCommit(); err != nil {
				t.Fatal(err)
			}
			for _, g := range []*Group{alice, bob} {
				pm, err := g.ProcessMessage(f.v["carol_commit"])
				if err != nil {
					t.Fatal(err)
				}
				if err := g.MergeStagedCommit(pm.Commit); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := bob.ProcessMessage(f.v["late"]); err == nil {
				t.Error("bob accepted the late message again")
			}
			round := func(epoch uint64) {
				t.Helper()
				for i, g := range groups {
					if g.Epoch() != epoch || !bytes.Equal(g.EpochAuthenticator(), alice.EpochAuthenticator()) {
						t.Fatalf("%s at epoch %d or with another authenticator", fixtureMembers[i], g.Epoch())
					}
					m, err := g.SendApplicationMessage([]byte(fixtureMembers[i]), nil)
					if err != nil {
						t.Fatal(err)
					}
					for j, h := range groups {
						if j == i {
							continue
						}
						if pm, err := h.ProcessMessage(m); err != nil || string(pm.ApplicationData) != fixtureMembers[i] {
							t.Fatalf("%s reading %s: %v", fixtureMembers[j], fixtureMembers[i], err)
						}
					}
				}
			}
			round(3)
			for i, g := range groups {
				res, err := g.SelfUpdate(nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := g.MergePendingCommit(); err != nil {
					t.Fatal(err)
				}
				for j, h := range groups {
					if j == i {
						continue
					}
					pm, err := h.ProcessMessage(res.Commit)
					if err != nil {
						t.Fatalf("%s processing %s's commit: %v", fixtureMembers[j], fixtureMembers[i], err)
					}
					if err := h.MergeStagedCommit(pm.Commit); err != nil {
						t.Fatal(err)
					}
				}
			}
			for i := range groups {
				if got, _, _ := clients[i].Storage.ReadGroupState(gid); got != groupStateVersion {
					t.Fatalf("%s: the group state is of version %d after the session", fixtureMembers[i], got)
				}
				g, err := LoadGroup(clients[i], gid)
				if err != nil {
					t.Fatalf("%s: LoadGroup after the session: %v", fixtureMembers[i], err)
				}
				groups[i] = g
			}
			alice = groups[0]
			round(6)
		})
	}
}

// TestGroupStateMigrationInterrupted fails each storage operation of
// loading a fixture's group in turn: a failure within the migration's
// transaction leaves the records of the earlier version exactly as they
// were, one after it the migrated records; either way the error is the
// store's, and LoadGroup then succeeds.
func TestGroupStateMigrationInterrupted(t *testing.T) {
	for v := 1; v < int(migratedVersion); v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			f := readGroupFixture(t, v)
			gid := f.v["group_id"]
			const name = "carol" // with a pending Commit, past epoch and late message
			s := f.stores[name]()
			old := dumpGroup(t, s, gid)
			fs := storagetest.NewFaulty(s)
			fs.Reset()
			g, err := LoadGroup(f.client(name, fs), gid)
			if err != nil {
				t.Fatal(err)
			}
			want := g.EpochAuthenticator()
			ops := fs.Ops()
			migrated := dumpGroup(t, s, gid)
			if migrated == old {
				t.Fatal("loading did not migrate the records")
			}
			var inMigration int
			for k := 1; k <= ops; k++ {
				s := f.stores[name]()
				fs := storagetest.NewFaulty(s)
				fs.FailAt(k)
				_, err := LoadGroup(f.client(name, fs), gid)
				failed := fs.Failed()
				if len(failed) != 1 {
					t.Fatalf("operation %d: %d operations failed", k, len(failed))
				}
				if !errors.Is(err, storagetest.ErrInjected) {
					t.Fatalf("operation %d (%v) failed: LoadGroup returned %v", k, failed[0], err)
				}
				got := dumpGroup(t, s, gid)
				op := failed[0]
				// The first ReadGroupState is outside the migration; the
				// transaction's operations and its commit are in it.
				if k > 1 && (op.InTx || op.Name == "Commit") {
					inMigration++
					if got != old {
						t.Fatalf("operation %d (%v) failed: the stored records changed", k, op)
					}
				} else if got != old && got != migrated {
					t.Fatalf("operation %d (%v) failed: the stored records are neither the old nor the migrated ones", k, op)
				}
				fs.Reset()
				g, err := LoadGroup(f.client(name, fs), gid)
				if err != nil {
					t.Fatalf("operation %d (%v) failed: LoadGroup then: %v", k, op, err)
				}
				if !bytes.Equal(g.EpochAuthenticator(), want) || dumpGroup(t, s, gid) != migrated {
					t.Fatalf("operation %d (%v) failed: loaded another group", k, op)
				}
			}
			if inMigration < 5 {
				t.Fatalf("only %d operations in the migration's transaction", inMigration)
			}
		})
	}
}

// TestGroupStateMigrationCorrupt: records of an earlier version that do not
// decode, or hold a secret tree that cannot be moved node by node, give
// ErrCorruptState and stay as they were.
func TestGroupStateMigrationCorrupt(t *testing.T) {
	for v := 1; v < int(migratedVersion); v++ {
		f := readGroupFixture(t, v)
		gid := f.v["group_id"]
		epochRec := func(s *memstore.Store, e uint64) []byte {
			b, err := s.ReadEpochSecrets(gid, e)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		// A secret tree record changed through its decoded form.
		withTree := func(s *memstore.Store, e uint64, change func(*record.SecretTree)) {
			b := epochRec(s, e)
			var out []byte
			var err error
			if v == 1 {
				var r record.EpochSecretsV1
				if err = r.Unmarshal(b); err == nil {
					change(&r.SecretTree)
					out, err = r.Marshal()
				}
			} else {
				var r record.EpochSecretsV2
				if err = r.Unmarshal(b); err == nil {
					change(&r.SecretTree)
					out, err = r.Marshal()
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := s.WriteEpochSecrets(gid, e, out); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			name  string
			spoil func(*memstore.Store)
		}{
			{"garbage group state", func(s *memstore.Store) {
				_ = s.WriteGroupState(gid, uint16(v), []byte{1, 2, 3})
			}},
			{"garbage epoch secrets", func(s *memstore.Store) {
				_ = s.WriteEpochSecrets(gid, 1, []byte{1, 2, 3})
			}},
			{"epoch secrets of another epoch", func(s *memstore.Store) {
				_ = s.WriteEpochSecrets(gid, 1, epochRec(s, 2))
			}},
			{"leaf beyond the tree", func(s *memstore.Store) {
				withTree(s, 2, func(st *record.SecretTree) { st.Leaves[0].Leaf = st.LeafCount })
			}},
			{"node stored twice", func(s *memstore.Store) {
				withTree(s, 2, func(st *record.SecretTree) {
					st.Nodes = append(st.Nodes, record.NodeSecret{Node: 2 * st.Leaves[0].Leaf, Secret: bytes.Repeat([]byte{1}, 32)})
				})
			}},
		} {
			t.Run(fmt.Sprintf("v%d/%s", v, c.name), func(t *testing.T) {
				s := f.stores["carol"]()
				c.spoil(s)
				before := dumpGroup(t, s, gid)
				if _, err := LoadGroup(f.client("carol", s), gid); !errors.Is(err, ErrCorruptState) {
					t.Fatalf("LoadGroup: %v, want ErrCorruptState", err)
				}
				if dumpGroup(t, s, gid) != before {
					t.Fatal("the failed migration changed the stored records")
				}
			})
		}
	}
}

// FuzzMigrateGroup: LoadGroup of a group of an earlier format version with
// one record replaced by arbitrary bytes (data[0] picks the version and
// the record) never panics, and fails with ErrCorruptState or loads, or,
// for a group whose signature key pair is neither the client's nor stored
// (a changed signer public key), fails with ErrNotFound as LoadGroup
// documents (testdata/fuzz/FuzzMigrateGroup/unstored-signer).
func FuzzMigrateGroup(f *testing.F) {
	fixtures := map[int]*groupFixture{}
	for v := 1; v < int(migratedVersion); v++ {
		fixtures[v] = readGroupFixture(f, v)
		gid := fixtures[v].v["group_id"]
		s := fixtures[v].stores["carol"]()
		_, gs, _ := s.ReadGroupState(gid)
		e1, _ := s.ReadEpochSecrets(gid, 1)
		e2, _ := s.ReadEpochSecrets(gid, 2)
		for i, rec := range [][]byte{gs, e1, e2} {
			f.Add(append([]byte{byte(3*(v-1) + i)}, rec...))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		v := 1 + int(data[0]/3)%(int(migratedVersion)-1)
		fx := fixtures[v]
		gid := fx.v["group_id"]
		s := fx.stores["carol"]()
		switch data[0] % 3 {
		case 0:
			_ = s.WriteGroupState(gid, uint16(v), data[1:])
		default:
			_ = s.WriteEpochSecrets(gid, uint64(data[0]%3), data[1:])
		}
		if _, err := LoadGroup(fx.client("carol", s), gid); err != nil && !errors.Is(err, ErrCorruptState) && !errors.Is(err, ErrNotFound) {
			t.Fatalf("LoadGroup: %v", err)
		}
	})
}
