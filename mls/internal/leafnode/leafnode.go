// Package leafnode signs and verifies LeafNodes (RFC 9420 §7.2): the one
// place that assembles a LeafNodeTBS, for the key packages and updates of
// package mls, the commit leaves of package treekem and the tree
// validation of package ratchettree.
package leafnode

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// Label is the SignWithLabel label of a LeafNode's signature (§7.2).
const Label = "LeafNodeTBS"

// ErrEncoding: the LeafNodeTBS of a leaf node does not encode.
var ErrEncoding = errors.New("leafnode: LeafNodeTBS does not encode")

// AppendTBS appends the encoded LeafNodeTBS of ln to b (§7.2): its fields
// but the signature, and, for the update and commit sources, the group id
// and the leaf index it is signed for.
func AppendTBS(b []byte, ln *codec.LeafNode, groupID []byte, leaf uint32) ([]byte, error) {
	tbs := tbsOf(ln, groupID, leaf)
	return appendTBS(b, &tbs)
}

// tbsOf returns the LeafNodeTBS of ln (§7.2).
func tbsOf(ln *codec.LeafNode, groupID []byte, leaf uint32) codec.LeafNodeTBS {
	tbs := codec.LeafNodeTBS{
		EncryptionKey:  ln.EncryptionKey,
		SignatureKey:   ln.SignatureKey,
		Credential:     ln.Credential,
		Capabilities:   ln.Capabilities,
		LeafNodeSource: ln.LeafNodeSource,
		Lifetime:       ln.Lifetime,
		ParentHash:     ln.ParentHash,
		Extensions:     ln.Extensions,
	}
	if ln.LeafNodeSource == codec.LeafNodeSourceUpdate || ln.LeafNodeSource == codec.LeafNodeSourceCommit {
		tbs.GroupID, tbs.LeafIndex = groupID, leaf
	}
	return tbs
}

// appendTBS appends the encoding of tbs to b.
func appendTBS(b []byte, tbs *codec.LeafNodeTBS) ([]byte, error) {
	out, err := tbs.AppendTo(b)
	if err != nil {
		return b, fmt.Errorf("%w: %w", ErrEncoding, err)
	}
	return out, nil
}

// Sign sets ln.Signature to SignWithLabel(signer, "LeafNodeTBS",
// LeafNodeTBS) (§7.2); groupID and leaf are used for the update and commit
// sources.
func Sign(signer providers.Signer, ln *codec.LeafNode, groupID []byte, leaf uint32) error {
	// Encoded once into a buffer of its size after room for the head of
	// its SignContent (§5.1.2), signed there.
	t := tbsOf(ln, groupID, leaf)
	room := providers.SignContentRoom(Label)
	tbs, err := appendTBS(make([]byte, room, room+t.Size()), &t)
	if err != nil {
		return err
	}
	sig, err := providers.SignWithLabelInPlace(signer, Label, tbs, room, len(tbs)-room)
	if err != nil {
		return fmt.Errorf("leafnode: signing: %w", err)
	}
	ln.Signature = sig
	return nil
}

// Verify checks ln.Signature with ln.SignatureKey over its LeafNodeTBS
// (§7.3); groupID and leaf are used for the update and commit sources. buf,
// if not nil, is scratch space for the encoding, kept for the next call.
// An encoding failure matches ErrEncoding; a bad signature is the
// provider's error.
func Verify(cs providers.CipherSuite, ln *codec.LeafNode, groupID []byte, leaf uint32, buf *[]byte) error {
	var scratch []byte
	if buf == nil {
		buf = &scratch
	}
	// Encoded after room for the head of its SignContent (§5.1.2),
	// verified there: in buf grown to their size if it is smaller.
	t := tbsOf(ln, groupID, leaf)
	room := providers.SignContentRoom(Label)
	tbs, err := appendTBS(codec.Scratch(*buf, room+t.Size())[:room], &t)
	if err != nil {
		return err
	}
	*buf = tbs
	return providers.VerifyWithLabelInPlace(cs, ln.SignatureKey, Label, tbs, room, len(tbs)-room, ln.Signature)
}
