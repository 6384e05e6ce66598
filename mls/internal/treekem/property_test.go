package treekem

import (
	"fmt"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// TestPropertyGroups runs random sequences of commits with UpdatePaths
// (alone, with adds, with removes) on groups of up to a few hundred members:
// every member decrypts every UpdatePath to the committer's commit secret and
// tree hash, every member's private keys satisfy the tree invariant, and
// every parent node is parent-hash valid.
func TestPropertyGroups(t *testing.T) {
	prov := defaultcrypto.New()
	for _, id := range prov.CipherSuites() {
		if id == providers.CipherSuiteXWing {
			continue // not an RFC 9420 suite; covered by package providers
		}
		cs, err := prov.CipherSuite(id)
		if err != nil {
			t.Fatal(err)
		}
		// Suite 1 gets the full run; the others smaller groups.
		runs, maxSize, maxOps := 12, 300, 6
		if id != codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519 {
			runs, maxSize, maxOps = 3, 40, 4
		}
		if testing.Short() {
			runs, maxSize, maxOps = max(runs/4, 1), min(maxSize, 64), 4
		}
		for _, f := range impls {
			if f.name == "naive" && id != codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519 {
				continue
			}
			t.Run(fmt.Sprintf("suite=%d/%s", id, f.name), func(t *testing.T) {
				params := testseed.Gopter(t)
				params.MinSuccessfulTests = runs
				var commits, applies, maxMembers, maxLeaves int
				props := gopter.NewProperties(params)
				props.Property("all members agree", prop.ForAll(
					func(size int, seed uint64, ops []uint32) string {
						s, err := newSim(cs, seed, f)
						if err != nil {
							return err.Error()
						}
						defer func() {
							commits += s.commits
							applies += s.applies
							maxLeaves = max(maxLeaves, int(s.tree.LeafCount()))
						}()
						// The creator adds everyone in one Commit with a path.
						if size > 1 {
							if err := s.commit(0, size-1, nil); err != nil {
								return "initial commit: " + err.Error()
							}
						}
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
}
