package mls

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/mls/internal/record"
	"github.com/mlskit/mlskit/providers"
)

// PSKStorageKey returns the key under which the PSK identified by id is kept
// in a providers.PSKStore: the encoding of the PreSharedKeyID (RFC 9420
// §8.4) with an empty psk_nonce, since the nonce differs on every use of the
// same PSK.
func PSKStorageKey(id *codec.PreSharedKeyID) ([]byte, error) {
	k := *id
	k.PSKNonce = nil
	b, err := k.Marshal()
	if err != nil {
		return nil, fmt.Errorf("mls: encoding PreSharedKeyID: %w", err)
	}
	return b, nil
}

// pskRecordVersion is the format version of a stored PSK.
const pskRecordVersion = 1

func externalPSKKey(pskID []byte) ([]byte, error) {
	return PSKStorageKey(&codec.PreSharedKeyID{PSKType: codec.PSKTypeExternal, PSKID: pskID})
}

// StoreExternalPSK stores the external PSK secret under pskID (RFC 9420
// §8.4), for use by PreSharedKey proposals that name it.
func StoreExternalPSK(s providers.PSKStore, pskID, secret []byte) error {
	if s == nil {
		return fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	key, err := externalPSKKey(pskID)
	if err != nil {
		return err
	}
	rec, err := (&record.ExternalPSKRecord{Version: pskRecordVersion, Secret: secret}).Marshal()
	if err != nil {
		clear(rec)
		return fmt.Errorf("mls: encoding a PSK: %w", err)
	}
	err = s.WritePSK(key, rec)
	clear(rec)
	if err != nil {
		return fmt.Errorf("mls: storing PSK %x: %w", pskID, err)
	}
	return nil
}

// LoadExternalPSK returns the external PSK stored under pskID, or an error
// matching ErrNotFound (or ErrCorruptState).
func LoadExternalPSK(s providers.PSKStore, pskID []byte) ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	key, err := externalPSKKey(pskID)
	if err != nil {
		return nil, err
	}
	rec, err := s.ReadPSK(key)
	if err != nil {
		return nil, fmt.Errorf("mls: loading PSK %x: %w", pskID, err)
	}
	defer clear(rec)
	var r record.ExternalPSKRecord
	err = r.Unmarshal(rec)
	defer clear(r.Secret)
	if err == nil && r.Version != pskRecordVersion {
		err = fmt.Errorf("version %d", r.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: PSK %x: %v", ErrCorruptState, pskID, err)
	}
	return bytes.Clone(nonNil(r.Secret)), nil
}

// DeleteExternalPSK erases the external PSK stored under pskID.
func DeleteExternalPSK(s providers.PSKStore, pskID []byte) error {
	if s == nil {
		return fmt.Errorf("%w: nil storage", ErrInvalidArgument)
	}
	key, err := externalPSKKey(pskID)
	if err != nil {
		return err
	}
	if err := s.DeletePSK(key); err != nil {
		return fmt.Errorf("mls: deleting PSK %x: %w", pskID, err)
	}
	return nil
}

// ErrMissingPSK is matched by every *MissingPSKError: a pre-shared key named
// by a PreSharedKey proposal or by the psks of a Welcome's GroupSecrets is
// not available to this client (RFC 9420 §8.4, §12.4.3.1: "verify that all
// PSKs ... are available").
var ErrMissingPSK = errors.New("mls: pre-shared key not available")

// MissingPSKError names the pre-shared key that is not available. It
// matches ErrMissingPSK with errors.Is and wraps the storage's error (such
// as ErrNotFound).
type MissingPSKError struct {
	ID  codec.PreSharedKeyID
	Err error
}

// Error describes the missing PSK.
func (e *MissingPSKError) Error() string {
	var what string
	switch e.ID.PSKType {
	case codec.PSKTypeExternal:
		what = fmt.Sprintf("external PSK %x", e.ID.PSKID)
	case codec.PSKTypeResumption:
		what = fmt.Sprintf("resumption PSK (%v) of group %x epoch %d", e.ID.Usage, e.ID.PSKGroupID, e.ID.PSKEpoch)
	default:
		what = fmt.Sprintf("PSK of type %v", e.ID.PSKType)
	}
	if e.Err != nil {
		return fmt.Sprintf("mls: %s not available (RFC 9420 §8.4): %v", what, e.Err)
	}
	return fmt.Sprintf("mls: %s not available (RFC 9420 §8.4)", what)
}

// Unwrap returns Err.
func (e *MissingPSKError) Unwrap() error { return e.Err }

// Is reports whether target is ErrMissingPSK.
func (e *MissingPSKError) Is(target error) bool { return target == ErrMissingPSK }

// NewExternalPSKID returns the PreSharedKeyID of the external PSK pskID with
// a fresh psk_nonce of KDF.Nh bytes drawn from p.Rand() (RFC 9420 §8.4), as a
// PreSharedKey proposal carries it.
func NewExternalPSKID(p providers.Provider, cs providers.CipherSuite, pskID []byte) (codec.PreSharedKeyID, error) {
	nonce, err := pskNonce(p, cs)
	if err != nil {
		return codec.PreSharedKeyID{}, err
	}
	return codec.PreSharedKeyID{PSKType: codec.PSKTypeExternal, PSKID: bytes.Clone(nonNil(pskID)), PSKNonce: nonce}, nil
}

// NewResumptionPSKID returns the PreSharedKeyID of the resumption PSK of
// epoch of the group groupID for the given usage, with a fresh psk_nonce
// (RFC 9420 §8.4, §8.6).
func NewResumptionPSKID(p providers.Provider, cs providers.CipherSuite, usage codec.ResumptionPSKUsage, groupID []byte, epoch uint64) (codec.PreSharedKeyID, error) {
	nonce, err := pskNonce(p, cs)
	if err != nil {
		return codec.PreSharedKeyID{}, err
	}
	return codec.PreSharedKeyID{PSKType: codec.PSKTypeResumption, Usage: usage, PSKGroupID: bytes.Clone(nonNil(groupID)), PSKEpoch: epoch, PSKNonce: nonce}, nil
}

func pskNonce(p providers.Provider, cs providers.CipherSuite) ([]byte, error) {
	if p == nil || cs == nil {
		return nil, fmt.Errorf("%w: nil provider or cipher suite", ErrInvalidArgument)
	}
	nonce := make([]byte, cs.HashSize())
	if _, err := io.ReadFull(p.Rand(), nonce); err != nil {
		return nil, fmt.Errorf("mls: drawing a psk_nonce: %w", err)
	}
	return nonce, nil
}

// ResumptionPSKFunc returns the resumption_psk of epoch of the group
// groupID (RFC 9420 §8.6), or an error matching ErrNotFound when this client
// does not have it (another group, or an epoch older than the configured
// number of kept resumption PSKs). The caller of the function zeroes the
// returned slice, so it must be a copy.
type ResumptionPSKFunc func(groupID []byte, epoch uint64) ([]byte, error)

// pskResolver finds the values of the PSKs named by PreSharedKeyIDs:
// external PSKs in a PSKStore (LoadExternalPSK), resumption PSKs through a
// callback (the group keeps its last resumption secrets).
type pskResolver struct {
	store      providers.PSKStore
	resumption ResumptionPSKFunc
	// maxPSKs bounds the PSKs of a Welcome (Limits.MaxPSKs); 0 means
	// DefaultMaxPSKs.
	maxPSKs int
}

// resolve returns the PSKs named by ids, in the order of ids, with their ids
// (nonces included) as the key schedule takes them (RFC 9420 §8.4). A PSK
// that is not available gives a *MissingPSKError. The caller zeroes the
// values (zeroPSKs).
func (r pskResolver) resolve(ids []codec.PreSharedKeyID) ([]keyschedule.PSK, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	out := make([]keyschedule.PSK, 0, len(ids))
	fail := func(err error) ([]keyschedule.PSK, error) {
		zeroPSKs(out)
		return nil, err
	}
	for i := range ids {
		id := &ids[i]
		var v []byte
		var err error
		switch id.PSKType {
		case codec.PSKTypeExternal:
			if r.store == nil {
				err = fmt.Errorf("%w: no PSK store", ErrNotFound)
			} else {
				v, err = LoadExternalPSK(r.store, id.PSKID)
			}
		case codec.PSKTypeResumption:
			if r.resumption == nil {
				err = fmt.Errorf("%w: no resumption PSKs", ErrNotFound)
			} else {
				v, err = r.resumption(id.PSKGroupID, id.PSKEpoch)
			}
		default:
			return fail(RulePSKType.Errorf("unknown psk_type %v", id.PSKType))
		}
		if err == nil && len(v) == 0 {
			err = fmt.Errorf("%w: empty PSK value", ErrNotFound)
		}
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return fail(&MissingPSKError{ID: *id, Err: err})
			}
			return fail(err)
		}
		out = append(out, keyschedule.PSK{ID: *id, Value: v})
	}
	return out, nil
}

// pskSecret resolves ids and computes the psk_secret of RFC 9420 §8.4; with
// no ids it returns nil (the all-zero psk_secret for the key schedule). A
// psk_nonce of the wrong length gives RulePSKNonceLength.
func (r pskResolver) pskSecret(cs providers.CipherSuite, ids []codec.PreSharedKeyID) (keyschedule.Secret, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	psks, err := r.resolve(ids)
	if err != nil {
		return nil, err
	}
	defer zeroPSKs(psks)
	s, err := keyschedule.PSKSecret(cs, psks)
	if err != nil {
		if errors.Is(err, keyschedule.ErrPSKNonceSize) {
			return nil, RulePSKNonceLength.Errorf("%w", err)
		}
		return nil, fmt.Errorf("mls: computing the psk_secret: %w", err)
	}
	return s, nil
}

// zeroPSKs erases the values of psks.
func zeroPSKs(psks []keyschedule.PSK) {
	for i := range psks {
		clear(psks[i].Value)
	}
}

// validatePSKID checks one PreSharedKeyID: a known psk_type and, for a
// resumption PSK, a known usage (RulePSKType), and a psk_nonce of KDF.Nh bytes
// (RulePSKNonceLength, RFC 9420 §8.4).
func validatePSKID(cs providers.CipherSuite, id *codec.PreSharedKeyID) error {
	switch id.PSKType {
	case codec.PSKTypeExternal:
	case codec.PSKTypeResumption:
		if !id.Usage.IsKnown() {
			return RulePSKType.Errorf("resumption PSK with unknown usage %v", id.Usage)
		}
	default:
		return RulePSKType.Errorf("unknown psk_type %v", id.PSKType)
	}
	if n := cs.HashSize(); len(id.PSKNonce) != n {
		return RulePSKNonceLength.Errorf("psk_nonce is %d bytes, KDF.Nh is %d", len(id.PSKNonce), n)
	}
	return nil
}

// validateProposalPSKs checks the PreSharedKeyIDs of the PreSharedKey
// proposals one Commit covers, in order (RFC 9420 §8.4, §12.1.4, §12.2):
//
//   - every psk_nonce is KDF.Nh bytes long (RulePSKNonceLength);
//   - every PSK is external, or a resumption PSK with usage application
//     (RulePSKType) — reinit and branch PSKs are injected by the ReInit and
//     branch procedures only;
//   - no PSK appears twice, whatever the nonces (RulePSKDuplicate).
func validateProposalPSKs(cs providers.CipherSuite, ids []codec.PreSharedKeyID) error {
	for i := range ids {
		id := &ids[i]
		if err := validatePSKID(cs, id); err != nil {
			return err
		}
		if id.PSKType == codec.PSKTypeResumption && id.Usage != codec.ResumptionPSKUsageApplication {
			return RulePSKType.Errorf("PreSharedKey proposal with a resumption PSK of usage %v", id.Usage)
		}
	}
	if j, i, dup := duplicatePSK(ids); dup {
		return RulePSKDuplicate.Errorf("PreSharedKey proposals %d and %d name the same PSK", j, i)
	}
	return nil
}

// validateGroupSecretsPSKs checks the psks of a Welcome's GroupSecrets
// (RFC 9420 §12.4.3.1): nonces of KDF.Nh bytes (RulePSKNonceLength), known types and
// usages (RulePSKType; the reinit and branch usages are allowed here), no PSK
// twice (RulePSKDuplicate).
func validateGroupSecretsPSKs(cs providers.CipherSuite, ids []codec.PreSharedKeyID) error {
	for i := range ids {
		if err := validatePSKID(cs, &ids[i]); err != nil {
			return err
		}
	}
	if j, i, dup := duplicatePSK(ids); dup {
		return RulePSKDuplicate.Errorf("GroupSecrets psks %d and %d name the same PSK", j, i)
	}
	return nil
}
