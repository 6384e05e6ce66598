package fuzz

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
)

// wire is what every top-level generated type offers.
type wire interface {
	Size() int
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
	Decode(*codec.Reader) error
	Validate() error
}

// slabPad is put in front of an input so that a sub-reader over the input
// ends 4 KiB or more into the whole, where the decoders allocate from
// slabs; small inputs do not reach that path through Unmarshal.
const slabPad = 4096

// check is the property every target asserts: decoding data never panics
// (the fuzzing engine reports panics); when it succeeds, the value
// re-encodes to exactly data (whose length Size gives beforehand),
// decoding that gives an equal value, and
// Validate returns (an error or nil) without panicking. Decoding the same
// bytes through a sub-reader behind slabPad bytes (the slab allocation
// path) gives the same result.
func check[T any, P interface {
	*T
	wire
}](t *testing.T, data []byte) {
	var v T
	p := P(&v)
	err := p.Unmarshal(data)

	// Inputs of slabPad bytes or more take the slab path in Unmarshal
	// already; smaller ones take it here.
	var s T
	if len(data) < slabPad {
		r := codec.NewReader(append(make([]byte, slabPad), data...))
		if _, err := r.ReadBytes(slabPad); err != nil {
			t.Fatal(err)
		}
		sub, serr := r.Sub(len(data))
		if serr != nil {
			t.Fatalf("sub-reader of a padded input: %v", serr)
		}
		serr = P(&s).Decode(&sub)
		if serr == nil && !sub.Empty() {
			serr = codec.ErrTrailingData
		}
		if (err == nil) != (serr == nil) {
			t.Fatalf("Unmarshal: %v; Decode with slabs: %v", err, serr)
		}
	}

	if err != nil {
		var ce *codec.Error
		if !errors.As(err, &ce) {
			t.Fatalf("decoding error %v is not a *codec.Error", err)
		}
		return
	}
	if len(data) < slabPad && !reflect.DeepEqual(&v, &s) {
		t.Fatalf("Decode with slabs gives another value:\n %+v\n %+v", v, s)
	}
	_ = p.Validate()
	if n := p.Size(); n != len(data) {
		t.Fatalf("decoded %d bytes but Size() = %d", len(data), n)
	}
	out, err := p.Marshal()
	if err != nil {
		t.Fatalf("decoded %x but re-encoding fails: %v", data, err)
	}
	if !bytes.Equal(out, data) {
		t.Fatalf("not canonical: decoded\n %x\nre-encodes as\n %x", data, out)
	}
	var w T
	if err := P(&w).Unmarshal(out); err != nil {
		t.Fatalf("re-encoding does not decode: %v", err)
	}
	if !reflect.DeepEqual(&v, &w) {
		t.Fatalf("decoding the re-encoding gives another value:\n %+v\n %+v", v, w)
	}
}

// FuzzMLSMessage fuzzes the decoder of every message on the wire (RFC 9420
// §6).
func FuzzMLSMessage(f *testing.F) {
	for _, s := range seeds(f).mlsMessages {
		f.Add(s)
	}
	f.Fuzz(check[codec.MLSMessage])
}

// FuzzWelcome fuzzes the Welcome decoder (§12.4.3.1).
func FuzzWelcome(f *testing.F) {
	for _, s := range seeds(f).welcomes {
		f.Add(s)
	}
	f.Fuzz(check[codec.Welcome])
}

// FuzzGroupInfo fuzzes the GroupInfo decoder (§12.4.3).
func FuzzGroupInfo(f *testing.F) {
	for _, s := range seeds(f).groupInfos {
		f.Add(s)
	}
	f.Fuzz(check[codec.GroupInfo])
}

// FuzzKeyPackage fuzzes the KeyPackage decoder (§10).
func FuzzKeyPackage(f *testing.F) {
	for _, s := range seeds(f).keyPackages {
		f.Add(s)
	}
	f.Fuzz(check[codec.KeyPackage])
}

// FuzzRatchetTree fuzzes the decoder of the ratchet_tree extension
// (§12.4.3.3).
func FuzzRatchetTree(f *testing.F) {
	for _, s := range seeds(f).ratchetTrees {
		f.Add(s)
	}
	f.Fuzz(check[codec.RatchetTree])
}

// corpus holds the seeds of each target.
type corpus struct {
	mlsMessages, welcomes, groupInfos, keyPackages, ratchetTrees [][]byte
}

// maxSeedsPerField bounds the seeds taken from one field of one vector
// file, so that the engine's first pass over them stays short.
const maxSeedsPerField = 40

// seeds gathers the wire objects of the test vectors (testdata at the
// repository root, or MLS_TEST_VECTORS), after a few hand-made seeds.
func seeds(f *testing.F) *corpus {
	c := &corpus{
		mlsMessages:  [][]byte{{0, 1, 0, 1}, {0, 1, 0, 3, 0, 1, 0, 0}},
		welcomes:     [][]byte{{0, 1, 0, 0}},
		groupInfos:   [][]byte{{}},
		keyPackages:  [][]byte{{}},
		ratchetTrees: [][]byte{{0}, {2, 0, 0}},
	}
	// load reads the hex strings at the given keys of every case (keys
	// may name a list of objects with the key inside: "epochs.commit").
	load := func(file string, keys ...string) map[string][][]byte {
		out := map[string][][]byte{}
		var cases []map[string]json.RawMessage
		testvectors.Load(f, file, &cases)
		for _, k := range keys {
			for _, cs := range cases {
				if len(out[k]) >= maxSeedsPerField {
					break
				}
				out[k] = append(out[k], hexValues(cs, k)...)
			}
		}
		return out
	}

	m := load("messages.json", "mls_welcome", "mls_group_info", "mls_key_package", "public_message_application",
		"public_message_proposal", "public_message_commit", "private_message", "ratchet_tree")
	mp := load("message-protection.json", "application_priv", "proposal_pub", "proposal_priv", "commit_pub", "commit_priv")
	w := load("welcome.json", "welcome", "key_package")
	pw := load("passive-client-welcome.json", "welcome", "key_package", "ratchet_tree")
	pc := load("passive-client-handling-commit.json", "welcome", "key_package", "ratchet_tree", "epochs.commit")
	tv := load("tree-validation.json", "tree")
	to := load("tree-operations.json", "tree_before", "tree_after")
	tk := load("treekem.json", "ratchet_tree")

	for _, src := range []map[string][][]byte{m, mp, w, pw, pc} {
		for _, k := range []string{"mls_welcome", "mls_group_info", "mls_key_package", "public_message_application",
			"public_message_proposal", "public_message_commit", "private_message", "application_priv", "proposal_pub",
			"proposal_priv", "commit_pub", "commit_priv", "welcome", "key_package", "epochs.commit"} {
			c.mlsMessages = append(c.mlsMessages, src[k]...)
		}
	}
	// The bare Welcome, GroupInfo and KeyPackage inside the MLSMessages.
	for _, b := range c.mlsMessages {
		var msg codec.MLSMessage
		if msg.Unmarshal(b) != nil {
			continue
		}
		switch {
		case msg.Welcome != nil:
			c.welcomes = appendEncoding(c.welcomes, msg.Welcome)
		case msg.GroupInfo != nil:
			c.groupInfos = appendEncoding(c.groupInfos, msg.GroupInfo)
		case msg.KeyPackage != nil:
			c.keyPackages = appendEncoding(c.keyPackages, msg.KeyPackage)
		}
	}
	for _, src := range []map[string][][]byte{m, pw, pc, tk, tv} {
		for _, k := range []string{"ratchet_tree", "tree"} {
			c.ratchetTrees = append(c.ratchetTrees, src[k]...)
		}
	}
	c.ratchetTrees = append(c.ratchetTrees, to["tree_before"]...)
	c.ratchetTrees = append(c.ratchetTrees, to["tree_after"]...)
	f.Logf("seeds: %d MLSMessage, %d Welcome, %d GroupInfo, %d KeyPackage, %d ratchet_tree",
		len(c.mlsMessages), len(c.welcomes), len(c.groupInfos), len(c.keyPackages), len(c.ratchetTrees))
	return c
}

// appendEncoding appends the encoding of v to seeds.
func appendEncoding(seeds [][]byte, v interface{ Marshal() ([]byte, error) }) [][]byte {
	if b, err := v.Marshal(); err == nil {
		seeds = append(seeds, b)
	}
	return seeds
}

// hexValues returns the byte strings at key in a vector case: "a" is a hex
// string field, "a.b" the field b of each object of the list a. Missing or
// null fields give nothing.
func hexValues(cs map[string]json.RawMessage, key string) [][]byte {
	if i := strings.IndexByte(key, '.'); i >= 0 {
		var list []map[string]json.RawMessage
		if json.Unmarshal(cs[key[:i]], &list) != nil {
			return nil
		}
		var out [][]byte
		for _, e := range list {
			out = append(out, hexValues(e, key[i+1:])...)
		}
		return out
	}
	var s string
	if json.Unmarshal(cs[key], &s) != nil || s == "" {
		return nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil
	}
	return [][]byte{b}
}
