package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/treekem"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// ErrNoRatchetTree: a Welcome's GroupInfo has no ratchet_tree extension and
// no tree was given out of band (RFC 9420 §12.4.3.1).
var ErrNoRatchetTree = errors.New("mls: no ratchet tree: the GroupInfo has no ratchet_tree extension and none was given")

// ErrNotInTree: the joiner's leaf node is not in the ratchet tree of the
// Welcome (RFC 9420 §12.4.3.1).
var ErrNotInTree = errors.New("mls: our leaf node is not in the group's ratchet tree")

// ProcessedWelcome is a Welcome decrypted with one of the client's key
// packages (RFC 9420 §12.4.3.1, first steps): the GroupSecrets are known and
// the GroupInfo decrypted, but nothing is verified yet. Inspect the PSKs it
// needs, then Stage it with the ratchet tree.
type ProcessedWelcome struct {
	c   *Client
	cfg GroupConfig
	cs  providers.CipherSuite
	d   *decryptedWelcome
	// replace: joining replaces this client's stored state of the group
	// (JoinAfterFork) instead of requiring its id to be free.
	replace bool
	// staged, when set (by tests only), is given the new epoch and the
	// records Join would write as soon as Stage has derived them, before
	// the tree's validation has ended, so that a test can check they are
	// erased if the validation fails.
	staged func(*epoch, *joinRecords)
}

// ProcessWelcome decrypts a Welcome (an encoded MLSMessage) addressed to one
// of the key packages in the client's storage (RFC 9420 §12.4.3.1); the
// external PSKs it injects come from that storage too, its resumption PSKs
// from cfg.ResumptionPSKs, by default the groups stored there
// (StoredResumptionPSKs; for a ReInit successor or a branch, JoinReInit
// and JoinBranch also check the new group against the old one). A PSK
// that is not available gives a *MissingPSKError (ErrMissingPSK). cfg
// holds the joiner's own settings for the group (wire format policy,
// padding, past epochs, ...).
func ProcessWelcome(c *Client, welcome []byte, cfg GroupConfig) (*ProcessedWelcome, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	var m codec.MLSMessage
	if err := c.limits().decodeWelcome(welcome, &m); err != nil {
		return nil, err
	}
	if m.WireFormat != codec.WireFormatMLSWelcome || m.Welcome == nil {
		return nil, fmt.Errorf("%w: MLSMessage of wire format %v", ErrMalformedWelcome, m.WireFormat)
	}
	return processWelcome(c, m.Welcome, cfg)
}

// processWelcome is ProcessWelcome for a decoded Welcome.
func processWelcome(c *Client, w *codec.Welcome, cfg GroupConfig) (*ProcessedWelcome, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	cs, err := c.Provider.CipherSuite(w.CipherSuite)
	if err != nil {
		return nil, err
	}
	// Resumption PSKs come from cfg.ResumptionPSKs, by default the groups
	// in the client's storage (resumption.go).
	resumption := cfg.ResumptionPSKs
	if resumption == nil {
		resumption = StoredResumptionPSKs(c)
	}
	d, err := decryptWelcome(cs, w, welcomeKeyPackageFinder(c.Storage, len(w.Secrets)), pskResolver{store: c.Storage, resumption: resumption, maxPSKs: c.limits().MaxPSKs})
	if err != nil {
		return nil, err
	}
	pw := &ProcessedWelcome{c: c, cfg: cfg, cs: cs, d: d}
	if _, err := pw.resumptionPSK(); err != nil {
		pw.Discard()
		return nil, err
	}
	return pw, nil
}

// PSKs returns the PSKs the Welcome injects (already found in storage).
func (pw *ProcessedWelcome) PSKs() []codec.PreSharedKeyID {
	return append([]codec.PreSharedKeyID(nil), pw.d.GroupSecrets.Psks...)
}

// UnverifiedGroupInfo returns the decrypted GroupInfo, not yet
// authenticated: for display only until Stage succeeds.
func (pw *ProcessedWelcome) UnverifiedGroupInfo() codec.GroupInfo { return pw.d.GroupInfo }

// KeyPackageRef returns the reference of our key package the Welcome used.
func (pw *ProcessedWelcome) KeyPackageRef() codec.KeyPackageRef { return pw.d.Bundle.Ref }

// Discard erases the secrets of a Welcome that will not be joined (once
// staged, StagedWelcome.Discard erases those of the staged group too).
func (pw *ProcessedWelcome) Discard() { pw.d.zero() }

// StagedWelcome is a Welcome verified in full (RFC 9420 §12.4.3.1): the
// GroupInfo signature and confirmation tag, the ratchet tree, and our
// private keys. Inspect the group, then Join it.
type StagedWelcome struct {
	pw *ProcessedWelcome
	g  *Group
	// records are what Join writes, encoded by Stage (nil once written
	// or discarded).
	records *joinRecords
}

// Stage verifies the Welcome with the group's ratchet tree: from the
// GroupInfo's ratchet_tree extension, or tree when it is given out of band
// (it takes precedence). It runs every join-time check of RFC 9420
// §12.4.3.1: the GroupInfo signature by its signer's leaf, the tree
// (parent hashes, tree hash, leaf nodes), our leaf in the tree, the key
// schedule and the confirmation tag, and the private keys from the
// path_secret.
func (pw *ProcessedWelcome) Stage(tree codec.RatchetTree) (*StagedWelcome, error) {
	cs, d := pw.cs, pw.d
	gi := &d.GroupInfo
	if !pw.replace {
		if err := checkGroupAbsent(pw.c.Storage, gi.GroupContext.GroupID); err != nil {
			return nil, err
		}
	}
	// Every leaf signature, the bulk of the work, is verified in the
	// background from here on: while this goroutine decodes the tree
	// (each leaf is handed to the workers as soon as it is decoded, so
	// that they need not wait for the whole tree; the tree's width is
	// checked once it is decoded, and until then no more leaves than the
	// widest tree allowed are handed out), then verifies the GroupInfo
	// and builds and checks the tree (StartLeafSignatures says why it may
	// start before the GroupInfo is verified); the validation below waits
	// for it. Our own leaf, which we signed in our KeyPackage, is not
	// verified again when it is identical to it. A leaf larger than
	// speculativeLeafMax is verified only once the GroupInfo is, so that
	// a forged GroupInfo costs no more memory than an ordinary leaf's
	// verification. The workers also check our leaf's private key
	// (leafKeyCheck), last.
	trusted := []*codec.LeafNode{&d.Bundle.KeyPackage.LeafNode}
	sigs := ratchettree.StreamLeafSignatures(cs, gi.GroupContext.GroupID, trusted, 0,
		func(ln *codec.LeafNode) bool { return leafSizeBound(ln) <= speculativeLeafMax },
		func() { d.leafKey.run(true) })
	defer sigs.Cancel()
	// The GroupInfo is verified with its signer's key before the tree is
	// built (limits.go).
	rt, signerKey, err := pw.c.limits().ratchetTreeEach(gi, tree, sigs.Add)
	if err != nil {
		return nil, err
	}
	sigs.Close()
	ep, err := d.verify(cs, signerKey)
	if err != nil {
		return nil, err
	}
	ep.ZeroJoiner()
	ok := false
	defer func() {
		if !ok {
			ep.Zero()
		}
	}()
	t, _, err := buildGroupInfoTree(cs, gi, rt)
	if err != nil {
		return nil, err
	}
	ctx := gi.GroupContext
	rc, err := requiredCapabilitiesOf(ctx.Extensions)
	if err != nil {
		return nil, err
	}
	g := pw.c.newGroup(cs, pw.cfg)
	g.epoch = &epoch{ctx: ctx}
	keys := treekem.NewPrivateKeys()
	defer keys.Zero()
	var own treemath.LeafIndex
	// Our private keys, the new epoch's state from them, and the records
	// Join will write (joinRecords) are derived while the leaf signatures
	// are being verified (during): whatever this goroutine does after the
	// validation is serial, while done before it helps with the
	// signatures it is shared with the other cores. The epoch and the
	// records are erased if the validation fails.
	var st *epoch
	var recs *joinRecords
	defer func() {
		if !ok && st != nil {
			st.zero()
			st.keys.Zero()
			recs.zero()
		}
	}()
	ownKeys := func() error {
		var found bool
		if own, found = t.FindLeaf(&d.Bundle.KeyPackage.LeafNode); !found {
			return ErrNotInTree
		}
		if !bytes.Equal(d.Bundle.KeyPackage.LeafNode.SignatureKey, pw.c.Signer.PublicKey()) {
			return fmt.Errorf("%w: the client's signer is not the key package's", ErrKeyMismatch)
		}
		// Our leaf's private key is the KeyPackage bundle's, checked
		// against the leaf's public key by the signature workers
		// (leafKeyCheck; the result is read once they are done, below).
		keys.Set(own.Node(), d.Bundle.EncryptionPrivateKey, d.Bundle.KeyPackage.LeafNode.EncryptionKey)
		// The path's key pairs come from the path secret, and each public
		// key derived with its private key must be the node's (§12.4.3.1:
		// "The private key MUST be the private key that corresponds to the
		// public key in the node"): compared, not computed again.
		if ps := d.GroupSecrets.PathSecret; ps != nil {
			err := keys.SetWelcomePathSecret(cs, t, own, treemath.LeafIndex(gi.Signer), ps.PathSecret)
			if errors.Is(err, treekem.ErrInvalidLeaf) {
				return fmt.Errorf("%w: path_secret: %w", ErrMalformedWelcome, err)
			}
			if err != nil {
				return fmt.Errorf("mls: private keys from the Welcome: %w", err)
			}
		}
		return nil
	}
	during := func() error {
		if err := ownKeys(); err != nil {
			return err
		}
		ctxBytes, err := ctx.Marshal()
		if err != nil {
			return fmt.Errorf("%w: GroupContext: %w", ErrMalformedWelcome, err)
		}
		st, err = g.newEpoch(t, ctx, ctxBytes, ep.EpochSecrets, gi.ConfirmationTag, LeafIndex(own), keys, nil)
		if err != nil {
			return err
		}
		st.tree = t
		g.epoch = st
		if tree == nil {
			g.keepExtensionTree(t, gi)
		}
		if recs, err = g.encodeJoinRecords(); err != nil {
			return err
		}
		if pw.staged != nil {
			pw.staged(st, recs)
		}
		return nil
	}
	var keysErr error
	if err := t.Validate(&ratchettree.TreeValidation{
		GroupID:              ctx.GroupID,
		TreeHash:             ctx.TreeHash,
		Now:                  g.lifetimeNow(),
		RequiredCapabilities: rc,
		GroupExtensions:      ctx.Extensions,
		CheckCredential:      g.checkCredential,
		Signatures:           sigs,
		Trusted:              trusted,
		During:               func() error { keysErr = during(); return nil },
	}); err != nil {
		return nil, treeRule(err, RuleAddEncryptionKeyDuplicate, RuleAddCapabilities)
	}
	if keysErr != nil {
		return nil, keysErr
	}
	// Our leaf's private key gives the leaf's public key (one scalar
	// multiplication), as stored keys must when a group is loaded: checked
	// by a worker, or here if none did; if that check failed or checked
	// another key, it is checked again to report the failure.
	if ownPub := t.Leaf(own).EncryptionKey; !d.leafKey.verified(d.Bundle.EncryptionPrivateKey, ownPub) {
		leaf := treekem.NewPrivateKeys()
		leaf.Set(own.Node(), d.Bundle.EncryptionPrivateKey, ownPub)
		err := leaf.Check(cs, t)
		leaf.Zero()
		if err != nil {
			return nil, fmt.Errorf("mls: private keys from the Welcome: %w", err)
		}
	}
	ok = true
	return &StagedWelcome{pw: pw, g: g, records: recs}, nil
}

// speculativeLeafMax bounds the size of a leaf that Stage verifies before
// the GroupInfo is authenticated (leafSizeBound).
const speculativeLeafMax = 16 << 10

// leafSizeBound is about the size of ln's encoding (at least it), from
// its decoded fields.
func leafSizeBound(ln *codec.LeafNode) int {
	n := 64 + len(ln.EncryptionKey) + len(ln.SignatureKey) + len(ln.ParentHash) + len(ln.Signature)
	c := &ln.Credential
	n += len(c.Identity) + len(c.CredentialData)
	for i := range c.Certificates {
		n += 4 + len(c.Certificates[i].CertData)
	}
	caps := &ln.Capabilities
	n += 2 * (len(caps.Versions) + len(caps.CipherSuites) + len(caps.Extensions) + len(caps.Proposals) + len(caps.Credentials))
	for i := range ln.Extensions {
		n += 6 + len(ln.Extensions[i].ExtensionData)
	}
	return n
}

// ratchetTreeExtension returns the data of gi's ratchet_tree extension, or
// nil.
func ratchetTreeExtension(gi *codec.GroupInfo) []byte {
	for i := range gi.Extensions {
		if gi.Extensions[i].ExtensionType == codec.ExtensionTypeRatchetTree {
			return gi.Extensions[i].ExtensionData
		}
	}
	return nil
}

// keepExtensionTree records t, g's tree just decoded in place from gi's
// ratchet_tree extension (Limits.decodeTreeEach), with the extension's
// bytes (canonical, and ours: the GroupInfo's buffer is never modified)
// as its encoding: stored as the whole tree record instead of encoding
// the tree again (saveCurrentTree), and kept by t (Tree.KeepDecoded), so
// that t's first GroupInfo copies the tree's elements from it instead of
// encoding the tree again, and at large sizes without decoding it again
// to share it with the nodes. If t cannot keep it (a bug, which the tests
// catch), t encodes itself when asked, as before.
func (g *Group) keepExtensionTree(t *ratchettree.Tree, gi *codec.GroupInfo) {
	data := ratchetTreeExtension(gi)
	_ = t.KeepDecoded(data)
	g.treeCache = encodedTree{tree: t, epoch: gi.GroupContext.Epoch, gen: t.Generation(), active: g.active, enc: data}
}

// groupInfoTree builds the group's ratchet tree for a GroupInfo — tree when
// given out of band, otherwise the GroupInfo's ratchet_tree extension — and
// returns it with the leaf of the GroupInfo's signer (RFC 9420 §12.4.3.1,
// §12.4.3.2). Within lim, it checks the tree's width and verifies the
// GroupInfo's signature (over enc, the GroupInfo's encoding, when known)
// before building the tree, then the tree's structure
// and key uniqueness; the caller validates the tree (Tree.Validate).
func groupInfoTree(cs providers.CipherSuite, gi *codec.GroupInfo, enc groupInfoBytes, tree codec.RatchetTree, lim Limits) (*ratchettree.Tree, *codec.LeafNode, error) {
	rt, signerKey, err := lim.ratchetTreeOf(gi, tree)
	if err != nil {
		return nil, nil, err
	}
	if err := verifyGroupInfoBytes(cs, gi, enc, signerKey); err != nil {
		return nil, nil, err
	}
	return buildGroupInfoTree(cs, gi, rt)
}

// GroupContext returns the GroupContext of the group to join.
func (sw *StagedWelcome) GroupContext() codec.GroupContext { return sw.g.GroupContext() }

// Members returns the members of the group to join.
func (sw *StagedWelcome) Members() []Member { return sw.g.Members() }

// Sender returns the member that created the Welcome (the GroupInfo's
// signer).
func (sw *StagedWelcome) Sender() Member {
	m, _ := sw.g.Member(LeafIndex(sw.pw.d.GroupInfo.Signer))
	return m
}

// OwnLeafIndex returns the leaf we will occupy.
func (sw *StagedWelcome) OwnLeafIndex() LeafIndex { return sw.g.epoch.own }

// PSKs returns the PSKs the Welcome injected.
func (sw *StagedWelcome) PSKs() []codec.PreSharedKeyID { return sw.pw.PSKs() }

// GroupInfoExtensions returns the extensions of the Welcome's GroupInfo.
func (sw *StagedWelcome) GroupInfoExtensions() Extensions {
	return sw.pw.d.GroupInfo.Extensions
}

// EpochAuthenticator returns the epoch authenticator of the joined epoch.
func (sw *StagedWelcome) EpochAuthenticator() []byte { return sw.g.EpochAuthenticator() }

// Join completes joining: our key package is consumed (deleted from
// storage unless it is a last-resort key package, RFC 9420 §16.8) and the
// group written to storage (the records Stage encoded), in one
// transaction: if it fails, nothing is stored and Join can be called
// again. A StagedWelcome joins once; after Discard, Join fails.
func (sw *StagedWelcome) Join() (*Group, error) {
	if sw.records == nil {
		return nil, fmt.Errorf("%w: the staged Welcome was joined or discarded", ErrInvalidArgument)
	}
	g := sw.g
	c := g.stage()
	// The id must be free (checked in the transaction that takes it).
	groupID := g.epoch.ctx.GroupID
	if sw.pw.replace {
		c.writes = append(c.writes, replaceGroup(groupID))
	} else {
		c.writes = append(c.writes, func(tx providers.Records) error { return checkGroupAbsent(tx, groupID) })
	}
	b := sw.pw.d.Bundle
	if !IsLastResort(&b.KeyPackage) {
		c.writes = append(c.writes, func(tx providers.Records) error { return DeleteKeyPackage(tx, b.Ref) })
	}
	if err := c.commit(func(tx providers.Records) error { return c.writeJoinRecords(tx, sw.records) }); err != nil {
		// The records are kept: Join may be called again.
		return nil, err
	}
	sw.records.zero()
	sw.records = nil
	sw.pw.d.zero()
	return g, nil
}

// Discard erases the secrets of a staged Welcome that will not be joined:
// the Welcome's (ProcessedWelcome.Discard), the staged epoch's and those
// of the records Join would have written. Join then fails.
func (sw *StagedWelcome) Discard() {
	sw.pw.Discard()
	if sw.records == nil {
		return
	}
	sw.records.zero()
	sw.records = nil
	sw.g.epoch.zero()
	sw.g.epoch.keys.Zero()
}

// JoinFromWelcome processes, stages and joins a Welcome in one call, with
// the tree from the GroupInfo or given out of band.
func JoinFromWelcome(c *Client, welcome []byte, tree codec.RatchetTree, cfg GroupConfig) (*Group, error) {
	pw, err := ProcessWelcome(c, welcome, cfg)
	if err != nil {
		return nil, err
	}
	sw, err := pw.Stage(tree)
	if err != nil {
		pw.Discard()
		return nil, err
	}
	return joinOrDiscard(sw)
}

// joinOrDiscard joins sw, or discards it if that fails: for the calls
// that stage and join in one, whose caller cannot call Join again.
func joinOrDiscard(sw *StagedWelcome) (*Group, error) {
	g, err := sw.Join()
	if err != nil {
		sw.Discard()
		return nil, err
	}
	return g, nil
}
