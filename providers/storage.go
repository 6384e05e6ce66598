package providers

import "errors"

// ErrNotFound is returned (possibly wrapped) by every Read method of a
// [Storage] when nothing is stored under the key. Branch on it with
// errors.Is.
var ErrNotFound = errors.New("providers: not found")

// Storage persists the state of MLS groups and the key material of a client
// (RFC 9420 §16.4 and §9.2: deletion is how forward secrecy is achieved). It
// is the union of one small interface per kind of record; mls needs all of
// them, an application may implement or wrap them one at a time.
//
// # Values and keys
//
// Storage is byte-oriented. Every value is an opaque blob that the mls
// package serializes and versions itself; a storage implementation never
// parses it. Keys are byte strings of any length, including empty, and may
// contain any byte; two keys are equal only if they are byte-for-byte equal.
// Each kind of record has its own key space: the same key bytes used for a
// signature key pair and an HPKE key pair address two different records.
//
// # Contract for implementations
//
// The in-memory implementation lives in providers/memstore and the shared
// conformance tests in providers/storagetest; an implementation backed by a
// database (such as SQLite) must pass storagetest.Run and guarantee:
//
//   - Atomicity per call: after a Write returns nil, a Read sees the whole new
//     value; after a Write fails or a crash interrupts it, a Read sees either
//     the whole old value or the whole new one, never a mixture. (One table
//     row per record written in one statement or transaction suffices.)
//   - Durability on return: a Write or Delete that returned nil survives a
//     restart of the process (for persistent stores).
//   - Deletion erases: after a Delete returns nil the value is gone, not
//     merely marked: no copy is kept in the store, its caches, or a journal it
//     controls longer than necessary (for SQLite: secure_delete=ON, and WAL
//     checkpoints). Secrets deleted here are how MLS provides forward
//     secrecy.
//   - Deleting a record that does not exist succeeds (returns nil).
//   - Reads return ErrNotFound (possibly wrapped) for absent records, and
//     other errors only for real failures (I/O, corruption).
//   - No aliasing: a Write does not retain the caller's slices after it
//     returns, and a Read returns a slice the caller owns and may modify or
//     zero.
//   - Safe for concurrent use by multiple goroutines.
//   - Transactions (Update) are atomic and serializable, as documented on
//     [Transactor]. Every change the mls package makes to a group — a
//     merge, a processed message, a stored proposal, a pending Commit, a
//     join — is one transaction.
//
// Methods take no context.Context: they are expected to be local and fast
// (an embedded database or memory). An implementation that talks to a
// network service should bound its own latency.
type Storage interface {
	Records
	Transactor
}

// Records is read and write access to every kind of record a [Storage]
// holds: the store itself outside a transaction, or a transaction's view of
// it inside [Transactor.Update].
type Records interface {
	GroupStateStore
	KeyPackageStore
	SignatureKeyStore
	EncryptionKeyStore
	PSKStore
	EpochSecretStore
	RatchetTreeStore
	SecretTreeStore
}

// Transactor runs transactions: groups of reads and writes that take effect
// together or not at all.
type Transactor interface {
	// Update calls fn with tx, a view of the store in which fn's own writes
	// and deletions are visible to fn's reads (and lists) but to nobody
	// else until Update commits them, and then commits them as one atomic
	// unit:
	//
	//   - If fn returns an error, nothing fn wrote or deleted takes effect,
	//     and Update returns fn's error (possibly wrapped, so errors.Is
	//     and errors.As still match it).
	//   - If fn returns nil, Update commits: when Update returns nil every
	//     write and deletion of fn is stored (durably, for a persistent
	//     store); when it returns an error none of them is, and the store
	//     is as it was before Update was called. A crash during the commit
	//     leaves the store either entirely before or entirely after it.
	//   - Transactions are serializable: concurrent Updates (and single
	//     Write or Delete calls, which are transactions of one operation)
	//     behave as if run one after another.
	//   - tx must not be used after fn returns; calls on it then fail.
	//     fn must not call Update on the same store (transactions do not
	//     nest) and should not retain tx's results beyond the documented
	//     no-aliasing rules.
	//
	// An error from a call on tx inside fn does not by itself abort the
	// transaction: fn decides, by the error it returns.
	Update(fn func(tx Records) error) error
}

// GroupStateStore holds the serialized state of each group, keyed by group
// id (RFC 9420 §8.1 group_id). The mls package writes it on every change of
// the group and reads it to load a group. It is kept small: the ratchet tree
// of a large group lives in the [RatchetTreeStore].
type GroupStateStore interface {
	// WriteGroupState stores state as the state of the group groupID,
	// replacing any previous one. version is the format version of state,
	// chosen by the mls package so that a later release can migrate older
	// states; it is stored alongside and returned by ReadGroupState.
	WriteGroupState(groupID []byte, version uint16, state []byte) error
	// ReadGroupState returns the state of the group groupID and its format
	// version, or ErrNotFound.
	ReadGroupState(groupID []byte) (version uint16, state []byte, err error)
	// DeleteGroupState erases the state of the group groupID.
	DeleteGroupState(groupID []byte) error
	// ListGroups returns the ids of all groups with a stored state, in
	// ascending byte order (an empty list when there are none), so that an
	// application can load its groups after a restart.
	ListGroups() ([][]byte, error)
}

// KeyPackageStore holds this client's key packages together with their
// private init and leaf encryption keys, keyed by KeyPackageRef (RFC 9420
// §5.2). The mls package deletes a key package when it is consumed by a
// Welcome, unless it is a last-resort key package (§10, §16.8).
type KeyPackageStore interface {
	// WriteKeyPackage stores bundle under ref, replacing any previous value.
	WriteKeyPackage(ref []byte, bundle []byte) error
	// ReadKeyPackage returns the bundle stored under ref, or ErrNotFound.
	ReadKeyPackage(ref []byte) ([]byte, error)
	// DeleteKeyPackage erases the bundle stored under ref.
	DeleteKeyPackage(ref []byte) error
	// ListKeyPackages returns the refs of all stored key packages, in
	// ascending byte order (an empty list when there are none), so that
	// expired ones can be found and deleted.
	ListKeyPackages() ([][]byte, error)
}

// SignatureKeyStore holds signature key pairs (RFC 9420 §5.1.2) keyed by
// their encoded public key.
type SignatureKeyStore interface {
	// WriteSignatureKeyPair stores keyPair under publicKey, replacing any
	// previous value.
	WriteSignatureKeyPair(publicKey []byte, keyPair []byte) error
	// ReadSignatureKeyPair returns the key pair stored under publicKey, or
	// ErrNotFound.
	ReadSignatureKeyPair(publicKey []byte) ([]byte, error)
	// DeleteSignatureKeyPair erases the key pair stored under publicKey.
	DeleteSignatureKeyPair(publicKey []byte) error
}

// EncryptionKeyStore holds HPKE key pairs (RFC 9420 §5.1.3) — leaf
// encryption keys and keys of the nodes of a client's direct path — keyed by
// their encoded public key.
type EncryptionKeyStore interface {
	// WriteEncryptionKeyPair stores keyPair under publicKey, replacing any
	// previous value.
	WriteEncryptionKeyPair(publicKey []byte, keyPair []byte) error
	// ReadEncryptionKeyPair returns the key pair stored under publicKey, or
	// ErrNotFound.
	ReadEncryptionKeyPair(publicKey []byte) ([]byte, error)
	// DeleteEncryptionKeyPair erases the key pair stored under publicKey.
	DeleteEncryptionKeyPair(publicKey []byte) error
}

// PSKStore holds pre-shared keys (RFC 9420 §8.4) keyed by an identifier the
// mls package derives from the PreSharedKeyID (for external PSKs the
// psk_id; for resumption PSKs the group id and epoch).
type PSKStore interface {
	// WritePSK stores psk under id, replacing any previous value.
	WritePSK(id []byte, psk []byte) error
	// ReadPSK returns the value stored under id, or ErrNotFound.
	ReadPSK(id []byte) ([]byte, error)
	// DeletePSK erases the value stored under id.
	DeletePSK(id []byte) error
}

// EpochSecretStore holds the secrets of past epochs of a group (RFC 9420
// §8, §9: the secret tree and keys needed to decrypt messages that arrive
// late), keyed by group id and epoch. The mls package keeps a configured
// number of past epochs and deletes older ones.
type EpochSecretStore interface {
	// WriteEpochSecrets stores secrets for epoch of the group groupID,
	// replacing any previous value.
	WriteEpochSecrets(groupID []byte, epoch uint64, secrets []byte) error
	// ReadEpochSecrets returns the secrets stored for epoch of the group
	// groupID, or ErrNotFound.
	ReadEpochSecrets(groupID []byte, epoch uint64) ([]byte, error)
	// DeleteEpochSecrets erases the secrets stored for epoch of the group
	// groupID.
	DeleteEpochSecrets(groupID []byte, epoch uint64) error
	// ListEpochs lists, in ascending order, the epochs of the group
	// groupID that have secrets stored (an empty list, not ErrNotFound,
	// when there are none), so that old epochs and those of a deleted
	// group can be erased.
	ListEpochs(groupID []byte) ([]uint64, error)
}

// RatchetTreeStore holds the public ratchet trees (RFC 9420 §7, encoded as
// in §12.4.3.3) of the epochs of a group that the mls package keeps — the
// current one and the past ones whose late messages it still accepts —
// keyed by group id and epoch. A tree is written once, when the group
// enters its epoch, so that the group state, rewritten on every change,
// does not carry O(members) bytes; the mls package writes a tree before the
// group state that refers to it and deletes it after the group state
// stopped referring to it.
type RatchetTreeStore interface {
	// WriteRatchetTree stores tree as the ratchet tree of epoch of the
	// group groupID, replacing any previous value.
	WriteRatchetTree(groupID []byte, epoch uint64, tree []byte) error
	// ReadRatchetTree returns the ratchet tree stored for epoch of the
	// group groupID, or ErrNotFound.
	ReadRatchetTree(groupID []byte, epoch uint64) ([]byte, error)
	// DeleteRatchetTree erases the ratchet tree stored for epoch of the
	// group groupID.
	DeleteRatchetTree(groupID []byte, epoch uint64) error
	// ListRatchetTrees lists, in ascending order, the epochs of the group
	// groupID that have a ratchet tree stored (an empty list, not
	// ErrNotFound, when there are none), so that trees of epochs no longer
	// kept and those of a deleted group can be erased.
	ListRatchetTrees(groupID []byte) ([]uint64, error)
}

// SecretTreeStore holds the secret trees (RFC 9420 §9) of the epochs of a
// group that the mls package keeps, one record per node of a tree that
// holds something: a node secret not yet consumed, or the sender ratchets
// of a leaf (at the leaf's node), keyed by group id, epoch and node index.
// A message sent or received changes one record (a sender's first message
// in the epoch O(log members) records), so that storing the change costs
// O(1) whatever the number of members that have spoken; a consumed secret
// is deleted here (forward secrecy, §9.2). The mls package writes the
// records of an epoch together with the epoch's [EpochSecretStore] record
// and deletes them with it.
type SecretTreeStore interface {
	// WriteSecretTreeNode stores value as node node of the secret tree of
	// epoch of the group groupID, replacing any previous value.
	WriteSecretTreeNode(groupID []byte, epoch uint64, node uint32, value []byte) error
	// ReadSecretTreeNode returns the value stored for node node of the
	// secret tree of epoch of the group groupID, or ErrNotFound.
	ReadSecretTreeNode(groupID []byte, epoch uint64, node uint32) ([]byte, error)
	// DeleteSecretTreeNode erases the value stored for node node of the
	// secret tree of epoch of the group groupID.
	DeleteSecretTreeNode(groupID []byte, epoch uint64, node uint32) error
	// ListSecretTreeNodes lists, in ascending order, the nodes of the
	// secret tree of epoch of the group groupID that have a value stored
	// (an empty list, not ErrNotFound, when there are none).
	ListSecretTreeNodes(groupID []byte, epoch uint64) ([]uint32, error)
	// DeleteSecretTree erases every node stored for the secret tree of
	// epoch of the group groupID (none stored: no error), as
	// DeleteSecretTreeNode of each node ListSecretTreeNodes lists would,
	// in one call: the mls package drops the tree of an epoch it no
	// longer keeps (RFC 9420 §9.2) with it, in the transaction of the
	// Commit that ends the epoch. Like every call, it is atomic: it
	// erases all the nodes or, failing, none.
	DeleteSecretTree(groupID []byte, epoch uint64) error
}
