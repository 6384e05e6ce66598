package mls

import (
	"bytes"
	"testing"

	"github.com/mlskit/mlskit/codec"
)

// TestMemberSlicesCapped checks that appending to a Member's keys cannot
// write into the group's leaf (Member: the slices share it, with their
// capacity ending at their length), for a member's own leaf (built
// locally) and for a leaf decoded from a Welcome.
func TestMemberSlicesCapped(t *testing.T) {
	s := newGTSim(t, codec.CipherSuite(1), GroupConfig{UseRatchetTreeExtension: true})
	s.add(s.members[0], 1, false)
	for _, m := range s.members {
		for _, mem := range m.g.Members() {
			for name, k := range map[string][]byte{"SignatureKey": mem.SignatureKey, "EncryptionKey": mem.EncryptionKey} {
				if cap(k) != len(k) {
					t.Fatalf("%s's view of leaf %d: %s has capacity %d for length %d", m.name, mem.Index, name, cap(k), len(k))
				}
			}
			before := bytes.Clone(mem.LeafNode.SignatureKey)
			_ = append(mem.SignatureKey, 0xff)
			_ = append(mem.EncryptionKey, 0xff)
			ln, _ := m.g.Member(mem.Index)
			if !bytes.Equal(ln.LeafNode.SignatureKey, before) {
				t.Fatalf("%s: appending to leaf %d's key changed the group's leaf", m.name, mem.Index)
			}
		}
	}
	s.check()
}
