package framing

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
)

// OutgoingPolicy says how a member sends its handshake messages (proposals
// and commits), as OpenMLS's OutgoingWireFormatPolicy. Application messages
// are always PrivateMessages (§6).
type OutgoingPolicy uint8

const (
	// OutgoingAlwaysCiphertext sends handshake messages as PrivateMessage.
	OutgoingAlwaysCiphertext OutgoingPolicy = iota
	// OutgoingAlwaysPlaintext sends handshake messages as PublicMessage.
	OutgoingAlwaysPlaintext
)

// IncomingPolicy says which wire formats a member accepts for handshake
// messages from other members, as OpenMLS's IncomingWireFormatPolicy.
type IncomingPolicy uint8

const (
	// IncomingAlwaysCiphertext accepts only PrivateMessage.
	IncomingAlwaysCiphertext IncomingPolicy = iota
	// IncomingAlwaysPlaintext accepts only PublicMessage.
	IncomingAlwaysPlaintext
	// IncomingMixed accepts both.
	IncomingMixed
)

// WireFormatPolicy is a group's wire format policy for handshake messages
// (OpenMLS's WireFormatPolicy). The zero value is PureCiphertext, OpenMLS's
// default.
type WireFormatPolicy struct {
	Outgoing OutgoingPolicy
	Incoming IncomingPolicy
}

// The four policies OpenMLS names.
var (
	PureCiphertext  = WireFormatPolicy{OutgoingAlwaysCiphertext, IncomingAlwaysCiphertext}
	PurePlaintext   = WireFormatPolicy{OutgoingAlwaysPlaintext, IncomingAlwaysPlaintext}
	MixedCiphertext = WireFormatPolicy{OutgoingAlwaysCiphertext, IncomingMixed}
	MixedPlaintext  = WireFormatPolicy{OutgoingAlwaysPlaintext, IncomingMixed}
)

// ErrWireFormatPolicy: a message's wire format is not allowed by the
// policy (OpenMLS's IncompatibleWireFormat).
var ErrWireFormatPolicy = errors.New("framing: wire format not allowed by the policy")

// Validate reports an unknown policy value.
func (p WireFormatPolicy) Validate() error {
	if p.Outgoing > OutgoingAlwaysPlaintext || p.Incoming > IncomingMixed {
		return fmt.Errorf("framing: invalid wire format policy %+v", p)
	}
	return nil
}

// OutgoingWireFormat returns the wire format a member uses for content of
// type ct: mls_private_message for application messages (§6), and the
// policy's choice for proposals and commits.
func (p WireFormatPolicy) OutgoingWireFormat(ct codec.ContentType) codec.WireFormat {
	if ct == codec.ContentTypeApplication || p.Outgoing == OutgoingAlwaysCiphertext {
		return codec.WireFormatMLSPrivateMessage
	}
	return codec.WireFormatMLSPublicMessage
}

// CheckIncoming checks an incoming message's wire format against the
// policy. Application messages must be PrivateMessages (§6;
// ErrApplicationInPublic). Messages of non-member senders (external,
// new_member_proposal, new_member_commit) can only be PublicMessages and
// are always accepted as such. Handshake messages of members must match the
// incoming policy (ErrWireFormatPolicy). Wire formats other than the two
// framed ones are refused.
func (p WireFormatPolicy) CheckIncoming(wf codec.WireFormat, sender codec.SenderType, ct codec.ContentType) error {
	if wf != codec.WireFormatMLSPublicMessage && wf != codec.WireFormatMLSPrivateMessage {
		return fmt.Errorf("%w: %v is not a framed message", ErrWireFormatPolicy, wf)
	}
	if ct == codec.ContentTypeApplication {
		if wf != codec.WireFormatMLSPrivateMessage {
			return ErrApplicationInPublic
		}
		return nil
	}
	if sender != codec.SenderTypeMember {
		if wf != codec.WireFormatMLSPublicMessage {
			return fmt.Errorf("%w: %v sender in a PrivateMessage", ErrSenderType, sender)
		}
		return nil
	}
	switch p.Incoming {
	case IncomingMixed:
		return nil
	case IncomingAlwaysCiphertext:
		if wf == codec.WireFormatMLSPrivateMessage {
			return nil
		}
	case IncomingAlwaysPlaintext:
		if wf == codec.WireFormatMLSPublicMessage {
			return nil
		}
	}
	return fmt.Errorf("%w: %v %v from a member", ErrWireFormatPolicy, wf, ct)
}
