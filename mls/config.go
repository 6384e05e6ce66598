package mls

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/framing"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/providers"
)

// WireFormatPolicy says which wire format a member uses for its handshake
// messages (proposals and commits) and which it accepts from other members,
// like OpenMLS's WireFormatPolicy. Application messages are always
// PrivateMessages (RFC 9420 §6). The zero value is PureCiphertext.
type WireFormatPolicy struct {
	Outgoing OutgoingWireFormatPolicy
	Incoming IncomingWireFormatPolicy
}

// OutgoingWireFormatPolicy is the outgoing half of a WireFormatPolicy: the
// wire format of this member's handshake messages.
type OutgoingWireFormatPolicy uint8

// IncomingWireFormatPolicy is the incoming half of a WireFormatPolicy: the
// wire formats accepted for other members' handshake messages.
type IncomingWireFormatPolicy uint8

// Outgoing and incoming wire format policies.
const (
	// OutgoingAlwaysCiphertext sends handshake messages as PrivateMessage.
	OutgoingAlwaysCiphertext OutgoingWireFormatPolicy = iota
	// OutgoingAlwaysPlaintext sends handshake messages as PublicMessage.
	OutgoingAlwaysPlaintext
)

const (
	// IncomingAlwaysCiphertext accepts handshake messages of members only
	// as PrivateMessage.
	IncomingAlwaysCiphertext IncomingWireFormatPolicy = iota
	// IncomingAlwaysPlaintext accepts handshake messages of members only
	// as PublicMessage.
	IncomingAlwaysPlaintext
	// IncomingMixed accepts both.
	IncomingMixed
)

// PureCiphertext sends and accepts handshake messages only as
// PrivateMessage: OpenMLS's default, and the zero WireFormatPolicy.
func PureCiphertext() WireFormatPolicy {
	return WireFormatPolicy{OutgoingAlwaysCiphertext, IncomingAlwaysCiphertext}
}

// PurePlaintext sends and accepts handshake messages only as PublicMessage.
func PurePlaintext() WireFormatPolicy {
	return WireFormatPolicy{OutgoingAlwaysPlaintext, IncomingAlwaysPlaintext}
}

// MixedCiphertext sends handshake messages as PrivateMessage and accepts
// both wire formats.
func MixedCiphertext() WireFormatPolicy {
	return WireFormatPolicy{OutgoingAlwaysCiphertext, IncomingMixed}
}

// MixedPlaintext sends handshake messages as PublicMessage and accepts both
// wire formats.
func MixedPlaintext() WireFormatPolicy {
	return WireFormatPolicy{OutgoingAlwaysPlaintext, IncomingMixed}
}

// Validate reports a policy with an unknown outgoing or incoming value.
func (p WireFormatPolicy) Validate() error { return p.framing().Validate() }

// framing returns p as package framing's policy.
func (p WireFormatPolicy) framing() framing.WireFormatPolicy {
	return framing.WireFormatPolicy{Outgoing: framing.OutgoingPolicy(p.Outgoing), Incoming: framing.IncomingPolicy(p.Incoming)}
}

// SenderRatchetConfig bounds the receiving side of the sender ratchets (RFC
// 9420 §9, §9.2), like OpenMLS's SenderRatchetConfiguration. The zero value
// means DefaultSenderRatchetConfig.
type SenderRatchetConfig struct {
	// OutOfOrderTolerance is how many generations behind the newest one
	// received from a sender can still be decrypted: the keys of skipped
	// generations within this window are kept until used.
	OutOfOrderTolerance uint32
	// MaximumForwardDistance is how far ahead of the next expected
	// generation a message may be; it bounds the work one message causes.
	MaximumForwardDistance uint32
}

// DefaultSenderRatchetConfig returns OpenMLS's default: an out-of-order
// tolerance of 5 and a maximum forward distance of 1000.
func DefaultSenderRatchetConfig() SenderRatchetConfig {
	d := secrettree.DefaultConfig()
	return SenderRatchetConfig{OutOfOrderTolerance: d.OutOfOrderTolerance, MaximumForwardDistance: d.MaximumForwardDistance}
}

// Bounds of GroupConfig.
const (
	// MaxPaddingSize bounds GroupConfig.PaddingSize.
	MaxPaddingSize = 1 << 16
	// MaxPastEpochsLimit bounds GroupConfig.MaxPastEpochs: each kept
	// epoch holds a secret tree in memory and storage.
	MaxPastEpochsLimit = 1024
	// MaxResumptionPSKs bounds GroupConfig.NumberOfResumptionPSKs (the
	// upper limit RuleResumptionPSKEpochs asks the application to set).
	MaxResumptionPSKs = 1024
)

// ErrInvalidConfig is matched by every error of GroupConfig.Validate.
var ErrInvalidConfig = errors.New("mls: invalid group configuration")

// GroupConfig is a member's own configuration of a group it creates or
// joins, like OpenMLS's MlsGroupJoinConfig; it is stored with the group
// (but Limits, ResumptionPSKs and NoGREASE, which are local) and LoadGroup
// restores it. What only the creator of a group chooses is in
// CreateOptions. The zero value means the defaults, which are OpenMLS's:
// handshake messages as PrivateMessage only (PureCiphertext), no padding,
// no past epochs kept, no past resumption PSKs kept, no ratchet_tree
// extension in Welcomes and the sender ratchet bounds of
// DefaultSenderRatchetConfig.
type GroupConfig struct {
	// WireFormatPolicy for handshake messages (RFC 9420 §6); the zero
	// value is PureCiphertext.
	WireFormatPolicy WireFormatPolicy
	// PaddingSize, when positive, pads every PrivateMessageContent so that
	// the ciphertext length is a multiple of it (§6.3.1); zero means no
	// padding.
	PaddingSize int
	// MaxPastEpochs is the number of past epochs whose secret trees are
	// kept to decrypt late application messages (§9.2 weighs this against
	// forward secrecy); zero keeps none.
	//
	// A late message is authenticated as coming from a member of the epoch
	// it was sent in, not of the current one: a member that a Commit
	// removed can still send application messages in the epochs before
	// its removal, and they are accepted while those epochs are kept (its
	// keys for them were legitimate, and nothing in such a message says
	// when it was sent). ProcessedMessage.Epoch tells which epoch a message
	// belongs to; an application that must not accept them compares it
	// with Group.Epoch and checks the sender's membership, or keeps
	// MaxPastEpochs at zero.
	MaxPastEpochs int
	// NumberOfResumptionPSKs is the number of past epochs whose
	// resumption_psk is kept for resumption PSKs (§8.6;
	// RuleResumptionPSKEpochs); the current epoch's is always available.
	// Zero keeps none.
	NumberOfResumptionPSKs int
	// UseRatchetTreeExtension puts the ratchet tree into the GroupInfo of
	// Welcomes (ratchet_tree extension, §12.4.3.3); otherwise new members
	// need it out of band.
	UseRatchetTreeExtension bool
	// SenderRatchet bounds out-of-order and skipped-ahead messages (§9);
	// the zero value means DefaultSenderRatchetConfig.
	SenderRatchet SenderRatchetConfig
	// ResumptionPSKs resolves the resumption PSKs (§8.6) that a Welcome
	// injects, when joining from one; nil means the groups in the client's
	// storage (StoredResumptionPSKs). ResumptionPSKsOf resolves them from a
	// group in memory. External PSKs always come from the client's storage.
	ResumptionPSKs ResumptionPSKFunc
	// NoGREASE leaves out the GREASE values (RFC 9420 §13.5) that the
	// leaf nodes of a creator or external joiner and the GroupInfos this
	// member makes otherwise carry (grease.go). It is a local setting,
	// not stored with the group.
	NoGREASE bool
}

// CreateOptions are what the creator of a group chooses besides its
// GroupConfig (NewGroup, Group.Branch, Group.ReInitSuccessor), like the
// part of OpenMLS's MlsGroupCreateConfig that a join does not have. The
// zero value means a random group id, no GroupContext extensions,
// DefaultCapabilities, no leaf extensions and DefaultKeyPackageLifetime.
type CreateOptions struct {
	// GroupID is the new group's group_id (RFC 9420 §8.1); nil or empty
	// means random bytes drawn from the provider. An application that
	// chooses ids must keep them unique among its groups (§8.1).
	GroupID []byte
	// GroupContextExtensions are the extensions of the new group's
	// GroupContext (§8.1, §11): required_capabilities, external_senders,
	// and any others that all members must support.
	GroupContextExtensions Extensions
	// LeafCapabilities are the capabilities of the creator's leaf node
	// (§7.2); nil means DefaultCapabilities. Like KeyPackageBuilder, the
	// group's cipher suite, version mls10, the creator's credential type
	// and the non-default extension types of LeafExtensions and
	// GroupContextExtensions are added when missing.
	LeafCapabilities *codec.Capabilities
	// LeafExtensions are the extensions of the creator's leaf node.
	LeafExtensions Extensions
	// Lifetime is the validity period of the creator's leaf node from the
	// time of creation; zero means DefaultKeyPackageLifetime.
	Lifetime time.Duration
}

// withDefaults returns c with its zero fields set to the defaults.
func (c GroupConfig) withDefaults() GroupConfig {
	if c.SenderRatchet == (SenderRatchetConfig{}) {
		c.SenderRatchet = DefaultSenderRatchetConfig()
	}
	return c
}

// padding returns the framing padding policy of c.
func (c *GroupConfig) padding() framing.Padding {
	return framing.Padding{BlockSize: c.PaddingSize}
}

// senderRatchet returns the sender ratchet bounds of c, as package
// secrettree's configuration.
func (c *GroupConfig) senderRatchet() secrettree.Config {
	sr := c.SenderRatchet
	if sr == (SenderRatchetConfig{}) {
		sr = DefaultSenderRatchetConfig()
	}
	return secrettree.Config{OutOfOrderTolerance: sr.OutOfOrderTolerance, MaximumForwardDistance: sr.MaximumForwardDistance}
}

// invalidConfig returns an error matching ErrInvalidConfig and err.
func invalidConfig(err error) error {
	return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
}

// Validate reports a configuration that cannot be used; every error
// matches ErrInvalidConfig, and says what is wrong:
//
//   - an unknown wire format policy;
//   - a negative or too large PaddingSize, MaxPastEpochs or
//     NumberOfResumptionPSKs (the latter also matches
//     RuleResumptionPSKEpochs);
//   - negative Limits.
func (c *GroupConfig) Validate() error {
	if err := c.WireFormatPolicy.Validate(); err != nil {
		return invalidConfig(err)
	}
	if c.PaddingSize < 0 || c.PaddingSize > MaxPaddingSize {
		return invalidConfig(fmt.Errorf("PaddingSize %d is not within [0, %d]", c.PaddingSize, MaxPaddingSize))
	}
	if c.MaxPastEpochs < 0 || c.MaxPastEpochs > MaxPastEpochsLimit {
		return invalidConfig(fmt.Errorf("MaxPastEpochs %d is not within [0, %d]", c.MaxPastEpochs, MaxPastEpochsLimit))
	}
	if c.NumberOfResumptionPSKs < 0 || c.NumberOfResumptionPSKs > MaxResumptionPSKs {
		return invalidConfig(RuleResumptionPSKEpochs.Errorf("NumberOfResumptionPSKs %d is not within [0, %d]", c.NumberOfResumptionPSKs, MaxResumptionPSKs))
	}
	return nil
}

// Validate reports options that cannot be used (NewGroup checks them);
// every error matches ErrInvalidConfig, and says what is wrong:
//
//   - a negative Lifetime, or one longer than DefaultMaxLifetime allows
//     peers to accept (RuleLeafNodeLifetime);
//   - GroupContextExtensions that Extensions.ValidateGroupContext rejects;
//   - LeafExtensions that are not leaf node extensions
//     (validateLeafExtensions);
//   - required capabilities the creator's leaf does not support
//     (ErrUnsupportedCapability), for example a required proposal type
//     missing from LeafCapabilities.
//
// The cipher suite and credential type, which Validate does not know, are
// added to the capabilities when the group is created.
func (o *CreateOptions) Validate() error {
	if o.Lifetime < 0 {
		return invalidConfig(RuleLeafNodeLifetime.Errorf("negative Lifetime %v", o.Lifetime))
	}
	if o.Lifetime > DefaultMaxLifetime-DefaultNotBeforeSkew {
		return invalidConfig(RuleLeafNodeLifetime.Errorf("Lifetime %v exceeds what peers accept (%v)", o.Lifetime, DefaultMaxLifetime-DefaultNotBeforeSkew))
	}
	if err := o.GroupContextExtensions.ValidateGroupContext(); err != nil {
		return invalidConfig(err)
	}
	if err := validateLeafExtensions(o.LeafExtensions); err != nil {
		return invalidConfig(err)
	}
	caps := o.leafCapabilities(nil, 0, 0)
	if err := o.GroupContextExtensions.CheckCapabilities(&caps); err != nil {
		return invalidConfig(fmt.Errorf("the creator's leaf capabilities: %w", err))
	}
	return nil
}

// validateLeafExtensions reports leaf node extensions with a type twice
// (RuleExtensionsUnique) or of a type that is not a leaf node extension
// (ratchet_tree, required_capabilities, external_pub, external_senders;
// RFC 9420 §13, Table 7).
func validateLeafExtensions(exts Extensions) error {
	if t, dup := duplicateExtension(exts); dup {
		return RuleExtensionsUnique.Errorf("leaf extension %v appears twice", t)
	}
	for i := range exts {
		switch t := exts[i].ExtensionType; t {
		case codec.ExtensionTypeRatchetTree, codec.ExtensionTypeRequiredCapabilities, codec.ExtensionTypeExternalPub, codec.ExtensionTypeExternalSenders:
			return fmt.Errorf("%v is not a leaf node extension (RFC 9420 §13, Table 7)", t)
		}
	}
	return nil
}

// staticDefaultCapabilities is DefaultCapabilities without the provider's
// cipher suites.
func staticDefaultCapabilities() codec.Capabilities {
	return codec.Capabilities{
		Versions:    []codec.ProtocolVersion{codec.ProtocolVersionMLS10},
		Extensions:  []codec.ExtensionType{ExtensionTypeLastResort},
		Proposals:   []codec.ProposalType{codec.ProposalTypeSelfRemove},
		Credentials: supportedCredentialTypes(),
	}
}

// leafCapabilities returns the capabilities of the creator's leaf node
// (newLeafCapabilities of LeafCapabilities, LeafExtensions and
// GroupContextExtensions).
func (o *CreateOptions) leafCapabilities(p providers.Provider, suite codec.CipherSuite, credType codec.CredentialType) codec.Capabilities {
	return newLeafCapabilities(o.LeafCapabilities, p, suite, credType, o.LeafExtensions, o.GroupContextExtensions)
}

// newLeafCapabilities returns the capabilities of a new leaf node of ours
// (a creator's or an external joiner's): lc (or DefaultCapabilities of p;
// without the cipher suites if p is nil), plus version mls10, suite and
// credType when non-zero, and the non-default extension types of exts
// (RFC 9420 §7.2, §12.1.7).
func newLeafCapabilities(lc *codec.Capabilities, p providers.Provider, suite codec.CipherSuite, credType codec.CredentialType, exts ...Extensions) codec.Capabilities {
	var caps codec.Capabilities
	switch {
	case lc != nil:
		caps = codec.Capabilities{
			Versions:     slices.Clone(lc.Versions),
			CipherSuites: slices.Clone(lc.CipherSuites),
			Extensions:   slices.Clone(lc.Extensions),
			Proposals:    slices.Clone(lc.Proposals),
			Credentials:  slices.Clone(lc.Credentials),
		}
	case p != nil:
		caps = DefaultCapabilities(p)
	default:
		caps = staticDefaultCapabilities()
	}
	if !slices.Contains(caps.Versions, codec.ProtocolVersionMLS10) {
		caps.Versions = append(caps.Versions, codec.ProtocolVersionMLS10)
	}
	if suite != 0 && !slices.Contains(caps.CipherSuites, suite) {
		caps.CipherSuites = append(caps.CipherSuites, suite)
	}
	if credType != 0 && !slices.Contains(caps.Credentials, credType) {
		caps.Credentials = append(caps.Credentials, credType)
	}
	for _, x := range exts {
		for i := range x {
			if t := x[i].ExtensionType; !isDefaultExtension(t) && !slices.Contains(caps.Extensions, t) {
				caps.Extensions = append(caps.Extensions, t)
			}
		}
	}
	return caps
}

// lifetime returns Lifetime, or DefaultKeyPackageLifetime if it is zero.
func (o *CreateOptions) lifetime() time.Duration {
	if o.Lifetime <= 0 {
		return DefaultKeyPackageLifetime
	}
	return o.Lifetime
}

// leafLifetime returns the lifetime of the creator's leaf node: from
// DefaultNotBeforeSkew before now to Lifetime after it (RFC 9420 §7.2).
func (o *CreateOptions) leafLifetime(now time.Time) *codec.Lifetime {
	return &codec.Lifetime{NotBefore: unixSeconds(now.Add(-DefaultNotBeforeSkew)), NotAfter: unixSeconds(now.Add(o.lifetime()))}
}
