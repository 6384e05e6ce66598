package framing_test

import (
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/mls/internal/framing"
)

// FuzzUnprotect feeds arbitrary MLSMessage bytes to a suite-1 receiver of
// the message-protection.json group: decoding and unprotection must never
// panic, and a message that unprotects must carry a content whose
// signature verifies on its own. Seeds are the vector's messages.
func FuzzUnprotect(f *testing.F) {
	var cases []protectionCase
	testvectors.Load(f, "message-protection.json", &cases)
	c := &cases[0]
	for _, m := range [][]byte{c.ProposalPub, c.ProposalPriv, c.CommitPub, c.CommitPriv, c.ApplicationPriv} {
		f.Add([]byte(m))
	}
	fx := newFixture(f, c)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m codec.MLSMessage
		if err := m.Unmarshal(b); err != nil {
			return
		}
		p := fx.protector(t, framing.Options{})
		var ac *codec.AuthenticatedContent
		var err error
		switch {
		case m.PrivateMessage != nil:
			ac, err = p.UnprotectPrivate(m.PrivateMessage, fx.keys)
		case m.PublicMessage != nil:
			ac, err = p.UnprotectPublic(m.PublicMessage, fx.keys)
		default:
			return
		}
		if err != nil {
			return
		}
		if err := framing.VerifyContent(fx.cs, ac, fx.ctx, c.SignaturePub); err != nil {
			t.Fatalf("unprotected content does not verify: %v", err)
		}
	})
}
