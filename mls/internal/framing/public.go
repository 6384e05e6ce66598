package framing

import (
	"bytes"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// appendTBM appends the encoded AuthenticatedContentTBM of ac (§6.2).
func appendTBM(b []byte, ac *codec.AuthenticatedContent, ctx *codec.GroupContext) ([]byte, error) {
	tbm := codec.AuthenticatedContentTBM{
		ContentTBS: codec.FramedContentTBS{WireFormat: ac.WireFormat, Content: ac.Content, Context: ctx},
		Auth:       ac.Auth,
	}
	return tbm.AppendTo(b)
}

// ProtectPublic encodes ac as a PublicMessage (§6.2), adding the
// membership tag MAC(membership_key, AuthenticatedContentTBM) for a member
// sender. ac must have been signed for mls_public_message, must not be an
// application message, and must belong to the Protector's group and epoch.
// The result aliases ac's fields.
func (p *Protector) ProtectPublic(ac *codec.AuthenticatedContent) (*codec.PublicMessage, error) {
	if ac.WireFormat != codec.WireFormatMLSPublicMessage {
		return nil, fmt.Errorf("%w: %v", ErrWireFormat, ac.WireFormat)
	}
	if ac.Content.ContentType == codec.ContentTypeApplication {
		return nil, ErrApplicationInPublic
	}
	if err := checkSenderContent(&ac.Content); err != nil {
		return nil, err
	}
	if err := p.checkGroupEpoch(ac.Content.GroupID, ac.Content.Epoch); err != nil {
		return nil, err
	}
	pm := &codec.PublicMessage{Content: ac.Content, Auth: ac.Auth}
	if ac.Content.Sender.SenderType == codec.SenderTypeMember {
		if p.membershipKey == nil {
			return nil, fmt.Errorf("%w: membership_key", ErrMissingSecret)
		}
		tbm, err := appendTBM(p.tbs[:0], ac, p.ctx)
		if err != nil {
			return nil, fmt.Errorf("framing: encoding AuthenticatedContentTBM: %w", err)
		}
		p.tbs = tbm[:0]
		pm.MembershipTag = p.cs.MAC(make([]byte, 0, p.cs.HashSize()), p.membershipKey, tbm)
	}
	return pm, nil
}

// UnprotectPublic checks a PublicMessage (§6.2) and returns its
// AuthenticatedContent: group and epoch (ErrWrongGroup, ErrWrongEpoch),
// application content (ErrApplicationInPublic), the sender type rules of
// §6.1 (ErrSenderType), the membership tag of a member sender
// (ErrMembershipTag, checked in constant time), and the signature with the
// key keys returns (ErrUnknownSender, ErrSignature). The confirmation tag
// of a commit is left to the caller. The result aliases msg's fields.
func (p *Protector) UnprotectPublic(msg *codec.PublicMessage, keys SignatureKeyFunc) (*codec.AuthenticatedContent, error) {
	if err := p.checkGroupEpoch(msg.Content.GroupID, msg.Content.Epoch); err != nil {
		return nil, err
	}
	ac, err := publicContent(msg)
	if err != nil {
		return nil, err
	}
	// One encoding of the FramedContentTBS serves the membership tag and
	// the signature: AuthenticatedContentTBM is the TBS followed by the
	// FramedContentAuthData (§6.2).
	buf, err := p.scratchTBS(ac.WireFormat, &ac.Content)
	if err != nil {
		return nil, err
	}
	defer func() { p.keepScratch(buf) }()
	if msg.Content.Sender.SenderType == codec.SenderTypeMember {
		if p.membershipKey == nil {
			return nil, fmt.Errorf("%w: membership_key", ErrMissingSecret)
		}
		tbm, err := ac.Auth.AppendTo(buf, ac.Content.ContentType)
		if err != nil {
			return nil, fmt.Errorf("framing: encoding AuthenticatedContentTBM: %w", err)
		}
		buf = tbm[:len(buf)]
		if !p.cs.VerifyMAC(p.membershipKey, tbm[signRoom:], msg.MembershipTag) {
			return nil, ErrMembershipTag
		}
	}
	if err := p.verifyTBS(ac, keys, buf); err != nil {
		return nil, err
	}
	return ac, nil
}

// publicContent applies the checks of a PublicMessage that need no key
// (§6.1, §6.2): no application content (ErrApplicationInPublic), the sender
// type rules (ErrSenderType), and a membership tag present exactly for a
// member sender (ErrMembershipTag).
func publicContent(msg *codec.PublicMessage) (*codec.AuthenticatedContent, error) {
	if msg.Content.ContentType == codec.ContentTypeApplication {
		return nil, ErrApplicationInPublic
	}
	if err := checkSenderContent(&msg.Content); err != nil {
		return nil, err
	}
	if member := msg.Content.Sender.SenderType == codec.SenderTypeMember; member != (len(msg.MembershipTag) > 0) {
		return nil, fmt.Errorf("%w: membership tag present: %v, member sender: %v", ErrMembershipTag, !member, member)
	}
	return &codec.AuthenticatedContent{WireFormat: codec.WireFormatMLSPublicMessage, Content: msg.Content, Auth: msg.Auth}, nil
}

// VerifyPublic checks a PublicMessage as someone who is not a member of
// the group can (§6.2): everything UnprotectPublic checks except the
// value of the membership tag, which is a MAC under the epoch's
// membership_key that only members hold. Its presence is still checked
// (present exactly for a member sender, ErrMembershipTag). ctx is the
// GroupContext of the group's current epoch, which the caller checks the
// message's group_id and epoch against. The signature is verified with the
// key keys returns (ErrUnknownSender, ErrSignature). The result aliases
// msg's fields.
func VerifyPublic(cs providers.CipherSuite, ctx *codec.GroupContext, msg *codec.PublicMessage, keys SignatureKeyFunc) (*codec.AuthenticatedContent, error) {
	if !bytes.Equal(msg.Content.GroupID, ctx.GroupID) {
		return nil, ErrWrongGroup
	}
	if msg.Content.Epoch != ctx.Epoch {
		return nil, fmt.Errorf("%w: message epoch %d, group epoch %d", ErrWrongEpoch, msg.Content.Epoch, ctx.Epoch)
	}
	ac, err := publicContent(msg)
	if err != nil {
		return nil, err
	}
	if keys == nil {
		return nil, fmt.Errorf("%w: no SignatureKeyFunc", ErrUnknownSender)
	}
	pub, err := keys(&ac.Content)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnknownSender, err)
	}
	if err := VerifyContent(cs, ac, ctx, pub); err != nil {
		return nil, err
	}
	return ac, nil
}
