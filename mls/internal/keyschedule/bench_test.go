package keyschedule_test

import (
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/providers"
)

// BenchmarkKeySchedule measures the hot paths of this package on suite 1
// (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519) next to the primitives they
// are made of, so that ratios can be read inside one run:
//
//	go test -run '^$' -bench . -benchmem ./mls/internal/keyschedule/
//
// Derive is 2 HKDF-Extracts and 11 ExpandWithLabels (joiner, welcome, epoch,
// 8 derived secrets and init); PSKSecret is 2 Extracts and 1 ExpandWithLabel
// per PSK; NextTranscriptHashes is two hashes.
func BenchmarkKeySchedule(b *testing.B) {
	cs := suite(b, codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519)
	nh := cs.HashSize()
	init, commit, psk, gc := random(nh), random(nh), random(nh), testContext(b, cs)

	b.Run("ref/Extract", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]byte, 0, nh)
		for b.Loop() {
			dst = cs.Extract(dst[:0], init, commit)
		}
	})
	b.Run("ref/DeriveSecret", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := providers.DeriveSecret(cs, init, "encryption"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Derive", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e, err := keyschedule.Derive(cs, init, commit, psk, gc)
			if err != nil {
				b.Fatal(err)
			}
			e.Zero()
		}
	})
	b.Run("FromJoiner", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e, err := keyschedule.FromJoiner(cs, init, psk, gc)
			if err != nil {
				b.Fatal(err)
			}
			e.Zero()
		}
	})
	for _, n := range []int{1, 5} {
		psks := make([]keyschedule.PSK, n)
		for i := range psks {
			psks[i] = keyschedule.PSK{
				ID:    codec.PreSharedKeyID{PSKType: codec.PSKTypeExternal, PSKID: random(16), PSKNonce: random(nh)},
				Value: random(nh),
			}
		}
		b.Run(fmt.Sprintf("PSKSecret/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s, err := keyschedule.PSKSecret(cs, psks)
				if err != nil {
					b.Fatal(err)
				}
				s.Zero()
			}
		})
	}
	b.Run("Exporter/32", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := keyschedule.Exporter(cs, init, "app", []byte("context"), 32); err != nil {
				b.Fatal(err)
			}
		}
	})

	var cases []transcriptCase
	testvectors.Load(b, "transcript-hashes.json", &cases)
	for _, tc := range cases {
		if tc.CipherSuite != cs.ID() {
			continue
		}
		var ac codec.AuthenticatedContent
		if err := ac.Unmarshal(tc.AuthenticatedContent); err != nil {
			b.Fatal(err)
		}
		in := codec.ConfirmedTranscriptHashInput{WireFormat: ac.WireFormat, Content: ac.Content, Signature: ac.Auth.Signature}
		enc, err := in.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		msg := append(append([]byte(nil), tc.InterimTranscriptHashBefore...), enc...)
		b.Run(fmt.Sprintf("ref/Hash%dB", len(msg)), func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]byte, 0, nh)
			for b.Loop() {
				dst = cs.Hash(dst[:0], msg)
			}
		})
		b.Run("NextTranscriptHashes", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := keyschedule.NextTranscriptHashes(cs, tc.InterimTranscriptHashBefore, &ac); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("VerifyConfirmationTag", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := keyschedule.VerifyConfirmationTag(cs, tc.ConfirmationKey, tc.ConfirmedTranscriptHashAfter, ac.Auth.ConfirmationTag); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
