package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// TestMessageStorageFailures fails, for every k, the k-th storage
// operation of a message sent and of a message received (a sender's first
// message of the epoch, whose receipt writes several secret tree nodes,
// and a later one), through the Group's reused light change (stageMessage).
// After each failure: the error is the store's; the group in memory, its
// stored records and the group reloaded from them are as before (the
// generation is not consumed); the group then does the other operation
// (receive after a failed send, send after a failed receive) through the
// same light change, and the failed one again, which succeeds: the
// message received again gives the same plaintext, once.
func TestMessageStorageFailures(t *testing.T) {
	s := btGroup(t, GroupConfig{UseRatchetTreeExtension: true, MaxPastEpochs: 1})
	snd, rcv, other := s.members[1], btReceiver(s), s.members[2]
	// What snd's real group sends: its first and second message of the
	// epoch; and a message of another member.
	sent := btSend(t, snd, 2)
	fromOther := btSend(t, other, 1)[0]

	for _, first := range []bool{true, false} {
		name := map[bool]string{true: "first", false: "later"}[first]
		t.Run("send/"+name, func(t *testing.T) {
			prep := func(g *Group) {
				t.Helper()
				if !first {
					if _, err := g.SendApplicationMessage([]byte("before"), nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			gp, fp := btCopy(t, snd, nil)
			prep(gp)
			ops := len(opsOf(t, fp, func() error { _, err := gp.SendApplicationMessage([]byte("probe"), nil); return err }))
			// A member's own ratchets are derived when it enters the
			// epoch: a send writes its leaf, and commits.
			if ops < 2 {
				t.Fatalf("a send made %d storage operations, want at least 2", ops)
			}
			for k := 1; k <= ops; k++ {
				step := fmt.Sprintf("op %d of %d failing", k, ops)
				g, f := btCopy(t, snd, nil)
				prep(g)
				mem, stored := snapshotOf(t, g), dumpGroup(t, f, g.GroupID())
				f.FailAt(k)
				out, err := g.SendApplicationMessage([]byte("retried"), nil)
				failed := f.Failed()
				f.Reset()
				if len(failed) != 1 || !errors.Is(err, storagetest.ErrInjected) || out != nil {
					t.Fatalf("%s: send returned %v (message %v), failed %v", step, err, out != nil, failed)
				}
				msgFaultUnchanged(t, step, g, f, mem, stored)
				// The reused light change is reset: a receive, then the
				// send again, work.
				if pm, err := g.ProcessMessage(fromOther); err != nil || string(pm.ApplicationData) != other.name+" 0" {
					t.Fatalf("%s: receiving after the failed send: %v", step, err)
				}
				out, err = g.SendApplicationMessage([]byte("retried"), nil)
				if err != nil {
					t.Fatalf("%s: retried send: %v", step, err)
				}
				r, _ := btCopy(t, rcv, nil)
				msgFaultReceiveOnce(t, step, r, out, "retried")
				// Stored: after a restart the generation stays used, and
				// the next message is accepted.
				lg := btReload(t, g)
				if !snapshotOf(t, lg).equal(snapshotOf(t, g)) {
					t.Fatalf("%s: the reloaded sender differs from the sender in memory", step)
				}
				next, err := lg.SendApplicationMessage([]byte("next"), nil)
				if err != nil {
					t.Fatal(err)
				}
				msgFaultReceiveOnce(t, step+", after a reload", r, next, "next")
			}
		})
		t.Run("receive/"+name, func(t *testing.T) {
			prep := func(g *Group) {
				t.Helper()
				if !first {
					if _, err := g.ProcessMessage(sent[0]); err != nil {
						t.Fatal(err)
					}
				}
			}
			msg, want := sent[0], snd.name+" 0"
			if !first {
				msg, want = sent[1], snd.name+" 1"
			}
			gp, fp := btCopy(t, rcv, nil)
			prep(gp)
			ops := len(opsOf(t, fp, func() error { _, err := gp.ProcessMessage(msg); return err }))
			if min := map[bool]int{true: 3, false: 2}[first]; ops < min {
				t.Fatalf("a receive made %d storage operations, want at least %d", ops, min)
			}
			for k := 1; k <= ops; k++ {
				step := fmt.Sprintf("op %d of %d failing", k, ops)
				g, f := btCopy(t, rcv, nil)
				prep(g)
				mem, stored := snapshotOf(t, g), dumpGroup(t, f, g.GroupID())
				f.FailAt(k)
				pm, err := g.ProcessMessage(msg)
				failed := f.Failed()
				f.Reset()
				if len(failed) != 1 || !errors.Is(err, storagetest.ErrInjected) || pm != nil {
					t.Fatalf("%s: receive returned %v, failed %v", step, err, failed)
				}
				msgFaultUnchanged(t, step, g, f, mem, stored)
				// The reused light change is reset: a send, then the
				// receive again, work.
				out, err := g.SendApplicationMessage([]byte("between"), nil)
				if err != nil {
					t.Fatalf("%s: sending after the failed receive: %v", step, err)
				}
				o, _ := btCopy(t, other, nil)
				msgFaultReceiveOnce(t, step+", the message sent after", o, out, "between")
				msgFaultReceiveOnce(t, step, g, msg, want)
				if _, err := btReload(t, g).ProcessMessage(msg); !errors.Is(err, RuleDecryption) {
					t.Fatalf("%s: the message received again after a reload: %v, want RuleDecryption", step, err)
				}
			}
		})
	}
}

// msgFaultUnchanged checks that g, in memory, in its store and reloaded
// from it, is as it was (mem, stored) before a failed operation.
func msgFaultUnchanged(t *testing.T, step string, g *Group, f *storagetest.Faulty, mem stSnapshot, stored string) {
	t.Helper()
	if !snapshotOf(t, g).equal(mem) {
		t.Fatalf("%s: the group in memory changed", step)
	}
	if dumpGroup(t, f, g.GroupID()) != stored {
		t.Fatalf("%s: the stored records changed", step)
	}
	if !snapshotOf(t, btReload(t, g)).equal(mem) {
		t.Fatalf("%s: the reloaded group differs from the group before", step)
	}
}

// msgFaultReceiveOnce checks that g accepts msg, whose content is want,
// and then refuses it.
func msgFaultReceiveOnce(t *testing.T, step string, g *Group, msg []byte, want string) {
	t.Helper()
	pm, err := g.ProcessMessage(msg)
	if err != nil || string(pm.ApplicationData) != want {
		t.Fatalf("%s: receiving %q: %v", step, want, err)
	}
	if _, err := g.ProcessMessage(msg); !errors.Is(err, RuleDecryption) {
		t.Fatalf("%s: %q received again: %v, want RuleDecryption", step, want, err)
	}
}

// TestWriteTreeNodesErasesOnFailure: whichever of its writes fails,
// writeTreeNodes erases the secrets of every node it was given (those it
// wrote, the one that failed and those it did not reach) and its record
// buffer.
func TestWriteTreeNodesErasesOnFailure(t *testing.T) {
	fill := func(n int, v byte) []byte { return bytes.Repeat([]byte{v}, n) }
	mk := func() []secrettree.NodeContent {
		leaf := func(i uint32) *record.LeafRatchets {
			return &record.LeafRatchets{
				Leaf:        i,
				Handshake:   record.SenderRatchet{Next: 1, Secret: fill(32, 0xa1)},
				Application: record.SenderRatchet{Next: 3, Secret: fill(32, 0xa2), Kept: []record.KeptKey{{Generation: 1, Key: fill(16, 0xa3), Nonce: fill(12, 0xa4)}}},
			}
		}
		return []secrettree.NodeContent{
			{Node: 0, Leaf: leaf(0)},
			{Node: 1}, // deleted
			{Node: 3, Secret: fill(32, 0xb1)},
			{Node: 7, Secret: fill(32, 0xb2)},
			{Node: 2, Leaf: leaf(1)},
		}
	}
	secretsOf := func(nodes []secrettree.NodeContent) [][]byte {
		var out [][]byte
		for _, c := range nodes {
			if c.Secret != nil {
				out = append(out, c.Secret)
			}
			if c.Leaf != nil {
				for _, r := range []*record.SenderRatchet{&c.Leaf.Handshake, &c.Leaf.Application} {
					out = append(out, r.Secret)
					for _, kk := range r.Kept {
						out = append(out, kk.Key, kk.Nonce)
					}
				}
			}
		}
		return out
	}
	gid := []byte("group")
	for _, small := range []bool{false, true} {
		for k := 1; ; k++ {
			nodes := mk()
			secrets := secretsOf(nodes)
			scratch := make([]byte, 256)
			if small {
				scratch = make([]byte, 8) // too small: buffers of writeTreeNodes' own
			}
			f := storagetest.NewFaulty(memstore.New())
			f.FailAt(k)
			err := f.Update(func(tx providers.Records) error {
				return writeTreeNodes(tx, gid, 1, nodes, scratch)
			})
			failed := f.Failed()
			step := fmt.Sprintf("small scratch %v, op %d failing", small, k)
			for i, s := range secrets {
				if !allZero(s) {
					t.Errorf("%s: secret %d of the nodes is not erased", step, i)
				}
			}
			if !allZero(scratch) {
				t.Errorf("%s: the record buffer is not erased", step)
			}
			if len(failed) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if k <= len(nodes) {
					t.Fatalf("%d operations for %d nodes", k-1, len(nodes))
				}
				break
			}
			if !errors.Is(err, storagetest.ErrInjected) {
				t.Fatalf("%s: %v", step, err)
			}
			// Nothing is stored.
			if xs, err := f.ListSecretTreeNodes(gid, 1); err != nil || len(xs) != 0 {
				t.Fatalf("%s: stored nodes %v (%v)", step, xs, err)
			}
		}
	}
}
