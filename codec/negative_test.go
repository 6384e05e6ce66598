package codec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
)

// wantCodecError checks that err wraps sentinel and is a *codec.Error with
// the given location (offset -1: not decoding).
func wantCodecError(t *testing.T, err, sentinel error, typ, field string, offset int) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("got %v, want it to wrap %v", err, sentinel)
	}
	var ce *codec.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%v is not a *codec.Error", err)
	}
	if ce.Type != typ || ce.Field != field || ce.Offset != offset {
		t.Fatalf("error at %s.%s offset %d, want %s.%s offset %d (%v)",
			ce.Type, ce.Field, ce.Offset, typ, field, offset, err)
	}
	if ce.Error() == "" {
		t.Fatal("empty error message")
	}
}

// cat concatenates byte strings.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func u64(v uint64) []byte { return codec.AppendUint64(nil, v) }

// TestNegativeNonMinimalVarint: RFC 9420 §2.1.2 requires the shortest
// encoding of every vector length.
func TestNegativeNonMinimalVarint(t *testing.T) {
	// PrivateMessage.group_id of 3 bytes with a 2-byte length 0x4003.
	in := cat([]byte{0x40, 0x03}, []byte("abc"), u64(1), []byte{1, 0, 0, 0})
	var m codec.PrivateMessage
	wantCodecError(t, m.Unmarshal(in), codec.ErrNonMinimalVarint, "PrivateMessage", "group_id", 0)

	// 4-byte form of a value that fits 2 bytes, deep inside a Commit:
	// proposals<V> = [ProposalOrRef{reference, ProposalRef 0x80000001 "x"}].
	ref := []byte{2, 0x80, 0x00, 0x00, 0x01, 'x'}
	in = cat([]byte{byte(len(ref))}, ref, []byte{0})
	var c codec.Commit
	wantCodecError(t, c.Unmarshal(in), codec.ErrNonMinimalVarint, "HashReference", "", 2)

	// Every value of the runtime's reader: each non-minimal 2- and 4-byte
	// form of a small value is rejected, the minimal ones accepted.
	for _, tc := range []struct {
		in  []byte
		err error
	}{
		{[]byte{0x40, 0x00}, codec.ErrNonMinimalVarint},
		{[]byte{0x40, 0x3f}, codec.ErrNonMinimalVarint},
		{[]byte{0x40, 0x40}, nil},
		{[]byte{0x80, 0x00, 0x3f, 0xff}, codec.ErrNonMinimalVarint},
		{[]byte{0x80, 0x00, 0x40, 0x00}, nil},
		{[]byte{0xc0, 0, 0, 0, 0, 0, 0, 1}, codec.ErrInvalidVarint},
		{[]byte{0x80, 0x00, 0x40}, codec.ErrTruncated},
		{[]byte{}, codec.ErrTruncated},
	} {
		r := codec.NewReader(tc.in)
		if _, err := r.ReadVarint(); !errors.Is(err, tc.err) && !(err == nil && tc.err == nil) {
			t.Errorf("ReadVarint(%x): err %v, want %v", tc.in, err, tc.err)
		}
	}
}

// TestNegativeInvalidVarintPrefix: the 0b11 prefix is reserved (§2.1.2).
func TestNegativeInvalidVarintPrefix(t *testing.T) {
	var e codec.ExternalInit
	wantCodecError(t, e.Unmarshal([]byte{0xc0, 0, 0, 0, 0, 0, 0, 0}), codec.ErrInvalidVarint, "ExternalInit", "kem_output", 0)
}

// TestNegativeVarintTooLarge: lengths above 2^30-1 cannot be encoded.
func TestNegativeVarintTooLarge(t *testing.T) {
	if _, err := codec.AppendVarint(nil, codec.MaxVarint+1); !errors.Is(err, codec.ErrVarintTooLarge) {
		t.Fatalf("AppendVarint(2^30): err %v, want ErrVarintTooLarge", err)
	}
	if _, err := codec.AppendVarint(nil, codec.MaxVarint); err != nil {
		t.Fatalf("AppendVarint(2^30-1): %v", err)
	}
}

// TestNegativePresenceByte: optional<T> has a presence byte of 0 or 1 only
// (§2.1.1).
func TestNegativePresenceByte(t *testing.T) {
	// Commit: empty proposals<V>, then path with presence byte 2.
	var c codec.Commit
	wantCodecError(t, c.Unmarshal([]byte{0x00, 0x02}), codec.ErrInvalidPresence, "Commit", "path", 1)
	// ratchet_tree<V>: optional<Node> entries.
	var rt codec.RatchetTree
	wantCodecError(t, rt.Unmarshal([]byte{0x02, 0x00, 0x02}), codec.ErrInvalidPresence, "ratchet_tree", "", 2)
	// GroupSecrets.path_secret.
	var gs codec.GroupSecrets
	wantCodecError(t, gs.Unmarshal([]byte{0x01, 0xaa, 0xff, 0x00}), codec.ErrInvalidPresence, "GroupSecrets", "path_secret", 2)
	// Presence 0 and 1 are fine.
	if err := c.Unmarshal([]byte{0x00, 0x00}); err != nil {
		t.Fatalf("Commit without path: %v", err)
	}
}

// TestNegativeUnknownClosedEnum: closed enums reject values they do not name.
func TestNegativeUnknownClosedEnum(t *testing.T) {
	// FramedContent.content_type = 7.
	in := cat([]byte{0x01, 0xaa}, u64(5), []byte{1, 0, 0, 0, 0}, []byte{0x00}, []byte{7})
	var fc codec.FramedContent
	wantCodecError(t, fc.Unmarshal(in), codec.ErrUnknownEnumValue, "FramedContent", "content_type", len(in)-1)

	// ContentType 0 (reserved) is not a value either.
	in[len(in)-1] = 0
	wantCodecError(t, fc.Unmarshal(in), codec.ErrUnknownEnumValue, "FramedContent", "content_type", len(in)-1)

	// Sender.sender_type = 9 inside the FramedContent.
	in = cat([]byte{0x01, 0xaa}, u64(5), []byte{9, 0, 0, 0, 0}, []byte{0x00}, []byte{1, 0})
	wantCodecError(t, fc.Unmarshal(in), codec.ErrUnknownEnumValue, "Sender", "sender_type", 10)

	// LeafNode.leaf_node_source = 9: empty keys, basic credential with
	// empty identity, empty capabilities, then the source.
	leaf := cat([]byte{0, 0}, []byte{0, 1, 0}, []byte{0, 0, 0, 0, 0}, []byte{9})
	var ln codec.LeafNode
	wantCodecError(t, ln.Unmarshal(leaf), codec.ErrUnknownEnumValue, "LeafNode", "leaf_node_source", len(leaf)-1)

	// A Node in a ratchet tree with node_type 3.
	var rt codec.RatchetTree
	wantCodecError(t, rt.Unmarshal([]byte{0x02, 0x01, 0x03}), codec.ErrUnknownEnumValue, "Node", "node_type", 2)

	// PSKType 3 in a PreSharedKeyID.
	var psk codec.PreSharedKeyID
	wantCodecError(t, psk.Unmarshal([]byte{3, 0, 0}), codec.ErrUnknownEnumValue, "PreSharedKeyID", "psktype", 0)

	// Validate rejects a closed enum value set in memory.
	wantCodecError(t, (&codec.PrivateMessage{ContentType: 7}).Validate(), codec.ErrUnknownEnumValue, "PrivateMessage", "content_type", -1)
}

// TestNegativeNoArm: an open enum without a default arm, and a parameter
// that selects no arm.
func TestNegativeNoArm(t *testing.T) {
	var m codec.MLSMessage
	wantCodecError(t, m.Unmarshal([]byte{0, 1, 0x0a, 0x0a}), codec.ErrNoArm, "MLSMessage", "MLSMessage.wire_format", 4)
	_, err := (&codec.MLSMessage{WireFormat: 0x0a0a}).Marshal()
	wantCodecError(t, err, codec.ErrNoArm, "MLSMessage", "MLSMessage.wire_format", -1)
	var ad codec.FramedContentAuthData
	wantCodecError(t, ad.Unmarshal([]byte{0}, 9), codec.ErrNoArm, "FramedContentAuthData", "FramedContent.content_type", 1)
}

// TestNegativeConstant: MLSMessage.version is fixed to mls10.
func TestNegativeConstant(t *testing.T) {
	var m codec.MLSMessage
	wantCodecError(t, m.Unmarshal([]byte{0, 2, 0, 1}), codec.ErrConstant, "MLSMessage", "version", 0)
}

// TestNegativeTrailingData: top-level Unmarshal reads exactly one value.
func TestNegativeTrailingData(t *testing.T) {
	var r codec.Remove
	wantCodecError(t, r.Unmarshal([]byte{0, 0, 0, 1, 0}), codec.ErrTrailingData, "Remove", "", 4)
	if err := r.Unmarshal([]byte{0, 0, 0, 1}); err != nil || r.Removed != 1 {
		t.Fatalf("Remove{1}: %v %v", r, err)
	}

	// Every MLSMessage of the first case of messages.json with one byte
	// more.
	var cases []messagesCase
	testvectors.Load(t, "messages.json", &cases)
	c := cases[0]
	for _, in := range [][]byte{c.MLSWelcome, c.MLSGroupInfo, c.MLSKeyPackage, c.PublicMessageApplication,
		c.PublicMessageProposal, c.PublicMessageCommit, c.PrivateMessage} {
		var m codec.MLSMessage
		if err := m.Unmarshal(in); err != nil {
			t.Fatal(err)
		}
		wantCodecError(t, m.Unmarshal(append(bytes.Clone(in), 0)), codec.ErrTrailingData, "MLSMessage", "", len(in))
	}
	// Bytes left inside a vector after its last element are not trailing
	// data of the whole but a truncated element: ratchet_tree<V> of 2 bytes
	// holding one absent node and a lone presence byte 1.
	var rt codec.RatchetTree
	wantCodecError(t, rt.Unmarshal([]byte{0x02, 0x00, 0x01}), codec.ErrTruncated, "Node", "node_type", 3)
}

// TestNegativeTruncated: a vector's length runs past the end of the input,
// and every strict prefix of a real message is rejected.
func TestNegativeTruncated(t *testing.T) {
	var e codec.ExternalInit
	wantCodecError(t, e.Unmarshal([]byte{5, 1, 2, 3}), codec.ErrTruncated, "ExternalInit", "kem_output", 1)
	// A vector of structs whose length points past the input.
	var c codec.Commit
	wantCodecError(t, c.Unmarshal([]byte{0x10, 1, 0, 3}), codec.ErrTruncated, "Commit", "proposals", 1)
	// A struct element cut inside its vector: Remove's uint32 with 2 bytes.
	wantCodecError(t, c.Unmarshal([]byte{0x05, 1, 0, 3, 0, 0, 0}), codec.ErrTruncated, "Remove", "removed", 4)
	// Fixed-size fields.
	var sd codec.SenderData
	wantCodecError(t, sd.Unmarshal([]byte{0, 0, 0, 1, 0, 0, 0, 2, 9, 9}), codec.ErrTruncated, "SenderData", "reuse_guard", 8)

	var cases []messagesCase
	testvectors.Load(t, "messages.json", &cases)
	in := cases[0].MLSWelcome
	for n := 0; n < len(in); n++ {
		var m codec.MLSMessage
		err := m.Unmarshal(in[:n])
		if !errors.Is(err, codec.ErrTruncated) {
			t.Fatalf("prefix of %d/%d bytes: err %v, want ErrTruncated", n, len(in), err)
		}
	}
}

// TestNegativePadding: PrivateMessageContent padding must be all zero
// (§6.3.1).
func TestNegativePadding(t *testing.T) {
	// application_data<V> "hi", signature<V> empty, padding 00 00 01.
	in := []byte{2, 'h', 'i', 0, 0, 0, 1}
	var pc codec.PrivateMessageContent
	wantCodecError(t, pc.Unmarshal(in, codec.ContentTypeApplication), codec.ErrNonZeroPadding, "PrivateMessageContent", "padding", 4)
	in[6] = 0
	if err := pc.Unmarshal(in, codec.ContentTypeApplication); err != nil {
		t.Fatalf("zero padding: %v", err)
	}
	if pc.Padding != 3 || string(pc.ApplicationData) != "hi" {
		t.Fatalf("decoded %+v", pc)
	}
	out, err := pc.Marshal(codec.ContentTypeApplication)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("re-encoded %x, %v; want %x", out, err, in)
	}
	pc.Padding = -1
	_, err = pc.Marshal(codec.ContentTypeApplication)
	wantCodecError(t, err, codec.ErrLengthBound, "PrivateMessageContent", "padding", -1)
	wantCodecError(t, pc.Validate(codec.ContentTypeApplication), codec.ErrLengthBound, "PrivateMessageContent", "padding", -1)
}

// TestNegativeSelectArms: Validate and encoding check that the arm set
// matches the discriminant.
func TestNegativeSelectArms(t *testing.T) {
	fc := codec.FramedContent{
		Sender:      codec.Sender{SenderType: codec.SenderTypeMember},
		ContentType: codec.ContentTypeApplication,
		Commit:      &codec.Commit{},
	}
	wantCodecError(t, fc.Validate(), codec.ErrUnselectedArm, "FramedContent", "commit", -1)
	fc.ContentType = codec.ContentTypeProposal
	wantCodecError(t, fc.Validate(), codec.ErrUnselectedArm, "FramedContent", "commit", -1)
	fc.Commit = nil
	wantCodecError(t, fc.Validate(), codec.ErrMissingArm, "FramedContent", "proposal", -1)
	_, err := fc.Marshal()
	wantCodecError(t, err, codec.ErrMissingArm, "FramedContent", "proposal", -1)
	fc.Proposal = &codec.Proposal{ProposalType: codec.ProposalTypeRemove, Remove: &codec.Remove{}}
	if err := fc.Validate(); err != nil {
		t.Fatalf("consistent FramedContent: %v", err)
	}
	// A nested mismatch is reported where it is.
	fc.Proposal.Add = &codec.Add{}
	wantCodecError(t, fc.Validate(), codec.ErrUnselectedArm, "Proposal", "Add", -1)

	m := codec.MLSMessage{WireFormat: codec.WireFormatMLSWelcome, KeyPackage: &codec.KeyPackage{}, Welcome: &codec.Welcome{}}
	wantCodecError(t, m.Validate(), codec.ErrUnselectedArm, "MLSMessage", "key_package", -1)
	n := codec.Node{NodeType: codec.NodeTypeParent}
	wantCodecError(t, n.Validate(), codec.ErrMissingArm, "Node", "parent_node", -1)
	wantCodecError(t, codec.RatchetTree{nil, &n}.Validate(), codec.ErrMissingArm, "Node", "parent_node", -1)
	pc := codec.PrivateMessageContent{Proposal: &codec.Proposal{}}
	wantCodecError(t, pc.Validate(codec.ContentTypeCommit), codec.ErrUnselectedArm, "PrivateMessageContent", "proposal", -1)
}

// TestNegativeLengthBound: the End…Vector helpers enforce a vector's bounds
// and the width of a TLS length prefix.
func TestNegativeLengthBound(t *testing.T) {
	b, start := codec.BeginUint8Vector(nil)
	b = append(b, 1, 2, 3)
	if _, err := codec.EndUint8Vector(b, start, 4, 10); !errors.Is(err, codec.ErrLengthBound) {
		t.Fatalf("3 bytes in <4..10>: err %v", err)
	}
	b, start = codec.BeginUint8Vector(nil)
	b = append(b, make([]byte, 256)...)
	if _, err := codec.EndUint8Vector(b, start, 0, 1<<16); !errors.Is(err, codec.ErrLengthBound) {
		t.Fatalf("256 bytes under a 1-byte prefix: err %v", err)
	}
	b, start = codec.BeginVarintVector(nil)
	b = append(b, 1, 2, 3)
	if _, err := codec.EndBoundedVarintVector(b, start, 1, 2); !errors.Is(err, codec.ErrLengthBound) {
		t.Fatalf("3 bytes in @size(1..2): err %v", err)
	}
	b, start = codec.BeginVarintVector(nil)
	if _, err := codec.EndBoundedVarintVector(b, start, 1, codec.MaxVarint); !errors.Is(err, codec.ErrLengthBound) {
		t.Fatalf("0 bytes in @size(1..): err %v", err)
	}
}

// TestVectorPrefixes: each Begin/End pair writes its length prefix in front
// of the content, after what the buffer held.
func TestVectorPrefixes(t *testing.T) {
	type pair struct {
		name  string
		begin func([]byte) ([]byte, int)
		end   func([]byte, int) ([]byte, error)
	}
	bounded := func(f func([]byte, int, uint64, uint64) ([]byte, error)) func([]byte, int) ([]byte, error) {
		return func(b []byte, start int) ([]byte, error) { return f(b, start, 0, 1<<32-1) }
	}
	pairs := []pair{
		{"varint", codec.BeginVarintVector, codec.EndVarintVector},
		{"uint8", codec.BeginUint8Vector, bounded(codec.EndUint8Vector)},
		{"uint16", codec.BeginUint16Vector, bounded(codec.EndUint16Vector)},
		{"uint24", codec.BeginUint24Vector, bounded(codec.EndUint24Vector)},
		{"uint32", codec.BeginUint32Vector, bounded(codec.EndUint32Vector)},
	}
	for _, p := range pairs {
		for _, n := range []int{0, 5, 63, 64, 200, 255, 16383, 16384} {
			if p.name == "uint8" && n > 255 {
				continue
			}
			content := bytes.Repeat([]byte{0x5a}, n)
			b, start := p.begin([]byte{0xee})
			b = append(b, content...)
			b, err := p.end(b, start)
			if err != nil {
				t.Fatalf("%s, %d bytes: %v", p.name, n, err)
			}
			var prefix []byte
			switch p.name {
			case "varint":
				prefix, _ = codec.AppendVarint(nil, uint64(n))
			case "uint8":
				prefix = []byte{byte(n)}
			case "uint16":
				prefix = codec.AppendUint16(nil, uint16(n))
			case "uint24":
				prefix = codec.AppendUint32(nil, uint32(n))[1:]
			case "uint32":
				prefix = codec.AppendUint32(nil, uint32(n))
			}
			want := append(append([]byte{0xee}, prefix...), content...)
			if !bytes.Equal(b, want) {
				t.Fatalf("%s, %d bytes: got %x…, want %x…", p.name, n, b[:min(len(b), 8)], want[:min(len(want), 8)])
			}
		}
	}
}

// TestReadLengths: each ReadXLength reads its prefix and wants the input to
// hold the length it gives.
func TestReadLengths(t *testing.T) {
	for _, c := range []struct {
		name   string
		read   func(*codec.Reader) (int, error)
		prefix []byte
	}{
		{"varint", (*codec.Reader).ReadVarintLength, []byte{0x40, 0x03}},
		{"uint8", (*codec.Reader).ReadUint8Length, []byte{3}},
		{"uint16", (*codec.Reader).ReadUint16Length, []byte{0, 3}},
		{"uint24", (*codec.Reader).ReadUint24Length, []byte{0, 0, 3}},
		{"uint32", (*codec.Reader).ReadUint32Length, []byte{0, 0, 0, 3}},
	} {
		if c.name == "varint" {
			// 0x4003 is not minimal: the varint reader rejects it.
			if _, err := c.read(codec.NewReader(append(c.prefix, 1, 2, 3))); !errors.Is(err, codec.ErrNonMinimalVarint) {
				t.Errorf("%s: non-minimal prefix: err %v", c.name, err)
			}
			c.prefix = []byte{3}
		}
		r := codec.NewReader(append(c.prefix, 1, 2, 3))
		if n, err := c.read(r); err != nil || n != 3 || r.Len() != 3 {
			t.Errorf("%s: n %d, err %v, %d bytes left", c.name, n, err, r.Len())
		}
		if _, err := c.read(codec.NewReader(append(c.prefix, 1, 2))); !errors.Is(err, codec.ErrTruncated) {
			t.Errorf("%s: a length past the input: err %v", c.name, err)
		}
		if _, err := c.read(codec.NewReader(c.prefix[:len(c.prefix)-1])); !errors.Is(err, codec.ErrTruncated) {
			t.Errorf("%s: a truncated prefix: err %v", c.name, err)
		}
	}
}

// TestOpenEnums: values an open enum does not name (GREASE values of §13.5,
// private-use code points) decode and re-encode unchanged, and select the
// default arm where the schema has one.
func TestOpenEnums(t *testing.T) {
	roundTrip := func(t *testing.T, v interface {
		Marshal() ([]byte, error)
		Unmarshal([]byte) error
		Validate() error
	}, in []byte) {
		t.Helper()
		if err := v.Unmarshal(in); err != nil {
			t.Fatalf("decoding %x: %v", in, err)
		}
		if err := v.Validate(); err != nil {
			t.Fatalf("validating %x: %v", in, err)
		}
		out, err := v.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-encoded %x, %v; want %x", out, err, in)
		}
	}
	t.Run("ExtensionType", func(t *testing.T) {
		var e codec.Extension
		roundTrip(t, &e, []byte{0x0a, 0x0a, 2, 0xde, 0xad})
		if e.ExtensionType != 0x0a0a || e.ExtensionType.IsKnown() || e.ExtensionType.String() != "ExtensionType(2570)" {
			t.Fatalf("decoded %+v (%v)", e, e.ExtensionType)
		}
	})
	t.Run("ProposalType", func(t *testing.T) {
		var p codec.Proposal
		roundTrip(t, &p, []byte{0x1a, 0x1a, 3, 1, 2, 3})
		if p.ProposalType != 0x1a1a || !bytes.Equal(p.ProposalData, []byte{1, 2, 3}) {
			t.Fatalf("decoded %+v", p)
		}
		// A Commit carrying it by value.
		var c codec.Commit
		roundTrip(t, &c, []byte{7, 1, 0xfa, 0xfa, 3, 1, 2, 3, 0})
		if c.Proposals[0].Proposal.ProposalType != 0xfafa {
			t.Fatalf("decoded %+v", c.Proposals[0].Proposal)
		}
	})
	t.Run("CredentialType", func(t *testing.T) {
		var c codec.Credential
		roundTrip(t, &c, []byte{0x2a, 0x2a, 2, 'i', 'd'})
		if c.CredentialType != 0x2a2a || string(c.CredentialData) != "id" || c.Identity != nil {
			t.Fatalf("decoded %+v", c)
		}
	})
	t.Run("Capabilities", func(t *testing.T) {
		var c codec.Capabilities
		// versions, cipher_suites, extensions, proposals, credentials, each
		// holding a GREASE value next to a known one.
		roundTrip(t, &c, []byte{
			4, 0, 1, 0x3a, 0x3a,
			4, 0, 1, 0x4a, 0x4a,
			4, 0, 2, 0x5a, 0x5a,
			4, 0, 4, 0x6a, 0x6a,
			4, 0, 1, 0x7a, 0x7a,
		})
		if c.CipherSuites[1] != 0x4a4a || c.Extensions[1] != 0x5a5a || c.Proposals[1] != 0x6a6a || c.Credentials[1] != 0x7a7a {
			t.Fatalf("decoded %+v", c)
		}
	})
	t.Run("CipherSuite", func(t *testing.T) {
		var w codec.Welcome
		roundTrip(t, &w, []byte{0x0a, 0x0a, 0, 0})
		if w.CipherSuite != 0x0a0a {
			t.Fatalf("decoded %+v", w)
		}
	})
}
