package mls_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// Regression tests of issue 10's findings 1–4 and 10, through the public
// API, each with a store that can fail (storagetest.Faulty).

// ftMember is a member whose storage can be made to fail.
type ftMember struct {
	name string
	c    *mls.Client
	f    *storagetest.Faulty
	kp   *codec.KeyPackage
	g    *mls.Group
}

func ftNewMember(t testing.TB, name string) *ftMember {
	t.Helper()
	p := defaultcrypto.New()
	signer, err := mls.GenerateSignatureKeyPair(p, exampleSuite)
	if err != nil {
		t.Fatal(err)
	}
	f := storagetest.NewFaulty(memstore.New())
	c := &mls.Client{Provider: p, Storage: f, Signer: signer, Credential: mls.NewBasicCredential([]byte(name))}
	b := &mls.KeyPackageBuilder{Provider: p, CipherSuite: exampleSuite, Credential: c.Credential, Signer: signer}
	kb, err := b.BuildAndStore(c.Storage)
	if err != nil {
		t.Fatal(err)
	}
	return &ftMember{name: name, c: c, f: f, kp: &kb.KeyPackage}
}

// ftGroup makes a group of n members with cfg: the first adds the others in
// one Commit, they join from its Welcome.
func ftGroup(t testing.TB, cfg mls.GroupConfig, n int) []*ftMember {
	t.Helper()
	cfg.UseRatchetTreeExtension = true
	ms := make([]*ftMember, n)
	for i := range ms {
		ms[i] = ftNewMember(t, fmt.Sprintf("m%d", i))
	}
	var err error
	if ms[0].g, err = mls.NewGroup(ms[0].c, exampleSuite, cfg, nil); err != nil {
		t.Fatal(err)
	}
	if n == 1 {
		return ms
	}
	kps := make([]*codec.KeyPackage, 0, n-1)
	for _, m := range ms[1:] {
		kps = append(kps, m.kp)
	}
	res, err := ms[0].g.AddMembers(kps...)
	if err != nil {
		t.Fatal(err)
	}
	if err := ms[0].g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[1:] {
		if m.g, err = mls.JoinFromWelcome(m.c, res.Welcome, nil, cfg); err != nil {
			t.Fatal(err)
		}
	}
	return ms
}

// ftView is what a group shows of its epoch.
type ftView struct {
	epoch  uint64
	auth   []byte
	export []byte
}

func ftViewOf(t testing.TB, g *mls.Group) ftView {
	t.Helper()
	exp, err := g.Export("ft", nil, 32)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return ftView{epoch: g.Epoch(), auth: g.EpochAuthenticator(), export: exp}
}

func (v ftView) equal(o ftView) bool {
	return v.epoch == o.epoch && bytes.Equal(v.auth, o.auth) && bytes.Equal(v.export, o.export)
}

func ftAgree(t testing.TB, step string, ms ...*ftMember) {
	t.Helper()
	ref := ftViewOf(t, ms[0].g)
	if bytes.Equal(ref.auth, make([]byte, len(ref.auth))) {
		t.Fatalf("%s: %s's epoch authenticator is all zeros", step, ms[0].name)
	}
	for _, m := range ms[1:] {
		if v := ftViewOf(t, m.g); !v.equal(ref) {
			t.Fatalf("%s: %s (epoch %d) and %s (epoch %d) disagree", step, m.name, v.epoch, ms[0].name, ref.epoch)
		}
	}
}

// ftSend sends an application message from a to every other member, who must
// decrypt it.
func ftSend(t testing.TB, from *ftMember, to ...*ftMember) {
	t.Helper()
	msg, err := from.g.SendApplicationMessage([]byte("hello from "+from.name), nil)
	if err != nil {
		t.Fatalf("%s sending: %v", from.name, err)
	}
	for _, m := range to {
		pm, err := m.g.ProcessMessage(msg)
		if err != nil {
			t.Fatalf("%s receiving from %s: %v", m.name, from.name, err)
		}
		if pm.Kind != mls.KindApplication || string(pm.ApplicationData) != "hello from "+from.name {
			t.Fatalf("%s received %v %q", m.name, pm.Kind, pm.ApplicationData)
		}
	}
}

func ftProcessCommit(t testing.TB, m *ftMember, msg []byte) *mls.StagedCommit {
	t.Helper()
	pm, err := m.g.ProcessMessage(msg)
	if err != nil {
		t.Fatalf("%s processing a commit: %v", m.name, err)
	}
	if pm.Kind != mls.KindCommit {
		t.Fatalf("%s: %v, want a commit", m.name, pm.Kind)
	}
	return pm.Commit
}

// Finding 1: Discard after MergeStagedCommit (a deferred Discard) erased the
// secrets the group then used: an all-zero epoch authenticator and an
// exporter of an all-zero secret.
func TestDiscardAfterMergeIsNoOp(t *testing.T) {
	ms := ftGroup(t, mls.GroupConfig{}, 3)
	a, b, c := ms[0], ms[1], ms[2]
	res, err := a.g.SelfUpdate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*ftMember{b, c} {
		func() {
			sc := ftProcessCommit(t, m, res.Commit)
			defer sc.Discard()
			if err := m.g.MergeStagedCommit(sc); err != nil {
				t.Fatal(err)
			}
		}()
	}
	ftAgree(t, "after merge and Discard", a, b, c)
	ftSend(t, b, a, c)
	ftSend(t, a, b, c)
	// The stored state is the live one, not an erased one.
	g, err := mls.LoadGroup(b.c, b.g.GroupID())
	if err != nil {
		t.Fatal(err)
	}
	if !ftViewOf(t, g).equal(ftViewOf(t, a.g)) {
		t.Fatal("the reloaded group differs from the committer's")
	}
}

// A merged StagedCommit cannot be merged again; a discarded one erased
// its secrets (nil, not zeros).
func TestStagedCommitLifecycle(t *testing.T) {
	ms := ftGroup(t, mls.GroupConfig{}, 3)
	a, b, c := ms[0], ms[1], ms[2]
	res, err := a.g.SelfUpdate(nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := ftProcessCommit(t, b, res.Commit)
	if err := b.g.MergeStagedCommit(sc); err != nil {
		t.Fatal(err)
	}
	if err := b.g.MergeStagedCommit(sc); !errors.Is(err, mls.ErrCommitMerged) {
		t.Fatalf("second merge: %v, want ErrCommitMerged", err)
	}
	sc2 := ftProcessCommit(t, c, res.Commit)
	sc2.Discard()
	if got := sc2.EpochAuthenticator(); got != nil {
		t.Fatalf("a discarded commit's epoch authenticator is %x, want nil", got)
	}
	// Discarding a staged commit never touches the group.
	sc3 := ftProcessCommit(t, c, res.Commit)
	if err := c.g.MergeStagedCommit(sc3); err != nil {
		t.Fatal(err)
	}
	sc2.Discard()
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	ftAgree(t, "after merges", a, b, c)
}

// Finding 2: a MergePendingCommit whose write failed left memory in the
// new epoch with the Commit put back as pending; ClearPendingCommit then
// erased the live epoch, and merging the ghost after a restart used a
// generation twice.
func TestFailedMergePendingCommitLeavesNoGhost(t *testing.T) {
	for k := 1; k <= 5; k++ {
		t.Run(fmt.Sprintf("fail op %d", k), func(t *testing.T) {
			ms := ftGroup(t, mls.GroupConfig{MaxPastEpochs: 1}, 2)
			a, b := ms[0], ms[1]
			if _, err := a.g.SelfUpdate(nil); err != nil {
				t.Fatal(err)
			}
			before := ftViewOf(t, a.g)
			a.f.FailAt(k)
			if err := a.g.MergePendingCommit(); !errors.Is(err, storagetest.ErrInjected) {
				t.Fatalf("merge with a failing store: %v", err)
			}
			a.f.Reset()
			if v := ftViewOf(t, a.g); !v.equal(before) || !a.g.HasPendingCommit() {
				t.Fatalf("after a failed merge: epoch %d (was %d), pending %v", v.epoch, before.epoch, a.g.HasPendingCommit())
			}
			// Clearing the Commit leaves the live epoch alone.
			if err := a.g.ClearPendingCommit(); err != nil {
				t.Fatal(err)
			}
			if v := ftViewOf(t, a.g); !v.equal(before) {
				t.Fatal("ClearPendingCommit changed the live epoch")
			}
			ftSend(t, a, b)

			// Another Commit whose merge fails; Alice goes on with the
			// group in memory (m0), restarts, merges the stored pending
			// Commit and sends again (m1): Bob accepts both, so no
			// generation was used twice.
			res, err := a.g.SelfUpdate(nil)
			if err != nil {
				t.Fatal(err)
			}
			a.f.FailAt(k)
			if err := a.g.MergePendingCommit(); err == nil {
				t.Fatal("merge with a failing store succeeded")
			}
			a.f.Reset()
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
			if err := b.g.MergeStagedCommit(ftProcessCommit(t, b, res.Commit)); err != nil {
				t.Fatal(err)
			}
			for i, m := range [][]byte{m0, m1} {
				if _, err := b.g.ProcessMessage(m); err != nil {
					t.Fatalf("Bob processing m%d: %v", i, err)
				}
			}
			ftAgree(t, "after the retried merge", a, b)
		})
	}
}

// Finding 3: with MaxPastEpochs >= 1, a failure in one of the first writes
// of a merge left a store that did not load again once the application
// kept using the in-memory group.
func TestFailedMergeKeepsStoreLoadable(t *testing.T) {
	for k := 1; k <= 6; k++ {
		t.Run(fmt.Sprintf("fail op %d", k), func(t *testing.T) {
			ms := ftGroup(t, mls.GroupConfig{MaxPastEpochs: 1}, 3)
			a, b, c := ms[0], ms[1], ms[2]
			res, err := a.g.SelfUpdate(nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.g.MergePendingCommit(); err != nil {
				t.Fatal(err)
			}
			sc := ftProcessCommit(t, b, res.Commit)
			b.f.FailAt(k)
			err = b.g.MergeStagedCommit(sc)
			b.f.Reset()
			if err == nil {
				t.Skipf("the merge has fewer than %d storage operations", k)
			}
			// Bob keeps using the group: it sends, and stores a proposal.
			ftSend(t, b, c)
			if _, _, err := b.g.ProposeRemove(c.g.OwnLeafIndex()); err != nil {
				t.Fatal(err)
			}
			g, err := mls.LoadGroup(b.c, b.g.GroupID())
			if err != nil {
				t.Fatalf("LoadGroup after a failed merge: %v", err)
			}
			if v, w := ftViewOf(t, g), ftViewOf(t, b.g); !v.equal(w) {
				t.Fatalf("loaded epoch %d, in memory %d", v.epoch, w.epoch)
			}
			// It can still reach Alice's epoch, from memory or storage.
			b.g = g
			if err := b.g.ClearPendingProposals(); err != nil {
				t.Fatal(err)
			}
			if err := b.g.MergeStagedCommit(ftProcessCommit(t, b, res.Commit)); err != nil {
				t.Fatal(err)
			}
			ftAgree(t, "after the retried merge", a, b)
			ftSend(t, a, b)
		})
	}
}

// Finding 4: an encrypted Commit's handshake key was consumed (and stored)
// when it was processed, so a crash, a failed merge or a dropped
// StagedCommit forced a rejoin; a failed write while processing an
// application message lost that message.
func TestEncryptedCommitProcessableUntilMerged(t *testing.T) {
	ms := ftGroup(t, mls.GroupConfig{}, 3)
	a, b, c := ms[0], ms[1], ms[2]
	res, err := a.g.SelfUpdate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	// Dropped StagedCommit, then a restart: processed again.
	ftProcessCommit(t, b, res.Commit).Discard()
	if b.g, err = mls.LoadGroup(b.c, b.g.GroupID()); err != nil {
		t.Fatal(err)
	}
	sc := ftProcessCommit(t, b, res.Commit)
	// A failed merge: processed again in memory, and after a restart.
	b.f.FailAt(1)
	if err := b.g.MergeStagedCommit(sc); err == nil {
		t.Fatal("merge with a failing store succeeded")
	}
	b.f.Reset()
	ftProcessCommit(t, b, res.Commit).Discard()
	if b.g, err = mls.LoadGroup(b.c, b.g.GroupID()); err != nil {
		t.Fatal(err)
	}
	if err := b.g.MergeStagedCommit(ftProcessCommit(t, b, res.Commit)); err != nil {
		t.Fatal(err)
	}
	if err := c.g.MergeStagedCommit(ftProcessCommit(t, c, res.Commit)); err != nil {
		t.Fatal(err)
	}
	ftAgree(t, "after the merges", a, b, c)
	// Once merged, the Commit is not accepted again.
	if _, err := b.g.ProcessMessage(res.Commit); err == nil {
		t.Fatal("a merged commit was processed again")
	}

	// An application message whose generation cannot be stored is not
	// lost: it is refused, and accepted when the store works again.
	msg, err := a.g.SendApplicationMessage([]byte("kept"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b.f.FailAt(1)
	if _, err := b.g.ProcessMessage(msg); !errors.Is(err, storagetest.ErrInjected) {
		t.Fatalf("processing with a failing store: %v", err)
	}
	b.f.Reset()
	pm, err := b.g.ProcessMessage(msg)
	if err != nil || string(pm.ApplicationData) != "kept" {
		t.Fatalf("processing again: %v", err)
	}
	// And only once.
	if _, err := b.g.ProcessMessage(msg); !errors.Is(err, mls.RuleDecryption) {
		t.Fatalf("replay: %v, want RuleDecryption", err)
	}
	if b.g, err = mls.LoadGroup(b.c, b.g.GroupID()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.g.ProcessMessage(msg); !errors.Is(err, mls.RuleDecryption) {
		t.Fatalf("replay after reload: %v, want RuleDecryption", err)
	}
}

// Finding 10 (first half): an authenticated but invalid PrivateMessage kept
// its key, so it could be replayed and validated again forever. Its
// generation is now consumed, in storage too.
func TestRejectedPrivateMessageBurnsGeneration(t *testing.T) {
	ms := ftGroup(t, mls.GroupConfig{}, 3)
	a, b, c := ms[0], ms[1], ms[2]
	// Carol's clock is years ahead: the key package in Bob's Add proposal
	// has expired for her (a rule violation, after decryption and
	// signature verification).
	c.c.Now = func() time.Time { return time.Now().Add(20 * 365 * 24 * time.Hour) }
	if c.g, _ = mls.LoadGroup(c.c, c.g.GroupID()); c.g == nil {
		t.Fatal("reloading Carol")
	}
	d := ftNewMember(t, "d")
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
	ftSend(t, b, a, c)
}

// TestMergeFaultMatrix fails, for every k, the k-th storage operation of a
// merge — our pending Commit, a received Commit, an external join — for
// both wire formats and MaxPastEpochs 0 and 1. After each failure: the
// merge reports the error and the group is unchanged (epoch, epoch
// authenticator, exporter, pending Commit); LoadGroup gives that same
// epoch and goes on to the epoch the others are in; a retry succeeds; and
// no generation is used twice (a reloaded member's next message is
// accepted next to the in-memory group's, and replays are refused).
func TestMergeFaultMatrix(t *testing.T) {
	total := 0
	for _, kind := range []string{"own", "received", "external"} {
		for _, wf := range []mls.WireFormatPolicy{mls.PureCiphertext(), mls.PurePlaintext()} {
			for _, mpe := range []int{0, 1} {
				cfg := mls.GroupConfig{WireFormatPolicy: wf, MaxPastEpochs: mpe}
				name := fmt.Sprintf("%s/ciphertext=%v/past=%d", kind, wf == mls.PureCiphertext(), mpe)
				t.Run(name, func(t *testing.T) {
					for k := 1; ; k++ {
						if k > 200 {
							t.Fatal("a merge of more than 200 storage operations")
						}
						if !ftFaultCase(t, kind, cfg, k) {
							t.Logf("%d storage operations, each failed once", k-1)
							total += k - 1
							return
						}
					}
				})
			}
		}
	}
	t.Logf("fault matrix: %d failed operations", total)
}

// ftFaultCase runs one case of the matrix; it returns false when the merge
// has fewer than k storage operations (it then succeeded).
func ftFaultCase(t *testing.T, kind string, cfg mls.GroupConfig, k int) bool {
	t.Helper()
	ms := ftGroup(t, cfg, 3)
	a, b, c := ms[0], ms[1], ms[2]
	ftSend(t, a, b, c)
	var actor *ftMember
	var merge func() error
	var commit []byte
	var others []*ftMember
	switch kind {
	case "own":
		res, err := a.g.SelfUpdate(nil)
		if err != nil {
			t.Fatal(err)
		}
		actor, commit, others = a, res.Commit, []*ftMember{b, c}
		merge = a.g.MergePendingCommit
	case "received":
		res, err := a.g.SelfUpdate(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.g.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		sc := ftProcessCommit(t, b, res.Commit)
		actor, commit, others = b, res.Commit, []*ftMember{c}
		merge = func() error { return b.g.MergeStagedCommit(sc) }
	case "external":
		d := ftNewMember(t, "d")
		gi, err := a.g.GroupInfo(true)
		if err != nil {
			t.Fatal(err)
		}
		actor, others = d, []*ftMember{a, b, c}
		merge = func() error {
			g, msg, err := mls.JoinByExternalCommit(d.c, gi, nil, cfg, nil)
			if err == nil {
				d.g, commit = g, msg
			}
			return err
		}
	}
	var before ftView
	pending := false
	if actor.g != nil {
		before, pending = ftViewOf(t, actor.g), actor.g.HasPendingCommit()
	}
	actor.f.FailAt(k)
	err := merge()
	failed := actor.f.Failed()
	actor.f.Reset()
	if len(failed) == 0 {
		if err != nil {
			t.Fatalf("op %d: %v without an injected fault", k, err)
		}
		return false
	}
	if !errors.Is(err, storagetest.ErrInjected) {
		t.Fatalf("op %d (%s): merge returned %v", k, failed[0].Name, err)
	}
	step := fmt.Sprintf("op %d (%s)", k, failed[0].Name)
	if actor.g != nil {
		if v := ftViewOf(t, actor.g); !v.equal(before) || actor.g.HasPendingCommit() != pending {
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
		if v := ftViewOf(t, loaded); !v.equal(before) || loaded.HasPendingCommit() != pending {
			t.Fatalf("%s: loaded epoch %d, want %d", step, v.epoch, before.epoch)
		}
	}
	// Retry.
	if err := merge(); err != nil {
		t.Fatalf("%s: retried merge: %v", step, err)
	}
	{
		for _, m := range others {
			if err := m.g.MergeStagedCommit(ftProcessCommit(t, m, commit)); err != nil {
				t.Fatalf("%s: %s merging: %v", step, m.name, err)
			}
		}
	}
	ftAgree(t, step+": after the retry", append([]*ftMember{actor}, others...)...)
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
		if v, w := ftViewOf(t, loaded), ftViewOf(t, actor.g); !v.equal(w) {
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
