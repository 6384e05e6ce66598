package mls

import (
	"bytes"
	"crypto/x509"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// Successor credentials (RFC 9420 §5.3.1): whenever a member's leaf is
// replaced — an Update proposal, the leaf node of a Commit's UpdatePath, or
// an external Commit that removes a leaf ("resync", §12.4.3.2) — the
// presented identifiers of the new credential must be a valid successor of
// those of the old one.

// SameIdentity is the successor policy mls applies when the
// CredentialValidator does not implement CredentialSuccessorValidator: the
// new credential must present the same identity as the old one. Both must
// be of the same type, and
//
//   - basic: the same identity bytes;
//   - x509: end-entity certificates with the same subject (the rest of the
//     chain, the key and the validity period may change);
//   - any other type: the same credential_data.
//
// It returns nil when new is an acceptable successor of old.
func SameIdentity(old, new Credential) error {
	if old.Type() != new.Type() {
		return fmt.Errorf("credential type changes from %v to %v", old.Type(), new.Type())
	}
	switch old.Type() {
	case codec.CredentialTypeBasic:
		if !bytes.Equal(old.wire.Identity, new.wire.Identity) {
			return fmt.Errorf("identity changes from %q to %q", old.wire.Identity, new.wire.Identity)
		}
	case codec.CredentialTypeX509:
		a, err := x509Subject(old)
		if err != nil {
			return fmt.Errorf("old credential: %w", err)
		}
		b, err := x509Subject(new)
		if err != nil {
			return fmt.Errorf("new credential: %w", err)
		}
		if !bytes.Equal(a, b) {
			return fmt.Errorf("certificate subject changes")
		}
	default:
		if !bytes.Equal(old.wire.CredentialData, new.wire.CredentialData) {
			return fmt.Errorf("%v credential changes", old.Type())
		}
	}
	return nil
}

// x509Subject returns the DER subject of the end-entity certificate of an
// X.509 credential.
func x509Subject(c Credential) ([]byte, error) {
	if len(c.wire.Certificates) == 0 {
		return nil, fmt.Errorf("x509 credential without certificates")
	}
	cert, err := x509.ParseCertificate(c.wire.Certificates[0].CertData)
	if err != nil {
		return nil, fmt.Errorf("end-entity certificate: %w", err)
	}
	return cert.RawSubject, nil
}

// checkSuccessor checks that the credential of newLeaf is a valid successor
// of that of oldLeaf (RFC 9420 §5.3.1): with the application's
// CredentialSuccessorValidator if its CredentialValidator implements one,
// otherwise with SameIdentity. An unchanged credential is accepted without
// asking the application unless always is set (an external Commit that
// takes over a removed leaf, §12.4.3.2, always asks).
func (g *Group) checkSuccessor(oldLeaf, newLeaf *codec.LeafNode, always bool, what string) error {
	if oldLeaf == nil || newLeaf == nil {
		return nil
	}
	if !always && wireCredentialsEqual(&oldLeaf.Credential, &newLeaf.Credential) {
		return nil
	}
	old, nw := CredentialFromWire(&oldLeaf.Credential), CredentialFromWire(&newLeaf.Credential)
	var err error
	if sv, ok := g.validator.(CredentialSuccessorValidator); ok {
		err = sv.ValidateSuccessor(g.epoch.ctx.CipherSuite, old, nw)
	} else {
		err = SameIdentity(old, nw)
	}
	if err != nil {
		return RuleCredentialSuccessor.Errorf("%s: %v is not a valid successor of %v: %w", what, nw, old, err)
	}
	return nil
}

// checkCommitterSuccessor checks the leaf node of a Commit's UpdatePath
// against the leaf it replaces: the committer's current leaf for a member,
// and for an external Commit the leaf of each member it removes with an
// inline Remove proposal (RFC 9420 §12.4.3.2: the joiner's leaf must meet
// the criteria of an Update of the removed leaf). The tree is the one of
// the epoch the Commit is sent in.
func (g *Group) checkCommitterSuccessor(committer codec.Sender, props []committedProposal, ln *codec.LeafNode) error {
	switch committer.SenderType {
	case codec.SenderTypeMember:
		return g.checkSuccessor(g.epoch.tree.Leaf(treemath.LeafIndex(committer.LeafIndex)), ln, false, "the Commit's path leaf")
	case codec.SenderTypeNewMemberCommit:
		for _, cp := range props {
			if cp.p.ProposalType != codec.ProposalTypeRemove || cp.ref != nil {
				continue
			}
			l := LeafIndex(cp.p.Remove.Removed)
			if err := g.checkSuccessor(g.epoch.tree.Leaf(treemath.LeafIndex(l)), ln, true, fmt.Sprintf("external Commit removing leaf %d", l)); err != nil {
				return err
			}
		}
	}
	return nil
}
