package keyschedule

import (
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// ConfirmationTag computes the confirmation_tag of a Commit or GroupInfo
// (RFC 9420 §6.1, §8.1):
//
//	confirmation_tag = MAC(confirmation_key, confirmed_transcript_hash)
//
// where both values are those of the new epoch.
func ConfirmationTag(cs providers.CipherSuite, confirmationKey, confirmedTranscriptHash []byte) []byte {
	return cs.MAC(make([]byte, 0, cs.HashSize()), confirmationKey, confirmedTranscriptHash)
}

// VerifyConfirmationTag checks a confirmation_tag in constant time (RFC 9420
// §6.1, §12.4.2, §12.4.3.1). It returns nil if tag is valid and an error
// wrapping [ErrInvalidConfirmationTag] otherwise.
func VerifyConfirmationTag(cs providers.CipherSuite, confirmationKey, confirmedTranscriptHash, tag []byte) error {
	if !cs.VerifyMAC(confirmationKey, confirmedTranscriptHash, tag) {
		return ErrInvalidConfirmationTag
	}
	return nil
}

// MembershipTag computes the membership_tag of a PublicMessage sent by a
// member (RFC 9420 §6.2):
//
//	membership_tag = MAC(membership_key, AuthenticatedContentTBM)
func MembershipTag(cs providers.CipherSuite, membershipKey []byte, tbm *codec.AuthenticatedContentTBM) ([]byte, error) {
	b, err := tbm.Marshal()
	if err != nil {
		return nil, fmt.Errorf("keyschedule: membership tag: %w", err)
	}
	return cs.MAC(make([]byte, 0, cs.HashSize()), membershipKey, b), nil
}

// VerifyMembershipTag checks the membership_tag of a PublicMessage in
// constant time (RFC 9420 §6.2). It returns nil if tag is valid, an error
// wrapping [ErrInvalidMembershipTag] if it is not, and the codec's error if
// tbm does not encode.
func VerifyMembershipTag(cs providers.CipherSuite, membershipKey []byte, tbm *codec.AuthenticatedContentTBM, tag []byte) error {
	b, err := tbm.Marshal()
	if err != nil {
		return fmt.Errorf("keyschedule: membership tag: %w", err)
	}
	if !cs.VerifyMAC(membershipKey, b, tag) {
		return ErrInvalidMembershipTag
	}
	return nil
}
