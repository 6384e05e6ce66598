package mls

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/mlskit/mlskit/codec"
)

// X509Validator is a ready-made CredentialValidator for X.509 credentials
// built on crypto/x509 (RFC 9420 §5.3, §5.3.1). For an x509 credential it
//
//   - parses every certificate of the chain (DER, end-entity first);
//   - verifies the chain to Roots at the time given by Now, using the other
//     certificates of the chain as intermediates;
//   - checks that the end-entity certificate's public key is the leaf's
//     signature_key (§5.3: "MUST be identical"): the raw key for Ed25519,
//     the uncompressed point for ECDSA; Ed448 keys are not supported by
//     crypto/x509 and are rejected;
//   - calls CheckIdentity, if set, to match the certificate's presented
//     identifiers against the application's reference identifiers.
//
// Credentials of other types go to Fallback (nil rejects them with
// ErrUnsupportedCredential).
type X509Validator struct {
	Roots *x509.CertPool
	// KeyUsages are the acceptable extended key usages; nil accepts any.
	KeyUsages []x509.ExtKeyUsage
	// Now is the verification time; nil means time.Now.
	Now func() time.Time
	// CheckIdentity checks the presented identifiers of the verified
	// end-entity certificate; nil accepts any.
	CheckIdentity func(cert *x509.Certificate) error
	// Fallback validates credentials of other types.
	Fallback CredentialValidator
}

var _ CredentialValidator = (*X509Validator)(nil)

// ValidateCredential implements CredentialValidator.
func (v *X509Validator) ValidateCredential(suite codec.CipherSuite, cred Credential, signatureKey []byte) error {
	if cred.Type() != codec.CredentialTypeX509 {
		if v.Fallback != nil {
			return v.Fallback.ValidateCredential(suite, cred, signatureKey)
		}
		return fmt.Errorf("%w: %v credential", ErrUnsupportedCredential, cred.Type())
	}
	chain := cred.Certificates()
	if len(chain) == 0 {
		return errors.New("x509 credential without certificates")
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("certificate %d: %w", i, err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	usages := v.KeyUsages
	if usages == nil {
		usages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: v.Roots, Intermediates: inter, CurrentTime: now, KeyUsages: usages}); err != nil {
		return fmt.Errorf("certificate chain: %w", err)
	}
	var pub []byte
	switch k := certs[0].PublicKey.(type) {
	case ed25519.PublicKey:
		pub = k
	case *ecdsa.PublicKey:
		e, err := k.ECDH()
		if err != nil {
			return fmt.Errorf("end-entity key: %w", err)
		}
		pub = e.Bytes()
	default:
		return fmt.Errorf("end-entity key of type %T is not an MLS signature key", k)
	}
	if !bytes.Equal(pub, signatureKey) {
		return errors.New("end-entity certificate key differs from the leaf's signature key")
	}
	if v.CheckIdentity != nil {
		if err := v.CheckIdentity(certs[0]); err != nil {
			return fmt.Errorf("identity: %w", err)
		}
	}
	return nil
}
