package mls

import (
	"fmt"
	"io"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/mls/internal/leafnode"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/treekem"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// Client is what creating or joining a group needs from the application:
// the crypto provider, the storage, the member's signature key pair and
// credential, and the Authentication Service hook.
type Client struct {
	Provider providers.Provider
	Storage  providers.Storage
	// Signer is the member's signature key pair; its public key is the
	// signature_key of the member's leaf.
	Signer providers.Signer
	// Credential is the member's credential (RFC 9420 §5.3).
	Credential Credential
	// CredentialValidator validates the credentials of other members; nil
	// means BasicCredentialValidator.
	CredentialValidator CredentialValidator
	// Now is the clock for lifetimes; nil means time.Now.
	Now func() time.Time
	// IgnoreReceivedLifetimes skips the lifetime check of leaf nodes
	// received from others (in a joined tree, Add and Update proposals),
	// which RFC 9420 §7.3 only RECOMMENDS because a leaf may expire in
	// transit. Use it to replay old transcripts; the lifetime of leaves we
	// create is always set and checked.
	IgnoreReceivedLifetimes bool
	// Limits bound what a message from the network may make this client
	// do (limits.go): the size of messages, Welcomes and GroupInfos it
	// processes, trees, proposals, PSKs and what a message may decode to.
	// Zero fields mean DefaultLimits, which allow groups of 100,000
	// members.
	//
	// Limits are a setting of the client (of the process), not state of a
	// group: they apply to every group the client creates, joins or loads
	// (LoadGroup), so that a loaded group enforces them without the
	// application setting them again, and nothing of them is stored with
	// a group. Group.SetLimits changes them for one Group value.
	Limits Limits
}

func (c *Client) check() error {
	if c == nil || c.Provider == nil || c.Storage == nil || c.Signer == nil {
		return fmt.Errorf("%w: a Client needs a Provider, Storage and Signer", ErrInvalidArgument)
	}
	if c.Credential.IsZero() {
		return fmt.Errorf("%w: a Client needs a Credential", ErrInvalidArgument)
	}
	if err := c.Limits.validate(); err != nil {
		return invalidConfig(fmt.Errorf("Client.Limits: %w", err))
	}
	return nil
}

// limits returns the client's limits with defaults filled in.
func (c *Client) limits() Limits { return c.Limits.withDefaults() }

// newGroup returns an active Group of c, in suite cs with the (validated,
// defaulted) configuration cfg, with no epoch yet: the one constructor of
// Group (creating, joining, external joins and LoadGroup).
func (c *Client) newGroup(cs providers.CipherSuite, cfg GroupConfig) *Group {
	return &Group{provider: c.Provider, store: c.Storage, cs: cs, cfg: cfg, lim: c.limits(), signer: c.Signer, validator: c.validator(), clock: c.Now, ignoreLifetimes: c.IgnoreReceivedLifetimes, active: true}
}

func (c *Client) validator() CredentialValidator {
	if c.CredentialValidator != nil {
		return c.CredentialValidator
	}
	return BasicCredentialValidator{}
}

// lifetimeNow returns the time against which received leaf lifetimes are
// checked, in seconds; 0 (no check) when the client ignores them.
func (g *Group) lifetimeNow() uint64 {
	if g.ignoreLifetimes {
		return 0
	}
	return uint64(g.now().Unix())
}

// now returns the group's clock.
func (g *Group) now() time.Time {
	if g.clock != nil {
		return g.clock()
	}
	return time.Now()
}

// NewGroup creates a one-member group with the client as its creator
// (RFC 9420 §11), configured by cfg (the creator's own settings, as a
// joiner's) and opts (nil: the defaults of CreateOptions): the group id
// (opts.GroupID, or KDF.Nh random bytes), a tree holding the creator's
// fresh leaf, epoch 0 with a random epoch secret, and the interim
// transcript hash from the confirmation tag over the empty confirmed
// transcript hash. The group is written to storage.
func NewGroup(c *Client, suite codec.CipherSuite, cfg GroupConfig, opts *CreateOptions) (*Group, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	cs, err := c.Provider.CipherSuite(suite)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &CreateOptions{}
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	g := c.newGroup(cs, cfg)
	groupID := opts.GroupID
	if len(groupID) == 0 {
		// §11: a fresh random value of size KDF.Nh.
		groupID = make([]byte, cs.HashSize())
		if _, err := io.ReadFull(c.Provider.Rand(), groupID); err != nil {
			return nil, fmt.Errorf("mls: generating the group id: %w", err)
		}
	}

	// The creator's leaf (§7.2): a fresh HPKE key, source key_package with
	// a lifetime, as a KeyPackage's leaf would be.
	encPriv, encPub, err := cs.GenerateKeyPair(c.Provider.Rand())
	if err != nil {
		return nil, fmt.Errorf("mls: generating the leaf key: %w", err)
	}
	defer clear(encPriv)
	caps := opts.leafCapabilities(c.Provider, suite, c.Credential.Type())
	leafExts, err := cfg.greaseLeaf(c.Provider.Rand(), &caps, opts.LeafExtensions)
	if err != nil {
		return nil, err
	}
	now := g.now()
	leaf := &codec.LeafNode{
		EncryptionKey:  encPub,
		SignatureKey:   c.Signer.PublicKey(),
		Credential:     c.Credential.Wire(),
		Capabilities:   caps,
		LeafNodeSource: codec.LeafNodeSourceKeyPackage,
		Lifetime:       opts.leafLifetime(now),
		Extensions:     leafExts,
	}
	if err := leafnode.Sign(c.Signer, leaf, nil, 0); err != nil {
		return nil, err
	}
	// The creator must meet its own group's requirements (§11.1).
	if err := leafSupports(leaf, opts.GroupContextExtensions, nil); err != nil {
		return nil, fmt.Errorf("%w: the creator's capabilities: %v", ErrInvalidArgument, err)
	}
	if rc, err := requiredCapabilitiesOf(opts.GroupContextExtensions); err != nil {
		return nil, err
	} else if err := leafSupports(leaf, nil, rc); err != nil {
		return nil, fmt.Errorf("%w: the creator's capabilities: %v", ErrInvalidArgument, err)
	}
	tree, err := ratchettree.New(cs, leaf)
	if err != nil {
		return nil, fmt.Errorf("mls: creating the tree: %w", err)
	}
	th, err := tree.TreeHash()
	if err != nil {
		return nil, fmt.Errorf("mls: tree hash: %w", err)
	}
	ctx := codec.GroupContext{
		CipherSuite: suite,
		GroupID:     groupID,
		Epoch:       0,
		TreeHash:    th,
		Extensions:  opts.GroupContextExtensions,
	}
	ctxBytes, err := ctx.Marshal()
	if err != nil {
		return nil, fmt.Errorf("mls: encoding GroupContext: %w", err)
	}
	epochSecret := make([]byte, cs.HashSize())
	if _, err := io.ReadFull(c.Provider.Rand(), epochSecret); err != nil {
		return nil, fmt.Errorf("mls: generating the epoch secret: %w", err)
	}
	secrets, err := keyschedule.FromEpochSecret(cs, epochSecret)
	clear(epochSecret)
	if err != nil {
		return nil, fmt.Errorf("mls: key schedule: %w", err)
	}
	tag := keyschedule.ConfirmationTag(cs, secrets.Confirmation, nil)
	keys := treekem.NewPrivateKeys()
	keys.Set(treemath.LeafIndex(0).Node(), encPriv, encPub)
	st, err := g.newEpoch(tree, ctx, ctxBytes, *secrets, tag, 0, keys, nil)
	keys.Zero()
	if err != nil {
		return nil, err
	}
	st.tree = tree
	g.epoch = st
	// The id must be free (checked in the transaction that takes it).
	ch := g.stage()
	ch.writes = append(ch.writes, func(tx providers.Records) error { return checkGroupAbsent(tx, groupID) })
	if err := ch.commitSave(); err != nil {
		g.epoch.zero()
		g.epoch.keys.Zero()
		return nil, err
	}
	return g, nil
}
