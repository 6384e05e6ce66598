package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/mlskit/mlskit/codec"
)

// inspect runs 'mlsinspect decode' on data as the type its first byte
// picks among typeNames: an error or a JSON document, never a panic. It
// returns whether data decoded.
func inspect(t *testing.T, data []byte) bool {
	if len(data) == 0 {
		return false
	}
	names := typeNames()
	typ := names[int(data[0])%len(names)]
	var out bytes.Buffer
	if err := run([]string{"decode", typ, hex.EncodeToString(data[1:])}, &out); err != nil {
		return false
	}
	if !json.Valid(out.Bytes()) {
		t.Fatalf("decode %s printed no valid JSON: %q", typ, out.String())
	}
	return true
}

// typeIndex is the first input byte that picks typ in inspect.
func typeIndex(t testing.TB, typ string) byte {
	for i, n := range typeNames() {
		if n == typ {
			return byte(i)
		}
	}
	t.Fatalf("no type %s", typ)
	return 0
}

// seedMessage is an MLSMessage of a KeyPackage of an unknown cipher
// suite: it decodes (the wire layer knows no suites).
func seedMessage(t testing.TB) []byte {
	kp := codec.KeyPackage{
		CipherSuite: 0x7a7a,
		InitKey:     []byte{1, 2, 3},
		LeafNode: codec.LeafNode{
			EncryptionKey:  []byte{4},
			SignatureKey:   []byte{5},
			Credential:     codec.Credential{CredentialType: codec.CredentialTypeBasic, Identity: []byte("x")},
			LeafNodeSource: codec.LeafNodeSourceKeyPackage,
			Lifetime:       &codec.Lifetime{NotBefore: 1, NotAfter: 2},
			Signature:      []byte{6},
		},
		Signature: []byte{7},
	}
	b, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSKeyPackage, KeyPackage: &kp}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{typeIndex(t, "MLSMessage")}, b...)
}

// FuzzInspectDecode feeds untrusted bytes to 'mlsinspect decode' of every
// type it accepts: it prints JSON or returns an error, without panicking
// (the decoders and the readable rendering of whatever they accept).
func FuzzInspectDecode(f *testing.F) {
	f.Add(seedMessage(f))
	for i := range typeNames() {
		f.Add([]byte{byte(i)})
	}
	f.Fuzz(func(t *testing.T, data []byte) { inspect(t, data) })
}

// TestInspectDecodeSeeds: the seed message decodes to JSON naming its
// wire format, and each of its truncations (down to no bytes at all) is
// refused with an error.
func TestInspectDecodeSeeds(t *testing.T) {
	seed := seedMessage(t)
	if !inspect(t, seed) {
		t.Fatal("the seed KeyPackage message does not decode")
	}
	var out bytes.Buffer
	if err := run([]string{"decode", "MLSMessage", hex.EncodeToString(seed[1:])}, &out); err != nil || !bytes.Contains(out.Bytes(), []byte("mls_key_package")) {
		t.Fatalf("decode MLSMessage: %v\n%s", err, out.String())
	}
	for n := 1; n < len(seed); n++ {
		if inspect(t, seed[:n]) {
			t.Fatalf("the seed cut to %d bytes decodes", n)
		}
	}
}
