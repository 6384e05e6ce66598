package codec

import (
	"bytes"
	"testing"
)

// TestSizedExtensionVector: a GroupInfoTBS's extensions vector, whose
// length prefix is written before its content (the generator's sized
// vectors), encodes as the vector built element by element (each
// Extension's own encoding after the shortest varint of their total
// length, RFC 9420 §2.1.2) at totals around each prefix width, and
// decodes back.
func TestSizedExtensionVector(t *testing.T) {
	base := GroupInfoTBS{
		GroupContext: GroupContext{CipherSuite: 1, GroupID: []byte("g"),
			TreeHash: []byte{1}, ConfirmedTranscriptHash: []byte{2}},
		ConfirmationTag: []byte{3},
		Signer:          7,
	}
	head, err := base.GroupContext.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	// One extension of data length d has 2 + varint(d) + d bytes.
	for _, total := range []int{4, 63, 64, 65, 16383, 16384, 16385, 70000} {
		d := total - 2 - 1
		if d >= 64 {
			d = total - 2 - 2
		}
		if d >= 16384 {
			d = total - 2 - 4
		}
		ext := Extension{ExtensionType: ExtensionTypeRatchetTree, ExtensionData: bytes.Repeat([]byte{0xa5}, d)}
		tbs := base
		tbs.Extensions = []Extension{ext, {ExtensionType: ExtensionTypeExternalPub, ExtensionData: []byte{9}}}
		got, err := tbs.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var elems []byte
		for i := range tbs.Extensions {
			if elems, err = tbs.Extensions[i].AppendTo(elems); err != nil {
				t.Fatal(err)
			}
		}
		want := append([]byte(nil), head...)
		if want, err = AppendVarint(want, uint64(len(elems))); err != nil {
			t.Fatal(err)
		}
		want = append(want, elems...)
		if want, err = AppendVarintBytes(want, tbs.ConfirmationTag); err != nil {
			t.Fatal(err)
		}
		want = AppendUint32(want, tbs.Signer)
		if !bytes.Equal(got, want) {
			t.Fatalf("extensions of %d bytes: encoding differs", len(elems))
		}
		var back GroupInfoTBS
		if err := back.Unmarshal(got); err != nil {
			t.Fatalf("extensions of %d bytes: %v", len(elems), err)
		}
		if len(back.Extensions) != 2 || !bytes.Equal(back.Extensions[0].ExtensionData, ext.ExtensionData) {
			t.Fatalf("extensions of %d bytes: decoded %d extensions", len(elems), len(back.Extensions))
		}
	}
}

// TestScratch: Scratch empties a buffer that holds n bytes (same array,
// its content left), and otherwise makes one of capacity exactly n.
func TestScratch(t *testing.T) {
	b := []byte{1, 2, 3, 4}
	if s := Scratch(b, 4); len(s) != 0 || cap(s) != 4 || &s[:1][0] != &b[0] {
		t.Errorf("Scratch of a buffer that holds 4 bytes: len %d cap %d, not the same array", len(s), cap(s))
	}
	if s := Scratch(b[:2], 3); len(s) != 0 || &s[:1][0] != &b[0] {
		t.Errorf("Scratch of a buffer of capacity 4 for 3 bytes did not reuse it")
	}
	for _, in := range [][]byte{nil, b} {
		if s := Scratch(in, 5); len(s) != 0 || cap(s) != 5 || (in != nil && &s[:1][0] == &in[0]) {
			t.Errorf("Scratch(%d bytes of room, 5): len %d cap %d", cap(in), len(s), cap(s))
		}
	}
	if s := Scratch(nil, 0); len(s) != 0 {
		t.Errorf("Scratch(nil, 0) has length %d", len(s))
	}
}
