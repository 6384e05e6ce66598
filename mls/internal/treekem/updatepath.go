package treekem

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/leafnode"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// ContextFunc returns the encoded provisional GroupContext of a Commit
// (RFC 9420 §12.4.1, §12.4.2) given the tree hash of the tree with the
// UpdatePath applied. It is called once the staged tree has been updated.
type ContextFunc func(treeHash []byte) (groupContext []byte, err error)

// CreateParams are the inputs of [CreateUpdatePath].
type CreateParams struct {
	Suite providers.CipherSuite
	// Leaf is the committer's leaf. For an external Commit (§12.4.3.2) the
	// joiner first places its LeafNode template at the leftmost blank leaf
	// of its staged tree (e.g. with ratchettree's Diff.Add) and passes that
	// leaf; receivers then apply the path with ApplyParams.External.
	Leaf treemath.LeafIndex
	// LeafNode is the template of the committer's new leaf node: its
	// signature key, credential, capabilities and extensions are kept; its
	// encryption key, leaf_node_source (commit), parent hash and signature
	// are set by CreateUpdatePath (§7.5).
	LeafNode *codec.LeafNode
	// Signer signs the new leaf node; its public key must be
	// LeafNode.SignatureKey.
	Signer providers.Signer
	// GroupID is the group's ID, signed in the LeafNodeTBS (§7.2).
	GroupID []byte
	// Exclude lists the leaves added by the same Commit, which receive no
	// encrypted path secret (§7.5, §7.6).
	Exclude []treemath.LeafIndex
	// Context builds the provisional group context (required).
	Context ContextFunc
	// LeafSecret, if set, is used as the leaf secret instead of a fresh
	// random one: for tests, and for an external committer, which places
	// its leaf (with the key NodeKeyPair derives from this secret) in the
	// tree before creating the path. Its length should be the suite's Nh.
	LeafSecret []byte
	// Rand is the source of the leaf secret when LeafSecret is nil (nil
	// means crypto/rand).
	Rand io.Reader
}

// CreateResult is the outcome of [CreateUpdatePath].
type CreateResult struct {
	// Path is the UpdatePath to put in the Commit.
	Path *codec.UpdatePath
	// CommitSecret is the commit_secret of the new epoch (§12.4.1).
	CommitSecret []byte
	// FilteredDirectPath is the committer's filtered direct path, and
	// PathSecrets[i] the path secret of FilteredDirectPath[i] (§7.4); the
	// path secret of a new member's common ancestor goes in its Welcome
	// (§12.4.3.1), see [CreateResult.PathSecretFor].
	FilteredDirectPath []treemath.NodeIndex
	PathSecrets        [][]byte
	// Keys are the committer's new leaf and path keys, to be installed with
	// [PrivateKeys.Merge] when the Commit is merged.
	Keys *PathKeys
}

// PathSecretFor returns the path secret of the lowest common ancestor of the
// committer and leaf l, for l's Welcome (§12.4.1), with that node's index.
// It reports false if the ancestor is not on the filtered direct path (l is
// the committer, or outside the tree).
func (r *CreateResult) PathSecretFor(l treemath.LeafIndex) ([]byte, treemath.NodeIndex, bool) {
	if r.Keys == nil {
		return nil, 0, false
	}
	a := treemath.CommonAncestor(r.Keys.sender.Node(), l.Node())
	for i, x := range r.FilteredDirectPath {
		if x == a {
			return r.PathSecrets[i], x, true
		}
	}
	return nil, 0, false
}

// Zero zeroes the commit secret, the path secrets and the keys not merged.
func (r *CreateResult) Zero() {
	clear(r.CommitSecret)
	zeroAll(r.PathSecrets)
	r.Keys.Zero()
}

// CreateUpdatePath updates the committer's direct path in the staged tree t
// and returns the UpdatePath that conveys it (RFC 9420 §7.4, §7.5, §7.6,
// §12.4.1): a fresh leaf secret yields path secrets along the filtered direct
// path and their node key pairs; the direct path is blanked and the filtered
// direct path set to the new public keys with parent hashes computed from
// the root down (§7.9); the leaf node is re-signed with leaf_node_source
// commit and its parent hash; then the provisional group context is obtained
// from p.Context with the new tree hash, and each path secret is encrypted to
// every node of the resolution of its copath child, leaving out p.Exclude.
//
// The new tree hash is computed on the side, so t is changed only at the
// end, through SetPathKeys and ReplaceLeaf; on any earlier error t is left
// as it was. (An error from those two calls, which the earlier checks make
// unexpected, may leave t half updated; the caller discards a staged tree
// whose Commit failed in any case.)
func CreateUpdatePath(t Tree, p *CreateParams) (*CreateResult, error) {
	cs := p.Suite
	if cs == nil || p.LeafNode == nil || p.Signer == nil || p.Context == nil {
		return nil, errors.New("treekem: CreateUpdatePath: Suite, LeafNode, Signer and Context are required")
	}
	if !bytes.Equal(p.Signer.PublicKey(), p.LeafNode.SignatureKey) {
		return nil, pathErr(ErrLeafSignature, p.Leaf.Node(), nil, "signer does not match the leaf node's signature key")
	}
	excl := newLeafSet(p.Exclude)
	if excl.has(p.Leaf) {
		return nil, pathErr(ErrInvalidLeaf, p.Leaf.Node(), nil, "committer is excluded")
	}
	plan, ok := planPath(t, p.Leaf, excl, true)
	if !ok {
		return nil, pathErr(ErrInvalidLeaf, p.Leaf.Node(), nil, "leaf %d outside a tree of %d leaves", p.Leaf, t.LeafCount())
	}
	k := len(plan.fdp)

	// Path secrets: the leaf secret, then one per node of the filtered
	// direct path; the value after the last is the commit secret.
	leafSecret := p.LeafSecret
	if leafSecret == nil {
		leafSecret = make([]byte, cs.HashSize())
		r := p.Rand
		if r == nil {
			r = rand.Reader
		}
		if _, err := io.ReadFull(r, leafSecret); err != nil {
			return nil, fmt.Errorf("treekem: leaf secret: %w", err)
		}
		defer clear(leafSecret)
	}
	pd, err := derivePath(cs, leafSecret, k+1, true)
	if err != nil {
		return nil, err
	}
	chain, commit := pd.chain, pd.commit
	fail := func(err error) (*CreateResult, error) {
		pd.zero()
		return nil, err
	}
	kps, err := deriveNodeKeys(cs, pd.nodes, parallelMin)
	zeroAll(pd.nodes) // node secrets are not needed beyond their key pairs
	if err != nil {
		return fail(err)
	}
	clear(chain[0]) // the leaf secret is not needed beyond its key pair
	failKeys := func(err error) (*CreateResult, error) {
		for i := range kps {
			clear(kps[i].priv)
		}
		return fail(err)
	}
	pubs := make([][]byte, k)
	for i := range pubs {
		pubs[i] = kps[i+1].pub
	}
	nodePH, leafPH, err := parentHashes(cs, t, plan, pubs)
	if err != nil {
		return failKeys(err)
	}
	leaf, err := commitLeafNode(p.Signer, p.LeafNode, p.GroupID, p.Leaf, kps[0].pub, leafPH)
	if err != nil {
		return failKeys(err)
	}

	th, hashes, err := pathTreeHash(cs, t, plan, leaf, pubs, nodePH)
	if err != nil {
		return failKeys(err)
	}
	info, err := provisionalContext(th, p.Context)
	if err != nil {
		return failKeys(err)
	}

	// Encrypt each path secret to the resolution of its copath child. The
	// tree is read before any goroutine starts.
	path := &codec.UpdatePath{LeafNode: *leaf, Nodes: make([]codec.UpdatePathNode, k)}
	type job struct {
		i, j int
		pub  []byte
	}
	jobs := make([]job, 0, plan.resTotal)
	for i := range plan.res {
		path.Nodes[i] = codec.UpdatePathNode{
			EncryptionKey:       pubs[i],
			EncryptedPathSecret: make([]codec.HPKECiphertext, len(plan.res[i])),
		}
		for j, x := range plan.res[i] {
			jobs = append(jobs, job{i, j, nodeKey(t, x)})
		}
	}
	// Every ciphertext has the same info (the provisional GroupContext):
	// a suite that can prepare it hashes it once (RFC 9180 §5.1
	// info_hash) instead of once per ciphertext.
	seal := func(pub, pt []byte) ([]byte, []byte, error) { return cs.SealBase(pub, info, nil, pt) }
	if ps, ok := cs.(providers.PreparedSealer); ok && len(jobs) > 1 {
		if seal, err = ps.PrepareSealBase(info, nil); err != nil {
			return failKeys(err)
		}
	}
	err = parallel(len(jobs), parallelMin, func(n int) error {
		jb := jobs[n]
		kem, ct, err := seal(jb.pub, chain[jb.i+1])
		if err != nil {
			return pathErr(ErrInvalidLeaf, plan.res[jb.i][jb.j], err, "cannot encrypt to resolution node")
		}
		path.Nodes[jb.i].EncryptedPathSecret[jb.j] = codec.HPKECiphertext{KEMOutput: kem, Ciphertext: ct}
		return nil
	})
	if err != nil {
		return failKeys(err)
	}
	if err := mergePath(t, p.Leaf, pubs, nodePH, leafPH, leaf, false); err != nil {
		return failKeys(err)
	}
	seedPathHashes(t, plan, hashes)

	keys := &PathKeys{
		sender:     p.Leaf,
		directPath: append([]treemath.NodeIndex{p.Leaf.Node()}, plan.directPath...),
		keys:       make([]nodeKeyPair, 0, k+1),
	}
	keys.keys = append(keys.keys, nodeKeyPair{p.Leaf.Node(), kps[0]})
	for i, x := range plan.fdp {
		keys.keys = append(keys.keys, nodeKeyPair{x, kps[i+1]})
	}
	return &CreateResult{
		Path:               path,
		CommitSecret:       commit,
		FilteredDirectPath: plan.fdp,
		PathSecrets:        chain[1:],
		Keys:               keys,
	}, nil
}

// ApplyParams are the inputs of [ApplyUpdatePath].
type ApplyParams struct {
	Suite providers.CipherSuite
	// Sender is the committer's leaf (for an external Commit, the leaf it
	// was assigned, see External).
	Sender treemath.LeafIndex
	// Path is the received UpdatePath.
	Path *codec.UpdatePath
	// GroupID is the group's ID, signed in the LeafNodeTBS (§7.2).
	GroupID []byte
	// Exclude lists the leaves added by the same Commit (§7.5, §7.6).
	Exclude []treemath.LeafIndex
	// Self is the receiver's leaf and Keys its private keys before the
	// Commit; ApplyUpdatePath only reads them.
	Self treemath.LeafIndex
	Keys *PrivateKeys
	// Context builds the provisional group context (required).
	Context ContextFunc
	// External marks an external Commit (§12.4.3.2): the caller has placed
	// Path.LeafNode at the sender's leaf, the leftmost blank one, as the
	// joiner's leaf (e.g. with ratchettree's Diff.Add, which also extends
	// the tree when it is full), so that leaf's current encryption key is
	// the path's own and is not a reuse.
	External bool
	// LeafNodeVerified tells ApplyUpdatePath that the caller has already
	// verified the signature of Path.LeafNode for this group and leaf
	// (e.g. with ratchettree's ValidateLeafNode, which checks the rest of
	// §7.3 too), so that it is not verified twice.
	LeafNodeVerified bool
}

// ApplyResult is the outcome of [ApplyUpdatePath].
type ApplyResult struct {
	// CommitSecret is the commit_secret of the new epoch (§12.4.2).
	CommitSecret []byte
	// PathSecret is the path secret the receiver decrypted, for node
	// PathSecretNode, the lowest common ancestor of sender and receiver.
	PathSecret     []byte
	PathSecretNode treemath.NodeIndex
	// Keys are the receiver's new keys for the sender's filtered direct
	// path from PathSecretNode up, to be installed with [PrivateKeys.Merge]
	// when the Commit is merged.
	Keys *PathKeys
}

// Zero zeroes the secrets and the keys not merged.
func (r *ApplyResult) Zero() {
	clear(r.CommitSecret)
	clear(r.PathSecret)
	r.Keys.Zero()
}

// ApplyUpdatePath validates a received UpdatePath, merges it into the staged
// tree t and decrypts it (RFC 9420 §7.5, §12.4.2):
//
//   - the path has one node per node of the sender's filtered direct path,
//     each with one ciphertext per node of its copath child's resolution
//     without p.Exclude (ErrPathLength, ErrCiphertextCount);
//   - the leaf node has leaf_node_source commit (ErrLeafNodeSource), a
//     signature that verifies with the group ID and sender's leaf index
//     (ErrLeafSignature), an encryption key different from the sender's
//     current one, and no public key of the path repeats another or one in
//     t when t implements [KeyIndex] (ErrEncryptionKeyReuse);
//   - its parent_hash is the parent hash of the first node of the filtered
//     direct path, computed from the root down (ErrParentHash);
//   - the path is merged into t (direct path blanked, filtered direct path
//     set with empty unmerged leaves), the provisional group context is
//     obtained from p.Context with the new tree hash, the one ciphertext
//     addressed to a node whose key the receiver holds is decrypted
//     (ErrNoPrivateKey, ErrDecryption), the path secrets up to the root and
//     the commit secret are derived, and each derived public key must equal
//     the path's (ErrPublicKeyMismatch).
//
// Other leaf node checks of §7.3 (capabilities, credential, lifetime,
// extensions, signature-key uniqueness) belong to the caller, as in
// ratchettree's ValidateLeafNode. Everything above is verified before t is
// changed (the new tree hash is computed on the side), so on a validation
// or decryption error t is left as it was; t is then updated through
// SetPathKeys and ReplaceLeaf. On success the receiver's new keys are
// returned, not installed: see [PrivateKeys.Merge].
func ApplyUpdatePath(t Tree, p *ApplyParams) (*ApplyResult, error) {
	cs := p.Suite
	if cs == nil || p.Path == nil || p.Keys == nil || p.Context == nil {
		return nil, errors.New("treekem: ApplyUpdatePath: Suite, Path, Keys and Context are required")
	}
	n := t.LeafCount()
	excl := newLeafSet(p.Exclude)
	switch {
	case !n.HasLeaf(p.Sender):
		return nil, pathErr(ErrInvalidLeaf, treemath.InvalidNode, nil, "sender %d outside a tree of %d leaves", p.Sender, n)
	case !n.HasLeaf(p.Self) || t.Leaf(p.Self) == nil:
		return nil, pathErr(ErrInvalidLeaf, p.Self.Node(), nil, "receiver's leaf %d is not a member", p.Self)
	case p.Self == p.Sender:
		return nil, pathErr(ErrInvalidLeaf, p.Self.Node(), nil, "receiver is the sender")
	case excl.has(p.Self):
		return nil, pathErr(ErrInvalidLeaf, p.Self.Node(), nil, "receiver is added by this Commit")
	case excl.has(p.Sender):
		return nil, pathErr(ErrInvalidLeaf, p.Sender.Node(), nil, "sender is added by this Commit")
	}
	plan, err := checkPathShape(t, p.Sender, excl, p.Path)
	if err != nil {
		return nil, err
	}
	k := len(plan.fdp)
	path := p.Path
	ln := &path.LeafNode
	// The leaf signature is checked first, on the calling goroutine, so
	// that a bad signature takes precedence over the other findings; a
	// receiver does all its path work there (see noParallel).
	if !p.LeafNodeVerified {
		if err := verifyLeafNode(cs, ln, p.GroupID, p.Sender); err != nil {
			return nil, err
		}
	}

	pubs, nodePH, leafPH, err := checkPathKeys(cs, t, p.Sender, plan, path, p.External)
	if err != nil {
		return nil, err
	}

	// Find the copath node above the receiver and a key for its resolution.
	self := p.Self.Node()
	pos := -1
	for i, c := range plan.copath {
		if c == self || treemath.IsAncestor(c, self) {
			pos = i
			break
		}
	}
	if pos < 0 {
		// Unreachable for a non-blank receiver: the common ancestor's copath
		// child holds the receiver's leaf, so it is on the filtered path.
		return nil, pathErr(ErrNoPrivateKey, self, nil, "receiver is under no copath node")
	}
	slot := -1
	var priv, pub []byte
	for j, x := range plan.res[pos] {
		if x != self && !treemath.IsAncestor(x, self) {
			continue
		}
		kpriv, kpub, ok := p.Keys.Get(x)
		if ok && bytes.Equal(kpub, nodeKey(t, x)) {
			slot, priv, pub = j, kpriv, kpub
			break
		}
	}
	if slot < 0 {
		return nil, pathErr(ErrNoPrivateKey, plan.copath[pos], nil, "")
	}

	th, hashes, err := pathTreeHash(cs, t, plan, ln, pubs, nodePH)
	if err != nil {
		return nil, err
	}
	info, err := provisionalContext(th, p.Context)
	if err != nil {
		return nil, err
	}
	ct := &path.Nodes[pos].EncryptedPathSecret[slot]
	ps, err := decryptPathSecret(cs, info, priv, pub, ct)
	if err != nil {
		return nil, pathErr(ErrDecryption, plan.res[pos][slot], err, "path secret of node %d", plan.fdp[pos])
	}
	pd, err := derivePath(cs, ps, k-pos, true)
	if err != nil {
		clear(ps)
		return nil, err
	}
	chain, commit := pd.chain, pd.commit
	kps, err := deriveNodeKeys(cs, pd.nodes, noParallel)
	zeroAll(pd.nodes)
	zeroAll(chain[1:])
	if err == nil {
		for i := range kps {
			if !bytes.Equal(kps[i].pub, pubs[pos+i]) {
				err = pathErr(ErrPublicKeyMismatch, plan.fdp[pos+i], nil, "")
				break
			}
		}
	}
	if err == nil {
		leaf := *ln
		if err = mergePath(t, p.Sender, pubs, nodePH, leafPH, &leaf, true); err == nil {
			seedPathHashes(t, plan, hashes)
		}
	}
	if err != nil {
		for i := range kps {
			clear(kps[i].priv)
		}
		clear(ps)
		clear(chain[0])
		clear(commit)
		return nil, err
	}
	keys := &PathKeys{
		sender:     p.Sender,
		directPath: plan.directPath,
		keys:       make([]nodeKeyPair, len(kps)),
	}
	for i := range kps {
		keys.keys[i] = nodeKeyPair{plan.fdp[pos+i], kps[i]}
	}
	clear(chain[0])
	return &ApplyResult{
		CommitSecret:   commit,
		PathSecret:     ps,
		PathSecretNode: plan.fdp[pos],
		Keys:           keys,
	}, nil
}

// checkPathShape checks the structure of a received UpdatePath from leaf
// sender against t: one node per node of the sender's filtered direct path
// (ErrPathLength), one ciphertext per node of each copath child's
// resolution without the excluded leaves (ErrCiphertextCount), and a leaf
// node of source commit (ErrLeafNodeSource).
func checkPathShape(t TreeView, sender treemath.LeafIndex, excl leafSet, path *codec.UpdatePath) (*pathPlan, error) {
	plan, ok := planPath(t, sender, excl, true)
	if !ok {
		return nil, pathErr(ErrInvalidLeaf, treemath.InvalidNode, nil, "sender %d outside a tree of %d leaves", sender, t.LeafCount())
	}
	k := len(plan.fdp)
	if len(path.Nodes) != k {
		return nil, pathErr(ErrPathLength, sender.Node(), nil, "%d nodes, filtered direct path has %d", len(path.Nodes), k)
	}
	for i := range path.Nodes {
		if got, want := len(path.Nodes[i].EncryptedPathSecret), len(plan.res[i]); got != want {
			return nil, pathErr(ErrCiphertextCount, plan.fdp[i], nil, "%d ciphertexts, resolution has %d nodes", got, want)
		}
	}
	if ln := &path.LeafNode; ln.LeafNodeSource != codec.LeafNodeSourceCommit {
		return nil, pathErr(ErrLeafNodeSource, sender.Node(), nil, "leaf_node_source is %v", ln.LeafNodeSource)
	}
	return plan, nil
}

// checkPathKeys checks the public keys of a received UpdatePath (no reuse,
// ErrEncryptionKeyReuse) and its leaf's parent_hash (ErrParentHash), and
// returns the path's public keys with the parent hashes of its nodes and
// of its leaf.
func checkPathKeys(cs providers.CipherSuite, t Tree, sender treemath.LeafIndex, plan *pathPlan, path *codec.UpdatePath, external bool) (pubs, nodePH [][]byte, leafPH []byte, err error) {
	if err := checkKeyReuse(t, sender, path, external); err != nil {
		return nil, nil, nil, err
	}
	pubs = make([][]byte, len(plan.fdp))
	for i := range path.Nodes {
		pubs[i] = path.Nodes[i].EncryptionKey
	}
	nodePH, leafPH, err = parentHashes(cs, t, plan, pubs)
	if err != nil {
		return nil, nil, nil, err
	}
	if !bytes.Equal(leafPH, path.LeafNode.ParentHash) {
		return nil, nil, nil, pathErr(ErrParentHash, sender.Node(), nil, "leaf parent_hash differs from the parent hash of node %d", firstOr(plan.fdp))
	}
	return pubs, nodePH, leafPH, nil
}

// PublicParams are the inputs of [MergePublicUpdatePath].
type PublicParams struct {
	Suite providers.CipherSuite
	// Sender, Path, GroupID, Exclude, External and LeafNodeVerified are
	// as in [ApplyParams].
	Sender           treemath.LeafIndex
	Path             *codec.UpdatePath
	GroupID          []byte
	Exclude          []treemath.LeafIndex
	External         bool
	LeafNodeVerified bool
}

// MergePublicUpdatePath validates a received UpdatePath as far as it can be
// without a private key and merges its public part into the staged tree t
// (RFC 9420 §7.5 steps 1–4, §7.9.2, §12.4.2): every check of
// [ApplyUpdatePath] but the decryption and the derived public keys
// (ErrPathLength, ErrCiphertextCount, ErrLeafNodeSource, ErrLeafSignature
// unless p.LeafNodeVerified, ErrEncryptionKeyReuse, ErrParentHash). It is
// what a removed member and a non-member (a server following the group)
// can do with a Commit's path. On error t is unchanged.
func MergePublicUpdatePath(t Tree, p *PublicParams) error {
	if p.Suite == nil || p.Path == nil {
		return errors.New("treekem: MergePublicUpdatePath: Suite and Path are required")
	}
	excl := newLeafSet(p.Exclude)
	if excl.has(p.Sender) {
		return pathErr(ErrInvalidLeaf, p.Sender.Node(), nil, "sender is added by this Commit")
	}
	plan, err := checkPathShape(t, p.Sender, excl, p.Path)
	if err != nil {
		return err
	}
	ln := &p.Path.LeafNode
	if !p.LeafNodeVerified {
		if err := verifyLeafNode(p.Suite, ln, p.GroupID, p.Sender); err != nil {
			return err
		}
	}
	pubs, nodePH, leafPH, err := checkPathKeys(p.Suite, t, p.Sender, plan, p.Path, p.External)
	if err != nil {
		return err
	}
	leaf := *ln
	return mergePath(t, p.Sender, pubs, nodePH, leafPH, &leaf, true)
}

func firstOr(s []treemath.NodeIndex) treemath.NodeIndex {
	if len(s) == 0 {
		return treemath.InvalidNode
	}
	return s[0]
}

// checkKeyReuse enforces §12.4.2: the new leaf's encryption key differs from
// the sender's current one, and no public key of the path appears twice or
// (when t indexes its keys) anywhere in the tree.
func checkKeyReuse(t Tree, sender treemath.LeafIndex, path *codec.UpdatePath, external bool) error {
	if cur := t.Leaf(sender); !external && cur != nil && bytes.Equal(cur.EncryptionKey, path.LeafNode.EncryptionKey) {
		return pathErr(ErrEncryptionKeyReuse, sender.Node(), nil, "leaf encryption key unchanged")
	}
	ki, ok := t.(KeyIndex)
	if !ok {
		ki = noKeyIndex{}
	}
	all := make([][]byte, 0, len(path.Nodes)+1)
	all = append(all, path.LeafNode.EncryptionKey)
	for i := range path.Nodes {
		all = append(all, path.Nodes[i].EncryptionKey)
	}
	for i, a := range all {
		for _, b := range all[:i] {
			if bytes.Equal(a, b) {
				return pathErr(ErrEncryptionKeyReuse, treemath.InvalidNode, nil, "public key repeated in the UpdatePath")
			}
		}
		if x, found := ki.FindEncryptionKey(a); found && !(external && i == 0 && x == sender.Node()) {
			return pathErr(ErrEncryptionKeyReuse, x, nil, "public key of the UpdatePath already in the tree")
		}
	}
	return nil
}

// parentHashes computes, from the root down (§7.9), the parent_hash field of
// each node of the filtered direct path given its new public key, and the
// parent hash the leaf must carry (empty for an empty path):
//
//	P_i.parent_hash = ph(P_{i+1})   (empty for the top node)
//	ph(P_i) = Hash(ParentHashInput{pub_i, P_i.parent_hash, th(S_i)})
//
// where S_i is P_i's copath child, whose tree hash the UpdatePath does not
// change, and whose original sibling tree hash is its tree hash because P_i
// has no unmerged leaves after the update.
func parentHashes(cs providers.CipherSuite, t Tree, plan *pathPlan, pubs [][]byte) (nodePH [][]byte, leafPH []byte, err error) {
	k := len(plan.fdp)
	nodePH = make([][]byte, k)
	var above []byte // ph of the node above
	var buf []byte
	for i := k - 1; i >= 0; i-- {
		nodePH[i] = above
		th, err := nodeTreeHash(t, plan.copath[i])
		if err != nil {
			return nil, nil, fmt.Errorf("treekem: tree hash of node %d: %w", plan.copath[i], err)
		}
		in := codec.ParentHashInput{EncryptionKey: pubs[i], ParentHash: above, OriginalSiblingTreeHash: th}
		buf, err = in.AppendTo(codec.Scratch(buf, in.Size()))
		if err != nil {
			return nil, nil, fmt.Errorf("treekem: ParentHashInput: %w", err)
		}
		above = cs.Hash(make([]byte, 0, cs.HashSize()), buf)
	}
	return nodePH, above, nil
}

// commitLeafNode returns a copy of template as the committer's new leaf node:
// source commit, the new encryption key and parent hash, signed (§7.5).
func commitLeafNode(signer providers.Signer, template *codec.LeafNode, groupID []byte, leaf treemath.LeafIndex, encKey, parentHash []byte) (*codec.LeafNode, error) {
	ln := *template
	ln.EncryptionKey = encKey
	ln.LeafNodeSource = codec.LeafNodeSourceCommit
	ln.Lifetime = nil
	ln.ParentHash = parentHash
	ln.Signature = nil
	if err := leafnode.Sign(signer, &ln, groupID, uint32(leaf)); err != nil {
		return nil, fmt.Errorf("treekem: %w", err)
	}
	return &ln, nil
}

// verifyLeafNode checks the signature of a leaf node in a group (§7.3).
func verifyLeafNode(cs providers.CipherSuite, ln *codec.LeafNode, groupID []byte, leaf treemath.LeafIndex) error {
	if err := leafnode.Verify(cs, ln, groupID, uint32(leaf), nil); err != nil {
		return pathErr(ErrLeafSignature, leaf.Node(), err, "")
	}
	return nil
}

// pathTreeHash returns the root tree hash t will have once the path (new
// leaf node, new parent nodes on the filtered direct path with public keys
// pubs and parent hashes nodePH, blank elsewhere on the direct path) is
// merged (§7.8), without changing t: the copath subtrees are unchanged, so
// only the direct path is rehashed. It also returns the tree hashes of the
// leaf and of each node of its direct path (hashes[0] the leaf's,
// hashes[i+1] that of plan.directPath[i]; the last is the root's), for
// [seedPathHashes].
func pathTreeHash(cs providers.CipherSuite, t Tree, plan *pathPlan, leaf *codec.LeafNode, pubs, nodePH [][]byte) (root []byte, hashes [][]byte, err error) {
	in := codec.TreeHashInput{NodeType: codec.NodeTypeLeaf,
		LeafNode: &codec.LeafNodeHashInput{LeafIndex: uint32(plan.leaf), LeafNode: leaf}}
	// Each input is encoded in the buffer of the one before when it
	// fits, else in one of its size (codec.Scratch): the leaf's, then
	// the parents' (a key and three hashes: smaller than a LeafNode).
	buf, err := in.AppendTo(codec.Scratch(nil, in.Size()))
	if err != nil {
		return nil, nil, fmt.Errorf("treekem: TreeHashInput: %w", err)
	}
	// The hashes share one allocation, each its own slice of it (capacity
	// limited: no append reaches the next).
	nh := cs.HashSize()
	all := make([]byte, 0, (1+len(plan.directPath))*nh)
	hashOf := func(b []byte) []byte {
		n := len(all)
		all = cs.Hash(all, b)
		return all[n:len(all):len(all)]
	}
	h := hashOf(buf)
	hashes = make([][]byte, 1, 1+len(plan.directPath))
	hashes[0] = h
	ph := codec.ParentNodeHashInput{}
	in = codec.TreeHashInput{NodeType: codec.NodeTypeParent, ParentNode: &ph}
	var pn codec.ParentNode // the node of each level in turn
	j := 0
	for i, x := range plan.directPath {
		sib := plan.fullCopath[i]
		sh, err := nodeTreeHash(t, sib)
		if err != nil {
			return nil, nil, fmt.Errorf("treekem: tree hash of node %d: %w", sib, err)
		}
		ph.ParentNode = nil
		if j < len(plan.fdp) && plan.fdp[j] == x {
			pn = codec.ParentNode{EncryptionKey: pubs[j], ParentHash: nodePH[j]}
			ph.ParentNode = &pn
			j++
		}
		if sib < x {
			ph.LeftHash, ph.RightHash = sh, h
		} else {
			ph.LeftHash, ph.RightHash = h, sh
		}
		if buf, err = in.AppendTo(codec.Scratch(buf, in.Size())); err != nil {
			return nil, nil, fmt.Errorf("treekem: TreeHashInput: %w", err)
		}
		h = hashOf(buf)
		hashes = append(hashes, h)
	}
	return h, hashes, nil
}

// seedPathHashes gives t, once the path is merged, the tree hashes of
// its leaf and direct path that pathTreeHash computed for the provisional
// GroupContext, if t caches tree hashes ([HashSeeder]): they are those of
// the tree as it now is (§7.8, §12.4.1: the provisional GroupContext's
// tree hash is the new tree's), so that the new GroupContext does not
// compute them again.
func seedPathHashes(t Tree, plan *pathPlan, hashes [][]byte) {
	hs, ok := t.(HashSeeder)
	if !ok {
		return
	}
	hs.SeedTreeHashes(plan.leaf, plan.directPath, hashes)
}

// provisionalContext asks the caller for the provisional group context for
// the tree hash th and returns the HPKE info it implies.
func provisionalContext(th []byte, ctx ContextFunc) ([]byte, error) {
	gc, err := ctx(th)
	if err != nil {
		return nil, fmt.Errorf("treekem: provisional group context: %w", err)
	}
	return EncryptContext(gc)
}

// mergePath writes a path into t (§7.5): the parent nodes, whose parent
// hashes nodePH the caller computed (PathSetter; otherwise SetPathKeys,
// whose leaf parent hash must be leafPH), then the leaf node. checked
// tells that checkKeyReuse found the keys distinct and new to t as it is
// (a received path), so that a PathSetter does not look them up again.
func mergePath(t Tree, leaf treemath.LeafIndex, pubs, nodePH [][]byte, leafPH []byte, ln *codec.LeafNode, checked bool) error {
	keys := make([]codec.HPKEPublicKey, len(pubs))
	for i := range pubs {
		keys[i] = pubs[i]
	}
	if ps, ok := t.(PathSetter); ok {
		set := ps.SetPathNodes
		if _, indexed := t.(KeyIndex); checked && indexed {
			set = ps.SetCheckedPathNodes
		}
		if err := set(leaf, keys, nodePH); err != nil {
			return fmt.Errorf("treekem: merging the path: %w", err)
		}
	} else {
		got, err := t.SetPathKeys(leaf, keys)
		if err != nil {
			return fmt.Errorf("treekem: merging the path: %w", err)
		}
		if !bytes.Equal(got, leafPH) {
			return pathErr(ErrParentHash, leaf.Node(), nil, "the tree computes a different leaf parent hash")
		}
	}
	if err := t.ReplaceLeaf(leaf, ln); err != nil {
		return fmt.Errorf("treekem: merging the leaf: %w", err)
	}
	return nil
}

type noKeyIndex struct{}

func (noKeyIndex) FindEncryptionKey([]byte) (treemath.NodeIndex, bool) { return 0, false }
