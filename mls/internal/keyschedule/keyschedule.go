// Package keyschedule implements the key schedule of RFC 9420 §8: the
// derivation of an epoch's secrets from the previous init_secret, the
// commit_secret, the psk_secret and the GroupContext (§8), the PSK secret
// (§8.4), the exporter (§8.5), external initialization (§8.3), the Welcome
// key and nonce (§12.4.3.1), the confirmation and membership tags (§6.3.1,
// §8.1) and the transcript hashes (§8.2).
//
// Everything here is a pure function of its inputs over a
// [providers.CipherSuite]; the package keeps no state. Secrets are returned
// as [Secret] values that the caller erases with Zero once the protocol no
// longer needs them (§9.2); intermediate values that never leave a function
// (the extracted secrets, member secret and epoch_secret) are erased before
// it returns.
//
// Inputs that the RFC writes as "0" (an all-zero vector of length KDF.Nh:
// the commit_secret of a Commit without a path, the psk_secret without
// PSKs) may be passed as nil.
package keyschedule

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/providers"
)

// Labels of the key schedule (RFC 9420 §8, Table 4; §8.3; §8.5; §12.4.3.1).
// ExpandWithLabel prefixes them with "MLS 1.0 ".
const (
	labelJoiner         = "joiner"
	labelWelcome        = "welcome"
	labelEpoch          = "epoch"
	labelInit           = "init"
	labelSenderData     = "sender data"
	labelEncryption     = "encryption"
	labelExporter       = "exporter"
	labelExternal       = "external"
	labelConfirm        = "confirm"
	labelMembership     = "membership"
	labelResumption     = "resumption"
	labelAuthentication = "authentication"
	labelDerivedPSK     = "derived psk"
	labelExported       = "exported"
	labelKey            = "key"
	labelNonce          = "nonce"

	// ExternalInitLabel is the exporter context of the HPKE export that
	// produces the init_secret of an external commit (§8.3). It is used as
	// is, not through ExpandWithLabel.
	ExternalInitLabel = "MLS 1.0 external init secret"
)

// Errors returned (wrapped) by this package. Branch on them with errors.Is.
var (
	// ErrSecretSize: a key schedule input (init_secret, commit_secret,
	// psk_secret, joiner_secret, ...) is not KDF.Nh bytes long (§8).
	ErrSecretSize = errors.New("keyschedule: secret has the wrong length")
	// ErrPSKNonceSize: a PreSharedKeyID's psk_nonce is not KDF.Nh bytes long
	// (§8.4: "MUST be set to a fresh random value of length KDF.Nh").
	ErrPSKNonceSize = errors.New("keyschedule: psk_nonce is not KDF.Nh bytes")
	// ErrTooManyPSKs: more PSKs than PSKLabel.count (a uint16) can number
	// (§8.4).
	ErrTooManyPSKs = errors.New("keyschedule: more than 65535 PSKs")
	// ErrExportLength: an MLS-Exporter length that KDFLabel.length (a
	// uint16) cannot carry, or one the KDF cannot produce (§8.5).
	ErrExportLength = errors.New("keyschedule: invalid exporter length")
	// ErrInvalidConfirmationTag: a confirmation_tag does not verify (§8.1,
	// §12.4.2).
	ErrInvalidConfirmationTag = errors.New("keyschedule: invalid confirmation tag")
	// ErrInvalidMembershipTag: a PublicMessage membership_tag does not
	// verify (§6.2).
	ErrInvalidMembershipTag = errors.New("keyschedule: invalid membership tag")
	// ErrNotCommit: a transcript hash input is not a Commit (§8.2:
	// "content_type == commit").
	ErrNotCommit = errors.New("keyschedule: transcript hash input is not a commit")
)

// Secret is a byte string that must not outlive its use. Zero overwrites it
// in place.
type Secret []byte

// Zero overwrites the secret with zeros. It is safe on a nil Secret.
func (s Secret) Zero() { clear(s) }

// EpochSecrets are the secrets derived from an epoch_secret (RFC 9420 §8,
// Table 4), plus the init_secret of the next epoch.
type EpochSecrets struct {
	SenderData         Secret // "sender data": sender data keys (§6.3.2)
	Encryption         Secret // "encryption": root of the secret tree (§9)
	Exporter           Secret // "exporter": MLS-Exporter (§8.5)
	External           Secret // "external": external key pair (§8, §8.3)
	Confirmation       Secret // "confirm": confirmation_key (§8.1 confirmation_tag)
	Membership         Secret // "membership": membership_key (§6.2 membership_tag)
	Resumption         Secret // "resumption": resumption_psk (§8.6)
	EpochAuthenticator Secret // "authentication": epoch_authenticator (§8.7)
	Init               Secret // "init": init_secret of the next epoch
}

// Zero erases every secret.
func (e *EpochSecrets) Zero() {
	for _, s := range []Secret{e.SenderData, e.Encryption, e.Exporter, e.External,
		e.Confirmation, e.Membership, e.Resumption, e.EpochAuthenticator, e.Init} {
		s.Zero()
	}
	// Erased secrets are nil: a later use fails on its size instead of
	// deriving from all zeros.
	*e = EpochSecrets{}
}

// Epoch is the output of one run of the key schedule (RFC 9420 §8, Figure
// 22): the joiner_secret and welcome_secret that the committer needs to build
// a Welcome (§12.4.3.1), and the epoch's derived secrets.
type Epoch struct {
	Joiner  Secret // joiner_secret, sent to new members in GroupSecrets
	Welcome Secret // welcome_secret, source of the Welcome key and nonce
	EpochSecrets
}

// Zero erases every secret, including the joiner and welcome secrets.
func (e *Epoch) Zero() {
	e.Joiner.Zero()
	e.Welcome.Zero()
	e.EpochSecrets.Zero()
}

// ZeroJoiner erases the joiner and welcome secrets, which are no longer
// needed once the Welcome is built or processed (§9.2).
func (e *Epoch) ZeroJoiner() {
	e.Joiner.Zero()
	e.Welcome.Zero()
	e.Joiner, e.Welcome = nil, nil
}

// checkSize checks that s is KDF.Nh bytes long, or stands for the all-zero
// vector when nil and zeroOK.
func checkSize(cs providers.CipherSuite, what string, s []byte, zeroOK bool) error {
	if s == nil && zeroOK {
		return nil
	}
	if len(s) != cs.HashSize() {
		return fmt.Errorf("%w: %s is %d bytes, want KDF.Nh = %d", ErrSecretSize, what, len(s), cs.HashSize())
	}
	return nil
}

// orZero returns s, or the all-zero vector of length KDF.Nh for nil s.
func orZero(cs providers.CipherSuite, s []byte) []byte {
	if s == nil {
		return make([]byte, cs.HashSize())
	}
	return s
}

// JoinerSecret computes the joiner_secret of the new epoch (RFC 9420 §8):
//
//	joiner_secret = ExpandWithLabel(KDF.Extract(init_secret, commit_secret),
//	                                "joiner", GroupContext_[n], KDF.Nh)
//
// initSecret is the previous epoch's init_secret (or the external init
// secret of §8.3, or a fresh random one at group creation), commitSecret is
// the commit_secret (nil for the all-zero vector of a Commit without a
// path), and groupContext is the serialized GroupContext of the new epoch.
func JoinerSecret(cs providers.CipherSuite, initSecret, commitSecret, groupContext []byte) (Secret, error) {
	if err := checkSize(cs, "init_secret", initSecret, false); err != nil {
		return nil, err
	}
	if err := checkSize(cs, "commit_secret", commitSecret, true); err != nil {
		return nil, err
	}
	prk := Secret(cs.Extract(make([]byte, 0, cs.HashSize()), initSecret, orZero(cs, commitSecret)))
	defer prk.Zero()
	j, err := providers.ExpandWithLabel(cs, prk, labelJoiner, groupContext, uint16(cs.HashSize()))
	return Secret(j), err
}

// memberSecret is KDF.Extract(joiner_secret, psk_secret), the node of Figure
// 22 from which welcome_secret and epoch_secret are derived.
func memberSecret(cs providers.CipherSuite, joinerSecret, pskSecret []byte) (Secret, error) {
	if err := checkSize(cs, "joiner_secret", joinerSecret, false); err != nil {
		return nil, err
	}
	if err := checkSize(cs, "psk_secret", pskSecret, true); err != nil {
		return nil, err
	}
	return Secret(cs.Extract(make([]byte, 0, cs.HashSize()), joinerSecret, orZero(cs, pskSecret))), nil
}

// WelcomeSecret computes the welcome_secret (RFC 9420 §8, §12.4.3.1):
//
//	welcome_secret = DeriveSecret(KDF.Extract(joiner_secret, psk_secret), "welcome")
//
// A new member calls it with the joiner_secret of its GroupSecrets and the
// psk_secret of its psks (nil for none) to decrypt the GroupInfo, before it
// knows the GroupContext that [FromJoiner] needs.
func WelcomeSecret(cs providers.CipherSuite, joinerSecret, pskSecret []byte) (Secret, error) {
	m, err := memberSecret(cs, joinerSecret, pskSecret)
	if err != nil {
		return nil, err
	}
	defer m.Zero()
	w, err := providers.DeriveSecret(cs, m, labelWelcome)
	return Secret(w), err
}

// Derive runs the key schedule of RFC 9420 §8 (Figure 22) for a member
// moving to a new epoch: from the previous init_secret, the commit_secret
// (nil: all zero), the psk_secret (nil: all zero) and the serialized
// GroupContext of the new epoch, it returns the joiner_secret,
// welcome_secret, every epoch-derived secret and the next init_secret. The
// extracted secrets and the epoch_secret are erased before it returns; the
// caller erases the result (Epoch.ZeroJoiner once the Welcome is built).
func Derive(cs providers.CipherSuite, initSecret, commitSecret, pskSecret, groupContext []byte) (*Epoch, error) {
	joiner, err := JoinerSecret(cs, initSecret, commitSecret, groupContext)
	if err != nil {
		return nil, err
	}
	e, err := fromJoiner(cs, joiner, pskSecret, groupContext)
	if err != nil {
		joiner.Zero()
		return nil, err
	}
	e.Joiner = joiner
	return e, nil
}

// FromJoiner runs the key schedule of RFC 9420 §8 from the joiner_secret on,
// as a new member does after decrypting a Welcome (§12.4.3.1): from the
// joiner_secret, the psk_secret (nil: all zero) and the serialized
// GroupContext of the epoch it joins, it returns the welcome_secret, the
// epoch-derived secrets and the next init_secret. The returned Epoch holds a
// copy of joinerSecret in Joiner; the caller still owns (and erases)
// joinerSecret.
func FromJoiner(cs providers.CipherSuite, joinerSecret, pskSecret, groupContext []byte) (*Epoch, error) {
	e, err := fromJoiner(cs, joinerSecret, pskSecret, groupContext)
	if err != nil {
		return nil, err
	}
	e.Joiner = append(Secret(nil), joinerSecret...)
	return e, nil
}

// fromJoiner is FromJoiner without the copy of the joiner_secret.
func fromJoiner(cs providers.CipherSuite, joinerSecret, pskSecret, groupContext []byte) (*Epoch, error) {
	m, err := memberSecret(cs, joinerSecret, pskSecret)
	if err != nil {
		return nil, err
	}
	defer m.Zero()
	welcome, err := providers.DeriveSecret(cs, m, labelWelcome)
	if err != nil {
		return nil, err
	}
	es, err := providers.ExpandWithLabel(cs, m, labelEpoch, groupContext, uint16(cs.HashSize()))
	if err != nil {
		Secret(welcome).Zero()
		return nil, err
	}
	epochSecret := Secret(es)
	defer epochSecret.Zero()
	e := &Epoch{Welcome: welcome}
	if err := deriveEpochSecrets(cs, epochSecret, &e.EpochSecrets); err != nil {
		e.Zero()
		return nil, err
	}
	return e, nil
}

// FromEpochSecret derives the secrets of Table 4 (RFC 9420 §8) and the next
// init_secret from an epoch_secret. It is exposed for tests and for tools
// that hold an epoch_secret; group logic uses [Derive] and [FromJoiner].
func FromEpochSecret(cs providers.CipherSuite, epochSecret []byte) (*EpochSecrets, error) {
	if err := checkSize(cs, "epoch_secret", epochSecret, false); err != nil {
		return nil, err
	}
	var out EpochSecrets
	if err := deriveEpochSecrets(cs, epochSecret, &out); err != nil {
		out.Zero()
		return nil, err
	}
	return &out, nil
}

// deriveEpochSecrets derives the secrets of Table 4 (RFC 9420 §8),
// DeriveSecret(epoch_secret, label) each, with one Expander for all of
// them (providers.DeriveSecrets).
func deriveEpochSecrets(cs providers.CipherSuite, epochSecret []byte, out *EpochSecrets) error {
	dsts := [...]*Secret{
		&out.SenderData, &out.Encryption, &out.Exporter, &out.External, &out.Confirmation,
		&out.Membership, &out.Resumption, &out.EpochAuthenticator, &out.Init,
	}
	labels := [len(dsts)]string{
		labelSenderData, labelEncryption, labelExporter, labelExternal, labelConfirm,
		labelMembership, labelResumption, labelAuthentication, labelInit,
	}
	var secrets [len(dsts)][]byte
	if err := providers.DeriveSecrets(cs, epochSecret, labels[:], secrets[:]); err != nil {
		return fmt.Errorf("keyschedule: epoch secrets: %w", err)
	}
	for i, d := range dsts {
		*d = secrets[i]
	}
	return nil
}

// WelcomeKeyNonce derives the AEAD key and nonce that encrypt the GroupInfo
// of a Welcome (RFC 9420 §12.4.3.1):
//
//	welcome_key   = ExpandWithLabel(welcome_secret, "key", "", AEAD.Nk)
//	welcome_nonce = ExpandWithLabel(welcome_secret, "nonce", "", AEAD.Nn)
func WelcomeKeyNonce(cs providers.CipherSuite, welcomeSecret []byte) (key, nonce Secret, err error) {
	if err := checkSize(cs, "welcome_secret", welcomeSecret, false); err != nil {
		return nil, nil, err
	}
	k, err := providers.ExpandWithLabel(cs, welcomeSecret, labelKey, nil, uint16(cs.AEADKeySize()))
	if err != nil {
		return nil, nil, err
	}
	n, err := providers.ExpandWithLabel(cs, welcomeSecret, labelNonce, nil, uint16(cs.AEADNonceSize()))
	if err != nil {
		Secret(k).Zero()
		return nil, nil, err
	}
	return k, n, nil
}

// Exporter is MLS-Exporter (RFC 9420 §8.5):
//
//	MLS-Exporter(Label, Context, Length) =
//	    ExpandWithLabel(DeriveSecret(exporter_secret, Label),
//	                    "exported", Hash(Context), Length)
//
// length must be between 0 and 65535 (KDFLabel.length is a uint16) and
// within what the KDF can expand (255*KDF.Nh); otherwise the error wraps
// [ErrExportLength].
func Exporter(cs providers.CipherSuite, exporterSecret []byte, label string, context []byte, length int) ([]byte, error) {
	if err := checkSize(cs, "exporter_secret", exporterSecret, false); err != nil {
		return nil, err
	}
	if length < 0 || length > 0xffff || length > 255*cs.HashSize() {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrExportLength, length, min(0xffff, 255*cs.HashSize()))
	}
	d, err := providers.DeriveSecret(cs, exporterSecret, label)
	if err != nil {
		return nil, err
	}
	derived := Secret(d)
	defer derived.Zero()
	h := cs.Hash(make([]byte, 0, cs.HashSize()), context)
	return providers.ExpandWithLabel(cs, derived, labelExported, h, uint16(length))
}

// ExternalKeyPair derives the group's external HPKE key pair from the
// epoch's external_secret (RFC 9420 §8):
//
//	external_priv, external_pub = KEM.DeriveKeyPair(external_secret)
//
// external_pub goes into the external_pub GroupInfo extension (§12.4.3.2).
func ExternalKeyPair(cs providers.CipherSuite, externalSecret []byte) (priv Secret, pub []byte, err error) {
	if err := checkSize(cs, "external_secret", externalSecret, false); err != nil {
		return nil, nil, err
	}
	sk, pk, err := cs.DeriveKeyPair(externalSecret)
	if err != nil {
		return nil, nil, fmt.Errorf("keyschedule: external key pair: %w", err)
	}
	return sk, pk, nil
}

// ExternalInitS is the joiner's side of external initialization (RFC 9420
// §8.3):
//
//	kem_output, context = SetupBaseS(external_pub, "")
//	init_secret = context.export("MLS 1.0 external init secret", KDF.Nh)
//
// The kem_output goes into the ExternalInit proposal; init_secret replaces
// the previous epoch's init_secret in [Derive]. It is randomized (a fresh
// HPKE ephemeral key drawn as the provider's HPKE does).
func ExternalInitS(cs providers.CipherSuite, externalPub []byte) (kemOutput []byte, initSecret Secret, err error) {
	enc, s, err := cs.ExportBaseS(externalPub, nil, []byte(ExternalInitLabel), cs.HashSize())
	if err != nil {
		return nil, nil, fmt.Errorf("keyschedule: external init: %w", err)
	}
	return enc, s, nil
}

// ExternalInitR is the group members' side of external initialization (RFC
// 9420 §8.3): from the group's external private key and the kem_output of
// an ExternalInit proposal it recovers the init_secret:
//
//	context = SetupBaseR(kem_output, external_priv, "")
//	init_secret = context.export("MLS 1.0 external init secret", KDF.Nh)
//
// A kem_output that does not decode gives an error wrapping
// providers.ErrInvalidKEMOutput; a valid but wrong one gives an init_secret
// the joiner does not have (the commit's confirmation tag then fails).
func ExternalInitR(cs providers.CipherSuite, externalPriv, kemOutput []byte) (Secret, error) {
	s, err := cs.ExportBaseR(externalPriv, kemOutput, nil, []byte(ExternalInitLabel), cs.HashSize())
	if err != nil {
		return nil, fmt.Errorf("keyschedule: external init: %w", err)
	}
	return s, nil
}
