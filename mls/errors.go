package mls

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/providers"
)

// Sentinel errors. Branch on them with errors.Is.
var (
	// ErrValidation is matched by every *ValidationError and every Rule:
	// errors.Is(err, ErrValidation) tells a message, key package or leaf
	// node rejected by a rule of RFC 9420 from any other failure.
	ErrValidation = errors.New("mls: validation failed")
	// ErrNotFound is providers.ErrNotFound: nothing is stored under a key
	// (a key package, signature key pair, group).
	ErrNotFound = providers.ErrNotFound
	// ErrSignerNotFound: LoadGroup found the group, but its signature key
	// pair (or that of its pending Commit) is neither Client.Signer nor
	// in the storage. It wraps ErrNotFound, which it matches too, but
	// unlike a missing group the group is there: give LoadGroup a Client
	// whose Signer is the group's, or restore the key pair to the storage
	// (SignatureKeyPair.Store); deleting or re-joining the group is not
	// the remedy.
	ErrSignerNotFound = fmt.Errorf("mls: the group's signature key pair is neither Client.Signer nor stored: %w", ErrNotFound)
	// ErrUnsupportedCredential: a credential type that the configured
	// CredentialValidator does not accept, such as an X.509 credential with
	// no application hook to validate it (RFC 9420 §5.3.1).
	ErrUnsupportedCredential = errors.New("mls: unsupported credential")
	// ErrCorruptState: a record read from storage does not decode, or was
	// written by a newer format version than this release understands.
	ErrCorruptState = errors.New("mls: stored state is corrupt or of an unknown version")
	// ErrKeyMismatch: a private key does not belong to the public key it is
	// stored or presented with.
	ErrKeyMismatch = errors.New("mls: private key does not match public key")
	// ErrInvalidArgument: a caller passed an argument that cannot be used
	// (a nil provider or store, a missing credential, an empty identity).
	ErrInvalidArgument = errors.New("mls: invalid argument")
)
