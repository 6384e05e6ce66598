package secrettree_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// BenchmarkDerivePath measures a sender's first key of an epoch in a
// tree of n leaves whose root is the only stored secret, as the receiver
// of the epoch's first message from the other half of the tree stages it:
// the path from the root down (§9: both children of each of the
// ceil(log2 n) nodes on the way, then the leaf's two ratchet secrets),
// then the generation's key, nonce and next secret (§9.1). A member's own
// leaf is derived the same way when its epoch begins (Prepare). The trees
// are built untimed.
func BenchmarkDerivePath(b *testing.B) {
	for _, n := range []int{2, 1000, 10000, 100000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			cs := suite(b, codec.CipherSuite(1))
			secret := bytes.Repeat([]byte{7}, cs.HashSize())
			trees := make([]*secrettree.Tree, 0, 256)
			b.ReportAllocs()
			for i := 0; i < b.N; i += len(trees) {
				b.StopTimer()
				trees = trees[:0]
				for range min(cap(trees), b.N-i) {
					tr, err := secrettree.New(cs, secret, treemath.LeafCount(n), secrettree.DefaultConfig())
					if err != nil {
						b.Fatal(err)
					}
					trees = append(trees, tr)
				}
				b.StartTimer()
				for _, tr := range trees {
					st, err := tr.Stage(treemath.LeafIndex(n-1), secrettree.Application, 0)
					if err != nil {
						b.Fatal(err)
					}
					st.Discard()
				}
			}
		})
	}
}
