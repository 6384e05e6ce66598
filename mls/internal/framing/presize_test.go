package framing_test

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/framing"
)

// TestSignProtectLargeAllocatesOnce: a fresh Protector (as each epoch's
// is) signs and protects a message of kilobytes — a Commit's size —
// encoding its FramedContentTBS and its plaintext each into one buffer of
// their size, not growing scratch by append (whose discarded copies of the
// plaintext would cost several times the message in allocations). Sign
// and ProtectPrivate of n bytes allocate under 3.8n with the suites of
// the vectors (TBS, plaintext, ciphertext, a tag and the AEAD's and
// signer's own); growing by append allocated over 4.7n. The message
// still opens.
func TestSignProtectLargeAllocatesOnce(t *testing.T) {
	forEachSuite(t, func(t *testing.T, f *fixture) {
		const n = 48 << 10
		data := bytes.Repeat([]byte{0x5a}, n)
		var before, after runtime.MemStats
		for range 2 {
			sender, receiver := f.protector(t, framing.Options{}), f.protector(t, framing.Options{})
			content := f.content(t, codec.ContentTypeApplication, data)
			runtime.ReadMemStats(&before)
			ac, err := sender.Sign(f.signer, codec.WireFormatMLSPrivateMessage, content)
			if err != nil {
				t.Fatal(err)
			}
			pm, err := sender.ProtectPrivate(ac)
			if err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			got, err := receiver.UnprotectPrivate(pm, f.keys)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Content.ApplicationData, data) {
				t.Fatal("the message opens to other data")
			}
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > 4*n {
			t.Errorf("Sign and ProtectPrivate of %d bytes allocated %d bytes, want at most %d", n, a, 4*n)
		}
	})
}
