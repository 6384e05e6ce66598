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

// GroupConfig configures a group, like OpenMLS's MlsGroupCreateConfig. The
// zero value means the defaults, which DefaultGroupConfig spells out and
// which are OpenMLS's: handshake messages as PrivateMessage only
// (PureCiphertext), no padding, no past epochs kept, no past resumption PSKs
// kept, no ratchet_tree extension in Welcomes, the default sender ratchet
// bounds, no GroupContext extensions, DefaultCapabilities, no leaf
// extensions and DefaultKeyPackageLifetime.
//
// The first group of fields is this member's own runtime configuration and
// applies to groups it creates or joins; the second is used only when
// creating a group.
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
	// resumption_psk is kept for resumption PSKs (§8.6; RuleResumptionPSKEpochs); the
	// current epoch's is always available. Zero keeps none.
	NumberOfResumptionPSKs int
	// UseRatchetTreeExtension puts the ratchet tree into the GroupInfo of
	// Welcomes (ratchet_tree extension, §12.4.3.3); otherwise new members
	// need it out of band.
	UseRatchetTreeExtension bool
	// SenderRatchet bounds out-of-order and skipped-ahead messages (§9);
	// the zero value means DefaultSenderRatchetConfig.
	SenderRatchet SenderRatchetConfig

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

	// NoGREASE leaves out the GREASE values (RFC 9420 §13.5) that the
	// leaf nodes of a creator or external joiner and the GroupInfos this
	// member makes otherwise carry (grease.go). It is a local setting,
	// not stored with the group.
	NoGREASE bool
}

// DefaultGroupConfig returns the default configuration with every default
// written out; it behaves as the zero GroupConfig.
func DefaultGroupConfig() GroupConfig {
	return GroupConfig{
		WireFormatPolicy: PureCiphertext(),
		SenderRatchet:    DefaultSenderRatchetConfig(),
		Lifetime:         DefaultKeyPackageLifetime,
	}
}

// withDefaults returns c with its zero fields set to the defaults.
func (c GroupConfig) withDefaults() GroupConfig {
	if c.SenderRatchet == (SenderRatchetConfig{}) {
		c.SenderRatchet = DefaultSenderRatchetConfig()
	}
	if c.Lifetime == 0 {
		c.Lifetime = DefaultKeyPackageLifetime
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
//     NumberOfResumptionPSKs (the latter also matches RuleResumptionPSKEpochs);
//   - a negative Lifetime, or one longer than DefaultMaxLifetime allows
//     peers to accept (RuleLeafNodeLifetime);
//   - GroupContextExtensions that Extensions.ValidateGroupContext rejects;
//   - LeafExtensions with a type twice (RuleExtensionsUnique) or of a type
//     that is not a leaf node extension (ratchet_tree, required_capabilities,
//     external_pub, external_senders);
//   - required capabilities the creator's leaf does not support
//     (ErrUnsupportedCapability), for example a required proposal type
//     missing from LeafCapabilities.
//
// The cipher suite and credential type, which Validate does not know, are
// added to the capabilities when the group is created.
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
	if c.Lifetime < 0 {
		return invalidConfig(RuleLeafNodeLifetime.Errorf("negative Lifetime %v", c.Lifetime))
	}
	if c.Lifetime > DefaultMaxLifetime-DefaultNotBeforeSkew {
		return invalidConfig(RuleLeafNodeLifetime.Errorf("Lifetime %v exceeds what peers accept (%v)", c.Lifetime, DefaultMaxLifetime-DefaultNotBeforeSkew))
	}
	if err := Extensions(c.GroupContextExtensions).ValidateGroupContext(); err != nil {
		return invalidConfig(err)
	}
	if t, dup := duplicateExtension(c.LeafExtensions); dup {
		return invalidConfig(RuleExtensionsUnique.Errorf("leaf extension %v appears twice", t))
	}
	for i := range c.LeafExtensions {
		switch t := c.LeafExtensions[i].ExtensionType; t {
		case codec.ExtensionTypeRatchetTree, codec.ExtensionTypeRequiredCapabilities, codec.ExtensionTypeExternalPub, codec.ExtensionTypeExternalSenders:
			return invalidConfig(fmt.Errorf("%v is not a leaf node extension (RFC 9420 §13, Table 7)", t))
		}
	}
	caps := c.leafCapabilities(nil, 0, 0)
	if err := Extensions(c.GroupContextExtensions).CheckCapabilities(&caps); err != nil {
		return invalidConfig(fmt.Errorf("the creator's leaf capabilities: %w", err))
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

// leafCapabilities returns the capabilities of the creator's leaf node:
// LeafCapabilities (or DefaultCapabilities of p; without the cipher suites
// if p is nil), plus version mls10, suite and credType when non-zero, and
// the non-default extension types of LeafExtensions and
// GroupContextExtensions (RFC 9420 §7.2, §12.1.7).
func (c *GroupConfig) leafCapabilities(p providers.Provider, suite codec.CipherSuite, credType codec.CredentialType) codec.Capabilities {
	var caps codec.Capabilities
	switch {
	case c.LeafCapabilities != nil:
		lc := c.LeafCapabilities
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
	for _, exts := range [][]codec.Extension{c.LeafExtensions, c.GroupContextExtensions} {
		for i := range exts {
			if t := exts[i].ExtensionType; !isDefaultExtension(t) && !slices.Contains(caps.Extensions, t) {
				caps.Extensions = append(caps.Extensions, t)
			}
		}
	}
	return caps
}

// capabilities returns the capabilities of the creator's leaf node before
// the group's cipher suite and the creator's credential type are added:
// leafCapabilities(p, 0, 0).
func (c *GroupConfig) capabilities(p providers.Provider) codec.Capabilities {
	return c.leafCapabilities(p, 0, 0)
}

// lifetime returns Lifetime, or DefaultKeyPackageLifetime if it is zero.
func (c *GroupConfig) lifetime() time.Duration {
	if c.Lifetime <= 0 {
		return DefaultKeyPackageLifetime
	}
	return c.Lifetime
}

// leafLifetime returns the lifetime of the creator's leaf node: from
// DefaultNotBeforeSkew before now to Lifetime after it (RFC 9420 §7.2).
func (c *GroupConfig) leafLifetime(now time.Time) *codec.Lifetime {
	return &codec.Lifetime{NotBefore: unixSeconds(now.Add(-DefaultNotBeforeSkew)), NotAfter: unixSeconds(now.Add(c.lifetime()))}
}
