package keyschedule

import (
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// ConfirmedTranscriptHash computes the confirmed transcript hash of the
// epoch a Commit starts (RFC 9420 §8.2):
//
//	confirmed_transcript_hash_[epoch] =
//	    Hash(interim_transcript_hash_[epoch - 1] ||
//	         ConfirmedTranscriptHashInput_[epoch])
//
// where ConfirmedTranscriptHashInput is {wire_format, content, signature} of
// the Commit's AuthenticatedContent. interim is empty for the first commit
// of a group (interim_transcript_hash_[0] = ""). content must be a Commit
// ([ErrNotCommit]).
func ConfirmedTranscriptHash(cs providers.CipherSuite, interim []byte, wireFormat codec.WireFormat, content *codec.FramedContent, signature []byte) ([]byte, error) {
	h, _, err := confirmedTranscriptHash(cs, nil, interim, wireFormat, content, signature)
	return h, err
}

// confirmedTranscriptHash is ConfirmedTranscriptHash with the hash input
// (the previous hash, then the input's encoding) in scratch, replaced by
// one of the input's size if too small; it returns the scratch used.
func confirmedTranscriptHash(cs providers.CipherSuite, scratch, interim []byte, wireFormat codec.WireFormat, content *codec.FramedContent, signature []byte) (h, used []byte, err error) {
	if content == nil || content.ContentType != codec.ContentTypeCommit || content.Commit == nil {
		return nil, scratch, ErrNotCommit
	}
	in := codec.ConfirmedTranscriptHashInput{WireFormat: wireFormat, Content: *content, Signature: signature}
	if n := len(interim) + in.Size(); cap(scratch) < n {
		scratch = make([]byte, 0, n)
	}
	buf := append(scratch[:0], interim...)
	if buf, err = in.AppendTo(buf); err != nil {
		return nil, buf, fmt.Errorf("keyschedule: confirmed transcript hash: %w", err)
	}
	return cs.Hash(make([]byte, 0, cs.HashSize()), buf), buf, nil
}

// ConfirmedTranscriptHashOf is [ConfirmedTranscriptHash] of the
// wire_format, content and signature of ac (RFC 9420 §8.2).
func ConfirmedTranscriptHashOf(cs providers.CipherSuite, interim []byte, ac *codec.AuthenticatedContent) ([]byte, error) {
	h, _, err := ConfirmedTranscriptHashOfScratch(cs, nil, interim, ac)
	return h, err
}

// ConfirmedTranscriptHashOfScratch is [ConfirmedTranscriptHashOf] with
// the hash input encoded into scratch, a caller's reusable buffer (a
// Commit's input is kilobytes, one allocation per epoch otherwise); a
// scratch too small is replaced by one of the input's size. It returns
// the buffer used, holding the input, for the caller to keep or erase.
func ConfirmedTranscriptHashOfScratch(cs providers.CipherSuite, scratch, interim []byte, ac *codec.AuthenticatedContent) (h, used []byte, err error) {
	if ac == nil {
		return nil, scratch, ErrNotCommit
	}
	return confirmedTranscriptHash(cs, scratch, interim, ac.WireFormat, &ac.Content, ac.Auth.Signature)
}

// InterimTranscriptHash computes the interim transcript hash of an epoch
// (RFC 9420 §8.2):
//
//	interim_transcript_hash_[epoch] =
//	    Hash(confirmed_transcript_hash_[epoch] ||
//	         InterimTranscriptHashInput_[epoch])
//
// where InterimTranscriptHashInput is {confirmation_tag} of the Commit that
// started the epoch (a new member takes it from the GroupInfo).
func InterimTranscriptHash(cs providers.CipherSuite, confirmed, confirmationTag []byte) ([]byte, error) {
	in := codec.InterimTranscriptHashInput{ConfirmationTag: confirmationTag}
	buf := make([]byte, 0, len(confirmed)+in.Size())
	buf = append(buf, confirmed...)
	buf, err := in.AppendTo(buf)
	if err != nil {
		return nil, fmt.Errorf("keyschedule: interim transcript hash: %w", err)
	}
	return cs.Hash(make([]byte, 0, cs.HashSize()), buf), nil
}

// NextTranscriptHashes updates the transcript hashes with a Commit (RFC 9420
// §8.2): from the previous epoch's interim transcript hash and the Commit's
// AuthenticatedContent it returns the new confirmed and interim transcript
// hashes. It does not check the confirmation tag, which needs the new
// epoch's confirmation_key: see [VerifyConfirmationTag].
func NextTranscriptHashes(cs providers.CipherSuite, interimBefore []byte, ac *codec.AuthenticatedContent) (confirmed, interim []byte, err error) {
	confirmed, err = ConfirmedTranscriptHashOf(cs, interimBefore, ac)
	if err != nil {
		return nil, nil, err
	}
	interim, err = InterimTranscriptHash(cs, confirmed, ac.Auth.ConfirmationTag)
	if err != nil {
		return nil, nil, err
	}
	return confirmed, interim, nil
}
