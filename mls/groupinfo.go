package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/providers"
)

// labelGroupInfoTBS is the label of the GroupInfo signature (RFC 9420
// §12.4.3).
const labelGroupInfoTBS = "GroupInfoTBS"

// Errors of GroupInfo handling. Branch on them with errors.Is.
var (
	// ErrInvalidGroupInfoSignature: the signature of a GroupInfo does not
	// verify with the signature key of its signer (RFC 9420 §12.4.3,
	// §12.4.3.1). It wraps providers.ErrInvalidSignature, or
	// providers.ErrInvalidPublicKey when the key does not decode.
	ErrInvalidGroupInfoSignature = errors.New("mls: GroupInfo signature does not verify (RFC 9420 §12.4.3)")
	// ErrMalformedExtension: the extension_data of an extension this
	// library interprets does not decode as its type (RFC 9420 §13).
	ErrMalformedExtension = errors.New("mls: malformed extension data")
)

// groupInfoTBS returns the encoded GroupInfoTBS of gi (RFC 9420 §12.4.3).
func groupInfoTBS(gi *codec.GroupInfo) ([]byte, error) {
	tbs := codec.GroupInfoTBS{
		GroupContext:    gi.GroupContext,
		Extensions:      gi.Extensions,
		ConfirmationTag: gi.ConfirmationTag,
		Signer:          gi.Signer,
	}
	b, err := tbs.Marshal()
	if err != nil {
		return nil, fmt.Errorf("mls: encoding GroupInfoTBS: %w", err)
	}
	return b, nil
}

// SignGroupInfo sets gi.Signature to SignWithLabel(signer, "GroupInfoTBS",
// GroupInfoTBS) over the other fields of gi (RFC 9420 §12.4.3). gi.Signer
// must already hold the signer's leaf index.
func SignGroupInfo(signer providers.Signer, gi *codec.GroupInfo) error {
	_, err := signGroupInfo(signer, gi)
	return err
}

// signGroupInfo is SignGroupInfo; it also returns the encoding of the
// signed GroupInfo (signGroupInfoMessage).
func signGroupInfo(signer providers.Signer, gi *codec.GroupInfo) ([]byte, error) {
	_, enc, err := signGroupInfoMessage(signer, gi)
	return enc, err
}

// signGroupInfoMessage is SignGroupInfo; it also returns the signed
// GroupInfo encoded as an MLSMessage (msg) and as itself (enc, the tail of
// msg). The GroupInfoTBS is the GroupInfo without its last field, the
// signature (RFC 9420 §12.4.3): it is encoded once, with room before it
// for the header of SignContent, signed in place (§5.1.2), and the
// signature vector is appended to it; the MLSMessage header (§6) then
// takes the place of the SignContent header. A GroupInfo holding the
// whole ratchet tree is so encoded once: not copied to be signed, nor
// encoded again as a message or to be encrypted (sealWelcomeEncoded).
func signGroupInfoMessage(signer providers.Signer, gi *codec.GroupInfo) (msg, enc []byte, err error) {
	e, err := signGroupInfoInto(signer, gi, 0, 0)
	if err != nil {
		return nil, nil, err
	}
	return e.msg(), e.enc(), nil
}

// signedGroupInfo is a signed GroupInfo encoded in buf: as itself at
// buf[off:] and as an MLSMessage at buf[off-hdr:]. The bytes before
// buf[off-hdr] are free room, and buf has spare capacity after it: a
// Welcome may encrypt the GroupInfo there in place (sealWelcomeEncoded).
type signedGroupInfo struct {
	buf      []byte
	off, hdr int
}

func (e *signedGroupInfo) enc() []byte { return e.buf[e.off:] }
func (e *signedGroupInfo) msg() []byte { return e.buf[e.off-e.hdr:] }

// signatureRoom is the room for a signature vector (RFC 9420 §5.1.2) in a
// buffer sized before signing: the longest signature of the RFC's cipher
// suites (ECDSA P-521, DER-encoded: 139 bytes) with its 2-byte varint
// length prefix. A longer one (another provider's) makes AppendTo grow
// the buffer.
const signatureRoom = 2 + 139

// signGroupInfoInto is signGroupInfoMessage into a buffer with at least
// front bytes of room before the GroupInfo and back bytes of capacity
// after it.
func signGroupInfoInto(signer providers.Signer, gi *codec.GroupInfo, front, back int) (*signedGroupInfo, error) {
	return signGroupInfoTreeInto(signer, gi, nil, -1, front, back)
}

// signGroupInfoTreeInto is signGroupInfoInto of a GroupInfo whose
// extension at, if tree is not nil, is the ratchet_tree extension (RFC
// 9420 §12.4.3.3) that tree writes: written once, in place, between the
// GroupInfoTBS's AppendHeadAt and AppendTailAt, not made and then copied
// into the encoding (the whole tree: megabytes in a large group). That
// extension's data in gi is not read; it is set to the tree's bytes in
// the encoding (which a Welcome may later encrypt in place).
func signGroupInfoTreeInto(signer providers.Signer, gi *codec.GroupInfo, tree *ratchettree.Encoder, at, front, back int) (*signedGroupInfo, error) {
	if signer == nil || gi == nil {
		return nil, fmt.Errorf("%w: nil signer or GroupInfo", ErrInvalidArgument)
	}
	if tree != nil && (at < 0 || at >= len(gi.Extensions)) {
		return nil, fmt.Errorf("%w: ratchet_tree extension %d of %d", ErrInvalidArgument, at, len(gi.Extensions))
	}
	var hb [8]byte
	hdr, err := (&codec.MLSMessageHeader{WireFormat: codec.WireFormatMLSGroupInfo}).AppendTo(hb[:0])
	if err != nil {
		return nil, fmt.Errorf("mls: encoding the GroupInfo message: %w", err)
	}
	room := max(providers.SignContentRoom(labelGroupInfoTBS), len(hdr), front)
	tbs := codec.GroupInfoTBS{
		GroupContext:    gi.GroupContext,
		Extensions:      gi.Extensions,
		ConfirmationTag: gi.ConfirmationTag,
		Signer:          gi.Signer,
	}
	// Sized for the encoding: the GroupInfoTBS (its Size), then the
	// signature, not made yet, in the room of the longest.
	var buf []byte
	if tree == nil {
		size := room + tbs.Size() + signatureRoom + back
		buf, err = tbs.AppendTo(make([]byte, room, size))
	} else {
		// Sized with the tree's extension empty, then its content and
		// the longest length prefix.
		n := tree.Len()
		gi.Extensions[at].ExtensionData = nil
		size := room + tbs.Size() + codec.MaxVarintLen + n + signatureRoom + back
		if buf, err = tbs.AppendHeadAt(make([]byte, room, size), at, n); err == nil {
			start := len(buf)
			if buf, err = tree.AppendTo(buf); err == nil {
				gi.Extensions[at].ExtensionData = buf[start:len(buf):len(buf)]
				buf, err = tbs.AppendTailAt(buf, at)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mls: encoding GroupInfoTBS: %w", err)
	}
	sig, err := providers.SignWithLabelInPlace(signer, labelGroupInfoTBS, buf, room, len(buf)-room)
	if err != nil {
		return nil, fmt.Errorf("mls: signing the GroupInfo: %w", err)
	}
	// A GroupInfo is its GroupInfoTBS followed by the signature
	// (§12.4.3): AppendTail appends that last field.
	gi.Signature = sig
	if buf, err = gi.AppendTail(buf); err != nil {
		return nil, fmt.Errorf("mls: encoding the GroupInfo: %w", err)
	}
	copy(buf[room-len(hdr):room], hdr)
	return &signedGroupInfo{buf: buf, off: room, hdr: len(hdr)}, nil
}

// VerifyGroupInfo checks the signature of gi with signatureKey, the
// signature key of the leaf gi.Signer of the group's tree (RFC 9420
// §12.4.3, §12.4.3.1). A bad signature or key gives an error matching
// ErrInvalidGroupInfoSignature; a confirmation_tag that is not a MAC of the
// suite (wrong length, such as the empty tag one implementation publishes
// after an external join) is refused first, with
// ErrGroupInfoConfirmationTag. The cipher suite cs must be the one of
// gi.GroupContext.
func VerifyGroupInfo(cs providers.CipherSuite, gi *codec.GroupInfo, signatureKey []byte) error {
	if cs == nil || gi == nil {
		return fmt.Errorf("%w: nil cipher suite or GroupInfo", ErrInvalidArgument)
	}
	if gi.GroupContext.CipherSuite != cs.ID() {
		return fmt.Errorf("%w: GroupInfo of cipher suite %v checked with %v", ErrInvalidGroupInfoSignature, gi.GroupContext.CipherSuite, cs.ID())
	}
	if err := checkGroupInfoConfirmationTag(cs, gi); err != nil {
		return err
	}
	tbs, err := groupInfoTBS(gi)
	if err != nil {
		return err
	}
	if err := providers.VerifyWithLabel(cs, signatureKey, labelGroupInfoTBS, tbs, gi.Signature); err != nil {
		return fmt.Errorf("%w: signer leaf %d: %w", ErrInvalidGroupInfoSignature, gi.Signer, err)
	}
	return nil
}

// groupInfoRoom is the room kept before an encoded GroupInfo in a buffer
// of ours, so that its signature can be verified in place
// (verifyGroupInfoBytes).
var groupInfoRoom = providers.SignContentRoom(labelGroupInfoTBS)

// groupInfoBytes is the encoding a received GroupInfo was decoded from, in
// place: enc[off:] is the GroupInfo's encoding, and the off bytes before
// it, at least groupInfoRoom, are ours and referenced by nothing.
type groupInfoBytes struct {
	enc []byte
	off int
}

// verifyGroupInfoBytes is VerifyGroupInfo of gi, decoded from b, without
// copying the GroupInfo: the GroupInfoTBS (RFC 9420 §12.4.3) is the
// encoding of every field of the GroupInfo but the last, the signature, so
// it is a prefix of b, and SignContent (§5.1.2) is that prefix preceded by
// the label and its length, which providers.VerifyWithLabelInPlace writes
// into the room before it. Signatures are verified over the bytes
// received; the decoding is canonical (minimal varints, no trailing
// bytes), so these are the bytes the signer signed. Without b (zero), or
// if gi's signature does not end b, it is VerifyGroupInfo.
func verifyGroupInfoBytes(cs providers.CipherSuite, gi *codec.GroupInfo, b groupInfoBytes, signatureKey []byte) error {
	if b.enc == nil {
		return VerifyGroupInfo(cs, gi, signatureKey)
	}
	if cs == nil || gi == nil {
		return fmt.Errorf("%w: nil cipher suite or GroupInfo", ErrInvalidArgument)
	}
	if gi.GroupContext.CipherSuite != cs.ID() {
		return fmt.Errorf("%w: GroupInfo of cipher suite %v checked with %v", ErrInvalidGroupInfoSignature, gi.GroupContext.CipherSuite, cs.ID())
	}
	if err := checkGroupInfoConfirmationTag(cs, gi); err != nil {
		return err
	}
	// The signature field's encoding (AppendTail) ends enc; what is
	// before it is the GroupInfoTBS.
	var sb [4 + 160]byte
	sigField, err := gi.AppendTail(sb[:0])
	if err != nil {
		return fmt.Errorf("%w: signature of %d bytes: %w", ErrInvalidGroupInfoSignature, len(gi.Signature), err)
	}
	enc := b.enc[b.off:]
	tbs := len(enc) - len(sigField)
	if tbs < 0 || !bytes.Equal(enc[tbs:], sigField) {
		return VerifyGroupInfo(cs, gi, signatureKey)
	}
	if err := providers.VerifyWithLabelInPlace(cs, signatureKey, labelGroupInfoTBS, b.enc, b.off, tbs, gi.Signature); err != nil {
		return fmt.Errorf("%w: signer leaf %d: %w", ErrInvalidGroupInfoSignature, gi.Signer, err)
	}
	return nil
}
