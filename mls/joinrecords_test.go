package mls

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// groupRecords reads every record of a group's epoch from s, by name
// (nil if the group state is absent).
func groupRecords(t *testing.T, s providers.Storage, groupID []byte, epoch uint64) map[string][]byte {
	t.Helper()
	v, gs, err := s.ReadGroupState(groupID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string][]byte{fmt.Sprintf("GroupState v%d", v): gs}
	if recs["EpochSecrets"], err = s.ReadEpochSecrets(groupID, epoch); err != nil {
		t.Fatal(err)
	}
	if recs["RatchetTree"], err = s.ReadRatchetTree(groupID, epoch); err != nil {
		t.Fatal(err)
	}
	xs, err := s.ListSecretTreeNodes(groupID, epoch)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range xs {
		if recs[fmt.Sprintf("SecretTreeNode %d", x)], err = s.ReadSecretTreeNode(groupID, epoch, x); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

// sameRecords reports the first difference between two sets of records.
func sameRecords(got, want map[string][]byte) error {
	for k, w := range want {
		if g, ok := got[k]; !ok {
			return fmt.Errorf("%s missing", k)
		} else if !bytes.Equal(g, w) {
			return fmt.Errorf("%s differs", k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			return fmt.Errorf("%s not expected", k)
		}
	}
	return nil
}

// secretBuffers returns the buffers of r that hold secrets (a node's
// deletion has none).
func (r *joinRecords) secretBuffers() [][]byte {
	bufs := [][]byte{r.secrets, r.state}
	for _, n := range r.nodes {
		if n.value != nil {
			bufs = append(bufs, n.value)
		}
	}
	return bufs
}

// TestJoinRecords: Stage encodes the records Join writes while the leaf
// signatures are verified (joinRecords). They must be exactly those the
// joined group's first save writes (change.save), with the group as Stage
// leaves it: not encoded from a state Stage changes afterwards. Nothing is
// written before Join: a failed Stage erases them unwritten; a Join whose
// transaction fails (at each of its storage operations in turn) leaves
// storage as it was and keeps them intact, and the next Join writes them;
// once written, or discarded, their secrets are erased.
func TestJoinRecords(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true})
	a := s.members[0]
	s.add(a, 2, false)
	b := s.members[1]
	p := &badKeyProvider{Provider: s.p}
	j := gtNewMember(t, p, s.suite, "joiner")
	kp := j.keyPackage(t)
	// With a path: the GroupSecrets carry a path_secret, whose private
	// key the GroupState stores.
	res := gtMust(a.g.Commit(CommitOptions{Add: []*codec.KeyPackage{kp}, ForcePath: true}))(t)
	groupID := a.g.GroupID()
	f := j.c.Storage.(*storagetest.Faulty)
	var writes []string
	countWrites := func(op storagetest.Op) bool {
		if !strings.HasPrefix(op.Name, "Read") && !strings.HasPrefix(op.Name, "List") {
			writes = append(writes, op.Name)
		}
		return false
	}
	// capture keeps the records Stage encodes, their secret buffers
	// (which zero erases in place) and copies of them as encoded.
	var (
		captured *joinRecords
		bufs     [][]byte
		copies   [][]byte
	)
	capture := func(_ *epoch, r *joinRecords) {
		captured, bufs, copies = r, r.secretBuffers(), nil
		for i, b := range bufs {
			if len(b) == 0 || allZero(b) {
				t.Fatalf("Stage encoded an empty or zero record (%d of %d, %d bytes)", i, len(bufs), len(b))
			}
			copies = append(copies, bytes.Clone(b))
		}
		if len(bufs) < 3 {
			t.Fatal("no secret tree node record encoded")
		}
	}
	erased := func(what string) {
		t.Helper()
		for i, b := range bufs {
			if !allZero(b) {
				t.Errorf("%s: record buffer %d (%d bytes) is not erased", what, i, len(b))
			}
		}
	}

	// A leaf signature fails: the records were encoded, and are erased
	// unwritten.
	p.setBad(b.c.Signer.PublicKey())
	pw := gtMust(ProcessWelcome(j.c, res.Welcome, s.cfg))(t)
	pw.staged = capture
	f.FailWhen(countWrites)
	if _, err := pw.Stage(nil); err == nil {
		t.Fatal("Stage accepted a leaf whose signature fails")
	}
	f.Reset()
	if captured == nil {
		t.Fatal("the failed Stage encoded no records: their erasure was not exercised")
	}
	erased("after the failed Stage")
	if len(writes) != 0 {
		t.Errorf("the failed Stage wrote to storage: %v", writes)
	}
	pw.Discard()
	p.setBad(nil)

	// The records a successful Stage encodes are those the staged
	// group's save writes.
	stage := func() *StagedWelcome {
		t.Helper()
		pw := gtMust(ProcessWelcome(j.c, res.Welcome, s.cfg))(t)
		pw.staged = capture
		f.FailWhen(countWrites)
		sw := gtMust(pw.Stage(nil))(t)
		f.Reset()
		if len(writes) != 0 {
			t.Fatalf("Stage wrote to storage: %v", writes)
		}
		if sw.records != captured {
			t.Fatal("the StagedWelcome holds other records than those Stage encoded")
		}
		return sw
	}
	sw := stage()
	want := memstore.New()
	if err := want.Update(func(tx providers.Records) error { return sw.g.stage().save(tx) }); err != nil {
		t.Fatal(err)
	}
	epoch := sw.GroupContext().Epoch
	wantRecs := groupRecords(t, want, groupID, epoch)

	// Join fails at each of its storage operations in turn: nothing is
	// stored, the KeyPackage stays, the records stay intact.
	ref := pw.KeyPackageRef()
	for k := 1; ; k++ {
		f.FailAt(k)
		g, err := sw.Join()
		failed := len(f.Failed()) > 0
		f.Reset()
		if !failed {
			if err != nil {
				t.Fatalf("Join: %v", err)
			}
			if k < 4 {
				t.Fatalf("Join succeeded with operation %d failing: the failures were not exercised", k)
			}
			if err := sameRecords(groupRecords(t, j.c.Storage, groupID, epoch), wantRecs); err != nil {
				t.Fatalf("Join (after %d failed attempts) stored other records than the group's save: %v", k-1, err)
			}
			erased("after Join")
			if !bytes.Equal(g.EpochAuthenticator(), sw.EpochAuthenticator()) {
				t.Fatal("the joined group is not the staged one")
			}
			break
		}
		if !errors.Is(err, storagetest.ErrInjected) {
			t.Fatalf("Join with operation %d failing: %v", k, err)
		}
		if recs := groupRecords(t, j.c.Storage, groupID, epoch); recs != nil {
			t.Fatalf("Join with operation %d failing stored the group", k)
		}
		if _, err := j.c.Storage.ReadKeyPackage(ref); err != nil {
			t.Fatalf("Join with operation %d failing consumed the KeyPackage: %v", k, err)
		}
		for i, b := range bufs {
			if !bytes.Equal(b, copies[i]) {
				t.Fatalf("Join with operation %d failing changed record buffer %d", k, i)
			}
		}
	}
	if _, err := sw.Join(); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Join again: %v, want ErrInvalidArgument", err)
	}

	// A staged Welcome discarded: its records are erased, and Join fails
	// without writing.
	j2 := gtNewMember(t, s.p, s.suite, "joiner2")
	kp2 := j2.keyPackage(t)
	if err := a.g.ClearPendingCommit(); err != nil {
		t.Fatal(err)
	}
	res2 := gtMust(a.g.Commit(CommitOptions{Add: []*codec.KeyPackage{kp2}}))(t)
	pw2 := gtMust(ProcessWelcome(j2.c, res2.Welcome, s.cfg))(t)
	pw2.staged = capture
	sw2 := gtMust(pw2.Stage(nil))(t)
	sw2.Discard()
	erased("after Discard")
	if _, err := sw2.Join(); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Join after Discard: %v, want ErrInvalidArgument", err)
	}
	if _, _, err := j2.c.Storage.ReadGroupState(groupID); !errors.Is(err, ErrNotFound) {
		t.Errorf("group state after Discard and Join: %v, want ErrNotFound", err)
	}
}
