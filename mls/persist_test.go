package mls

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

// stSuite is the cipher suite of the persistence tests that use one.
const stSuite = codec.CipherSuite(1)

// stSnapshot encodes everything the group holds in memory, as save would
// store it: the GroupState record, the EpochSecrets records of the current
// and every kept past epoch, and the encodings of their ratchet trees
// (stored as a chain of RatchetTreeRecords).
type stSnapshot struct {
	group  []byte
	epochs map[uint64][]byte
	trees  map[uint64][]byte
	// nodes: the SecretTreeNode records of each epoch, concatenated in
	// node order, each after its node index.
	nodes map[uint64][]byte
}

// secretTreeNodes encodes the SecretTreeNode records of a secret tree as
// stSnapshot.nodes holds them.
func secretTreeNodes(t testing.TB, tree *secrettree.Tree) []byte {
	var out []byte
	for _, c := range tree.ExportNodes() {
		b, err := secretTreeNodeRecord(&c)
		if err != nil {
			t.Fatal(err)
		}
		out = binary.BigEndian.AppendUint32(out, uint32(c.Node))
		out = append(out, b...)
	}
	return out
}

// storedTreeNodes reads the SecretTreeNode records of an epoch as
// stSnapshot.nodes holds them.
func storedTreeNodes(t testing.TB, s providers.Storage, groupID []byte, epoch uint64) []byte {
	var out []byte
	for _, x := range gtMust(s.ListSecretTreeNodes(groupID, epoch))(t) {
		out = binary.BigEndian.AppendUint32(out, x)
		out = append(out, gtMust(s.ReadSecretTreeNode(groupID, epoch, x))(t)...)
	}
	return out
}

func snapshotOf(t testing.TB, g *Group) stSnapshot {
	t.Helper()
	var inline []byte
	if g.removed() {
		var err error
		if inline, err = g.stage().currentTreeEncoding(); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := g.groupStateRecord(inline)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s := stSnapshot{group: b, epochs: map[uint64][]byte{}, trees: map[uint64][]byte{}, nodes: map[uint64][]byte{}}
	// The current tree is inline (its cached encoding is the tree's) only
	// for a removed member; otherwise it is the record of the epoch.
	rt := g.epoch.tree.RatchetTree()
	fresh, err := rt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if g.removed() {
		if !bytes.Equal(fresh, rec.Current.RatchetTree) {
			t.Fatal("stale inline ratchet tree")
		}
	} else {
		if len(rec.Current.RatchetTree) != 0 {
			t.Fatal("the ratchet tree of an active member is inline")
		}
		s.trees[g.Epoch()] = fresh
	}
	for _, pe := range g.past {
		if s.trees[pe.epoch], err = leavesEncoding(pe.tree); err != nil {
			t.Fatal(err)
		}
	}
	if pc := rec.PendingCommit; pc != nil && len(pc.Next.RatchetTree) != 0 {
		t.Fatal("the pending commit's whole tree is stored")
	}
	// Capture the epoch records through a scratch store.
	scratch := memstore.New()
	for _, e := range append([]uint64{g.Epoch()}, rec.PastEpochs...) {
		c := g.stage()
		if err := scratch.Update(func(tx providers.Records) error { return c.saveEpochSecrets(tx, e) }); err != nil {
			t.Fatal(err)
		}
		if s.epochs[e], err = scratch.ReadEpochSecrets(g.GroupID(), e); err != nil {
			t.Fatal(err)
		}
		s.nodes[e] = secretTreeNodes(t, g.epochSecretTree(e))
	}
	return s
}

func (s stSnapshot) equal(o stSnapshot) bool {
	if !bytes.Equal(s.group, o.group) || len(s.epochs) != len(o.epochs) || len(s.trees) != len(o.trees) || len(s.nodes) != len(o.nodes) {
		return false
	}
	for e, b := range s.nodes {
		if !bytes.Equal(b, o.nodes[e]) {
			return false
		}
	}
	for e, b := range s.epochs {
		if !bytes.Equal(b, o.epochs[e]) {
			return false
		}
	}
	for e, b := range s.trees {
		if !bytes.Equal(b, o.trees[e]) {
			return false
		}
	}
	return true
}

// storedSnapshot reads what the store holds for the group.
func storedSnapshot(t testing.TB, s providers.Storage, groupID []byte) stSnapshot {
	t.Helper()
	v, b, err := s.ReadGroupState(groupID)
	if err != nil {
		t.Fatal(err)
	}
	if v != groupStateVersion {
		t.Fatalf("stored version %d", v)
	}
	snap := stSnapshot{group: b, epochs: map[uint64][]byte{}, trees: map[uint64][]byte{}, nodes: map[uint64][]byte{}}
	epochs, err := s.ListEpochs(groupID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range epochs {
		if snap.epochs[e], err = s.ReadEpochSecrets(groupID, e); err != nil {
			t.Fatal(err)
		}
		snap.nodes[e] = storedTreeNodes(t, s, groupID, e)
	}
	// The trees of the kept epochs, from their chain of records.
	var gs record.GroupState
	if err := gs.Unmarshal(bytes.Clone(b)); err != nil {
		t.Fatal(err)
	}
	var ctx codec.GroupContext
	if err := ctx.Unmarshal(gs.Current.GroupContext); err != nil {
		t.Fatal(err)
	}
	cs, err := defaultcrypto.New().CipherSuite(ctx.CipherSuite)
	if err != nil {
		t.Fatal(err)
	}
	kept := slices.Clone(gs.PastEpochs)
	slices.Reverse(kept)
	if len(gs.Current.RatchetTree) == 0 {
		kept = append(kept, ctx.Epoch)
	}
	trees, chain, err := loadTrees(cs, s, groupID, kept)
	if err != nil {
		t.Fatal(err)
	}
	for e, tr := range trees {
		if e == ctx.Epoch && len(gs.Current.RatchetTree) == 0 {
			rt := tr.RatchetTree()
			snap.trees[e], err = rt.Marshal()
		} else {
			snap.trees[e], err = leavesEncoding(tr)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// No other tree record is stored: only the chain from the whole tree
	// before the oldest kept epoch to the current epoch.
	stored, err := s.ListRatchetTrees(groupID)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) > 0 && (len(stored) != int(kept[len(kept)-1]-chain.wholes[0]+1) || stored[0] != chain.wholes[0]) {
		t.Fatalf("ratchet tree records of epochs %v stored for kept epochs %v (whole records %v)", stored, kept, chain.wholes)
	}
	return snap
}

// TestPersistenceSession runs a session of three members in which, after
// every step, every member's stored state is checked to equal its
// in-memory state, the member is reloaded with LoadGroup, the loaded group
// is checked to hold the same state, and the session continues with the
// loaded groups: they decrypt, propose, commit (with pending Commits
// reloaded before merging), use kept past epochs and change signers; in
// every cipher suite (suite 1 only with -short).
func TestPersistenceSession(t *testing.T) {
	p := defaultcrypto.New()
	suites := []codec.CipherSuite{1, 2, 3, 4, 5, 6, 7}
	if testing.Short() {
		suites = suites[:1]
	}
	for _, suite := range suites {
		t.Run(fmt.Sprintf("suite%d", suite), func(t *testing.T) { stSessionOf(t, p, suite) })
	}
}

func stSessionOf(t *testing.T, p providers.Provider, suite codec.CipherSuite) {
	cfg := GroupConfig{MaxPastEpochs: 2, NumberOfResumptionPSKs: 2, UseRatchetTreeExtension: true, PaddingSize: 32}
	a, b, c := gtNewMember(t, p, suite, "alice"), gtNewMember(t, p, suite, "bob"), gtNewMember(t, p, suite, "carol")
	s := &gtSim{t: t, members: []*gtMember{a, b, c}}

	a.g = gtMust(NewGroup(a.c, suite, cfg, nil))(t)
	s.reloadAll("create")

	// Alice adds Bob; her pending Commit is reloaded before it is merged.
	res := gtMust(a.g.AddMembers(b.keyPackage(t)))(t)
	s.reloadAll("add bob, pending")
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	b.g = gtMust(JoinFromWelcome(b.c, res.Welcome, nil, cfg))(t)
	s.reloadAll("add bob")
	s.agree("add bob")

	// Bob adds Carol.
	res = gtMust(b.g.AddMembers(c.keyPackage(t)))(t)
	s.reloadAll("add carol, pending")
	if err := b.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	s.deliver(b, res.Commit, true)
	c.g = gtMust(JoinFromWelcome(c.c, res.Welcome, nil, cfg))(t)
	s.reloadAll("add carol")
	s.agree("add carol")

	// Application messages, each receiver checked against a loaded twin.
	for i, m := range s.members {
		s.sendText(m, fmt.Sprintf("hello %d from %s", i, m.name), true)
		s.reloadAll("application " + m.name)
	}

	// Bob self-updates with a new signature key pair (stored, so that the
	// pending Commit and then the group can find it).
	newSigner := gtMust(GenerateSignatureKeyPair(p, suite))(t)
	if err := newSigner.Store(b.c.Storage); err != nil {
		t.Fatal(err)
	}
	res = gtMust(b.g.SelfUpdate(&LeafNodeOptions{Signer: newSigner}))(t)
	// Without it, the pending Commit's key pair is missing.
	if err := newSigner.Delete(b.c.Storage); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGroup(b.c, b.g.GroupID()); !errors.Is(err, ErrSignerNotFound) {
		t.Errorf("pending Commit's signer not stored: %v, want ErrSignerNotFound", err)
	}
	if err := newSigner.Store(b.c.Storage); err != nil {
		t.Fatal(err)
	}
	s.reloadAll("bob self-update, pending")
	if err := b.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	s.deliver(b, res.Commit, true)
	s.reloadAll("bob self-update")
	s.agree("bob self-update")
	if !bytes.Equal(b.g.signer.PublicKey(), newSigner.PublicKey()) {
		t.Fatal("bob's loaded group does not use his new signer")
	}
	s.sendText(b, "signed with my new key", false)
	s.reloadAll("bob's new key")

	// Carol proposes an Update; Alice and Bob store it; Alice commits it.
	// Carol's new leaf key comes from her storage after reloading.
	msg, _ := gtMust2(c.g.ProposeSelfUpdate(nil))(t)
	s.deliver(c, msg, false)
	s.reloadAll("carol's update proposal")
	res = gtMust(a.g.CommitPendingProposals())(t)
	s.reloadAll("alice commits the update, pending")
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	s.deliver(a, res.Commit, false)
	s.reloadAll("carol's update committed")
	s.agree("carol's update committed")

	// A late message: Alice sends in this epoch, Bob commits; Carol
	// processes the Commit, is reloaded, and then reads Alice's message
	// from the kept past epoch — twice reloaded, once with a twin.
	late := gtMust(a.g.SendApplicationMessage([]byte("late"), nil))(t)
	late2 := gtMust(a.g.SendApplicationMessage([]byte("later"), nil))(t)
	res = gtMust(b.g.SelfUpdate(nil))(t)
	if err := b.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	s.deliver(b, res.Commit, false)
	s.reloadAll("commit before late message")
	for i, lm := range [][]byte{late2, late} {
		twin := gtMust(LoadGroup(c.c, c.g.GroupID()))(t)
		for _, g := range []*Group{c.g, twin} {
			pm, err := g.ProcessMessage(lm)
			if err != nil {
				t.Fatalf("late message %d: %v", i, err)
			}
			if pm.Epoch != c.g.Epoch()-1 {
				t.Fatalf("late message of epoch %d", pm.Epoch)
			}
		}
		c.reload(t, "late message")
		if !snapshotOf(t, twin).equal(snapshotOf(t, c.g)) {
			t.Fatal("twin differs after a late message")
		}
	}
	// Each late key was used once.
	if _, err := c.g.ProcessMessage(late); !errors.Is(err, RuleDecryption) {
		t.Fatalf("replayed late message: %v, want RuleDecryption", err)
	}
	s.sendText(c, "and back", true)

	// Alice removes Carol; Carol's last state (inactive) reloads too.
	res = gtMust(a.g.RemoveMembers(c.g.OwnLeafIndex()))(t)
	s.reloadAll("remove carol, pending")
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	s.deliver(a, res.Commit, false)
	s.reloadAll("remove carol")
	if c.g.Active() {
		t.Fatal("carol is still active after being removed and reloaded")
	}
	s.agree("remove carol")
	s.sendText(a, "just us", true)
	s.sendText(b, "indeed", true)
	s.reloadAll("end")
	s.agree("end")
	if a.g.MemberCount() != 2 || a.g.Epoch() != 6 {
		t.Fatalf("end: %d members in epoch %d", a.g.MemberCount(), a.g.Epoch())
	}
}

// stThree builds a group of three members with cfg.
func stThree(t *testing.T, cfg GroupConfig) *gtSim {
	cfg.UseRatchetTreeExtension = true
	p := defaultcrypto.New()
	a, b, c := gtNewMember(t, p, stSuite, "alice"), gtNewMember(t, p, stSuite, "bob"), gtNewMember(t, p, stSuite, "carol")
	s := &gtSim{t: t, members: []*gtMember{a, b, c}}
	a.g = gtMust(NewGroup(a.c, stSuite, cfg, nil))(t)
	res := gtMust(a.g.AddMembers(b.keyPackage(t), c.keyPackage(t)))(t)
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	b.g = gtMust(JoinFromWelcome(b.c, res.Welcome, nil, cfg))(t)
	c.g = gtMust(JoinFromWelcome(c.c, res.Welcome, nil, cfg))(t)
	s.agree("three")
	return s
}

// TestFailedProcessKeepsStoredState checks that after any failed
// ProcessMessage both the stored state (GroupState and EpochSecrets
// records) and the in-memory state equal the state before — including a
// PrivateMessage that decrypts and authenticates but whose Commit is
// rejected — and that the message's key was not consumed.
func TestFailedProcessKeepsStoredState(t *testing.T) {
	for name, policy := range map[string]WireFormatPolicy{"PureCiphertext()": PureCiphertext(), "PurePlaintext()": PurePlaintext()} {
		t.Run(name, func(t *testing.T) {
			stFailedProcess(t, GroupConfig{MaxPastEpochs: 1, WireFormatPolicy: policy})
		})
	}
}

func stFailedProcess(t *testing.T, cfg GroupConfig) {
	s := stThree(t, cfg)
	a, b, c := s.members[0], s.members[1], s.members[2]
	s.sendText(a, "one", false)
	old := gtMust(b.g.SendApplicationMessage([]byte("old"), nil))(t)

	// Bob proposes; Alice stores the proposal, Carol processes it but does
	// not store it. Bob's Commit by reference is then rejected by Carol.
	prop, _ := gtMust2(b.g.ProposeRemove(a.g.OwnLeafIndex()))(t)
	pmA := gtMust(a.g.ProcessMessage(prop))(t)
	if err := a.g.StoreProposal(pmA.Proposal); err != nil {
		t.Fatal(err)
	}
	pmC := gtMust(c.g.ProcessMessage(prop))(t)
	res := gtMust(b.g.CommitPendingProposals())(t)
	app := gtMust(a.g.SendApplicationMessage([]byte("two"), nil))(t)

	replay := gtMust(c.g.ProcessMessage(app))(t) // consumes the key
	_ = replay
	flipped := bytes.Clone(app)
	flipped[len(flipped)-3] ^= 1
	otherGroup := stThree(t, cfg)
	foreign := gtMust(otherGroup.members[0].g.SendApplicationMessage([]byte("x"), nil))(t)

	failing := []struct {
		name string
		msg  []byte
		want error // nil: any error
	}{
		{"commit with an unknown proposal reference", res.Commit, ErrUnknownProposal},
		{"replayed application message", app, RuleDecryption},
		{"flipped ciphertext", flipped, RuleDecryption},
		{"message of another group", foreign, RuleWrongGroupID},
		{"garbage", []byte{0, 1, 2, 3}, nil},
		{"empty", nil, nil},
		{"truncated commit", res.Commit[:len(res.Commit)/2], nil},
		{"altered commit", func() []byte { b := bytes.Clone(res.Commit); b[len(b)-2] ^= 1; return b }(), nil},
	}
	for _, f := range failing {
		before := snapshotOf(t, c.g)
		stored := storedSnapshot(t, c.c.Storage, c.g.GroupID())
		_, err := c.g.ProcessMessage(f.msg)
		if err == nil {
			t.Fatalf("%s: processed", f.name)
		}
		if f.want != nil && !errors.Is(err, f.want) {
			t.Errorf("%s: %v, want %v", f.name, err, f.want)
		}
		if !snapshotOf(t, c.g).equal(before) {
			t.Errorf("%s: in-memory state changed", f.name)
		}
		if !storedSnapshot(t, c.c.Storage, c.g.GroupID()).equal(stored) {
			t.Errorf("%s: stored state changed", f.name)
		}
		if !stored.equal(before) {
			t.Errorf("%s: stored state is not the in-memory state", f.name)
		}
	}
	// The rejected Commit's key is still there: once Carol stores the
	// proposal, the same message is accepted.
	if err := c.g.StoreProposal(pmC.Proposal); err != nil {
		t.Fatal(err)
	}
	pm, err := c.g.ProcessMessage(res.Commit)
	if err != nil {
		t.Fatalf("commit after storing the proposal: %v", err)
	}
	if err := c.g.MergeStagedCommit(pm.Commit); err != nil {
		t.Fatal(err)
	}
	c.reload(t, "after the accepted commit")
	// A late message of the past epoch that fails (replayed after
	// success) leaves the past epoch's record unchanged as well.
	gtMust(c.g.ProcessMessage(old))(t)
	stored := storedSnapshot(t, c.c.Storage, c.g.GroupID())
	if _, err := c.g.ProcessMessage(old); !errors.Is(err, RuleDecryption) {
		t.Fatalf("replayed late message: %v", err)
	}
	if !storedSnapshot(t, c.c.Storage, c.g.GroupID()).equal(stored) {
		t.Error("replayed late message changed the stored state")
	}
}

// TestPastEpochSecretsDeleted checks that the EpochSecrets records of epochs
// that are no longer kept are deleted from the store (RFC 9420 §9.2), and
// that DeleteGroup erases everything of the group.
func TestPastEpochSecretsDeleted(t *testing.T) {
	for _, keep := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("MaxPastEpochs=%d", keep), func(t *testing.T) {
			s := stThree(t, GroupConfig{MaxPastEpochs: keep})
			a := s.members[0]
			for i := 0; i < 5; i++ {
				res := gtMust(a.g.SelfUpdate(nil))(t)
				if err := a.g.MergePendingCommit(); err != nil {
					t.Fatal(err)
				}
				s.deliver(a, res.Commit, false)
				for _, m := range s.members {
					got := gtMust(m.c.Storage.ListEpochs(m.g.GroupID()))(t)
					var want []uint64
					for e := int(m.g.Epoch()) - keep; e <= int(m.g.Epoch()); e++ {
						if e >= 0 && (e >= 1 || m == a) { // joiners start at epoch 1
							want = append(want, uint64(e))
						}
					}
					if !slices.Equal(got, want) {
						t.Fatalf("%s in epoch %d: stored epochs %v, want %v", m.name, m.g.Epoch(), got, want)
					}
				}
			}
			for _, m := range s.members {
				if err := DeleteGroup(m.c.Storage, m.g.GroupID()); err != nil {
					t.Fatal(err)
				}
				if _, _, err := m.c.Storage.ReadGroupState(m.g.GroupID()); !errors.Is(err, providers.ErrNotFound) {
					t.Errorf("group state after DeleteGroup: %v", err)
				}
				if e := gtMust(m.c.Storage.ListEpochs(m.g.GroupID()))(t); len(e) != 0 {
					t.Errorf("epochs after DeleteGroup: %v", e)
				}
				if _, err := LoadGroup(m.c, m.g.GroupID()); !errors.Is(err, providers.ErrNotFound) {
					t.Errorf("LoadGroup after DeleteGroup: %v, want ErrNotFound", err)
				}
			}
		})
	}
}

// TestLoadGroupCorrupt checks that unknown versions, truncated and altered
// records and missing epoch records give ErrCorruptState (never a panic),
// and that a group is never loaded from a record of another group.
func TestLoadGroupCorrupt(t *testing.T) {
	s := stThree(t, GroupConfig{MaxPastEpochs: 1})
	a := s.members[0]
	res := gtMust(a.g.SelfUpdate(nil))(t)
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	// A message consumes the secret tree's root: its secret tree is then
	// the leaf's ratchets and the siblings of its path.
	gtMust(a.g.SendApplicationMessage([]byte("hi"), nil))(t)
	id := a.g.GroupID()
	store := a.c.Storage
	_, good, err := store.ReadGroupState(id)
	if err != nil {
		t.Fatal(err)
	}
	_ = res
	restore := func() {
		if err := store.WriteGroupState(id, groupStateVersion, good); err != nil {
			t.Fatal(err)
		}
	}
	// (Version 3 is read too: TestEchoStateVersion3.)
	for _, v := range []uint16{0, 2, groupStateVersion + 1, 0xffff} {
		if err := store.WriteGroupState(id, v, good); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadGroup(a.c, id); !errors.Is(err, ErrCorruptState) {
			t.Errorf("version %d: %v, want ErrCorruptState", v, err)
		}
	}
	for _, n := range []int{0, 1, len(good) / 3, len(good) - 1} {
		if err := store.WriteGroupState(id, groupStateVersion, good[:n]); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadGroup(a.c, id); !errors.Is(err, ErrCorruptState) {
			t.Errorf("truncated to %d bytes: %v, want ErrCorruptState", n, err)
		}
	}
	// Flipping any single byte gives an error, or (when the byte is not
	// checked, e.g. inside a secret or a ref) a group: never a panic.
	flips, rejected := 0, 0
	for i := 0; i < len(good); i += 1 + len(good)/400 {
		bad := bytes.Clone(good)
		bad[i] ^= 0x41
		if err := store.WriteGroupState(id, groupStateVersion, bad); err != nil {
			t.Fatal(err)
		}
		flips++
		if _, err := LoadGroup(a.c, id); err != nil {
			rejected++
		}
	}
	t.Logf("%d of %d single-byte alterations of the group state rejected", rejected, flips)
	restore()

	// Epoch records: missing, truncated, of another epoch.
	e := a.g.Epoch()
	rec, err := store.ReadEpochSecrets(id, e)
	if err != nil {
		t.Fatal(err)
	}
	prev, err := store.ReadEpochSecrets(id, e-1)
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[uint32][]byte{}
	for _, x := range gtMust(store.ListSecretTreeNodes(id, e))(t) {
		nodes[x] = gtMust(store.ReadSecretTreeNode(id, e, x))(t)
	}
	restoreNodes := func() {
		for _, x := range gtMust(store.ListSecretTreeNodes(id, e))(t) {
			if err := store.DeleteSecretTreeNode(id, e, x); err != nil {
				t.Fatal(err)
			}
		}
		for x, b := range nodes {
			if err := store.WriteSecretTreeNode(id, e, x, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, mutate := range map[string]func() error{
		"missing current epoch": func() error { return store.DeleteEpochSecrets(id, e) },
		"missing past epoch":    func() error { return store.DeleteEpochSecrets(id, e-1) },
		"truncated":             func() error { return store.WriteEpochSecrets(id, e, rec[:len(rec)-1]) },
		"past record as current": func() error {
			return store.WriteEpochSecrets(id, e, prev)
		},
		"current record as past": func() error { return store.WriteEpochSecrets(id, e-1, rec) },
		"secret tree of wrong size": func() error {
			var es record.EpochSecrets
			if err := es.Unmarshal(bytes.Clone(rec)); err != nil {
				return err
			}
			es.LeafCount *= 2
			b, err := es.Marshal()
			if err != nil {
				return err
			}
			return store.WriteEpochSecrets(id, e, b)
		},
		"secret tree giving back its root": func() error {
			b, err := (&record.SecretTreeNode{Type: record.SecretTreeNodeTypeSecret, Secret: make([]byte, 32)}).Marshal()
			if err != nil {
				return err
			}
			return store.WriteSecretTreeNode(id, e, 3, b)
		},
		"secret tree node garbage": func() error {
			return store.WriteSecretTreeNode(id, e, 1, []byte{7, 7, 7})
		},
		"secret tree node of a short secret": func() error {
			b, err := (&record.SecretTreeNode{Type: record.SecretTreeNodeTypeSecret, Secret: make([]byte, 31)}).Marshal()
			if err != nil {
				return err
			}
			return store.WriteSecretTreeNode(id, e, 5, b)
		},
		"leaf ratchets at another leaf's node": func() error {
			xs, err := store.ListSecretTreeNodes(id, e)
			if err != nil {
				return err
			}
			for _, x := range xs {
				b, err := store.ReadSecretTreeNode(id, e, x)
				if err != nil {
					return err
				}
				var n record.SecretTreeNode
				if err := n.Unmarshal(b); err != nil {
					return err
				}
				if n.Type == record.SecretTreeNodeTypeLeaf {
					if err := store.DeleteSecretTreeNode(id, e, x); err != nil {
						return err
					}
					return store.WriteSecretTreeNode(id, e, x+2, b)
				}
			}
			return errors.New("no leaf's ratchets stored")
		},
	} {
		if err := mutate(); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadGroup(a.c, id); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: %v, want ErrCorruptState", name, err)
		}
		if err := store.WriteEpochSecrets(id, e, rec); err != nil {
			t.Fatal(err)
		}
		if err := store.WriteEpochSecrets(id, e-1, prev); err != nil {
			t.Fatal(err)
		}
		restoreNodes()
	}
	// Ratchet tree records: missing, truncated, altered, of another epoch.
	tree := gtMust(store.ReadRatchetTree(id, e))(t)
	prevTree := gtMust(store.ReadRatchetTree(id, e-1))(t)
	for name, mutate := range map[string]func() error{
		"missing current tree": func() error { return store.DeleteRatchetTree(id, e) },
		"missing past tree":    func() error { return store.DeleteRatchetTree(id, e-1) },
		"truncated tree":       func() error { return store.WriteRatchetTree(id, e, tree[:len(tree)-1]) },
		"empty tree":           func() error { return store.WriteRatchetTree(id, e, nil) },
		"altered tree": func() error {
			bad := bytes.Clone(tree)
			bad[len(bad)-1] ^= 1
			return store.WriteRatchetTree(id, e, bad)
		},
		"altered past tree": func() error {
			bad := bytes.Clone(prevTree)
			bad[len(bad)-1] ^= 1
			return store.WriteRatchetTree(id, e-1, bad)
		},
		"past tree as current": func() error { return store.WriteRatchetTree(id, e, prevTree) },
		"current tree as past": func() error { return store.WriteRatchetTree(id, e-1, tree) },
	} {
		if err := mutate(); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadGroup(a.c, id); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: %v, want ErrCorruptState", name, err)
		}
		if err := store.WriteRatchetTree(id, e, tree); err != nil {
			t.Fatal(err)
		}
		if err := store.WriteRatchetTree(id, e-1, prevTree); err != nil {
			t.Fatal(err)
		}
	}
	// Records that decode but are inconsistent.
	for name, mutate := range map[string]func(gs *record.GroupState){
		"padding out of range":      func(gs *record.GroupState) { gs.Config.PaddingSize = MaxPaddingSize + 1 },
		"unknown wire format":       func(gs *record.GroupState) { gs.Config.IncomingWireFormat = 9 },
		"secret of wrong size":      func(gs *record.GroupState) { gs.Current.Secrets.InitSecret = []byte{1} },
		"private key of other node": func(gs *record.GroupState) { gs.Current.PrivateKeys[0].Node += 2 },
		"altered private key": func(gs *record.GroupState) {
			gs.Current.PrivateKeys[0].PrivateKey[1] ^= 1 // byte 0's low bits are clamped away by X25519
		},
		"inline tree of an active member": func(gs *record.GroupState) {
			gs.Current.RatchetTree = gtMust(store.ReadRatchetTree(id, a.g.Epoch()))(t)
		},
		"other cipher suite": func(gs *record.GroupState) { gs.Current.GroupContext[1] = 2 },
		"garbage proposal": func(gs *record.GroupState) {
			gs.Proposals = append(gs.Proposals, record.StoredProposal{Proposal: []byte{0xff}, Ref: []byte{1}, Sender: []byte{1, 0, 0, 0, 0}})
		},
		"resumption PSK of wrong size": func(gs *record.GroupState) {
			gs.ResumptionPsks = append(gs.ResumptionPsks, record.ResumptionPSK{Epoch: 1, PSK: []byte{1}})
		},
		"unknown past epoch": func(gs *record.GroupState) { gs.PastEpochs = append(gs.PastEpochs, 99) },
		"garbage ReInit":     func(gs *record.GroupState) { gs.ReInit = &record.EncodedReInit{1} },
	} {
		var gs record.GroupState
		if err := gs.Unmarshal(good); err != nil {
			t.Fatal(err)
		}
		mutate(&gs)
		b, err := gs.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := store.WriteGroupState(id, groupStateVersion, b); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadGroup(a.c, id); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: %v, want ErrCorruptState", name, err)
		}
	}
	restore()

	// A pending Commit's change of the tree: altered, dropped, malformed.
	gtMust(a.g.SelfUpdate(nil))(t)
	_, pending, err := store.ReadGroupState(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGroup(a.c, id); err != nil {
		t.Fatalf("pending commit: %v", err)
	}
	for name, mutate := range map[string]func(pc *record.PendingCommit){
		"changes dropped":             func(pc *record.PendingCommit) { pc.Tree.Changes = nil },
		"last change dropped":         func(pc *record.PendingCommit) { pc.Tree.Changes = pc.Tree.Changes[:len(pc.Tree.Changes)-1] },
		"leaf count not a power of 2": func(pc *record.PendingCommit) { pc.Tree.LeafCount = 3 },
		"leaf count doubled":          func(pc *record.PendingCommit) { pc.Tree.LeafCount *= 2 },
		"leaf count halved":           func(pc *record.PendingCommit) { pc.Tree.LeafCount /= 2 },
		"node out of range":           func(pc *record.PendingCommit) { pc.Tree.Changes[0].Node = 1 << 20 },
		"node listed twice":           func(pc *record.PendingCommit) { pc.Tree.Changes[1].Node = pc.Tree.Changes[0].Node },
		"garbage node":                func(pc *record.PendingCommit) { pc.Tree.Changes[0].Value = []byte{0xff} },
		"node blanked":                func(pc *record.PendingCommit) { pc.Tree.Changes[0].Value = nil },
		"node altered": func(pc *record.PendingCommit) {
			v := pc.Tree.Changes[len(pc.Tree.Changes)-1].Value
			v[len(v)/2] ^= 1
		},
		"whole tree": func(pc *record.PendingCommit) {
			pc.Next.RatchetTree = gtMust(store.ReadRatchetTree(id, e))(t)
		},
	} {
		var gs record.GroupState
		if err := gs.Unmarshal(bytes.Clone(pending)); err != nil {
			t.Fatal(err)
		}
		if gs.PendingCommit == nil || len(gs.PendingCommit.Tree.Changes) < 2 {
			t.Fatalf("pending commit with %v changes", gs.PendingCommit)
		}
		mutate(gs.PendingCommit)
		b, err := gs.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := store.WriteGroupState(id, groupStateVersion, b); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadGroup(a.c, id); !errors.Is(err, ErrCorruptState) {
			t.Errorf("pending commit, %s: %v, want ErrCorruptState", name, err)
		}
	}
	if err := a.g.ClearPendingCommit(); err != nil {
		t.Fatal(err)
	}
	_, good, err = store.ReadGroupState(id)
	if err != nil {
		t.Fatal(err)
	}

	// The group state of another group stored under this id.
	other := stThree(t, GroupConfig{})
	_, ob, err := other.members[0].c.Storage.ReadGroupState(other.members[0].g.GroupID())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.WriteGroupState(id, groupStateVersion, ob); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGroup(a.c, id); !errors.Is(err, ErrCorruptState) {
		t.Errorf("another group's state: %v, want ErrCorruptState", err)
	}
	restore()
	if _, err := LoadGroup(a.c, id); err != nil {
		t.Fatalf("restored: %v", err)
	}
	if _, err := LoadGroup(a.c, []byte("no such group")); !errors.Is(err, providers.ErrNotFound) || errors.Is(err, ErrSignerNotFound) {
		t.Errorf("unknown group: %v, want ErrNotFound and not ErrSignerNotFound", err)
	}
	// Without the signer in the client or the store, loading fails with
	// ErrSignerNotFound, which matches ErrNotFound too.
	c2 := *a.c
	c2.Signer = gtMust(GenerateSignatureKeyPair(a.c.Provider, stSuite))(t)
	if _, err := LoadGroup(&c2, id); !errors.Is(err, ErrSignerNotFound) || !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("no signer: %v, want ErrSignerNotFound and ErrNotFound", err)
	}
	// With the group's key pair stored, the client's Signer is not needed;
	// a stored record that does not decode is corrupt, not missing.
	kp, ok := a.c.Signer.(*SignatureKeyPair)
	if !ok {
		t.Fatalf("signer %T", a.c.Signer)
	}
	if err := kp.Store(store); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGroup(&c2, id); err != nil {
		t.Errorf("signer in the store: %v", err)
	}
	if err := store.WriteSignatureKeyPair(kp.PublicKey(), []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGroup(&c2, id); !errors.Is(err, ErrCorruptState) || errors.Is(err, ErrNotFound) {
		t.Errorf("corrupt signer record: %v, want ErrCorruptState and not ErrNotFound", err)
	}
	if err := kp.Delete(store); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGroup(nil, id); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil client: %v", err)
	}
}

// stTreeRecords decodes the stored ratchet tree records of a group.
func stTreeRecords(t testing.TB, s providers.Storage, id []byte) map[uint64]*record.RatchetTreeRecord {
	t.Helper()
	recs := map[uint64]*record.RatchetTreeRecord{}
	for _, e := range gtMust(s.ListRatchetTrees(id))(t) {
		rec := new(record.RatchetTreeRecord)
		if err := rec.Unmarshal(gtMust(s.ReadRatchetTree(id, e))(t)); err != nil {
			t.Fatal(err)
		}
		recs[e] = rec
	}
	return recs
}

// TestRatchetTreeChain: merged Commits store their change of the tree, not
// the tree; the chain is restarted with a whole tree when it outgrows half
// of it; every state along the way (with past epochs, with a pending
// Commit) reloads exactly; a broken chain is ErrCorruptState.
func TestRatchetTreeChain(t *testing.T) {
	p := defaultcrypto.New()
	a := gtNewMember(t, p, stSuite, "creator")
	a.g = gtMust(NewGroup(a.c, stSuite, GroupConfig{MaxPastEpochs: 2}, nil))(t)
	kps := make([]*codec.KeyPackage, 40)
	for i := range kps {
		kps[i] = gtNewMember(t, p, stSuite, fmt.Sprintf("m%d", i)).keyPackage(t)
	}
	gtMust(a.g.AddMembers(kps...))(t)
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	id := a.g.GroupID()
	deltas, wholes := 0, 0
	var wholeSize, maxDelta int
	for i := range 12 {
		gtMust(a.g.SelfUpdate(nil))(t)
		if i%3 == 0 {
			a.reload(t, fmt.Sprintf("commit %d pending", i))
		}
		if err := a.g.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		b := gtMust(a.c.Storage.ReadRatchetTree(id, a.g.Epoch()))(t)
		switch rec := stTreeRecords(t, a.c.Storage, id)[a.g.Epoch()]; rec.Type {
		case record.TreeRecordTypeDelta:
			deltas++
			maxDelta = max(maxDelta, len(b))
		default:
			wholes++
			wholeSize = len(b)
		}
		if i%2 == 0 {
			a.reload(t, fmt.Sprintf("commit %d merged", i))
		}
	}
	t.Logf("12 merged commits in a group of 41: %d change records (at most %d B), %d whole trees (%d B)", deltas, maxDelta, wholes, wholeSize)
	if deltas == 0 || wholes == 0 {
		t.Fatalf("%d change records and %d whole trees: want both", deltas, wholes)
	}
	if maxDelta*4 > wholeSize {
		t.Errorf("change records of %d B next to a whole tree of %d B", maxDelta, wholeSize)
	}

	// Break the chain of the current epoch.
	e := a.g.Epoch()
	recs := stTreeRecords(t, a.c.Storage, id)
	if recs[e].Type != record.TreeRecordTypeDelta {
		gtMust(a.g.SelfUpdate(nil))(t)
		if err := a.g.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		e = a.g.Epoch()
		recs = stTreeRecords(t, a.c.Storage, id)
		if recs[e].Type != record.TreeRecordTypeDelta {
			t.Fatal("two whole trees in a row")
		}
	}
	store := a.c.Storage
	cur := gtMust(store.ReadRatchetTree(id, e))(t)
	prev := gtMust(store.ReadRatchetTree(id, e-1))(t)
	write := func(epoch uint64, rec *record.RatchetTreeRecord) error {
		return store.WriteRatchetTree(id, epoch, gtMust(rec.Marshal())(t))
	}
	for name, mutate := range map[string]func() error{
		"previous record missing": func() error { return store.DeleteRatchetTree(id, e-1) },
		"change as whole tree": func() error {
			return write(e, &record.RatchetTreeRecord{Type: record.TreeRecordTypeWhole, RatchetTree: recs[e].Delta.Changes[0].Value})
		},
		"change dropped": func() error {
			return write(e, &record.RatchetTreeRecord{Type: record.TreeRecordTypeDelta, Delta: &record.TreeDelta{LeafCount: recs[e].Delta.LeafCount}})
		},
		"change altered": func() error {
			d := *recs[e].Delta
			d.Changes = slices.Clone(d.Changes)
			v := bytes.Clone(d.Changes[0].Value)
			v[len(v)/2] ^= 1
			d.Changes[0].Value = v
			return write(e, &record.RatchetTreeRecord{Type: record.TreeRecordTypeDelta, Delta: &d})
		},
		"change applied twice": func() error { return store.WriteRatchetTree(id, e-1, cur) },
		"change to a huge tree": func() error {
			d := *recs[e].Delta
			d.LeafCount = 1 << 30
			return write(e, &record.RatchetTreeRecord{Type: record.TreeRecordTypeDelta, Delta: &d})
		},
	} {
		if err := mutate(); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadGroup(a.c, id); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: %v, want ErrCorruptState", name, err)
		}
		if err := store.WriteRatchetTree(id, e, cur); err != nil {
			t.Fatal(err)
		}
		if err := store.WriteRatchetTree(id, e-1, prev); err != nil {
			t.Fatal(err)
		}
	}
	a.reload(t, "restored")
	// DeleteGroup erases every record.
	if err := DeleteGroup(store, id); err != nil {
		t.Fatal(err)
	}
	if left := gtMust(store.ListRatchetTrees(id))(t); len(left) != 0 {
		t.Fatalf("ratchet trees of epochs %v left after DeleteGroup", left)
	}
}

// TestStoredSizes logs the stored sizes and save/load times for groups of
// 2, 100 and (not in -short mode) 1000 members.
func TestStoredSizes(t *testing.T) {
	sizes := []int{2, 100, 1000}
	if testing.Short() {
		sizes = sizes[:2]
	}
	p := defaultcrypto.New()
	for _, n := range sizes {
		a := gtNewMember(t, p, stSuite, "creator")
		a.g = gtMust(NewGroup(a.c, stSuite, GroupConfig{}, nil))(t)
		kps := make([]*codec.KeyPackage, n-1)
		for i := range kps {
			kps[i] = gtNewMember(t, p, stSuite, fmt.Sprintf("m%d", i)).keyPackage(t)
		}
		gtMust(a.g.AddMembers(kps...))(t)
		if err := a.g.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		gtMust(a.g.SendApplicationMessage([]byte("x"), nil))(t)
		id := a.g.GroupID()
		_, gs, _ := a.c.Storage.ReadGroupState(id)
		es, _ := a.c.Storage.ReadEpochSecrets(id, a.g.Epoch())
		tree, _ := a.c.Storage.ReadRatchetTree(id, a.g.Epoch())
		const rounds = 5
		start := time.Now()
		for range rounds {
			if err := a.g.save(); err != nil {
				t.Fatal(err)
			}
		}
		save := time.Since(start) / rounds
		start = time.Now()
		for range rounds {
			if err := a.g.saveSecrets(); err != nil {
				t.Fatal(err)
			}
		}
		saveSecrets := time.Since(start) / rounds
		start = time.Now()
		for range rounds {
			gtMust(LoadGroup(a.c, id))(t)
		}
		load := time.Since(start) / rounds
		t.Logf("%4d members: GroupState %5d B, EpochSecrets %4d B, ratchet tree %7d B; save %v, saveSecrets %v, LoadGroup %v", n, len(gs), len(es), len(tree), save, saveSecrets, load)
	}
}

// stBenchGroup returns a group of n members created by one member (the
// others' key packages only), with one application message sent.
func stBenchGroup(b *testing.B, n int) *gtMember {
	b.Helper()
	p := defaultcrypto.New()
	a := gtNewMember(b, p, stSuite, "creator")
	a.g = gtMust(NewGroup(a.c, stSuite, GroupConfig{}, nil))(b)
	kps := make([]*codec.KeyPackage, n-1)
	for i := range kps {
		kps[i] = gtNewMember(b, p, stSuite, fmt.Sprintf("m%d", i)).keyPackage(b)
	}
	if n > 1 {
		gtMust(a.g.AddMembers(kps...))(b)
		if err := a.g.MergePendingCommit(); err != nil {
			b.Fatal(err)
		}
	}
	gtMust(a.g.SendApplicationMessage([]byte("x"), nil))(b)
	return a
}

// BenchmarkPersistence measures writing the whole group (save: on every
// change of the group), writing the secret tree alone (saveSecrets: on
// every message sent or received) and LoadGroup, reporting the stored
// sizes, for groups of 2, 100 and 1000 members.
//
//	go test -run '^$' -bench Persistence -benchmem ./mls
func BenchmarkPersistence(b *testing.B) {
	for _, n := range []int{2, 100, 1000} {
		a := stBenchGroup(b, n)
		id := a.g.GroupID()
		_, gs, _ := a.c.Storage.ReadGroupState(id)
		es, _ := a.c.Storage.ReadEpochSecrets(id, a.g.Epoch())
		b.Run(fmt.Sprintf("save/members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := a.g.save(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(gs)), "GroupState-bytes")
		})
		b.Run(fmt.Sprintf("saveSecrets/members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := a.g.saveSecrets(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(es)), "EpochSecrets-bytes")
		})
		b.Run(fmt.Sprintf("LoadGroup/members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := LoadGroup(a.c, id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPersistenceReInit checks that a group ended by a ReInit (RFC 9420
// §11.2) reloads inactive, with its ReInit proposal, for every member.
func TestPersistenceReInit(t *testing.T) {
	s := stThree(t, GroupConfig{})
	a := s.members[0]
	ri := codec.ReInit{GroupID: []byte("next group"), Version: codec.ProtocolVersionMLS10, CipherSuite: stSuite}
	msg, _ := gtMust2(a.g.ProposeReInit(ri))(t)
	s.deliver(a, msg, false)
	s.reloadAll("reinit proposed")
	res := gtMust(a.g.CommitPendingProposals())(t)
	s.reloadAll("reinit committed, pending")
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	s.deliver(a, res.Commit, false)
	s.reloadAll("reinit")
	for _, m := range s.members {
		got, ok := m.g.ReInit()
		if m.g.Active() || !ok || !bytes.Equal(got.GroupID, ri.GroupID) {
			t.Errorf("%s after reload: active %v, ReInit %v %x", m.name, m.g.Active(), ok, got.GroupID)
		}
	}
}

// FuzzLoadGroup stores arbitrary bytes as the GroupState (first input byte
// 0 mod 3), the current epoch's EpochSecrets record (1 mod 3) or its
// ratchet tree record (2 mod 3) of a real group with a pending Commit and
// loads it: LoadGroup must return a group or an error, never panic.
//
//	go test -run '^$' -fuzz FuzzLoadGroup ./mls
func FuzzLoadGroup(f *testing.F) {
	p := defaultcrypto.New()
	a, b := gtNewMember(f, p, stSuite, "alice"), gtNewMember(f, p, stSuite, "bob")
	a.g = gtMust(NewGroup(a.c, stSuite, GroupConfig{MaxPastEpochs: 1, NumberOfResumptionPSKs: 1}, nil))(f)
	gtMust(a.g.AddMembers(b.keyPackage(f)))(f)
	if err := a.g.MergePendingCommit(); err != nil {
		f.Fatal(err)
	}
	gtMust2(a.g.ProposeRemove(1))(f)
	gtMust(a.g.SendApplicationMessage([]byte("x"), nil))(f)
	gtMust(a.g.SelfUpdate(nil))(f) // pending
	id, epoch := a.g.GroupID(), a.g.Epoch()
	_, gs, err := a.c.Storage.ReadGroupState(id)
	if err != nil {
		f.Fatal(err)
	}
	es, err := a.c.Storage.ReadEpochSecrets(id, epoch)
	if err != nil {
		f.Fatal(err)
	}
	tree, err := a.c.Storage.ReadRatchetTree(id, epoch)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte{0}, gs...))
	f.Add(append([]byte{1}, es...))
	f.Add(append([]byte{2}, tree...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		store := memstore.New()
		c := *a.c
		c.Storage = store
		record := data[1:]
		_ = store.WriteGroupState(id, groupStateVersion, gs)
		_ = store.WriteEpochSecrets(id, epoch, es)
		_ = store.WriteRatchetTree(id, epoch, tree)
		switch data[0] % 3 {
		case 0:
			_ = store.WriteGroupState(id, groupStateVersion, record)
		case 1:
			_ = store.WriteEpochSecrets(id, epoch, record)
		default:
			_ = store.WriteRatchetTree(id, epoch, record)
		}
		for _, e := range []uint64{epoch - 1} {
			if b, err := a.c.Storage.ReadEpochSecrets(id, e); err == nil {
				_ = store.WriteEpochSecrets(id, e, b)
			}
			if b, err := a.c.Storage.ReadRatchetTree(id, e); err == nil {
				_ = store.WriteRatchetTree(id, e, b)
			}
		}
		g, err := LoadGroup(&c, id)
		if err == nil && g.Epoch() != epoch {
			// Another epoch can only load with its own record present.
			if _, rerr := store.ReadEpochSecrets(id, g.Epoch()); rerr != nil {
				t.Fatalf("loaded epoch %d without its record", g.Epoch())
			}
		}
	})
}

// BenchmarkMergePendingCommit measures merging our self-update Commit
// (MergePendingCommit, whose save stores the new epoch; the Commit itself
// is made untimed), for groups of 100 and 1000 members (and 10000 with
// MLSKIT_BENCH_10K=1), with one past epoch kept.
//
//	go test -run '^$' -bench MergePendingCommit -benchmem ./mls
func BenchmarkMergePendingCommit(b *testing.B) {
	sizes := []int{100, 1000}
	if os.Getenv("MLSKIT_BENCH_10K") != "" {
		sizes = append(sizes, 10000)
	}
	for _, n := range sizes {
		a := stBenchGroup(b, n)
		a.g.cfg.MaxPastEpochs = 1
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				b.StopTimer()
				if _, err := a.g.SelfUpdate(nil); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := a.g.MergePendingCommit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// leavesEncoding encodes the leaves of a past epoch's tree (all that a
// kept past epoch holds of it), blank ones as a zero byte.
func leavesEncoding(t pastTree) ([]byte, error) {
	b := binary.BigEndian.AppendUint32(nil, uint32(t.LeafCount()))
	for l := range ratchettree.LeafIndex(t.LeafCount()) {
		ln := t.Leaf(l)
		if ln == nil {
			b = append(b, 0)
			continue
		}
		enc, err := ln.Marshal()
		if err != nil {
			return nil, err
		}
		b = append(append(b, 1), enc...)
	}
	return b, nil
}
