package ratchettree

import (
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
)

func TestValidateLeafNode(t *testing.T) {
	cs := suite(t, 1)
	st := newSignedTree(t, cs, 5)
	tr := st.tr
	if err := tr.Validate(&TreeValidation{GroupID: st.groupID, Now: 1000}); err != nil {
		t.Fatalf("signed tree: %v", err)
	}
	kp := func(mod func(*codec.LeafNode)) *codec.LeafNode {
		ln := st.g.fakeLeaf(codec.LeafNodeSourceKeyPackage)
		if mod != nil {
			mod(ln)
		}
		signLeaf(t, st.signer(t), ln, nil, 0)
		return ln
	}
	addCtx := &LeafValidation{Source: codec.LeafNodeSourceKeyPackage, Now: 1000}
	if err := tr.ValidateLeafNode(kp(nil), addCtx); err != nil {
		t.Fatalf("valid key package leaf: %v", err)
	}
	// SignatureVerified leaves the signature to the caller, and only it.
	badSig := kp(nil)
	badSig.Signature[0] ^= 1
	if err := tr.ValidateLeafNode(badSig, &LeafValidation{Source: codec.LeafNodeSourceKeyPackage, Now: 1000, SignatureVerified: true}); err != nil {
		t.Fatalf("SignatureVerified: %v", err)
	}
	expired := kp(func(ln *codec.LeafNode) { ln.Lifetime = &codec.Lifetime{NotBefore: 0, NotAfter: 999} })
	if err := tr.ValidateLeafNode(expired, &LeafValidation{Source: codec.LeafNodeSourceKeyPackage, Now: 1000, SignatureVerified: true}); !errors.Is(err, ErrLifetime) {
		t.Fatalf("SignatureVerified must keep the other checks: %v", err)
	}

	cases := []struct {
		name string
		ln   *codec.LeafNode
		lv   *LeafValidation
		want error
	}{
		{"expired", kp(func(ln *codec.LeafNode) { ln.Lifetime = &codec.Lifetime{NotBefore: 0, NotAfter: 999} }), addCtx, ErrLifetime},
		{"not yet valid", kp(func(ln *codec.LeafNode) { ln.Lifetime = &codec.Lifetime{NotBefore: 1001, NotAfter: 2000} }), addCtx, ErrLifetime},
		{"wrong source", kp(nil), &LeafValidation{Source: codec.LeafNodeSourceUpdate, GroupID: st.groupID, Leaf: 1}, ErrLeafNodeSource},
		{"bad signature", func() *codec.LeafNode { ln := kp(nil); ln.Signature[0] ^= 1; return ln }(), addCtx, ErrBadLeafSignature},
		{"own credential not in capabilities", kp(func(ln *codec.LeafNode) {
			ln.Capabilities.Credentials = []codec.CredentialType{codec.CredentialTypeX509}
		}), addCtx, ErrUnsupportedCapabilities},
		{"own extension not in capabilities", kp(func(ln *codec.LeafNode) {
			ln.Extensions = []codec.Extension{{ExtensionType: 0xff01, ExtensionData: []byte{1}}}
		}), addCtx, ErrUnsupportedCapabilities},
		{"required extension missing", kp(nil), &LeafValidation{Source: codec.LeafNodeSourceKeyPackage,
			RequiredCapabilities: &codec.RequiredCapabilities{ExtensionTypes: []codec.ExtensionType{0xff02}}}, ErrUnsupportedCapabilities},
		{"required proposal missing", kp(nil), &LeafValidation{Source: codec.LeafNodeSourceKeyPackage,
			RequiredCapabilities: &codec.RequiredCapabilities{ProposalTypes: []codec.ProposalType{0xff03}}}, ErrUnsupportedCapabilities},
		{"required credential missing", kp(nil), &LeafValidation{Source: codec.LeafNodeSourceKeyPackage,
			RequiredCapabilities: &codec.RequiredCapabilities{CredentialTypes: []codec.CredentialType{codec.CredentialTypeX509}}}, ErrUnsupportedCapabilities},
		{"group extension unsupported", kp(nil), &LeafValidation{Source: codec.LeafNodeSourceKeyPackage,
			GroupExtensions: []codec.Extension{{ExtensionType: 0xff04}}}, ErrUnsupportedCapabilities},
		{"credential type not supported by members", kp(func(ln *codec.LeafNode) {
			ln.Credential = codec.Credential{CredentialType: codec.CredentialTypeX509, Certificates: []codec.Certificate{{CertData: []byte{1}}}}
			ln.Capabilities.Credentials = []codec.CredentialType{codec.CredentialTypeBasic, codec.CredentialTypeX509}
		}), addCtx, ErrUnsupportedCredential},
		{"does not support the members' credential", kp(func(ln *codec.LeafNode) {
			ln.Credential = codec.Credential{CredentialType: 0x0f0f, CredentialData: []byte{1}}
			ln.Capabilities.Credentials = []codec.CredentialType{0x0f0f}
		}), addCtx, ErrUnsupportedCredential},
		{"duplicate encryption key", kp(func(ln *codec.LeafNode) { ln.EncryptionKey = tr.Leaf(2).EncryptionKey }), addCtx, ErrDuplicateEncryptionKey},
		{"credential rejected", kp(nil), &LeafValidation{Source: codec.LeafNodeSourceKeyPackage,
			CheckCredential: func(*codec.Credential, codec.SignaturePublicKey) error { return errors.New("no") }}, ErrInvalidCredential},
	}
	for _, c := range cases {
		if err := tr.ValidateLeafNode(c.ln, c.lv); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}

	// Update leaves: signed with group id and leaf index.
	upd := func(l LeafIndex, mod func(*codec.LeafNode)) *codec.LeafNode {
		ln := st.g.fakeLeaf(codec.LeafNodeSourceUpdate)
		ln.SignatureKey = tr.Leaf(l).SignatureKey
		if mod != nil {
			mod(ln)
		}
		signLeaf(t, st.signers[string(ln.SignatureKey)], ln, st.groupID, l)
		return ln
	}
	updCtx := &LeafValidation{Source: codec.LeafNodeSourceUpdate, GroupID: st.groupID, Leaf: 3}
	if err := tr.ValidateLeafNode(upd(3, nil), updCtx); err != nil {
		t.Fatalf("valid update: %v", err)
	}
	if err := tr.ValidateLeafNode(upd(3, func(ln *codec.LeafNode) { ln.EncryptionKey = tr.Leaf(3).EncryptionKey }), updCtx); !errors.Is(err, ErrEncryptionKeyNotUpdated) {
		t.Errorf("update keeping the encryption key: %v", err)
	}
	if err := tr.ValidateLeafNode(upd(3, nil), &LeafValidation{Source: codec.LeafNodeSourceUpdate, GroupID: st.groupID, Leaf: 2}); !errors.Is(err, ErrBadLeafSignature) {
		t.Errorf("update signed for another leaf: %v", err)
	}
	if err := tr.ValidateLeafNode(upd(2, nil), updCtx); !errors.Is(err, ErrBadLeafSignature) && !errors.Is(err, ErrDuplicateSignatureKey) {
		t.Errorf("update with another member's signature key: %v", err)
	}
	// A one-member group may switch credential type on update.
	solo := newSignedTree(t, cs, 1)
	ln := solo.g.fakeLeaf(codec.LeafNodeSourceUpdate)
	ln.SignatureKey = solo.tr.Leaf(0).SignatureKey
	ln.Credential = codec.Credential{CredentialType: 0x0f0f, CredentialData: []byte{1}}
	ln.Capabilities.Credentials = []codec.CredentialType{0x0f0f}
	signLeaf(t, solo.signers[string(ln.SignatureKey)], ln, solo.groupID, 0)
	if err := solo.tr.ValidateLeafNode(ln, &LeafValidation{Source: codec.LeafNodeSourceUpdate, GroupID: solo.groupID, Leaf: 0}); err != nil {
		t.Errorf("solo credential switch: %v", err)
	}

	// Whole-tree validation applies the group parameters to every leaf.
	if err := tr.Validate(&TreeValidation{GroupID: st.groupID, Now: 1 << 63}); !errors.Is(err, ErrLifetime) {
		t.Errorf("tree with expired leaves: %v", err)
	}
	if err := tr.Validate(&TreeValidation{GroupID: st.groupID,
		RequiredCapabilities: &codec.RequiredCapabilities{ExtensionTypes: []codec.ExtensionType{0xff02}}}); !errors.Is(err, ErrUnsupportedCapabilities) {
		t.Errorf("tree lacking a required extension: %v", err)
	}
}

func TestKeyPackageLeafErrorsNameNoNode(t *testing.T) {
	st := newSignedTree(t, suite(t, 1), 3)
	ln := st.g.fakeLeaf(codec.LeafNodeSourceKeyPackage)
	signLeaf(t, st.signer(t), ln, nil, 0)
	ln.Signature[0] ^= 1
	err := st.tr.ValidateLeafNode(ln, &LeafValidation{Source: codec.LeafNodeSourceKeyPackage})
	var ne *NodeError
	if !errors.Is(err, ErrBadLeafSignature) || errors.As(err, &ne) {
		t.Fatalf("got %v (NodeError %v)", err, ne)
	}
}
