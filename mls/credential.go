package mls

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/mlskit/mlskit/codec"
)

// Credential is a member's credential (RFC 9420 §5.3): a basic credential
// (a bare identity whose format the application defines), an X.509
// credential (a DER certificate chain, end-entity first), or a credential
// of another type carried as opaque data. A Credential is immutable: its
// constructors and accessors copy.
type Credential struct {
	wire codec.Credential
}

// NewBasicCredential returns a basic credential asserting identity
// (RFC 9420 §5.3). The identity's format is the application's.
func NewBasicCredential(identity []byte) Credential {
	return Credential{wire: codec.Credential{
		CredentialType: codec.CredentialTypeBasic,
		Identity:       bytes.Clone(nonNil(identity)),
	}}
}

// NewX509Credential returns an X.509 credential carrying chain, a list of
// DER-encoded certificates with the end-entity certificate first (RFC 9420
// §5.3). mls does not parse the certificates: a CredentialValidator supplied
// by the application validates them (§5.3.1).
func NewX509Credential(chain [][]byte) (Credential, error) {
	if len(chain) == 0 {
		return Credential{}, fmt.Errorf("%w: X.509 credential with an empty certificate chain", ErrInvalidArgument)
	}
	certs := make([]codec.Certificate, len(chain))
	for i, c := range chain {
		if len(c) == 0 {
			return Credential{}, fmt.Errorf("%w: X.509 credential with an empty certificate at %d", ErrInvalidArgument, i)
		}
		certs[i] = codec.Certificate{CertData: bytes.Clone(c)}
	}
	return Credential{wire: codec.Credential{CredentialType: codec.CredentialTypeX509, Certificates: certs}}, nil
}

// CredentialFromWire returns the Credential of a decoded wire credential,
// of any type (§13.3: unknown credential types are carried as opaque
// credential_data).
func CredentialFromWire(c *codec.Credential) Credential {
	return Credential{wire: cloneCredential(c)}
}

// Wire returns a copy of the credential as the generated wire type, to place
// in a LeafNode or compare encodings.
func (c Credential) Wire() codec.Credential { return cloneCredential(&c.wire) }

// Type returns the credential type (§5.3, §17.5).
func (c Credential) Type() codec.CredentialType { return c.wire.CredentialType }

// IsZero reports whether c is the zero Credential, which no constructor
// returns.
func (c Credential) IsZero() bool {
	return c.wire.CredentialType == 0 && c.wire.Identity == nil && c.wire.Certificates == nil && c.wire.CredentialData == nil
}

// Identity returns the identity of a basic credential, or nil for other
// types.
func (c Credential) Identity() []byte {
	if c.wire.CredentialType != codec.CredentialTypeBasic {
		return nil
	}
	return bytes.Clone(nonNil(c.wire.Identity))
}

// Certificates returns the DER certificate chain of an X.509 credential,
// end-entity certificate first, or nil for other types.
func (c Credential) Certificates() [][]byte {
	if c.wire.CredentialType != codec.CredentialTypeX509 {
		return nil
	}
	out := make([][]byte, len(c.wire.Certificates))
	for i := range c.wire.Certificates {
		out[i] = bytes.Clone(nonNil(c.wire.Certificates[i].CertData))
	}
	return out
}

// Data returns the opaque credential_data of a credential of a type other
// than basic and x509, or nil.
func (c Credential) Data() []byte {
	switch c.wire.CredentialType {
	case codec.CredentialTypeBasic, codec.CredentialTypeX509:
		return nil
	}
	return bytes.Clone(nonNil(c.wire.CredentialData))
}

// Equal reports whether c and o have the same type and content.
func (c Credential) Equal(o Credential) bool { return wireCredentialsEqual(&c.wire, &o.wire) }

// wireCredentialsEqual reports whether a and b have the same encoding
// (§5.3), encoded into buffers on the stack when they fit.
func wireCredentialsEqual(a, b *codec.Credential) bool {
	var ab, bb [256]byte
	x, errA := a.AppendTo(ab[:0])
	y, errB := b.AppendTo(bb[:0])
	return errA == nil && errB == nil && bytes.Equal(x, y)
}

// String describes the credential for logs: its type and, for a basic
// credential, its identity.
func (c Credential) String() string {
	switch c.wire.CredentialType {
	case codec.CredentialTypeBasic:
		return fmt.Sprintf("basic(%q)", c.wire.Identity)
	case codec.CredentialTypeX509:
		return fmt.Sprintf("x509(%d certificates)", len(c.wire.Certificates))
	}
	return fmt.Sprintf("%v(%d bytes)", c.wire.CredentialType, len(c.wire.CredentialData))
}

func cloneCredential(c *codec.Credential) codec.Credential {
	out := codec.Credential{
		CredentialType: c.CredentialType,
		Identity:       bytes.Clone(c.Identity),
		CredentialData: bytes.Clone(c.CredentialData),
	}
	if c.Certificates != nil {
		out.Certificates = make([]codec.Certificate, len(c.Certificates))
		for i := range c.Certificates {
			out.Certificates[i] = codec.Certificate{CertData: bytes.Clone(c.Certificates[i].CertData)}
		}
	}
	return out
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// CredentialValidator is the application's Authentication Service hook
// (RFC 9420 §5.3.1): it checks that cred legitimately represents its
// presented identifiers, that they are bound to signatureKey (for X.509:
// that the end-entity certificate's subjectPublicKeyInfo is signatureKey
// under the signature scheme of suite), and that they are acceptable to the
// application. mls calls it whenever a credential enters a group: key
// packages to add, Add and Update proposals, UpdatePath leaf nodes, the
// members of a GroupInfo being joined, and external senders.
//
// A returned error rejects the credential; mls reports it as a
// *ValidationError with Code RuleCredential wrapping the error.
type CredentialValidator interface {
	ValidateCredential(suite codec.CipherSuite, cred Credential, signatureKey []byte) error
}

// CredentialSuccessorValidator is optionally implemented by a
// CredentialValidator to check, when a member replaces its credential in an
// Update proposal or its Commit's path leaf, that the new presented
// identifiers are a valid successor of the old ones (RFC 9420 §5.3.1); it
// also decides whether an external Commit may remove a leaf, new being the
// joiner's credential and old the removed member's (§12.4.3.2), even when
// they are equal. Without it mls applies SameIdentity: the identity must not
// change. A refusal is reported as RuleCredentialSuccessor.
type CredentialSuccessorValidator interface {
	ValidateSuccessor(suite codec.CipherSuite, old, new Credential) error
}

// CredentialValidatorFunc adapts a function to a CredentialValidator.
type CredentialValidatorFunc func(suite codec.CipherSuite, cred Credential, signatureKey []byte) error

// ValidateCredential calls f.
func (f CredentialValidatorFunc) ValidateCredential(suite codec.CipherSuite, cred Credential, signatureKey []byte) error {
	return f(suite, cred, signatureKey)
}

// BasicCredentialValidator is the default CredentialValidator: it accepts
// every basic credential (whose binding to a signature key MLS leaves to
// the application, §5.3) and rejects every other type with
// ErrUnsupportedCredential, since an X.509 chain accepted without checking
// it would authenticate nothing. Applications that use X.509 credentials
// supply their own validator.
type BasicCredentialValidator struct{}

// ValidateCredential implements CredentialValidator.
func (BasicCredentialValidator) ValidateCredential(_ codec.CipherSuite, cred Credential, _ []byte) error {
	return basicCredentialCheck(cred.Type())
}

// basicCredentialCheck is BasicCredentialValidator's check, which reads
// only the credential's type.
func basicCredentialCheck(t codec.CredentialType) error {
	if t == codec.CredentialTypeBasic {
		return nil
	}
	return fmt.Errorf("%w: %v credential needs an application CredentialValidator", ErrUnsupportedCredential, t)
}

// supportedCredentialTypes lists the credential types this library carries
// and advertises in default capabilities.
func supportedCredentialTypes() []codec.CredentialType {
	return []codec.CredentialType{codec.CredentialTypeBasic, codec.CredentialTypeX509}
}

// validateCredential runs v (the default if nil) and wraps a rejection.
func validateCredential(v CredentialValidator, suite codec.CipherSuite, c *codec.Credential, signatureKey []byte) error {
	var err error
	switch v.(type) {
	case nil, BasicCredentialValidator:
		// The default reads only the credential's type: it is not given
		// the copies of the credential and key an application's
		// validator is (which it may keep), two allocations per leaf of
		// the tree a joiner validates (RFC 9420 §12.4.3.1).
		err = basicCredentialCheck(c.CredentialType)
	default:
		err = v.ValidateCredential(suite, CredentialFromWire(c), slices.Clone(signatureKey))
	}
	if err != nil {
		return RuleCredential.Errorf("%v credential rejected: %w", c.CredentialType, err)
	}
	return nil
}
