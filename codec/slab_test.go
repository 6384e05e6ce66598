package codec_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/mlskit/mlskit/codec"
)

// TestSlabValuesIndependent: values a large decoding takes from shared
// blocks (pointed-to structs, fixed-size vectors) behave as if allocated
// one by one: appending to a vector or changing a struct leaves its
// neighbours alone.
func TestSlabValuesIndependent(t *testing.T) {
	want := syntheticTree(64)
	data, err := want.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 4096 {
		t.Fatalf("the tree encodes in %d bytes: too small to use slabs", len(data))
	}
	var got codec.RatchetTree
	if err := got.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("decoded tree differs")
	}
	l0, l1 := got[0].LeafNode, got[2].LeafNode
	if c := cap(l0.Capabilities.CipherSuites); c != len(l0.Capabilities.CipherSuites) {
		t.Fatalf("decoded vector has spare capacity %d > len %d", c, len(l0.Capabilities.CipherSuites))
	}
	l0.Capabilities.CipherSuites = append(l0.Capabilities.CipherSuites, 0x7777, 0x7777)
	l0.Capabilities.Versions = append(l0.Capabilities.Versions, 0x7777)
	*got[1].ParentNode = codec.ParentNode{EncryptionKey: []byte("x")}
	got[0].LeafNode.Lifetime.NotAfter = 1
	if !reflect.DeepEqual(l1, want[2].LeafNode) || !reflect.DeepEqual(got[3], want[3]) {
		t.Fatal("changing one decoded value changed another")
	}
	// Re-encoding the untouched part still gives the original bytes.
	sub, err := got[4:].Marshal()
	if err != nil {
		t.Fatal(err)
	}
	wantSub, _ := want[4:].Marshal()
	if !bytes.Equal(sub, wantSub) {
		t.Fatal("untouched nodes re-encode differently")
	}
}

// TestDecodeWithOwnReader: Decode from a Reader the caller makes (large, so
// with slabs) and from sub-readers gives the same value as Unmarshal.
func TestDecodeWithOwnReader(t *testing.T) {
	want := syntheticTree(64)
	data, err := want.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var a codec.RatchetTree
	r := codec.NewReader(data)
	if err := a.Decode(r); err != nil || !r.Empty() {
		t.Fatalf("Decode: %v, %d bytes left", err, r.Len())
	}
	if !reflect.DeepEqual(a, want) {
		t.Fatal("Decode from NewReader differs")
	}
	// Two trees one after the other, read through sub-readers.
	two := append(bytes.Clone(data), data...)
	r = codec.NewReader(two)
	for i := 0; i < 2; i++ {
		sub, err := r.Sub(len(data))
		if err != nil {
			t.Fatal(err)
		}
		var b codec.RatchetTree
		if err := b.Decode(&sub); err != nil || !sub.Empty() {
			t.Fatalf("tree %d: %v", i, err)
		}
		if !reflect.DeepEqual(b, want) {
			t.Fatalf("tree %d differs", i)
		}
	}
}
