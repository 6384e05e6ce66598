package framing_test

import (
	"bytes"
	"testing"

	"github.com/mlskit/mlskit/mls/internal/framing"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
)

// TestUnprotectPrivateStaged checks that a staged decryption changes the
// secret tree only when committed: discarded, the same message decrypts
// again; committed, its generation is gone (§9.2).
func TestUnprotectPrivateStaged(t *testing.T) {
	forEachSuite(t, func(t *testing.T, f *fixture) {
		sender := f.protector(t, framing.Options{})
		recv := f.protector(t, framing.Options{})
		data := []byte("staged")
		pm := f.sendPrivate(t, sender, data)

		ac, st, err := recv.UnprotectPrivateStaged(pm, f.keys)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ac.Content.ApplicationData, data) {
			t.Fatal("wrong content")
		}
		st.Discard()

		ac, st, err = recv.UnprotectPrivateStaged(pm, f.keys)
		if err != nil {
			t.Fatalf("after Discard the message must decrypt again: %v", err)
		}
		if !bytes.Equal(ac.Content.ApplicationData, data) {
			t.Fatal("wrong content")
		}
		if err := st.Commit(); err != nil {
			t.Fatal(err)
		}
		st.Discard()
		_, _, err = recv.UnprotectPrivateStaged(pm, f.keys)
		wantErr(t, "replay after Commit", err, secrettree.ErrGenerationReused)
	})
}
