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

// RequiredCapabilitiesFromExtensions decodes the required_capabilities
// extension of exts (GroupContext extensions, RFC 9420 §11.1). It returns
// nil and no error if there is none, and an error matching
// ErrMalformedExtension if it does not decode.
func RequiredCapabilitiesFromExtensions(exts []codec.Extension) (*codec.RequiredCapabilities, error) {
	e := FindExtension(exts, codec.ExtensionTypeRequiredCapabilities)
	if e == nil {
		return nil, nil
	}
	var rc codec.RequiredCapabilities
	if err := rc.Unmarshal(e.ExtensionData); err != nil {
		return nil, fmt.Errorf("%w: required_capabilities: %w", ErrMalformedExtension, err)
	}
	return &rc, nil
}

// RequiredCapabilitiesExtension returns the required_capabilities extension
// carrying rc (RFC 9420 §11.1).
func RequiredCapabilitiesExtension(rc *codec.RequiredCapabilities) (codec.Extension, error) {
	if rc == nil {
		return codec.Extension{}, fmt.Errorf("%w: nil required capabilities", ErrInvalidArgument)
	}
	data, err := rc.Marshal()
	if err != nil {
		return codec.Extension{}, fmt.Errorf("mls: encoding the required_capabilities extension: %w", err)
	}
	return codec.Extension{ExtensionType: codec.ExtensionTypeRequiredCapabilities, ExtensionData: data}, nil
}

// ExternalSendersFromExtensions decodes the external_senders extension of
// exts (GroupContext extensions, RFC 9420 §12.1.8.1). It returns nil and no
// error if there is none, and an error matching ErrMalformedExtension if it
// does not decode. The index of an external sender in the list is the
// sender_index of its messages.
func ExternalSendersFromExtensions(exts []codec.Extension) (codec.ExternalSenders, error) {
	e := FindExtension(exts, codec.ExtensionTypeExternalSenders)
	if e == nil {
		return nil, nil
	}
	var es codec.ExternalSenders
	if err := es.Unmarshal(e.ExtensionData); err != nil {
		return nil, fmt.Errorf("%w: external_senders: %w", ErrMalformedExtension, err)
	}
	return es, nil
}

// ExternalSendersExtension returns the external_senders extension carrying
// senders (RFC 9420 §12.1.8.1).
func ExternalSendersExtension(senders codec.ExternalSenders) (codec.Extension, error) {
	data, err := senders.Marshal()
	if err != nil {
		return codec.Extension{}, fmt.Errorf("mls: encoding the external_senders extension: %w", err)
	}
	return codec.Extension{ExtensionType: codec.ExtensionTypeExternalSenders, ExtensionData: data}, nil
}

// ExternalSender returns the external sender of index senderIndex of the
// external_senders extension of exts (RFC 9420 §12.1.8.1): the signature key
// that verifies its proposals. ok is false if there is no extension or no
// such index.
func ExternalSender(exts []codec.Extension, senderIndex uint32) (s codec.ExternalSender, ok bool, err error) {
	es, err := ExternalSendersFromExtensions(exts)
	if err != nil || uint64(senderIndex) >= uint64(len(es)) {
		return codec.ExternalSender{}, false, err
	}
	return es[senderIndex], true, nil
}

// WithExtension returns a copy of exts in which e replaces the extension of
// its type, or is appended if there is none. exts is not modified.
func WithExtension(exts []codec.Extension, e codec.Extension) []codec.Extension {
	out := make([]codec.Extension, 0, len(exts)+1)
	replaced := false
	for _, x := range exts {
		if x.ExtensionType == e.ExtensionType {
			if !replaced {
				out = append(out, e)
				replaced = true
			}
			continue
		}
		out = append(out, x)
	}
	if !replaced {
		out = append(out, e)
	}
	return out
}

// ValidateGroupContextExtensions checks exts as the extensions of a
// GroupContext, as a group creator or a GroupContextExtensions proposal sets
// them (RFC 9420 §12.1.7, §13.4, Table 7):
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
func ValidateGroupContextExtensions(exts []codec.Extension) error {
	if t, dup := duplicateExtension(exts); dup {
		return RuleExtensionsUnique.Errorf("GroupContext extension %v appears twice", t)
	}
	for i := range exts {
		switch t := exts[i].ExtensionType; t {
		case codec.ExtensionTypeApplicationID, codec.ExtensionTypeRatchetTree, codec.ExtensionTypeExternalPub:
			return fmt.Errorf("%w: %v is not a GroupContext extension (RFC 9420 §13, Table 7)", ErrInvalidGroupContextExtensions, t)
		}
	}
	if _, err := RequiredCapabilitiesFromExtensions(exts); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidGroupContextExtensions, err)
	}
	if _, err := ExternalSendersFromExtensions(exts); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidGroupContextExtensions, err)
	}
	return nil
}

// CheckCapabilities checks that a leaf node with capabilities caps can be a
// member of a group whose GroupContext has the extensions groupExtensions
// (RFC 9420 §7.2, §11.1, §12.1.7):
//
//   - every extension, proposal and credential type of the group's
//     required_capabilities is supported (default extension and proposal
//     types, which capabilities do not list, always are);
//   - every non-default GroupContext extension type is listed.
//
// A failure matches ErrUnsupportedCapability and names the type; a
// required_capabilities extension that does not decode matches
// ErrMalformedExtension. The caller reports it under the rule of the
// context (RuleAddCapabilities, RuleUpdateCapabilities, RuleGroupContextExtensionsUnsupported).
func CheckCapabilities(caps *codec.Capabilities, groupExtensions []codec.Extension) error {
	if caps == nil {
		return fmt.Errorf("%w: nil capabilities", ErrInvalidArgument)
	}
	rc, err := RequiredCapabilitiesFromExtensions(groupExtensions)
	if err != nil {
		return err
	}
	if err := CheckRequiredCapabilities(caps, rc); err != nil {
		return err
	}
	for i := range groupExtensions {
		if t := groupExtensions[i].ExtensionType; !SupportsExtension(caps, t) {
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
