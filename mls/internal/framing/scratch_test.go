package framing

import (
	"bytes"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// TestProtectorScratchDisjoint: the scratch buffers of a Protector, cut
// from one allocation, do not overlap: filling each to its capacity, and
// then past it, leaves the others as they were.
func TestProtectorScratchDisjoint(t *testing.T) {
	cs, err := defaultcrypto.New().CipherSuite(codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProtector(cs, &codec.GroupContext{CipherSuite: cs.ID()}, EpochSecrets{}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	bufs := []*[]byte{&p.tbs, &p.pt, &p.aad, &p.sd, &p.sc, &p.ct}
	for i, b := range bufs {
		if len(*b) != 0 || cap(*b) == 0 {
			t.Fatalf("scratch %d: len %d cap %d", i, len(*b), cap(*b))
		}
	}
	for i, b := range bufs {
		*b = append(*b, bytes.Repeat([]byte{byte(i + 1)}, cap(*b))...)
	}
	check := func(step string) {
		t.Helper()
		for i, b := range bufs {
			if !bytes.Equal(*b, bytes.Repeat([]byte{byte(i + 1)}, len(*b))) {
				t.Fatalf("%s: scratch %d was overwritten", step, i)
			}
		}
	}
	check("filled")
	for i, b := range bufs {
		*b = append(*b, byte(i+1))
		check("grown")
	}
}
