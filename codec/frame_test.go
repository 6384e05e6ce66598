package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// TestFrameVarintVector: the prefix is the shortest varint of the
// content's length (RFC 9420 §2.1.2), written at the end of the room, the
// content not moved; bounds and missing room are refused.
func TestFrameVarintVector(t *testing.T) {
	for _, c := range []struct {
		n      int
		prefix string
	}{{0, "00"}, {63, "3f"}, {64, "4040"}, {16383, "7fff"}, {16384, "80004000"}} {
		buf := make([]byte, MaxVarintLen+c.n)
		for i := range c.n {
			buf[MaxVarintLen+i] = byte(i)
		}
		v, err := FrameVarintVector(buf, MaxVarintLen, 0, MaxVarint)
		if err != nil {
			t.Fatalf("n=%d: %v", c.n, err)
		}
		p, _ := hex.DecodeString(c.prefix)
		if !bytes.Equal(v[:len(p)], p) || !bytes.Equal(v[len(p):], buf[MaxVarintLen:]) || len(v) != len(p)+c.n {
			t.Errorf("n=%d: prefix %x, want %s", c.n, v[:min(len(v), 4)], c.prefix)
		}
		if &v[len(p)-1] != &buf[MaxVarintLen-1] {
			t.Errorf("n=%d: prefix not at the end of the room", c.n)
		}
	}
	buf := make([]byte, MaxVarintLen+3)
	for _, c := range []struct {
		name   string
		start  int
		lo, hi uint64
		want   error
	}{
		{"too short", MaxVarintLen, 4, 10, ErrLengthBound},
		{"too long", MaxVarintLen, 0, 2, ErrLengthBound},
		{"no room", MaxVarintLen - 1, 0, MaxVarint, ErrNoPrefixRoom},
		{"start past the end", len(buf) + 1, 0, MaxVarint, ErrNoPrefixRoom},
	} {
		if _, err := FrameVarintVector(buf, c.start, c.lo, c.hi); !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := FrameVarintVector(buf, MaxVarintLen, 3, 3); err != nil {
		t.Errorf("length at both bounds: %v", err)
	}
}
