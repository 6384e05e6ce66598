package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

func TestExternalPSKStorage(t *testing.T) {
	s := memstore.New()
	secret := []byte("0123456789abcdef0123456789abcdef")
	if err := StoreExternalPSK(s, []byte("psk-1"), secret); err != nil {
		t.Fatal(err)
	}
	got, err := LoadExternalPSK(s, []byte("psk-1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("LoadExternalPSK = %x, %v", got, err)
	}
	// The record (schema/records.tls ExternalPSKRecord): version 1, the
	// secret as an MLS vector.
	key, _ := externalPSKKey([]byte("psk-1"))
	good, _ := s.ReadPSK(key)
	if want := append([]byte{0, 1, byte(len(secret))}, secret...); !bytes.Equal(good, want) {
		t.Fatalf("stored record %x, want %x", good, want)
	}
	for name, rec := range map[string][]byte{
		"empty":          {},
		"future version": append([]byte{0, 2}, good[2:]...),
		"truncated":      good[:len(good)-1],
		"trailing":       append(bytes.Clone(good), 0),
	} {
		_ = s.WritePSK(key, rec)
		if _, err := LoadExternalPSK(s, []byte("psk-1")); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s record: %v, want ErrCorruptState", name, err)
		}
	}
	_ = s.WritePSK(key, good)
	if _, err := LoadExternalPSK(s, []byte("psk-2")); !errors.Is(err, ErrNotFound) {
		t.Errorf("absent PSK: %v", err)
	}
	// The key ignores the nonce and matches the helper's.
	k1, _ := PSKStorageKey(&codec.PreSharedKeyID{PSKType: codec.PSKTypeExternal, PSKID: []byte("psk-1"), PSKNonce: []byte{1, 2}})
	k2, _ := externalPSKKey([]byte("psk-1"))
	if !bytes.Equal(k1, k2) {
		t.Error("storage key depends on the nonce")
	}
	kr, _ := PSKStorageKey(&codec.PreSharedKeyID{PSKType: codec.PSKTypeResumption, Usage: 1, PSKGroupID: []byte("psk-1"), PSKEpoch: 3})
	if bytes.Equal(kr, k1) {
		t.Error("resumption and external PSK keys collide")
	}
	if _, err := PSKStorageKey(&codec.PreSharedKeyID{PSKType: 9}); err == nil {
		t.Error("unknown PSK type encoded")
	}
	if err := DeleteExternalPSK(s, []byte("psk-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadExternalPSK(s, []byte("psk-1")); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	_ = s.WritePSK(k1, []byte{0, 7})
	if _, err := LoadExternalPSK(s, []byte("psk-1")); !errors.Is(err, ErrCorruptState) {
		t.Errorf("corrupt record: %v", err)
	}
	if err := StoreExternalPSK(nil, nil, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil store: %v", err)
	}
}

// TestPSKResolverVectors resolves the external PSKs of psk_secret.json
// through a PSKStore and checks the psk_secret (RFC 9420 §8.4).
func TestPSKResolverVectors(t *testing.T) {
	var cases []struct {
		CipherSuite uint16 `json:"cipher_suite"`
		PSKs        []struct {
			PSKID    testvectors.HexBytes `json:"psk_id"`
			PSK      testvectors.HexBytes `json:"psk"`
			PSKNonce testvectors.HexBytes `json:"psk_nonce"`
		} `json:"psks"`
		PSKSecret testvectors.HexBytes `json:"psk_secret"`
	}
	testvectors.Load(t, "psk_secret.json", &cases)
	ran := testvectors.Expect(t, "psk_secret.json", len(cases))
	p := defaultcrypto.New()
	passed, empty := 0, 0
	for i, c := range cases {
		cs, err := p.CipherSuite(codec.CipherSuite(c.CipherSuite))
		if err != nil {
			t.Fatal(err)
		}
		store := memstore.New()
		ids := make([]codec.PreSharedKeyID, len(c.PSKs))
		for j, k := range c.PSKs {
			if err := StoreExternalPSK(store, k.PSKID, k.PSK); err != nil {
				t.Fatal(err)
			}
			ids[j] = codec.PreSharedKeyID{PSKType: codec.PSKTypeExternal, PSKID: k.PSKID, PSKNonce: k.PSKNonce}
		}
		if err := validateProposalPSKs(cs, ids); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		r := pskResolver{store: store}
		got, err := r.pskSecret(cs, ids)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if len(ids) == 0 {
			// nil stands for the all-zero psk_secret.
			empty++
			if got != nil || !bytes.Equal(c.PSKSecret, make([]byte, cs.HashSize())) {
				t.Fatalf("case %d: no PSKs gave %x", i, got)
			}
		} else if !bytes.Equal(got, c.PSKSecret) {
			t.Fatalf("case %d: psk_secret %x, want %x", i, got, c.PSKSecret)
		}
		passed++
		ran.Ran()
	}
	t.Logf("psk_secret.json through the PSK store: %d of %d cases passed (%d without PSKs), 0 skipped", passed, len(cases), empty)
}

func TestPSKResolver(t *testing.T) {
	p := defaultcrypto.New()
	cs, _ := p.CipherSuite(testSuite)
	store := memstore.New()
	if err := StoreExternalPSK(store, []byte("ext"), []byte("external value")); err != nil {
		t.Fatal(err)
	}
	var handedOut [][]byte
	resumption := func(groupID []byte, epoch uint64) ([]byte, error) {
		switch {
		case string(groupID) == "g" && epoch == 4:
			v := []byte("resumption g/4")
			handedOut = append(handedOut, v)
			return v, nil
		case string(groupID) == "broken":
			return nil, errors.New("state unreadable")
		case string(groupID) == "empty":
			return []byte{}, nil
		}
		return nil, fmt.Errorf("epoch %d of %x: %w", epoch, groupID, ErrNotFound)
	}
	r := pskResolver{store: store, resumption: resumption}
	ext, err := NewExternalPSKID(p, cs, []byte("ext"))
	if err != nil || len(ext.PSKNonce) != cs.HashSize() {
		t.Fatalf("NewExternalPSKID: %+v %v", ext, err)
	}
	res, err := NewResumptionPSKID(p, cs, codec.ResumptionPSKUsageApplication, []byte("g"), 4)
	if err != nil || len(res.PSKNonce) != cs.HashSize() {
		t.Fatalf("NewResumptionPSKID: %+v %v", res, err)
	}
	ext2, _ := NewExternalPSKID(p, cs, []byte("ext"))
	if bytes.Equal(ext.PSKNonce, ext2.PSKNonce) {
		t.Error("nonces are not fresh")
	}

	psks, err := r.resolve([]codec.PreSharedKeyID{res, ext})
	if err != nil {
		t.Fatal(err)
	}
	if len(psks) != 2 || string(psks[0].Value) != "resumption g/4" || string(psks[1].Value) != "external value" ||
		!bytes.Equal(psks[0].ID.PSKNonce, res.PSKNonce) || !bytes.Equal(psks[1].ID.PSKNonce, ext.PSKNonce) {
		t.Fatalf("resolve: %+v", psks)
	}
	want, err := keyschedule.PSKSecret(cs, psks)
	if err != nil {
		t.Fatal(err)
	}
	zeroPSKs(psks)
	handedOut = nil
	got, err := r.pskSecret(cs, []codec.PreSharedKeyID{res, ext})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("pskSecret: %x, %v; want %x", got, err, want)
	}
	for _, v := range handedOut {
		if !allZero(v) {
			t.Error("a resolved PSK value was not zeroed")
		}
	}
	// Order matters (§8.4).
	if swapped, _ := r.pskSecret(cs, []codec.PreSharedKeyID{ext, res}); bytes.Equal(swapped, want) {
		t.Error("psk_secret does not depend on the order")
	}

	missing := map[string]codec.PreSharedKeyID{
		"external not stored":    {PSKType: codec.PSKTypeExternal, PSKID: []byte("other"), PSKNonce: ext.PSKNonce},
		"resumption other epoch": {PSKType: codec.PSKTypeResumption, Usage: codec.ResumptionPSKUsageApplication, PSKGroupID: []byte("g"), PSKEpoch: 3, PSKNonce: res.PSKNonce},
		"resumption empty":       {PSKType: codec.PSKTypeResumption, Usage: codec.ResumptionPSKUsageApplication, PSKGroupID: []byte("empty"), PSKNonce: res.PSKNonce},
	}
	for name, id := range missing {
		_, err := r.pskSecret(cs, []codec.PreSharedKeyID{ext, id})
		var me *MissingPSKError
		if !errors.Is(err, ErrMissingPSK) || !errors.As(err, &me) || me.ID.PSKType != id.PSKType || !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: got %v, want a MissingPSKError", name, err)
		}
	}
	if _, err := (pskResolver{}).resolve([]codec.PreSharedKeyID{ext}); !errors.Is(err, ErrMissingPSK) {
		t.Errorf("no store: %v", err)
	}
	if _, err := (pskResolver{}).resolve([]codec.PreSharedKeyID{res}); !errors.Is(err, ErrMissingPSK) {
		t.Errorf("no resumption callback: %v", err)
	}
	broken := codec.PreSharedKeyID{PSKType: codec.PSKTypeResumption, Usage: codec.ResumptionPSKUsageApplication, PSKGroupID: []byte("broken"), PSKNonce: res.PSKNonce}
	if _, err := r.resolve([]codec.PreSharedKeyID{broken}); err == nil || errors.Is(err, ErrMissingPSK) {
		t.Errorf("storage failure reported as %v", err)
	}
	if _, err := r.resolve([]codec.PreSharedKeyID{{PSKType: 7}}); !errors.Is(err, RulePSKType) {
		t.Errorf("unknown type: %v", err)
	}
	short := ext
	short.PSKNonce = short.PSKNonce[:4]
	if _, err := r.pskSecret(cs, []codec.PreSharedKeyID{short}); !errors.Is(err, RulePSKNonceLength) {
		t.Errorf("short nonce: %v", err)
	}
	if s, err := r.pskSecret(cs, nil); s != nil || err != nil {
		t.Errorf("no PSKs: %x %v", s, err)
	}
	if _, err := NewExternalPSKID(nil, cs, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil provider: %v", err)
	}
}

func TestValidatePSKIDs(t *testing.T) {
	p := defaultcrypto.New()
	cs, _ := p.CipherSuite(testSuite)
	nonce := func() []byte { n, _ := pskNonce(p, cs); return n }
	ext := func(id string) codec.PreSharedKeyID {
		return codec.PreSharedKeyID{PSKType: codec.PSKTypeExternal, PSKID: []byte(id), PSKNonce: nonce()}
	}
	res := func(u codec.ResumptionPSKUsage, g string, e uint64) codec.PreSharedKeyID {
		return codec.PreSharedKeyID{PSKType: codec.PSKTypeResumption, Usage: u, PSKGroupID: []byte(g), PSKEpoch: e, PSKNonce: nonce()}
	}
	app := codec.ResumptionPSKUsageApplication
	good := []codec.PreSharedKeyID{ext("a"), ext("b"), res(app, "g", 1), res(app, "g", 2), res(app, "h", 1)}
	if err := validateProposalPSKs(cs, good); err != nil {
		t.Fatal(err)
	}
	if err := validateGroupSecretsPSKs(cs, append(good, res(codec.ResumptionPSKUsageReInit, "g", 1))); err != nil {
		t.Fatalf("reinit PSK in GroupSecrets: %v", err)
	}
	shortNonce := ext("c")
	shortNonce.PSKNonce = shortNonce.PSKNonce[1:]
	longNonce := ext("c")
	longNonce.PSKNonce = append(longNonce.PSKNonce, 0)
	cases := []struct {
		name string
		ids  []codec.PreSharedKeyID
		want Rule
	}{
		{"short nonce", []codec.PreSharedKeyID{shortNonce}, RulePSKNonceLength},
		{"long nonce", []codec.PreSharedKeyID{longNonce}, RulePSKNonceLength},
		{"reinit usage", []codec.PreSharedKeyID{res(codec.ResumptionPSKUsageReInit, "g", 1)}, RulePSKType},
		{"branch usage", []codec.PreSharedKeyID{res(codec.ResumptionPSKUsageBranch, "g", 1)}, RulePSKType},
		{"unknown usage", []codec.PreSharedKeyID{res(9, "g", 1)}, RulePSKType},
		{"unknown type", []codec.PreSharedKeyID{{PSKType: 3, PSKNonce: nonce()}}, RulePSKType},
		{"same external PSK, other nonce", []codec.PreSharedKeyID{ext("a"), ext("b"), ext("a")}, RulePSKDuplicate},
		{"same resumption PSK, other nonce", []codec.PreSharedKeyID{res(app, "g", 1), res(app, "g", 1)}, RulePSKDuplicate},
	}
	for _, c := range cases {
		if err := validateProposalPSKs(cs, c.ids); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if err := validateGroupSecretsPSKs(cs, []codec.PreSharedKeyID{ext("a"), ext("a")}); !errors.Is(err, RulePSKDuplicate) {
		t.Errorf("GroupSecrets duplicate: %v", err)
	}
	if err := validateGroupSecretsPSKs(cs, []codec.PreSharedKeyID{shortNonce}); !errors.Is(err, RulePSKNonceLength) {
		t.Errorf("GroupSecrets short nonce: %v", err)
	}
}
