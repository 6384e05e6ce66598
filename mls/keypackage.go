package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/leafnode"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/providers"
)

// ExtensionTypeLastResort marks a KeyPackage as a last-resort KeyPackage that
// may be used more than once (RFC 9420 §10, §16.8): a KeyPackage extension
// with empty extension_data. The value 0x000A is the one of
// draft-ietf-mls-extensions-03 and the one OpenMLS uses; later drafts turned
// the marker into the last_resort_key_package component (0x0004) of an
// app_data_dictionary extension, which this release does not emit.
const ExtensionTypeLastResort codec.ExtensionType = 0x000A

// Defaults of KeyPackageBuilder and ValidationOptions.
const (
	// DefaultKeyPackageLifetime is how long a built KeyPackage is valid
	// after it is built.
	DefaultKeyPackageLifetime = 90 * 24 * time.Hour
	// DefaultNotBeforeSkew is how far in the past a built KeyPackage's
	// not_before lies, so that peers whose clocks lag still accept it.
	DefaultNotBeforeSkew = time.Hour
	// DefaultMaxLifetime is the longest total lifetime (not_after -
	// not_before) ValidateKeyPackage accepts by default (RFC 9420 §7.2:
	// applications must define one).
	DefaultMaxLifetime = 365 * 24 * time.Hour
)

// labelKeyPackageTBS is the label of a KeyPackage's signature (RFC 9420
// §10); a LeafNode's is leafnode.Label (§7.2).
const labelKeyPackageTBS = "KeyPackageTBS"

// isDefaultExtension reports whether t is one of the extension types that
// capabilities must not list (RFC 9420 §7.2).
func isDefaultExtension(t codec.ExtensionType) bool { return t >= 1 && t <= 5 }

// isKnownExtension reports whether this library knows extension type t:
// the RFC's and last_resort. Unknown KeyPackage extensions are ignored
// (RFC 9420 §10).
func isKnownExtension(t codec.ExtensionType) bool {
	return t.IsKnown() || t == ExtensionTypeLastResort
}

// isDefaultProposal reports whether t is one of the proposal types that
// capabilities must not list (RFC 9420 §7.2).
func isDefaultProposal(t codec.ProposalType) bool { return t >= 1 && t <= 7 }

// DefaultCapabilities returns the capabilities this library supports with
// provider p (RFC 9420 §7.2): protocol version mls10, every cipher suite of
// p, the non-default extension types it implements (last_resort), the
// non-default proposal types it implements (self_remove), and the basic and
// x509 credential types.
func DefaultCapabilities(p providers.Provider) codec.Capabilities {
	return codec.Capabilities{
		Versions:     []codec.ProtocolVersion{codec.ProtocolVersionMLS10},
		CipherSuites: p.CipherSuites(),
		Extensions:   []codec.ExtensionType{ExtensionTypeLastResort},
		Proposals:    []codec.ProposalType{codec.ProposalTypeSelfRemove},
		Credentials:  supportedCredentialTypes(),
	}
}

// KeyPackageBuilder holds the parameters of a KeyPackage (RFC 9420 §10).
// Provider, CipherSuite, Credential and Signer are required; the zero value
// of every other field selects a default. Build may be called any number of
// times; each call makes a KeyPackage with fresh init and encryption keys.
type KeyPackageBuilder struct {
	Provider    providers.Provider
	CipherSuite codec.CipherSuite
	Credential  Credential
	// Signer signs the LeafNode and the KeyPackage; its public key becomes
	// leaf_node.signature_key. A *SignatureKeyPair of the same cipher
	// suite is the usual choice.
	Signer providers.Signer

	// Capabilities of the leaf node; nil means DefaultCapabilities. Build
	// adds the cipher suite, version mls10, the credential's type and the
	// non-default extension types used by Extensions, LeafExtensions and
	// LastResort when they are missing (§7.2, §10).
	Capabilities *codec.Capabilities
	// Lifetime is the validity period from the time of building; zero
	// means DefaultKeyPackageLifetime.
	Lifetime time.Duration
	// NotBeforeSkew moves not_before into the past; zero means
	// DefaultNotBeforeSkew, negative means none.
	NotBeforeSkew time.Duration
	// Extensions are the KeyPackage extensions, LeafExtensions the leaf
	// node extensions.
	Extensions     Extensions
	LeafExtensions Extensions
	// LastResort adds the last-resort extension: the key package is not
	// deleted when it is used (§16.8).
	LastResort bool
	// NoGREASE leaves out the GREASE values (RFC 9420 §13.5) that Build
	// otherwise adds: one in each capabilities list, a GREASE leaf node
	// extension (listed in the capabilities) and a GREASE KeyPackage
	// extension, with random data.
	NoGREASE bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// KeyPackageBundle is a KeyPackage of this client with its private keys.
type KeyPackageBundle struct {
	KeyPackage codec.KeyPackage
	// Ref is the KeyPackageRef (RFC 9420 §5.2), the key under which the
	// bundle is stored.
	Ref codec.KeyPackageRef
	// InitPrivateKey decrypts the Welcome's GroupSecrets (§12.4.3.1).
	InitPrivateKey []byte
	// EncryptionPrivateKey belongs to leaf_node.encryption_key.
	EncryptionPrivateKey []byte
}

// Zero overwrites the private keys of the bundle.
func (b *KeyPackageBundle) Zero() {
	clear(b.InitPrivateKey)
	clear(b.EncryptionPrivateKey)
}

// IsLastResort reports whether kp carries the last-resort extension
// (ExtensionTypeLastResort).
func IsLastResort(kp *codec.KeyPackage) bool {
	for i := range kp.Extensions {
		if kp.Extensions[i].ExtensionType == ExtensionTypeLastResort {
			return true
		}
	}
	return false
}

func (b *KeyPackageBuilder) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// capabilities returns the leaf capabilities Build uses.
func (b *KeyPackageBuilder) capabilities(kpExt []codec.Extension) codec.Capabilities {
	var c codec.Capabilities
	if b.Capabilities != nil {
		c = codec.Capabilities{
			Versions:     slices.Clone(b.Capabilities.Versions),
			CipherSuites: slices.Clone(b.Capabilities.CipherSuites),
			Extensions:   slices.Clone(b.Capabilities.Extensions),
			Proposals:    slices.Clone(b.Capabilities.Proposals),
			Credentials:  slices.Clone(b.Capabilities.Credentials),
		}
	} else {
		c = DefaultCapabilities(b.Provider)
	}
	if !slices.Contains(c.Versions, codec.ProtocolVersionMLS10) {
		c.Versions = append(c.Versions, codec.ProtocolVersionMLS10)
	}
	if !slices.Contains(c.CipherSuites, b.CipherSuite) {
		c.CipherSuites = append(c.CipherSuites, b.CipherSuite)
	}
	if t := b.Credential.Type(); !slices.Contains(c.Credentials, t) {
		c.Credentials = append(c.Credentials, t)
	}
	for _, exts := range [][]codec.Extension{kpExt, b.LeafExtensions} {
		for i := range exts {
			t := exts[i].ExtensionType
			if !isDefaultExtension(t) && !slices.Contains(c.Extensions, t) {
				c.Extensions = append(c.Extensions, t)
			}
		}
	}
	return c
}

func cloneExtensions(exts []codec.Extension) []codec.Extension {
	if exts == nil {
		return nil
	}
	out := make([]codec.Extension, len(exts))
	for i, e := range exts {
		out[i] = codec.Extension{ExtensionType: e.ExtensionType, ExtensionData: bytes.Clone(nonNil(e.ExtensionData))}
	}
	return out
}

// checkExtensionList rejects a list with two extensions of one type
// (RFC 9420 §13.4).
func checkExtensionList(what string, exts []codec.Extension) error {
	if t, dup := duplicateExtension(exts); dup {
		return fmt.Errorf("%w: %s: extension type %v appears twice", ErrInvalidArgument, what, t)
	}
	return nil
}

// Build generates fresh init and encryption key pairs and returns the signed
// KeyPackage with its private keys and KeyPackageRef. It does not store it;
// see BuildAndStore.
func (b *KeyPackageBuilder) Build() (*KeyPackageBundle, error) {
	if b.Provider == nil || b.Signer == nil {
		return nil, fmt.Errorf("%w: KeyPackageBuilder needs a Provider and a Signer", ErrInvalidArgument)
	}
	if b.Credential.IsZero() {
		return nil, fmt.Errorf("%w: KeyPackageBuilder needs a Credential", ErrInvalidArgument)
	}
	cs, err := b.Provider.CipherSuite(b.CipherSuite)
	if err != nil {
		return nil, err
	}
	kpExt := cloneExtensions(b.Extensions)
	if b.LastResort && !slices.ContainsFunc(kpExt, func(e codec.Extension) bool { return e.ExtensionType == ExtensionTypeLastResort }) {
		kpExt = append(kpExt, codec.Extension{ExtensionType: ExtensionTypeLastResort, ExtensionData: []byte{}})
	}
	if err := checkExtensionList("key package extensions", kpExt); err != nil {
		return nil, err
	}
	leafExt := cloneExtensions(b.LeafExtensions)
	if err := checkExtensionList("leaf node extensions", leafExt); err != nil {
		return nil, err
	}
	lifetime := b.Lifetime
	if lifetime == 0 {
		lifetime = DefaultKeyPackageLifetime
	}
	skew := b.NotBeforeSkew
	if skew == 0 {
		skew = DefaultNotBeforeSkew
	} else if skew < 0 {
		skew = 0
	}
	if lifetime < 0 {
		return nil, fmt.Errorf("%w: negative key package lifetime %v", ErrInvalidArgument, lifetime)
	}
	now := b.now()
	notBefore, notAfter := unixSeconds(now.Add(-skew)), unixSeconds(now.Add(lifetime))

	initPriv, initPub, err := cs.GenerateKeyPair(b.Provider.Rand())
	if err != nil {
		return nil, fmt.Errorf("mls: generating the init key: %w", err)
	}
	encPriv, encPub, err := cs.GenerateKeyPair(b.Provider.Rand())
	if err != nil {
		return nil, fmt.Errorf("mls: generating the encryption key: %w", err)
	}
	if bytes.Equal(initPub, encPub) { // unreachable with a sound random source
		return nil, RuleInitKeyIsEncryptionKey.Errorf("the provider generated equal init and encryption keys")
	}

	caps := b.capabilities(kpExt)
	if !b.NoGREASE {
		lists, err := addGREASE(b.Provider.Rand(), &caps, leafExt, kpExt)
		if err != nil {
			return nil, err
		}
		leafExt, kpExt = lists[0], lists[1]
	}
	leaf := codec.LeafNode{
		EncryptionKey:  encPub,
		SignatureKey:   bytes.Clone(b.Signer.PublicKey()),
		Credential:     b.Credential.Wire(),
		Capabilities:   caps,
		LeafNodeSource: codec.LeafNodeSourceKeyPackage,
		Lifetime:       &codec.Lifetime{NotBefore: notBefore, NotAfter: notAfter},
		Extensions:     leafExt,
	}
	if err := leafnode.Sign(b.Signer, &leaf, nil, 0); err != nil {
		return nil, err
	}
	kp := codec.KeyPackage{
		Version:     codec.ProtocolVersionMLS10,
		CipherSuite: b.CipherSuite,
		InitKey:     initPub,
		LeafNode:    leaf,
		Extensions:  kpExt,
	}
	tbs := codec.KeyPackageTBS{Version: kp.Version, CipherSuite: kp.CipherSuite, InitKey: kp.InitKey, LeafNode: kp.LeafNode, Extensions: kp.Extensions}
	tbsBytes, err := tbs.Marshal()
	if err != nil {
		return nil, fmt.Errorf("mls: encoding KeyPackageTBS: %w", err)
	}
	if kp.Signature, err = providers.SignWithLabel(b.Signer, labelKeyPackageTBS, tbsBytes); err != nil {
		return nil, fmt.Errorf("mls: signing the key package: %w", err)
	}
	ref, err := KeyPackageRef(cs, &kp)
	if err != nil {
		return nil, err
	}
	return &KeyPackageBundle{KeyPackage: kp, Ref: ref, InitPrivateKey: initPriv, EncryptionPrivateKey: encPriv}, nil
}

// BuildAndStore builds a key package and writes the bundle to s under its
// KeyPackageRef.
func (b *KeyPackageBuilder) BuildAndStore(s providers.KeyPackageStore) (*KeyPackageBundle, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	kb, err := b.Build()
	if err != nil {
		return nil, err
	}
	if err := kb.Store(s); err != nil {
		return nil, err
	}
	return kb, nil
}

func unixSeconds(t time.Time) uint64 {
	if s := t.Unix(); s > 0 {
		return uint64(s)
	}
	return 0
}

// ErrMalformedKeyPackage: bytes given as a key package decode neither as an
// MLSMessage holding a KeyPackage nor as a bare KeyPackage (RFC 9420 §6,
// §10).
var ErrMalformedKeyPackage = errors.New("mls: malformed key package")

// ParseKeyPackage decodes a key package as it arrives from the network or a
// directory: an MLSMessage of wire format mls_key_package (RFC 9420 §6), or
// a bare KeyPackage (§10). Decoding is bounded by DefaultLimits; a message
// of another wire format, trailing bytes or an undecodable one give an
// error matching ErrMalformedKeyPackage, a protocol version other than
// mls10 RuleKeyPackageVersion. The signatures, keys and lifetime are
// checked where the key package is used: AddMembers, ProposeAdd and
// CommitOptions.Add validate it for the group (ValidateKeyPackage).
func ParseKeyPackage(b []byte) (*codec.KeyPackage, error) {
	l := DefaultLimits()
	if err := l.checkSize("KeyPackage", len(b)); err != nil {
		return nil, err
	}
	var m codec.MLSMessage
	framedErr := codec.UnmarshalLimited(b, smallElements, &m)
	if framedErr == nil {
		if m.WireFormat != codec.WireFormatMLSKeyPackage || m.KeyPackage == nil {
			return nil, fmt.Errorf("%w: MLSMessage of wire format %v", ErrMalformedKeyPackage, m.WireFormat)
		}
		return checkKeyPackageVersion(m.KeyPackage)
	}
	kp := new(codec.KeyPackage)
	if err := codec.UnmarshalLimited(b, smallElements, kp); err != nil {
		if errors.Is(err, codec.ErrTooManyElements) {
			return nil, RuleLimit.Errorf("KeyPackage: %w", err)
		}
		return nil, fmt.Errorf("%w: as MLSMessage: %w; as KeyPackage: %w", ErrMalformedKeyPackage, framedErr, err)
	}
	return checkKeyPackageVersion(kp)
}

// checkKeyPackageVersion returns kp if its version is mls10 (RFC 9420
// §10.1).
func checkKeyPackageVersion(kp *codec.KeyPackage) (*codec.KeyPackage, error) {
	if kp.Version != codec.ProtocolVersionMLS10 {
		return nil, RuleKeyPackageVersion.Errorf("key package version %v is not mls10", kp.Version)
	}
	return kp, nil
}

// KeyPackageRef computes the KeyPackageRef of kp under its cipher suite cs
// (RFC 9420 §5.2).
func KeyPackageRef(cs providers.CipherSuite, kp *codec.KeyPackage) (codec.KeyPackageRef, error) {
	enc, err := kp.Marshal()
	if err != nil {
		return nil, fmt.Errorf("mls: encoding KeyPackage: %w", err)
	}
	ref, err := providers.MakeKeyPackageRef(cs, enc)
	if err != nil {
		return nil, err
	}
	return ref, nil
}

// keyPackageBundleVersion is the format version of a stored bundle
// (schema/records.tls KeyPackageBundleRecord). Version 1 (before commit
// 23dc7bb) held the KeyPackage inline rather than as a vector;
// LoadKeyPackageBundle still reads it (decodeKeyPackageBundleV1), and
// testdata/fixtures keeps a record of each version.
const keyPackageBundleVersion = 2

// Store writes the bundle to s under its Ref.
func (b *KeyPackageBundle) Store(s providers.KeyPackageStore) error {
	if s == nil {
		return fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	enc, err := b.marshal()
	if err != nil {
		return err
	}
	err = s.WriteKeyPackage(b.Ref, enc)
	clear(enc)
	if err != nil {
		return fmt.Errorf("mls: storing key package %x: %w", []byte(b.Ref), err)
	}
	return nil
}

func (b *KeyPackageBundle) marshal() ([]byte, error) {
	kp, err := b.KeyPackage.Marshal()
	var out []byte
	if err == nil {
		rec := record.KeyPackageBundleRecord{
			Version:              keyPackageBundleVersion,
			KeyPackage:           kp,
			Ref:                  b.Ref,
			InitPrivateKey:       b.InitPrivateKey,
			EncryptionPrivateKey: b.EncryptionPrivateKey,
		}
		out, err = rec.Marshal()
	}
	if err != nil {
		clear(out)
		return nil, fmt.Errorf("mls: encoding a key package bundle: %w", err)
	}
	return out, nil
}

// decodeKeyPackageBundleV1 reads a bundle record of format version 1: its
// record.RecordVersion, the KeyPackage's encoding inline, then
// record.KeyPackageBundleV1Keys (ref, init_private_key and
// encryption_private_key). It fills rec as if the record were of the
// current version (the fields copy enc).
func decodeKeyPackageBundleV1(enc []byte, rec *record.KeyPackageBundleRecord) error {
	r := codec.NewReader(enc)
	var v record.RecordVersion
	if err := v.Decode(r); err != nil {
		return err
	}
	var kp codec.KeyPackage
	start := len(enc) - r.Len()
	if err := kp.Decode(r); err != nil {
		return fmt.Errorf("version 1: %w", err)
	}
	rec.KeyPackage = bytes.Clone(enc[start : len(enc)-r.Len()])
	var keys record.KeyPackageBundleV1Keys
	if err := keys.Decode(r); err != nil {
		return fmt.Errorf("version 1: %w", err)
	}
	if err := r.Finish(); err != nil {
		return fmt.Errorf("version 1: %w", err)
	}
	rec.Version = keyPackageBundleVersion
	rec.Ref = bytes.Clone(keys.Ref)
	rec.InitPrivateKey = bytes.Clone(keys.InitPrivateKey)
	rec.EncryptionPrivateKey = bytes.Clone(keys.EncryptionPrivateKey)
	return nil
}

// recordVersion returns the format version a stored record starts with
// (record.RecordVersion), false if it is too short for one.
func recordVersion(enc []byte) (uint16, bool) {
	var v record.RecordVersion
	if v.Decode(codec.NewReader(enc)) != nil {
		return 0, false
	}
	return v.Version, true
}

// LoadKeyPackageBundle reads the bundle stored under ref. It fails with an
// error matching ErrNotFound if there is none and ErrCorruptState if the
// record does not decode or belongs to another ref.
func LoadKeyPackageBundle(s providers.KeyPackageStore, ref []byte) (*KeyPackageBundle, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	enc, err := s.ReadKeyPackage(ref)
	if err != nil {
		return nil, fmt.Errorf("mls: loading key package %x: %w", ref, err)
	}
	defer clear(enc)
	var rec record.KeyPackageBundleRecord
	if v, ok := recordVersion(enc); ok && v == 1 {
		err = decodeKeyPackageBundleV1(enc, &rec)
	} else {
		err = rec.Unmarshal(enc)
	}
	defer clear(rec.InitPrivateKey)
	defer clear(rec.EncryptionPrivateKey)
	if err == nil && rec.Version != keyPackageBundleVersion {
		err = fmt.Errorf("version %d", rec.Version)
	}
	var b KeyPackageBundle
	if err == nil {
		// Unmarshal copies: the KeyPackage does not alias the record.
		err = b.KeyPackage.Unmarshal(rec.KeyPackage)
	}
	if err == nil && !bytes.Equal(rec.Ref, ref) {
		err = errors.New("stored under another KeyPackageRef")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: key package %x: %v", ErrCorruptState, ref, err)
	}
	b.Ref = bytes.Clone(rec.Ref)
	b.InitPrivateKey = bytes.Clone(rec.InitPrivateKey)
	b.EncryptionPrivateKey = bytes.Clone(rec.EncryptionPrivateKey)
	return &b, nil
}

// DeleteKeyPackage erases the bundle stored under ref, whether or not it is
// a last-resort key package.
func DeleteKeyPackage(s providers.KeyPackageStore, ref []byte) error {
	if s == nil {
		return fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	if err := s.DeleteKeyPackage(ref); err != nil {
		return fmt.Errorf("mls: deleting key package %x: %w", ref, err)
	}
	return nil
}

// ConsumeKeyPackage loads the bundle stored under ref, for joining a group
// with it, and deletes it from s unless it is a last-resort key package
// (RFC 9420 §10, §16.8: a KeyPackage is used once). The returned bundle is
// the caller's; Zero it once its keys are no longer needed.
func ConsumeKeyPackage(s providers.KeyPackageStore, ref []byte) (*KeyPackageBundle, error) {
	b, err := LoadKeyPackageBundle(s, ref)
	if err != nil {
		return nil, err
	}
	if !IsLastResort(&b.KeyPackage) {
		if err := DeleteKeyPackage(s, ref); err != nil {
			b.Zero()
			return nil, err
		}
	}
	return b, nil
}

// DeleteExpiredKeyPackages erases from s every stored key package whose
// lifetime ended before now (RFC 9420 §7.2), last-resort ones included, so
// that their private keys do not outlive their use. It returns the refs it
// deleted. A bundle that does not decode is left in place and reported in
// the error, after the others have been processed.
func DeleteExpiredKeyPackages(s providers.KeyPackageStore, now time.Time) ([][]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	refs, err := s.ListKeyPackages()
	if err != nil {
		return nil, fmt.Errorf("mls: listing key packages: %w", err)
	}
	var deleted [][]byte
	var errs []error
	for _, ref := range refs {
		b, err := LoadKeyPackageBundle(s, ref)
		if err != nil {
			if !errors.Is(err, ErrNotFound) { // deleted concurrently: nothing to do
				errs = append(errs, err)
			}
			continue
		}
		lt := b.KeyPackage.LeafNode.Lifetime
		b.Zero()
		if lt != nil && lt.NotAfter >= unixSeconds(now) {
			continue
		}
		if err := DeleteKeyPackage(s, ref); err != nil {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, ref)
	}
	return deleted, errors.Join(errs...)
}
