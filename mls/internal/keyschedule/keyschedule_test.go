package keyschedule_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/providers"
)

// allSuites runs f for suites 1-7 of the default provider.
func allSuites(t *testing.T, f func(t *testing.T, cs providers.CipherSuite)) {
	for id := codec.CipherSuite(1); id <= 7; id++ {
		cs := suite(t, id)
		t.Run(fmt.Sprintf("suite%d", id), func(t *testing.T) { f(t, cs) })
	}
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i%len(c)] ^= 0x01
	return c
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func testContext(t testing.TB, cs providers.CipherSuite) []byte {
	t.Helper()
	gc := codec.GroupContext{
		CipherSuite: cs.ID(), GroupID: []byte("group"), Epoch: 1,
		TreeHash: make([]byte, cs.HashSize()), ConfirmedTranscriptHash: make([]byte, cs.HashSize()),
	}
	b, err := gc.Marshal()
	if err != nil {
		t.Fatalf("encoding GroupContext: %v", err)
	}
	return b
}

// TestDeriveInputs: nil commit and PSK secrets stand for the all-zero
// vector (§8 "0"), which differs from the empty string; every input
// separates the output; inputs of the wrong size are refused.
func TestDeriveInputs(t *testing.T) {
	allSuites(t, func(t *testing.T, cs providers.CipherSuite) {
		nh := cs.HashSize()
		init, commit, psk, gc := random(nh), random(nh), random(nh), testContext(t, cs)
		base, err := keyschedule.Derive(cs, init, commit, psk, gc)
		if err != nil {
			t.Fatal(err)
		}
		zeroed, err := keyschedule.Derive(cs, init, nil, nil, gc)
		if err != nil {
			t.Fatal(err)
		}
		explicit, err := keyschedule.Derive(cs, init, make([]byte, nh), make([]byte, nh), gc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(zeroed.Init, explicit.Init) || !bytes.Equal(zeroed.Joiner, explicit.Joiner) || !bytes.Equal(zeroed.Welcome, explicit.Welcome) {
			t.Error("nil commit/psk secrets differ from the all-zero vector")
		}
		for name, in := range map[string][4][]byte{
			"init_secret":   {flip(init, 0), commit, psk, gc},
			"commit_secret": {init, flip(commit, 3), psk, gc},
			"psk_secret":    {init, commit, flip(psk, 5), gc},
			"GroupContext":  {init, commit, psk, flip(gc, len(gc)-1)},
		} {
			e, err := keyschedule.Derive(cs, in[0], in[1], in[2], in[3])
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(e.EpochAuthenticator, base.EpochAuthenticator) || bytes.Equal(e.Init, base.Init) {
				t.Errorf("changing %s does not change the epoch", name)
			}
			// The welcome_secret does not depend on the GroupContext after
			// the joiner_secret (a new member derives it before it has the
			// GroupContext), but it does through the joiner_secret.
			if bytes.Equal(e.Welcome, base.Welcome) {
				t.Errorf("changing %s does not change the welcome_secret", name)
			}
		}
		// Every derived secret is distinct and KDF.Nh long.
		seen := map[string]string{}
		for name, s := range map[string]keyschedule.Secret{
			"joiner": base.Joiner, "welcome": base.Welcome, "sender data": base.SenderData,
			"encryption": base.Encryption, "exporter": base.Exporter, "external": base.External,
			"confirm": base.Confirmation, "membership": base.Membership, "resumption": base.Resumption,
			"authentication": base.EpochAuthenticator, "init": base.Init,
		} {
			if len(s) != nh {
				t.Errorf("%s is %d bytes, want %d", name, len(s), nh)
			}
			if other, ok := seen[string(s)]; ok {
				t.Errorf("%s equals %s", name, other)
			}
			seen[string(s)] = name
		}
		// Wrong sizes.
		for _, c := range []struct {
			name              string
			init, commit, psk []byte
		}{
			{"nil init", nil, commit, psk},
			{"short init", init[1:], commit, psk},
			{"long commit", init, append(bytes.Clone(commit), 0), psk},
			{"empty commit", init, []byte{}, psk},
			{"short psk", init, commit, psk[1:]},
		} {
			if _, err := keyschedule.Derive(cs, c.init, c.commit, c.psk, gc); !errors.Is(err, keyschedule.ErrSecretSize) {
				t.Errorf("Derive with %s: %v, want ErrSecretSize", c.name, err)
			}
		}
		for _, j := range [][]byte{nil, base.Joiner[1:], append(bytes.Clone(base.Joiner), 1)} {
			if _, err := keyschedule.FromJoiner(cs, j, psk, gc); !errors.Is(err, keyschedule.ErrSecretSize) {
				t.Errorf("FromJoiner with a %d-byte joiner: %v", len(j), err)
			}
			if _, err := keyschedule.WelcomeSecret(cs, j, psk); !errors.Is(err, keyschedule.ErrSecretSize) {
				t.Errorf("WelcomeSecret with a %d-byte joiner: %v", len(j), err)
			}
		}
		if _, err := keyschedule.FromEpochSecret(cs, random(nh-1)); !errors.Is(err, keyschedule.ErrSecretSize) {
			t.Errorf("FromEpochSecret with a short secret: %v", err)
		}
		// The joiner path gives the same epoch and does not alias its input.
		j := bytes.Clone(base.Joiner)
		fj, err := keyschedule.FromJoiner(cs, j, psk, gc)
		if err != nil {
			t.Fatal(err)
		}
		clear(j)
		if !bytes.Equal(fj.Joiner, base.Joiner) || !bytes.Equal(fj.EpochAuthenticator, base.EpochAuthenticator) {
			t.Error("FromJoiner differs from Derive or aliases the caller's joiner_secret")
		}
	})
}

// TestZero: Zero erases every secret in place; ZeroJoiner only the joiner
// and welcome secrets.
func TestZero(t *testing.T) {
	cs := suite(t, 1)
	e, err := keyschedule.Derive(cs, random(32), nil, nil, testContext(t, cs))
	if err != nil {
		t.Fatal(err)
	}
	joiner, welcome, init := e.Joiner, e.Welcome, e.Init
	e.ZeroJoiner()
	if !isZero(joiner) || !isZero(welcome) || e.Joiner != nil || e.Welcome != nil {
		t.Error("ZeroJoiner left the joiner or welcome secret")
	}
	if isZero(init) {
		t.Error("ZeroJoiner erased the init secret")
	}
	all := []keyschedule.Secret{e.SenderData, e.Encryption, e.Exporter, e.External, e.Confirmation,
		e.Membership, e.Resumption, e.EpochAuthenticator, e.Init}
	e.Zero()
	for i, s := range all {
		if !isZero(s) {
			t.Errorf("secret %d survives Zero", i)
		}
	}
	var nilSecret keyschedule.Secret
	nilSecret.Zero()
	(&keyschedule.Epoch{}).Zero()
}

// TestPSKSecretNegative: the PSK secret depends on every PSK's value,
// identifier, nonce, position and on the number of PSKs (PSKLabel.count);
// psk_nonce lengths other than KDF.Nh are refused.
func TestPSKSecretNegative(t *testing.T) {
	var cases []pskCase
	testvectors.Load(t, "psk_secret.json", &cases)
	ran := testvectors.Expect(t, "psk_secret.json", len(cases))
	checked := 0
	for ci, tc := range cases {
		ran.Ran()
		if len(tc.PSKs) < 2 {
			continue
		}
		cs := suite(t, tc.CipherSuite)
		nh := cs.HashSize()
		where := fmt.Sprintf("case %d (suite %d, %d PSKs)", ci, tc.CipherSuite, len(tc.PSKs))
		differs := func(what string, psks []keyschedule.PSK) {
			t.Helper()
			got, err := keyschedule.PSKSecret(cs, psks)
			if err != nil {
				t.Errorf("%s, %s: %v", where, what, err)
				return
			}
			if bytes.Equal(got, tc.PSKSecret) {
				t.Errorf("%s, %s: same psk_secret", where, what)
			}
		}
		psks := tc.psks()
		differs("last PSK dropped", psks[:len(psks)-1])
		differs("first PSK repeated", append(psks, psks[0]))
		swapped := tc.psks()
		swapped[0], swapped[1] = swapped[1], swapped[0]
		differs("first two swapped", swapped)
		for i := range psks {
			p := tc.psks()
			p[i].ID.PSKNonce = flip(p[i].ID.PSKNonce, i)
			differs(fmt.Sprintf("nonce %d changed", i), p)
			p = tc.psks()
			p[i].Value = flip(p[i].Value, 0)
			differs(fmt.Sprintf("value %d changed", i), p)
			p = tc.psks()
			p[i].ID.PSKID = append(p[i].ID.PSKID, 0)
			differs(fmt.Sprintf("psk_id %d changed", i), p)
			p = tc.psks()
			p[i].ID = codec.PreSharedKeyID{PSKType: codec.PSKTypeResumption, Usage: codec.ResumptionPSKUsageApplication,
				PSKGroupID: p[i].ID.PSKID, PSKEpoch: 1, PSKNonce: p[i].ID.PSKNonce}
			differs(fmt.Sprintf("PSK %d as resumption", i), p)
		}
		for _, n := range []int{0, nh - 1, nh + 1} {
			p := tc.psks()
			p[len(p)-1].ID.PSKNonce = make([]byte, n)
			if _, err := keyschedule.PSKSecret(cs, p); !errors.Is(err, keyschedule.ErrPSKNonceSize) {
				t.Errorf("%s: %d-byte nonce: %v, want ErrPSKNonceSize", where, n, err)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no psk_secret.json case with two or more PSKs")
	}
	allSuites(t, func(t *testing.T, cs providers.CipherSuite) {
		nh := cs.HashSize()
		z, err := keyschedule.PSKSecret(cs, nil)
		if err != nil || len(z) != nh || !isZero(z) {
			t.Errorf("no PSKs: %x, %v; want %d zero bytes", z, err, nh)
		}
		// An unknown PSK type does not encode: an error, not a panic.
		bad := []keyschedule.PSK{{ID: codec.PreSharedKeyID{PSKType: 9, PSKNonce: make([]byte, nh)}, Value: []byte("v")}}
		if _, err := keyschedule.PSKSecret(cs, bad); err == nil {
			t.Error("unknown PSK type accepted")
		}
		many := make([]keyschedule.PSK, 1<<16)
		if _, err := keyschedule.PSKSecret(cs, many); !errors.Is(err, keyschedule.ErrTooManyPSKs) {
			t.Errorf("65536 PSKs: %v, want ErrTooManyPSKs", err)
		}
		// 65535 would be allowed: PSKLabel.count is a uint16.
	})
}

// TestExporter: MLS-Exporter hashes its context (§8.5), separates labels,
// contexts and lengths, and refuses lengths KDFLabel cannot carry.
func TestExporter(t *testing.T) {
	allSuites(t, func(t *testing.T, cs providers.CipherSuite) {
		nh := cs.HashSize()
		secret := random(nh)
		got, err := keyschedule.Exporter(cs, secret, "label", []byte("context"), 42)
		if err != nil {
			t.Fatal(err)
		}
		// By hand, from the RFC's formula.
		d, _ := providers.DeriveSecret(cs, secret, "label")
		want, _ := providers.ExpandWithLabel(cs, d, "exported", cs.Hash(nil, []byte("context")), 42)
		if !bytes.Equal(got, want) {
			t.Errorf("Exporter = %x, want %x", got, want)
		}
		for name, o := range map[string]func() ([]byte, error){
			"label":   func() ([]byte, error) { return keyschedule.Exporter(cs, secret, "labe1", []byte("context"), 42) },
			"context": func() ([]byte, error) { return keyschedule.Exporter(cs, secret, "label", []byte("contexT"), 42) },
			"secret": func() ([]byte, error) {
				return keyschedule.Exporter(cs, flip(secret, 0), "label", []byte("context"), 42)
			},
			"length": func() ([]byte, error) { return keyschedule.Exporter(cs, secret, "label", []byte("context"), 43) },
		} {
			other, err := o()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(other[:42], got) {
				t.Errorf("changing the %s does not change the export", name)
			}
		}
		if out, err := keyschedule.Exporter(cs, secret, "label", nil, 0); err != nil || len(out) != 0 {
			t.Errorf("length 0: %x, %v", out, err)
		}
		for _, n := range []int{-1, 255*nh + 1, 0x10000} {
			if _, err := keyschedule.Exporter(cs, secret, "label", nil, n); !errors.Is(err, keyschedule.ErrExportLength) {
				t.Errorf("length %d: %v, want ErrExportLength", n, err)
			}
		}
		if _, err := keyschedule.Exporter(cs, secret[1:], "label", nil, 1); !errors.Is(err, keyschedule.ErrSecretSize) {
			t.Errorf("short exporter_secret: %v", err)
		}
	})
}

// TestExternalInit: joiner and members agree on the init_secret (§8.3); a
// tampered or foreign kem_output gives another secret or an error, never a
// panic; the init_secret feeds Derive.
func TestExternalInit(t *testing.T) {
	allSuites(t, func(t *testing.T, cs providers.CipherSuite) {
		nh := cs.HashSize()
		external := random(nh)
		priv, pub, err := keyschedule.ExternalKeyPair(cs, external)
		if err != nil {
			t.Fatal(err)
		}
		kemOutput, initS, err := keyschedule.ExternalInitS(cs, pub)
		if err != nil {
			t.Fatal(err)
		}
		if len(initS) != nh {
			t.Fatalf("init_secret is %d bytes, want %d", len(initS), nh)
		}
		initR, err := keyschedule.ExternalInitR(cs, priv, kemOutput)
		if err != nil || !bytes.Equal(initR, initS) {
			t.Fatalf("ExternalInitR = %x, %v; want %x", initR, err, initS)
		}
		// It is HPKE export with empty info and the label as exporter
		// context (not the other way round).
		byHand, err := cs.ExportBaseR(priv, kemOutput, nil, []byte("MLS 1.0 external init secret"), nh)
		if err != nil || !bytes.Equal(byHand, initS) {
			t.Errorf("not Export(SetupBaseR(kem_output, priv, \"\"), label, Nh)")
		}
		recv := func(priv, enc []byte) (keyschedule.Secret, error) {
			var s keyschedule.Secret
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("ExternalInitR panicked: %v", r)
					}
				}()
				s, err = keyschedule.ExternalInitR(cs, priv, enc)
			}()
			return s, err
		}
		for _, i := range []int{0, 1, len(kemOutput) / 2, len(kemOutput) - 1} {
			if s, err := recv(priv, flip(kemOutput, i)); err == nil && bytes.Equal(s, initS) {
				t.Errorf("kem_output byte %d flipped: same init_secret", i)
			}
		}
		for _, bad := range [][]byte{nil, kemOutput[:len(kemOutput)-1], append(bytes.Clone(kemOutput), 0)} {
			if _, err := recv(priv, bad); !errors.Is(err, providers.ErrInvalidKEMOutput) {
				t.Errorf("%d-byte kem_output: %v, want ErrInvalidKEMOutput", len(bad), err)
			}
		}
		otherPriv, _, err := keyschedule.ExternalKeyPair(cs, flip(external, 0))
		if err != nil {
			t.Fatal(err)
		}
		if s, err := recv(otherPriv, kemOutput); err == nil && bytes.Equal(s, initS) {
			t.Error("another epoch's external key recovers the same init_secret")
		}
		if _, _, err := keyschedule.ExternalInitS(cs, pub[1:]); !errors.Is(err, providers.ErrInvalidPublicKey) {
			t.Errorf("short external_pub: %v", err)
		}
		if _, _, err := keyschedule.ExternalKeyPair(cs, external[1:]); !errors.Is(err, keyschedule.ErrSecretSize) {
			t.Errorf("short external_secret: %v", err)
		}
		// Both sides derive the same epoch from it.
		gc := testContext(t, cs)
		commit := random(nh)
		a, err := keyschedule.Derive(cs, initS, commit, nil, gc)
		if err != nil {
			t.Fatal(err)
		}
		b, err := keyschedule.Derive(cs, initR, commit, nil, gc)
		if err != nil || !bytes.Equal(a.EpochAuthenticator, b.EpochAuthenticator) || !bytes.Equal(a.Init, b.Init) {
			t.Errorf("joiner and member derive different epochs from the external init secret: %v", err)
		}
	})
}

// TestWelcomeKeyNonce: the key and nonce have the AEAD's sizes and come
// from the RFC's labels.
func TestWelcomeKeyNonce(t *testing.T) {
	allSuites(t, func(t *testing.T, cs providers.CipherSuite) {
		w := random(cs.HashSize())
		key, nonce, err := keyschedule.WelcomeKeyNonce(cs, w)
		if err != nil {
			t.Fatal(err)
		}
		if len(key) != cs.AEADKeySize() || len(nonce) != cs.AEADNonceSize() {
			t.Fatalf("key %d bytes, nonce %d bytes; want %d, %d", len(key), len(nonce), cs.AEADKeySize(), cs.AEADNonceSize())
		}
		wantKey, _ := providers.ExpandWithLabel(cs, w, "key", nil, uint16(cs.AEADKeySize()))
		wantNonce, _ := providers.ExpandWithLabel(cs, w, "nonce", nil, uint16(cs.AEADNonceSize()))
		if !bytes.Equal(key, wantKey) || !bytes.Equal(nonce, wantNonce) {
			t.Error("welcome key or nonce differs from ExpandWithLabel(welcome_secret, \"key\"/\"nonce\", \"\", N)")
		}
		if _, _, err := keyschedule.WelcomeKeyNonce(cs, w[1:]); !errors.Is(err, keyschedule.ErrSecretSize) {
			t.Errorf("short welcome_secret: %v", err)
		}
	})
}

// TestConfirmationTagNegative: a changed tag, key or transcript hash is
// refused with ErrInvalidConfirmationTag.
func TestConfirmationTagNegative(t *testing.T) {
	var cases []transcriptCase
	testvectors.Load(t, "transcript-hashes.json", &cases)
	ran := testvectors.Expect(t, "transcript-hashes.json", len(cases))
	for ci, tc := range cases {
		ran.Ran()
		where := fmt.Sprintf("case %d (suite %d)", ci, tc.CipherSuite)
		cs := suite(t, tc.CipherSuite)
		var ac codec.AuthenticatedContent
		if err := ac.Unmarshal(tc.AuthenticatedContent); err != nil {
			t.Fatal(err)
		}
		key, cth, tag := []byte(tc.ConfirmationKey), []byte(tc.ConfirmedTranscriptHashAfter), []byte(ac.Auth.ConfirmationTag)
		for name, in := range map[string][3][]byte{
			"tag byte 0 flipped":    {key, cth, flip(tag, 0)},
			"last tag byte flipped": {key, cth, flip(tag, len(tag)-1)},
			"truncated tag":         {key, cth, tag[:len(tag)-1]},
			"extended tag":          {key, cth, append(bytes.Clone(tag), 0)},
			"empty tag":             {key, cth, nil},
			"wrong key":             {flip(key, 2), cth, tag},
			"wrong transcript hash": {key, flip(cth, 7), tag},
			"interim as confirmed":  {key, tc.InterimTranscriptHashAfter, tag},
		} {
			if err := keyschedule.VerifyConfirmationTag(cs, in[0], in[1], in[2]); !errors.Is(err, keyschedule.ErrInvalidConfirmationTag) {
				t.Errorf("%s, %s: %v, want ErrInvalidConfirmationTag", where, name, err)
			}
		}
	}
}

// TestTranscriptHashNegative: only commits enter the transcript (§8.2), and
// every part of the input changes the hash.
func TestTranscriptHashNegative(t *testing.T) {
	var cases []transcriptCase
	testvectors.Load(t, "transcript-hashes.json", &cases)
	ran := testvectors.Expect(t, "transcript-hashes.json", 1)
	ran.Ran()
	tc := cases[0]
	cs := suite(t, tc.CipherSuite)
	var ac codec.AuthenticatedContent
	if err := ac.Unmarshal(tc.AuthenticatedContent); err != nil {
		t.Fatal(err)
	}
	prop := ac
	prop.Content.ContentType, prop.Content.Commit = codec.ContentTypeProposal, nil
	prop.Content.Proposal = &codec.Proposal{}
	if _, _, err := keyschedule.NextTranscriptHashes(cs, nil, &prop); !errors.Is(err, keyschedule.ErrNotCommit) {
		t.Errorf("proposal: %v, want ErrNotCommit", err)
	}
	if _, _, err := keyschedule.NextTranscriptHashes(cs, nil, nil); !errors.Is(err, keyschedule.ErrNotCommit) {
		t.Errorf("nil content: %v, want ErrNotCommit", err)
	}
	if _, err := keyschedule.ConfirmedTranscriptHash(cs, nil, ac.WireFormat, nil, nil); !errors.Is(err, keyschedule.ErrNotCommit) {
		t.Errorf("nil FramedContent: %v, want ErrNotCommit", err)
	}
	base, _, err := keyschedule.NextTranscriptHashes(cs, tc.InterimTranscriptHashBefore, &ac)
	if err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(a *codec.AuthenticatedContent) []byte{
		"interim before": func(a *codec.AuthenticatedContent) []byte { return flip(tc.InterimTranscriptHashBefore, 0) },
		"wire format": func(a *codec.AuthenticatedContent) []byte {
			a.WireFormat = codec.WireFormatMLSPrivateMessage
			return tc.InterimTranscriptHashBefore
		},
		"epoch": func(a *codec.AuthenticatedContent) []byte {
			a.Content.Epoch++
			return tc.InterimTranscriptHashBefore
		},
		"signature": func(a *codec.AuthenticatedContent) []byte {
			a.Auth.Signature = flip(a.Auth.Signature, 0)
			return tc.InterimTranscriptHashBefore
		},
	} {
		a := ac
		interim := mod(&a)
		got, _, err := keyschedule.NextTranscriptHashes(cs, interim, &a)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if bytes.Equal(got, base) {
			t.Errorf("changing the %s does not change the confirmed transcript hash", name)
		}
	}
	// The confirmation tag is outside the confirmed hash, inside the interim.
	a := ac
	a.Auth.ConfirmationTag = flip(a.Auth.ConfirmationTag, 0)
	c, i, err := keyschedule.NextTranscriptHashes(cs, tc.InterimTranscriptHashBefore, &a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c, tc.ConfirmedTranscriptHashAfter) || bytes.Equal(i, tc.InterimTranscriptHashAfter) {
		t.Error("the confirmation tag must change the interim hash only")
	}
}

// TestMembershipTagVectors checks MembershipTag and VerifyMembershipTag on
// the PublicMessages of message-protection.json (sender: member 1, §6.2), and
// that tampering gives ErrInvalidMembershipTag.
func TestMembershipTagVectors(t *testing.T) {
	var cases []struct {
		CipherSuite             codec.CipherSuite `json:"cipher_suite"`
		GroupID                 hexBytes          `json:"group_id"`
		Epoch                   uint64            `json:"epoch"`
		TreeHash                hexBytes          `json:"tree_hash"`
		ConfirmedTranscriptHash hexBytes          `json:"confirmed_transcript_hash"`
		MembershipKey           hexBytes          `json:"membership_key"`
		ProposalPub             hexBytes          `json:"proposal_pub"`
		CommitPub               hexBytes          `json:"commit_pub"`
	}
	testvectors.Load(t, "message-protection.json", &cases)
	ran := testvectors.Expect(t, "message-protection.json", len(cases))
	n := 0
	for ci, tc := range cases {
		ran.Ran()
		cs := suite(t, tc.CipherSuite)
		gc := codec.GroupContext{CipherSuite: tc.CipherSuite, GroupID: tc.GroupID, Epoch: tc.Epoch,
			TreeHash: tc.TreeHash, ConfirmedTranscriptHash: tc.ConfirmedTranscriptHash}
		for name, raw := range map[string][]byte{"proposal_pub": tc.ProposalPub, "commit_pub": tc.CommitPub} {
			where := fmt.Sprintf("case %d (suite %d) %s", ci, tc.CipherSuite, name)
			var m codec.MLSMessage
			if err := m.Unmarshal(raw); err != nil || m.PublicMessage == nil {
				t.Fatalf("%s: %v", where, err)
			}
			pm := m.PublicMessage
			tbm := &codec.AuthenticatedContentTBM{
				ContentTBS: codec.FramedContentTBS{WireFormat: codec.WireFormatMLSPublicMessage, Content: pm.Content, Context: &gc},
				Auth:       pm.Auth,
			}
			tag, err := keyschedule.MembershipTag(cs, tc.MembershipKey, tbm)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			eq(t, where+": membership_tag", tag, pm.MembershipTag)
			if err := keyschedule.VerifyMembershipTag(cs, tc.MembershipKey, tbm, pm.MembershipTag); err != nil {
				t.Errorf("%s: VerifyMembershipTag: %v", where, err)
			}
			if err := keyschedule.VerifyMembershipTag(cs, tc.MembershipKey, tbm, flip(pm.MembershipTag, 1)); !errors.Is(err, keyschedule.ErrInvalidMembershipTag) {
				t.Errorf("%s: flipped tag: %v", where, err)
			}
			if err := keyschedule.VerifyMembershipTag(cs, flip(tc.MembershipKey, 1), tbm, pm.MembershipTag); !errors.Is(err, keyschedule.ErrInvalidMembershipTag) {
				t.Errorf("%s: wrong key: %v", where, err)
			}
			other := *tbm
			other.ContentTBS.Content.Epoch++
			if err := keyschedule.VerifyMembershipTag(cs, tc.MembershipKey, &other, pm.MembershipTag); !errors.Is(err, keyschedule.ErrInvalidMembershipTag) {
				t.Errorf("%s: other epoch: %v", where, err)
			}
			// A member's TBS without a GroupContext does not encode.
			noCtx := *tbm
			noCtx.ContentTBS.Context = nil
			if err := keyschedule.VerifyMembershipTag(cs, tc.MembershipKey, &noCtx, pm.MembershipTag); err == nil || errors.Is(err, keyschedule.ErrInvalidMembershipTag) {
				t.Errorf("%s: TBS without GroupContext: %v, want an encoding error", where, err)
			}
			n++
		}
	}
	if !t.Failed() {
		t.Logf("message-protection.json: %d public messages of %d cases: membership tags match", n, len(cases))
	}
}

// TestWelcomeVectors uses welcome.json to check the new member's path of the
// key schedule: the welcome key and nonce derived from the decrypted
// joiner_secret (no PSKs) open the GroupInfo, and the confirmation_key of
// FromJoiner verifies its confirmation_tag over the GroupContext's
// confirmed_transcript_hash (§12.4.3.1). The GroupInfo signature is the mls
// package's business.
func TestWelcomeVectors(t *testing.T) {
	var cases []struct {
		CipherSuite codec.CipherSuite `json:"cipher_suite"`
		InitPriv    hexBytes          `json:"init_priv"`
		KeyPackage  hexBytes          `json:"key_package"`
		Welcome     hexBytes          `json:"welcome"`
	}
	testvectors.Load(t, "welcome.json", &cases)
	ran := testvectors.Expect(t, "welcome.json", len(cases))
	for ci, tc := range cases {
		ran.Ran()
		where := fmt.Sprintf("case %d (suite %d)", ci, tc.CipherSuite)
		cs := suite(t, tc.CipherSuite)
		var kpm, wm codec.MLSMessage
		if err := kpm.Unmarshal(tc.KeyPackage); err != nil || kpm.KeyPackage == nil {
			t.Fatalf("%s: key package: %v", where, err)
		}
		if err := wm.Unmarshal(tc.Welcome); err != nil || wm.Welcome == nil {
			t.Fatalf("%s: welcome: %v", where, err)
		}
		kp, err := kpm.KeyPackage.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		ref, err := providers.MakeKeyPackageRef(cs, kp)
		if err != nil {
			t.Fatal(err)
		}
		w := wm.Welcome
		var egs *codec.EncryptedGroupSecrets
		for i := range w.Secrets {
			if bytes.Equal(w.Secrets[i].NewMember, ref) {
				egs = &w.Secrets[i]
			}
		}
		if egs == nil {
			t.Fatalf("%s: no secrets for the key package", where)
		}
		gsBytes, err := providers.DecryptWithLabel(cs, tc.InitPriv, "Welcome", w.EncryptedGroupInfo,
			egs.EncryptedGroupSecrets.KEMOutput, egs.EncryptedGroupSecrets.Ciphertext)
		if err != nil {
			t.Fatalf("%s: group secrets: %v", where, err)
		}
		var gs codec.GroupSecrets
		if err := gs.Unmarshal(gsBytes); err != nil {
			t.Fatal(err)
		}
		if len(gs.Psks) != 0 {
			t.Fatalf("%s: %d PSKs, the vector format has none", where, len(gs.Psks))
		}
		psk, err := keyschedule.PSKSecret(cs, nil)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := keyschedule.WelcomeSecret(cs, gs.JoinerSecret, psk)
		if err != nil {
			t.Fatal(err)
		}
		key, nonce, err := keyschedule.WelcomeKeyNonce(cs, ws)
		if err != nil {
			t.Fatal(err)
		}
		giBytes, err := cs.Open(nil, key, nonce, w.EncryptedGroupInfo, nil)
		if err != nil {
			t.Fatalf("%s: GroupInfo does not decrypt with the welcome key and nonce: %v", where, err)
		}
		var gi codec.GroupInfo
		if err := gi.Unmarshal(giBytes); err != nil {
			t.Fatal(err)
		}
		gc, err := gi.GroupContext.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		e, err := keyschedule.FromJoiner(cs, gs.JoinerSecret, psk, gc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Welcome, ws) {
			t.Errorf("%s: FromJoiner's welcome_secret differs from WelcomeSecret", where)
		}
		if err := keyschedule.VerifyConfirmationTag(cs, e.Confirmation, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag); err != nil {
			t.Errorf("%s: GroupInfo confirmation_tag: %v", where, err)
		}
		if _, err := keyschedule.InterimTranscriptHash(cs, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag); err != nil {
			t.Errorf("%s: interim transcript hash: %v", where, err)
		}
		e.Zero()
	}
	if !t.Failed() {
		t.Logf("welcome.json: %d cases passed (welcome key/nonce and confirmation tag), 0 skipped", len(cases))
	}
}

// TestConfirmedTranscriptHashScratch: the confirmed transcript hash with
// its input in a caller's scratch is the vector's (§8.2), whatever the
// scratch held before; a scratch large enough is used, not replaced (the
// hash itself is then the only allocation), and one too small is
// replaced by one of the input's size, returned for the caller to keep.
func TestConfirmedTranscriptHashScratch(t *testing.T) {
	var cases []transcriptCase
	testvectors.Load(t, "transcript-hashes.json", &cases)
	ran := testvectors.Expect(t, "transcript-hashes.json", 1)
	for _, tc := range cases {
		ran.Ran()
		cs := suite(t, tc.CipherSuite)
		var ac codec.AuthenticatedContent
		if err := ac.Unmarshal(tc.AuthenticatedContent); err != nil {
			t.Fatal(err)
		}
		small := bytes.Repeat([]byte{0xee}, 3)
		h, used, err := keyschedule.ConfirmedTranscriptHashOfScratch(cs, small, tc.InterimTranscriptHashBefore, &ac)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(h, tc.ConfirmedTranscriptHashAfter) {
			t.Fatalf("hash %x, want %x", h, []byte(tc.ConfirmedTranscriptHashAfter))
		}
		if cap(used) <= cap(small) || !bytes.HasPrefix(used, tc.InterimTranscriptHashBefore) {
			t.Fatalf("a scratch of %d bytes was not replaced by the input (%d bytes)", cap(small), len(used))
		}
		big := bytes.Repeat([]byte{0xee}, 2*cap(used))
		h, used, err = keyschedule.ConfirmedTranscriptHashOfScratch(cs, big, tc.InterimTranscriptHashBefore, &ac)
		if err != nil || !bytes.Equal(h, tc.ConfirmedTranscriptHashAfter) {
			t.Fatalf("with a large scratch: %x, %v", h, err)
		}
		if &used[:1][0] != &big[0] {
			t.Error("a scratch large enough was replaced")
		}
		allocs := testing.AllocsPerRun(20, func() {
			if _, _, err := keyschedule.ConfirmedTranscriptHashOfScratch(cs, big, tc.InterimTranscriptHashBefore, &ac); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 1 {
			t.Errorf("%v allocations with a scratch large enough, want 1 (the hash)", allocs)
		}
	}
}
