package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/leafnode"
	"github.com/mlskit/mlskit/providers"
)

// ValidationOptions are the parameters of ValidateKeyPackage and
// ValidateLeafNode. The zero value (or a nil pointer) validates against the
// current time, DefaultMaxLifetime and BasicCredentialValidator, and accepts
// any cipher suite the provider implements.
type ValidationOptions struct {
	// CipherSuite and Version are the group's (RFC 9420 §10.1); when set, a
	// KeyPackage of another suite or version fails with RuleAddSuiteOrVersion.
	CipherSuite codec.CipherSuite
	Version     codec.ProtocolVersion
	// Now is the clock for lifetimes; nil means time.Now.
	Now func() time.Time
	// MaxLifetime bounds not_after - not_before (§7.2); zero means
	// DefaultMaxLifetime, negative means no bound.
	MaxLifetime time.Duration
	// IgnoreLifetime skips the lifetime check, which §7.3 only recommends
	// for leaf nodes received in messages (they may have expired in
	// transit).
	IgnoreLifetime bool
	// CredentialValidator is the application's Authentication Service;
	// nil means BasicCredentialValidator.
	CredentialValidator CredentialValidator
}

func (o *ValidationOptions) now() time.Time {
	if o != nil && o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// LeafNodeContext says where a LeafNode appears (RFC 9420 §7.3): its
// expected leaf_node_source and, for the update and commit sources, the
// group id and leaf index its signature covers (§7.2 LeafNodeTBS).
type LeafNodeContext struct {
	Source    codec.LeafNodeSource
	GroupID   []byte
	LeafIndex uint32
}

// ValidateLeafNode checks the rules of RFC 9420 §7.3 that concern a LeafNode
// on its own, in this order:
//
//   - leaf_node_source is ctx.Source (RuleLeafNodeSource), and a key_package
//     leaf has a lifetime (RuleLeafNodeLifetime);
//   - the capabilities list the protocol version mls10
//     (RuleLeafNodeCapabilities) and the credential's type
//     (RuleLeafNodeCredentialType); not necessarily the group's cipher
//     suite, which §7.3 does not require (other implementations omit it);
//   - no extension type appears twice (RuleExtensionsUnique) and every
//     non-default extension is listed in the capabilities
//     (RuleLeafNodeExtensions);
//   - for the key_package source, unless opts.IgnoreLifetime, the current
//     time lies in the lifetime and the lifetime is at most
//     opts.MaxLifetime long (RuleLeafNodeLifetime);
//   - the signature over LeafNodeTBS verifies with signature_key
//     (RuleLeafNodeSignature; RuleLeafNodeKeys if the key does not decode);
//   - encryption_key is an HPKE public key of the suite (RuleLeafNodeKeys);
//   - the credential is accepted by the CredentialValidator (RuleCredential).
//
// Rules that depend on the group — required capabilities, uniqueness of keys
// among members, credential types in use — are the group logic's.
func ValidateLeafNode(cs providers.CipherSuite, leaf *codec.LeafNode, ctx LeafNodeContext, opts *ValidationOptions) error {
	return validateLeafNode(cs, leaf, ctx, opts, false)
}

// validateLeafNode is ValidateLeafNode; signatureVerified skips the
// signature, which the caller has verified on these exact bytes.
func validateLeafNode(cs providers.CipherSuite, leaf *codec.LeafNode, ctx LeafNodeContext, opts *ValidationOptions, signatureVerified bool) error {
	if cs == nil || leaf == nil {
		return fmt.Errorf("%w: nil cipher suite or leaf node", ErrInvalidArgument)
	}
	if err := checkLeafNodeStatic(cs.ID(), leaf, ctx, opts); err != nil {
		return err
	}
	if !signatureVerified {
		if err := leafnode.Verify(cs, leaf, ctx.GroupID, ctx.LeafIndex, nil); err != nil {
			if errors.Is(err, leafnode.ErrEncoding) {
				return RuleLeafNodeSignature.Errorf("leaf node does not encode: %w", err)
			}
			if errors.Is(err, providers.ErrInvalidPublicKey) {
				return RuleLeafNodeKeys.Errorf("signature_key is not a key of %v: %w", cs.ID(), err)
			}
			return RuleLeafNodeSignature.Errorf("leaf node signature: %w", err)
		}
	}
	if err := checkHPKEPublicKey(cs, leaf.EncryptionKey); err != nil {
		return RuleLeafNodeKeys.Errorf("encryption_key is not an HPKE key of %v: %w", cs.ID(), err)
	}
	var v CredentialValidator
	if opts != nil {
		v = opts.CredentialValidator
	}
	return validateCredential(v, cs.ID(), &leaf.Credential, leaf.SignatureKey)
}

// checkLeafNodeStatic runs the checks of ValidateLeafNode that need no
// cryptography.
func checkLeafNodeStatic(suite codec.CipherSuite, leaf *codec.LeafNode, ctx LeafNodeContext, opts *ValidationOptions) error {
	if leaf.LeafNodeSource != ctx.Source {
		return RuleLeafNodeSource.Errorf("leaf_node_source is %v, want %v", leaf.LeafNodeSource, ctx.Source)
	}
	if leaf.LeafNodeSource == codec.LeafNodeSourceKeyPackage && leaf.Lifetime == nil {
		return RuleLeafNodeLifetime.Errorf("key_package leaf node without a lifetime")
	}
	c := &leaf.Capabilities
	if !slices.Contains(c.Versions, codec.ProtocolVersionMLS10) {
		return RuleLeafNodeCapabilities.Errorf("capabilities do not list protocol version mls10")
	}
	if t := leaf.Credential.CredentialType; !slices.Contains(c.Credentials, t) {
		return RuleLeafNodeCredentialType.Errorf("credential type %v is not listed in the capabilities", t)
	}
	if t, dup := duplicateExtension(leaf.Extensions); dup {
		return RuleExtensionsUnique.Errorf("leaf node extension %v appears twice", t)
	}
	for i := range leaf.Extensions {
		t := leaf.Extensions[i].ExtensionType
		if !isDefaultExtension(t) && !slices.Contains(c.Extensions, t) {
			return RuleLeafNodeExtensions.Errorf("extension %v is not listed in the capabilities", t)
		}
	}
	if leaf.LeafNodeSource == codec.LeafNodeSourceKeyPackage && (opts == nil || !opts.IgnoreLifetime) {
		if err := checkLifetime(leaf.Lifetime, opts); err != nil {
			return err
		}
	}
	return nil
}

func checkLifetime(lt *codec.Lifetime, opts *ValidationOptions) error {
	if lt.NotAfter < lt.NotBefore {
		return RuleLeafNodeLifetime.Errorf("not_after %d precedes not_before %d", lt.NotAfter, lt.NotBefore)
	}
	max := DefaultMaxLifetime
	if opts != nil && opts.MaxLifetime != 0 {
		max = opts.MaxLifetime
	}
	if max > 0 && lt.NotAfter-lt.NotBefore > uint64(max/time.Second) {
		return RuleLeafNodeLifetime.Errorf("lifetime of %ds exceeds the maximum of %v", lt.NotAfter-lt.NotBefore, max)
	}
	now := opts.now().Unix()
	if now < 0 {
		now = 0
	}
	switch n := uint64(now); {
	case n < lt.NotBefore:
		return RuleLeafNodeLifetime.Errorf("not valid before %s", time.Unix(int64(min(lt.NotBefore, 1<<62)), 0).UTC().Format(time.RFC3339))
	case n > lt.NotAfter:
		return RuleLeafNodeLifetime.Errorf("expired at %s", time.Unix(int64(min(lt.NotAfter, 1<<62)), 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// duplicateExtension returns the first extension type that appears twice in
// exts (RFC 9420 §13.4).
func duplicateExtension(exts []codec.Extension) (codec.ExtensionType, bool) {
	for i := range exts {
		for j := range i {
			if exts[i].ExtensionType == exts[j].ExtensionType {
				return exts[i].ExtensionType, true
			}
		}
	}
	return 0, false
}

// checkHPKEPublicKey checks that pub deserializes as an HPKE public key of
// cs (RFC 9180 §7.1.1). It used to encrypt to the key, which cost two HPKE
// seals per KeyPackage; §10.1 asks for no more than a valid key.
func checkHPKEPublicKey(cs providers.CipherSuite, pub []byte) error {
	return cs.ValidateHPKEPublicKey(pub)
}

// ValidateKeyPackage validates kp as RFC 9420 §10.1 asks before it is used
// to add a client, in this order:
//
//   - the protocol version is opts.Version if set (RuleAddSuiteOrVersion) and mls10
//     (RuleKeyPackageVersion);
//   - the cipher suite is opts.CipherSuite if set (RuleAddSuiteOrVersion) and one p
//     implements (RuleKeyPackageCipherSuite);
//   - init_key differs from leaf_node.encryption_key (RuleInitKeyIsEncryptionKey);
//   - no KeyPackage extension type appears twice (RuleExtensionsUnique)
//     and every non-default one this library knows (last_resort) is
//     listed in the leaf node's capabilities (RuleKeyPackageExtensions);
//     unknown ones, GREASE values among them, are ignored (§10);
//   - the leaf node's static rules of ValidateLeafNode with source
//     key_package, including the lifetime against opts.Now;
//   - the signature over KeyPackageTBS verifies with
//     leaf_node.signature_key (RuleKeyPackageSignature);
//   - the leaf node's signature, keys and credential (ValidateLeafNode);
//   - init_key is an HPKE public key of the suite (RuleKeyPackageInitKey).
//
// Every failure is a *ValidationError naming the rule. Uniqueness of keys
// among the group's members and proposals (RuleAddSignatureKeyDuplicate, RuleAddEncryptionKeyDuplicate, RuleAddInitKeyDuplicate) and required
// capabilities (RuleAddCapabilities) are the group logic's.
func ValidateKeyPackage(p providers.Provider, kp *codec.KeyPackage, opts *ValidationOptions) error {
	return validateKeyPackage(p, kp, false, opts)
}

// validateKeyPackage is ValidateKeyPackage; signaturesVerified skips the
// signatures of the KeyPackage and of its leaf node, which the caller has
// verified on these exact bytes.
func validateKeyPackage(p providers.Provider, kp *codec.KeyPackage, signaturesVerified bool, opts *ValidationOptions) error {
	if p == nil || kp == nil {
		return fmt.Errorf("%w: nil provider or key package", ErrInvalidArgument)
	}
	if opts != nil && opts.Version != 0 && kp.Version != opts.Version {
		return RuleAddSuiteOrVersion.Errorf("key package version %v, group version %v", kp.Version, opts.Version)
	}
	if kp.Version != codec.ProtocolVersionMLS10 {
		return RuleKeyPackageVersion.Errorf("key package version %v is not mls10", kp.Version)
	}
	if opts != nil && opts.CipherSuite != 0 && kp.CipherSuite != opts.CipherSuite {
		return RuleAddSuiteOrVersion.Errorf("key package cipher suite %v, group cipher suite %v", kp.CipherSuite, opts.CipherSuite)
	}
	cs, err := p.CipherSuite(kp.CipherSuite)
	if err != nil {
		return RuleKeyPackageCipherSuite.Errorf("cipher suite %v: %w", kp.CipherSuite, err)
	}
	leaf := &kp.LeafNode
	if bytes.Equal(kp.InitKey, leaf.EncryptionKey) {
		return RuleInitKeyIsEncryptionKey.Errorf("init_key equals leaf_node.encryption_key")
	}
	if t, dup := duplicateExtension(kp.Extensions); dup {
		return RuleExtensionsUnique.Errorf("key package extension %v appears twice", t)
	}
	for i := range kp.Extensions {
		// Unknown types (GREASE among them) are ignored (§10: "MUST be
		// ignored"); a known non-default one must be listed.
		t := kp.Extensions[i].ExtensionType
		if !isDefaultExtension(t) && isKnownExtension(t) && !slices.Contains(leaf.Capabilities.Extensions, t) {
			return RuleKeyPackageExtensions.Errorf("key package extension %v is not listed in the capabilities", t)
		}
	}
	ctx := LeafNodeContext{Source: codec.LeafNodeSourceKeyPackage}
	if err := checkLeafNodeStatic(kp.CipherSuite, leaf, ctx, opts); err != nil {
		return err
	}
	if !signaturesVerified {
		tbs := codec.KeyPackageTBS{Version: kp.Version, CipherSuite: kp.CipherSuite, InitKey: kp.InitKey, LeafNode: kp.LeafNode, Extensions: kp.Extensions}
		tbsBytes, err := tbs.Marshal()
		if err != nil {
			return RuleKeyPackageSignature.Errorf("key package does not encode: %w", err)
		}
		if err := providers.VerifyWithLabel(cs, leaf.SignatureKey, labelKeyPackageTBS, tbsBytes, kp.Signature); err != nil {
			if errors.Is(err, providers.ErrInvalidPublicKey) {
				return RuleLeafNodeKeys.Errorf("signature_key is not a key of %v: %w", cs.ID(), err)
			}
			return RuleKeyPackageSignature.Errorf("key package signature: %w", err)
		}
	}
	if err := validateLeafNode(cs, leaf, ctx, opts, signaturesVerified); err != nil {
		return err
	}
	if err := checkHPKEPublicKey(cs, kp.InitKey); err != nil {
		return RuleKeyPackageInitKey.Errorf("init_key is not an HPKE key of %v: %w", cs.ID(), err)
	}
	return nil
}
