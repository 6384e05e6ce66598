package mls

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/providers/memstore"
)

// gtOp is one random step of a group's life. Its fields pick members and
// variants modulo what exists at the time it runs, so every sequence is
// valid and shrinks to valid sequences.
type gtOp struct {
	Kind uint8 // see gtOpKinds
	A, B uint8 // member picks
	N    uint8 // count or variant
	P    []uint8
}

const (
	gtOpAdd       = iota // A commits the addition of 1–6 new members
	gtOpRemove           // A commits the removal of B
	gtOpUpdate           // A commits a self-update (path)
	gtOpProposals        // members of P propose, B commits by reference
	gtOpApp              // A sends an application message
	gtOpExternal         // a new client joins by external Commit (GroupInfo of A)
	gtOpResync           // A lost its state and rejoins, removing its old leaf
	gtOpLateApp          // A sends a message, B commits, then it is delivered
	gtOpReload           // A's group is reloaded from its storage (LoadGroup)
	gtOpKinds
)

func (o gtOp) String() string {
	names := [...]string{"add", "remove", "update", "proposals", "app", "external", "resync", "late-app", "reload"}
	return fmt.Sprintf("%s(A=%d B=%d N=%d P=%v)", names[int(o.Kind)%gtOpKinds], o.A, o.B, o.N, o.P)
}

// gtMaxMembers bounds the simulated group.
const gtMaxMembers = 30

// gtFailure carries a harness failure out of a property run.
type gtFailure struct{ msg string }

// gtRecorder is a testing.TB whose fatal calls panic with a gtFailure, so
// that a property can report false and let gopter shrink the sequence.
type gtRecorder struct {
	testing.TB
}

func (r gtRecorder) Fatalf(format string, args ...any) {
	panic(gtFailure{fmt.Sprintf(format, args...)})
}
func (r gtRecorder) Fatal(args ...any) { panic(gtFailure{fmt.Sprint(args...)}) }
func (r gtRecorder) Errorf(format string, args ...any) {
	panic(gtFailure{fmt.Sprintf(format, args...)})
}
func (r gtRecorder) Helper() {}

// gtRunOps runs a sequence of operations on a fresh group of the suite,
// checking after every step that all members agree (gtSim.check) and that
// every application message is decrypted by every other member.
func gtRunOps(t testing.TB, suite codec.CipherSuite, ops []gtOp, st *gtStats, mode gtRunMode) (result string) {
	// Every failure in the run, of the simulator or of a check below,
	// panics with a gtFailure (recovered below) instead of stopping the
	// test, so that the property fails and gopter shrinks the sequence.
	t = gtRecorder{t}
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(gtFailure); ok {
				result = f.msg
				return
			}
			result = fmt.Sprint("panic: ", r)
		}
	}()
	cfg := GroupConfig{UseRatchetTreeExtension: true, MaxPastEpochs: 1}
	if len(ops) > 0 && ops[0].N&8 != 0 || mode.publicGroup {
		// Half the sequences send handshake messages in the clear.
		cfg.WireFormatPolicy = PurePlaintext()
		st.plaintext++
	}
	s := newGTSim(t, suite, cfg)
	if mode.publicGroup {
		var variant uint8
		if len(ops) > 0 {
			variant = ops[0].B
		}
		f := pgFollow(t, s, variant&1 == 0, variant&2 == 0)
		defer func() { st.followed += f.commits }()
	}
	if len(ops) > 0 && ops[0].N&16 != 0 {
		// Half the sequences run with stores that fail at random
		// operations of merges, sends and receives; the members recover
		// by retrying or by reloading from storage.
		s.faults = rand.New(rand.NewPCG(uint64(ops[0].A), uint64(ops[0].B)))
		st.faulty++
		defer func() { st.injected += s.injected }()
	}
	pick := func(i uint8) *gtMember { return s.members[int(i)%len(s.members)] }
	st.sequences++
	for step, op := range ops {
		n := len(s.members)
		if n > st.maxMembers {
			st.maxMembers = n
		}
		st.ops[int(op.Kind)%gtOpKinds]++
		switch int(op.Kind) % gtOpKinds {
		case gtOpAdd:
			k := 1 + int(op.N)%6
			if n+k > gtMaxMembers {
				continue
			}
			s.add(pick(op.A), k, op.N&4 != 0)
		case gtOpRemove:
			if n < 2 {
				continue
			}
			a, b := pick(op.A), pick(op.B)
			if a == b {
				b = s.members[(int(op.B)+1)%n]
			}
			res := gtMust(a.g.RemoveMembers(b.g.OwnLeafIndex()))(t)
			if removed := s.applyCommit(a, res); len(removed) != 1 || removed[0] != b {
				t.Fatalf("step %d: removed %d members", step, len(removed))
			}
		case gtOpUpdate:
			a := pick(op.A)
			s.applyCommit(a, gtMust(a.g.SelfUpdate(nil))(t))
		case gtOpProposals:
			committer := pick(op.B)
			var joiners []*gtMember
			added := 0
			for i, pv := range op.P {
				if i >= 4 {
					break
				}
				proposer := pick(pv)
				var msg []byte
				switch (int(pv) / 7) % 4 {
				case 0: // Add
					if n+added+1 > gtMaxMembers {
						continue
					}
					j := s.newClient()
					msg, _ = gtMust2(proposer.g.ProposeAdd(gtKeyPackage(s.t, j.c, suite)))(t)
					joiners = append(joiners, j)
					added++
				case 1: // Remove of someone other than the committer
					target := s.members[(int(pv)+i)%n]
					if target == committer {
						continue
					}
					msg, _ = gtMust2(proposer.g.ProposeRemove(target.g.OwnLeafIndex()))(t)
				case 2: // Update
					msg, _ = gtMust2(proposer.g.ProposeSelfUpdate(nil))(t)
				case 3: // Leave
					if proposer == committer {
						continue
					}
					msg = gtMust(proposer.g.LeaveGroup())(t)
				}
				s.broadcast(proposer, msg)
			}
			res := gtMust(committer.g.CommitPendingProposals())(t)
			st.byRef += len(committer.g.PendingProposals())
			s.applyCommit(committer, res, joiners...)
		case gtOpApp:
			if n < 2 {
				continue
			}
			a := pick(op.A)
			s.sendApp(a, []byte(fmt.Sprintf("step %d from %s", step, a.name)), []byte{op.N})
		case gtOpExternal:
			if n >= gtMaxMembers {
				continue
			}
			s.externalJoin(pick(op.A), op.N&1 == 0, nil)
		case gtOpResync:
			if n < 2 {
				continue
			}
			a := pick(op.A)
			from := s.members[(int(op.A)+1+int(op.B)%(n-1))%n]
			// A fresh instance of the same client (same signer and
			// credential, empty storage) rejoins and removes the old leaf.
			old := a.g.OwnLeafIndex()
			fresh := &Client{Provider: a.c.Provider, Storage: memstore.New(), Signer: a.c.Signer, Credential: a.c.Credential}
			g, commit, err := JoinByExternalCommit(fresh, gtMust(from.g.GroupInfo(true))(t), nil, s.cfg, &ExternalCommitOptions{RemoveLeaf: &old})
			if err != nil {
				t.Fatalf("step %d: resync of %s: %v", step, a.name, err)
			}
			oldG := a.g
			s.deliverExternal(commit)
			if oldG.Active() {
				t.Fatalf("step %d: old instance of %s still active", step, a.name)
			}
			a.c, a.g = fresh, g
			s.members = append(s.members, a)
			s.check()
		case gtOpReload:
			a := pick(op.A)
			g, err := LoadGroup(a.c, a.g.GroupID())
			if err != nil {
				t.Fatalf("step %d: reloading %s: %v", step, a.name, err)
			}
			if gtSnapshot(g) != gtSnapshot(a.g) {
				t.Fatalf("step %d: %s reloaded differs:\n%s\nwant\n%s", step, a.name, gtSnapshot(g), gtSnapshot(a.g))
			}
			a.g = g
		case gtOpLateApp:
			if n < 2 {
				continue
			}
			a, b := pick(op.A), pick(op.B)
			data := []byte(fmt.Sprintf("late %d", step))
			msg := gtMust(a.g.SendApplicationMessage(data, nil))(t)
			s.applyCommit(b, gtMust(b.g.SelfUpdate(nil))(t))
			for _, m := range s.members {
				if m == a {
					continue
				}
				pm, err := m.g.ProcessMessage(msg)
				if err != nil || string(pm.ApplicationData) != string(data) {
					t.Fatalf("step %d: %s cannot read the late message of %s: %v", step, m.name, a.name, err)
				}
			}
		}
	}
	return ""
}

// gtRunMode says how gtRunOps runs a sequence.
type gtRunMode struct {
	// publicGroup: all handshake messages are PublicMessages, and a
	// PublicGroup follows the group (pgFollow: from a GroupInfo or handed
	// over, reloaded from its storage after every merge or not) and must
	// agree with the members after every step.
	publicGroup bool
}

// gtStats counts what the property runs exercised.
type gtStats struct {
	sequences, maxMembers, byRef, plaintext int
	faulty, injected                        int
	ops                                     [gtOpKinds]int
	// followed counts the Commits a PublicGroup followed.
	followed int
}

// gtOpGen generates one gtOp.
func gtOpGen() gopter.Gen {
	return gen.Struct(reflect.TypeOf(gtOp{}), map[string]gopter.Gen{
		"Kind": gen.UInt8Range(0, gtOpKinds-1),
		"A":    gen.UInt8(),
		"B":    gen.UInt8(),
		"N":    gen.UInt8(),
		"P":    gen.SliceOfN(3, gen.UInt8()),
	})
}

// TestPropertyGroupAgreement: random sequences of adds, removes,
// self-updates, proposals by reference committed by a random member,
// external joins, resyncs, (late) application messages and reloads from
// storage, over up to 30 members, half of them with stores that fail at
// random operations of merges, sends and receives (the member retries or
// reloads and retries), keep every member's epoch
// authenticator, tree hash and membership identical, and every application
// message is decrypted by every other member (RFC 9420 §8.7, §12).
func TestPropertyGroupAgreement(t *testing.T) {
	params := testseed.Gopter(t)
	params.MinSuccessfulTests = 200
	params.MinSize, params.MaxSize = 12, 48
	if testing.Short() {
		params.MinSuccessfulTests = 20
	}
	opGen := gtOpGen()
	suite := gtSuites[0]
	var st gtStats
	props := gopter.NewProperties(params)
	props.Property("members agree", prop.ForAll(func(ops []gtOp) string {
		if msg := gtRunOps(t, suite, ops, &st, gtRunMode{}); msg != "" {
			var b strings.Builder
			for _, o := range ops {
				b.WriteString(o.String() + " ")
			}
			return msg + "\nops: " + b.String()
		}
		return ""
	}, gen.SliceOf(opGen)))
	props.TestingRun(t)
	t.Logf("%d sequences (%d with failing stores, %d failures injected and recovered from)", st.sequences, st.faulty, st.injected)
	t.Logf("%d sequences (%d with PublicMessage handshakes); ops add/remove/update/proposals/app/external/resync/late-app/reload = %v; %d proposals committed by reference; up to %d members", st.sequences, st.plaintext, st.ops, st.byRef, st.maxMembers)
}

// TestPropertyHarnessDetectsDisagreement checks that the property can
// fail: a member that silently misses a commit is caught.
func TestPropertyHarnessDetectsDisagreement(t *testing.T) {
	msg := func() (msg string) {
		defer func() {
			if r := recover(); r != nil {
				msg = r.(gtFailure).msg
			}
		}()
		s := newGTSim(gtRecorder{t}, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true})
		s.add(s.members[0], 2, false)
		a := s.members[0]
		res := gtMust(a.g.SelfUpdate(nil))(t)
		if err := a.g.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		_ = res
		s.check() // the others did not process the commit
		return ""
	}()
	if !strings.Contains(msg, "epoch") {
		t.Fatalf("disagreement not detected: %q", msg)
	}
}
