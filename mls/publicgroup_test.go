package mls

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// pgFollower is a Delivery Service that follows a simulated group through
// a PublicGroup (gtObserver): it processes every proposal and Commit
// before the members do, stores and merges them, and checks after every
// epoch that it agrees with the members.
type pgFollower struct {
	t  testing.TB
	c  *Client
	pg *PublicGroup
	// reload makes the follower reload its PublicGroup from storage after
	// every merge.
	reload bool
	// commits counts the Commits followed.
	commits int
}

// newPGClient is a Client for a PublicGroup: provider and storage only.
func newPGClient(p providers.Provider) *Client {
	return &Client{Provider: p, Storage: memstore.New()}
}

func (f *pgFollower) proposal(sender *gtMember, msg []byte) {
	f.t.Helper()
	pm, err := f.pg.ProcessMessage(msg)
	if err != nil {
		f.t.Fatalf("public group processing a proposal of %s: %v", sender.name, err)
	}
	if pm.Kind != KindProposal {
		f.t.Fatalf("public group: kind %d, want proposal", pm.Kind)
	}
	if err := f.pg.StoreProposal(pm.Proposal); err != nil {
		f.t.Fatalf("public group: StoreProposal: %v", err)
	}
}

func (f *pgFollower) commit(committer *gtMember, msg []byte) {
	f.t.Helper()
	before := pgSnapshot(f.pg)
	pm, err := f.pg.ProcessMessage(msg)
	if err != nil {
		name := "an external joiner"
		if committer != nil {
			name = committer.name
		}
		f.t.Fatalf("public group processing a Commit of %s: %v", name, err)
	}
	if pm.Kind != KindCommit {
		f.t.Fatalf("public group: kind %d, want commit", pm.Kind)
	}
	if got := pgSnapshot(f.pg); got != before {
		f.t.Fatalf("processing a Commit changed the public group:\n%s\nwas\n%s", got, before)
	}
	if pm.Commit.SelfRemoved() {
		f.t.Fatal("a public group is removed by a Commit")
	}
	ctx, ok := pm.Commit.GroupContext()
	if !ok || ctx.Epoch != f.pg.Epoch()+1 {
		f.t.Fatalf("staged GroupContext %v, %v", ctx.Epoch, ok)
	}
	if err := f.pg.MergeStagedCommit(pm.Commit); err != nil {
		f.t.Fatalf("public group: MergeStagedCommit: %v", err)
	}
	if !bytes.Equal(f.pg.TreeHash(), ctx.TreeHash) || f.pg.Epoch() != ctx.Epoch {
		f.t.Fatal("merged public group differs from the staged GroupContext")
	}
	f.commits++
	if f.reload {
		pg, err := LoadPublicGroup(f.c, f.pg.GroupID(), PublicGroupConfig{})
		if err != nil {
			f.t.Fatalf("LoadPublicGroup: %v", err)
		}
		if got, want := pgSnapshot(pg), pgSnapshot(f.pg); got != want {
			f.t.Fatalf("reloaded public group:\n%s\nwant\n%s", got, want)
		}
		f.pg = pg
	}
}

func (f *pgFollower) check(s *gtSim) {
	f.t.Helper()
	pgAgrees(f.t, f.pg, s.members[0].g)
}

// pgAgrees checks that a public group agrees with a member's group: the
// GroupContext (epoch, tree hash, confirmed transcript hash, extensions),
// the members with their keys, the ratchet tree, the confirmation tag and
// the interim transcript hash.
func pgAgrees(t testing.TB, pg *PublicGroup, g *Group) {
	t.Helper()
	if err := pgDiff(pg, g); err != nil {
		t.Fatal(err)
	}
}

// pgDiff is pgAgrees as an error.
func pgDiff(pg *PublicGroup, g *Group) error {
	if pg.Epoch() != g.Epoch() {
		return fmt.Errorf("public group in epoch %d, members in %d", pg.Epoch(), g.Epoch())
	}
	pctx, mctx := pg.GroupContext(), g.GroupContext()
	pc, err := pctx.Marshal()
	if err != nil {
		return err
	}
	mc, err := mctx.Marshal()
	if err != nil {
		return err
	}
	if !bytes.Equal(pc, mc) {
		return fmt.Errorf("epoch %d: public group's GroupContext differs from the members'", g.Epoch())
	}
	if !bytes.Equal(pg.TreeHash(), g.TreeHash()) {
		return fmt.Errorf("epoch %d: tree hash differs", g.Epoch())
	}
	if got, want := pgMemberKeys(pg.Members()), pgMemberKeys(g.Members()); got != want {
		return fmt.Errorf("epoch %d: public group's members\n%s\nwant\n%s", g.Epoch(), got, want)
	}
	if pg.MemberCount() != g.MemberCount() {
		return fmt.Errorf("epoch %d: %d members, want %d", g.Epoch(), pg.MemberCount(), g.MemberCount())
	}
	pt, err := pg.RatchetTree().Marshal()
	if err != nil {
		return err
	}
	mt, err := g.RatchetTree().Marshal()
	if err != nil {
		return err
	}
	if !bytes.Equal(pt, mt) {
		return fmt.Errorf("epoch %d: ratchet tree differs", g.Epoch())
	}
	if !bytes.Equal(pg.ConfirmationTag(), g.ConfirmationTag()) || !bytes.Equal(pg.InterimTranscriptHash(), g.epoch.interim) {
		return fmt.Errorf("epoch %d: confirmation tag or interim transcript hash differs", g.Epoch())
	}
	return nil
}

func pgMemberKeys(ms []Member) string {
	var b bytes.Buffer
	for _, m := range ms {
		fmt.Fprintf(&b, "%d:%s:%x:%x\n", m.Index, m.Credential.Identity(), m.SignatureKey, m.EncryptionKey)
	}
	return b.String()
}

// pgSnapshot summarizes everything a public group holds.
func pgSnapshot(pg *PublicGroup) string {
	var b bytes.Buffer
	gc := pg.GroupContext()
	ctx, _ := gc.Marshal()
	tree, _ := pg.RatchetTree().Marshal()
	fmt.Fprintf(&b, "ctx %x\ntree %x\ntag %x\ninterim %x\nactive %v\n", ctx, tree, pg.ConfirmationTag(), pg.InterimTranscriptHash(), pg.Active())
	for _, q := range pg.PendingProposals() {
		p, _ := q.Proposal.Marshal()
		fmt.Fprintf(&b, "proposal %x %x %v %d\n", q.Ref, p, q.Sender, q.Epoch)
	}
	return b.String()
}

// pgFollow sets a follower on s: from m0's GroupInfo with the tree in
// band (viaGroupInfo) or handed over by m0.
func pgFollow(t testing.TB, s *gtSim, viaGroupInfo, reload bool) *pgFollower {
	t.Helper()
	f := &pgFollower{t: t, c: newPGClient(s.p), reload: reload}
	var err error
	if viaGroupInfo {
		gi := gtMust(s.members[0].g.GroupInfo(true))(t)
		f.pg, err = NewPublicGroup(f.c, gi, nil, PublicGroupConfig{})
	} else {
		f.pg, err = s.members[0].g.PublicGroup(f.c, PublicGroupConfig{})
	}
	if err != nil {
		t.Fatalf("creating the public group: %v", err)
	}
	s.ds = f
	return f
}

// TestPublicGroupLifecycle follows the group lifecycle of
// TestGroupLifecycle (adds, removes, updates, proposals by reference,
// GroupContextExtensions, SelfRemove, signer rotation) with a PublicGroup
// that processes every handshake message before the members and agrees
// with them after every epoch; the handshake messages are PublicMessages.
func TestPublicGroupLifecycle(t *testing.T) {
	gtForSuites(t, func(t *testing.T, suite codec.CipherSuite) {
		for _, mode := range []struct {
			name                 string
			viaGroupInfo, reload bool
		}{{"groupinfo", true, false}, {"export-reload", false, true}} {
			t.Run(mode.name, func(t *testing.T) {
				var f *pgFollower
				gtLifecycle(t, suite, GroupConfig{WireFormatPolicy: MixedPlaintext(), UseRatchetTreeExtension: true}, func(s *gtSim) {
					f = pgFollow(t, s, mode.viaGroupInfo, mode.reload)
				})
				if f.commits < 10 {
					t.Fatalf("followed %d commits", f.commits)
				}
			})
		}
	})
}

// TestPublicGroupRefusesPrivateMessage: a PublicGroup cannot decrypt, so
// it refuses a PrivateMessage with ErrPrivateMessage and is unchanged.
func TestPublicGroupRefusesPrivateMessage(t *testing.T) {
	suite := gtSuites[0]
	s := newGTSim(t, suite, GroupConfig{WireFormatPolicy: PureCiphertext(), UseRatchetTreeExtension: true})
	f := pgFollow(t, s, true, false)
	s.ds = nil
	a := s.members[0]
	// The Add is a PrivateMessage: the follower cannot follow it.
	add := gtMust(a.g.AddMembers(gtKeyPackage(t, s.newClient().c, suite)))(t)
	if _, err := f.pg.ProcessMessage(add.Commit); !errors.Is(err, ErrPrivateMessage) {
		t.Fatalf("PrivateMessage Add: %v, want ErrPrivateMessage", err)
	}
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	// It starts again from the current GroupInfo.
	pg := gtMust(NewPublicGroup(newPGClient(s.p), gtMust(a.g.GroupInfo(true))(t), nil, PublicGroupConfig{}))(t)
	if pg.MemberCount() != 2 || pg.Epoch() != 1 {
		t.Fatalf("public group of %d members in epoch %d", pg.MemberCount(), pg.Epoch())
	}
	before := pgSnapshot(pg)
	res := gtMust(a.g.SelfUpdate(nil))(t)
	if _, err := pg.ProcessMessage(res.Commit); !errors.Is(err, ErrPrivateMessage) {
		t.Fatalf("PrivateMessage Commit: %v, want ErrPrivateMessage", err)
	}
	app := gtMust(a.g.SendApplicationMessage([]byte("x"), nil))(t)
	if _, err := pg.ProcessMessage(app); !errors.Is(err, ErrPrivateMessage) {
		t.Fatalf("application message: %v, want ErrPrivateMessage", err)
	}
	if pgSnapshot(pg) != before {
		t.Fatal("a refused message changed the public group")
	}
}

// pgPassive follows a passive-client vector session with a PublicGroup
// (passiveObserver). The PublicGroup is handed over by the passive client
// once it joined (a Welcome is encrypted to the joiner; a non-member has
// nothing to start from in these sessions but a member's export). An epoch
// whose Commit, or one of whose proposals, is a PrivateMessage cannot be
// followed by a non-member: the PublicGroup then refuses the message with
// ErrPrivateMessage, the epoch is counted as skipped, and the passive
// client hands the group over again after it merged the Commit. After
// every epoch the PublicGroup must agree with the member (pgDiff).
type pgPassive struct {
	p  providers.Provider
	pg *PublicGroup
	// lost: a message of the current epoch was a PrivateMessage.
	lost              bool
	followed, skipped int
}

func (o *pgPassive) handOver(g *Group) error {
	c := newPGClient(o.p)
	c.IgnoreReceivedLifetimes = true // as the passive client
	pg, err := g.PublicGroup(c, PublicGroupConfig{})
	if err != nil {
		return err
	}
	o.pg = pg
	return pgDiff(pg, g)
}

func (o *pgPassive) joined(g *Group) error { return o.handOver(g) }

func (o *pgPassive) message(_ int, msg []byte, commit bool) error {
	var m codec.MLSMessage
	if err := m.Unmarshal(msg); err != nil {
		return err
	}
	if m.WireFormat == codec.WireFormatMLSPrivateMessage {
		if _, err := o.pg.ProcessMessage(msg); !errors.Is(err, ErrPrivateMessage) {
			return fmt.Errorf("public group given a PrivateMessage: %v, want ErrPrivateMessage", err)
		}
		o.lost = true
		return nil
	}
	if o.lost {
		// A Commit may reference the encrypted proposals we missed.
		return nil
	}
	before := pgSnapshot(o.pg)
	pm, err := o.pg.ProcessMessage(msg)
	if err != nil {
		return fmt.Errorf("public group: %w", err)
	}
	if pgSnapshot(o.pg) != before {
		return errors.New("processing changed the public group")
	}
	switch {
	case commit && pm.Kind == KindCommit:
		return o.pg.MergeStagedCommit(pm.Commit)
	case !commit && pm.Kind == KindProposal:
		return o.pg.StoreProposal(pm.Proposal)
	}
	return fmt.Errorf("public group: kind %d", pm.Kind)
}

func (o *pgPassive) merged(_ int, g *Group) error {
	if o.lost {
		o.lost = false
		o.skipped++
		return o.handOver(g)
	}
	o.followed++
	return pgDiff(o.pg, g)
}

// TestPublicGroupPassiveClient follows every passive-client-*.json session
// of the official vectors with a PublicGroup (see pgPassive) and logs, per
// file, the epochs followed and those skipped because a handshake message
// was a PrivateMessage; with -short under wasm, the cases of
// passiveCasesToRun.
func TestPublicGroupPassiveClient(t *testing.T) {
	for _, name := range testvectors.Files(t, "passive-client-*.json") {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			var cases []passiveCase
			testvectors.Load(t, name, &cases)
			run, want := passiveCasesToRun(cases)
			ran := testvectors.Expect(t, name, want)
			followed, skipped := 0, 0
			for i := range cases {
				if !run[i] {
					continue
				}
				c := &cases[i]
				t.Run(fmt.Sprintf("%d/suite%d", i, c.CipherSuite), func(t *testing.T) {
					o := &pgPassive{p: defaultcrypto.New()}
					if _, err := runPassive(c, o); err != nil {
						t.Fatal(err)
					}
					if o.followed+o.skipped != len(c.Epochs) {
						t.Fatalf("%d epochs followed and %d skipped of %d", o.followed, o.skipped, len(c.Epochs))
					}
					followed += o.followed
					skipped += o.skipped
					ran.Ran()
				})
			}
			t.Logf("%s: %d of %d cases, %d epochs followed by the public group, %d skipped (a PrivateMessage)", name, want, len(cases), followed, skipped)
		})
	}
}

// pgNegUndetectable lists the cases of TestNegativeRules whose message a
// non-member cannot refuse, and why: the PublicGroup accepts them (each is
// refused by every member).
var pgNegUndetectable = map[string]string{
	"membership tag":                                         "the membership tag is a MAC under the membership_key (§6.2)",
	"own proposal processed":                                 "b's own proposal is an ordinary proposal to a non-member",
	"own commit processed":                                   "b's own Commit is an ordinary Commit to a non-member",
	"path secret does not decrypt":                           "the path secrets are encrypted to the members (§7.6)",
	"path public key does not match its secret":              "the derived keys need the path secrets (§7.6)",
	"wrong confirmation tag":                                 "the confirmation tag is a MAC under the confirmation_key (§6.1)",
	"PSK not available":                                      "PSKs are the members' (§8.4)",
	"external commit with a kem_output that does not decode": "only the group's external private key decapsulates it (§8.3)",
	"external commit with a wrong kem_output":                "the init secret it gives is checked by the confirmation tag (§8.3)",
}

// pgNegFollower is the PublicGroup of a negative test: handed over by b,
// checking credentials with the same validator as the members.
func pgNegFollower(n *gtNeg) *pgFollower {
	n.t.Helper()
	c := newPGClient(n.s.p)
	c.CredentialValidator = gtEvilValidator
	f := &pgFollower{t: n.t, c: c}
	var err error
	if f.pg, err = n.b.g.PublicGroup(c, PublicGroupConfig{}); err != nil {
		n.t.Fatalf("PublicGroup: %v", err)
	}
	// It also follows the valid Commit that ends each case.
	n.s.ds = f
	return f
}

// expectPublic gives the message that b refused with rule to the
// PublicGroup: a PrivateMessage must be refused with ErrPrivateMessage;
// a message of a case in pgNegUndetectable must be accepted (and is not
// merged); any other must be refused with the same rule. Either way the
// PublicGroup must be unchanged.
func (n *gtNeg) expectPublic(msg []byte, rule error) {
	n.t.Helper()
	pg := n.pg.pg
	before := pgSnapshot(pg)
	pm, err := pg.ProcessMessage(msg)
	var m codec.MLSMessage
	private := m.Unmarshal(msg) == nil && m.WireFormat == codec.WireFormatMLSPrivateMessage
	_, undetectable := pgNegUndetectable[n.name]
	switch {
	case private:
		if !errors.Is(err, ErrPrivateMessage) {
			n.t.Fatalf("public group given a PrivateMessage: %v, want ErrPrivateMessage", err)
		}
	case undetectable:
		if err != nil {
			n.t.Fatalf("public group refused a message it cannot judge (%s): %v", pgNegUndetectable[n.name], err)
		}
		if pm.Commit != nil {
			pm.Commit.Discard()
		}
	default:
		if !errors.Is(err, rule) {
			n.t.Fatalf("public group: got error %v, want %v", err, rule)
		}
	}
	if after := pgSnapshot(pg); after != before {
		n.t.Fatalf("public group changed by a refused message:\n%s\nwant\n%s", after, before)
	}
}

// pgStore is a storage the persistence tests run on.
type pgStore struct {
	name string
	// open returns the storage; reopen closes it and opens it again.
	open, reopen func() providers.Storage
}

// pgStores are the storages the persistence tests run on: memstore, and
// where SQLite builds (not js/wasm, wasip1) a SQLite file that is closed
// and opened again at every reload (pgSQLiteStore).
func pgStores(t *testing.T) []pgStore {
	mem := memstore.New()
	stores := []pgStore{{"memstore", func() providers.Storage { return mem }, func() providers.Storage { return mem }}}
	if st, ok := pgSQLiteStore(t); ok {
		stores = append(stores, st)
	}
	return stores
}

// TestPublicGroupPersistence: a PublicGroup is written to its storage at
// creation, with every stored proposal and every merge, and loads again
// exactly (GroupContext, tree, transcript, proposal store), through
// memstore and through SQLite (closed and reopened at every reload), for
// more epochs than a chain of stored tree changes holds; it stores no
// secret, and LoadGroup and LoadPublicGroup refuse each other's records.
func TestPublicGroupPersistence(t *testing.T) {
	for _, st := range pgStores(t) {
		t.Run(st.name, func(t *testing.T) {
			suite := gtSuites[0]
			s := newGTSim(t, suite, GroupConfig{WireFormatPolicy: MixedPlaintext(), UseRatchetTreeExtension: true})
			f := &pgFollower{t: t, c: &Client{Provider: s.p, Storage: st.open()}}
			f.pg = gtMust(NewPublicGroup(f.c, gtMust(s.members[0].g.GroupInfo(true))(t), nil, PublicGroupConfig{}))(t)
			s.ds = f
			id := f.pg.GroupID()
			reload := func() {
				t.Helper()
				want := pgSnapshot(f.pg)
				f.c.Storage = st.reopen()
				pg, err := LoadPublicGroup(f.c, id, PublicGroupConfig{})
				if err != nil {
					t.Fatalf("LoadPublicGroup: %v", err)
				}
				if got := pgSnapshot(pg); got != want {
					t.Fatalf("reloaded:\n%s\nwant\n%s", got, want)
				}
				f.pg = pg
			}
			reload()
			ms := s.add(s.members[0], 3, false)
			reload()
			// A proposal in the store survives a reload and is then
			// committed by reference.
			prop, _ := gtMust2(ms[0].g.ProposeRemove(ms[2].g.OwnLeafIndex()))(t)
			s.broadcast(ms[0], prop)
			if len(f.pg.PendingProposals()) != 1 {
				t.Fatalf("%d pending proposals", len(f.pg.PendingProposals()))
			}
			reload()
			if len(f.pg.PendingProposals()) != 1 {
				t.Fatalf("%d pending proposals after reload", len(f.pg.PendingProposals()))
			}
			s.applyCommit(ms[1], gtMust(ms[1].g.CommitPendingProposals())(t))
			for i := range 40 {
				m := s.members[i%len(s.members)]
				s.applyCommit(m, gtMust(m.g.SelfUpdate(nil))(t))
				if i%7 == 0 {
					reload()
				}
			}
			reload()
			pgAgrees(t, f.pg, s.members[0].g)
			// No secrets: no epoch secrets, secret tree, key or key package.
			store := f.c.Storage
			if es, err := store.ListEpochs(id); err != nil || len(es) != 0 {
				t.Fatalf("epoch secrets stored for epochs %v (%v)", es, err)
			}
			if kps, err := store.ListKeyPackages(); err != nil || len(kps) != 0 {
				t.Fatalf("key packages stored: %d (%v)", len(kps), err)
			}
			// Old tree records are pruned: a whole record and a chain of
			// changes bounded by its cost.
			e := f.pg.Epoch()
			tcStoredChain(t, store, id, tcWholeBefore(t, store, id, e), e)
			// The records are a PublicGroup's, not a member's.
			if _, err := LoadGroup(&Client{Provider: s.p, Storage: store}, id); !errors.Is(err, ErrCorruptState) {
				t.Fatalf("LoadGroup of a PublicGroup's record: %v", err)
			}
			if _, err := LoadPublicGroup(s.members[0].c, id, PublicGroupConfig{}); !errors.Is(err, ErrCorruptState) {
				t.Fatalf("LoadPublicGroup of a member's record: %v", err)
			}
			if _, err := LoadPublicGroup(f.c, []byte("no such group"), PublicGroupConfig{}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("LoadPublicGroup of an unknown group: %v", err)
			}
		})
	}
}

// TestPublicGroupFailedWrites: when the storage fails during a merge or
// while storing a proposal, the PublicGroup is unchanged in memory and in
// storage, and the operation can be retried.
func TestPublicGroupFailedWrites(t *testing.T) {
	suite := gtSuites[0]
	s := newGTSim(t, suite, GroupConfig{WireFormatPolicy: MixedPlaintext(), UseRatchetTreeExtension: true})
	ms := s.add(s.members[0], 2, false)
	faulty := storagetest.NewFaulty(memstore.New())
	c := &Client{Provider: s.p, Storage: faulty}
	pg := gtMust(s.members[0].g.PublicGroup(c, PublicGroupConfig{}))(t)
	// Storing a proposal.
	prop, _ := gtMust2(ms[1].g.ProposeRemove(s.members[0].g.OwnLeafIndex()))(t)
	q := gtMust(pg.ProcessMessage(prop))(t).Proposal
	before := pgSnapshot(pg)
	faulty.FailAt(1)
	if err := pg.StoreProposal(q); !errors.Is(err, storagetest.ErrInjected) {
		t.Fatalf("StoreProposal with a failing store: %v", err)
	}
	faulty.Reset()
	if pgSnapshot(pg) != before || pgSnapshot(gtMust(LoadPublicGroup(c, pg.GroupID(), PublicGroupConfig{}))(t)) != before {
		t.Fatal("a failed StoreProposal changed the public group")
	}
	if err := pg.StoreProposal(q); err != nil || len(pg.PendingProposals()) != 1 {
		t.Fatalf("StoreProposal again: %v", err)
	}
	// Merging a Commit, with each of its storage operations failing in
	// turn.
	for k := 1; ; k++ {
		res := gtMust(ms[0].g.SelfUpdate(nil))(t)
		if err := ms[0].g.ClearPendingCommit(); err != nil {
			t.Fatal(err)
		}
		pm := gtMust(pg.ProcessMessage(res.Commit))(t)
		before := pgSnapshot(pg)
		faulty.FailAt(k)
		err := pg.MergeStagedCommit(pm.Commit)
		failed := len(faulty.Failed()) > 0
		faulty.Reset()
		if !failed {
			if err != nil {
				t.Fatal(err)
			}
			if k < 2 {
				t.Fatalf("a merge of %d storage operations", k)
			}
			break
		}
		if !errors.Is(err, storagetest.ErrInjected) {
			t.Fatalf("merge with operation %d failing: %v", k, err)
		}
		if pgSnapshot(pg) != before {
			t.Fatalf("a failed merge (operation %d) changed the public group", k)
		}
		loaded := gtMust(LoadPublicGroup(c, pg.GroupID(), PublicGroupConfig{}))(t)
		if pgSnapshot(loaded) != before {
			t.Fatalf("a failed merge (operation %d) changed the stored public group", k)
		}
		// The member's group never merged; the next round makes a new
		// Commit of the same epoch.
	}
}

// TestPropertyPublicGroupFollows: over random group sessions (the
// operations of TestPropertyGroupAgreement: adds, removes, self-updates,
// proposals by reference, external joins, resyncs, reloads, half of them
// with failing member stores) whose handshake messages are PublicMessages,
// a PublicGroup created from a GroupInfo or handed over by the creator,
// and reloaded from its storage after every merge or not, processes every
// proposal and Commit before the members and agrees with them after every
// step: GroupContext (epoch, tree hash, transcript), ratchet tree, members
// and interim transcript hash (pgAgrees).
func TestPropertyPublicGroupFollows(t *testing.T) {
	params := testseed.Gopter(t)
	params.MinSuccessfulTests = 60
	params.MinSize, params.MaxSize = 12, 40
	if testing.Short() {
		params.MinSuccessfulTests = 10
	}
	suite := gtSuites[0]
	var st gtStats
	props := gopter.NewProperties(params)
	props.Property("public group agrees with the members", prop.ForAll(func(ops []gtOp) string {
		if msg := gtRunOps(t, suite, ops, &st, gtRunMode{publicGroup: true}); msg != "" {
			var b strings.Builder
			for _, o := range ops {
				b.WriteString(o.String() + " ")
			}
			return msg + "\nops: " + b.String()
		}
		return ""
	}, gen.SliceOf(gtOpGen())))
	props.TestingRun(t)
	if st.followed == 0 {
		t.Fatal("the public group followed no Commit")
	}
	t.Logf("%d sequences, %d Commits followed by the public group; ops add/remove/update/proposals/app/external/resync/late-app/reload = %v; up to %d members", st.sequences, st.followed, st.ops, st.maxMembers)
}
