package framing

import (
	"fmt"
	"io"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/mls/internal/treemath"
)

// appendContentAAD appends the encoded PrivateContentAAD (§6.3.1).
func appendContentAAD(b []byte, groupID []byte, epoch uint64, ct codec.ContentType, ad []byte) ([]byte, error) {
	aad := codec.PrivateContentAAD{GroupID: groupID, Epoch: epoch, ContentType: ct, AuthenticatedData: ad}
	return aad.AppendTo(b)
}

// appendSenderDataAAD appends the encoded SenderDataAAD (§6.3.2).
func appendSenderDataAAD(b []byte, groupID []byte, epoch uint64, ct codec.ContentType) ([]byte, error) {
	aad := codec.SenderDataAAD{GroupID: groupID, Epoch: epoch, ContentType: ct}
	return aad.AppendTo(b)
}

// senderDataSize is the encoded size of SenderData (§6.3.2).
const senderDataSize = 4 + 4 + 4

// applyGuard XORs the reuse guard into the first four bytes of nonce
// (§6.3.1).
func applyGuard(nonce []byte, guard [4]byte) {
	for i := range guard {
		nonce[i] ^= guard[i]
	}
}

// ProtectPrivate encrypts ac as a PrivateMessage (§6.3): it takes the next
// generation of the sender's handshake or application ratchet (deleting it,
// §9.2), XORs a fresh reuse guard into the nonce, encrypts the padded
// PrivateMessageContent under PrivateContentAAD, and encrypts the
// SenderData with the key and nonce derived from the sender_data_secret and
// the ciphertext sample. ac must have been signed for mls_private_message by
// a member sender of the Protector's group and epoch. The result aliases
// ac's group_id and authenticated_data.
func (p *Protector) ProtectPrivate(ac *codec.AuthenticatedContent) (*codec.PrivateMessage, error) {
	msg := new(codec.PrivateMessage)
	st, err := p.protectPrivate(msg, nil, ac, false)
	if err != nil {
		return nil, err
	}
	err = st.Commit()
	st.Discard()
	if err != nil {
		return nil, err
	}
	return msg, nil
}

// ProtectPrivateStaged is ProtectPrivate without the deletion of the
// generation's key, and with the PrivateMessage returned encoded as an
// MLSMessage (§6), the message to send: the secret tree is unchanged, and
// the returned Staged is the change that deletes the generation. The
// caller persists the tree as it will be (secrettree.Tree.ExportStaged)
// and commits the change before it lets the message out, or discards both
// message and change (never sending a message whose generation it did not
// commit: that generation would be used again). No other method of the
// Protector may be called in between: the Staged is the Protector's own.
// The ciphertexts are made in the Protector's scratch and copied once,
// into the encoding: the only allocation of the message itself.
func (p *Protector) ProtectPrivateStaged(ac *codec.AuthenticatedContent) ([]byte, *secrettree.Staged, error) {
	var pm codec.PrivateMessage
	st, err := p.protectPrivate(&pm, &p.ct, ac, false)
	if err != nil {
		return nil, nil, err
	}
	out, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSPrivateMessage, PrivateMessage: &pm}).Marshal()
	if err != nil {
		st.Discard()
		return nil, nil, fmt.Errorf("framing: encoding the PrivateMessage: %w", err)
	}
	return out, st, nil
}

// protectPrivate is ProtectPrivate into msg. The ciphertexts are made in
// *scratch if it has the room, else in a new buffer that becomes *scratch
// unless it is large; with scratch nil, in a new buffer that msg owns.
// badPadding (for tests only) sets the last padding byte to a non-zero
// value.
func (p *Protector) protectPrivate(msg *codec.PrivateMessage, scratch *[]byte, ac *codec.AuthenticatedContent, badPadding bool) (*secrettree.Staged, error) {
	c := &ac.Content
	if ac.WireFormat != codec.WireFormatMLSPrivateMessage {
		return nil, fmt.Errorf("%w: %v", ErrWireFormat, ac.WireFormat)
	}
	if c.Sender.SenderType != codec.SenderTypeMember {
		return nil, fmt.Errorf("%w: %v sender in a PrivateMessage", ErrSenderType, c.Sender.SenderType)
	}
	if err := p.checkGroupEpoch(c.GroupID, c.Epoch); err != nil {
		return nil, err
	}
	if p.tree == nil || p.senderData == nil {
		return nil, fmt.Errorf("%w: secret tree and sender_data_secret", ErrMissingSecret)
	}

	// Encode the content first, so that a bad content consumes no key.
	// The plaintext is encoded into scratch of its padded size at once: a
	// Commit's (kilobytes with its UpdatePath) is not grown by append,
	// whose copies would be left unerased.
	pmc := codec.PrivateMessageContent{ApplicationData: c.ApplicationData, Proposal: c.Proposal, Commit: c.Commit, Auth: ac.Auth}
	overhead := p.cs.AEADOverhead()
	if size := pmc.Size(c.ContentType); cap(p.pt) < size+p.opts.Padding.Length(size, overhead) {
		clear(p.pt[:cap(p.pt)])
		p.pt = make([]byte, 0, size+p.opts.Padding.Length(size, overhead))
	}
	pt, err := pmc.AppendTo(p.pt[:0], c.ContentType)
	if err != nil {
		clear(pt)
		return nil, fmt.Errorf("framing: encoding PrivateMessageContent: %w", err)
	}
	pad := p.opts.Padding.Length(len(pt), overhead)
	pt = codec.AppendZeros(pt, pad)
	if badPadding && pad > 0 {
		pt[len(pt)-1] = 1
	}
	p.pt = pt[:0]
	defer clear(pt)

	aad, err := appendContentAAD(p.aad[:0], c.GroupID, c.Epoch, c.ContentType, c.AuthenticatedData)
	if err != nil {
		return nil, fmt.Errorf("framing: encoding PrivateContentAAD: %w", err)
	}
	p.aad = aad[:0]

	if _, err := io.ReadFull(p.opts.Rand, p.guard[:]); err != nil {
		return nil, fmt.Errorf("framing: reading reuse guard: %w", err)
	}
	// Key material lives in the Protector (not on the stack, which the
	// provider's interface calls would move to the heap) and is erased on
	// return.
	st := &p.send
	if *st, err = p.tree.StageNext(treemath.LeafIndex(c.Sender.LeafIndex), secrettree.RatchetFor(c.ContentType)); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		st.KeyNonce.Zero()
		if !ok {
			st.Discard()
		}
	}()
	kn := &st.KeyNonce
	applyGuard(kn.Nonce(), p.guard)

	// One buffer holds the content ciphertext and the encrypted sender
	// data.
	ctLen := len(pt) + overhead
	var out []byte
	if n := ctLen + senderDataSize + overhead; scratch != nil && cap(*scratch) >= n {
		out = (*scratch)[:0]
	} else {
		out = make([]byte, 0, n)
		if scratch != nil && n <= maxScratch {
			*scratch = out
		}
	}
	ct, err := p.cs.Seal(out[:0:ctLen], kn.Key(), kn.Nonce(), pt, aad)
	if err != nil {
		return nil, fmt.Errorf("framing: content encryption: %w", err)
	}

	sd := codec.SenderData{LeafIndex: c.Sender.LeafIndex, Generation: kn.Generation, ReuseGuard: p.guard}
	sdb, _ := sd.AppendTo(p.sd[:0])
	p.sd = sdb[:0]
	sdAAD, err := appendSenderDataAAD(p.aad[:0], c.GroupID, c.Epoch, c.ContentType)
	if err != nil {
		return nil, fmt.Errorf("framing: encoding SenderDataAAD: %w", err)
	}
	p.aad = sdAAD[:0]
	skn := &p.skn
	if *skn, err = p.tree.SenderDataKeyNonce(p.senderData, ct); err != nil {
		return nil, err
	}
	defer skn.Zero()
	esd, err := p.cs.Seal(out[ctLen:ctLen], skn.Key(), skn.Nonce(), sdb, sdAAD)
	if err != nil {
		return nil, fmt.Errorf("framing: sender data encryption: %w", err)
	}
	ok = true
	*msg = codec.PrivateMessage{
		GroupID:             c.GroupID,
		Epoch:               c.Epoch,
		ContentType:         c.ContentType,
		AuthenticatedData:   c.AuthenticatedData,
		EncryptedSenderData: esd,
		Ciphertext:          ct,
	}
	return st, nil
}

// UnprotectPrivate decrypts and verifies a PrivateMessage (§6.3) and
// returns its AuthenticatedContent. It checks group and epoch
// (ErrWrongGroup, ErrWrongEpoch); decrypts the sender data
// (ErrSenderDataDecryption, ErrMalformedSenderData); looks up the key of
// the generation in the secret tree (secrettree.ErrLeafOutOfRange and
// *secrettree.GenerationError: reused, too old, too far); decrypts the
// content (ErrContentDecryption) and decodes it with its all-zero padding
// (ErrMalformedContent, wrapping codec.ErrNonZeroPadding); asks keys for
// the sender's signature key, which must fail for a blank leaf
// (ErrUnknownSender); and verifies the signature (ErrSignature). Only when
// all of this succeeds is the generation's key deleted from the tree
// (§9.2); on any error the Protector is unchanged. The result aliases
// msg's group_id and authenticated_data.
func (p *Protector) UnprotectPrivate(msg *codec.PrivateMessage, keys SignatureKeyFunc) (*codec.AuthenticatedContent, error) {
	ac, err := p.unprotectPrivate(msg, keys)
	if err != nil {
		return nil, err
	}
	st := &p.st
	err = st.Commit()
	st.Discard()
	if err != nil {
		return nil, err
	}
	return ac, nil
}

// UnprotectPrivateStaged is UnprotectPrivate without the deletion of the
// generation's key: it returns the key staged, and the caller commits it
// (Staged.Commit, deleting the key as §9.2 requires) once it has accepted
// the message — for a handshake message, after validating its content —
// or discards it, leaving the secret tree exactly as it was. No other
// method of the Protector may be called in between.
func (p *Protector) UnprotectPrivateStaged(msg *codec.PrivateMessage, keys SignatureKeyFunc) (*codec.AuthenticatedContent, *secrettree.Staged, error) {
	ac, err := p.unprotectPrivate(msg, keys)
	if err != nil {
		return nil, nil, err
	}
	st := new(secrettree.Staged)
	*st = p.st
	p.st = secrettree.Staged{}
	return ac, st, nil
}

// SenderLeaf decrypts only the sender data of msg (RFC 9420 §6.3.2) and
// returns the leaf index it names. The sender data is protected with a key
// every member has, so the result says who the message claims to come
// from, not who sent it. The Protector is unchanged.
func (p *Protector) SenderLeaf(msg *codec.PrivateMessage) (uint32, error) {
	if err := p.checkGroupEpoch(msg.GroupID, msg.Epoch); err != nil {
		return 0, err
	}
	if p.tree == nil || p.senderData == nil {
		return 0, fmt.Errorf("%w: secret tree and sender_data_secret", ErrMissingSecret)
	}
	skn, err := p.tree.SenderDataKeyNonce(p.senderData, msg.Ciphertext)
	if err != nil {
		return 0, err
	}
	defer skn.Zero()
	aad, err := appendSenderDataAAD(nil, msg.GroupID, msg.Epoch, msg.ContentType)
	if err != nil {
		return 0, fmt.Errorf("framing: encoding SenderDataAAD: %w", err)
	}
	sdb, err := p.cs.Open(nil, skn.Key(), skn.Nonce(), msg.EncryptedSenderData, aad)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrSenderDataDecryption, err)
	}
	var sd codec.SenderData
	if err := sd.Unmarshal(sdb); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrMalformedSenderData, err)
	}
	return sd.LeafIndex, nil
}

// unprotectPrivate decrypts and verifies msg, leaving the generation's key
// staged in p.st on success (discarded on failure).
func (p *Protector) unprotectPrivate(msg *codec.PrivateMessage, keys SignatureKeyFunc) (*codec.AuthenticatedContent, error) {
	if err := p.checkGroupEpoch(msg.GroupID, msg.Epoch); err != nil {
		return nil, err
	}
	if p.tree == nil || p.senderData == nil {
		return nil, fmt.Errorf("%w: secret tree and sender_data_secret", ErrMissingSecret)
	}
	if !msg.ContentType.IsKnown() {
		return nil, fmt.Errorf("%w: content type %v", ErrMalformedContent, msg.ContentType)
	}

	// Sender data (§6.3.2).
	skn := &p.skn
	var err error
	if *skn, err = p.tree.SenderDataKeyNonce(p.senderData, msg.Ciphertext); err != nil {
		return nil, err
	}
	sdAAD, err := appendSenderDataAAD(p.aad[:0], msg.GroupID, msg.Epoch, msg.ContentType)
	if err != nil {
		skn.Zero()
		return nil, fmt.Errorf("framing: encoding SenderDataAAD: %w", err)
	}
	p.aad = sdAAD[:0]
	sdb, err := p.cs.Open(p.sd[:0], skn.Key(), skn.Nonce(), msg.EncryptedSenderData, sdAAD)
	skn.Zero()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSenderDataDecryption, err)
	}
	p.sd = sdb[:0]
	var sd codec.SenderData
	r := codec.NewReader(sdb)
	if err := sd.Decode(r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedSenderData, err)
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedSenderData, err)
	}

	// Content key from the secret tree, staged until the message is
	// authenticated.
	st := &p.st
	if *st, err = p.tree.Stage(treemath.LeafIndex(sd.LeafIndex), secrettree.RatchetFor(msg.ContentType), sd.Generation); err != nil {
		return nil, err
	}
	applyGuard(st.Nonce(), sd.ReuseGuard)
	aad, err := appendContentAAD(p.aad[:0], msg.GroupID, msg.Epoch, msg.ContentType, msg.AuthenticatedData)
	if err != nil {
		st.Discard()
		return nil, fmt.Errorf("framing: encoding PrivateContentAAD: %w", err)
	}
	p.aad = aad[:0]
	pt, err := p.cs.Open(nil, st.Key(), st.Nonce(), msg.Ciphertext, aad)
	if err != nil {
		st.Discard()
		return nil, fmt.Errorf("%w: %w", ErrContentDecryption, err)
	}
	p.Reserve(len(pt))
	var pmc codec.PrivateMessageContent
	r = codec.NewReader(pt)
	if p.opts.MaxElements > 0 {
		r.LimitElements(p.opts.MaxElements)
		r.LimitAlloc(codec.AllocBudget(len(pt)))
	}
	// A decoding that went past a limit may have skipped what it could
	// not allocate: it is refused whether or not it failed.
	if err := pmc.Decode(r, msg.ContentType); err != nil || r.ElementsExceeded() != nil {
		st.Discard()
		if e := r.ElementsExceeded(); e != nil {
			err = e
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformedContent, err)
	}
	if err := r.Finish(); err != nil {
		st.Discard()
		return nil, fmt.Errorf("%w: %w", ErrMalformedContent, err)
	}

	ac := &codec.AuthenticatedContent{
		WireFormat: codec.WireFormatMLSPrivateMessage,
		Content: codec.FramedContent{
			GroupID:           msg.GroupID,
			Epoch:             msg.Epoch,
			Sender:            codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: sd.LeafIndex},
			AuthenticatedData: msg.AuthenticatedData,
			ContentType:       msg.ContentType,
			ApplicationData:   pmc.ApplicationData,
			Proposal:          pmc.Proposal,
			Commit:            pmc.Commit,
		},
		Auth: pmc.Auth,
	}
	if err := p.verify(ac, keys); err != nil {
		st.Discard()
		return nil, err
	}
	return ac, nil
}
