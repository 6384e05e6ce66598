package keyschedule_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

type hexBytes = testvectors.HexBytes

func suite(t testing.TB, id codec.CipherSuite) providers.CipherSuite {
	t.Helper()
	cs, err := defaultcrypto.New().CipherSuite(id)
	if err != nil {
		t.Fatalf("suite 0x%04x: %v", uint16(id), err)
	}
	return cs
}

// keyScheduleCase is one case of key-schedule.json (FORMAT.md, "Key
// Schedule").
type keyScheduleCase struct {
	CipherSuite       codec.CipherSuite `json:"cipher_suite"`
	GroupID           hexBytes          `json:"group_id"`
	InitialInitSecret hexBytes          `json:"initial_init_secret"`
	Epochs            []struct {
		TreeHash                hexBytes `json:"tree_hash"`
		CommitSecret            hexBytes `json:"commit_secret"`
		PSKSecret               hexBytes `json:"psk_secret"`
		ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
		GroupContext            hexBytes `json:"group_context"`
		JoinerSecret            hexBytes `json:"joiner_secret"`
		WelcomeSecret           hexBytes `json:"welcome_secret"`
		InitSecret              hexBytes `json:"init_secret"`
		SenderDataSecret        hexBytes `json:"sender_data_secret"`
		EncryptionSecret        hexBytes `json:"encryption_secret"`
		ExporterSecret          hexBytes `json:"exporter_secret"`
		EpochAuthenticator      hexBytes `json:"epoch_authenticator"`
		ExternalSecret          hexBytes `json:"external_secret"`
		ConfirmationKey         hexBytes `json:"confirmation_key"`
		MembershipKey           hexBytes `json:"membership_key"`
		ResumptionPSK           hexBytes `json:"resumption_psk"`
		ExternalPub             hexBytes `json:"external_pub"`
		Exporter                struct {
			// The label is the JSON string itself (the generator writes
			// random hex characters), used as is.
			Label   string   `json:"label"`
			Context hexBytes `json:"context"`
			Length  int      `json:"length"`
			Secret  hexBytes `json:"secret"`
		} `json:"exporter"`
	} `json:"epochs"`
}

func eq(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got  %x\n want %x", what, got, want)
	}
}

// TestKeyScheduleVectors runs every epoch of every case of key-schedule.json:
// the GroupContext built with codec.GroupContext, every secret of Derive,
// the joiner path (WelcomeSecret, FromJoiner), the external public key and
// the exporter.
func TestKeyScheduleVectors(t *testing.T) {
	var cases []keyScheduleCase
	testvectors.Load(t, "key-schedule.json", &cases)
	ran := testvectors.Expect(t, "key-schedule.json", len(cases))
	epochs := 0
	for ci, tc := range cases {
		ran.Ran()
		t.Run(fmt.Sprintf("case%d-suite%d", ci, tc.CipherSuite), func(t *testing.T) {
			cs := suite(t, tc.CipherSuite)
			init := []byte(tc.InitialInitSecret)
			for i, ep := range tc.Epochs {
				where := fmt.Sprintf("epoch %d", i)
				gc := codec.GroupContext{
					CipherSuite:             tc.CipherSuite,
					GroupID:                 tc.GroupID,
					Epoch:                   uint64(i),
					TreeHash:                ep.TreeHash,
					ConfirmedTranscriptHash: ep.ConfirmedTranscriptHash,
				}
				gcBytes, err := gc.Marshal()
				if err != nil {
					t.Fatalf("%s: GroupContext: %v", where, err)
				}
				eq(t, where+": group_context", gcBytes, ep.GroupContext)

				e, err := keyschedule.Derive(cs, init, ep.CommitSecret, ep.PSKSecret, gcBytes)
				if err != nil {
					t.Fatalf("%s: Derive: %v", where, err)
				}
				eq(t, where+": joiner_secret", e.Joiner, ep.JoinerSecret)
				eq(t, where+": welcome_secret", e.Welcome, ep.WelcomeSecret)
				eq(t, where+": init_secret", e.Init, ep.InitSecret)
				eq(t, where+": sender_data_secret", e.SenderData, ep.SenderDataSecret)
				eq(t, where+": encryption_secret", e.Encryption, ep.EncryptionSecret)
				eq(t, where+": exporter_secret", e.Exporter, ep.ExporterSecret)
				eq(t, where+": epoch_authenticator", e.EpochAuthenticator, ep.EpochAuthenticator)
				eq(t, where+": external_secret", e.External, ep.ExternalSecret)
				eq(t, where+": confirmation_key", e.Confirmation, ep.ConfirmationKey)
				eq(t, where+": membership_key", e.Membership, ep.MembershipKey)
				eq(t, where+": resumption_psk", e.Resumption, ep.ResumptionPSK)

				// The new member's path: welcome_secret first, then the
				// epoch from the joiner_secret.
				w, err := keyschedule.WelcomeSecret(cs, ep.JoinerSecret, ep.PSKSecret)
				if err != nil {
					t.Fatalf("%s: WelcomeSecret: %v", where, err)
				}
				eq(t, where+": WelcomeSecret", w, ep.WelcomeSecret)
				j, err := keyschedule.FromJoiner(cs, ep.JoinerSecret, ep.PSKSecret, gcBytes)
				if err != nil {
					t.Fatalf("%s: FromJoiner: %v", where, err)
				}
				eq(t, where+": FromJoiner joiner", j.Joiner, ep.JoinerSecret)
				eq(t, where+": FromJoiner welcome", j.Welcome, ep.WelcomeSecret)
				if fmt.Sprintf("%x", j.EpochSecrets) != fmt.Sprintf("%x", e.EpochSecrets) {
					t.Errorf("%s: FromJoiner and Derive give different epoch secrets", where)
				}

				_, pub, err := keyschedule.ExternalKeyPair(cs, e.External)
				if err != nil {
					t.Fatalf("%s: ExternalKeyPair: %v", where, err)
				}
				eq(t, where+": external_pub", pub, ep.ExternalPub)

				x := ep.Exporter
				got, err := keyschedule.Exporter(cs, e.Exporter, x.Label, x.Context, x.Length)
				if err != nil {
					t.Fatalf("%s: Exporter: %v", where, err)
				}
				eq(t, where+": exporter.secret", got, x.Secret)

				init = e.Init
				epochs++
			}
		})
	}
	if t.Failed() {
		return
	}
	t.Logf("key-schedule.json: %d cases (%d epochs) passed, 0 skipped", len(cases), epochs)
}

// pskCase is one case of psk_secret.json (FORMAT.md, "Pre-Shared Keys").
type pskCase struct {
	CipherSuite codec.CipherSuite `json:"cipher_suite"`
	PSKs        []struct {
		PSKID    hexBytes `json:"psk_id"`
		PSK      hexBytes `json:"psk"`
		PSKNonce hexBytes `json:"psk_nonce"`
	} `json:"psks"`
	PSKSecret hexBytes `json:"psk_secret"`
}

func (c pskCase) psks() []keyschedule.PSK {
	out := make([]keyschedule.PSK, len(c.PSKs))
	for i, p := range c.PSKs {
		out[i] = keyschedule.PSK{
			ID:    codec.PreSharedKeyID{PSKType: codec.PSKTypeExternal, PSKID: p.PSKID, PSKNonce: p.PSKNonce},
			Value: p.PSK,
		}
	}
	return out
}

// TestPSKSecretVectors runs every case of psk_secret.json (0 to 10 external
// PSKs per suite).
func TestPSKSecretVectors(t *testing.T) {
	var cases []pskCase
	testvectors.Load(t, "psk_secret.json", &cases)
	ran := testvectors.Expect(t, "psk_secret.json", len(cases))
	for ci, tc := range cases {
		ran.Ran()
		cs := suite(t, tc.CipherSuite)
		got, err := keyschedule.PSKSecret(cs, tc.psks())
		if err != nil {
			t.Errorf("case %d (suite %d, %d PSKs): %v", ci, tc.CipherSuite, len(tc.PSKs), err)
			continue
		}
		eq(t, fmt.Sprintf("case %d (suite %d, %d PSKs)", ci, tc.CipherSuite, len(tc.PSKs)), got, tc.PSKSecret)
	}
	if t.Failed() {
		return
	}
	t.Logf("psk_secret.json: %d cases passed, 0 skipped", len(cases))
}

// transcriptCase is one case of transcript-hashes.json (FORMAT.md,
// "Transcript Hashes").
type transcriptCase struct {
	CipherSuite                  codec.CipherSuite `json:"cipher_suite"`
	ConfirmationKey              hexBytes          `json:"confirmation_key"`
	AuthenticatedContent         hexBytes          `json:"authenticated_content"`
	InterimTranscriptHashBefore  hexBytes          `json:"interim_transcript_hash_before"`
	ConfirmedTranscriptHashAfter hexBytes          `json:"confirmed_transcript_hash_after"`
	InterimTranscriptHashAfter   hexBytes          `json:"interim_transcript_hash_after"`
}

// TestTranscriptHashVectors runs every case of transcript-hashes.json: the
// content is a Commit, its confirmation tag verifies, and both transcript
// hashes update as the vector says.
func TestTranscriptHashVectors(t *testing.T) {
	var cases []transcriptCase
	testvectors.Load(t, "transcript-hashes.json", &cases)
	ran := testvectors.Expect(t, "transcript-hashes.json", len(cases))
	for ci, tc := range cases {
		ran.Ran()
		where := fmt.Sprintf("case %d (suite %d)", ci, tc.CipherSuite)
		cs := suite(t, tc.CipherSuite)
		var ac codec.AuthenticatedContent
		if err := ac.Unmarshal(tc.AuthenticatedContent); err != nil {
			t.Fatalf("%s: AuthenticatedContent: %v", where, err)
		}
		if ac.Content.ContentType != codec.ContentTypeCommit || ac.Content.Commit == nil {
			t.Fatalf("%s: content type %v, want commit", where, ac.Content.ContentType)
		}
		if err := keyschedule.VerifyConfirmationTag(cs, tc.ConfirmationKey, tc.ConfirmedTranscriptHashAfter, ac.Auth.ConfirmationTag); err != nil {
			t.Errorf("%s: VerifyConfirmationTag: %v", where, err)
		}
		eq(t, where+": ConfirmationTag", keyschedule.ConfirmationTag(cs, tc.ConfirmationKey, tc.ConfirmedTranscriptHashAfter), ac.Auth.ConfirmationTag)
		confirmed, interim, err := keyschedule.NextTranscriptHashes(cs, tc.InterimTranscriptHashBefore, &ac)
		if err != nil {
			t.Fatalf("%s: NextTranscriptHashes: %v", where, err)
		}
		eq(t, where+": confirmed_transcript_hash_after", confirmed, tc.ConfirmedTranscriptHashAfter)
		eq(t, where+": interim_transcript_hash_after", interim, tc.InterimTranscriptHashAfter)
		c2, err := keyschedule.ConfirmedTranscriptHash(cs, tc.InterimTranscriptHashBefore, ac.WireFormat, &ac.Content, ac.Auth.Signature)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, where+": ConfirmedTranscriptHash", c2, tc.ConfirmedTranscriptHashAfter)
		i2, err := keyschedule.InterimTranscriptHash(cs, tc.ConfirmedTranscriptHashAfter, ac.Auth.ConfirmationTag)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, where+": InterimTranscriptHash", i2, tc.InterimTranscriptHashAfter)
	}
	if t.Failed() {
		return
	}
	t.Logf("transcript-hashes.json: %d cases passed, 0 skipped", len(cases))
}
