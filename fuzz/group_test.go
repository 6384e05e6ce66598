package fuzz

import (
	"bytes"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/storagetest"
)

const groupSuite = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519

// liveGroup is a three-member group (alice, bob, carol) in which bob has
// produced one message of each kind for alice, who has not processed them.
type liveGroup struct {
	alice *mls.Group
	seeds [][]byte
	// client and store are alice's; the store can be made to fail.
	client *mls.Client
	store  *storagetest.Faulty
}

func newClient(t testing.TB, name string) (*mls.Client, *codec.KeyPackage) {
	t.Helper()
	p := defaultcrypto.New()
	s, err := mls.GenerateSignatureKeyPair(p, groupSuite)
	if err != nil {
		t.Fatal(err)
	}
	c := &mls.Client{Provider: p, Storage: storagetest.NewFaulty(memstore.New()), Signer: s, Credential: mls.NewBasicCredential([]byte(name))}
	b := &mls.KeyPackageBuilder{Provider: p, CipherSuite: groupSuite, Credential: c.Credential, Signer: s}
	kp, err := b.BuildAndStore(c.Storage)
	if err != nil {
		t.Fatal(err)
	}
	return c, &kp.KeyPackage
}

// must returns a function that unwraps a (value, error) result, failing t
// on error: must[T](t)(f()).
func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// newLiveGroup builds the group with a mixed wire-format policy, so that
// both PublicMessage and PrivateMessage handshakes reach alice.
func newLiveGroup(t testing.TB) *liveGroup {
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true, WireFormatPolicy: mls.MixedPlaintext()}
	alice, _ := newClient(t, "alice")
	bob, bobKP := newClient(t, "bob")
	_, carolKP := newClient(t, "carol")
	ga := must[*mls.Group](t)(mls.NewGroup(alice, groupSuite, cfg, nil))
	res := must[*mls.CommitResult](t)(ga.AddMembers(bobKP, carolKP))
	if err := ga.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	gb := must[*mls.Group](t)(mls.JoinFromWelcome(bob, res.Welcome, nil, cfg))
	app := must[[]byte](t)(gb.SendApplicationMessage([]byte("hello"), []byte("aad")))
	prop, _, err := gb.ProposeRemove(2)
	if err != nil {
		t.Fatal(err)
	}
	// The commit leaves the proposal out, so each seed is valid on its own.
	commit := must[*mls.CommitResult](t)(gb.Commit(mls.CommitOptions{ForcePath: true, ExcludePending: true}))
	return &liveGroup{alice: ga, seeds: [][]byte{app, prop, commit.Commit}, client: alice, store: alice.Storage.(*storagetest.Faulty)}
}

// snapshot is what a failed ProcessMessage must leave unchanged.
func snapshot(g *mls.Group) string {
	var b bytes.Buffer
	b.Write(g.EpochAuthenticator())
	b.Write(g.TreeHash())
	b.WriteByte(byte(g.Epoch()))
	b.WriteByte(byte(len(g.PendingProposals())))
	return b.String()
}

// FuzzProcessMessage feeds untrusted bytes to a live group member: whatever
// the input, ProcessMessage returns a message or an error without
// panicking, a rejected input leaves the group unchanged, and processing
// never changes the epoch (only merging does).
func FuzzProcessMessage(f *testing.F) {
	lg := newLiveGroup(f)
	for _, s := range lg.seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		before := snapshot(lg.alice)
		pm, err := lg.alice.ProcessMessage(data)
		if err != nil {
			if after := snapshot(lg.alice); after != before {
				t.Fatalf("rejected input changed the group: %v", err)
			}
			return
		}
		if pm == nil {
			t.Fatal("nil ProcessedMessage without an error")
		}
		if snapshot(lg.alice) != before {
			t.Fatal("processing changed the group's epoch state")
		}
	})
}

// TestProcessMessageSeeds runs the target's property on its seeds and on
// simple corruptions of them, so the plain test suite covers it too.
func TestProcessMessageSeeds(t *testing.T) {
	lg := newLiveGroup(t)
	var inputs [][]byte
	for _, s := range lg.seeds {
		inputs = append(inputs, s, s[:len(s)/2], append(bytes.Clone(s), 0))
		for _, i := range []int{0, 1, len(s) / 3, len(s) - 1} {
			m := bytes.Clone(s)
			m[i] ^= 0x40
			inputs = append(inputs, m)
		}
	}
	accepted := 0
	for _, in := range inputs {
		before := snapshot(lg.alice)
		pm, err := lg.alice.ProcessMessage(in)
		if snapshot(lg.alice) != before {
			t.Fatalf("ProcessMessage changed the group (err %v)", err)
		}
		if err == nil && pm != nil {
			accepted++
		}
	}
	// The three genuine messages are accepted (the application message
	// only once: its key is used up).
	if accepted < 3 {
		t.Fatalf("%d inputs accepted, want at least the 3 genuine messages", accepted)
	}
}

// FuzzProcessMessageFailingStore is FuzzProcessMessage with a store that
// fails: the first input byte picks which storage operation of the call
// fails (0: none), the rest is the message. Whatever the input and the
// failure, nothing panics, a rejected input leaves the group unchanged, and
// the store holds the group as it is in memory (LoadGroup gives the same
// epoch state).
func FuzzProcessMessageFailingStore(f *testing.F) {
	lg := newLiveGroup(f)
	for _, s := range lg.seeds {
		for k := byte(0); k < 4; k++ {
			f.Add(append([]byte{k}, s...))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		k, msg := int(data[0]%8), data[1:]
		before := snapshot(lg.alice)
		if k > 0 {
			lg.store.FailAt(k)
		}
		pm, err := lg.alice.ProcessMessage(msg)
		lg.store.Reset()
		after := snapshot(lg.alice)
		if err != nil && after != before {
			t.Fatalf("rejected input changed the group: %v", err)
		}
		if err == nil && (pm == nil || after != before) {
			t.Fatal("processing changed the group's epoch state")
		}
		loaded, lerr := mls.LoadGroup(lg.client, lg.alice.GroupID())
		if lerr != nil {
			t.Fatalf("LoadGroup: %v", lerr)
		}
		if snapshot(loaded) != after {
			t.Fatal("the stored group differs from the one in memory")
		}
	})
}

// TestProcessMessageFailingStoreSeeds runs that property on the seeds with
// each of the first storage operations failing.
func TestProcessMessageFailingStoreSeeds(t *testing.T) {
	lg := newLiveGroup(t)
	accepted := 0
	for _, s := range lg.seeds {
		for k := 1; k <= 4; k++ {
			before := snapshot(lg.alice)
			lg.store.FailAt(k)
			_, err := lg.alice.ProcessMessage(s)
			lg.store.Reset()
			if snapshot(lg.alice) != before {
				t.Fatalf("ProcessMessage with operation %d failing changed the group (err %v)", k, err)
			}
			if err == nil {
				accepted++
			}
			loaded, err := mls.LoadGroup(lg.client, lg.alice.GroupID())
			if err != nil || snapshot(loaded) != before {
				t.Fatalf("LoadGroup after operation %d failed: %v", k, err)
			}
		}
	}
	// Each genuine message is accepted once (the application message
	// and the proposal once their generation could be stored).
	if accepted < 3 {
		t.Fatalf("%d accepted, want the 3 genuine messages", accepted)
	}
}
