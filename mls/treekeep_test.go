package mls

import (
	"bytes"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// tkCheckKept checks that g's tree keeps an encoding of itself (what the
// tree was decoded from, after a join or a load) equal to the codec's, that
// its tree hash is the GroupContext's, and, if withGroupInfo, that g's
// first GroupInfo carries that encoding as its ratchet_tree extension
// without making it again (the tree keeps the same buffer) nor decoding
// any node again (the same node values).
func tkCheckKept(t *testing.T, name string, g *Group, withGroupInfo bool) {
	t.Helper()
	tr := g.epoch.tree
	kept := tr.KeptEncoding()
	if kept == nil {
		t.Fatalf("%s: the tree keeps no encoding", name)
	}
	want := gtMust(tr.RatchetTree().Marshal())(t)
	if !bytes.Equal(kept, want) {
		t.Fatalf("%s: kept encoding of %d bytes differs from the codec's %d", name, len(kept), len(want))
	}
	if h := gtMust(tr.TreeHash())(t); !bytes.Equal(h, g.epoch.ctx.TreeHash) {
		t.Fatalf("%s: tree hash %x, GroupContext's %x", name, h, g.epoch.ctx.TreeHash)
	}
	if !withGroupInfo {
		return
	}
	var leaves []*codec.LeafNode
	for l := range tr.LeafCount() {
		leaves = append(leaves, tr.Leaf(treemath.LeafIndex(l)))
	}
	var m codec.MLSMessage
	if err := m.Unmarshal(gtMust(g.GroupInfo(true))(t)); err != nil || m.GroupInfo == nil {
		t.Fatalf("%s: GroupInfo: %v", name, err)
	}
	if ext := ratchetTreeExtension(m.GroupInfo); !bytes.Equal(ext, want) {
		t.Fatalf("%s: GroupInfo's ratchet_tree differs from the tree's encoding", name)
	}
	if after := tr.KeptEncoding(); len(after) == 0 || &after[0] != &kept[0] {
		t.Fatalf("%s: the first GroupInfo made the tree's encoding again", name)
	}
	for l := range tr.LeafCount() {
		if tr.Leaf(treemath.LeafIndex(l)) != leaves[l] {
			t.Fatalf("%s: leaf %d decoded again by the first GroupInfo", name, l)
		}
	}
}

// TestDecodedTreesKeepTheirEncoding: a tree decoded from bytes keeps them
// as its encoding (ratchettree.Tree.KeepDecoded), so that its first
// GroupInfo (or whole encoding) neither encodes it again nor, at large
// sizes, decodes it again to share its bytes with the nodes: a member
// joined with the tree in the GroupInfo, the same member's group loaded
// from its whole tree record, and a PublicGroup made from a GroupInfo.
func TestDecodedTreesKeepTheirEncoding(t *testing.T) {
	cfg := GroupConfig{UseRatchetTreeExtension: true}
	s := newGTSim(t, gtSuites[0], cfg)
	s.add(s.members[0], 3, true)
	a := s.members[0]
	j := s.newClient()
	res := gtMust(a.g.Commit(CommitOptions{Add: []*codec.KeyPackage{j.keyPackage(t)}}))(t)
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	g := gtMust(JoinFromWelcome(j.c, res.Welcome, nil, cfg))(t)
	tkCheckKept(t, "joined", g, false)
	// Loaded before any GroupInfo: from the whole record the join stored.
	loaded := gtMust(LoadGroup(j.c, g.GroupID()))(t)
	tkCheckKept(t, "loaded", loaded, true)
	tkCheckKept(t, "joined", g, true)

	pg := gtMust(NewPublicGroup(newPGClient(s.p), gtMust(a.g.GroupInfo(true))(t), nil, PublicGroupConfig{}))(t)
	tkCheckKept(t, "public group", pg.g, false)
}

// TestKeptEncodingOwnsItsBytes: the bytes a tree keeps as its encoding
// after a join or a PublicGroup's creation are the library's own (the
// decrypted or copied GroupInfo), never the caller's: a caller that
// overwrites its Welcome or GroupInfo buffer afterwards changes neither
// the kept encoding nor the GroupInfo made from it.
func TestKeptEncodingOwnsItsBytes(t *testing.T) {
	cfg := GroupConfig{UseRatchetTreeExtension: true}
	s := newGTSim(t, gtSuites[0], cfg)
	s.add(s.members[0], 3, true)
	a := s.members[0]
	j := s.newClient()
	res := gtMust(a.g.Commit(CommitOptions{Add: []*codec.KeyPackage{j.keyPackage(t)}}))(t)
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	welcome := bytes.Clone(res.Welcome)
	g := gtMust(JoinFromWelcome(j.c, welcome, nil, cfg))(t)
	gi := gtMust(a.g.GroupInfo(true))(t)
	pg := gtMust(NewPublicGroup(newPGClient(s.p), gi, nil, PublicGroupConfig{}))(t)
	for i := range welcome {
		welcome[i] = 0xA5
	}
	for i := range gi {
		gi[i] = 0x5A
	}
	tkCheckKept(t, "joined, Welcome overwritten", g, true)
	tkCheckKept(t, "public group, GroupInfo overwritten", pg.g, false)
}
