package ratchettree_test

import (
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// member returns a LeafNode with distinct (fake) keys; a real one comes
// from a KeyPackage.
func member(i byte) *codec.LeafNode {
	return &codec.LeafNode{
		EncryptionKey:  []byte{'e', i},
		SignatureKey:   []byte{'s', i},
		Credential:     codec.Credential{CredentialType: codec.CredentialTypeBasic, Identity: []byte{i}},
		Capabilities:   codec.Capabilities{Credentials: []codec.CredentialType{codec.CredentialTypeBasic}},
		LeafNodeSource: codec.LeafNodeSourceKeyPackage,
		Lifetime:       &codec.Lifetime{NotAfter: 1 << 40},
	}
}

// Staging a Commit's proposals on a Diff and merging it only once the
// Commit is accepted.
func Example() {
	cs, _ := defaultcrypto.New().CipherSuite(1)
	tree, _ := ratchettree.New(cs, member(0))

	d := tree.Stage()
	for i := byte(1); i <= 4; i++ {
		d.Add(member(i))
	}
	d.Remove(2)
	fmt.Println("staged:", d.LeafCount(), "leaves,", d.MemberCount(), "members; tree still has", tree.MemberCount())

	// A Diff that is not merged costs nothing; this one is.
	if _, err := d.Merge(); err != nil {
		panic(err)
	}
	fmt.Println("merged:", tree.LeafCount(), "leaves,", tree.MemberCount(), "members")

	// An UpdatePath from leaf 0: the keys of its filtered direct path.
	d = tree.Stage()
	path, copath, _ := d.FilteredDirectPath(0)
	fmt.Println("filtered direct path of leaf 0:", path, "copath:", copath)
	keys := []codec.HPKEPublicKey{[]byte("k1"), []byte("k2"), []byte("k3")}
	ph, err := d.SetPathKeys(0, keys)
	fmt.Println("leaf parent hash:", len(ph), "bytes,", err)

	_, err = d.Add(member(3)) // keys already in the tree
	fmt.Println(err)
	// Output:
	// staged: 8 leaves, 4 members; tree still has 1
	// merged: 8 leaves, 4 members
	// filtered direct path of leaf 0: [1 3 7] copath: [2 5 11]
	// leaf parent hash: 32 bytes, <nil>
	// leaf 3 (node 6): ratchettree: duplicate encryption key
}
