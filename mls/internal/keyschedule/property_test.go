package keyschedule_test

import (
	"bytes"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/stdcrypto"
)

// TestPropertyCommitterAndJoinerAgree: for random inputs in every suite, the
// committer's Derive and a new member's WelcomeSecret + FromJoiner (given the
// joiner_secret) agree on every secret, and PSKSecret of n PSKs with the
// same identifiers differs from that of the first n-1.
func TestPropertyCommitterAndJoinerAgree(t *testing.T) {
	n := 100
	if testing.Short() {
		n = 20
	}
	params := testseed.Gopter(t)
	params.MinSuccessfulTests = n
	props := gopter.NewProperties(params)
	props.Property("Derive = JoinerSecret + WelcomeSecret + FromJoiner", prop.ForAll(
		func(id uint8, seed []byte, gid []byte, epoch uint64, withCommit, withPSK bool) bool {
			cs := suite(t, codec.CipherSuite(1+id%7))
			nh := cs.HashSize()
			pad := func(tag byte) []byte {
				out := make([]byte, nh)
				for i := range out {
					out[i] = tag ^ byte(i)
					if len(seed) > 0 {
						out[i] ^= seed[i%len(seed)]
					}
				}
				return out
			}
			init := pad(1)
			var commit, psk []byte
			if withCommit {
				commit = pad(2)
			}
			if withPSK {
				psk = pad(3)
			}
			gc, err := (&codec.GroupContext{CipherSuite: cs.ID(), GroupID: gid, Epoch: epoch,
				TreeHash: pad(4), ConfirmedTranscriptHash: pad(5)}).Marshal()
			if err != nil {
				return false
			}
			e, err := keyschedule.Derive(cs, init, commit, psk, gc)
			if err != nil {
				return false
			}
			j, err := keyschedule.JoinerSecret(cs, init, commit, gc)
			if err != nil || !bytes.Equal(j, e.Joiner) {
				return false
			}
			w, err := keyschedule.WelcomeSecret(cs, j, psk)
			if err != nil || !bytes.Equal(w, e.Welcome) {
				return false
			}
			f, err := keyschedule.FromJoiner(cs, j, psk, gc)
			if err != nil {
				return false
			}
			return bytes.Equal(f.Init, e.Init) && bytes.Equal(f.EpochAuthenticator, e.EpochAuthenticator) &&
				bytes.Equal(f.Encryption, e.Encryption) && bytes.Equal(f.Resumption, e.Resumption)
		},
		gen.UInt8(), gen.SliceOf(gen.UInt8()), gen.SliceOf(gen.UInt8()), gen.UInt64(), gen.Bool(), gen.Bool(),
	))
	props.Property("one more PSK changes the psk_secret", prop.ForAll(
		func(id uint8, k int, values [][]byte) bool {
			cs := suite(t, codec.CipherSuite(1+id%7))
			psks := make([]keyschedule.PSK, 0, len(values))
			for i, v := range values {
				nonce := make([]byte, cs.HashSize())
				nonce[0] = byte(i)
				psks = append(psks, keyschedule.PSK{
					ID:    codec.PreSharedKeyID{PSKType: codec.PSKTypeExternal, PSKID: []byte{byte(k), byte(i)}, PSKNonce: nonce},
					Value: v,
				})
			}
			a, err := keyschedule.PSKSecret(cs, psks)
			if err != nil {
				return false
			}
			b, err := keyschedule.PSKSecret(cs, psks[:len(psks)-1])
			return err == nil && !bytes.Equal(a, b)
		},
		gen.UInt8(), gen.Int(), gen.SliceOfN(4, gen.SliceOf(gen.UInt8())).SuchThat(func(v [][]byte) bool { return len(v) > 0 }),
	))
	props.TestingRun(t)
}

// TestExternalInitCrossProvider: a joiner using one provider and a member
// using the other agree on the external init secret (§8.3), both ways, for
// every suite the standard-library provider supports.
func TestExternalInitCrossProvider(t *testing.T) {
	std := stdcrypto.New()
	for _, id := range std.CipherSuites() {
		def := suite(t, id)
		sc, err := std.CipherSuite(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, pair := range [][2]providers.CipherSuite{{def, sc}, {sc, def}} {
			joiner, member := pair[0], pair[1]
			external := random(member.HashSize())
			priv, pub, err := keyschedule.ExternalKeyPair(member, external)
			if err != nil {
				t.Fatal(err)
			}
			kemOutput, initS, err := keyschedule.ExternalInitS(joiner, pub)
			if err != nil {
				t.Fatal(err)
			}
			initR, err := keyschedule.ExternalInitR(member, priv, kemOutput)
			if err != nil || !bytes.Equal(initS, initR) {
				t.Errorf("suite 0x%04x: providers disagree on the external init secret: %v", uint16(id), err)
			}
		}
	}
}
