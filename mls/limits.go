package mls

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// Limits bound what a message from the network may make a member do before
// it is authenticated (or at all): sizes and counts are checked before the
// expensive work they would cause. The defaults (DefaultLimits) allow groups
// of 100,000 members; a zero field means its default.
//
// Limits are a setting of the Client (Client.Limits), applied to every
// group it creates, joins or loads; they are not stored with a group.
type Limits struct {
	// MaxMessageSize is the largest encoded message accepted, in bytes:
	// by ProcessMessage, ProcessWelcome, JoinByExternalCommit and
	// VerifyGroupInfoMessage (the GroupInfo). A Welcome that carries the ratchet tree of a large group
	// is the largest legitimate message: about 260 bytes per member with
	// the X25519/Ed25519 suites (26 MB for 100,000 members) and several
	// times that with post-quantum ones, whose trees are better given out
	// of band. Default 64 MiB.
	MaxMessageSize int
	// MaxLeaves is the largest ratchet tree accepted, in leaves: in a
	// Welcome or GroupInfo, and after the Adds of a Commit. A tree's leaf
	// count is its width, blank leaves included (RFC 9420 §7.8). Default
	// 2^17 (131,072).
	MaxLeaves int
	// MaxProposals is the largest number of proposals one Commit covers
	// (inline and by reference), and so of members one Welcome adds, and
	// of proposals the proposal store of an epoch holds (StoreProposal,
	// Propose…). Default 2^17 (131,072), MaxLeaves' default: one Commit
	// may create a group of 100,000 members.
	MaxProposals int
	// MaxPSKs is the largest number of PSKs one Commit (PreSharedKey
	// proposals) or Welcome (GroupSecrets.psks) injects (RFC 9420 §8.4).
	// Default 64.
	MaxPSKs int
	// MaxMessageElements is the largest number of list entries (at any
	// depth: proposals, UpdatePath nodes and ciphertexts, extensions,
	// certificates) a handshake or application message may decode to.
	// With the allocation bound every decoding of a received message has
	// (codec.AllocBudget: 2.5 times its size, plus 1 MiB), it caps the memory
	// an unauthenticated message can make a member allocate: a 10 MB
	// message of tiny entries would otherwise decode to about a gigabyte.
	// Default 2^20 (1,048,576): a Commit adding 100,000 members by value
	// holds about four per Add (the proposal, the extensions of the key
	// package and of its leaf, GREASE included; more with X.509 chains),
	// and one whose UpdatePath encrypts to every member of a degenerate
	// 100,000-member tree one per member.
	MaxMessageElements int
}

// Default limits (see Limits).
const (
	DefaultMaxMessageSize     = 64 << 20
	DefaultMaxLeaves          = 1 << 17
	DefaultMaxProposals       = 1 << 17
	DefaultMaxPSKs            = 64
	DefaultMaxMessageElements = 1 << 20
)

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxMessageSize:     DefaultMaxMessageSize,
		MaxLeaves:          DefaultMaxLeaves,
		MaxProposals:       DefaultMaxProposals,
		MaxPSKs:            DefaultMaxPSKs,
		MaxMessageElements: DefaultMaxMessageElements,
	}
}

// withDefaults returns l with its zero fields set to the defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxMessageSize == 0 {
		l.MaxMessageSize = d.MaxMessageSize
	}
	if l.MaxLeaves == 0 {
		l.MaxLeaves = d.MaxLeaves
	}
	if l.MaxProposals == 0 {
		l.MaxProposals = d.MaxProposals
	}
	if l.MaxPSKs == 0 {
		l.MaxPSKs = d.MaxPSKs
	}
	if l.MaxMessageElements == 0 {
		l.MaxMessageElements = d.MaxMessageElements
	}
	return l
}

// validate reports a negative limit or one the tree cannot hold.
func (l Limits) validate() error {
	if l.MaxMessageSize < 0 || l.MaxLeaves < 0 || l.MaxProposals < 0 || l.MaxPSKs < 0 || l.MaxMessageElements < 0 {
		return fmt.Errorf("negative limit in %+v", l)
	}
	if l.MaxLeaves > 1<<30 {
		return fmt.Errorf("MaxLeaves %d is above 2^30", l.MaxLeaves)
	}
	return nil
}

// ErrMessageTooLarge: an encoded message is larger than
// Limits.MaxMessageSize. It is also a RuleLimit validation error.
var ErrMessageTooLarge = errors.New("mls: message too large")

// limits returns the group's limits, defaults filled in.
func (g *Group) limits() Limits { return g.lim }

// SetLimits changes the limits of this Group value (see Limits; a zero
// field means its default), which start as its Client's. They are not
// stored: a Group that LoadGroup returns has its Client's limits.
func (g *Group) SetLimits(l Limits) error {
	if err := l.validate(); err != nil {
		return invalidConfig(err)
	}
	g.lim = l.withDefaults()
	if g.epoch != nil && g.epoch.protector != nil {
		g.epoch.protector.SetMaxElements(l.withDefaults().MaxMessageElements)
	}
	return nil
}

// checkSize refuses a message larger than MaxMessageSize.
func (l Limits) checkSize(what string, n int) error {
	if n > l.MaxMessageSize {
		return RuleLimit.Errorf("%s of %d bytes exceeds MaxMessageSize %d: %w", what, n, l.MaxMessageSize, ErrMessageTooLarge)
	}
	return nil
}

// decodeMessage decodes an MLSMessage received by the group: its size is
// checked before decoding, and the decoding may hold at most
// MaxMessageElements list entries.
func (l Limits) decodeMessage(what string, data []byte, m *codec.MLSMessage) error {
	if err := l.checkSize(what, len(data)); err != nil {
		return err
	}
	if err := codec.UnmarshalLimited(data, l.MaxMessageElements, m); err != nil {
		if errors.Is(err, codec.ErrTooManyElements) {
			return RuleLimit.Errorf("%s: %w", what, err)
		}
		return fmt.Errorf("mls: decoding %s: %w", what, err)
	}
	return nil
}

// decodeWelcome decodes a Welcome MLSMessage within the limits: its size,
// and list entries for one secret per member it adds.
func (l Limits) decodeWelcome(data []byte, m *codec.MLSMessage) error {
	if err := l.checkSize("Welcome", len(data)); err != nil {
		return err
	}
	// Decoded in place: nothing of the Welcome outlives ProcessWelcome
	// (the GroupSecrets and GroupInfo it keeps are decrypted copies).
	if err := codec.DecodeLimited(data, l.MaxProposals+smallElements, m); err != nil {
		if errors.Is(err, codec.ErrTooManyElements) {
			return RuleLimit.Errorf("Welcome: %w", err)
		}
		return fmt.Errorf("%w: %w", ErrMalformedWelcome, err)
	}
	return nil
}

// decodeGroupInfo decodes a GroupInfo MLSMessage within the limits (its
// ratchet tree, an opaque extension here, is decoded by ratchetTreeOf),
// from a copy of data with room to verify the GroupInfo's signature in
// place: the returned groupInfoBytes, for verifyGroupInfoBytes.
func (l Limits) decodeGroupInfo(data []byte, m *codec.MLSMessage) (groupInfoBytes, error) {
	if err := l.checkSize("GroupInfo", len(data)); err != nil {
		return groupInfoBytes{}, err
	}
	buf := make([]byte, groupInfoRoom+len(data))
	copy(buf[groupInfoRoom:], data)
	if err := codec.DecodeLimited(buf[groupInfoRoom:], smallElements, m); err != nil {
		if errors.Is(err, codec.ErrTooManyElements) {
			return groupInfoBytes{}, RuleLimit.Errorf("GroupInfo: %w", err)
		}
		return groupInfoBytes{}, fmt.Errorf("mls: decoding GroupInfo message: %w", err)
	}
	// The GroupInfo follows the MLSMessage's version and wire_format,
	// its MLSMessageHeader.
	var hb [8]byte
	hdr, err := (&codec.MLSMessageHeader{WireFormat: m.WireFormat}).AppendTo(hb[:0])
	if err != nil {
		return groupInfoBytes{}, fmt.Errorf("mls: encoding the GroupInfo message's header: %w", err)
	}
	return groupInfoBytes{enc: buf, off: groupInfoRoom + len(hdr)}, nil
}

// treeElements is the element budget of decoding a ratchet tree of at most
// maxLeaves leaves: its 2*maxLeaves-1 nodes and per leaf node six
// extensions or certificates (capabilities and unmerged leaves are
// fixed-size lists, which do not count).
func treeElements(maxLeaves int) int { return 8 * maxLeaves }

// treeAlloc is the allocation budget (codec.Reader.LimitAlloc) of decoding
// a ratchet tree of n bytes: 2.5 bytes per byte (a tree of realistic
// leaves and full parent nodes of the X25519 suites, the densest there is,
// decodes to 2.4), plus 16 bytes per node of the widest tree allowed, for
// the node list itself (a blank node is one byte on the wire and eight,
// twice while decoded, in memory), plus codec.AllocSlack.
func (l Limits) treeAlloc(n int) int { return n*5/2 + 16*2*l.MaxLeaves + codec.AllocSlack }

// decodeTree decodes a ratchet tree (the content of a ratchet_tree
// extension) in place from data, within l: at most treeElements list
// entries and treeAlloc bytes allocated.
func (l Limits) decodeTree(data []byte) (codec.RatchetTree, error) {
	return l.decodeTreeEach(data, nil)
}

// decodeTreeEach is decodeTree, which also hands each node, when set,
// every node as soon as it is decoded (codec.RatchetTree.DecodeEach), with
// its index, even if the decoding fails later.
func (l Limits) decodeTreeEach(data []byte, each func(int, *codec.Node)) (codec.RatchetTree, error) {
	var rt codec.RatchetTree
	r := codec.NewReader(data)
	r.LimitElements(treeElements(l.MaxLeaves))
	r.LimitAlloc(l.treeAlloc(len(data)))
	var err error
	if each == nil {
		err = rt.Decode(r)
	} else {
		err = rt.DecodeEach(r, func(x int, nd *codec.Node) error { each(x, nd); return nil })
	}
	if e := r.ElementsExceeded(); e != nil {
		return nil, RuleLimit.Errorf("ratchet tree: %w", e)
	}
	if err == nil {
		err = r.Finish()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: ratchet_tree: %w", ErrMalformedExtension, err)
	}
	return rt, nil
}

// DecodeRatchetTree decodes a ratchet tree received out of band (encoded
// as the content of a ratchet_tree extension, RFC 9420 §12.4.3.3) for
// JoinFromWelcome, Stage or JoinByExternalCommit, within l (a zero field
// means its default): the decoding is bounded as that of a tree in a
// Welcome or GroupInfo, and a tree wider than MaxLeaves is refused. Errors
// of a limit match RuleLimit. The tree does not alias data.
func DecodeRatchetTree(data []byte, l Limits) (codec.RatchetTree, error) {
	if err := l.validate(); err != nil {
		return nil, invalidConfig(err)
	}
	l = l.withDefaults()
	if err := l.checkSize("ratchet tree", len(data)); err != nil {
		return nil, err
	}
	rt, err := l.decodeTree(bytes.Clone(data))
	if err != nil {
		return nil, err
	}
	if err := l.checkTreeWidth(rt); err != nil {
		return nil, err
	}
	return rt, nil
}

// smallElements is the element budget of structures whose lists are short
// (GroupInfo without its tree, GroupSecrets besides its PSKs).
const smallElements = 4096

// checkCommitCounts checks the counts of a received Commit right after it
// is decoded, before anything is resolved or verified: its proposals and
// PSKs.
func (l Limits) checkCommitCounts(c *codec.Commit) error {
	if len(c.Proposals) > l.MaxProposals {
		return RuleLimit.Errorf("Commit covers %d proposals, MaxProposals is %d", len(c.Proposals), l.MaxProposals)
	}
	psks := 0
	for i := range c.Proposals {
		if p := c.Proposals[i].Proposal; p != nil && p.ProposalType == codec.ProposalTypePSK {
			psks++
		}
	}
	if psks > l.MaxPSKs {
		return RuleLimit.Errorf("Commit injects %d PSKs, MaxPSKs is %d", psks, l.MaxPSKs)
	}
	return nil
}

// checkProposals checks the proposal and PSK counts of a Commit's
// resolved proposal list (ours, received or external).
func (l Limits) checkProposals(props []committedProposal) error {
	if len(props) > l.MaxProposals {
		return RuleLimit.Errorf("Commit covers %d proposals, MaxProposals is %d", len(props), l.MaxProposals)
	}
	psks := 0
	for _, cp := range props {
		if cp.p.ProposalType == codec.ProposalTypePSK {
			psks++
		}
	}
	if psks > l.MaxPSKs {
		return RuleLimit.Errorf("Commit injects %d PSKs, MaxPSKs is %d", psks, l.MaxPSKs)
	}
	return nil
}

// checkStoreRoom refuses a proposal when the proposal store already holds
// MaxProposals: a Commit could not cover more (checkProposals), and the
// store of an epoch would otherwise grow with every proposal received.
func (l Limits) checkStoreRoom(stored int) error {
	if stored >= l.MaxProposals {
		return RuleLimit.Errorf("the proposal store holds %d proposals, MaxProposals is %d", stored, l.MaxProposals)
	}
	return nil
}

// checkMessageCounts checks the counts of a decoded message that the
// decoding limits do not already bound, before any cryptography: the
// proposals and PSKs of a PublicMessage Commit.
func (l Limits) checkMessageCounts(m *codec.MLSMessage) error {
	if m.PublicMessage != nil && m.PublicMessage.Content.Commit != nil {
		return l.checkCommitCounts(m.PublicMessage.Content.Commit)
	}
	return nil
}

// checkTreeWidth refuses a ratchet tree of more than MaxLeaves leaves
// before it is built.
func (l Limits) checkTreeWidth(rt codec.RatchetTree) error {
	if len(rt) > 2*l.MaxLeaves-1 {
		return RuleLimit.Errorf("ratchet tree of %d nodes (%d leaves), MaxLeaves is %d", len(rt), (len(rt)+1)/2, l.MaxLeaves)
	}
	return nil
}

// checkLeafCount refuses a staged tree wider than MaxLeaves (after the
// Adds of a Commit or an external join).
func (l Limits) checkLeafCount(n ratchettree.LeafCount) error {
	if int64(n) > int64(l.MaxLeaves) {
		return RuleLimit.Errorf("the tree would have %d leaves, MaxLeaves is %d", n, l.MaxLeaves)
	}
	return nil
}

// pskKey is a map key identifying the pre-shared key a PreSharedKeyID
// names: the psk_nonce does not count (RulePSKDuplicate: two proposals injecting
// one PSK differ only in their fresh nonces).
func pskKey(id *codec.PreSharedKeyID) string {
	switch id.PSKType {
	case codec.PSKTypeExternal:
		return "e" + string(id.PSKID)
	case codec.PSKTypeResumption:
		var b [10]byte
		b[0] = 'r'
		b[1] = byte(id.Usage)
		binary.BigEndian.PutUint64(b[2:], id.PSKEpoch)
		return string(b[:]) + string(id.PSKGroupID)
	}
	return fmt.Sprintf("?%d", id.PSKType)
}

// duplicatePSK returns the indices of the first two PreSharedKeyIDs of ids
// that name the same PSK, in linear time: one key and one map lookup per
// id.
func duplicatePSK(ids []codec.PreSharedKeyID) (int, int, bool) {
	return duplicatePSKBy(ids, pskKey)
}

func duplicatePSKBy(ids []codec.PreSharedKeyID, key func(*codec.PreSharedKeyID) string) (int, int, bool) {
	seen := make(map[string]int, len(ids))
	for i := range ids {
		if ids[i].PSKType != codec.PSKTypeExternal && ids[i].PSKType != codec.PSKTypeResumption {
			continue // an unknown type is never the same as another
		}
		k := key(&ids[i])
		if j, ok := seen[k]; ok {
			return j, i, true
		}
		seen[k] = i
	}
	return 0, 0, false
}

// ratchetTreeOf returns the ratchet tree of a GroupInfo — tree when given
// out of band, otherwise the GroupInfo's ratchet_tree extension decoded
// within the limits — after checking its width against MaxLeaves, and the
// signature key of the GroupInfo's signer leaf, without building the tree
// (RFC 9420 §12.4.3.1): the caller verifies the GroupInfo with that key
// first.
func (l Limits) ratchetTreeOf(gi *codec.GroupInfo, tree codec.RatchetTree) (codec.RatchetTree, []byte, error) {
	return l.ratchetTreeEach(gi, tree, nil)
}

// ratchetTreeEach is ratchetTreeOf, which also hands each, when set, the
// tree's nodes in order, with their indices: as soon as they are decoded
// (decodeTreeEach), or, for a tree given out of band, once its width is
// checked. Of a decoded tree, it hands out only the nodes of a tree of at
// most MaxLeaves leaves (the width is checked once the tree is decoded),
// and it may have handed out nodes when it fails.
func (l Limits) ratchetTreeEach(gi *codec.GroupInfo, tree codec.RatchetTree, each func(int, *codec.Node)) (codec.RatchetTree, []byte, error) {
	if tree == nil {
		var data []byte
		found := false
		for i := range gi.Extensions {
			if gi.Extensions[i].ExtensionType == codec.ExtensionTypeRatchetTree {
				data, found = gi.Extensions[i].ExtensionData, true
				break
			}
		}
		if !found {
			return nil, nil, ErrNoRatchetTree
		}
		bounded := each
		if each != nil {
			bounded = func(x int, nd *codec.Node) {
				if x < 2*l.MaxLeaves-1 {
					each(x, nd)
				}
			}
		}
		// The extension's data is ours (decoded from the GroupInfo): the
		// tree is decoded in place.
		rt, err := l.decodeTreeEach(data, bounded)
		if err != nil {
			return nil, nil, err
		}
		tree = rt
		each = nil
	}
	if err := l.checkTreeWidth(tree); err != nil {
		return nil, nil, err
	}
	if each != nil {
		for x, nd := range tree {
			each(x, nd)
		}
	}
	x := 2 * uint64(gi.Signer)
	if x >= uint64(len(tree)) || tree[x] == nil || tree[x].LeafNode == nil {
		return nil, nil, fmt.Errorf("%w: GroupInfo signer %d is not a member", ErrInvalidGroupInfoSignature, gi.Signer)
	}
	return tree, tree[x].LeafNode.SignatureKey, nil
}

// buildGroupInfoTree builds the tree ratchetTreeOf returned, once the
// GroupInfo is verified, and returns it with the signer's leaf.
func buildGroupInfoTree(cs providers.CipherSuite, gi *codec.GroupInfo, rt codec.RatchetTree) (*ratchettree.Tree, *codec.LeafNode, error) {
	t, err := ratchettree.FromRatchetTree(cs, rt)
	if err != nil {
		return nil, nil, fmt.Errorf("mls: ratchet tree: %w", treeRule(err, RuleAddEncryptionKeyDuplicate, RuleAddCapabilities))
	}
	signer := t.Leaf(treemath.LeafIndex(gi.Signer))
	if signer == nil {
		return nil, nil, fmt.Errorf("%w: GroupInfo signer %d is not a member", ErrInvalidGroupInfoSignature, gi.Signer)
	}
	return t, signer, nil
}
