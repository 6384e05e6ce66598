// Package framing implements message framing and protection of RFC 9420 §6:
// the signature over FramedContentTBS (§6.1), PublicMessage with its
// membership tag (§6.2), PrivateMessage with content and sender data
// encryption (§6.3), and the wire format policy that decides which of the
// two a group uses for handshake messages.
//
// The group logic builds a [codec.FramedContent], signs it with
// [Protector.Sign] (adding the confirmation tag of a commit itself), and
// protects it with [Protector.ProtectPublic] or [Protector.ProtectPrivate].
// Incoming messages go through [Protector.UnprotectPublic] or
// [Protector.UnprotectPrivate], which check group, epoch, membership tag,
// decryption and signature, and return the verified
// [codec.AuthenticatedContent]. The confirmation tag of a commit is checked
// by the group logic, which alone knows the next epoch's confirmation key.
//
// A Protector holds one epoch's keys (sender_data_secret, membership_key and
// the secret tree) and scratch buffers; it is not safe for concurrent use.
package framing

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/providers"
)

// SignatureLabel is the label of the content signature (§6.1).
const SignatureLabel = "FramedContentTBS"

// Errors of message protection. Branch on them with errors.Is; secret tree
// errors (such as secrettree.ErrGenerationReused) and codec errors (such as
// codec.ErrNonZeroPadding) come wrapped as well.
var (
	// ErrWrongGroup: the message's group_id is not the group's (§6.3, ValSem002).
	ErrWrongGroup = errors.New("framing: message is for another group")
	// ErrWrongEpoch: the message's epoch is not the Protector's (ValSem003).
	ErrWrongEpoch = errors.New("framing: message is for another epoch")
	// ErrWireFormat: an AuthenticatedContent signed for one wire format is
	// protected as another (§6.1).
	ErrWireFormat = errors.New("framing: content signed for another wire format")
	// ErrApplicationInPublic: application messages MUST be PrivateMessages (§6).
	ErrApplicationInPublic = errors.New("framing: application message as PublicMessage")
	// ErrSenderType: the sender type cannot be used here: a PrivateMessage
	// needs a member sender (§6.3.2); external and new member senders may
	// only send the content types of §6.1 (ValSem112).
	ErrSenderType = errors.New("framing: sender type not allowed for this message")
	// ErrMembershipTag: a member's PublicMessage has a wrong membership
	// tag (§6.2, ValSem008).
	ErrMembershipTag = errors.New("framing: invalid membership tag")
	// ErrSignature: the content signature does not verify (§6.1, ValSem010).
	// The provider's error (providers.ErrInvalidSignature or
	// providers.ErrInvalidPublicKey) is wrapped too.
	ErrSignature = errors.New("framing: invalid signature")
	// ErrUnknownSender: the SignatureKeyFunc found no key for the sender,
	// such as a blank leaf (§6.3.2).
	ErrUnknownSender = errors.New("framing: unknown sender")
	// ErrSenderDataDecryption: the sender data does not decrypt (§6.3.2).
	ErrSenderDataDecryption = errors.New("framing: sender data decryption failed")
	// ErrMalformedSenderData: the decrypted sender data does not decode.
	ErrMalformedSenderData = errors.New("framing: malformed sender data")
	// ErrContentDecryption: the content does not decrypt (§6.3.1).
	ErrContentDecryption = errors.New("framing: content decryption failed")
	// ErrMalformedContent: the decrypted PrivateMessageContent does not
	// decode, for example because its padding is not all zero (§6.3.1; the
	// codec error, such as codec.ErrNonZeroPadding, is wrapped too).
	ErrMalformedContent = errors.New("framing: malformed private message content")
	// ErrMissingSecret: the Protector lacks the membership key or secret
	// tree the operation needs.
	ErrMissingSecret = errors.New("framing: epoch secret not available")
	// ErrInvalidConfig: NewProtector was given inconsistent parameters.
	ErrInvalidConfig = errors.New("framing: invalid protector configuration")
)

// SignatureKeyFunc returns the signature public key of the sender of
// content, chosen by sender type as §6.1 lists (the leaf's key for a
// member; the external_senders entry; the key in an Add's KeyPackage or in a
// commit's path). It must return an error for a sender that has no key,
// such as a blank leaf (§6.3.2). It is called after decryption and before
// the signature check.
type SignatureKeyFunc func(content *codec.FramedContent) ([]byte, error)

// EpochSecrets are the secrets of the key schedule (§8) that message
// protection uses. Either may be nil for a Protector that only signs and
// verifies (such as one used for an external commit).
type EpochSecrets struct {
	SenderDataSecret []byte
	MembershipKey    []byte
}

// Padding is the padding policy of PrivateMessageContent (§6.3.1).
type Padding struct {
	// BlockSize, when positive, pads the content with zero bytes so that
	// the ciphertext length (content plus AEAD tag) is a multiple of
	// BlockSize, as OpenMLS's padding_size does. Zero means no padding.
	BlockSize int
}

// Length returns the number of padding bytes for an encoded content of
// contentLen bytes under an AEAD that adds overhead bytes.
func (p Padding) Length(contentLen, overhead int) int {
	if p.BlockSize <= 0 {
		return 0
	}
	return (p.BlockSize - (contentLen+overhead)%p.BlockSize) % p.BlockSize
}

// Options configure a Protector.
type Options struct {
	// Padding is applied to outgoing PrivateMessages.
	Padding Padding
	// Rand is the source of reuse guards (§6.3.1); nil means crypto/rand.
	// Pass the provider's Rand().
	Rand io.Reader
	// MaxElements, when positive, bounds the list entries a decrypted
	// PrivateMessageContent may decode to (codec.Reader.LimitElements);
	// the memory it decodes to is then also bounded, by
	// codec.AllocBudget of its size (codec.Reader.LimitAlloc).
	MaxElements int
}

// SetMaxElements changes Options.MaxElements of p.
func (p *Protector) SetMaxElements(n int) { p.opts.MaxElements = n }

// Protector protects and unprotects the messages of one epoch.
type Protector struct {
	cs            providers.CipherSuite
	ctx           *codec.GroupContext
	senderData    []byte
	membershipKey []byte
	tree          *secrettree.Tree
	opts          Options

	tbs   []byte // scratch: FramedContentTBS, AuthenticatedContentTBM
	pt    []byte // scratch: PrivateMessageContent plaintext (erased after use)
	aad   []byte // scratch: AADs
	sd    []byte // scratch: SenderData plaintext
	sc    []byte // scratch: SignContent
	ct    []byte // scratch: ciphertexts of ProtectPrivateStaged (public)
	guard [4]byte
	kn    secrettree.KeyNonce // content key while in use
	skn   secrettree.KeyNonce // sender data key while in use
	st    secrettree.Staged   // staged decryption key while in use
	send  secrettree.Staged   // staged encryption key (ProtectPrivateStaged)
}

// NewProtector returns a Protector for the epoch described by ctx (whose
// cipher_suite must be cs's), with the epoch's secrets and secret tree
// (built for the epoch's encryption_secret; nil if unavailable). The
// Protector copies the secrets and takes ownership of the tree, which Zero
// erases; ctx is kept and must not change.
func NewProtector(cs providers.CipherSuite, ctx *codec.GroupContext, secrets EpochSecrets, tree *secrettree.Tree, opts Options) (*Protector, error) {
	if ctx == nil || ctx.CipherSuite != cs.ID() {
		return nil, fmt.Errorf("%w: group context missing or of another cipher suite", ErrInvalidConfig)
	}
	if tree != nil && tree.Suite().ID() != cs.ID() {
		return nil, fmt.Errorf("%w: secret tree of another cipher suite", ErrInvalidConfig)
	}
	nh := cs.HashSize()
	for _, s := range [][]byte{secrets.SenderDataSecret, secrets.MembershipKey} {
		if s != nil && len(s) != nh {
			return nil, fmt.Errorf("%w: secret of %d bytes, want %d", ErrInvalidConfig, len(s), nh)
		}
	}
	if opts.Padding.BlockSize < 0 {
		return nil, fmt.Errorf("%w: negative padding block size", ErrInvalidConfig)
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	// The scratch buffers are cut from one allocation, each with a capacity
	// of its own (one that outgrows it is replaced alone).
	const tbsCap, ptCap, aadCap, sdCap, scCap, ctCap = 512, 256, 128, 32, 512, 256
	scratch := make([]byte, tbsCap+ptCap+aadCap+sdCap+scCap+ctCap)
	cut := func(n int) []byte {
		b := scratch[:0:n]
		scratch = scratch[n:]
		return b
	}
	return &Protector{
		cs:            cs,
		ctx:           ctx,
		senderData:    bytes.Clone(secrets.SenderDataSecret),
		membershipKey: bytes.Clone(secrets.MembershipKey),
		tree:          tree,
		opts:          opts,
		tbs:           cut(tbsCap),
		pt:            cut(ptCap),
		aad:           cut(aadCap),
		sd:            cut(sdCap),
		sc:            cut(scCap),
		ct:            cut(ctCap),
	}, nil
}

// GroupContext returns the epoch's GroupContext.
func (p *Protector) GroupContext() *codec.GroupContext { return p.ctx }

// Tree returns the epoch's secret tree (nil if none).
func (p *Protector) Tree() *secrettree.Tree { return p.tree }

// Zero erases the Protector's secrets, its secret tree and its scratch
// buffers (§9.2).
func (p *Protector) Zero() {
	clear(p.senderData)
	clear(p.membershipKey)
	p.senderData, p.membershipKey = nil, nil
	if p.tree != nil {
		p.tree.Zero()
	}
	clear(p.tbs[:cap(p.tbs)])
	clear(p.pt[:cap(p.pt)])
	clear(p.aad[:cap(p.aad)])
	clear(p.sd[:cap(p.sd)])
	clear(p.sc[:cap(p.sc)])
	p.kn.Zero()
	p.skn.Zero()
	p.st.Discard()
	p.send.Discard()
}

// checkGroupEpoch checks a message's group_id and epoch against the
// Protector's GroupContext.
func (p *Protector) checkGroupEpoch(groupID []byte, epoch uint64) error {
	if !bytes.Equal(groupID, p.ctx.GroupID) {
		return ErrWrongGroup
	}
	if epoch != p.ctx.Epoch {
		return fmt.Errorf("%w: message epoch %d, group epoch %d", ErrWrongEpoch, epoch, p.ctx.Epoch)
	}
	return nil
}

// appendTBS appends the encoded FramedContentTBS of content (§6.1): the
// GroupContext is included for member and new_member_commit senders.
func appendTBS(b []byte, wf codec.WireFormat, content *codec.FramedContent, ctx *codec.GroupContext) ([]byte, error) {
	tbs := tbsOf(wf, content, ctx)
	return tbs.AppendTo(b)
}

// tbsOf is the FramedContentTBS of content for wf (§6.1), with the
// GroupContext ctx for member and new_member_commit senders.
func tbsOf(wf codec.WireFormat, content *codec.FramedContent, ctx *codec.GroupContext) codec.FramedContentTBS {
	tbs := codec.FramedContentTBS{WireFormat: wf, Content: *content}
	switch content.Sender.SenderType {
	case codec.SenderTypeMember, codec.SenderTypeNewMemberCommit:
		tbs.Context = ctx
	}
	return tbs
}

// SignContent signs content for wire format wf with
// SignWithLabel(., "FramedContentTBS", FramedContentTBS) (§6.1) and returns
// the AuthenticatedContent. ctx is the GroupContext of the epoch, used for
// member and new_member_commit senders. For a commit, the caller sets
// Auth.ConfirmationTag afterwards. The result aliases content's fields.
func SignContent(signer providers.Signer, wf codec.WireFormat, content *codec.FramedContent, ctx *codec.GroupContext) (*codec.AuthenticatedContent, error) {
	tbs, err := appendTBS(nil, wf, content, ctx)
	if err != nil {
		return nil, fmt.Errorf("framing: encoding FramedContentTBS: %w", err)
	}
	sig, err := providers.SignWithLabel(signer, SignatureLabel, tbs)
	if err != nil {
		return nil, fmt.Errorf("framing: signing: %w", err)
	}
	return &codec.AuthenticatedContent{WireFormat: wf, Content: *content, Auth: codec.FramedContentAuthData{Signature: sig}}, nil
}

// VerifyContent checks the signature of ac with the signature public key
// pub (§6.1). It returns nil or an error wrapping ErrSignature.
func VerifyContent(cs providers.CipherSuite, ac *codec.AuthenticatedContent, ctx *codec.GroupContext, pub []byte) error {
	tbs, err := appendTBS(nil, ac.WireFormat, &ac.Content, ctx)
	if err != nil {
		return fmt.Errorf("framing: encoding FramedContentTBS: %w", err)
	}
	if err := providers.VerifyWithLabel(cs, pub, SignatureLabel, tbs, ac.Auth.Signature); err != nil {
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return nil
}

// Sign signs content for the wire format wf with the sender's signature key
// (§6.1), using the Protector's GroupContext. content's group_id and epoch
// must be the Protector's.
func (p *Protector) Sign(signer providers.Signer, wf codec.WireFormat, content *codec.FramedContent) (*codec.AuthenticatedContent, error) {
	ac := new(codec.AuthenticatedContent)
	if err := p.SignTo(ac, signer, wf, content); err != nil {
		return nil, err
	}
	return ac, nil
}

// SignTo is Sign into ac, which the caller provides (a message sent makes
// no AuthenticatedContent on the heap). The SignContent (§5.1.2) is
// written around the FramedContentTBS in the Protector's scratch
// (providers.SignWithLabelInPlace), as verify does: the TBS is encoded
// once, not encoded and then copied.
func (p *Protector) SignTo(ac *codec.AuthenticatedContent, signer providers.Signer, wf codec.WireFormat, content *codec.FramedContent) error {
	if err := p.checkGroupEpoch(content.GroupID, content.Epoch); err != nil {
		return err
	}
	buf, err := p.scratchTBS(wf, content)
	if err != nil {
		return err
	}
	defer p.keepScratch(buf)
	sig, err := providers.SignWithLabelInPlace(signer, SignatureLabel, buf, signRoom, len(buf)-signRoom)
	if err != nil {
		return fmt.Errorf("framing: signing: %w", err)
	}
	*ac = codec.AuthenticatedContent{WireFormat: wf, Content: *content, Auth: codec.FramedContentAuthData{Signature: sig}}
	return nil
}

// verify looks up the sender's key and checks the signature of ac.
func (p *Protector) verify(ac *codec.AuthenticatedContent, keys SignatureKeyFunc) error {
	buf, err := p.scratchTBS(ac.WireFormat, &ac.Content)
	if err != nil {
		return err
	}
	defer p.keepScratch(buf)
	return p.verifyTBS(ac, keys, buf)
}

// signRoom is the room kept before the FramedContentTBS in the scratch of
// scratchTBS for the start of its SignContent.
var signRoom = providers.SignContentRoom(SignatureLabel)

// scratchTBS encodes the FramedContentTBS of content for wf (§6.1) into
// the Protector's SignContent scratch, after signRoom bytes: buf[signRoom:]
// is the TBS. The caller hands buf back with keepScratch.
func (p *Protector) scratchTBS(wf codec.WireFormat, content *codec.FramedContent) ([]byte, error) {
	tbs := tbsOf(wf, content, p.ctx)
	// A scratch too small for this TBS (a new epoch's Protector has none)
	// is replaced by one of its size, not grown by append: a Commit's TBS
	// (its UpdatePath) is kilobytes.
	if n := signRoom + tbs.Size(); cap(p.sc) < n {
		clear(p.sc[:cap(p.sc)])
		p.sc = make([]byte, 0, n)
	}
	buf, err := tbs.AppendTo(p.sc[:signRoom])
	if err != nil {
		return nil, fmt.Errorf("framing: encoding FramedContentTBS: %w", err)
	}
	return buf, nil
}

// Reserve prepares the Protector to verify a message of about n bytes
// (its encoding): the FramedContentTBS of a large message is encoded into
// scratch of that size at once, not grown by append (whose copies would
// add up to several times its size).
func (p *Protector) Reserve(n int) {
	if n += signRoom + reserveMargin; n > maxScratch && cap(p.sc) < n {
		p.sc = make([]byte, 0, n)
	}
}

// reserveMargin is what Reserve adds for the GroupContext of a
// FramedContentTBS and the FramedContentAuthData of an
// AuthenticatedContentTBM, which a message's own encoding does not hold.
const reserveMargin = 4096

// maxScratch bounds the scratch buffers a Protector keeps between
// messages: one large message does not pin its size.
const maxScratch = 64 << 10

// keepScratch keeps buf as the SignContent scratch unless it is large.
func (p *Protector) keepScratch(buf []byte) {
	if cap(buf) > maxScratch {
		clear(buf)
		p.sc = nil
		return
	}
	p.sc = buf[:0]
}

// verifyTBS looks up the sender's key and checks the signature of ac over
// the FramedContentTBS that scratchTBS encoded into buf, in place: the
// SignContent (§5.1.2) is written around it
// (providers.VerifyWithLabelInPlace), so that the TBS of a large message
// is not copied.
func (p *Protector) verifyTBS(ac *codec.AuthenticatedContent, keys SignatureKeyFunc, buf []byte) error {
	if keys == nil {
		return fmt.Errorf("%w: no SignatureKeyFunc", ErrUnknownSender)
	}
	pub, err := keys(&ac.Content)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnknownSender, err)
	}
	if err := providers.VerifyWithLabelInPlace(p.cs, pub, SignatureLabel, buf, signRoom, len(buf)-signRoom, ac.Auth.Signature); err != nil {
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return nil
}

// checkSenderContent applies the sender type rules of §6.1 to a
// PublicMessage's content (ValSem112).
func checkSenderContent(c *codec.FramedContent) error {
	switch c.Sender.SenderType {
	case codec.SenderTypeMember:
		return nil
	case codec.SenderTypeExternal, codec.SenderTypeNewMemberProposal:
		if c.ContentType == codec.ContentTypeProposal {
			return nil
		}
	case codec.SenderTypeNewMemberCommit:
		if c.ContentType == codec.ContentTypeCommit {
			return nil
		}
	}
	return fmt.Errorf("%w: %v sender with %v content", ErrSenderType, c.Sender.SenderType, c.ContentType)
}
