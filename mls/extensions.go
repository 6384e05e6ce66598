package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/mlskit/mlskit/codec"
)

// ErrUnsupportedCapability: a leaf node's capabilities lack a type the group
// requires — a type listed in the group's required_capabilities (RFC 9420
// §11.1) or the type of a non-default GroupContext extension (§12.1.7), or a
// proposal type used in a Commit (§12.2). The group logic reports it under
// the rule of the context (RuleAddCapabilities for an Add, RuleUpdateCapabilities for an Update,
// RuleGroupContextExtensionsUnsupported for GroupContextExtensions, RuleProposalTypeUnsupported for proposal types).
var ErrUnsupportedCapability = errors.New("mls: capability not supported")

// ErrInvalidGroupContextExtensions: an extension list is not acceptable as
// the extensions of a GroupContext (RFC 9420 §13, Table 7): an extension
// type that belongs elsewhere (application_id in leaf nodes, ratchet_tree and
// external_pub in GroupInfo), or a required_capabilities or external_senders
// extension that does not decode. Duplicate types give RuleExtensionsUnique.
var ErrInvalidGroupContextExtensions = errors.New("mls: invalid GroupContext extensions")

// Extensions is a list of extensions (RFC 9420 §13.4): of a GroupContext,
// a GroupInfo, a KeyPackage or a LeafNode. A list holds at most one
// extension of each type. Its methods read the extensions this library
// interprets (RequiredCapabilities, ExternalSenders, RatchetTree,
// ExternalPub) and return copies with one set (With, WithRequiredCapabilities,
// ...); they never modify the list. A []codec.Extension converts to it and
// back without copying.
type Extensions []codec.Extension

// Find returns the first extension of type t, or nil (§13.4: a list holds at
// most one of each type).
func (x Extensions) Find(t codec.ExtensionType) *codec.Extension {
	for i := range x {
		if x[i].ExtensionType == t {
			return &x[i]
		}
	}
	return nil
}

// With returns a copy of x in which e replaces the extension of its type, or
// is appended if there is none.
func (x Extensions) With(e codec.Extension) Extensions {
	out := make(Extensions, 0, len(x)+1)
	replaced := false
	for _, y := range x {
		if y.ExtensionType == e.ExtensionType {
			if !replaced {
				out = append(out, e)
				replaced = true
			}
			continue
		}
		out = append(out, y)
	}
	if !replaced {
		out = append(out, e)
	}
	return out
}

// with returns x.With an extension of type t whose data is v encoded; what
// names the extension in an error.
func (x Extensions) with(t codec.ExtensionType, what string, v interface{ Marshal() ([]byte, error) }) (Extensions, error) {
	data, err := v.Marshal()
	if err != nil {
		return nil, fmt.Errorf("mls: encoding the %s extension: %w", what, err)
	}
	return x.With(codec.Extension{ExtensionType: t, ExtensionData: data}), nil
}

// decode decodes the extension of type t into v; found is false if there is
// none, and a failure matches ErrMalformedExtension.
func (x Extensions) decode(t codec.ExtensionType, what string, v interface{ Unmarshal([]byte) error }) (found bool, err error) {
	e := x.Find(t)
	if e == nil {
		return false, nil
	}
	if err := v.Unmarshal(e.ExtensionData); err != nil {
		return true, fmt.Errorf("%w: %s: %w", ErrMalformedExtension, what, err)
	}
	return true, nil
}

// RequiredCapabilities decodes the required_capabilities extension (of a
// GroupContext, RFC 9420 §11.1). It returns nil and no error if there is
// none, and an error matching ErrMalformedExtension if it does not decode.
func (x Extensions) RequiredCapabilities() (*codec.RequiredCapabilities, error) {
	var rc codec.RequiredCapabilities
	if found, err := x.decode(codec.ExtensionTypeRequiredCapabilities, "required_capabilities", &rc); !found || err != nil {
		return nil, err
	}
	return &rc, nil
}

// WithRequiredCapabilities returns a copy of x with the
// required_capabilities extension carrying rc (RFC 9420 §11.1).
func (x Extensions) WithRequiredCapabilities(rc *codec.RequiredCapabilities) (Extensions, error) {
	if rc == nil {
		return nil, fmt.Errorf("%w: nil required capabilities", ErrInvalidArgument)
	}
	return x.with(codec.ExtensionTypeRequiredCapabilities, "required_capabilities", rc)
}

// ExternalSenders decodes the external_senders extension (of a
// GroupContext, RFC 9420 §12.1.8.1). It returns nil and no error if there
// is none, and an error matching ErrMalformedExtension if it does not
// decode. The index of an external sender in the list is the sender_index
// of its messages.
func (x Extensions) ExternalSenders() (codec.ExternalSenders, error) {
	var es codec.ExternalSenders
	if _, err := x.decode(codec.ExtensionTypeExternalSenders, "external_senders", &es); err != nil {
		return nil, err
	}
	return es, nil
}

// WithExternalSenders returns a copy of x with the external_senders
// extension carrying senders (RFC 9420 §12.1.8.1).
func (x Extensions) WithExternalSenders(senders codec.ExternalSenders) (Extensions, error) {
	return x.with(codec.ExtensionTypeExternalSenders, "external_senders", senders)
}

// RatchetTree decodes the ratchet_tree extension (of a GroupInfo, RFC 9420
// §12.4.3.3). ok is false if there is none; one that does not decode gives
// an error matching ErrMalformedExtension. The tree is not validated: a
// joiner validates it (§12.4.3.1).
func (x Extensions) RatchetTree() (rt codec.RatchetTree, ok bool, err error) {
	ok, err = x.decode(codec.ExtensionTypeRatchetTree, "ratchet_tree", &rt)
	if err != nil {
		return nil, true, err
	}
	return rt, ok, nil
}

// WithRatchetTree returns a copy of x with the ratchet_tree extension
// carrying rt (RFC 9420 §12.4.3.3), a GroupInfo extension. rt must not end
// in a blank node (RuleTreeTrailingBlank); Group.RatchetTree has that form.
func (x Extensions) WithRatchetTree(rt codec.RatchetTree) (Extensions, error) {
	if n := len(rt); n > 0 && rt[n-1] == nil {
		return nil, RuleTreeTrailingBlank.Errorf("ratchet tree of %d nodes ends in a blank node", n)
	}
	return x.with(codec.ExtensionTypeRatchetTree, "ratchet_tree", rt)
}

// ExternalPub returns the group's external HPKE public key from the
// external_pub extension (of a GroupInfo, RFC 9420 §12.4.3.2), which a new
// member needs to join by external Commit. ok is false if there is none;
// one that does not decode, or holds an empty key, gives an error matching
// ErrMalformedExtension.
func (x Extensions) ExternalPub() (pub []byte, ok bool, err error) {
	var ep codec.ExternalPub
	ok, err = x.decode(codec.ExtensionTypeExternalPub, "external_pub", &ep)
	switch {
	case err != nil:
		return nil, true, err
	case ok && len(ep.ExternalPub) == 0:
		return nil, true, fmt.Errorf("%w: external_pub: empty key", ErrMalformedExtension)
	}
	return ep.ExternalPub, ok, nil
}

// WithExternalPub returns a copy of x with the external_pub extension
// carrying the group's external HPKE public key (RFC 9420 §12.4.3.2), a
// GroupInfo extension.
func (x Extensions) WithExternalPub(externalPub []byte) (Extensions, error) {
	if len(externalPub) == 0 {
		return nil, fmt.Errorf("%w: empty external_pub", ErrInvalidArgument)
	}
	return x.with(codec.ExtensionTypeExternalPub, "external_pub", &codec.ExternalPub{ExternalPub: externalPub})
}

// ValidateGroupContext checks x as the extensions of a GroupContext, as a
// group creator or a GroupContextExtensions proposal sets them (RFC 9420
// §12.1.7, §13.4, Table 7):
//
//   - no type appears twice (RuleExtensionsUnique);
//   - no extension of a type that belongs to other messages: application_id
//     (leaf nodes), ratchet_tree and external_pub (GroupInfo)
//     (ErrInvalidGroupContextExtensions);
//   - required_capabilities and external_senders decode
//     (ErrInvalidGroupContextExtensions and ErrMalformedExtension).
//
// Unknown (non-default) types are accepted; every member must support them
// (CheckCapabilities).
func (x Extensions) ValidateGroupContext() error {
	if t, dup := duplicateExtension(x); dup {
		return RuleExtensionsUnique.Errorf("GroupContext extension %v appears twice", t)
	}
	for i := range x {
		switch t := x[i].ExtensionType; t {
		case codec.ExtensionTypeApplicationID, codec.ExtensionTypeRatchetTree, codec.ExtensionTypeExternalPub:
			return fmt.Errorf("%w: %v is not a GroupContext extension (RFC 9420 §13, Table 7)", ErrInvalidGroupContextExtensions, t)
		}
	}
	if _, err := x.RequiredCapabilities(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidGroupContextExtensions, err)
	}
	if _, err := x.ExternalSenders(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidGroupContextExtensions, err)
	}
	return nil
}

// CheckCapabilities checks that a leaf node with capabilities caps can be a
// member of a group whose GroupContext has the extensions x (RFC 9420 §7.2,
// §11.1, §12.1.7):
//
//   - every extension, proposal and credential type of the group's
//     required_capabilities is supported (default extension and proposal
//     types, which capabilities do not list, always are);
//   - every non-default GroupContext extension type is listed.
//
// A failure matches ErrUnsupportedCapability and names the type; a
// required_capabilities extension that does not decode matches
// ErrMalformedExtension. The caller reports it under the rule of the
// context (RuleAddCapabilities, RuleUpdateCapabilities,
// RuleGroupContextExtensionsUnsupported).
func (x Extensions) CheckCapabilities(caps *codec.Capabilities) error {
	if caps == nil {
		return fmt.Errorf("%w: nil capabilities", ErrInvalidArgument)
	}
	rc, err := x.RequiredCapabilities()
	if err != nil {
		return err
	}
	if err := CheckRequiredCapabilities(caps, rc); err != nil {
		return err
	}
	for i := range x {
		if t := x[i].ExtensionType; !SupportsExtension(caps, t) {
			return fmt.Errorf("%w: GroupContext extension %v", ErrUnsupportedCapability, t)
		}
	}
	return nil
}

// CheckRequiredCapabilities checks caps against the required capabilities
// rc (RFC 9420 §11.1); a nil rc requires nothing. A failure matches
// ErrUnsupportedCapability and names the first missing type.
func CheckRequiredCapabilities(caps *codec.Capabilities, rc *codec.RequiredCapabilities) error {
	if caps == nil {
		return fmt.Errorf("%w: nil capabilities", ErrInvalidArgument)
	}
	if rc == nil {
		return nil
	}
	for _, t := range rc.ExtensionTypes {
		if !SupportsExtension(caps, t) {
			return fmt.Errorf("%w: required extension type %v", ErrUnsupportedCapability, t)
		}
	}
	for _, t := range rc.ProposalTypes {
		if !SupportsProposal(caps, t) {
			return fmt.Errorf("%w: required proposal type %v", ErrUnsupportedCapability, t)
		}
	}
	for _, t := range rc.CredentialTypes {
		if !slices.Contains(caps.Credentials, t) {
			return fmt.Errorf("%w: required credential type %v", ErrUnsupportedCapability, t)
		}
	}
	return nil
}

// SupportsExtension reports whether capabilities caps support extension
// type t: a default type (1–5, RFC 9420 §7.2) or one caps lists.
func SupportsExtension(caps *codec.Capabilities, t codec.ExtensionType) bool {
	return isDefaultExtension(t) || slices.Contains(caps.Extensions, t)
}

// SupportsProposal reports whether capabilities caps support proposal type
// t: a default type (1–7, RFC 9420 §7.2) or one caps lists (RuleProposalTypeUnsupported).
func SupportsProposal(caps *codec.Capabilities, t codec.ProposalType) bool {
	return isDefaultProposal(t) || slices.Contains(caps.Proposals, t)
}

// equalExtensions reports whether two extension lists are equal, in order.
func equalExtensions(a, b []codec.Extension) bool {
	return slices.EqualFunc(a, b, func(x, y codec.Extension) bool {
		return x.ExtensionType == y.ExtensionType && bytes.Equal(x.ExtensionData, y.ExtensionData)
	})
}
