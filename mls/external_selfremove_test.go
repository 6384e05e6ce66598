package mls_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers"
)

// esGroup makes a PurePlaintext group of n members (a, b, c, ...) whose
// Welcomes carry the tree; every client holds the external PSK "shared".
func esGroup(t *testing.T, n int) []*apiMember {
	t.Helper()
	cfg := mls.GroupConfig{WireFormatPolicy: mls.PurePlaintext(), UseRatchetTreeExtension: true}
	names := make([]string, n)
	for i := range names {
		names[i] = string(rune('a' + i))
	}
	ms := apiGroup(t, exampleSuite, cfg, names...)
	for _, m := range ms {
		if err := mls.StoreExternalPSK(m.c.Storage, []byte("shared"), bytes.Repeat([]byte{7}, 32)); err != nil {
			t.Fatal(err)
		}
	}
	return ms
}

// TestExternalCommitSelfRemoveAndPSK: external Commits (RFC 9420
// §12.4.3.2) carrying the group's pending SelfRemove proposals by
// reference (draft-ietf-mls-extensions: a joiner MUST include them),
// together with a PreSharedKey proposal and a resync Remove, through the
// public API; and the SelfRemove proposals a joiner must not use.
func TestExternalCommitSelfRemoveAndPSK(t *testing.T) {
	ms := esGroup(t, 4)
	a, b, c, d := ms[0], ms[1], ms[2], ms[3]
	provider := a.c.Provider
	cs, err := provider.CipherSuite(exampleSuite)
	if err != nil {
		t.Fatal(err)
	}
	pskID, err := mls.NewExternalPSKID(provider, cs, []byte("shared"))
	if err != nil {
		t.Fatal(err)
	}

	// b and c leave with SelfRemove proposals, which every member stores.
	var selfRemoves [][]byte
	for _, m := range []*apiMember{b, c} {
		msg, _, err := m.g.ProposeSelfRemove()
		if err != nil {
			t.Fatal(err)
		}
		selfRemoves = append(selfRemoves, msg)
		var others []*apiMember
		for _, o := range ms {
			if o != m {
				others = append(others, o)
			}
		}
		apiDeliver(t, msg, others...)
	}
	gi, err := a.g.GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	joinCfg := mls.GroupConfig{WireFormatPolicy: mls.PurePlaintext()}

	// What a joiner refuses to include: a modified SelfRemove (its
	// signature fails), one of another group state (epoch), a message
	// that is not a SelfRemove proposal, a SelfRemove and a Remove of the
	// same leaf.
	// (The membership tag, which a joiner cannot check, is not what is
	// modified: the signature is.)
	var m codec.MLSMessage
	if err := m.Unmarshal(selfRemoves[0]); err != nil {
		t.Fatal(err)
	}
	m.PublicMessage.Auth.Signature = bytes.Clone(m.PublicMessage.Auth.Signature)
	m.PublicMessage.Auth.Signature[0] ^= 1
	bad, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	appMsg, err := d.g.SendApplicationMessage([]byte("not a proposal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	other := esGroup(t, 2)
	otherSR, _, err := other[1].g.ProposeSelfRemove()
	if err != nil {
		t.Fatal(err)
	}
	bLeaf := b.g.OwnLeafIndex()
	for name, x := range map[string]struct {
		opts *mls.ExternalCommitOptions
		rule error
	}{
		"modified":          {&mls.ExternalCommitOptions{SelfRemoves: [][]byte{bad}}, mls.RuleSignature},
		"other group":       {&mls.ExternalCommitOptions{SelfRemoves: [][]byte{otherSR}}, mls.RuleWrongGroupID},
		"not a proposal":    {&mls.ExternalCommitOptions{SelfRemoves: [][]byte{appMsg}}, mls.RuleWireFormatPolicy},
		"remove same leaf":  {&mls.ExternalCommitOptions{SelfRemoves: selfRemoves[:1], RemoveLeaf: &bLeaf}, mls.RuleSameLeaf},
		"same one twice":    {&mls.ExternalCommitOptions{SelfRemoves: [][]byte{selfRemoves[0], selfRemoves[0]}}, mls.RuleSameLeaf},
		"PSK not available": {&mls.ExternalCommitOptions{SelfRemoves: selfRemoves, PSKs: []codec.PreSharedKeyID{mustPSKID(t, provider, cs, "absent")}}, mls.RulePSKAvailable},
	} {
		j, _ := newExampleClient("joiner-" + name)
		if _, _, err := mls.JoinByExternalCommit(j, gi, nil, joinCfg, x.opts); !errors.Is(err, x.rule) {
			t.Errorf("%s: %v, want %v", name, err, x.rule)
		}
	}

	// The joiner includes both SelfRemoves and the PSK; members merge its
	// Commit (b and c are removed), and the joiner is in the group.
	e, _ := newExampleClient("e")
	if err := mls.StoreExternalPSK(e.Storage, []byte("shared"), bytes.Repeat([]byte{7}, 32)); err != nil {
		t.Fatal(err)
	}
	eg, commit, err := mls.JoinByExternalCommit(e, gi, nil, joinCfg, &mls.ExternalCommitOptions{SelfRemoves: selfRemoves, PSKs: []codec.PreSharedKeyID{pskID}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*apiMember{b, c} {
		pm, err := m.g.ProcessMessage(commit)
		if err != nil {
			t.Fatal(err)
		}
		ops := pm.Commit.RemoveOperations()
		if !pm.Commit.SelfRemoved() || len(ops) != 2 || ops[0].ProposalType != codec.ProposalTypeSelfRemove {
			t.Fatalf("%s: SelfRemoved %v, removals %v", m.name, pm.Commit.SelfRemoved(), ops)
		}
	}
	stay := apiDeliver(t, commit, a, d)
	ej := &apiMember{name: "e", c: e, g: eg}
	stay = append(stay, ej)
	apiAgreeAll(t, "after the commit", stay...)

	// Without the stored SelfRemove a member cannot process the Commit
	// (and a joiner that leaves a pending SelfRemove out breaks the
	// draft's MUST, which members cannot tell).
	msg, _, err := d.g.ProposeSelfRemove()
	if err != nil {
		t.Fatal(err)
	}
	apiDeliver(t, msg, ej) // a misses it
	gi, err = a.g.GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := newExampleClient("f")
	_, commit, err = mls.JoinByExternalCommit(f, gi, nil, joinCfg, &mls.ExternalCommitOptions{SelfRemoves: [][]byte{msg}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.g.ProcessMessage(commit); !errors.Is(err, mls.ErrUnknownProposal) {
		t.Fatalf("external Commit referencing a SelfRemove a member lacks: %v", err)
	}
	if _, err := ej.g.ProcessMessage(commit); err != nil {
		t.Fatalf("e, which stored the SelfRemove: %v", err)
	}

	// A resync: d rejoins by external Commit removing its old leaf, with
	// the PSK (an inline Remove and PreSharedKey, §12.4.3.2).
	gi, err = ej.g.GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	d2 := &mls.Client{Provider: d.c.Provider, Storage: d.c.Storage, Signer: d.c.Signer, Credential: d.c.Credential}
	if err := mls.DeleteGroup(d.c.Storage, d.g.GroupID()); err != nil {
		t.Fatal(err)
	}
	old := d.g.OwnLeafIndex()
	dg, commit, err := mls.JoinByExternalCommit(d2, gi, nil, joinCfg, &mls.ExternalCommitOptions{RemoveLeaf: &old, PSKs: []codec.PreSharedKeyID{pskID}})
	if err != nil {
		t.Fatal(err)
	}
	stay = apiDeliver(t, commit, a, ej)
	stay = append(stay, &apiMember{name: "d again", c: d2, g: dg})
	apiAgreeAll(t, "after the commit", stay...)
}

func mustPSKID(t *testing.T, p providers.Provider, cs providers.CipherSuite, id string) codec.PreSharedKeyID {
	t.Helper()
	psk, err := mls.NewExternalPSKID(p, cs, []byte(id))
	if err != nil {
		t.Fatal(err)
	}
	return psk
}
