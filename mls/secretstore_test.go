package mls

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// opsOf runs f and returns the names of the storage operations it made
// through s (transaction commits as "Commit").
func opsOf(t *testing.T, s *storagetest.Faulty, f func() error) []string {
	t.Helper()
	var names []string
	s.FailWhen(func(op storagetest.Op) bool { names = append(names, op.Name); return false })
	if err := f(); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	return names
}

// TestMessagesWriteConstant: with most of a 32-member group having spoken,
// sending or receiving an application message writes only the sender's
// secret tree nodes in one transaction: one node for a sender's later
// messages, at most log2(width)+2 for its first; never the group state or
// the epoch record, and nothing that grows with the number of senders.
// After a reload from storage, used keys stay used (§9.2).
func TestMessagesWriteConstant(t *testing.T) {
	const n = 32
	p := defaultcrypto.New()
	cfg := GroupConfig{UseRatchetTreeExtension: true}
	alice := gtNewMember(t, p, stSuite, "alice")
	store := storagetest.NewFaulty(memstore.New())
	alice.c.Storage = store
	members := make([]*gtMember, n-1)
	var kps []*KeyPackageBundle
	for i := range members {
		members[i] = gtNewMember(t, p, stSuite, fmt.Sprintf("m%d", i+1))
		b, err := (&KeyPackageBuilder{Provider: p, CipherSuite: stSuite, Credential: members[i].c.Credential, Signer: members[i].c.Signer}).BuildAndStore(members[i].c.Storage)
		if err != nil {
			t.Fatal(err)
		}
		kps = append(kps, b)
	}
	alice.g = gtMust(NewGroup(alice.c, stSuite, cfg, nil))(t)
	var add []*KeyPackageBundle
	add = append(add, kps...)
	res := gtMust(alice.g.AddMembers(keyPackagesOf(add)...))(t)
	if err := alice.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		m.g = gtMust(JoinFromWelcome(m.c, res.Welcome, nil, cfg))(t)
	}
	width := 2*n - 1
	maxFirst := bits.Len(uint(width)) + 2
	check := func(what string, ops []string, maxNodes int) {
		t.Helper()
		nodes := 0
		for _, o := range ops {
			switch o {
			case "WriteSecretTreeNode", "DeleteSecretTreeNode":
				nodes++
			case "Commit":
			default:
				t.Errorf("%s: operation %s", what, o)
			}
		}
		if nodes == 0 || nodes > maxNodes || slices.Index(ops, "Commit") != len(ops)-1 || slices.Index(ops, "Commit") < 0 {
			t.Errorf("%s: %v, want 1 to %d node writes and one commit, last", what, ops, maxNodes)
		}
	}
	var msgs [][]byte
	for i, m := range members[:n-4] {
		msg := gtMust(m.g.SendApplicationMessage([]byte("first"), nil))(t)
		check(fmt.Sprintf("receiving member %d's first", i+1), opsOf(t, store, func() error { _, err := alice.g.ProcessMessage(msg); return err }), maxFirst)
		msg = gtMust(m.g.SendApplicationMessage([]byte("second"), nil))(t)
		check(fmt.Sprintf("receiving member %d's second", i+1), opsOf(t, store, func() error { _, err := alice.g.ProcessMessage(msg); return err }), 1)
		msgs = append(msgs, msg)
	}
	check("alice's first", opsOf(t, store, func() error { _, err := alice.g.SendApplicationMessage([]byte("a"), nil); return err }), maxFirst)
	check("alice's second", opsOf(t, store, func() error { _, err := alice.g.SendApplicationMessage([]byte("b"), nil); return err }), 1)

	// The stored tree is exactly the one in memory, and no used key comes
	// back after a reload.
	id := alice.g.GroupID()
	if got, want := storedTreeNodes(t, store, id, alice.g.Epoch()), secretTreeNodes(t, alice.g.epoch.protector.Tree()); string(got) != string(want) {
		t.Fatal("stored secret tree differs from the one in memory")
	}
	loaded := gtMust(LoadGroup(alice.c, id))(t)
	for i, msg := range msgs {
		if _, err := loaded.ProcessMessage(msg); !errors.Is(err, RulePathLength) && err == nil {
			t.Errorf("member %d's used message processed again after a reload", i+1)
		}
	}
	msg := gtMust(members[n-2].g.SendApplicationMessage([]byte("late"), nil))(t)
	if _, err := loaded.ProcessMessage(msg); err != nil {
		t.Fatalf("a new sender after a reload: %v", err)
	}
}

func keyPackagesOf(bs []*KeyPackageBundle) []*codec.KeyPackage {
	out := make([]*codec.KeyPackage, len(bs))
	for i, b := range bs {
		out[i] = &b.KeyPackage
	}
	return out
}
