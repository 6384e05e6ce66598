package mls_test

import (
	"io"
	"testing"

	"github.com/mlskit/mlskit/internal/groupbench"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// TestSendAllocations: an application message sent allocates, besides
// what its primitives allocate in the provider (the signature, the AEAD
// ciphers of the two seals, the reuse guard's random bytes), at most the message itself and what storage
// allocates for the ratchet record it writes (memstore: its copy of the
// record, its transaction): the encodings, the framing structures and the
// message's change of the group are made in storage the Protector and the
// Group keep (RFC 9420 §6.3 requires none of them per message).
func TestSendAllocations(t *testing.T) {
	f, err := groupbench.New(defaultcrypto.New(), benchSuite, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := f.Provider.CipherSuite(f.Suite)
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 100)
	sends := testing.AllocsPerRun(50, func() {
		if _, err := f.AliceGroup.SendApplicationMessage(msg, nil); err != nil {
			t.Fatal(err)
		}
	})
	key, nonce := make([]byte, cs.AEADKeySize()), make([]byte, cs.AEADNonceSize())
	ct := make([]byte, 0, 512)
	var guard [4]byte
	prims := testing.AllocsPerRun(50, func() {
		if _, err := io.ReadFull(f.Provider.Rand(), guard[:]); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Alice.Signer.Sign(msg); err != nil {
			t.Fatal(err)
		}
		for _, pt := range [][]byte{msg, msg[:12]} {
			if _, err := cs.Seal(ct[:0], key, nonce, pt, nil); err != nil {
				t.Fatal(err)
			}
		}
	})
	const own = 3 // the message; storage's record copy and transaction
	if sends > prims+own {
		t.Errorf("a send allocates %.0f times, its primitives %.0f: %.0f of its own, want at most %d", sends, prims, sends-prims, own)
	}
}
