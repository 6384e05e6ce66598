package fuzz

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

// livePublicGroup is a Delivery Service's PublicGroup of a three-member
// group (alice, bob, carol) with one of bob's proposals in its store, and
// messages of the current epoch it has not processed: proposals and
// Commits of the members, an external joiner's Commit, and messages a
// PublicGroup refuses (an application PrivateMessage, a GroupInfo, a
// KeyPackage).
type livePublicGroup struct {
	pg    *mls.PublicGroup
	store providers.Storage
	// seeds are the messages; accepted counts those ProcessMessage
	// accepts (the first ones).
	seeds    [][]byte
	accepted int
}

func newLivePublicGroup(t testing.TB) *livePublicGroup {
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true, WireFormatPolicy: mls.MixedPlaintext()}
	alice, _ := newClient(t, "alice")
	bob, bobKP := newClient(t, "bob")
	_, carolKP := newClient(t, "carol")
	_, daveKP := newClient(t, "dave")
	ga := must[*mls.Group](t)(mls.NewGroup(alice, groupSuite, cfg, nil))
	res := must[*mls.CommitResult](t)(ga.AddMembers(bobKP, carolKP))
	if err := ga.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	gb := must[*mls.Group](t)(mls.JoinFromWelcome(bob, res.Welcome, nil, cfg))

	ds := &mls.Client{Provider: defaultcrypto.New(), Storage: memstore.New()}
	gi := must[[]byte](t)(ga.GroupInfo(true))
	pg := must[*mls.PublicGroup](t)(mls.NewPublicGroup(ds, gi, nil, mls.PublicGroupConfig{}))

	// bob proposes to remove carol: the DS and alice store it, and alice
	// commits it by reference.
	remove, _, err := gb.ProposeRemove(2)
	if err != nil {
		t.Fatal(err)
	}
	for _, store := range []func([]byte) error{
		func(m []byte) error {
			pm, err := pg.ProcessMessage(m)
			if err != nil {
				return err
			}
			return pg.StoreProposal(pm.Proposal)
		},
		func(m []byte) error {
			pm, err := ga.ProcessMessage(m)
			if err != nil {
				return err
			}
			return ga.StoreProposal(pm.Proposal)
		},
	} {
		if err := store(remove); err != nil {
			t.Fatal(err)
		}
	}
	byRef := must[*mls.CommitResult](t)(ga.Commit(mls.CommitOptions{}))
	add, _, err := gb.ProposeAdd(daveKP)
	if err != nil {
		t.Fatal(err)
	}
	update, _, err := gb.ProposeSelfUpdate(nil)
	if err != nil {
		t.Fatal(err)
	}
	withPath := must[*mls.CommitResult](t)(gb.Commit(mls.CommitOptions{ForcePath: true, ExcludePending: true}))
	erin, _ := newClient(t, "erin")
	_, external, err := mls.JoinByExternalCommit(erin, gi, nil, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	app := must[[]byte](t)(gb.SendApplicationMessage([]byte("hello"), nil))
	kp := must[[]byte](t)((&codec.MLSMessage{WireFormat: codec.WireFormatMLSKeyPackage, KeyPackage: daveKP}).Marshal())
	accepted := [][]byte{remove, add, update, byRef.Commit, withPath.Commit, external}
	return &livePublicGroup{
		pg:       pg,
		store:    ds.Storage,
		seeds:    append(accepted, app, gi, kp),
		accepted: len(accepted),
	}
}

// snapshot is the PublicGroup as its methods show it and as it is stored,
// byte for byte: the GroupContext, ratchet tree, transcript, proposal
// store, and every record of the group.
func (l *livePublicGroup) snapshot(t testing.TB) string {
	t.Helper()
	var b bytes.Buffer
	pg := l.pg
	ctx := pg.GroupContext()
	fmt.Fprintf(&b, "context %x\n", must[[]byte](t)(ctx.Marshal()))
	tree := pg.RatchetTree()
	fmt.Fprintf(&b, "tree %x\n", must[[]byte](t)(tree.Marshal()))
	fmt.Fprintf(&b, "tag %x interim %x active %v\n", pg.ConfirmationTag(), pg.InterimTranscriptHash(), pg.Active())
	for _, q := range pg.PendingProposals() {
		fmt.Fprintf(&b, "proposal %x epoch %d sender %v\n", q.Ref, q.Epoch, q.Sender)
	}
	id := pg.GroupID()
	v, st, err := l.store.ReadGroupState(id)
	if err != nil {
		t.Fatalf("reading the stored group: %v", err)
	}
	fmt.Fprintf(&b, "record v%d %x\n", v, st)
	trees, err := l.store.ListRatchetTrees(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range trees {
		fmt.Fprintf(&b, "tree record %d %x\n", e, must[[]byte](t)(l.store.ReadRatchetTree(id, e)))
	}
	epochs, err := l.store.ListEpochs(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range epochs {
		fmt.Fprintf(&b, "epoch record %d %x\n", e, must[[]byte](t)(l.store.ReadEpochSecrets(id, e)))
	}
	return b.String()
}

// process runs ProcessMessage on data and checks the properties: no
// panic (the fuzzer reports one), a result or an error, and the
// PublicGroup unchanged, byte for byte, whether the message was refused
// or accepted (processing only stages; StoreProposal and
// MergeStagedCommit change the group).
func (l *livePublicGroup) process(t testing.TB, data []byte) bool {
	t.Helper()
	before := l.snapshot(t)
	pm, err := l.pg.ProcessMessage(data)
	after := l.snapshot(t)
	if err != nil {
		if after != before {
			t.Fatalf("refused message changed the public group (%v):\n%s\nwas\n%s", err, after, before)
		}
		return false
	}
	if pm == nil || (pm.Kind == mls.KindCommit && pm.Commit == nil) || (pm.Kind == mls.KindProposal && pm.Proposal == nil) {
		t.Fatalf("accepted message without its result: %+v", pm)
	}
	if after != before {
		t.Fatalf("processing changed the public group:\n%s\nwas\n%s", after, before)
	}
	return true
}

// FuzzPublicGroupProcess feeds untrusted bytes to a Delivery Service's
// PublicGroup: whatever the input, ProcessMessage returns a result or an
// error without panicking, and the PublicGroup and its stored records stay
// byte for byte as they were (a refused message changes nothing; an
// accepted one is only staged).
func FuzzPublicGroupProcess(f *testing.F) {
	l := newLivePublicGroup(f)
	for _, s := range l.seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { l.process(t, data) })
}

// TestPublicGroupProcessSeeds runs the target's property on its seeds and
// on simple corruptions of them, so the plain test suite covers it too:
// the genuine proposals and Commits are accepted, the rest refused.
func TestPublicGroupProcessSeeds(t *testing.T) {
	l := newLivePublicGroup(t)
	for i, s := range l.seeds {
		if got, want := l.process(t, s), i < l.accepted; got != want {
			t.Fatalf("seed %d: accepted %v, want %v", i, got, want)
		}
		for _, m := range corruptions(s) {
			l.process(t, m)
		}
	}
}

// corruptions returns simple corruptions of s: cut in half, one byte
// longer, and a bit flipped at four places.
func corruptions(s []byte) [][]byte {
	out := [][]byte{s[:len(s)/2], append(bytes.Clone(s), 0)}
	for _, i := range []int{0, 1, len(s) / 3, len(s) - 1} {
		m := bytes.Clone(s)
		m[i] ^= 0x40
		out = append(out, m)
	}
	return out
}
