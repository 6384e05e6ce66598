package mls

import (
	"bytes"
	"slices"
	"testing"

	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// retainingStore keeps, against the storage contract (a Write does not
// retain the caller's slice), the slices the group passes to the writes of
// its records, to check what the group does with them after the write: a
// record is encoded into the group's reused scratch buffer (persist.go),
// which must be zeroed after each write, since records hold secrets (RFC
// 9420 §9.2). It also counts the EpochSecrets writes.
type retainingStore struct {
	providers.Storage
	kept         [][]byte
	epochSecrets int
}

func (s *retainingStore) Update(fn func(providers.Records) error) error {
	return s.Storage.Update(func(tx providers.Records) error { return fn(&retainingTx{Records: tx, s: s}) })
}

type retainingTx struct {
	providers.Records
	s *retainingStore
}

func (t *retainingTx) WriteGroupState(groupID []byte, version uint16, state []byte) error {
	t.s.kept = append(t.s.kept, state)
	return t.Records.WriteGroupState(groupID, version, state)
}

func (t *retainingTx) WriteEpochSecrets(groupID []byte, epoch uint64, secrets []byte) error {
	t.s.kept = append(t.s.kept, secrets)
	t.s.epochSecrets++
	return t.Records.WriteEpochSecrets(groupID, epoch, secrets)
}

func (t *retainingTx) WriteRatchetTree(groupID []byte, epoch uint64, tree []byte) error {
	t.s.kept = append(t.s.kept, tree)
	return t.Records.WriteRatchetTree(groupID, epoch, tree)
}

func (t *retainingTx) WriteSecretTreeNode(groupID []byte, epoch uint64, node uint32, rec []byte) error {
	t.s.kept = append(t.s.kept, rec)
	return t.Records.WriteSecretTreeNode(groupID, epoch, node, rec)
}

// TestWriteScratch: the records of every change are encoded into one
// scratch buffer the group reuses, zeroed after each write; nothing the
// group returns (a Commit, its Welcome and GroupInfo, a message) shares
// it, so the bytes returned stay intact through the following operations;
// the stored records are those a fresh encoding gives (reload); and the
// EpochSecrets record of an epoch is written once, by its first save
// (again after LoadGroup), not by the saves of the same epoch.
func TestWriteScratch(t *testing.T) {
	s := stThree(t, GroupConfig{MaxPastEpochs: 1})
	a := s.members[0]
	rs := &retainingStore{Storage: a.c.Storage}
	a.c.Storage = rs
	a.g.store = rs
	type result struct {
		what      string
		got, want []byte
	}
	var results []result
	keep := func(what string, b []byte) {
		if b == nil {
			t.Fatalf("%s: nil", what)
		}
		results = append(results, result{what, b, bytes.Clone(b)})
	}
	step := func(name string, epochSecrets int, op func()) {
		t.Helper()
		rs.kept, rs.epochSecrets = nil, 0
		op()
		if len(rs.kept) == 0 {
			t.Fatalf("%s: no record written", name)
		}
		for i, b := range rs.kept {
			if slices.ContainsFunc(b, func(x byte) bool { return x != 0 }) {
				t.Errorf("%s: the buffer of write %d (%d bytes) is not zeroed after the write", name, i, len(b))
			}
		}
		if rs.epochSecrets != epochSecrets {
			t.Errorf("%s: %d EpochSecrets records written, want %d", name, rs.epochSecrets, epochSecrets)
		}
		for _, r := range results {
			if !bytes.Equal(r.got, r.want) {
				t.Errorf("%s: %s changed", name, r.what)
			}
		}
		// What is stored is what a fresh encoding of the group gives,
		// and loads as the group in memory.
		mem := snapshotOf(t, a.g)
		if !storedSnapshot(t, rs, a.g.GroupID()).equal(mem) {
			t.Fatalf("%s: the stored state differs from the in-memory state", name)
		}
		if !snapshotOf(t, gtMust(LoadGroup(a.c, a.g.GroupID()))(t)).equal(mem) {
			t.Fatalf("%s: the loaded group differs from the in-memory one", name)
		}
	}
	p := defaultcrypto.New()
	step("self-update", 0, func() {
		res := gtMust(a.g.Commit(CommitOptions{ForcePath: true, WithGroupInfo: true}))(t)
		keep("self-update Commit", res.Commit)
		keep("self-update GroupInfo", res.GroupInfo)
	})
	step("merge", 1, func() { // the new epoch's (the one kept past, stored while current, stays)
		if err := a.g.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
	})
	step("message", 0, func() { keep("message", gtMust(a.g.SendApplicationMessage([]byte("m"), nil))(t)) })
	step("add", 0, func() {
		res := gtMust(a.g.AddMembers(gtNewMember(t, p, stSuite, "dave").keyPackage(t)))(t)
		keep("add Commit", res.Commit)
		keep("Welcome", res.Welcome)
	})
	step("clear", 0, func() {
		if err := a.g.ClearPendingCommit(); err != nil {
			t.Fatal(err)
		}
	})
	// A loaded group writes its EpochSecrets record at its first save,
	// as before (repairing it if it differs), and then no more.
	a.g = gtMust(LoadGroup(a.c, a.g.GroupID()))(t)
	step("first save after LoadGroup", 1, func() {
		prop, _ := gtMust2(a.g.ProposeRemove(2))(t)
		keep("proposal", prop)
	})
	step("second save after LoadGroup", 0, func() {
		res := gtMust(a.g.SelfUpdate(nil))(t)
		keep("second self-update", res.Commit)
	})
	// A merge that is the first save after LoadGroup writes the record of
	// the epoch it ends, kept past, again, as a first save does.
	a.g = gtMust(LoadGroup(a.c, a.g.GroupID()))(t)
	step("merge as the first save after LoadGroup", 2, func() {
		if err := a.g.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
	})
}
