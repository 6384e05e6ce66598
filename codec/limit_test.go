package codec

import (
	"errors"
	"testing"
)

// TestLimitElements: a decoding with an element limit fails with
// ErrTooManyElements past it, at any depth; fixed-size lists, allocated
// from their byte length, do not count; without a limit nothing changes.
func TestLimitElements(t *testing.T) {
	refs := make([]ProposalOrRef, 100)
	for i := range refs {
		refs[i] = ProposalOrRef{Type: ProposalOrRefTypeReference, Reference: []byte{1}}
	}
	commit, err := (&Commit{Proposals: refs}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var c Commit
	if err := UnmarshalLimited(commit, 100, &c); err != nil || len(c.Proposals) != 100 {
		t.Fatalf("100 proposals, limit 100: %v", err)
	}
	if err := UnmarshalLimited(commit, 99, &c); !errors.Is(err, ErrTooManyElements) {
		t.Fatalf("100 proposals, limit 99: %v", err)
	}
	if err := UnmarshalLimited(commit, 0, &c); err != nil {
		t.Fatalf("no limit: %v", err)
	}
	if err := UnmarshalLimited(append(commit, 0), 100, &c); !errors.Is(err, ErrTrailingData) {
		t.Fatalf("trailing byte: %v", err)
	}

	// Nested: the extensions of a leaf node inside a proposal.
	ln := LeafNode{LeafNodeSource: LeafNodeSourceUpdate, Credential: Credential{CredentialType: CredentialTypeBasic}, Extensions: make([]Extension, 10), Capabilities: Capabilities{CipherSuites: make([]CipherSuite, 1000)}}
	p := Proposal{ProposalType: ProposalTypeUpdate, Update: &Update{LeafNode: ln}}
	commit, err = (&Commit{Proposals: []ProposalOrRef{{Type: ProposalOrRefTypeProposal, Proposal: &p}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := UnmarshalLimited(commit, 11, &c); err != nil {
		t.Fatalf("1 proposal + 10 extensions (+ 1000 suites, uncounted), limit 11: %v", err)
	}
	if err := UnmarshalLimited(commit, 10, &c); !errors.Is(err, ErrTooManyElements) {
		t.Fatalf("limit 10: %v", err)
	}
	r := NewReader(commit)
	r.LimitElements(10)
	if err := c.Decode(r); err == nil || r.ElementsExceeded() == nil {
		t.Fatalf("Decode past the limit: %v, %v", err, r.ElementsExceeded())
	}
}
