// Package mls is the public API of mlskit, an implementation of the
// Messaging Layer Security protocol (RFC 9420): identities and key
// packages, groups, proposals, commits, welcomes and message processing.
//
// On the wire side mls speaks only in the types that package codec generates
// from the RFC's own struct definitions; cryptography, randomness and
// persistence come from the interfaces of package providers
// (providers.Provider, providers.Storage), never from a fixed
// implementation.
//
// # Identities and key packages
//
// A client holds a [Credential] (basic, or X.509 checked by an application
// [CredentialValidator]) and a [SignatureKeyPair], stored and loaded through
// a providers.Storage. A [KeyPackageBuilder] makes signed key packages
// (RFC 9420 §10) whose private keys go to storage and are deleted when a
// Welcome consumes them, unless the key package is a last-resort one
// ([ConsumeKeyPackage]). [ParseKeyPackage] reads a peer's key package as
// it arrives (an MLSMessage or bare); [ValidateKeyPackage] checks it as
// §10.1 requires.
//
// # Wire bytes and decoded values
//
// What arrives from the network enters as the bytes it arrived in: a
// message ([Group.ProcessMessage]), a Welcome ([ProcessWelcome],
// [JoinFromWelcome]), a GroupInfo ([JoinByExternalCommit],
// [Client.VerifyGroupInfoMessage]); what mls sends leaves as bytes
// ([CommitResult], [Group.SendApplicationMessage]). A name ending in
// Message takes or returns the bytes of an MLSMessage (RFC 9420 §6); a
// decoded value is passed as its codec type ([VerifyGroupInfo] takes a
// *codec.GroupInfo). Key packages are the one input an application reads
// before using it (whom does it add?): [ParseKeyPackage] turns the bytes
// of one into the *codec.KeyPackage that [Group.AddMembers],
// [Group.ProposeAdd] and [CommitOptions] take, and those validate it for
// the group.
//
// # Groups
//
// A [Client] (provider, storage, signer, credential) creates a group with
// [NewGroup] (RFC 9420 §11), configured by a [GroupConfig] (its own
// settings, as any member's) and [CreateOptions] (what only a creator
// chooses), or joins one with a GroupConfig: from a Welcome in two steps, [ProcessWelcome] → [ProcessedWelcome.Stage]
// → [StagedWelcome.Join] (or [JoinFromWelcome]), or by external Commit
// ([JoinByExternalCommit]). A member changes the group with Commits
// ([Group.Commit], [Group.AddMembers], [Group.RemoveMembers],
// [Group.SelfUpdate]), which stay pending until [Group.MergePendingCommit]
// (or [Group.ClearPendingCommit]); proposes changes for others to commit
// ([Group.ProposeAdd], [Group.LeaveGroup], …); and sends application
// messages ([Group.SendApplicationMessage]). [LoadGroup] restores a group
// from storage.
//
// # Processing chain
//
// Incoming bytes pass through distinct typed stages, so that no step can be
// skipped:
//
//	bytes → codec.MLSMessage → unprotect → verify → validate → ProcessedMessage
//	                                                             │ (application inspects)
//	                              group state ◀── merge ── StagedCommit
//
// [Group.ProcessMessage] returns a [ProcessedMessage] holding an
// application message, a proposal (kept with [Group.StoreProposal]) or a
// [StagedCommit] (installed with [Group.MergeStagedCommit]); only those two
// calls change the group (processing only consumes the sender-ratchet
// generation of an encrypted message, RFC 9420 §9.2; see [Group.Process]).
// Every change is written to storage as one transaction before it is made
// in memory, so a failed step leaves the group exactly as it was, in memory
// and in storage, and can be retried; the group can be loaded by its group
// id.
//
// # Errors
//
// Errors are values to branch on with errors.Is and errors.As. Every
// validation failure is a *[ValidationError] whose Code is a [Rule]
// ([RuleWrongGroupID], [RuleKeyPackageSignature], …; rules.go lists them
// all, each with its RFC 9420 section and a description). A Rule's value is
// the id of OpenMLS's validation catalogue ("ValSem104") where it has one,
// otherwise an mlskit name; errors.Is(err, mls.RuleInitKeyIsEncryptionKey)
// and errors.Is(err, mls.ErrValidation) both work. No input from the
// network causes a panic.
//
// # Secrets
//
// Secrets are erased from memory and storage as soon as the protocol allows
// (RFC 9420 §9.2): consumed key packages, past epochs beyond the configured
// window, used ratchet keys.
package mls
