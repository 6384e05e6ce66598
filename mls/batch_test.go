package mls

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/mlskit/mlskit/internal/storehook"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// Tests of ProcessMessages (batch.go): a batch gives what processing its
// messages one by one gives, in memory and in storage, with one
// transaction; a refused message changes nothing; a failed transaction
// leaves the group, in memory and in storage, as before the batch.

// btGroup makes a group of eight members, m0 to m7, with cfg; m7
// receives (btReceiver), so that the first messages of m0, m1 and m2
// derive node secrets of the secret tree and consume them again (§9).
func btGroup(t testing.TB, cfg GroupConfig) *gtSim {
	t.Helper()
	s := newGTSim(t, gtSuites[0], cfg)
	s.add(s.members[0], 7, false)
	return s
}

// btReceiver is the member of a btGroup that receives the messages.
func btReceiver(s *gtSim) *gtMember { return s.members[7] }

// btCopy copies the stored group of m into a new store (a memstore behind
// a Faulty, wrapped in hooks if h is not nil) and loads it from there: an
// independent twin of m's group as stored.
func btCopy(t testing.TB, m *gtMember, h *storehook.Hooks) (*Group, *storagetest.Faulty) {
	t.Helper()
	var inner providers.Storage = memstore.New()
	if h != nil {
		inner = storehook.New(inner, *h)
	}
	f := storagetest.NewFaulty(inner)
	src, gid := m.c.Storage, m.g.GroupID()
	v, b, err := src.ReadGroupState(gid)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Update(func(tx providers.Records) error {
		if err := tx.WriteGroupState(gid, v, b); err != nil {
			return err
		}
		for _, e := range gtMust(src.ListEpochs(gid))(t) {
			if err := tx.WriteEpochSecrets(gid, e, gtMust(src.ReadEpochSecrets(gid, e))(t)); err != nil {
				return err
			}
			for _, x := range gtMust(src.ListSecretTreeNodes(gid, e))(t) {
				if err := tx.WriteSecretTreeNode(gid, e, x, gtMust(src.ReadSecretTreeNode(gid, e, x))(t)); err != nil {
					return err
				}
			}
		}
		for _, e := range gtMust(src.ListRatchetTrees(gid))(t) {
			if err := tx.WriteRatchetTree(gid, e, gtMust(src.ReadRatchetTree(gid, e))(t)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := *m.c
	c.Storage = f
	g, err := LoadGroup(&c, gid)
	if err != nil {
		t.Fatalf("loading the copy of %s: %v", m.name, err)
	}
	f.Reset()
	return g, f
}

// btReload loads g again from its store.
func btReload(t testing.TB, g *Group) *Group {
	t.Helper()
	c := Client{Provider: g.provider, Storage: g.store, Signer: g.signer}
	lg, err := LoadGroup(&c, g.GroupID())
	if err != nil {
		t.Fatalf("LoadGroup: %v", err)
	}
	return lg
}

// btOutcome describes a result as a test compares it: kind, sender,
// content, or the error.
func btOutcome(pm *ProcessedMessage, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%v from %d: %q", pm.Kind, pm.Sender.LeafIndex, pm.ApplicationData)
}

// btSequential processes msgs one by one with ProcessMessage.
func btSequential(g *Group, msgs [][]byte) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = btOutcome(g.ProcessMessage(m))
	}
	return out
}

// btBatch processes msgs with ProcessMessages.
func btBatch(t testing.TB, g *Group, msgs [][]byte) ([]string, error) {
	t.Helper()
	res, err := g.ProcessMessages(msgs)
	if len(res) != len(msgs) {
		t.Fatalf("%d results for %d messages", len(res), len(msgs))
	}
	out := make([]string, len(msgs))
	for i, r := range res {
		if (r.Message == nil) == (r.Err == nil) {
			t.Fatalf("result %d: message %v and error %v", i, r.Message != nil, r.Err)
		}
		out[i] = btOutcome(r.Message, r.Err)
	}
	return out, err
}

// btSend has m send n application messages.
func btSend(t testing.TB, m *gtMember, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		msg, err := m.g.SendApplicationMessage(fmt.Appendf(nil, "%s %d", m.name, i), nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, msg)
	}
	return out
}

// btStoredNodes returns the SecretTreeNode records of g's group in s, by
// epoch and node.
func btStoredNodes(t testing.TB, s providers.Records, gid []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range gtMust(s.ListEpochs(gid))(t) {
		for _, x := range gtMust(s.ListSecretTreeNodes(gid, e))(t) {
			out[fmt.Sprintf("%d/%d", e, x)] = string(gtMust(s.ReadSecretTreeNode(gid, e, x))(t))
		}
	}
	return out
}

// btMessages returns a mix of application messages from m0, m1 and m2
// (m7 receives): interleaved, some out of order, with the past epoch's
// messages first if past is set.
func btMessages(t testing.TB, s *gtSim) [][]byte {
	t.Helper()
	a := btSend(t, s.members[0], 3)
	b := btSend(t, s.members[1], 4)
	c := btSend(t, s.members[2], 2)
	return [][]byte{a[0], b[1], b[0], c[0], a[1], b[3], a[2], c[1], b[2]}
}

// TestProcessMessagesEqualsSequential: a batch gives the results, the
// group in memory and the stored records that processing its messages one
// by one gives, in one transaction that writes each changed record once.
func TestProcessMessagesEqualsSequential(t *testing.T) {
	s := btGroup(t, GroupConfig{UseRatchetTreeExtension: true, MaxPastEpochs: 1})
	r := btReceiver(s)
	// Messages of the past epoch, delivered late, and of the current one.
	late := btSend(t, s.members[1], 2)
	commit, err := s.members[0].g.SelfUpdate(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.applyCommit(s.members[0], commit)
	msgs := append(btMessages(t, s), late[1], late[0])

	var txs, nodeOps int
	hooks := &storehook.Hooks{Before: func(o storehook.Op) error {
		switch o.Name {
		case "Commit":
			txs++
		case "WriteSecretTreeNode", "DeleteSecretTreeNode":
			nodeOps++
		}
		return nil
	}}
	gb, fb := btCopy(t, r, hooks)
	gs, fs := btCopy(t, r, nil)
	before := btStoredNodes(t, fb, gb.GroupID())
	txs, nodeOps = 0, 0
	got, err := btBatch(t, gb, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if txs != 1 {
		t.Fatalf("the batch ran %d transactions, want 1", txs)
	}
	want := btSequential(gs, msgs)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d: batch %s, sequential %s", i, got[i], want[i])
		}
		if strings.HasPrefix(want[i], "error") {
			t.Errorf("message %d refused: %s", i, want[i])
		}
	}
	if !snapshotOf(t, gb).equal(snapshotOf(t, gs)) {
		t.Fatal("the group after the batch differs from the group after sequential processing")
	}
	if db, ds := dumpGroup(t, fb, gb.GroupID()), dumpGroup(t, fs, gs.GroupID()); db != ds {
		t.Fatalf("stored records differ:\nbatch\n%s\nsequential\n%s", db, ds)
	}
	if !snapshotOf(t, btReload(t, gb)).equal(snapshotOf(t, gb)) {
		t.Fatal("the group reloaded after the batch differs from the group in memory")
	}
	// One write (or deletion) per record that changed, none for a node
	// secret derived and consumed within the batch.
	after := btStoredNodes(t, fb, gb.GroupID())
	changed := 0
	for k, v := range after {
		if before[k] != v {
			changed++
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			changed++
		}
	}
	if nodeOps != changed {
		t.Fatalf("the batch wrote or deleted %d secret tree records; %d changed", nodeOps, changed)
	}
}

// btBad returns, for the receiver of s, refused messages: a forged one
// (a flipped ciphertext byte), one of an epoch no longer kept, and one of
// another group (a non-member's).
func btBad(t testing.TB, s *gtSim) (forged, oldEpoch, other []byte) {
	t.Helper()
	oldEpoch = btSend(t, s.members[2], 1)[0]
	commit, err := s.members[0].g.SelfUpdate(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.applyCommit(s.members[0], commit)
	forged = bytes.Clone(btSend(t, s.members[1], 1)[0])
	forged[len(forged)-3] ^= 1
	o := newGTSim(t, gtSuites[0], s.cfg)
	other = btSend(t, o.members[0], 1)[0]
	return forged, oldEpoch, other
}

// TestProcessMessagesBadMessages: a forged message, a replay (in the
// batch), a message of an epoch no longer kept and one of another group
// each get their error and change nothing; the others apply, as if the
// bad ones were not there.
func TestProcessMessagesBadMessages(t *testing.T) {
	s := btGroup(t, GroupConfig{UseRatchetTreeExtension: true})
	r := btReceiver(s)
	forged, oldEpoch, other := btBad(t, s)
	good := btMessages(t, s)
	msgs := [][]byte{good[0], good[1], forged, good[2], good[1], oldEpoch, good[3], other, good[4], good[5], good[6], good[7], good[8]}
	bad := map[int]error{2: RuleDecryption, 4: RuleDecryption, 5: RuleWrongEpoch, 7: RuleWrongGroupID}

	gb, fb := btCopy(t, r, nil)
	gs, fs := btCopy(t, r, nil)
	res, err := gb.ProcessMessages(msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range res {
		if rule, ok := bad[i]; ok {
			if x.Err == nil || x.Message != nil {
				t.Fatalf("bad message %d accepted", i)
			}
			if !errors.Is(x.Err, rule) {
				t.Errorf("bad message %d: %v, want %v", i, x.Err, rule)
			}
			continue
		}
		if x.Err != nil {
			t.Fatalf("good message %d: %v", i, x.Err)
		}
	}
	// The twin processes only the good messages.
	for i, m := range msgs {
		if _, ok := bad[i]; ok || i == 4 {
			continue
		}
		if _, err := gs.ProcessMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	if !snapshotOf(t, gb).equal(snapshotOf(t, gs)) {
		t.Fatal("the bad messages changed the group")
	}
	if db, ds := dumpGroup(t, fb, gb.GroupID()), dumpGroup(t, fs, gs.GroupID()); db != ds {
		t.Fatal("the bad messages changed the stored records")
	}
	// The same bad messages alone: no transaction, nothing changed.
	before := snapshotOf(t, gb)
	n := fb.Ops()
	if _, err := gb.ProcessMessages([][]byte{forged, oldEpoch, other}); err != nil {
		t.Fatal(err)
	}
	if fb.Ops() != n {
		t.Fatalf("a batch of refused messages ran %d storage operations", fb.Ops()-n)
	}
	if !snapshotOf(t, gb).equal(before) {
		t.Fatal("a batch of refused messages changed the group")
	}
}

// TestProcessMessagesStorageFailure: whichever operation of the batch's
// transaction fails (each write, the commit), the batch reports the error
// for every message, and the group in memory, its stored records and the
// group reloaded from them (after a crash, say) are as before the batch;
// processing the batch again then gives the results it would have given.
func TestProcessMessagesStorageFailure(t *testing.T) {
	s := btGroup(t, GroupConfig{UseRatchetTreeExtension: true, MaxPastEpochs: 1})
	r := btReceiver(s)
	late := btSend(t, s.members[2], 1)
	commit, err := s.members[0].g.SelfUpdate(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.applyCommit(s.members[0], commit)
	msgs := append(btMessages(t, s), late[0])

	ref, _ := btCopy(t, r, nil)
	want, err := btBatch(t, ref, msgs)
	if err != nil {
		t.Fatal(err)
	}
	gprobe, probe := btCopy(t, r, nil)
	if _, err := gprobe.ProcessMessages(msgs); err != nil {
		t.Fatal(err)
	}
	ops := probe.Ops()
	if ops < 2 {
		t.Fatalf("the batch ran %d storage operations", ops)
	}
	for k := 1; k <= ops; k++ {
		g, f := btCopy(t, r, nil)
		mem, stored := snapshotOf(t, g), dumpGroup(t, f, g.GroupID())
		f.FailAt(k)
		res, err := g.ProcessMessages(msgs)
		f.Reset()
		if !errors.Is(err, storagetest.ErrInjected) {
			t.Fatalf("op %d failing: %v", k, err)
		}
		for i, x := range res {
			if x.Message != nil || !errors.Is(x.Err, storagetest.ErrInjected) {
				t.Fatalf("op %d failing: message %d: %v", k, i, x.Err)
			}
		}
		if !snapshotOf(t, g).equal(mem) {
			t.Fatalf("op %d failing: the group in memory changed", k)
		}
		if dumpGroup(t, f, g.GroupID()) != stored {
			t.Fatalf("op %d failing: the stored records changed", k)
		}
		lg := btReload(t, g)
		if !snapshotOf(t, lg).equal(mem) {
			t.Fatalf("op %d failing: the reloaded group differs from the group before the batch", k)
		}
		// Both the group in memory and the reloaded one process the
		// batch again as if nothing had happened.
		for _, h := range []*Group{g, lg} {
			if h == lg {
				// lg shares f with g, which stored the batch: reload
				// a fresh copy instead.
				h, _ = btCopy(t, r, nil)
			}
			got, err := btBatch(t, h, msgs)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("op %d failing: the retried batch gives\n%s\nwant\n%s", k, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	}
}

// TestProcessMessagesReplayRefused: once a batch is stored, its messages
// are refused (their keys are deleted, §9.2), by the group in memory and
// by the group reloaded from storage, in a batch or alone.
func TestProcessMessagesReplayRefused(t *testing.T) {
	s := btGroup(t, GroupConfig{UseRatchetTreeExtension: true})
	msgs := btMessages(t, s)
	g, _ := btCopy(t, btReceiver(s), nil)
	if _, err := g.ProcessMessages(msgs); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*Group{g, btReload(t, g)} {
		res, err := h.ProcessMessages(msgs)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range res {
			if !errors.Is(x.Err, RuleDecryption) {
				t.Fatalf("replayed message %d: %v", i, x.Err)
			}
		}
		for i, m := range msgs {
			if _, err := h.ProcessMessage(m); err == nil {
				t.Fatalf("replayed message %d accepted alone", i)
			}
		}
	}
}

// TestProcessMessagesStopsAtHandshake: an accepted proposal or Commit
// ends the batch; the messages after it are not processed (nothing is
// consumed) and are accepted once passed again.
func TestProcessMessagesStopsAtHandshake(t *testing.T) {
	s := btGroup(t, GroupConfig{UseRatchetTreeExtension: true})
	r := btReceiver(s)
	app := btMessages(t, s)
	prop, _, err := s.members[1].g.ProposeSelfUpdate(nil)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := btCopy(t, r, nil)
	res, err := g.ProcessMessages([][]byte{app[0], prop, app[1], app[2]})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[1].Err != nil || res[1].Message.Kind != KindProposal {
		t.Fatalf("results %v, %v", res[0].Err, res[1].Err)
	}
	for _, x := range res[2:] {
		if !errors.Is(x.Err, ErrNotProcessed) || x.Message != nil {
			t.Fatalf("a message after the proposal: %v", x.Err)
		}
	}
	if err := g.StoreProposal(res[1].Message.Proposal); err != nil {
		t.Fatal(err)
	}
	commit, err := s.members[0].g.Commit(CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err = g.ProcessMessages([][]byte{app[1], commit.Commit, app[2]})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[1].Err != nil || res[1].Message.Kind != KindCommit || !errors.Is(res[2].Err, ErrNotProcessed) {
		t.Fatalf("results %v, %v, %v", res[0].Err, res[1].Err, res[2].Err)
	}
	// app[2] was not consumed: it is still accepted.
	if pm, err := g.ProcessMessage(app[2]); err != nil || pm.Kind != KindApplication {
		t.Fatalf("the message not processed is refused afterwards: %v", err)
	}
	if err := g.MergeStagedCommit(res[1].Message.Commit); err != nil {
		t.Fatal(err)
	}
}

// TestPropertyProcessMessages: random sequences drawn from the current
// epoch's messages of three senders (any order, repeated) and refused
// messages, cut into random batches, give the results, group and stored
// records that processing them one by one gives.
func TestPropertyProcessMessages(t *testing.T) {
	s := btGroup(t, GroupConfig{UseRatchetTreeExtension: true, MaxPastEpochs: 1})
	r := btReceiver(s)
	forged, oldEpoch, other := btBad(t, s)
	pool := append(btSend(t, s.members[0], 6), btSend(t, s.members[1], 6)...)
	pool = append(pool, btSend(t, s.members[2], 6)...)
	pool = append(pool, forged, oldEpoch, other)

	params := testseed.Gopter(t)
	params.MinSuccessfulTests = 40
	if testing.Short() {
		params.MinSuccessfulTests = 10
	}
	props := gopter.NewProperties(params)
	props.Property("batch equals sequential", prop.ForAll(func(idx []int, cutSeed uint64) string {
		msgs := make([][]byte, len(idx))
		for i, x := range idx {
			msgs[i] = pool[x]
		}
		gb, fb := btCopy(t, r, nil)
		gs, fs := btCopy(t, r, nil)
		want := btSequential(gs, msgs)
		var got []string
		cut := rand.New(rand.NewPCG(cutSeed, 1))
		for rest := msgs; len(rest) > 0; {
			n := 1 + cut.IntN(len(rest))
			out, err := btBatch(t, gb, rest[:n])
			if err != nil {
				return err.Error()
			}
			got = append(got, out...)
			rest = rest[n:]
		}
		for i := range want {
			if got[i] != want[i] {
				return fmt.Sprintf("message %d (pool %d): batch %s, sequential %s", i, idx[i], got[i], want[i])
			}
		}
		if !snapshotOf(t, gb).equal(snapshotOf(t, gs)) {
			return "groups differ"
		}
		if dumpGroup(t, fb, gb.GroupID()) != dumpGroup(t, fs, gs.GroupID()) {
			return "stored records differ"
		}
		return ""
	}, gen.SliceOf(gen.IntRange(0, len(pool)-1)), gen.UInt64()))
	props.TestingRun(t)
}
