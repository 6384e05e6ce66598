package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/mlskit/mlskit/codec"
)

// forkGroup makes a group of four, a b c d, and forks it: a and c commit in
// the same epoch; a and b merge a's Commit, c and d merge c's.
func forkGroup(t *testing.T, wf WireFormatPolicy) (s *gtSim, a, b, c, d *gtMember) {
	t.Helper()
	reqCaps := gtMust(oneExtension(Extensions(nil).WithRequiredCapabilities(&codec.RequiredCapabilities{ProposalTypes: []codec.ProposalType{codec.ProposalTypeSelfRemove}})))(t)
	s = newGTSim(t, gtSuites[0], GroupConfig{WireFormatPolicy: wf, UseRatchetTreeExtension: true}, &CreateOptions{GroupContextExtensions: Extensions{reqCaps}})
	js := s.add(s.members[0], 3, false)
	a, b, c, d = s.members[0], js[0], js[1], js[2]
	ra := gtMust(a.g.SelfUpdate(nil))(t)
	rc := gtMust(c.g.SelfUpdate(nil))(t)
	for _, m := range []*gtMember{a, c} {
		if err := m.g.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range []struct {
		m   *gtMember
		msg []byte
	}{{b, ra.Commit}, {d, rc.Commit}} {
		pm := gtMust(x.m.g.ProcessMessage(x.msg))(t)
		if err := x.m.g.MergeStagedCommit(pm.Commit); err != nil {
			t.Fatal(err)
		}
	}
	return s, a, b, c, d
}

func forkReports(ms ...*gtMember) map[LeafIndex]EpochReport {
	out := map[LeafIndex]EpochReport{}
	for _, m := range ms {
		out[m.g.OwnLeafIndex()] = m.g.EpochReport()
	}
	return out
}

// forkAgree checks that all members share the epoch and that application
// messages flow between all of them.
func forkAgree(t *testing.T, ms ...*gtMember) {
	t.Helper()
	for _, m := range ms {
		if fc := m.g.CheckFork(forkReports(ms...)); len(fc.InSync) != len(ms) || fc.IsForked() || len(fc.OtherEpoch)+len(fc.Missing) != 0 || m.g.MemberCount() != len(ms) {
			t.Fatalf("%s after recovery: %+v, %d members", m.name, fc, m.g.MemberCount())
		}
	}
	for _, from := range ms {
		msg := gtMust(from.g.SendApplicationMessage([]byte("hello from "+from.name), nil))(t)
		for _, to := range ms {
			if to == from {
				continue
			}
			pm, err := to.g.ProcessMessage(msg)
			if err != nil || !bytes.Equal(pm.ApplicationData, []byte("hello from "+from.name)) {
				t.Fatalf("%s reading %s after recovery: %v", to.name, from.name, err)
			}
		}
	}
}

// TestForkDetectAndRecover makes a fork on purpose, detects it from every
// member's point of view, and recovers by re-adding the other side and by
// rebooting the group; afterwards everyone agrees and reads everyone.
func TestForkDetectAndRecover(t *testing.T) {
	for _, wf := range []WireFormatPolicy{PurePlaintext(), PureCiphertext()} {
		t.Run(fmt.Sprint(wf.Outgoing), func(t *testing.T) {
			t.Run("detect", func(t *testing.T) {
				_, a, b, c, d := forkGroup(t, wf)
				reports := forkReports(a, b, c, d)
				for _, x := range []struct {
					m            *gtMember
					sync, forked []*gtMember
				}{{a, []*gtMember{a, b}, []*gtMember{c, d}}, {b, []*gtMember{a, b}, []*gtMember{c, d}}, {c, []*gtMember{c, d}, []*gtMember{a, b}}, {d, []*gtMember{c, d}, []*gtMember{a, b}}} {
					fc := x.m.g.CheckFork(reports)
					if !fc.IsForked() || !sameLeaves(fc.InSync, x.sync) || !sameLeaves(fc.Forked, x.forked) {
						t.Fatalf("%s: %+v", x.m.name, fc)
					}
				}
				// A member behind, and one that did not report.
				delete(reports, d.g.OwnLeafIndex())
				r := reports[b.g.OwnLeafIndex()]
				r.Epoch--
				reports[b.g.OwnLeafIndex()] = r
				fc := a.g.CheckFork(reports)
				if !sameLeaves(fc.OtherEpoch, []*gtMember{b}) || !sameLeaves(fc.Missing, []*gtMember{d}) || !sameLeaves(fc.Forked, []*gtMember{c}) {
					t.Fatalf("a with b behind and d silent: %+v", fc)
				}
				// Forked members cannot read each other.
				msg := gtMust(a.g.SendApplicationMessage([]byte("x"), nil))(t)
				if _, err := c.g.ProcessMessage(msg); err == nil {
					t.Fatal("a forked member read the other side")
				}
			})
			t.Run("readd", func(t *testing.T) {
				s, a, b, c, d := forkGroup(t, wf)
				fc := a.g.CheckFork(forkReports(a, b, c, d))
				kps := []*codec.KeyPackage{gtKeyPackage(t, d.c, s.suite), gtKeyPackage(t, c.c, s.suite)}
				// Wrong key packages are refused.
				if _, err := a.g.RecoverForkByReadding(fc.Forked, []*codec.KeyPackage{kps[0], gtKeyPackage(t, b.c, s.suite)}); !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("re-adding with another member's key package: %v", err)
				}
				res := gtMust(a.g.RecoverForkByReadding(fc.Forked, kps))(t)
				if err := a.g.MergePendingCommit(); err != nil {
					t.Fatal(err)
				}
				pm := gtMust(b.g.ProcessMessage(res.Commit))(t)
				if err := b.g.MergeStagedCommit(pm.Commit); err != nil {
					t.Fatal(err)
				}
				// A plain join refuses to overwrite the forked state.
				if _, err := JoinFromWelcome(c.c, res.Welcome, nil, s.cfg); !errors.Is(err, ErrGroupExists) {
					t.Fatalf("plain join over the forked state: %v", err)
				}
				for _, m := range []*gtMember{c, d} {
					old := m.g
					m.g = gtMust(JoinAfterFork(m.c, old, res.Welcome, nil, s.cfg))(t)
					if old.Active() {
						t.Fatalf("%s: old forked group still active", m.name)
					}
					// The stored state is the new one.
					lg := gtMust(LoadGroup(m.c, m.g.GroupID()))(t)
					if !bytes.Equal(lg.EpochAuthenticator(), m.g.EpochAuthenticator()) {
						t.Fatalf("%s: stored state is not the rejoined group", m.name)
					}
				}
				forkAgree(t, a, b, c, d)
			})
			t.Run("reboot", func(t *testing.T) {
				s, a, b, c, d := forkGroup(t, wf)
				oldExts := a.g.Extensions()
				kps := []*codec.KeyPackage{gtKeyPackage(t, b.c, s.suite), gtKeyPackage(t, c.c, s.suite)}
				if _, _, err := a.g.Reboot(a.c, s.cfg, nil, kps); !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("reboot without d's key package: %v", err)
				}
				kps = append(kps, gtKeyPackage(t, d.c, s.suite))
				ng, res := gtMust2(a.g.Reboot(a.c, s.cfg, nil, kps))(t)
				if bytes.Equal(ng.GroupID(), a.g.GroupID()) || len(oldExts) != 1 || !sameExtensions(ng.Extensions(), oldExts) {
					t.Fatalf("rebooted group: id %x, extensions %v", ng.GroupID(), ng.Extensions())
				}
				oldID := a.g.GroupID()
				a.g = ng
				for _, m := range []*gtMember{b, c, d} {
					m.g = gtMust(JoinFromWelcome(m.c, res.Welcome, nil, s.cfg))(t)
				}
				for _, m := range []*gtMember{a, b, c, d} {
					if err := DeleteGroup(m.c.Storage, oldID); err != nil {
						t.Fatal(err)
					}
				}
				forkAgree(t, a, b, c, d)
			})
		})
	}
}

func sameLeaves(got []LeafIndex, want []*gtMember) bool {
	var w []LeafIndex
	for _, m := range want {
		w = append(w, m.g.OwnLeafIndex())
	}
	slices.Sort(w)
	return slices.Equal(got, w)
}

// TestForkRecoveryRefusals: the arguments the recovery calls refuse, each
// leaving the groups as they were.
func TestForkRecoveryRefusals(t *testing.T) {
	s, a, b, c, d := forkGroup(t, PurePlaintext())
	kc, kd := gtKeyPackage(t, c.c, s.suite), gtKeyPackage(t, d.c, s.suite)
	before := gtSnapshot(a.g)
	for name, x := range map[string]struct {
		leaves []LeafIndex
		kps    []*codec.KeyPackage
	}{
		"no leaves":          {nil, nil},
		"fewer key packages": {[]LeafIndex{2, 3}, []*codec.KeyPackage{kc}},
		"own leaf":           {[]LeafIndex{a.g.OwnLeafIndex()}, []*codec.KeyPackage{kc}},
		"nil key package":    {[]LeafIndex{2}, []*codec.KeyPackage{nil}},
		"same identity twice": {[]LeafIndex{c.g.OwnLeafIndex(), d.g.OwnLeafIndex()},
			[]*codec.KeyPackage{kc, gtKeyPackage(t, c.c, s.suite)}},
	} {
		if _, err := a.g.RecoverForkByReadding(x.leaves, x.kps); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := a.g.RecoverForkByReadding([]LeafIndex{9}, []*codec.KeyPackage{kc}); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("unknown leaf: %v", err)
	}
	if a.g.HasPendingCommit() || gtSnapshot(a.g) != before {
		t.Fatal("a refused recovery changed the group")
	}
	// JoinAfterFork: a Welcome of another group, or another storage.
	other := newGTSim(t, s.suite, s.cfg)
	w := gtMust(other.members[0].g.AddMembers(kc))(t).Welcome
	if _, err := JoinAfterFork(c.c, c.g, w, nil, s.cfg); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Welcome of another group: %v", err)
	}
	res := gtMust(a.g.RecoverForkByReadding([]LeafIndex{c.g.OwnLeafIndex(), d.g.OwnLeafIndex()}, []*codec.KeyPackage{kc, kd}))(t)
	if _, err := JoinAfterFork(c.c, d.g, res.Welcome, nil, s.cfg); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("another client's old group: %v", err)
	}
	if !c.g.Active() || gtMust(LoadGroup(c.c, c.g.GroupID()))(t).Epoch() != c.g.Epoch() {
		t.Fatal("a refused JoinAfterFork changed the forked group")
	}
	// Reboot: the same group id, an identity that is not a member.
	if _, _, err := a.g.Reboot(a.c, s.cfg, &CreateOptions{GroupID: a.g.GroupID()}, []*codec.KeyPackage{gtKeyPackage(t, b.c, s.suite), kc, kd}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("reboot with the old group id: %v", err)
	}
	stranger := s.newClient()
	if _, _, err := a.g.Reboot(a.c, s.cfg, nil, []*codec.KeyPackage{gtKeyPackage(t, b.c, s.suite), kc, kd, gtKeyPackage(t, stranger.c, s.suite)}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("reboot with a stranger: %v", err)
	}
}
