package mls

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/framing"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/mls/internal/treekem"
)

// This file is the validation catalogue: every rule mls checks, once, with
// the section of RFC 9420 that states it and a one-line description (the
// table in Rule.info), and the translation of the internal packages' errors
// into rules.

// Rule is the stable identifier of a validation rule. Its value is the id
// of OpenMLS's validation catalogue ("ValSem104") where the catalogue
// numbers the rule, otherwise an mlskit name ("LeafNodeSignature"). A Rule
// is an error that matches ErrValidation and every *ValidationError with the
// same Code, so callers write
//
//	if errors.Is(err, mls.RuleInitKeyIsEncryptionKey) { ... }
//
// Section and Description tell the rule's source and meaning; Error returns
// both.
type Rule string

// Message framing (RFC 9420 §6; OpenMLS ValSem002–ValSem011).
const (
	RuleWrongGroupID           Rule = "ValSem002"
	RuleWrongEpoch             Rule = "ValSem003"
	RuleSenderLeafBlank        Rule = "ValSem004"
	RuleApplicationNotPrivate  Rule = "ValSem005"
	RuleDecryption             Rule = "ValSem006"
	RuleMembershipTagMissing   Rule = "ValSem007"
	RuleMembershipTag          Rule = "ValSem008"
	RuleConfirmationTagMissing Rule = "ValSem009"
	RuleSignature              Rule = "ValSem010"
	RulePaddingNotZero         Rule = "ValSem011"
	RuleWireFormatPolicy       Rule = "WireFormatPolicy"
	RuleSenderType             Rule = "SenderType"
	RuleLimit                  Rule = "Limit"
)

// Proposals, alone and as covered by a Commit (RFC 9420 §12.1, §12.2;
// OpenMLS ValSem101–ValSem113).
const (
	RuleAddSignatureKeyDuplicate     Rule = "ValSem101"
	RuleAddInitKeyDuplicate          Rule = "ValSem102"
	RuleAddEncryptionKeyDuplicate    Rule = "ValSem103"
	RuleInitKeyIsEncryptionKey       Rule = "ValSem104"
	RuleAddSuiteOrVersion            Rule = "ValSem105"
	RuleAddCapabilities              Rule = "ValSem106"
	RuleRemoveDuplicate              Rule = "ValSem107"
	RuleRemoveNotMember              Rule = "ValSem108"
	RuleUpdateCapabilities           Rule = "ValSem109"
	RuleUpdateEncryptionKeyDuplicate Rule = "ValSem110"
	RuleCommitterOwnUpdate           Rule = "ValSem111"
	RuleUpdateNotMember              Rule = "ValSem112"
	RuleProposalTypeUnsupported      Rule = "ValSem113"
	RuleExternalSender               Rule = "ExternalSender"
	RuleProposalSender               Rule = "ProposalSender"
	RuleProposalRef                  Rule = "ProposalRef"
	RuleSameLeaf                     Rule = "UpdateRemoveSameLeaf"
	RuleReInitAlone                  Rule = "ReInitAlone"
	RuleReInitVersion                Rule = "ReInitVersion"
	RuleExternalInit                 Rule = "ExternalInit"
	RuleSelfRemoveByReference        Rule = "SelfRemoveByReference"
)

// Commits (RFC 9420 §12.4; OpenMLS ValSem200–ValSem209, and ValSem240–
// ValSem246 for external Commits; the catalogue has no ValSem243).
const (
	RuleCommitterRemoved                  Rule = "ValSem200"
	RulePathRequired                      Rule = "ValSem201"
	RulePathLength                        Rule = "ValSem202"
	RulePathDecryption                    Rule = "ValSem203"
	RulePathKeyMismatch                   Rule = "ValSem204"
	RuleConfirmationTag                   Rule = "ValSem205"
	RulePathLeafEncryptionKeyDuplicate    Rule = "ValSem206"
	RulePathEncryptionKeyDuplicate        Rule = "ValSem207"
	RuleGroupContextExtensionsTwice       Rule = "ValSem208"
	RuleGroupContextExtensionsUnsupported Rule = "ValSem209"
	RuleExternalCommitNoExternalInit      Rule = "ValSem240"
	RuleExternalCommitExternalInitTwice   Rule = "ValSem241"
	RuleExternalCommitProposalType        Rule = "ValSem242"
	RuleExternalCommitByReference         Rule = "ValSem244"
	RuleExternalCommitNoPath              Rule = "ValSem245"
	RuleExternalCommitSignature           Rule = "ValSem246"
	RuleNotCommitter                      Rule = "OwnCommit"
)

// Ratchet tree, pre-shared keys, credentials, leaf nodes, key packages and
// extensions (RFC 9420 §5.3, §7, §8.4, §10, §13.4; OpenMLS ValSem300,
// ValSem400–ValSem403).
const (
	RuleTreeTrailingBlank      Rule = "ValSem300"
	RuleParentHash             Rule = "ParentHash"
	RuleResumptionPSKEpochs    Rule = "ValSem400"
	RulePSKNonceLength         Rule = "ValSem401"
	RulePSKType                Rule = "ValSem402"
	RulePSKDuplicate           Rule = "ValSem403"
	RulePSKAvailable           Rule = "PSKAvailable"
	RuleCredential             Rule = "Credential"
	RuleCredentialSuccessor    Rule = "CredentialSuccessor"
	RuleLeafNodeSignature      Rule = "LeafNodeSignature"
	RuleLeafNodeSource         Rule = "LeafNodeSource"
	RuleLeafNodeLifetime       Rule = "LeafNodeLifetime"
	RuleLeafNodeCapabilities   Rule = "LeafNodeCapabilities"
	RuleLeafNodeExtensions     Rule = "LeafNodeExtensions"
	RuleLeafNodeCredentialType Rule = "LeafNodeCredentialType"
	RuleLeafNodeKeys           Rule = "LeafNodeKeys"
	RuleKeyPackageVersion      Rule = "KeyPackageVersion"
	RuleKeyPackageCipherSuite  Rule = "KeyPackageCipherSuite"
	RuleKeyPackageInitKey      Rule = "KeyPackageInitKey"
	RuleKeyPackageSignature    Rule = "KeyPackageSignature"
	RuleKeyPackageExtensions   Rule = "KeyPackageExtensions"
	RuleExtensionsUnique       Rule = "ExtensionsUnique"
)

// info is the catalogue: the section that states r — of RFC 9420 ("10.1")
// or, for a rule of the extensions draft, that draft and its section — and
// a one-line description. ok is false for a value that is not a rule. (A
// duplicate case does not compile, so each rule is here once.)
func (r Rule) info() (section, desc string, ok bool) {
	switch r {
	// Message framing.
	case RuleWrongGroupID:
		return "6", "message group id must match the group", true
	case RuleWrongEpoch:
		return "6", "message epoch must match the group", true
	case RuleSenderLeafBlank:
		return "6", "member sender must point to a non-blank leaf", true
	case RuleApplicationNotPrivate:
		return "6.2", "application messages must use PrivateMessage", true
	case RuleDecryption:
		return "6.3", "PrivateMessage must decrypt", true
	case RuleMembershipTagMissing:
		return "6.2", "PublicMessage from a member must carry a membership tag", true
	case RuleMembershipTag:
		return "6.2", "membership tag must verify", true
	case RuleConfirmationTagMissing:
		return "6.1", "Commit must carry a confirmation tag", true
	case RuleSignature:
		return "6.1", "signature must verify", true
	case RulePaddingNotZero:
		return "6.3.1", "PrivateMessageContent padding must be all zero", true
	case RuleWireFormatPolicy:
		return "6", "wire format not allowed by the group's policy", true
	case RuleSenderType:
		return "6.1", "sender type not allowed for the content", true
	case RuleLimit:
		return "16.11", "message exceeds the member's Limits", true

	// Proposals.
	case RuleAddSignatureKeyDuplicate:
		return "12.2", "Add: signature key must be unique among proposals and members", true
	case RuleAddInitKeyDuplicate:
		return "10", "Add: init key must be unique among proposals", true
	case RuleAddEncryptionKeyDuplicate:
		return "7.3", "Add: encryption key must be unique among proposals and members", true
	case RuleInitKeyIsEncryptionKey:
		return "10.1", "init key and encryption key must differ", true
	case RuleAddSuiteOrVersion:
		return "10.1", "cipher suite and protocol version must match the group", true
	case RuleAddCapabilities:
		return "11.1", "Add: key package must support the required capabilities", true
	case RuleRemoveDuplicate:
		return "12.2", "Remove: removed member must be unique among proposals", true
	case RuleRemoveNotMember:
		return "12.1.3", "Remove: removed member must be a member", true
	case RuleUpdateCapabilities:
		return "11.1", "Update: leaf node must support the required capabilities", true
	case RuleUpdateEncryptionKeyDuplicate:
		return "7.3", "Update: encryption key must be unique among proposals and members", true
	case RuleCommitterOwnUpdate:
		return "12.2", "Update: committer must not cover its own update", true
	case RuleUpdateNotMember:
		return "12.1.2", "Update: sender of a standalone update must be a member", true
	case RuleProposalTypeUnsupported:
		return "12.2", "proposal type must be supported by all members", true
	case RuleExternalSender:
		return "12.1.8.1", "external sender must be listed in external_senders", true
	case RuleProposalSender:
		return "12.1", "proposal type not allowed from this sender", true
	case RuleProposalRef:
		return "12.4.2", "referenced proposal must be in the proposal store", true
	case RuleSameLeaf:
		return "12.2", "at most one Update or Remove per leaf", true
	case RuleReInitAlone:
		return "12.2", "ReInit must be the only proposal", true
	case RuleReInitVersion:
		return "12.1.5", "ReInit must not lower the protocol version", true
	case RuleExternalInit:
		return "12.2", "ExternalInit only in external commits", true
	case RuleSelfRemoveByReference:
		return "draft-ietf-mls-extensions, SelfRemove", "SelfRemove only by reference", true

	// Commits.
	case RuleCommitterRemoved:
		return "12.2", "commit must not cover a remove of the committer", true
	case RulePathRequired:
		return "12.4", "path must be present when a proposal requires it", true
	case RulePathLength:
		return "12.4.2", "path must have the right length", true
	case RulePathDecryption:
		return "12.4.2", "path secrets must decrypt", true
	case RulePathKeyMismatch:
		return "12.4.2", "path public keys must match the derived private keys", true
	case RuleConfirmationTag:
		return "12.4.2", "confirmation tag must verify", true
	case RulePathLeafEncryptionKeyDuplicate:
		return "7.3", "path leaf node encryption key must be unique among proposals and members", true
	case RulePathEncryptionKeyDuplicate:
		return "7.3", "path encryption keys must be unique among proposals and members", true
	case RuleGroupContextExtensionsTwice:
		return "12.2", "at most one GroupContextExtensions proposal per commit", true
	case RuleGroupContextExtensionsUnsupported:
		return "12.1.7", "GroupContextExtensions must be supported by all members", true
	case RuleExternalCommitNoExternalInit:
		return "12.2", "external commit must cover an inline ExternalInit proposal", true
	case RuleExternalCommitExternalInitTwice:
		return "12.2", "external commit must cover at most one ExternalInit proposal", true
	case RuleExternalCommitProposalType:
		return "12.2", "external commit may only cover inline ExternalInit, Remove, PreSharedKey (and SelfRemove) proposals", true
	case RuleExternalCommitByReference:
		return "12.4.3.2", "external commit must not cover proposals by reference", true
	case RuleExternalCommitNoPath:
		return "12.4.3.2", "external commit must contain a path", true
	case RuleExternalCommitSignature:
		return "12.4.3.2", "external commit signature must verify with the path leaf node's key", true
	case RuleNotCommitter:
		return "12.4.2", "own commits are merged, not processed", true

	// Tree, PSKs, credentials, leaf nodes, key packages, extensions.
	case RuleTreeTrailingBlank:
		return "12.4.3.3", "ratchet tree must not have trailing blank nodes", true
	case RuleParentHash:
		return "7.9.2", "parent hashes must verify", true
	case RuleResumptionPSKEpochs:
		return "8.6", "number of stored resumption PSK epochs is bounded", true
	case RulePSKNonceLength:
		return "8.4", "PreSharedKeyID nonce must be KDF.Nh bytes", true
	case RulePSKType:
		return "12.1.4", "PSK must be external or resumption with usage application", true
	case RulePSKDuplicate:
		return "12.2", "PreSharedKeyIDs of a proposal list must be unique", true
	case RulePSKAvailable:
		return "12.4.2", "PSK must be available", true
	case RuleCredential:
		return "5.3.1", "credential must be valid", true
	case RuleCredentialSuccessor:
		return "5.3.1", "a replaced credential's successor must keep an acceptable identity", true
	case RuleLeafNodeSignature:
		return "7.3", "leaf node signature must verify", true
	case RuleLeafNodeSource:
		return "7.3", "leaf node source must match its use", true
	case RuleLeafNodeLifetime:
		return "7.3", "leaf node lifetime must be acceptable and contain the current time", true
	case RuleLeafNodeCapabilities:
		return "7.2", "leaf node capabilities must list the version and cipher suite", true
	case RuleLeafNodeExtensions:
		return "7.3", "leaf node extensions must be listed in its capabilities", true
	case RuleLeafNodeCredentialType:
		return "7.2", "credential type must be listed in the capabilities", true
	case RuleLeafNodeKeys:
		return "10", "leaf node keys must be valid for the cipher suite", true
	case RuleKeyPackageVersion:
		return "10.1", "key package protocol version must be supported", true
	case RuleKeyPackageCipherSuite:
		return "10.1", "key package cipher suite must be supported", true
	case RuleKeyPackageInitKey:
		return "10", "init key must be valid for the cipher suite", true
	case RuleKeyPackageSignature:
		return "10.1", "key package signature must verify", true
	case RuleKeyPackageExtensions:
		return "10", "key package extensions must be listed in the capabilities", true
	case RuleExtensionsUnique:
		return "13.4", "extension types in a list must be unique", true
	}
	return "", "rule " + string(r), false
}

// Section returns the section that states r: of RFC 9420, such as "10.1",
// or of the extensions draft, naming it; "" for a value that is not a rule.
func (r Rule) Section() string { s, _, _ := r.info(); return s }

// Description returns a one-line statement of r.
func (r Rule) Description() string { _, d, _ := r.info(); return d }

// Error returns "mls: <code> (RFC 9420 §<section>): <description>".
func (r Rule) Error() string {
	s, d, _ := r.info()
	return formatRule(r, s, d)
}

// formatRule formats a rule failure, leaving out an unknown section.
func formatRule(r Rule, section, msg string) string {
	switch {
	case section == "":
		return fmt.Sprintf("mls: %s: %s", string(r), msg)
	case section[0] < '0' || section[0] > '9':
		return fmt.Sprintf("mls: %s (%s): %s", string(r), section, msg)
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
	Code    Rule   // the rule, such as RuleInitKeyIsEncryptionKey
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

// The internal packages report sentinel errors; these map them to rules.

// framingRule maps an error of package framing to its catalogue rule.
func framingRule(err error) error {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return err
	}
	switch {
	case errors.Is(err, framing.ErrWrongGroup):
		return RuleWrongGroupID.Errorf("%w", err)
	case errors.Is(err, framing.ErrWrongEpoch):
		return RuleWrongEpoch.Errorf("%w", err)
	case errors.Is(err, framing.ErrUnknownSender):
		return RuleSenderLeafBlank.Errorf("%w", err)
	case errors.Is(err, framing.ErrApplicationInPublic):
		return RuleApplicationNotPrivate.Errorf("%w", err)
	case errors.Is(err, framing.ErrSenderDataDecryption), errors.Is(err, framing.ErrContentDecryption),
		errors.Is(err, framing.ErrMalformedSenderData), errors.Is(err, secrettree.ErrLeafOutOfRange):
		return RuleDecryption.Errorf("%w", err)
	case errors.Is(err, codec.ErrNonZeroPadding):
		return RulePaddingNotZero.Errorf("%w", err)
	case errors.Is(err, codec.ErrTooManyElements):
		return RuleLimit.Errorf("%w", err)
	case errors.Is(err, framing.ErrMalformedContent):
		return RuleDecryption.Errorf("%w", err)
	case errors.Is(err, framing.ErrMembershipTag):
		return RuleMembershipTag.Errorf("%w", err)
	case errors.Is(err, framing.ErrSignature):
		return RuleSignature.Errorf("%w", err)
	case errors.Is(err, framing.ErrSenderType):
		return RuleSenderType.Errorf("%w", err)
	}
	var ge *secrettree.GenerationError
	if errors.As(err, &ge) {
		return RuleDecryption.Errorf("%w", err)
	}
	return fmt.Errorf("mls: %w", err)
}

// treeRule maps an error of package ratchettree to the validation rule of the
// proposal or path being checked.
func treeRule(err error, keyRule, capsRule Rule) error {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return err
	}
	switch {
	case errors.Is(err, ratchettree.ErrDuplicateEncryptionKey), errors.Is(err, ratchettree.ErrEncryptionKeyNotUpdated):
		return keyRule.Errorf("%w", err)
	case errors.Is(err, ratchettree.ErrDuplicateSignatureKey):
		return RuleAddSignatureKeyDuplicate.Errorf("%w", err)
	case errors.Is(err, ratchettree.ErrUnsupportedCapabilities):
		return capsRule.Errorf("%w", err)
	case errors.Is(err, ratchettree.ErrUnsupportedCredential):
		return capsRule.Errorf("%w", err)
	case errors.Is(err, ratchettree.ErrBadLeafSignature):
		return RuleLeafNodeSignature.Errorf("%w", err)
	case errors.Is(err, ratchettree.ErrLeafNodeSource):
		return RuleLeafNodeSource.Errorf("%w", err)
	case errors.Is(err, ratchettree.ErrLifetime):
		return RuleLeafNodeLifetime.Errorf("%w", err)
	case errors.Is(err, ratchettree.ErrInvalidCredential):
		return RuleCredential.Errorf("%w", err)
	case errors.Is(err, ratchettree.ErrParentHashMismatch):
		return RuleParentHash.Errorf("%w", err)
	}
	return fmt.Errorf("mls: %w", err)
}

// pathRule maps an error of package treekem to its catalogue rule.
func pathRule(err error) error {
	switch {
	case errors.Is(err, treekem.ErrPathLength), errors.Is(err, treekem.ErrCiphertextCount):
		return RulePathLength.Errorf("%w", err)
	case errors.Is(err, treekem.ErrDecryption), errors.Is(err, treekem.ErrNoPrivateKey):
		return RulePathDecryption.Errorf("%w", err)
	case errors.Is(err, treekem.ErrPublicKeyMismatch):
		return RulePathKeyMismatch.Errorf("%w", err)
	case errors.Is(err, treekem.ErrEncryptionKeyReuse):
		return RulePathEncryptionKeyDuplicate.Errorf("%w", err)
	case errors.Is(err, treekem.ErrLeafSignature):
		return RuleLeafNodeSignature.Errorf("%w", err)
	case errors.Is(err, treekem.ErrLeafNodeSource):
		return RuleLeafNodeSource.Errorf("%w", err)
	case errors.Is(err, treekem.ErrParentHash):
		return RuleParentHash.Errorf("%w", err)
	}
	return fmt.Errorf("mls: update path: %w", err)
}
