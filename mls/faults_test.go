package mls_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// Regression tests of issue 10's findings 1–4 and 10, through the public
// API, each with a store that can fail (apiMember.f, storagetest.Faulty).

// Finding 1: Discard after MergeStagedCommit (a deferred Discard) erased the
// secrets the group then used: an all-zero epoch authenticator and an
// exporter of an all-zero secret.
func TestDiscardAfterMergeIsNoOp(t *testing.T) {
	ms := apiGroup(t, exampleSuite, mls.GroupConfig{UseRatchetTreeExtension: true}, apiNames(3)...)
	a, b, c := ms[0], ms[1], ms[2]
	commit := apiSelfUpdate(t, a, true)
	for _, m := range []*apiMember{b, c} {
		func() {
			sc := apiProcessCommit(t, m, commit)
			defer sc.Discard()
			if err := m.g.MergeStagedCommit(sc); err != nil {
				t.Fatal(err)
			}
		}()
	}
	apiAgree(t, "after merge and Discard", a, b, c)
	apiSend(t, b, a, c)
	apiSend(t, a, b, c)
	// The stored state is the live one, not an erased one.
	g, err := mls.LoadGroup(b.c, b.g.GroupID())
	if err != nil {
		t.Fatal(err)
	}
	if !apiViewOf(t, g).equal(apiViewOf(t, a.g)) {
		t.Fatal("the reloaded group differs from the committer's")
	}
}

// A merged StagedCommit cannot be merged again; a discarded one erased
// its secrets (nil, not zeros).
func TestStagedCommitLifecycle(t *testing.T) {
	ms := apiGroup(t, exampleSuite, mls.GroupConfig{UseRatchetTreeExtension: true}, apiNames(3)...)
	a, b, c := ms[0], ms[1], ms[2]
	commit := apiSelfUpdate(t, a, false)
	sc := apiProcessCommit(t, b, commit)
	if err := b.g.MergeStagedCommit(sc); err != nil {
		t.Fatal(err)
	}
	if err := b.g.MergeStagedCommit(sc); !errors.Is(err, mls.ErrCommitMerged) {
		t.Fatalf("second merge: %v, want ErrCommitMerged", err)
	}
	sc2 := apiProcessCommit(t, c, commit)
	sc2.Discard()
	if got := sc2.EpochAuthenticator(); got != nil {
		t.Fatalf("a discarded commit's epoch authenticator is %x, want nil", got)
	}
	// Discarding a staged commit never touches the group.
	sc3 := apiProcessCommit(t, c, commit)
	if err := c.g.MergeStagedCommit(sc3); err != nil {
		t.Fatal(err)
	}
	sc2.Discard()
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	apiAgree(t, "after merges", a, b, c)
}

// Finding 2: a MergePendingCommit whose write failed left memory in the
// new epoch with the Commit put back as pending; ClearPendingCommit then
// erased the live epoch, and merging the ghost after a restart used a
// generation twice.
func TestFailedMergePendingCommitLeavesNoGhost(t *testing.T) {
	for k := 1; k <= 5; k++ {
		t.Run(fmt.Sprintf("fail op %d", k), func(t *testing.T) {
			ms := apiGroup(t, exampleSuite, mls.GroupConfig{UseRatchetTreeExtension: true, MaxPastEpochs: 1}, apiNames(2)...)
			a, b := ms[0], ms[1]
			apiSelfUpdate(t, a, false)
			before := apiViewOf(t, a.g)
			if _, err := apiFailing(a, k, a.g.MergePendingCommit); !errors.Is(err, storagetest.ErrInjected) {
				t.Fatalf("merge with a failing store: %v", err)
			}
			if v := apiViewOf(t, a.g); !v.equal(before) || !a.g.HasPendingCommit() {
				t.Fatalf("after a failed merge: epoch %d (was %d), pending %v", v.epoch, before.epoch, a.g.HasPendingCommit())
			}
			// Clearing the Commit leaves the live epoch alone.
			if err := a.g.ClearPendingCommit(); err != nil {
				t.Fatal(err)
			}
			if v := apiViewOf(t, a.g); !v.equal(before) {
				t.Fatal("ClearPendingCommit changed the live epoch")
			}
			apiSend(t, a, b)

			// Another Commit whose merge fails; Alice goes on with the
			// group in memory (m0), restarts, merges the stored pending
			// Commit and sends again (m1): Bob accepts both, so no
			// generation was used twice.
			commit := apiSelfUpdate(t, a, false)
			if _, err := apiFailing(a, k, a.g.MergePendingCommit); err == nil {
				t.Fatal("merge with a failing store succeeded")
			}
			m0, err := a.g.SendApplicationMessage([]byte("m0"), nil)
			if err != nil {
				t.Fatal(err)
			}
			a2, err := mls.LoadGroup(a.c, a.g.GroupID())
			if err != nil {
				t.Fatalf("LoadGroup after a failed merge: %v", err)
			}
			if err := a2.MergePendingCommit(); err != nil {
				t.Fatalf("merging the reloaded pending commit: %v", err)
			}
			a.g = a2
			m1, err := a.g.SendApplicationMessage([]byte("m1"), nil)
			if err != nil {
				t.Fatal(err)
			}
			apiMergeCommit(t, b, commit)
			for i, m := range [][]byte{m0, m1} {
				if _, err := b.g.ProcessMessage(m); err != nil {
					t.Fatalf("Bob processing m%d: %v", i, err)
				}
			}
			apiAgree(t, "after the retried merge", a, b)
		})
	}
}

// Finding 3: with MaxPastEpochs >= 1, a failure in one of the first writes
// of a merge left a store that did not load again once the application
// kept using the in-memory group.
func TestFailedMergeKeepsStoreLoadable(t *testing.T) {
	for k := 1; k <= 6; k++ {
		t.Run(fmt.Sprintf("fail op %d", k), func(t *testing.T) {
			ms := apiGroup(t, exampleSuite, mls.GroupConfig{UseRatchetTreeExtension: true, MaxPastEpochs: 1}, apiNames(3)...)
			a, b, c := ms[0], ms[1], ms[2]
			commit := apiSelfUpdate(t, a, true)
			sc := apiProcessCommit(t, b, commit)
			if failed, _ := apiFailing(b, k, func() error { return b.g.MergeStagedCommit(sc) }); len(failed) == 0 {
				t.Skipf("the merge has fewer than %d storage operations", k)
			}
			// Bob keeps using the group: it sends, and stores a proposal.
			apiSend(t, b, c)
			if _, _, err := b.g.ProposeRemove(c.g.OwnLeafIndex()); err != nil {
				t.Fatal(err)
			}
			g, err := mls.LoadGroup(b.c, b.g.GroupID())
			if err != nil {
				t.Fatalf("LoadGroup after a failed merge: %v", err)
			}
			if v, w := apiViewOf(t, g), apiViewOf(t, b.g); !v.equal(w) {
				t.Fatalf("loaded epoch %d, in memory %d", v.epoch, w.epoch)
			}
			// It can still reach Alice's epoch, from memory or storage.
			b.g = g
			if err := b.g.ClearPendingProposals(); err != nil {
				t.Fatal(err)
			}
			apiMergeCommit(t, b, commit)
			apiAgree(t, "after the retried merge", a, b)
			apiSend(t, a, b)
		})
	}
}

// Finding 4: an encrypted Commit's handshake key was consumed (and stored)
// when it was processed, so a crash, a failed merge or a dropped
// StagedCommit forced a rejoin; a failed write while processing an
// application message lost that message.
func TestEncryptedCommitProcessableUntilMerged(t *testing.T) {
	ms := apiGroup(t, exampleSuite, mls.GroupConfig{UseRatchetTreeExtension: true}, apiNames(3)...)
	a, b, c := ms[0], ms[1], ms[2]
	commit := apiSelfUpdate(t, a, true)
	// Dropped StagedCommit, then a restart: processed again.
	apiProcessCommit(t, b, commit).Discard()
	apiReload(t, b)
	sc := apiProcessCommit(t, b, commit)
	// A failed merge: processed again in memory, and after a restart.
	if _, err := apiFailing(b, 1, func() error { return b.g.MergeStagedCommit(sc) }); err == nil {
		t.Fatal("merge with a failing store succeeded")
	}
	apiProcessCommit(t, b, commit).Discard()
	apiReload(t, b)
	apiMergeCommit(t, b, commit)
	apiMergeCommit(t, c, commit)
	apiAgree(t, "after the merges", a, b, c)
	// Once merged, the Commit is not accepted again.
	if _, err := b.g.ProcessMessage(commit); err == nil {
		t.Fatal("a merged commit was processed again")
	}

	// An application message whose generation cannot be stored is not
	// lost: it is refused, and accepted when the store works again.
	msg, err := a.g.SendApplicationMessage([]byte("kept"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apiFailing(b, 1, func() error { _, err := b.g.ProcessMessage(msg); return err }); !errors.Is(err, storagetest.ErrInjected) {
		t.Fatalf("processing with a failing store: %v", err)
	}
	pm, err := b.g.ProcessMessage(msg)
	if err != nil || string(pm.ApplicationData) != "kept" {
		t.Fatalf("processing again: %v", err)
	}
	// And only once.
	if _, err := b.g.ProcessMessage(msg); !errors.Is(err, mls.RuleDecryption) {
		t.Fatalf("replay: %v, want RuleDecryption", err)
	}
	apiReload(t, b)
	if _, err := b.g.ProcessMessage(msg); !errors.Is(err, mls.RuleDecryption) {
		t.Fatalf("replay after reload: %v, want RuleDecryption", err)
	}
}

// Finding 10 (first half): an authenticated but invalid PrivateMessage kept
// its key, so it could be replayed and validated again forever. Its
// generation is now consumed, in storage too.
func TestRejectedPrivateMessageBurnsGeneration(t *testing.T) {
	ms := apiGroup(t, exampleSuite, mls.GroupConfig{UseRatchetTreeExtension: true}, apiNames(3)...)
	a, b, c := ms[0], ms[1], ms[2]
	// Carol's clock is years ahead: the key package in Bob's Add proposal
	// has expired for her (a rule violation, after decryption and
	// signature verification).
	c.c.Now = func() time.Time { return time.Now().Add(20 * 365 * 24 * time.Hour) }
	if c.g, _ = mls.LoadGroup(c.c, c.g.GroupID()); c.g == nil {
		t.Fatal("reloading Carol")
	}
	d := apiNewMember(t, exampleSuite, "d")
	prop, _, err := b.g.ProposeAdd(d.kp)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.g.ProcessMessage(prop)
	var ve *mls.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Carol: %v, want a validation error", err)
	}
	if _, err := c.g.ProcessMessage(prop); !errors.Is(err, mls.RuleDecryption) {
		t.Fatalf("replayed invalid proposal: %v, want RuleDecryption (generation used)", err)
	}
	g, err := mls.LoadGroup(c.c, c.g.GroupID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.ProcessMessage(prop); !errors.Is(err, mls.RuleDecryption) {
		t.Fatalf("replayed invalid proposal after reload: %v, want RuleDecryption", err)
	}
	// The group goes on.
	apiSend(t, b, a, c)
}

// TestMergeFaultMatrix fails, for every k, the k-th storage operation of a
// merge — our pending Commit, a received Commit, an external join — for
// both wire formats and MaxPastEpochs 0 and 1. After each failure: the
// merge reports the error and the group is unchanged (epoch, epoch
// authenticator, exporter, pending Commit); LoadGroup gives that same
// epoch and goes on to the epoch the others are in; a retry succeeds; and
// no generation is used twice (a reloaded member's next message is
// accepted next to the in-memory group's, and replays are refused).
//
// The matrix must reach every write a merge makes, among them the pruning
// of the secret tree of an epoch no longer kept (DeleteSecretTree): the
// operations failed are tallied and checked.
func TestMergeFaultMatrix(t *testing.T) {
	total := 0
	failedOps := map[string]int{}
	for _, kind := range []string{"own", "received", "external"} {
		for _, wf := range []mls.WireFormatPolicy{mls.PureCiphertext(), mls.PurePlaintext()} {
			for _, mpe := range []int{0, 1} {
				cfg := mls.GroupConfig{WireFormatPolicy: wf, MaxPastEpochs: mpe, UseRatchetTreeExtension: true}
				name := fmt.Sprintf("%s/ciphertext=%v/past=%d", kind, wf == mls.PureCiphertext(), mpe)
				t.Run(name, func(t *testing.T) {
					for k := 1; ; k++ {
						if k > 200 {
							t.Fatal("a merge of more than 200 storage operations")
						}
						if !apiFaultCase(t, kind, cfg, k, failedOps) {
							t.Logf("%d storage operations, each failed once", k-1)
							total += k - 1
							return
						}
					}
				})
			}
		}
	}
	t.Logf("fault matrix: %d failed operations: %v", total, failedOps)
	for _, op := range []string{"WriteGroupState", "WriteEpochSecrets", "DeleteEpochSecrets", "WriteRatchetTree", "DeleteRatchetTree", "WriteSecretTreeNode", "DeleteSecretTreeNode", "DeleteSecretTree", "Commit"} {
		if failedOps[op] == 0 {
			t.Errorf("no merge of the matrix failed at %s", op)
		}
	}
}

// apiFaultCase runs one case of the matrix; it returns false when the merge
// has fewer than k storage operations (it then succeeded). The operation
// failed is counted in failedOps.
func apiFaultCase(t *testing.T, kind string, cfg mls.GroupConfig, k int, failedOps map[string]int) bool {
	t.Helper()
	ms := apiGroup(t, exampleSuite, cfg, apiNames(3)...)
	a, b, c := ms[0], ms[1], ms[2]
	apiSend(t, a, b, c)
	var actor *apiMember
	var merge func() error
	var commit []byte
	var others []*apiMember
	switch kind {
	case "own":
		commit = apiSelfUpdate(t, a, false)
		actor, others = a, []*apiMember{b, c}
		merge = a.g.MergePendingCommit
	case "received":
		commit = apiSelfUpdate(t, a, true)
		sc := apiProcessCommit(t, b, commit)
		actor, others = b, []*apiMember{c}
		merge = func() error { return b.g.MergeStagedCommit(sc) }
	case "external":
		d := apiNewMember(t, exampleSuite, "d")
		gi, err := a.g.GroupInfo(true)
		if err != nil {
			t.Fatal(err)
		}
		actor, others = d, []*apiMember{a, b, c}
		merge = func() error {
			g, msg, err := mls.JoinByExternalCommit(d.c, gi, nil, cfg, nil)
			if err == nil {
				d.g, commit = g, msg
			}
			return err
		}
	}
	var before apiView
	pending := false
	if actor.g != nil {
		before, pending = apiViewOf(t, actor.g), actor.g.HasPendingCommit()
	}
	failed, err := apiFailing(actor, k, merge)
	if len(failed) == 0 {
		if err != nil {
			t.Fatalf("op %d: %v without an injected fault", k, err)
		}
		return false
	}
	if !errors.Is(err, storagetest.ErrInjected) {
		t.Fatalf("op %d (%s): merge returned %v", k, failed[0].Name, err)
	}
	failedOps[failed[0].Name]++
	step := fmt.Sprintf("op %d (%s)", k, failed[0].Name)
	if actor.g != nil {
		if v := apiViewOf(t, actor.g); !v.equal(before) || actor.g.HasPendingCommit() != pending {
			t.Fatalf("%s: the group changed: epoch %d (was %d), pending %v (was %v)", step, v.epoch, before.epoch, actor.g.HasPendingCommit(), pending)
		}
	}
	// The store holds the old state: load it and take it to the others'
	// epoch.
	loaded, lerr := mls.LoadGroup(actor.c, others[0].g.GroupID())
	switch kind {
	case "external":
		if lerr == nil {
			t.Fatalf("%s: a failed external join stored a group", step)
		}
	default:
		if lerr != nil {
			t.Fatalf("%s: LoadGroup: %v", step, lerr)
		}
		if v := apiViewOf(t, loaded); !v.equal(before) || loaded.HasPendingCommit() != pending {
			t.Fatalf("%s: loaded epoch %d, want %d", step, v.epoch, before.epoch)
		}
	}
	// Retry.
	if err := merge(); err != nil {
		t.Fatalf("%s: retried merge: %v", step, err)
	}
	for _, m := range others {
		if err := m.g.MergeStagedCommit(apiProcessCommit(t, m, commit)); err != nil {
			t.Fatalf("%s: %s merging: %v", step, m.name, err)
		}
	}
	apiAgree(t, step+": after the retry", append([]*apiMember{actor}, others...)...)
	// The loaded copy reaches the same epoch.
	switch kind {
	case "own":
		if err := loaded.MergePendingCommit(); err != nil {
			t.Fatalf("%s: merging the loaded pending commit: %v", step, err)
		}
	case "received":
		pm, err := loaded.ProcessMessage(commit)
		if err != nil {
			t.Fatalf("%s: the loaded group processing the commit: %v", step, err)
		}
		if err := loaded.MergeStagedCommit(pm.Commit); err != nil {
			t.Fatalf("%s: the loaded group merging: %v", step, err)
		}
	}
	if loaded != nil {
		if v, w := apiViewOf(t, loaded), apiViewOf(t, actor.g); !v.equal(w) {
			t.Fatalf("%s: the loaded group reached epoch %d, the others %d", step, v.epoch, w.epoch)
		}
	}
	// No generation twice: the actor sends (m1), restarts from storage
	// and sends again (m2); the others accept both, once each.
	m1, err := actor.g.SendApplicationMessage([]byte("m1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if actor.g, err = mls.LoadGroup(actor.c, actor.g.GroupID()); err != nil {
		t.Fatalf("%s: LoadGroup after the retry: %v", step, err)
	}
	m2, err := actor.g.SendApplicationMessage([]byte("m2"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range others {
		for i, msg := range [][]byte{m1, m2} {
			if _, err := m.g.ProcessMessage(msg); err != nil {
				t.Fatalf("%s: %s processing m%d: %v", step, m.name, i+1, err)
			}
			if _, err := m.g.ProcessMessage(msg); !errors.Is(err, mls.RuleDecryption) {
				t.Fatalf("%s: %s replayed m%d: %v, want RuleDecryption", step, m.name, i+1, err)
			}
		}
	}
	return true
}
