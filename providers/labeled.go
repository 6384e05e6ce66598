package providers

import (
	"fmt"

	"github.com/mlskit/mlskit/codec"
)

// LabelPrefix is prepended to the Label argument of ExpandWithLabel,
// SignWithLabel and EncryptWithLabel (RFC 9420 §5.1.2, §5.1.3, §8).
const LabelPrefix = "MLS 1.0 "

// Labels of the hash-based identifiers of RFC 9420 §5.2.
const (
	KeyPackageRefLabel = "MLS 1.0 KeyPackage Reference"
	ProposalRefLabel   = "MLS 1.0 Proposal Reference"
)

// maxInlineLabel bounds the labels prefixed on the stack; longer ones (never
// used by RFC 9420) cost one more allocation.
const maxInlineLabel = 64

// prefixLabel returns LabelPrefix + label, built in buf when it fits.
func prefixLabel(buf *[maxInlineLabel]byte, label string) []byte {
	return append(append(buf[:0], LabelPrefix...), label...)
}

// structBuf returns an empty slice with room for a struct of two MLS vectors
// of lengths a and b plus extra fixed bytes (a varint length prefix takes at
// most 4 bytes, RFC 9420 §2.1.2).
func structBuf(extra, a, b int) []byte {
	return make([]byte, 0, extra+4+a+4+b)
}

// ExpandWithLabel derives length bytes from secret (RFC 9420 §8):
//
//	ExpandWithLabel(Secret, Label, Context, Length) =
//	    KDF.Expand(Secret, KDFLabel, Length)
//
// where KDFLabel is {length, "MLS 1.0 " + Label, Context}.
func ExpandWithLabel(cs CipherSuite, secret []byte, label string, context []byte, length uint16) ([]byte, error) {
	var lb [maxInlineLabel]byte
	kl := codec.KDFLabel{
		Length:  length,
		Label:   prefixLabel(&lb, label),
		Context: context,
	}
	// One allocation holds the output followed by the encoded KDFLabel: Expand
	// appends the output to buf[:0] while reading info from buf[length:],
	// which it never reaches (the capacity of dst is exactly length). For
	// long contexts (such as a GroupContext) the KDFLabel gets its own
	// buffer so that the returned secret does not pin it.
	n := int(length)
	infoCap := 2 + 4 + len(kl.Label) + 4 + len(context)
	var dst, info []byte
	if infoCap <= maxSharedInfo {
		buf := make([]byte, n, n+infoCap)
		dst, info = buf[:0:n], buf[n:n]
	} else {
		info = make([]byte, 0, infoCap)
	}
	info, err := kl.AppendTo(info)
	if err != nil {
		return nil, fmt.Errorf("providers: ExpandWithLabel %q: %w", label, err)
	}
	out, err := cs.Expand(dst, secret, info, n)
	if err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, fmt.Errorf("providers: Expand returned %d bytes, want %d", len(out), n)
	}
	return out[:n:n], nil
}

// maxSharedInfo bounds the encoded KDFLabel that ExpandWithLabel keeps in
// the same allocation as its output.
const maxSharedInfo = 96

// DeriveSecret is ExpandWithLabel(Secret, Label, "", KDF.Nh) (RFC 9420 §8).
func DeriveSecret(cs CipherSuite, secret []byte, label string) ([]byte, error) {
	return ExpandWithLabel(cs, secret, label, nil, uint16(cs.HashSize()))
}

// DeriveSecrets is DeriveSecret(secret, labels[i]) for each label (RFC
// 9420 §8), into out[i]: several secrets derived from one, as the key
// schedule derives its epoch's secrets from epoch_secret (§8). One
// Expander (NewExpander) serves every label, so a suite that is an
// ExpanderMaker hashes the key's HMAC pads once for all of them. Each
// output is its own allocation, so that each can be erased and dropped
// alone. On error, the outputs made are erased and out's entries set to
// nil.
func DeriveSecrets(cs CipherSuite, secret []byte, labels []string, out [][]byte) error {
	x := NewExpander(cs)
	defer x.Zero()
	return DeriveSecretsWith(x, cs.HashSize(), secret, labels, out)
}

// DeriveSecretsWith is DeriveSecrets with x, an Expander of the suite
// (NewExpander) whose hash length is nh, for a caller that derives from
// several secrets in turn (TreeKEM's path_secret chain, §7.4). x keeps
// secret as its key: the caller erases it (Expander.Zero) when done.
func DeriveSecretsWith(x Expander, nh int, secret []byte, labels []string, out [][]byte) error {
	if len(out) != len(labels) {
		return fmt.Errorf("%w: %d outputs for %d labels", ErrInvalidLength, len(out), len(labels))
	}
	if nh <= 0 || nh > 0xffff {
		return fmt.Errorf("%w: hash length %d", ErrInvalidLength, nh)
	}
	if err := x.SetKey(secret); err != nil {
		return err
	}
	var lb [maxInlineLabel]byte
	for i, label := range labels {
		kl := codec.KDFLabel{Length: uint16(nh), Label: prefixLabel(&lb, label)}
		// The output and its KDFLabel in one allocation, as in
		// ExpandWithLabel: Expand appends to buf[:0:nh] while reading
		// info from buf[nh:], which it never reaches. (A KDFLabel on the
		// stack would escape through the Expander: an allocation more.)
		buf := make([]byte, nh, nh+2+4+len(kl.Label)+4)
		info, err := kl.AppendTo(buf[nh:nh])
		if err == nil {
			out[i], err = x.Expand(buf[:0:nh], info, nh)
		}
		if err == nil && len(out[i]) != nh {
			err = fmt.Errorf("providers: Expand returned %d bytes, want %d", len(out[i]), nh)
		}
		if err != nil {
			for j := range out[:i+1] {
				clear(out[j])
				out[j] = nil
			}
			return fmt.Errorf("providers: DeriveSecret %q: %w", label, err)
		}
	}
	return nil
}

// DeriveTreeSecret is ExpandWithLabel(Secret, Label, Generation, Length) with
// Generation encoded as a uint32 (RFC 9420 §9.1), by the codec's uint32
// encoder (big-endian, §2.1.1).
func DeriveTreeSecret(cs CipherSuite, secret []byte, label string, generation uint32, length uint16) ([]byte, error) {
	var gen [4]byte
	return ExpandWithLabel(cs, secret, label, codec.AppendUint32(gen[:0], generation), length)
}

// SignWithLabel signs content under the label (RFC 9420 §5.1.2):
//
//	SignWithLabel(SignatureKey, Label, Content) =
//	    Signature.Sign(SignatureKey, SignContent)
//
// where SignContent is {"MLS 1.0 " + Label, Content}.
func SignWithLabel(key Signer, label string, content []byte) ([]byte, error) {
	tbs, err := signContent(label, content)
	if err != nil {
		return nil, err
	}
	return key.Sign(tbs)
}

// VerifyWithLabel checks a signature made by SignWithLabel (RFC 9420
// §5.1.2). It returns nil if the signature is valid and an error wrapping
// ErrInvalidSignature (or ErrInvalidPublicKey) otherwise.
func VerifyWithLabel(cs CipherSuite, pub []byte, label string, content, signature []byte) error {
	tbs, err := signContent(label, content)
	if err != nil {
		return err
	}
	return cs.Verify(pub, tbs, signature)
}

// SignContentRoom is the most bytes VerifyWithLabelInPlace writes before
// the content for label: the vector "MLS 1.0 " + label and the length
// prefix of the content (a varint prefix takes at most 4 bytes, RFC 9420
// §2.1.2).
func SignContentRoom(label string) int { return 4 + len(LabelPrefix) + len(label) + 4 }

// VerifyWithLabelInPlace is VerifyWithLabel(cs, pub, label,
// buf[off:off+n], signature) without a copy of the content: SignContent
// is the content preceded by the encoded label and the content's length
// (RFC 9420 §5.1.2), which it writes into buf[off-k:off], k at most
// SignContentRoom(label), then verifies buf[off-k:off+n]. The bytes before
// off are overwritten. Too little room, or a range outside buf, gives an
// error wrapping ErrInvalidLength.
func VerifyWithLabelInPlace(cs CipherSuite, pub []byte, label string, buf []byte, off, n int, signature []byte) error {
	var hb [4 + maxInlineLabel + 4]byte
	if n < 0 {
		return fmt.Errorf("%w: SignContent of %d bytes", ErrInvalidLength, n)
	}
	h, err := signContentHead(hb[:0], label, n)
	if err != nil {
		return fmt.Errorf("providers: SignContent %q: %w", label, err)
	}
	if n < 0 || off < len(h) || off > len(buf)-n {
		return fmt.Errorf("%w: SignContent of %d bytes at %d in a buffer of %d with %d bytes of header", ErrInvalidLength, n, off, len(buf), len(h))
	}
	start := off - len(h)
	copy(buf[start:off], h)
	return cs.Verify(pub, buf[start:off+n], signature)
}

// SignWithLabelInPlace is SignWithLabel(key, label, buf[off:off+n])
// without a copy of the content, as VerifyWithLabelInPlace verifies: it
// writes the header of SignContent into buf[off-k:off], k at most
// SignContentRoom(label), and signs buf[off-k:off+n]. The bytes before off
// are overwritten. Too little room, or a range outside buf, gives an
// error wrapping ErrInvalidLength.
func SignWithLabelInPlace(key Signer, label string, buf []byte, off, n int) ([]byte, error) {
	var hb [4 + maxInlineLabel + 4]byte
	if n < 0 {
		return nil, fmt.Errorf("%w: SignContent of %d bytes", ErrInvalidLength, n)
	}
	h, err := signContentHead(hb[:0], label, n)
	if err != nil {
		return nil, fmt.Errorf("providers: SignContent %q: %w", label, err)
	}
	if n < 0 || off < len(h) || off > len(buf)-n {
		return nil, fmt.Errorf("%w: SignContent of %d bytes at %d in a buffer of %d with %d bytes of header", ErrInvalidLength, n, off, len(buf), len(h))
	}
	start := off - len(h)
	copy(buf[start:off], h)
	return key.Sign(buf[start : off+n])
}

// signContentHead appends the encoding of SignContent{"MLS 1.0 " + label,
// content} (RFC 9420 §5.1.2) up to the content itself, for a content of n
// bytes: the label vector, then the content's length prefix
// (codec.SignContent.AppendHead).
func signContentHead(b []byte, label string, n int) ([]byte, error) {
	var lb [maxInlineLabel]byte
	sc := codec.SignContent{Label: prefixLabel(&lb, label)}
	return sc.AppendHead(b, n)
}

// encryptContextHead is signContentHead for EncryptContext{"MLS 1.0 " +
// label, context} (RFC 9420 §5.1.3; codec.EncryptContext.AppendHead).
func encryptContextHead(b []byte, label string, n int) ([]byte, error) {
	var lb [maxInlineLabel]byte
	ec := codec.EncryptContext{Label: prefixLabel(&lb, label)}
	return ec.AppendHead(b, n)
}

func signContent(label string, content []byte) ([]byte, error) {
	var lb [maxInlineLabel]byte
	sc := codec.SignContent{Label: prefixLabel(&lb, label), Content: content}
	b, err := sc.AppendTo(structBuf(0, len(sc.Label), len(content)))
	if err != nil {
		return nil, fmt.Errorf("providers: SignContent %q: %w", label, err)
	}
	return b, nil
}

// EncryptWithLabel encrypts plaintext to the HPKE public key pub (RFC 9420
// §5.1.3):
//
//	EncryptWithLabel(PublicKey, Label, Context, Plaintext) =
//	    SealBase(PublicKey, EncryptContext, "", Plaintext)
//
// where EncryptContext is {"MLS 1.0 " + Label, Context}. It returns the
// kem_output and ciphertext of an HPKECiphertext.
func EncryptWithLabel(cs CipherSuite, pub []byte, label string, context, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	info, err := encryptContext(label, context)
	if err != nil {
		return nil, nil, err
	}
	return cs.SealBase(pub, info, nil, plaintext)
}

// DecryptWithLabel decrypts what EncryptWithLabel produced (RFC 9420 §5.1.3):
//
//	DecryptWithLabel(PrivateKey, Label, Context, KEMOutput, Ciphertext) =
//	    OpenBase(KEMOutput, PrivateKey, EncryptContext, "", Ciphertext)
//
// A suite that implements SplitInfoOpener gets the EncryptContext in two
// parts, the encoded label and length prefix then the context, without a
// copy of the context.
func DecryptWithLabel(cs CipherSuite, priv []byte, label string, context, kemOutput, ciphertext []byte) ([]byte, error) {
	return DecryptWithLabelKeyPair(cs, priv, nil, label, context, kemOutput, ciphertext)
}

// DecryptWithLabelKeyPair is DecryptWithLabel where pub, if not nil, is
// the public key of priv, known to the caller (a joiner's KeyPackage
// init_key, RFC 9420 §12.4.3.1): a suite that implements SplitInfoOpener
// may put it into the KEM context (RFC 9180 §4.1) instead of computing it
// from priv, a scalar multiplication for the DH KEMs. A pub that is not
// priv's gives another shared secret, so the decryption fails.
func DecryptWithLabelKeyPair(cs CipherSuite, priv, pub []byte, label string, context, kemOutput, ciphertext []byte) ([]byte, error) {
	var hb [4 + maxInlineLabel + 4]byte
	head, err := encryptContextHead(hb[:0], label, len(context))
	if err != nil {
		return nil, fmt.Errorf("providers: EncryptContext %q: %w", label, err)
	}
	return OpenBaseSplitInfo(cs, priv, pub, kemOutput, head, context, nil, ciphertext)
}

// OpenBaseSplitInfo is OpenBase(priv, kemOutput, head || tail, aad,
// ciphertext) by cs (RFC 9180 §6.1), where pub is nil or the public key of
// priv: the suite's own [SplitInfoOpener.OpenBaseSplitInfo] if it has one,
// else OpenBase of head || tail (copied unless tail is empty).
func OpenBaseSplitInfo(cs CipherSuite, priv, pub, kemOutput, head, tail, aad, ciphertext []byte) ([]byte, error) {
	if o, ok := cs.(SplitInfoOpener); ok {
		return o.OpenBaseSplitInfo(priv, pub, kemOutput, head, tail, aad, ciphertext)
	}
	info := head
	if len(tail) > 0 {
		info = append(head[:len(head):len(head)], tail...)
	}
	return cs.OpenBase(priv, kemOutput, info, aad, ciphertext)
}

// EncryptContext returns the encoded EncryptContext{"MLS 1.0 " + label,
// context} that EncryptWithLabel passes to HPKE as info (RFC 9420 §5.1.3).
// A caller encrypting to many keys with the same label and context (a
// Welcome's GroupSecrets, whose context is the whole encrypted GroupInfo)
// builds it once and calls SealBase itself.
func EncryptContext(label string, context []byte) ([]byte, error) {
	return encryptContext(label, context)
}

// EncryptContextInPlace is EncryptContext(label, buf[off:off+n]) without a
// copy of the context: it writes the encoded label and the context's length
// into buf[off-k:off], k at most SignContentRoom(label) (EncryptContext has
// SignContent's layout), and returns buf[off-k:off+n]. The bytes before off
// are overwritten. Too little room, or a range outside buf, gives an error
// wrapping ErrInvalidLength.
func EncryptContextInPlace(label string, buf []byte, off, n int) ([]byte, error) {
	var hb [4 + maxInlineLabel + 4]byte
	if n < 0 {
		return nil, fmt.Errorf("%w: EncryptContext of %d bytes", ErrInvalidLength, n)
	}
	h, err := encryptContextHead(hb[:0], label, n)
	if err != nil {
		return nil, fmt.Errorf("providers: EncryptContext %q: %w", label, err)
	}
	if n < 0 || off < len(h) || off > len(buf)-n {
		return nil, fmt.Errorf("%w: EncryptContext of %d bytes at %d in a buffer of %d with %d bytes of header", ErrInvalidLength, n, off, len(buf), len(h))
	}
	start := off - len(h)
	copy(buf[start:off], h)
	return buf[start : off+n], nil
}

func encryptContext(label string, context []byte) ([]byte, error) {
	var lb [maxInlineLabel]byte
	ec := codec.EncryptContext{Label: prefixLabel(&lb, label), Context: context}
	b, err := ec.AppendTo(structBuf(0, len(ec.Label), len(context)))
	if err != nil {
		return nil, fmt.Errorf("providers: EncryptContext %q: %w", label, err)
	}
	return b, nil
}

// RefHash is Hash(RefHashInput{label, value}) (RFC 9420 §5.2). Unlike the
// other labeled functions, label is used as given, without "MLS 1.0 ".
func RefHash(cs CipherSuite, label string, value []byte) ([]byte, error) {
	var lb [maxInlineLabel]byte
	in := codec.RefHashInput{Label: append(lb[:0], label...), Value: value}
	b, err := in.AppendTo(structBuf(0, len(label), len(value)))
	if err != nil {
		return nil, fmt.Errorf("providers: RefHashInput %q: %w", label, err)
	}
	return cs.Hash(make([]byte, 0, cs.HashSize()), b), nil
}

// MakeKeyPackageRef returns the KeyPackageRef of an encoded KeyPackage
// (RFC 9420 §5.2), under the KeyPackage's own cipher suite cs.
func MakeKeyPackageRef(cs CipherSuite, keyPackage []byte) ([]byte, error) {
	return RefHash(cs, KeyPackageRefLabel, keyPackage)
}

// MakeProposalRef returns the ProposalRef of an encoded AuthenticatedContent
// carrying a Proposal (RFC 9420 §5.2).
func MakeProposalRef(cs CipherSuite, authenticatedContent []byte) ([]byte, error) {
	return RefHash(cs, ProposalRefLabel, authenticatedContent)
}
