package codec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
)

// deserializationCase is one case of deserialization.json (FORMAT.md,
// "Vector Deserialization"): the header of a variable-length vector and the
// length it encodes.
type deserializationCase struct {
	VLBytesHeader hx     `json:"vlbytes_header"`
	Length        uint64 `json:"length"`
}

// TestDeserializationVectors reads every vlbytes_header with the codec's
// variable-length integer reader (RFC 9420 §2.1.2), checks the value and
// that the whole header was consumed, and that encoding the length gives
// the header back (the vectors hold minimal encodings only).
func TestDeserializationVectors(t *testing.T) {
	var cases []deserializationCase
	testvectors.Load(t, "deserialization.json", &cases)
	ran := testvectors.Expect(t, "deserialization.json", len(cases))
	passed := 0
	for i, c := range cases {
		ran.Ran()
		r := codec.NewReader(c.VLBytesHeader)
		got, err := r.ReadVarint()
		if err != nil {
			t.Errorf("case %d (%x): ReadVarint: %v", i, []byte(c.VLBytesHeader), err)
			continue
		}
		if got != c.Length {
			t.Errorf("case %d (%x): decoded %d, want %d", i, []byte(c.VLBytesHeader), got, c.Length)
			continue
		}
		if err := r.Finish(); err != nil {
			t.Errorf("case %d (%x): %d bytes left after the header", i, []byte(c.VLBytesHeader), r.Len())
			continue
		}
		enc, err := codec.AppendVarint(nil, c.Length)
		if err != nil {
			t.Errorf("case %d: AppendVarint(%d): %v", i, c.Length, err)
			continue
		}
		if !bytes.Equal(enc, c.VLBytesHeader) {
			t.Errorf("case %d: AppendVarint(%d) = %x, want %x", i, c.Length, enc, []byte(c.VLBytesHeader))
			continue
		}
		// The header as the prefix of an opaque<V>: ReadVarintLength reads the
		// same length, and reports truncation when the content is missing.
		if c.Length > 0 {
			if _, err := codec.NewReader(c.VLBytesHeader).ReadVarintLength(); !errors.Is(err, codec.ErrTruncated) {
				t.Errorf("case %d: ReadVarintLength without content: err %v, want ErrTruncated", i, err)
				continue
			}
		}
		passed++
	}
	t.Logf("deserialization.json: %d/%d cases passed, 0 skipped", passed, len(cases))
	if passed != len(cases) {
		t.Fail()
	}
}
