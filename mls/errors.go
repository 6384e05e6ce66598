package mls

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/providers"
)

// Sentinel errors. Branch on them with errors.Is.
var (
	// ErrValidation is matched by every *ValidationError and every Rule:
	// errors.Is(err, ErrValidation) tells a message, key package or leaf
	// node rejected by a rule of RFC 9420 from any other failure.
	ErrValidation = errors.New("mls: validation failed")
	// ErrNotFound is providers.ErrNotFound: nothing is stored under a key
	// (a key package, signature key pair, group).
	ErrNotFound = providers.ErrNotFound
	// ErrUnsupportedCredential: a credential type that the configured
	// CredentialValidator does not accept, such as an X.509 credential with
	// no application hook to validate it (RFC 9420 §5.3.1).
	ErrUnsupportedCredential = errors.New("mls: unsupported credential")
	// ErrCorruptState: a record read from storage does not decode, or was
	// written by a newer format version than this release understands.
	ErrCorruptState = errors.New("mls: stored state is corrupt or of an unknown version")
	// ErrKeyMismatch: a private key does not belong to the public key it is
	// stored or presented with.
	ErrKeyMismatch = errors.New("mls: private key does not match public key")
	// ErrInvalidArgument: a caller passed an argument that cannot be used
	// (a nil provider or store, a missing credential, an empty identity).
	ErrInvalidArgument = errors.New("mls: invalid argument")
)

// Rule is the stable identifier of a validation rule: an id of OpenMLS's
// validation catalogue ("ValSem101") where one applies, otherwise an mlskit
// name for a rule of RFC 9420 ("LeafNodeSignature"). A Rule is an error
// that matches every *ValidationError with the same Code, so callers write
//
//	if errors.Is(err, mls.ValSem104) { ... }
//
// Its Error method returns the rule's description.
type Rule string

// Semantic validation of message framing (OpenMLS catalogue; RFC 9420 §6).
const (
	// ValSem002: the group_id of a message must be the group's.
	ValSem002 Rule = "ValSem002"
	// ValSem003: the epoch of a message must be the group's current epoch
	// (or a retained past epoch, for PrivateMessage).
	ValSem003 Rule = "ValSem003"
	// ValSem004: a member sender must point to a non-blank leaf of the tree.
	ValSem004 Rule = "ValSem004"
	// ValSem005: application messages must be sent as PrivateMessage.
	ValSem005 Rule = "ValSem005"
	// ValSem006: a PrivateMessage must decrypt.
	ValSem006 Rule = "ValSem006"
	// ValSem007: a PublicMessage from a member must carry a membership tag.
	ValSem007 Rule = "ValSem007"
	// ValSem008: the membership tag must verify.
	ValSem008 Rule = "ValSem008"
	// ValSem009: a Commit must carry a confirmation tag.
	ValSem009 Rule = "ValSem009"
	// ValSem010: the signature over the content must verify.
	ValSem010 Rule = "ValSem010"
	// ValSem011: the padding of a PrivateMessageContent must be all zero.
	ValSem011 Rule = "ValSem011"
)

// Semantic validation of proposals covered by a Commit (OpenMLS catalogue;
// RFC 9420 §12.1, §12.2).
const (
	// ValSem101: Add: the signature public key must be unique among the
	// proposals and the members.
	ValSem101 Rule = "ValSem101"
	// ValSem102: Add: the init key must be unique among the proposals.
	ValSem102 Rule = "ValSem102"
	// ValSem103: Add: the encryption key must be unique among the proposals
	// and the members.
	ValSem103 Rule = "ValSem103"
	// ValSem104: Add: the init key and the encryption key of a KeyPackage
	// must differ.
	ValSem104 Rule = "ValSem104"
	// ValSem105: Add: the cipher suite and protocol version of the
	// KeyPackage must match the group's.
	ValSem105 Rule = "ValSem105"
	// ValSem106: Add: the KeyPackage must support the group's required
	// capabilities.
	ValSem106 Rule = "ValSem106"
	// ValSem107: Remove: the removed member must be unique among the
	// proposals.
	ValSem107 Rule = "ValSem107"
	// ValSem108: Remove: the removed member must be an existing member.
	ValSem108 Rule = "ValSem108"
	// ValSem109: Update: the leaf node must support the group's required
	// capabilities.
	ValSem109 Rule = "ValSem109"
	// ValSem110: Update: the encryption key must be unique among the
	// proposals and the members.
	ValSem110 Rule = "ValSem110"
	// ValSem111: Update: the sender of a full Commit must not include its
	// own Update proposals.
	ValSem111 Rule = "ValSem111"
	// ValSem112: Update: the sender of a standalone Update proposal must be
	// a member.
	ValSem112 Rule = "ValSem112"
	// ValSem113: every proposal type must be supported by all members of
	// the group.
	ValSem113 Rule = "ValSem113"
)

// Commit message validation (OpenMLS catalogue; RFC 9420 §12.4).
const (
	// ValSem200: a Commit must not cover an inline Remove proposal that
	// removes the committer.
	ValSem200 Rule = "ValSem200"
	// ValSem201: the path must be present if at least one proposal requires
	// one.
	ValSem201 Rule = "ValSem201"
	// ValSem202: the path must have the right length.
	ValSem202 Rule = "ValSem202"
	// ValSem203: the path secrets must decrypt.
	ValSem203 Rule = "ValSem203"
	// ValSem204: the public keys of the path must match the private keys
	// derived from the path secrets.
	ValSem204 Rule = "ValSem204"
	// ValSem205: the confirmation tag must verify.
	ValSem205 Rule = "ValSem205"
	// ValSem206: the encryption key of the path's leaf node must be unique
	// among the proposals and the members.
	ValSem206 Rule = "ValSem206"
	// ValSem207: the encryption keys of the path must be unique among the
	// proposals and the members.
	ValSem207 Rule = "ValSem207"
	// ValSem208: a Commit covers at most one GroupContextExtensions
	// proposal.
	ValSem208 Rule = "ValSem208"
	// ValSem209: a GroupContextExtensions proposal may only contain
	// extensions supported by all members.
	ValSem209 Rule = "ValSem209"
)

// External Commit validation (OpenMLS catalogue; RFC 9420 §12.2,
// §12.4.3.2). The catalogue has no ValSem243.
const (
	// ValSem240: an external Commit must cover at least one inline
	// ExternalInit proposal.
	ValSem240 Rule = "ValSem240"
	// ValSem241: an external Commit must cover at most one inline
	// ExternalInit proposal.
	ValSem241 Rule = "ValSem241"
	// ValSem242: an external Commit may only cover inline proposals of the
	// allow-list ExternalInit, Remove, PreSharedKey (and SelfRemove).
	ValSem242 Rule = "ValSem242"
	// ValSem244: an external Commit must not cover proposals by reference.
	ValSem244 Rule = "ValSem244"
	// ValSem245: an external Commit must contain a path.
	ValSem245 Rule = "ValSem245"
	// ValSem246: the signature of an external Commit must verify with the
	// signature key of the leaf node in its path.
	ValSem246 Rule = "ValSem246"
)

// Ratchet tree and PSK validation (OpenMLS catalogue).
const (
	// ValSem300: exported ratchet trees must not have trailing blank nodes.
	ValSem300 Rule = "ValSem300"
	// ValSem400: the number of past epochs for which resumption PSKs are
	// kept is bounded by configuration.
	ValSem400 Rule = "ValSem400"
	// ValSem401: the nonce of a PreSharedKeyID must be KDF.Nh bytes long.
	ValSem401 Rule = "ValSem401"
	// ValSem402: a PSK in a proposal must be external, or a resumption PSK
	// with usage application.
	ValSem402 Rule = "ValSem402"
	// ValSem403: a proposal list must not contain two PreSharedKey
	// proposals referencing the same PreSharedKeyID.
	ValSem403 Rule = "ValSem403"
)

// Rules of RFC 9420 for credentials, leaf nodes and key packages that the
// OpenMLS catalogue does not number.
const (
	// RuleCredential: the credential was rejected by the
	// CredentialValidator (§5.3.1).
	RuleCredential Rule = "Credential"
	// RuleLeafNodeSignature: the signature of a LeafNode must verify with
	// its signature_key over LeafNodeTBS (§7.3).
	RuleLeafNodeSignature Rule = "LeafNodeSignature"
	// RuleLeafNodeSource: the leaf_node_source must match where the
	// LeafNode appears: key_package in a KeyPackage (§7.3).
	RuleLeafNodeSource Rule = "LeafNodeSource"
	// RuleLeafNodeLifetime: the current time must lie within the lifetime,
	// and the lifetime must not exceed the application's maximum (§7.2,
	// §7.3).
	RuleLeafNodeLifetime Rule = "LeafNodeLifetime"
	// RuleLeafNodeCapabilities: the capabilities must list the protocol
	// version and cipher suite in use (§7.2, §10).
	RuleLeafNodeCapabilities Rule = "LeafNodeCapabilities"
	// RuleLeafNodeExtensions: every non-default extension of the LeafNode
	// must be listed in its capabilities (§7.2, §7.3).
	RuleLeafNodeExtensions Rule = "LeafNodeExtensions"
	// RuleLeafNodeCredentialType: the LeafNode's credential type must be
	// listed in its capabilities (§7.2).
	RuleLeafNodeCredentialType Rule = "LeafNodeCredentialType"
	// RuleLeafNodeKeys: the encryption_key and signature_key must be valid
	// keys of the cipher suite (§10).
	RuleLeafNodeKeys Rule = "LeafNodeKeys"
	// RuleKeyPackageVersion: the protocol version must be one this library
	// implements (mls10) (§10.1).
	RuleKeyPackageVersion Rule = "KeyPackageVersion"
	// RuleKeyPackageCipherSuite: the cipher suite must be one the provider
	// implements (§10.1).
	RuleKeyPackageCipherSuite Rule = "KeyPackageCipherSuite"
	// RuleKeyPackageInitKey: the init_key must be a valid HPKE public key of
	// the cipher suite (§10).
	RuleKeyPackageInitKey Rule = "KeyPackageInitKey"
	// RuleKeyPackageSignature: the signature over KeyPackageTBS must verify
	// with the leaf node's signature key (§10, §10.1).
	RuleKeyPackageSignature Rule = "KeyPackageSignature"
	// RuleKeyPackageExtensions: every non-default extension of the
	// KeyPackage must be listed in the leaf node's capabilities (§10).
	RuleKeyPackageExtensions Rule = "KeyPackageExtensions"
	// RuleExtensionsUnique: a list of extensions must not hold two
	// extensions of one type (§13.4).
	RuleExtensionsUnique Rule = "ExtensionsUnique"
)

// info returns the RFC 9420 section and the description of r.
func (r Rule) info() (section, desc string) {
	switch r {
	case ValSem002:
		return "6", "message group id must match the group"
	case ValSem003:
		return "6", "message epoch must match the group"
	case ValSem004:
		return "6", "member sender must point to a non-blank leaf"
	case ValSem005:
		return "6.2", "application messages must use PrivateMessage"
	case ValSem006:
		return "6.3", "PrivateMessage must decrypt"
	case ValSem007:
		return "6.2", "membership tag must be present"
	case ValSem008:
		return "6.2", "membership tag must verify"
	case ValSem009:
		return "6.1", "confirmation tag must be present"
	case ValSem010:
		return "6.1", "signature must verify"
	case ValSem011:
		return "6.3.1", "PrivateMessageContent padding must be all zero"
	case ValSem101:
		return "12.2", "Add: signature key must be unique among proposals and members"
	case ValSem102:
		return "10", "Add: init key must be unique among proposals"
	case ValSem103:
		return "7.3", "Add: encryption key must be unique among proposals and members"
	case ValSem104:
		return "10.1", "init key and encryption key must differ"
	case ValSem105:
		return "10.1", "cipher suite and protocol version must match the group"
	case ValSem106:
		return "11.1", "Add: key package must support the required capabilities"
	case ValSem107:
		return "12.2", "Remove: removed member must be unique among proposals"
	case ValSem108:
		return "12.1.3", "Remove: removed member must be a member"
	case ValSem109:
		return "11.1", "Update: leaf node must support the required capabilities"
	case ValSem110:
		return "7.3", "Update: encryption key must be unique among proposals and members"
	case ValSem111:
		return "12.2", "Update: committer must not cover its own update"
	case ValSem112:
		return "12.1.2", "Update: sender of a standalone update must be a member"
	case ValSem113:
		return "12.2", "proposal type must be supported by all members"
	case ValSem200:
		return "12.2", "commit must not cover a remove of the committer"
	case ValSem201:
		return "12.4", "path must be present when a proposal requires it"
	case ValSem202:
		return "12.4.2", "path must have the right length"
	case ValSem203:
		return "12.4.2", "path secrets must decrypt"
	case ValSem204:
		return "12.4.2", "path public keys must match the derived private keys"
	case ValSem205:
		return "12.4.2", "confirmation tag must verify"
	case ValSem206:
		return "7.3", "path leaf node encryption key must be unique among proposals and members"
	case ValSem207:
		return "7.3", "path encryption keys must be unique among proposals and members"
	case ValSem208:
		return "12.2", "at most one GroupContextExtensions proposal per commit"
	case ValSem209:
		return "12.1.7", "GroupContextExtensions must be supported by all members"
	case ValSem240:
		return "12.2", "external commit must cover an inline ExternalInit proposal"
	case ValSem241:
		return "12.2", "external commit must cover at most one ExternalInit proposal"
	case ValSem242:
		return "12.2", "external commit may only cover allowed inline proposals"
	case ValSem244:
		return "12.4.3.2", "external commit must not cover proposals by reference"
	case ValSem245:
		return "12.4.3.2", "external commit must contain a path"
	case ValSem246:
		return "12.4.3.2", "external commit signature must verify with the path leaf node's key"
	case ValSem300:
		return "12.4.3.3", "ratchet tree must not have trailing blank nodes"
	case ValSem400:
		return "8.6", "number of stored resumption PSK epochs is bounded"
	case ValSem401:
		return "8.4", "PreSharedKeyID nonce must be KDF.Nh bytes"
	case ValSem402:
		return "12.1.4", "PSK must be external or resumption with usage application"
	case ValSem403:
		return "12.2", "PreSharedKeyIDs of a proposal list must be unique"
	case RuleCredential:
		return "5.3.1", "credential must be valid"
	case RuleLeafNodeSignature:
		return "7.3", "leaf node signature must verify"
	case RuleLeafNodeSource:
		return "7.3", "leaf node source must match its use"
	case RuleLeafNodeLifetime:
		return "7.3", "leaf node lifetime must be acceptable and contain the current time"
	case RuleLeafNodeCapabilities:
		return "7.2", "leaf node capabilities must list the version and cipher suite"
	case RuleLeafNodeExtensions:
		return "7.3", "leaf node extensions must be listed in its capabilities"
	case RuleLeafNodeCredentialType:
		return "7.2", "credential type must be listed in the capabilities"
	case RuleLeafNodeKeys:
		return "10", "leaf node keys must be valid for the cipher suite"
	case RuleKeyPackageVersion:
		return "10.1", "key package protocol version must be supported"
	case RuleKeyPackageCipherSuite:
		return "10.1", "key package cipher suite must be supported"
	case RuleKeyPackageInitKey:
		return "10", "init key must be valid for the cipher suite"
	case RuleKeyPackageSignature:
		return "10.1", "key package signature must verify"
	case RuleKeyPackageExtensions:
		return "10", "key package extensions must be listed in the capabilities"
	case RuleExtensionsUnique:
		return "13.4", "extension types in a list must be unique"
	case RuleLimit:
		return "", "message exceeds the member's Limits"
	case RuleCredentialSuccessor:
		return "5.3.1", "a replaced credential's successor must keep an acceptable identity"
	}
	if sec, desc, ok := ruleSection(r); ok {
		return sec, desc
	}
	return "", "rule " + string(r)
}

// Section returns the section of RFC 9420 that states r, such as "10.1", or
// "" for a rule this file does not describe. (A new Rule gets its section
// and description as a case of info.)
func (r Rule) Section() string { s, _ := r.info(); return s }

// Description returns a one-line statement of r.
func (r Rule) Description() string { _, d := r.info(); return d }

// Error returns "mls: <code> (RFC 9420 §<section>): <description>".
func (r Rule) Error() string {
	s, d := r.info()
	return formatRule(r, s, d)
}

// formatRule formats a rule failure, leaving out an unknown section.
func formatRule(r Rule, section, msg string) string {
	if section == "" {
		return fmt.Sprintf("mls: %s: %s", string(r), msg)
	}
	return fmt.Sprintf("mls: %s (RFC 9420 §%s): %s", string(r), section, msg)
}

// Is reports whether target is ErrValidation.
func (r Rule) Is(target error) bool { return target == ErrValidation }

// Errorf returns a *ValidationError for r whose message is formatted as by
// fmt.Errorf; an error operand of a %w verb becomes its Err.
func (r Rule) Errorf(format string, args ...any) *ValidationError {
	e := fmt.Errorf(format, args...)
	var wrapped error
	switch u := e.(type) {
	case interface{ Unwrap() error }:
		wrapped = u.Unwrap()
	case interface{ Unwrap() []error }:
		wrapped = errors.Join(u.Unwrap()...)
	}
	return &ValidationError{Code: r, Section: r.Section(), Msg: e.Error(), Err: wrapped}
}

// ValidationError reports a violated validation rule. It matches
// ErrValidation, the Rule of its Code, and any *ValidationError with the same
// Code with errors.Is; errors.As extracts it to read the fields.
type ValidationError struct {
	Code    Rule   // the rule, such as ValSem104
	Section string // the RFC 9420 section, such as "10.1"
	Msg     string // what was found, such as "init_key equals encryption_key"
	Err     error  // the underlying error, if any (such as providers.ErrInvalidSignature)
}

// Error returns "mls: <code> (RFC 9420 §<section>): <msg>".
func (e *ValidationError) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = e.Code.Description()
		if e.Err != nil {
			msg += ": " + e.Err.Error()
		}
	}
	return formatRule(e.Code, e.Section, msg)
}

// Unwrap returns Err.
func (e *ValidationError) Unwrap() error { return e.Err }

// Is reports whether target is ErrValidation, the Rule e.Code, or a
// *ValidationError with the same Code.
func (e *ValidationError) Is(target error) bool {
	switch t := target.(type) {
	case Rule:
		return t == e.Code
	case *ValidationError:
		return t != nil && t.Code == e.Code
	}
	return target == ErrValidation
}
