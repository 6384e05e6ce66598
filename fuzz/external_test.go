package fuzz

import (
	"bytes"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
)

// liveGroupInfo is the GroupInfo message (with its ratchet tree) of a
// live three-member group, and a client that is not a member: an external
// joiner (RFC 9420 §12.4.3.2).
type liveGroupInfo struct {
	joiner *mls.Client
	cfg    mls.GroupConfig
	seed   []byte
}

func newLiveGroupInfo(t testing.TB) *liveGroupInfo {
	lg := newLiveGroup(t)
	gi := must[[]byte](t)(lg.alice.GroupInfo(true))
	dave, _ := newClient(t, "dave")
	return &liveGroupInfo{joiner: dave, cfg: mls.GroupConfig{UseRatchetTreeExtension: true, WireFormatPolicy: mls.MixedPlaintext()}, seed: gi}
}

// join runs the external joiner on data and returns whether the join was
// accepted. An accepted join must give a group and a Commit, the group
// being the one the GroupInfo names, in the epoch after the GroupInfo's.
// (Any GroupInfo signed by the leaf it names is valid: the fuzzing
// engine's workers each build their own live group, so an input may be
// the genuine GroupInfo of another process's group.) A panic fails the
// fuzzing engine's run.
func (l *liveGroupInfo) join(t *testing.T, data []byte) bool {
	g, commit, err := mls.JoinByExternalCommit(l.joiner, data, nil, l.cfg, nil)
	if err != nil {
		return false
	}
	if g == nil || len(commit) == 0 {
		t.Fatal("external join accepted without a group or Commit")
	}
	var m codec.MLSMessage
	if err := m.Unmarshal(data); err != nil || m.GroupInfo == nil {
		t.Fatalf("joined by an input that is no GroupInfo message (%v)", err)
	}
	gc := &m.GroupInfo.GroupContext
	if !bytes.Equal(g.GroupID(), gc.GroupID) || g.Epoch() != gc.Epoch+1 {
		t.Fatalf("joined group %x epoch %d from the GroupInfo of group %x epoch %d", g.GroupID(), g.Epoch(), gc.GroupID, gc.Epoch)
	}
	return true
}

// FuzzJoinByExternalCommit feeds untrusted GroupInfo messages to an
// external joiner: whatever the input (its decoding, the ratchet tree in
// its extension, the signer's leaf, the signature), JoinByExternalCommit
// returns a group or an error without panicking, and a join gives the
// group the GroupInfo names (TestJoinByExternalCommitSeeds checks that the
// genuine GroupInfo joins and its corruptions do not).
func FuzzJoinByExternalCommit(f *testing.F) {
	l := newLiveGroupInfo(f)
	f.Add(l.seed)
	for _, m := range corruptions(l.seed) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, data []byte) { l.join(t, data) })
}

// TestJoinByExternalCommitSeeds runs the target's property on its seeds,
// so the plain test suite covers it too: the genuine GroupInfo is joined,
// its corruptions refused.
func TestJoinByExternalCommitSeeds(t *testing.T) {
	l := newLiveGroupInfo(t)
	if !l.join(t, l.seed) {
		t.Fatal("the genuine GroupInfo was refused")
	}
	for i, m := range corruptions(l.seed) {
		if l.join(t, m) {
			t.Fatalf("corruption %d joined", i)
		}
	}
}
