package treekem

import (
	"fmt"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// TestPropertyGroups runs random sequences of commits with UpdatePaths
// (alone, with adds, with removes) on groups of up to a few hundred members:
// every member decrypts every UpdatePath to the committer's commit secret and
// tree hash, every member's private keys satisfy the tree invariant, and
// every parent node is parent-hash valid.
func TestPropertyGroups(t *testing.T) {
	cs, err := defaultcrypto.New().CipherSuite(codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range impls {
		t.Run(f.name, func(t *testing.T) {
			params := gopter.DefaultTestParameters()
			params.MinSuccessfulTests = 12
			maxSize, maxOps := 300, 6
			if testing.Short() {
				params.MinSuccessfulTests = 4
				maxSize, maxOps = 64, 4
			}
			var commits, applies, maxMembers, maxLeaves int
			props := gopter.NewProperties(params)
			props.Property("all members agree", prop.ForAll(
				func(size int, seed uint64, ops []uint32) string {
					s, err := newSim(cs, seed, f)
					if err != nil {
						return err.Error()
					}
					// The creator adds everyone in one Commit with a path.
					if size > 1 {
						if err := s.commit(0, size-1, nil); err != nil {
							return "initial commit: " + err.Error()
						}
					}
					defer func() {
						commits += s.commits
						applies += s.applies
						maxLeaves = max(maxLeaves, int(s.tree.LeafCount()))
					}()
					maxMembers = max(maxMembers, len(s.members))
					for i, op := range ops {
						if err := s.step(op, 8); err != nil {
							return fmt.Sprintf("op %d: %v", i, err)
						}
						maxMembers = max(maxMembers, len(s.members))
					}
					return ""
				},
				gen.IntRange(1, maxSize),
				gen.UInt64(),
				gen.SliceOfN(maxOps, gen.UInt32()),
			))
			props.TestingRun(t)
			t.Logf("%d commits with UpdatePaths, %d applied by receivers; up to %d members in %d leaves", commits, applies, maxMembers, maxLeaves)
		})
	}
}
