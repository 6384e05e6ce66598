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

// TestAppendHead: for the @head types of the schema, AppendHead followed by
// the last vector's content is Marshal's encoding byte for byte (prefix
// widths 1, 2 and 4), also through MLSMessage's welcome arm, and a
// GroupInfoTBS followed by the GroupInfo's AppendTail is the GroupInfo's
// encoding; the bytes are the encoding rules' (a SignContent is checked
// against hand-written bytes); MLSMessage arms whose struct has no @head
// give ErrNoHead.
func TestAppendHead(t *testing.T) {
	sc := SignContent{Label: []byte("MLS 1.0 x")}
	h, err := sc.AppendHead(nil, 64)
	if want := "09" + hex.EncodeToString([]byte("MLS 1.0 x")) + "4040"; err != nil || hex.EncodeToString(h) != want {
		t.Errorf("SignContent.AppendHead = %x, %v; want %s", h, err, want)
	}
	for _, n := range []int{0, 63, 64, 16383, 16384, 70000} {
		content := bytes.Repeat([]byte{0x5a}, n)
		w := Welcome{
			CipherSuite: 1,
			Secrets: []EncryptedGroupSecrets{{
				NewMember:             []byte{1, 2, 3},
				EncryptedGroupSecrets: HPKECiphertext{KEMOutput: []byte{4}, Ciphertext: []byte{5, 6}},
			}},
		}
		m := MLSMessage{WireFormat: WireFormatMLSWelcome, Welcome: &w}
		gi := GroupInfo{
			GroupContext:    GroupContext{CipherSuite: 1, GroupID: []byte("g"), Epoch: 3},
			Extensions:      []Extension{{ExtensionType: 5, ExtensionData: []byte{1, 2}}},
			ConfirmationTag: []byte{9, 9},
			Signer:          2,
		}
		for _, c := range []struct {
			name string
			head func() ([]byte, error)
			set  func()
			enc  func() ([]byte, error)
		}{
			{"SignContent", func() ([]byte, error) { return sc.AppendHead(nil, n) }, func() { sc.Content = content }, sc.Marshal},
			{"EncryptContext", func() ([]byte, error) { return (&EncryptContext{Label: sc.Label}).AppendHead(nil, n) },
				func() {}, (&EncryptContext{Label: sc.Label, Context: content}).Marshal},
			{"Welcome", func() ([]byte, error) { return w.AppendHead(nil, n) }, func() { w.EncryptedGroupInfo = content }, w.Marshal},
			{"MLSMessage", func() ([]byte, error) { return m.AppendHead(nil, n) }, func() { w.EncryptedGroupInfo = content }, m.Marshal},
			{"GroupInfo", func() ([]byte, error) { return gi.AppendHead(nil, n) }, func() { gi.Signature = content }, gi.Marshal},
		} {
			sc.Content, w.EncryptedGroupInfo, gi.Signature = []byte{7}, []byte{7}, content[:min(n, 1)] // AppendHead does not read them
			head, err := c.head()
			if err != nil {
				t.Fatalf("%s n=%d: %v", c.name, n, err)
			}
			c.set()
			want, err := c.enc()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(head, content...), want) {
				t.Errorf("%s n=%d: head %x and content differ from the encoding", c.name, n, head)
			}
		}
		// A GroupInfoTBS and the GroupInfo's AppendTail: its encoding.
		gi.Signature = content
		tbs := GroupInfoTBS{GroupContext: gi.GroupContext, Extensions: gi.Extensions, ConfirmationTag: gi.ConfirmationTag, Signer: gi.Signer}
		b, err := tbs.AppendTo(nil)
		if err == nil {
			b, err = gi.AppendTail(b)
		}
		if want, werr := gi.Marshal(); err != nil || werr != nil || !bytes.Equal(b, want) {
			t.Errorf("n=%d: GroupInfoTBS and AppendTail differ from the GroupInfo's encoding (%v, %v)", n, err, werr)
		}
	}
	for _, wf := range []WireFormat{WireFormatMLSPublicMessage, WireFormatMLSPrivateMessage, WireFormatMLSKeyPackage} {
		m := MLSMessage{WireFormat: wf, PublicMessage: &PublicMessage{}, PrivateMessage: &PrivateMessage{}, GroupInfo: &GroupInfo{}, KeyPackage: &KeyPackage{}}
		if _, err := m.AppendHead(nil, 1); !errors.Is(err, ErrNoHead) {
			t.Errorf("MLSMessage %v: AppendHead error %v, want ErrNoHead", wf, err)
		}
	}
	if _, err := (&MLSMessage{WireFormat: WireFormatMLSWelcome}).AppendHead(nil, 1); !errors.Is(err, ErrMissingArm) {
		t.Errorf("MLSMessage without its Welcome: %v, want ErrMissingArm", err)
	}
	if _, err := sc.AppendHead(nil, MaxVarint+1); !errors.Is(err, ErrLengthBound) {
		t.Errorf("content past MaxVarint: %v, want ErrLengthBound", err)
	}
}

// TestAppendHeadAt: a GroupInfoTBS's AppendHeadAt(i, n), then n bytes of
// content, then AppendTailAt(i) is its encoding (Marshal) with that
// content as extension i's extension_data, byte for byte, for every
// position of the extension among one to three, contents whose length
// prefixes take 1, 2 and 4 bytes, and a length prefix of the extensions
// vector that changes width with the content; AppendHeadAt does not read
// that extension's data (a placeholder of another length is there).
// Indices out of range and a negative n give ErrNoHead.
func TestAppendHeadAt(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 16383 - 8, 16384, 70000} {
		content := bytes.Repeat([]byte{0xa5}, n)
		for count := 1; count <= 3; count++ {
			for i := range count {
				exts := make([]Extension, count)
				for j := range exts {
					exts[j] = Extension{ExtensionType: ExtensionType(10 + j), ExtensionData: bytes.Repeat([]byte{byte(j)}, 3*j)}
				}
				tbs := GroupInfoTBS{
					GroupContext:    GroupContext{CipherSuite: 1, GroupID: []byte("g"), Epoch: 7, TreeHash: []byte{1}, ConfirmedTranscriptHash: []byte{2}},
					Extensions:      exts,
					ConfirmationTag: []byte{9, 9, 9},
					Signer:          4,
				}
				exts[i].ExtensionData = []byte{1, 2, 3, 4, 5} // not read
				b, err := tbs.AppendHeadAt([]byte("x"), i, n)
				if err != nil {
					t.Fatalf("n=%d, %d of %d: %v", n, i, count, err)
				}
				b = append(b, content...)
				if b, err = tbs.AppendTailAt(b, i); err != nil {
					t.Fatal(err)
				}
				exts[i].ExtensionData = content
				want, err := tbs.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b, append([]byte("x"), want...)) {
					t.Fatalf("n=%d, extension %d of %d: split encoding differs from Marshal's", n, i, count)
				}
			}
		}
	}
	tbs := GroupInfoTBS{Extensions: []Extension{{}}}
	for _, c := range []struct{ i, n int }{{-1, 0}, {1, 0}, {0, -1}} {
		if _, err := tbs.AppendHeadAt(nil, c.i, c.n); !errors.Is(err, ErrNoHead) {
			t.Errorf("AppendHeadAt(%d, %d): %v, want ErrNoHead", c.i, c.n, err)
		}
	}
	for _, i := range []int{-1, 1} {
		if _, err := tbs.AppendTailAt(nil, i); !errors.Is(err, ErrNoHead) {
			t.Errorf("AppendTailAt(%d): %v, want ErrNoHead", i, err)
		}
	}
}
