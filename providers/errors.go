package providers

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
)

// Sentinel errors returned (wrapped) by cipher suite implementations and the
// labeled helpers. Branch on them with errors.Is.
var (
	// ErrUnsupportedCipherSuite is matched by every
	// *UnsupportedCipherSuiteError.
	ErrUnsupportedCipherSuite = errors.New("unsupported cipher suite")
	// ErrInvalidSignature: a signature does not verify (§5.1.2).
	ErrInvalidSignature = errors.New("invalid signature")
	// ErrDecryption: AEAD or HPKE decryption failed to authenticate
	// (§5.1.3, §6.3).
	ErrDecryption = errors.New("decryption failed")
	// ErrInvalidPublicKey: a public key has the wrong length or is not a valid
	// encoding for the suite (§5.1.1).
	ErrInvalidPublicKey = errors.New("invalid public key")
	// ErrInvalidPrivateKey: a private key has the wrong length or is out of
	// range for the suite.
	ErrInvalidPrivateKey = errors.New("invalid private key")
	// ErrInvalidKeySize: a symmetric key or nonce has the wrong length for the
	// suite's AEAD (Nk, Nn) or KDF.
	ErrInvalidKeySize = errors.New("invalid key or nonce size")
	// ErrInvalidLength: a requested output length is out of range, such as an
	// HKDF-Expand longer than 255*Nh (RFC 5869 §2.3).
	ErrInvalidLength = errors.New("invalid output length")
	// ErrInvalidKEMOutput: an HPKE encapsulated key has the wrong length or
	// does not decode (RFC 9180 §4).
	ErrInvalidKEMOutput = errors.New("invalid KEM output")
)

// UnsupportedCipherSuiteError reports a cipher suite value a provider does not
// implement: one that is unknown, reserved or GREASE (§13.5), or one whose
// primitives the provider lacks. It matches [ErrUnsupportedCipherSuite] with
// errors.Is.
type UnsupportedCipherSuiteError struct {
	Suite  codec.CipherSuite
	Reason string // optional detail, such as "X448 is not in the standard library"
}

func (e *UnsupportedCipherSuiteError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("providers: unsupported cipher suite 0x%04x", uint16(e.Suite))
	}
	return fmt.Sprintf("providers: unsupported cipher suite 0x%04x: %s", uint16(e.Suite), e.Reason)
}

// Is reports whether target is ErrUnsupportedCipherSuite.
func (e *UnsupportedCipherSuiteError) Is(target error) bool {
	return target == ErrUnsupportedCipherSuite
}
