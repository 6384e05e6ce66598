// Package primcount holds the primitive-work floor of mlsbench's
// self-update, add commit, send, receive and join rows: how many calls to
// each primitive of a cipher suite RFC 9420 requires for an operation
// ([UpdateCommit], [UpdateProcess], [AddCommit], [Send], [Receive],
// [Join]), what one
// such operation costs when each primitive is priced at its measured
// single-core time ([Costs.Floor], [Costs.JoinFloor]), and a [Provider]
// that counts the calls an implementation really makes, so that a test can
// compare the two and catch redundant work.
//
// The counts are those of the provider interface (providers.CipherSuite):
// an HPKE SealBase, a DeriveKeyPair, one KDF Expand call, … The floor then
// prices each call by the primitives RFC 9180 and RFC 9420 define it with
// (an X25519 scalar multiplication, an HMAC, an AEAD, a hash over so many
// bytes), not by what the provider's code costs, so that overhead in the
// provider shows as overhead.
package primcount

import (
	"fmt"
	"math/bits"
	"time"
)

// Counts are numbers of calls to each primitive of a cipher suite
// (providers.CipherSuite and Signer).
type Counts struct {
	// Sign and Verify are signatures made and checked (§5.1.2).
	Sign, Verify int
	// SealBase and OpenBase are HPKE encryptions and decryptions (RFC
	// 9180 §6.1; RFC 9420 §5.1.3).
	SealBase, OpenBase int
	// DeriveKeyPair, GenerateKeyPair and HPKEPublicKey are HPKE key pair
	// operations (RFC 9180 §7.1.3).
	DeriveKeyPair, GenerateKeyPair, HPKEPublicKey int
	// Expand and Extract are HKDF calls (RFC 5869; ExpandWithLabel,
	// DeriveSecret and DeriveTreeSecret are one Expand each, §8, §9).
	Expand, Extract int
	// MAC counts MAC and VerifyMAC (confirmation and membership tags).
	MAC int
	// Hash counts calls to the suite's hash (tree, parent and transcript
	// hashes, references).
	Hash int
	// AEADSeal and AEADOpen are AEAD calls outside HPKE (§6.3, §9).
	AEADSeal, AEADOpen int
	// Export counts HPKE exports (§8.3 external init).
	Export int
}

// Add returns c + o.
func (c Counts) Add(o Counts) Counts {
	return Counts{
		Sign: c.Sign + o.Sign, Verify: c.Verify + o.Verify,
		SealBase: c.SealBase + o.SealBase, OpenBase: c.OpenBase + o.OpenBase,
		DeriveKeyPair: c.DeriveKeyPair + o.DeriveKeyPair, GenerateKeyPair: c.GenerateKeyPair + o.GenerateKeyPair,
		HPKEPublicKey: c.HPKEPublicKey + o.HPKEPublicKey,
		Expand:        c.Expand + o.Expand, Extract: c.Extract + o.Extract, MAC: c.MAC + o.MAC, Hash: c.Hash + o.Hash,
		AEADSeal: c.AEADSeal + o.AEADSeal, AEADOpen: c.AEADOpen + o.AEADOpen, Export: c.Export + o.Export,
	}
}

func (c Counts) String() string {
	return fmt.Sprintf("sign %d verify %d seal %d open %d dkp %d gkp %d pub %d expand %d extract %d mac %d hash %d aead seal %d open %d export %d",
		c.Sign, c.Verify, c.SealBase, c.OpenBase, c.DeriveKeyPair, c.GenerateKeyPair, c.HPKEPublicKey,
		c.Expand, c.Extract, c.MAC, c.Hash, c.AEADSeal, c.AEADOpen, c.Export)
}

// keySchedule is the key schedule of one epoch (RFC 9420 §8, Figure 22)
// with no PSK (psk_secret is the zero vector, nothing to compute):
//
//	Extract(init_secret, commit_secret)                      1 Extract
//	joiner_secret = ExpandWithLabel(…, "joiner", GroupContext) 1 Expand
//	Extract(joiner_secret, psk_secret)                       1 Extract
//	epoch_secret  = ExpandWithLabel(…, "epoch", GroupContext)  1 Expand
//	sender_data, encryption, exporter, external, confirm,
//	membership, resumption, authentication, init secrets     9 Expand (DeriveSecret, Table 4)
//	confirmation_tag = MAC(confirmation_key, confirmed_transcript_hash)  1 MAC (§6.1)
//	confirmed and interim transcript hashes                  2 Hash (§8.2)
//
// The welcome_secret is needed only for a Welcome (§12.4.3.1), which a
// self-update does not make. Building or joining with a Welcome is not
// counted here.
func keySchedule() Counts {
	return Counts{Extract: 2, Expand: 2 + 9, MAC: 1, Hash: 2}
}

// secretTreeOwnLeaf is the secret tree work of an epoch in which a member
// sends or receives from its own subtree (RFC 9420 §9): the
// encryption_secret at the root is expanded down to the member's leaf,
// both children of each of the d nodes on the way (tree_node_[left] and
// [right], "tree", so that each node secret is deleted once both
// children exist, §9.2), then the leaf's handshake and application
// ratchet secrets: 2d + 2 Expand.
func secretTreeOwnLeaf(d int) Counts { return Counts{Expand: 2*d + 2} }

// privateMessage is the protection of one handshake message as a
// PrivateMessage (RFC 9420 §6.3): the ratchet's key and nonce of the
// generation and the next ratchet secret (DeriveTreeSecret "key", "nonce",
// "secret", §9.1, the used one deleted, §9.2), the sender data key and
// nonce (ExpandWithLabel of sender_data_secret, §6.3.2), and the two AEAD
// calls (content, sender data). Open is the same on the receiving side.
func privateMessage(open bool) Counts {
	c := Counts{Expand: 3 + 2}
	if open {
		c.AEADOpen = 2
	} else {
		c.AEADSeal = 2
	}
	return c
}

// UpdateCommit is what RFC 9420 requires of a member at leaf 0 that
// commits a self-update (an UpdatePath, no proposals) as a PrivateMessage
// and merges it, in a tree where its filtered direct path has d nodes
// whose copath children have resolutions of res nodes in total (d when
// every copath node is set, as in mlsbench):
//
//   - the new leaf key pair and path secrets as in §7.4 (Figure 14):
//     leaf_secret → leaf_node_secret → leaf key pair, path_secret[0] =
//     DeriveSecret(leaf_secret, "path"), then one DeriveSecret("path")
//     per node, the last giving the commit_secret (§12.4.1): d+1 Expand
//     for path secrets, d+1 for node secrets, d+1 DeriveKeyPair;
//   - one SealBase per resolution node (§7.6): res;
//   - the parent hashes of the d nodes (§7.9: one hash each) and the tree
//     hash of the changed path, leaf and d parents (§7.8): 2d+1 Hash
//     (the copath's tree hashes are those of the previous epoch);
//   - the leaf node's signature (§7.2) and the FramedContent's (§6.1): 2
//     Sign;
//   - the key schedule, confirmation tag and transcript hashes of the new
//     epoch ([keySchedule]);
//   - the Commit as a PrivateMessage of the old epoch ([privateMessage]);
//   - the secret tree of the new epoch down to the committer's leaf
//     ([secretTreeOwnLeaf]), which its next message needs (mlskit derives
//     it when the epoch begins).
func UpdateCommit(d, res int) Counts {
	c := Counts{
		Expand:        2 * (d + 1),
		DeriveKeyPair: d + 1,
		SealBase:      res,
		Hash:          2*d + 1,
		Sign:          2,
	}
	return c.Add(keySchedule()).Add(privateMessage(false)).Add(secretTreeOwnLeaf(d))
}

// UpdateProcess is what RFC 9420 requires of the member at leaf 0 that
// processes and merges a self-update Commit, sent as a PrivateMessage by
// the member at leaf 1, its sibling: the worst-case receiver, whose
// common ancestor with the sender is the lowest node, so that it derives
// every path secret above it (§12.4.2). The sender's filtered direct path
// has d nodes:
//
//   - the PrivateMessage opened ([privateMessage]) and the sender's leaf
//     ratchets derived from its leaf secret, the sibling of the
//     receiver's (2 Expand, §9);
//   - the FramedContent's signature and the new leaf node's (§6.1,
//     §7.3): 2 Verify;
//   - the parent-hash chain of the path checked (§7.9.2: d Hash) and the
//     tree hash of the changed path (§7.8: d+1 Hash);
//   - one OpenBase of the path secret of the common ancestor (§7.6);
//   - from it up to the root, the other d-1 path secrets and the
//     commit_secret (d Expand), each node's node secret (d Expand) and
//     key pair (d DeriveKeyPair), each public key compared with the
//     UpdatePath's (§7.5, a MUST: no primitive);
//   - the key schedule, confirmation tag and transcript hashes
//     ([keySchedule]);
//   - the secret tree of the new epoch down to the receiver's leaf
//     ([secretTreeOwnLeaf]): the ratchets the member's first message of
//     the epoch is protected with (§9). A member that never sends in the
//     epoch could skip them, so they belong to the epoch, not to the
//     Commit: they are counted here, once, because mlskit derives them
//     when the epoch begins, and [Send], the floor of the member's first
//     message too, does not count them again (as for [UpdateCommit]).
//     TestSelfUpdateCounts checks the 2d+2 Expand calls against mlskit's,
//     and TestFirstMessageCounts that a first send makes none.
func UpdateProcess(d int) Counts {
	c := Counts{
		Expand:        2 + 2*d,
		Verify:        2,
		Hash:          2*d + 1,
		OpenBase:      1,
		DeriveKeyPair: d,
	}
	return c.Add(keySchedule()).Add(privateMessage(true)).Add(secretTreeOwnLeaf(d))
}

// Send is what RFC 9420 requires of a member that sends an application
// message as a PrivateMessage (§6.3) in an epoch whose secret tree it has
// already derived down to its leaf ([secretTreeOwnLeaf], counted with the
// Commit that began the epoch): the FramedContent's signature (§6.1) and
// [privateMessage].
func Send() Counts { return Counts{Sign: 1}.Add(privateMessage(false)) }

// Receive is what RFC 9420 requires of a member that receives an
// application message from a sender whose ratchet it already holds (§9):
// [privateMessage] opened and the signature verified (§6.1).
func Receive() Counts { return Counts{Verify: 1}.Add(privateMessage(true)) }

// FirstReceive is what RFC 9420 requires of a member that receives a
// sender's first application message of the epoch, whose leaf lies steps
// levels below the lowest node secret the member still holds above it
// ([SecretTree.Start]): the sender's path derived from that secret, both
// children of each of the steps nodes on the way (tree_node_[left] and
// [right], §9, so that each parent is deleted, §9.2), then the leaf's
// handshake and application ratchet secrets: 2·steps + 2 Expand, and
// [Receive].
func FirstReceive(steps int) Counts { return Receive().Add(Counts{Expand: 2*steps + 2}) }

// SecretTree follows which node secrets of an epoch's secret tree a
// member holds as RFC 9420 §9 and §9.2 leave them, to count the path
// steps of each sender's first message ([FirstReceive]): at first only
// the root's, the encryption_secret; a leaf's ratchets are derived from
// the lowest held secret above it, whose node is deleted once both its
// children are derived, down to the leaf, whose siblings' secrets are
// kept. The tree is the perfect binary tree of 2^d leaves, d =
// ceil(log2 N), that the secret tree of N leaves spans (§4.1, §9); a node
// is its level and its index among the nodes of that level.
type SecretTree struct {
	held    map[[2]int]bool
	started map[int]bool
	d       int
}

// NewSecretTree returns the secret tree of an epoch of an n-leaf group:
// the root's secret held.
func NewSecretTree(n int) *SecretTree {
	d := bits.Len(uint(n - 1))
	return &SecretTree{held: map[[2]int]bool{{d, 0}: true}, started: map[int]bool{}, d: d}
}

// Start derives the ratchets of leaf l, as its sender's first message (or,
// for a member's own leaf, the start of its epoch) does, and returns the
// number of nodes whose children it derives: the steps of [FirstReceive].
// It returns -1 for a leaf whose ratchets exist already or that has no
// held secret above it.
func (s *SecretTree) Start(l int) int {
	if s.started[l] || l < 0 || l >= 1<<s.d {
		return -1
	}
	for k := 0; k <= s.d; k++ {
		if !s.held[[2]int{k, l >> k}] {
			continue
		}
		delete(s.held, [2]int{k, l >> k})
		for j := k - 1; j >= 0; j-- {
			s.held[[2]int{j, (l >> j) ^ 1}] = true
		}
		s.started[l] = true
		return k
	}
	return -1
}

// Join is what RFC 9420 requires of a new member that joins from a
// Welcome with no PSK (§12.4.3.1), the ratchet tree in the GroupInfo: a
// tree of leaves leaves (its width, 2·leaves−1 nodes, blank ones included),
// members of them non-blank, parents non-blank parent nodes, and the
// path_secret of pathNodes nodes of the committer's filtered direct path
// (from our common ancestor with the committer up to the root; 0 when the
// Welcome has none):
//
//   - the GroupSecrets decrypted with the KeyPackage's init key
//     (DecryptWithLabel, §5.1.3): 1 OpenBase;
//   - the key schedule from the joiner_secret (§8, Figure 22; §12.4.3.1):
//     member secret = Extract(joiner_secret, psk_secret) (1 Extract, the
//     zero psk_secret needs none), welcome_secret (DeriveSecret) and its
//     welcome_key and welcome_nonce (3 Expand), the encrypted_group_info
//     opened (1 AEADOpen), epoch_secret (1 Expand) and the nine secrets of
//     Table 4 (9 Expand), the confirmation_tag verified (1 MAC) and the
//     interim transcript hash computed (1 Hash, §8.2; the confirmed one is
//     the GroupInfo's);
//   - the GroupInfo's signature (1 Verify) and, "for each non-empty leaf
//     node", the LeafNode's (§7.3): members Verify;
//   - the tree hash of the whole tree, checked against the GroupInfo's
//     (§7.8: one Hash per node, 2·leaves−1), and each non-blank parent
//     checked parent-hash valid (§7.9.2: its parent hash, 1 Hash each);
//   - from the path_secret, the key pair of each of the pathNodes nodes
//     (§7.4: node_secret, 1 Expand, and DeriveKeyPair each) and the path
//     secrets above the first (pathNodes−1 Expand); each public key
//     compared with the node's ("The private key MUST be the private key
//     that corresponds to the public key in the node": no primitive, the
//     pair is derived together);
//   - the secret tree of the epoch down to our leaf, d = log2(leaves)
//     levels ([secretTreeOwnLeaf]), which our first message needs (mlskit
//     derives it when the epoch begins).
//
// Nothing is signed, sealed or encrypted: the private key of our leaf is
// the one stored with our KeyPackage.
func Join(leaves, members, parents, pathNodes int) Counts {
	d := bits.Len(uint(leaves)) - 1
	c := Counts{
		OpenBase: 1,
		Extract:  1,
		Expand:   3 + 1 + 9,
		AEADOpen: 1,
		MAC:      1,
		Verify:   1 + members,
		Hash:     2*leaves - 1 + parents + 1,
	}
	if pathNodes > 0 {
		c.DeriveKeyPair = pathNodes
		c.Expand += pathNodes + pathNodes - 1
	}
	return c.Add(secretTreeOwnLeaf(d))
}

// JoinExtras are the calls mlskit makes beyond [Join]'s count, each with
// its reason; the counting test pins them.
//
//   - OwnLeaf (−1 Verify): §12.4.3.1 requires our leaf to be identical to
//     the LeafNode of our KeyPackage, so its signature is the one we made
//     over the same bytes; mlskit checks the identity (encoding and
//     signature) instead of verifying it again (ratchettree's
//     TreeValidation.Trusted).
//   - LeafKeyCheck (1 HPKEPublicKey): the private key of our leaf, from
//     our stored KeyPackage bundle, is checked to give the leaf's public
//     key, as stored keys are when a group is loaded.
//   - JoinerSecretTwice (1 Extract, 1 Expand): the member secret and the
//     welcome_secret are derived once to open the GroupInfo and again by
//     the epoch's key schedule.
func JoinExtras() Counts {
	return Counts{Verify: -1, HPKEPublicKey: 1, Extract: 1, Expand: 1}
}

// AddCommit is what RFC 9420 requires of the member at leaf 0 of a group
// of n members, at leaves 0 to n-1 (no blank leaf), that commits the Add of
// one KeyPackage (by value, no UpdatePath: §12.4 requires none for an
// Add-only Commit) as a PrivateMessage, with the Welcome of the new member
// whose GroupInfo carries the tree (§12.4.3):
//
//   - the KeyPackage's signature and its leaf node's (§10.1, §7.3): 2
//     Verify;
//   - the new leaf at index n (§12.1.1) and the tree hashes it changes
//     (§7.8): the leaf and its d ancestors (d+1 Hash, the tree having 2^d
//     leaves), or, when n is a power of two and the tree is extended
//     (§7.7), every node of the new right half and the new root (2n
//     Hash: a blank leaf's hash covers its index, so no two are alike);
//   - the key schedule, confirmation tag and transcript hashes of the new
//     epoch ([keySchedule]), with its welcome_secret (§8: 1 Expand, from
//     the same Extract as the epoch_secret) and the welcome key and nonce
//     (§12.4.3.1: 2 Expand);
//   - the FramedContent's signature (§6.1) and the Commit as a
//     PrivateMessage of the old epoch ([privateMessage]);
//   - the GroupInfo's signature (§12.4.3), its encryption under the
//     welcome key (§12.4.3.1: 1 AEADSeal), the KeyPackageRef of the new
//     member (§5.2: 1 Hash) and the EncryptWithLabel of its GroupSecrets
//     (§12.4.3.1: 1 SealBase, whose info is the encrypted GroupInfo);
//   - the secret tree of the new epoch down to the committer's leaf
//     ([secretTreeOwnLeaf]), as for [UpdateCommit].
//
// The GroupInfo's bytes, signed, encrypted and hashed as the HPKE info,
// are priced by [Costs.GroupInfo]; the external_pub extension (§8.3) is a
// MAY, not counted here, and not made ([AddExtras]).
func AddCommit(n int) Counts {
	d := bits.Len(uint(n - 1)) // levels of the tree before the Add
	treeHashes := d + 1
	if n&(n-1) == 0 { // the tree is full: extended to 2n leaves
		treeHashes = 2 * n
		d++
	}
	c := Counts{
		Verify:   2,
		Sign:     2,
		Hash:     treeHashes + 1,
		Expand:   1 + 2,
		AEADSeal: 1,
		SealBase: 1,
	}
	return c.Add(keySchedule()).Add(privateMessage(false)).Add(secretTreeOwnLeaf(d))
}

// AddExtras are the calls mlskit makes beyond [AddCommit], each with its
// reason; the counting test pins them.
//
//   - EchoHash: the hash of the Commit's bytes (see [Extras]): 1 Hash.
//
// The Welcome's GroupInfo has no external_pub extension (§12.4.3.2: a
// MAY) unless the application asks for a GroupInfo to publish
// (CommitOptions.WithGroupInfo), so no DeriveKeyPair of the
// external_secret (§8.3) is made.
func AddExtras() Counts { return Counts{Hash: 1} }

// Extras are the calls mlskit makes beyond the RFC's count, each with its
// reason; the counting test pins them, so that any other extra call fails
// it.
//
//   - WelcomeSecret: the key schedule derives the welcome_secret of every
//     epoch (keyschedule.Derive), though only a Commit with a Welcome
//     needs it: 1 Expand.
//   - EchoHash (commit only): the hash of the Commit's bytes that
//     recognizes the Delivery Service's echo of it (mls/echo.go): 1 Hash.
//
// The tree hash of the changed path (§7.8) is computed once: TreeKEM
// computes it on the side for the provisional GroupContext (§12.4.1),
// before the staged tree changes, and gives the staged tree the hashes
// once the path is merged (treekem.HashSeeder), so that the new
// GroupContext does not compute them again.
func Extras(commit bool) Counts {
	c := Counts{Expand: 1}
	if commit {
		c.Hash++
	}
	return c
}

// Costs are single-core times of the primitives the floor is priced with.
type Costs struct {
	// X25519Base is a fixed-base X25519 scalar multiplication (a key
	// pair's public key), X25519DH a variable-base one (a DH).
	X25519Base, X25519DH time.Duration
	// HMAC is one HMAC-SHA256 of a short message (one Expand giving at
	// most Nh bytes, one Extract, one MAC).
	HMAC time.Duration
	// Hash is SHA-256 of about 100 bytes (a tree or parent hash input);
	// HashByte the cost of each further byte.
	Hash, HashByte time.Duration
	// Sign and Verify are Ed25519 on 100 bytes; SignByte and VerifyByte
	// the cost of each further byte (SHA-512 over the message, twice when
	// signing, RFC 8032 §5.1.6).
	Sign, Verify, SignByte, VerifyByte time.Duration
	// AEAD is AES-128-GCM of 32 bytes (a path secret), AEADByte each
	// further byte.
	AEAD, AEADByte time.Duration
	// SignMiB, AEADMiB and HashMiB are what 1 MiB more of input costs an
	// Ed25519 signature, AES-128-GCM and SHA-256, measured on 1 MiB: the
	// price of a GroupInfo's bytes ([Costs.GroupInfo]), too large to be
	// priced by the nanoseconds per byte of the 4 KiB measurements.
	SignMiB, AEADMiB, HashMiB time.Duration
}

// GroupInfo prices the bytes of a GroupInfo of giLen bytes that a Commit
// with a Welcome must process beyond the short inputs [Costs.Floor]
// prices (RFC 9420 §12.4.3, §12.4.3.1): its signature (SHA-512 over the
// GroupInfoTBS, twice, RFC 8032 §5.1.6), its AEAD encryption, and the
// HPKE key schedule's hash of the encrypted GroupInfo as the info of the
// GroupSecrets' encryption (RFC 9180 §5.1: LabeledExtract of the info):
// (SignMiB + AEADMiB + HashMiB)·giLen/2^20.
func (k Costs) GroupInfo(giLen int) time.Duration {
	return time.Duration(int64(k.SignMiB+k.AEADMiB+k.HashMiB) * int64(giLen) >> 20)
}

// Floor prices the counts c of an operation whose handshake message has
// msgLen bytes (signed, hashed into the transcript and AEAD-protected as
// a whole) at the costs k:
//
//   - DeriveKeyPair (RFC 9180 §7.1.3): LabeledExtract + LabeledExpand +
//     one fixed-base multiplication: 2 HMAC + base.
//   - SealBase (RFC 9180 §4.1, §5.1, §6.1): an ephemeral key pair
//     (GenerateKeyPair: random bytes + base), DH, ExtractAndExpand (2
//     HMAC), the key schedule's secret, key and base_nonce (3 HMAC; its
//     psk_id_hash is a constant and its info_hash is computed once per
//     UpdatePath, whose info is the same for every ciphertext: 1 HMAC,
//     counted once when there is any SealBase) and the AEAD of the path
//     secret: base + DH + 5 HMAC + AEAD.
//   - OpenBase: DH, ExtractAndExpand, the key schedule and its info_hash,
//     the AEAD: DH + 6 HMAC + AEAD. (Decap's pk(skR) is the public key of
//     a node in the tree: known, not recomputed.)
//   - GenerateKeyPair: base; HPKEPublicKey: base.
//   - Expand, Extract, MAC: 1 HMAC each (every output here is at most Nh
//     bytes: one HMAC block).
//   - Hash: one short hash each, except that the confirmed transcript
//     hash also covers the whole message (msgLen bytes).
//   - Sign, Verify: one each, of which one (the FramedContent's) covers
//     msgLen bytes; AEADSeal, AEADOpen: one each, of which one (the
//     content) covers msgLen bytes.
func (k Costs) Floor(c Counts, msgLen int) time.Duration {
	hm := func(n int) time.Duration { return time.Duration(n) * k.HMAC }
	n := func(x int) time.Duration { return time.Duration(x) }
	var t time.Duration
	t += n(c.DeriveKeyPair) * (hm(2) + k.X25519Base)
	t += n(c.SealBase) * (k.X25519Base + k.X25519DH + hm(5) + k.AEAD)
	if c.SealBase > 0 {
		t += hm(1)
	}
	t += n(c.OpenBase) * (k.X25519DH + hm(6) + k.AEAD)
	t += n(c.GenerateKeyPair+c.HPKEPublicKey) * k.X25519Base
	t += hm(c.Expand + c.Extract + c.MAC)
	t += n(c.Hash) * k.Hash
	l := n(msgLen)
	if c.Hash > 0 {
		t += l * k.HashByte
	}
	t += n(c.Sign) * k.Sign
	if c.Sign > 0 {
		t += l * k.SignByte
	}
	t += n(c.Verify) * k.Verify
	if c.Verify > 0 {
		t += l * k.VerifyByte
	}
	aead := c.AEADSeal + c.AEADOpen
	t += n(aead) * k.AEAD
	if aead > 0 {
		t += l * k.AEADByte
	}
	return t
}

// JoinFloor prices the counts c of a join ([Join]) whose encrypted
// GroupInfo has groupInfoLen bytes, about the size of the GroupInfo and of
// the ratchet tree it carries, which dominates it: Floor(c, groupInfoLen),
// whose one pass over those bytes covers the GroupInfo's signature check,
// the AEAD open of the encrypted_group_info and the HPKE info_hash over it
// (the info of the GroupSecrets, RFC 9180 §5.1), plus a second pass of
// hashing (the tree hash inputs, §7.8, cover the tree's nodes) and of
// signature checking (the leaves' LeafNodeTBS, §7.2, cover the tree's
// leaves).
func (k Costs) JoinFloor(c Counts, groupInfoLen int) time.Duration {
	return k.Floor(c, groupInfoLen) + time.Duration(groupInfoLen)*(k.HashByte+k.VerifyByte)
}
