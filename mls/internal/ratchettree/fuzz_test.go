package ratchettree

import (
	"bytes"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
)

// FuzzDecodeAndValidate feeds arbitrary bytes to DecodeRatchetTree and, when
// they decode, checks that they are the tree's encoding (the codec is
// canonical: what it accepts re-encodes to the same bytes, which the tree
// keeps, KeepDecoded) and runs every read operation, validation and a few
// Diff operations: errors are expected, panics are not. Seeds are the
// suite-1 trees of tree-validation.json.
func FuzzDecodeAndValidate(f *testing.F) {
	var cases []treeValidationCase
	testvectors.Load(f, "tree-validation.json", &cases)
	for _, c := range cases {
		if c.CipherSuite == 1 {
			f.Add([]byte(c.Tree))
		}
	}
	cs := suite(f, 1)
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := DecodeRatchetTree(cs, data)
		if err != nil {
			return
		}
		if want, err := tr.RatchetTree().Marshal(); err != nil || !bytes.Equal(want, data) {
			t.Fatalf("accepted bytes re-encode as %x (%v)", want, err)
		}
		if enc, err := tr.EncodedRatchetTree(); err != nil || !bytes.Equal(enc, data) {
			t.Fatalf("the tree's encoding differs from the bytes it was decoded from (%v)", err)
		}
		_ = tr.Validate(&TreeValidation{GroupID: []byte("g"), Workers: 1})
		_, _ = tr.TreeHash()
		n := tr.LeafCount()
		for x := NodeIndex(0); uint32(x) < 2*uint32(n); x++ {
			_ = tr.Resolution(x)
		}
		d := tr.Stage()
		g := &keyGen{next: 1 << 50}
		for l := LeafIndex(0); uint32(l) < uint32(n) && l < 64; l++ {
			path, _, err := d.FilteredDirectPath(l)
			if err != nil || d.Leaf(l) == nil {
				continue
			}
			keys := make([]codec.HPKEPublicKey, len(path))
			for i := range keys {
				keys[i] = g.key('f')
			}
			_, _ = d.SetPathKeys(l, keys)
			_ = d.Remove(l)
		}
		_, _ = d.Add(g.fakeLeaf(codec.LeafNodeSourceKeyPackage))
		_, _ = d.TreeHash()
		_ = d.VerifyParentHashes()
		if _, err := d.Merge(); err == nil {
			_, _ = tr.TreeHash()
		}
	})
}
