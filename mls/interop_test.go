package mls_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
)

func TestIsGREASE(t *testing.T) {
	var n int
	for v := range 1 << 16 {
		if mls.IsGREASE(uint16(v)) {
			n++
			if v&0xff != 0x0a|(v>>12)<<4 || v>>8 != 0x0a|(v>>12)<<4 {
				t.Errorf("0x%04x is not a GREASE value", v)
			}
		}
	}
	if n != 15 || !mls.IsGREASE(0x0A0A) || !mls.IsGREASE(0xEAEA) || mls.IsGREASE(0xFAFA) || mls.IsGREASE(0x0A1A) {
		t.Errorf("%d GREASE values", n)
	}
}

func hasGREASE[T ~uint16](list []T) bool {
	return slices.ContainsFunc(list, func(v T) bool { return mls.IsGREASE(uint16(v)) })
}

func greaseExts(exts []codec.Extension) []codec.ExtensionType {
	var out []codec.ExtensionType
	for _, e := range exts {
		if mls.IsGREASE(uint16(e.ExtensionType)) {
			out = append(out, e.ExtensionType)
		}
	}
	return out
}

// By default key packages carry GREASE (RFC 9420 §13.5) in every
// capabilities list, LeafNode.extensions (listed in the capabilities) and
// KeyPackage.extensions; they validate. NoGREASE leaves it out.
func TestGREASEKeyPackage(t *testing.T) {
	const suite = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519
	c := apiClient(t, suite, "alice")
	b := &mls.KeyPackageBuilder{Provider: c.Provider, CipherSuite: suite, Credential: c.Credential, Signer: c.Signer}
	for range 5 {
		kb, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		kp := &kb.KeyPackage
		caps := &kp.LeafNode.Capabilities
		if !hasGREASE(caps.CipherSuites) || !hasGREASE(caps.Extensions) || !hasGREASE(caps.Proposals) || !hasGREASE(caps.Credentials) {
			t.Fatalf("capabilities without GREASE: %+v", caps)
		}
		leafG, kpG := greaseExts(kp.LeafNode.Extensions), greaseExts(kp.Extensions)
		if len(leafG) != 1 || len(kpG) != 1 || !slices.Contains(caps.Extensions, leafG[0]) {
			t.Fatalf("GREASE extensions: leaf %v, key package %v, capabilities %v", leafG, kpG, caps.Extensions)
		}
		if mls.IsGREASE(uint16(kp.LeafNode.Credential.CredentialType)) {
			t.Fatal("GREASE credential type sent")
		}
		if err := mls.ValidateKeyPackage(c.Provider, kp, nil); err != nil {
			t.Fatal(err)
		}
	}
	b.NoGREASE = true
	kb, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	caps := &kb.KeyPackage.LeafNode.Capabilities
	if hasGREASE(caps.CipherSuites) || hasGREASE(caps.Extensions) || hasGREASE(caps.Proposals) || hasGREASE(caps.Credentials) ||
		len(kb.KeyPackage.Extensions) != 0 || len(kb.KeyPackage.LeafNode.Extensions) != 0 {
		t.Fatalf("GREASE with NoGREASE: %+v", kb.KeyPackage)
	}
}

// Groups whose members send GREASE everywhere work: the creator's leaf and
// the GroupInfos carry it; Welcome joins, external joins and proposals by
// other members all accept it. With NoGREASE, GroupInfos carry none.
func TestGREASEGroup(t *testing.T) {
	const suite = codec.CipherSuiteMLS128DHKEMX25519CHACHA20POLY1305SHA256Ed25519
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true}
	ms := apiGroup(t, suite, cfg, "alice", "bob", "carol")
	caps := ms[0].g.OwnLeafNode().Capabilities
	if !hasGREASE(caps.CipherSuites) || len(greaseExts(ms[0].g.OwnLeafNode().Extensions)) != 1 {
		t.Fatalf("creator's leaf without GREASE: %+v", ms[0].g.OwnLeafNode())
	}
	gib, err := ms[1].g.GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	var m codec.MLSMessage
	if err := m.Unmarshal(gib); err != nil {
		t.Fatal(err)
	}
	if len(greaseExts(m.GroupInfo.Extensions)) != 1 {
		t.Fatalf("GroupInfo extensions without GREASE: %v", m.GroupInfo.Extensions)
	}
	dave := apiClient(t, suite, "dave")
	gd, commit, err := mls.JoinByExternalCommit(dave, gib, nil, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(greaseExts(gd.OwnLeafNode().Extensions)) != 1 {
		t.Fatal("external joiner's leaf without GREASE")
	}
	gs := []*mls.Group{gd}
	for _, m := range ms {
		pm, err := m.g.ProcessMessage(commit)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.g.MergeStagedCommit(pm.Commit); err != nil {
			t.Fatal(err)
		}
		gs = append(gs, m.g)
	}
	apiAgreeGroups(t, gs...)

	ng := apiGroup(t, suite, mls.GroupConfig{UseRatchetTreeExtension: true, NoGREASE: true}, "erin", "frank")
	gib, err = ng[0].g.GroupInfo(false)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Unmarshal(gib); err != nil {
		t.Fatal(err)
	}
	if len(greaseExts(m.GroupInfo.Extensions)) != 0 || len(greaseExts(ng[0].g.OwnLeafNode().Extensions)) != 0 {
		t.Fatal("GREASE with NoGREASE")
	}
}

// A GroupInfo whose confirmation_tag is not a MAC of the suite (such as the
// empty tag one implementation publishes after an external join) is
// refused with a clear error before it is used.
func TestGroupInfoConfirmationTagLength(t *testing.T) {
	const suite = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true}
	ms := apiGroup(t, suite, cfg, "alice", "bob")
	gib, err := ms[0].g.GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := ms[0].c.Provider.CipherSuite(suite)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range [][]byte{{}, make([]byte, 31), make([]byte, 64)} {
		var m codec.MLSMessage
		if err := m.Unmarshal(gib); err != nil {
			t.Fatal(err)
		}
		m.GroupInfo.ConfirmationTag = tag
		// Re-signed by the member, so only the tag is wrong.
		if err := mls.SignGroupInfo(ms[0].c.Signer, m.GroupInfo); err != nil {
			t.Fatal(err)
		}
		bad, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := mls.VerifyGroupInfo(cs, m.GroupInfo, ms[0].c.Signer.PublicKey()); !errors.Is(err, mls.ErrGroupInfoConfirmationTag) {
			t.Errorf("%d-byte tag: VerifyGroupInfo: %v", len(tag), err)
		}
		carol := apiClient(t, suite, "carol")
		if _, _, err := mls.JoinByExternalCommit(carol, bad, nil, cfg, nil); !errors.Is(err, mls.ErrGroupInfoConfirmationTag) {
			t.Errorf("%d-byte tag: external join: %v", len(tag), err)
		}
		if _, err := carol.VerifyGroupInfoMessage(bad, nil); !errors.Is(err, mls.ErrGroupInfoConfirmationTag) {
			t.Errorf("%d-byte tag: VerifyGroupInfoMessage: %v", len(tag), err)
		}
	}
}
