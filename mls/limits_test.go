package mls

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
)

// allocated returns the bytes f allocates (runtime.MemStats.TotalAlloc).
func allocated(f func()) uint64 {
	runtime.GC()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// hostileCommits returns ~size-byte Commits of b made of the smallest
// entries the wire format allows, each shape a different list.
func hostileCommits(n *gtNeg, size int) map[string]codec.FramedContent {
	refs := make([]codec.ProposalOrRef, size/2) // 2 bytes each
	for i := range refs {
		refs[i] = codec.ProposalOrRef{Type: codec.ProposalOrRefTypeReference}
	}
	removes := make([]codec.ProposalOrRef, size/7)
	for i := range removes {
		removes[i] = gtInline(gtRemove(1))[0]
	}
	psks := make([]codec.ProposalOrRef, size/6)
	for i := range psks {
		psks[i] = gtInline(gtPSK(codec.PreSharedKeyID{PSKType: codec.PSKTypeExternal}))[0]
	}
	exts := make([]codec.Extension, size/3)
	for i := range exts {
		exts[i] = codec.Extension{ExtensionType: 0xff00}
	}
	kp := *gtKeyPackage(n.t, n.s.newClient().c, n.s.suite)
	kp.Extensions = exts // a KeyPackage of 10 MB
	cts := make([]codec.HPKECiphertext, size/2)
	path := &codec.UpdatePath{LeafNode: *n.b.g.OwnLeafNode(), Nodes: []codec.UpdatePathNode{{EncryptionKey: []byte{1}, EncryptedPathSecret: cts}}}
	return map[string]codec.FramedContent{
		"references":       gtCommitFC(refs, nil),
		"inline removes":   gtCommitFC(removes, nil),
		"inline PSKs":      gtCommitFC(psks, nil),
		"empty extensions": gtCommitFC(gtInline(gtGCE(exts...)), nil),
		"Add of a KeyPackage of empty extensions": gtCommitFC(gtInline(gtAdd(&kp)), nil),
		"path ciphertexts":                        gtCommitFC(nil, path),
	}
}

// TestHostileMessageAllocation (finding 9 of issue 10): a 10 MB message of
// tiny list entries, from a member (signed and with a valid membership tag
// or encrypted) or with a bad membership tag, makes the receiver allocate
// at most 64 MB before refusing it (regression: about 1.5 GB); so do 10 MB
// Commits within every limit that a later rule refuses, and 10 MB
// application messages that do not decrypt.
func TestHostileMessageAllocation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 10 MB messages")
	}
	n := newGTNeg(t, nil)
	n.a.g.cfg.WireFormatPolicy = MixedPlaintext() // accepts the PrivateMessage too
	const size = 10 << 20
	const budget = 64 << 20
	for name, fc := range hostileCommits(n, size) {
		msgs := map[string][]byte{"public": n.public(n.b, fc, n.tag()), "private": n.private(n.b, fc, n.tag())}
		if name == "references" {
			bad := bytes.Clone(msgs["public"])
			bad[len(bad)-1] ^= 1 // the membership tag
			msgs["bad tag"] = bad
		}
		for kind, msg := range msgs {
			var err error
			got := allocated(func() { _, err = n.a.g.ProcessMessage(msg) })
			t.Logf("%s, %s: %d-byte message, %.1f MB allocated: %v", name, kind, len(msg), float64(got)/(1<<20), err)
			if !errors.Is(err, RuleLimit) {
				t.Fatalf("%s, %s: %v, want RuleLimit", name, kind, err)
			}
			if got > budget {
				t.Errorf("%s, %s: %d bytes allocated, want at most %d", name, kind, got, budget)
			}
		}
	}
	// 10 MB Commits within every count and decoding limit, from a
	// member, refused by a later rule (a GroupContextExtensions proposal
	// needs a path; one key package added twice): within the budget all
	// the same.
	kp := *gtKeyPackage(t, n.s.newClient().c, n.s.suite)
	kp.Extensions = []codec.Extension{{ExtensionType: 0xff00, ExtensionData: make([]byte, 2500)}}
	adds := make([]*codec.Proposal, size/2600)
	for i := range adds {
		adds[i] = gtAdd(&kp)
	}
	within := map[string]codec.FramedContent{
		"one 10 MB extension":         gtCommitFC(gtInline(gtGCE(codec.Extension{ExtensionType: 0xff00, ExtensionData: make([]byte, size)})), nil),
		"Adds of 2.6 KB key packages": gtCommitFC(gtInline(adds...), nil),
	}
	for name, fc := range within {
		for kind, msg := range map[string][]byte{"public": n.public(n.b, fc, n.tag()), "private": n.private(n.b, fc, n.tag())} {
			var err error
			got := allocated(func() { _, err = n.a.g.ProcessMessage(msg) })
			t.Logf("%s, %s: %d-byte message, %.1f MB allocated: %v", name, kind, len(msg), float64(got)/(1<<20), err)
			if err == nil {
				t.Fatalf("%s, %s: accepted", name, kind)
			}
			if got > budget {
				t.Errorf("%s, %s: %d bytes allocated, want at most %d", name, kind, got, budget)
			}
		}
	}
	// A 10 MB PrivateMessage whose ciphertext (or sender data) is not
	// the sender's: refused at decryption.
	app := n.private(n.b, codec.FramedContent{ContentType: codec.ContentTypeApplication, ApplicationData: make([]byte, size)}, nil)
	alter := map[string]func(pm *codec.PrivateMessage){
		"ciphertext":  func(pm *codec.PrivateMessage) { pm.Ciphertext[len(pm.Ciphertext)-1] ^= 1 },
		"sender data": func(pm *codec.PrivateMessage) { pm.EncryptedSenderData[0] ^= 1 },
	}
	for what, f := range alter {
		var m codec.MLSMessage
		if err := m.Unmarshal(app); err != nil {
			t.Fatal(err)
		}
		f(m.PrivateMessage)
		bad := gtMust(m.Marshal())(t)
		var err error
		got := allocated(func() { _, err = n.a.g.ProcessMessage(bad) })
		t.Logf("application message, bad %s: %d-byte message, %.1f MB allocated: %v", what, len(bad), float64(got)/(1<<20), err)
		if err == nil {
			t.Fatalf("application message, bad %s: accepted", what)
		}
		if got > budget {
			t.Errorf("application message, bad %s: %d bytes allocated, want at most %d", what, got, budget)
		}
	}
}

// TestMessageSizeLimit: a message larger than MaxMessageSize is refused
// before it is decoded, by ProcessMessage, ProcessWelcome and
// JoinByExternalCommit.
func TestMessageSizeLimit(t *testing.T) {
	n := newGTNeg(t, nil)
	msg := n.public(n.b, gtCommitFC(nil, nil), n.tag())
	if err := n.a.g.SetLimits(Limits{MaxMessageSize: len(msg) - 1}); err != nil {
		t.Fatal(err)
	}
	n.expect(n.a, msg, ErrMessageTooLarge)
	n.expect(n.a, msg, RuleLimit)
	if err := n.a.g.SetLimits(Limits{MaxMessageSize: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative limit: %v", err)
	}

	small := Limits{MaxMessageSize: 100}
	gi := gtMust(n.a.g.GroupInfo(true))(t)
	ec := gtNewClient(t, n.s.p, n.s.suite, "j")
	ec.Limits = small
	if _, _, err := JoinByExternalCommit(ec, gi, nil, GroupConfig{}, nil); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("external join with a large GroupInfo: %v", err)
	}
	j := n.s.newClient()
	res := gtMust(n.a.g.AddMembers(gtKeyPackage(t, j.c, n.s.suite)))(t)
	j.c.Limits = small
	if _, err := JoinFromWelcome(j.c, res.Welcome, nil, GroupConfig{}); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Welcome too large: %v", err)
	}
	j.c.Limits = Limits{MaxLeaves: -1}
	if _, err := JoinFromWelcome(j.c, res.Welcome, nil, GroupConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative MaxLeaves: %v", err)
	}
	if err := n.a.g.ClearPendingCommit(); err != nil {
		t.Fatal(err)
	}
}

// TestProposalAndPSKLimits: a Commit covering more proposals or PSKs than
// the receiver's limits is refused (before any cryptography for a
// PublicMessage), and our own side refuses to create one.
func TestProposalAndPSKLimits(t *testing.T) {
	n := newGTNeg(t, nil)
	cs := n.cs
	secret := bytes.Repeat([]byte{7}, cs.HashSize())
	var ids []codec.PreSharedKeyID
	for i := range 3 {
		name := []byte(fmt.Sprintf("psk %d", i))
		for _, m := range []*gtMember{n.a, n.b, n.c, n.d} {
			if err := StoreExternalPSK(m.c.Storage, name, secret); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, gtMust(NewExternalPSKID(n.s.p, cs, name))(t))
	}
	if err := n.b.g.SetLimits(Limits{MaxPSKs: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.b.g.Commit(CommitOptions{PSKs: ids}); !errors.Is(err, RuleLimit) {
		t.Fatalf("our Commit with 3 PSKs, MaxPSKs 2: %v", err)
	}
	res := gtMust(n.a.g.Commit(CommitOptions{PSKs: ids}))(t)
	if err := n.a.g.ClearPendingCommit(); err != nil {
		t.Fatal(err)
	}
	n.expect(n.b, res.Commit, RuleLimit)
	gtMust(n.c.g.ProcessMessage(res.Commit))(t) // within the default limits

	if err := n.b.g.SetLimits(Limits{MaxProposals: 2}); err != nil {
		t.Fatal(err)
	}
	removes := gtInline(gtRemove(n.c.g.OwnLeafIndex()), gtRemove(n.d.g.OwnLeafIndex()), gtRemove(n.a.g.OwnLeafIndex()))
	// A bad signature shows the count is checked first.
	msg := n.public(n.a, gtCommitFC(removes, n.dummyPath(n.a)), n.tag())
	msg[len(msg)/2] ^= 1
	n.expect(n.b, n.public(n.a, gtCommitFC(removes, n.dummyPath(n.a)), n.tag()), RuleLimit)
	if _, err := n.b.g.RemoveMembers(n.a.g.OwnLeafIndex(), n.c.g.OwnLeafIndex(), n.d.g.OwnLeafIndex()); !errors.Is(err, RuleLimit) {
		t.Fatalf("our Commit with 3 proposals, MaxProposals 2: %v", err)
	}
}

// TestLeafLimit: Adds that widen the tree past MaxLeaves are refused, on
// both sides.
func TestLeafLimit(t *testing.T) {
	n := newGTNeg(t, nil) // 4 members: a tree of 4 leaves
	if err := n.b.g.SetLimits(Limits{MaxLeaves: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.b.g.AddMembers(n.otherKP("e", nil)); !errors.Is(err, RuleLimit) {
		t.Fatalf("our Add past MaxLeaves: %v", err)
	}
	res := gtMust(n.a.g.AddMembers(n.otherKP("e", nil)))(t)
	if err := n.a.g.ClearPendingCommit(); err != nil {
		t.Fatal(err)
	}
	n.expect(n.b, res.Commit, RuleLimit)
}

// TestWelcomeTreeLimits (finding 9): a Welcome's ratchet tree wider than
// MaxLeaves is refused before it is built, and the GroupInfo signature is
// verified before the tree is built (regression: a 1M-leaf tree for a
// two-member group was built, and accepted).
func TestWelcomeTreeLimits(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{})
	a := s.members[0]
	j := s.newClient()
	res := gtMust(a.g.AddMembers(gtKeyPackage(t, j.c, s.suite)))(t)
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	tree := a.g.RatchetTree() // two leaves, three nodes
	// The same members, the joiner at the far right of a 2^20-leaf tree.
	wide := make(codec.RatchetTree, 1<<21-1)
	wide[0], wide[len(wide)-1] = tree[0], tree[2]
	var err error
	got := allocated(func() { _, err = JoinFromWelcome(j.c, res.Welcome, wide, GroupConfig{}) })
	t.Logf("1M-leaf tree: %.1f MB allocated: %v", float64(got)/(1<<20), err)
	if !errors.Is(err, RuleLimit) {
		t.Fatalf("1M-leaf tree: %v", err)
	}
	if got > 16<<20 {
		t.Errorf("%d bytes allocated to refuse the 1M-leaf tree", got)
	}

	// The signer's key is replaced and another leaf is a duplicate: the
	// signature is what fails, before the tree is built.
	bad := make(codec.RatchetTree, len(tree)+2)
	copy(bad, tree)
	signer := *tree[0].LeafNode
	signer.SignatureKey = bytes.Clone(tree[2].LeafNode.SignatureKey)
	bad[0] = &codec.Node{NodeType: codec.NodeTypeLeaf, LeafNode: &signer}
	bad[4] = tree[2]
	if _, err := JoinFromWelcome(j.c, res.Welcome, bad, GroupConfig{}); !errors.Is(err, ErrInvalidGroupInfoSignature) {
		t.Fatalf("bad signature and a malformed tree: %v", err)
	}
	if _, err := ratchettree.FromRatchetTree(gtMust(s.p.CipherSuite(s.suite))(t), bad); err == nil {
		t.Fatal("the malformed tree builds")
	}
	// The real tree joins, with the tree's own width as the limit.
	j.c.Limits = Limits{MaxLeaves: 2}
	if _, err := JoinFromWelcome(j.c, res.Welcome, tree, GroupConfig{}); err != nil {
		t.Fatal(err)
	}
}

// TestWelcomePSKLimit: a Welcome injecting more PSKs than MaxPSKs is
// refused before the PSKs are looked up; duplicates are found in linear
// time.
func TestWelcomePSKLimit(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true})
	a := s.members[0]
	cs := gtMust(s.p.CipherSuite(s.suite))(t)
	j := s.newClient()
	secret := bytes.Repeat([]byte{7}, cs.HashSize())
	var ids []codec.PreSharedKeyID
	for i := range 3 {
		name := []byte(fmt.Sprintf("psk %d", i))
		for _, c := range []*Client{a.c, j.c} {
			if err := StoreExternalPSK(c.Storage, name, secret); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, gtMust(NewExternalPSKID(s.p, cs, name))(t))
	}
	res := gtMust(a.g.Commit(CommitOptions{Add: []*codec.KeyPackage{gtKeyPackage(t, j.c, s.suite)}, PSKs: ids}))(t)
	j.c.Limits = Limits{MaxPSKs: 2}
	if _, err := JoinFromWelcome(j.c, res.Welcome, nil, GroupConfig{}); !errors.Is(err, RuleLimit) {
		t.Fatalf("Welcome with 3 PSKs, MaxPSKs 2: %v", err)
	}
	j.c.Limits = Limits{}
	if _, err := JoinFromWelcome(j.c, res.Welcome, nil, GroupConfig{}); err != nil {
		t.Fatal(err)
	}
}

// TestDuplicatePSKLinear: the duplicate check keys each PSK id once (the
// issue's 32k-PSK Welcome took 2.3 s with a pairwise check).
func TestDuplicatePSKLinear(t *testing.T) {
	const n = 1 << 15
	ids := make([]codec.PreSharedKeyID, n)
	for i := range ids {
		ids[i] = codec.PreSharedKeyID{PSKType: codec.PSKTypeExternal, PSKID: []byte(fmt.Sprint(i))}
	}
	keys := 0
	count := func(id *codec.PreSharedKeyID) string { keys++; return pskKey(id) }
	if _, _, dup := duplicatePSKBy(ids, count); dup || keys != n {
		t.Fatalf("dup %v after %d keys, want none after %d", dup, keys, n)
	}
	ids[n-1] = ids[7]
	if j, i, dup := duplicatePSK(ids); !dup || j != 7 || i != n-1 {
		t.Fatalf("duplicate (%d, %d, %v), want (7, %d)", j, i, dup, n-1)
	}
	res := []codec.PreSharedKeyID{
		{PSKType: codec.PSKTypeResumption, Usage: codec.ResumptionPSKUsageApplication, PSKGroupID: []byte("g"), PSKEpoch: 1},
		{PSKType: codec.PSKTypeResumption, Usage: codec.ResumptionPSKUsageApplication, PSKGroupID: []byte("g"), PSKEpoch: 2},
		{PSKType: codec.PSKTypeExternal, PSKID: []byte("g")},
	}
	if _, _, dup := duplicatePSK(res); dup {
		t.Fatal("distinct PSKs reported as duplicates")
	}
	res = append(res, res[1])
	if j, i, dup := duplicatePSK(res); !dup || j != 1 || i != 3 {
		t.Fatalf("resumption duplicate (%d, %d, %v)", j, i, dup)
	}
}

// BenchmarkDuplicatePSK times the duplicate check of 32k PSK ids.
func BenchmarkDuplicatePSK(b *testing.B) {
	ids := make([]codec.PreSharedKeyID, 1<<15)
	for i := range ids {
		ids[i] = codec.PreSharedKeyID{PSKType: codec.PSKTypeExternal, PSKID: []byte(fmt.Sprint(i))}
	}
	for b.Loop() {
		duplicatePSK(ids)
	}
}

// TestHostileTreeAllocation: a GroupInfo's ratchet_tree extension of tiny
// entries is refused within the tree's element budget; the 2 MB tree of a
// million blank leaves that the issue describes allocates little.
func TestHostileTreeAllocation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds large trees")
	}
	s := newGTSim(t, gtSuites[0], GroupConfig{})
	leaf := s.members[0].g.RatchetTree()[0]
	wide := make(codec.RatchetTree, 1<<21-1)
	wide[0], wide[len(wide)-1] = leaf, leaf
	ln := *leaf.LeafNode
	ln.Extensions = make([]codec.Extension, 10<<20/3)
	for i := range ln.Extensions {
		ln.Extensions[i].ExtensionType = 0xff00
	}
	many := codec.RatchetTree{{NodeType: codec.NodeTypeLeaf, LeafNode: &ln}}
	for name, rt := range map[string]codec.RatchetTree{"1M blank leaves": wide, "empty extensions": many} {
		ext := gtMust(oneExtension(Extensions(nil).WithRatchetTree(rt)))(t)
		gi := &codec.GroupInfo{Extensions: []codec.Extension{ext}}
		var err error
		got := allocated(func() { _, _, err = DefaultLimits().ratchetTreeOf(gi, nil) })
		t.Logf("%s: %d-byte tree, %.1f MB allocated: %v", name, len(ext.ExtensionData), float64(got)/(1<<20), err)
		if !errors.Is(err, RuleLimit) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestProposalStoreLimit: the proposal store holds at most MaxProposals,
// so that a Commit of the stored proposals stays within the limit.
func TestProposalStoreLimit(t *testing.T) {
	n := newGTNeg(t, nil)
	if err := n.b.g.SetLimits(Limits{MaxProposals: 1}); err != nil {
		t.Fatal(err)
	}
	n.deliver(n.b, n.public(n.a, gtProposalFC(gtRemove(n.c.g.OwnLeafIndex())), nil))
	pm := gtMust(n.b.g.ProcessMessage(n.public(n.a, gtProposalFC(gtRemove(n.d.g.OwnLeafIndex())), nil)))(t)
	if err := n.b.g.StoreProposal(pm.Proposal); !errors.Is(err, RuleLimit) {
		t.Fatalf("second proposal, MaxProposals 1: %v", err)
	}
	if _, _, err := n.b.g.ProposeRemove(n.d.g.OwnLeafIndex()); !errors.Is(err, RuleLimit) {
		t.Fatalf("our proposal, MaxProposals 1: %v", err)
	}
	if got := len(n.b.g.PendingProposals()); got != 1 {
		t.Fatalf("%d proposals stored", got)
	}
	gtMust(n.b.g.CommitPendingProposals())(t) // within the limit
	if err := n.b.g.ClearPendingCommit(); err != nil {
		t.Fatal(err)
	}
}

// TestDefaultLimitsAllow100000Members: under the default limits, a Commit
// that creates a group of 100,000 members in one go (100,000 Adds by
// value, as a PublicMessage or a PrivateMessage) gets past every limit
// check, and so does the Welcome of such a group (an entry per new member
// and the ratchet tree of 100,000 leaves). The Adds here repeat one key
// package and the Welcome's GroupInfo is not signed, so both are then
// refused, by the rules that come after the limits.
func TestDefaultLimitsAllow100000Members(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 40 MB messages")
	}
	const members = 100_000
	n := newGTNeg(t, nil)
	n.a.g.cfg.WireFormatPolicy = MixedPlaintext()
	kp := gtKeyPackage(t, n.s.newClient().c, n.s.suite)
	adds := make([]*codec.Proposal, members-1)
	for i := range adds {
		adds[i] = gtAdd(kp)
	}
	fc := gtCommitFC(gtInline(adds...), nil)
	for kind, msg := range map[string][]byte{"public": n.public(n.b, fc, n.tag()), "private": n.private(n.b, fc, n.tag())} {
		_, err := n.a.g.ProcessMessage(msg)
		t.Logf("%s Commit of %d Adds, %d bytes: %v", kind, len(adds), len(msg), err)
		if errors.Is(err, RuleLimit) || !errors.Is(err, RuleAddInitKeyDuplicate) {
			t.Errorf("%s Commit of %d Adds: %v, want RuleAddInitKeyDuplicate (the same key package twice), not a limit", kind, len(adds), err)
		}
	}
	if err := DefaultLimits().checkLeafCount(ratchettree.LeafCount(members)); err != nil {
		t.Errorf("%d leaves: %v", members, err)
	}

	// The Welcome: our entry last, after one per other new member.
	var nodes []byte
	for i := range members {
		nodes = append(nodes, htRealLeaf(i)...)
		if i < members-1 {
			nodes = append(nodes, htParent(bytes.Repeat([]byte{byte(i)}, 32), nil)...)
		}
	}
	j := n.s.newClient()
	jkp := gtKeyPackage(t, j.c, n.s.suite)
	gi := hostileGroupInfo(n.s.suite, n.cs.HashSize(), htVec(nil, nodes), nil)
	w := gtMust(sealWelcome(n.cs, gi, bytes.Repeat([]byte{5}, n.cs.HashSize()), nil, nil, []welcomeRecipient{{KeyPackage: jkp}}))(t)
	ours := w.Secrets[0]
	w.Secrets = make([]codec.EncryptedGroupSecrets, members-1)
	for i := range w.Secrets {
		w.Secrets[i] = ours
		w.Secrets[i].NewMember = bytes.Repeat([]byte{byte(i), byte(i >> 8), byte(i >> 16)}, 11)[:len(ours.NewMember)]
	}
	w.Secrets[len(w.Secrets)-1] = ours
	msg := gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSWelcome, Welcome: w}).Marshal())(t)
	_, err := JoinFromWelcome(j.c, msg, nil, GroupConfig{})
	t.Logf("Welcome of %d members, %d bytes: %v", members, len(msg), err)
	if errors.Is(err, RuleLimit) || !errors.Is(err, ErrInvalidGroupInfoSignature) {
		t.Errorf("Welcome of %d members: %v, want ErrInvalidGroupInfoSignature, not a limit", members, err)
	}
}

// TestLoadedGroupKeepsClientLimits: limits are a setting of the Client
// (Client.Limits), not stored with a group: a group the client creates,
// joins or loads enforces them, and loading the same group with another
// client gives that client's.
func TestLoadedGroupKeepsClientLimits(t *testing.T) {
	n := newGTNeg(t, nil)
	msg := n.public(n.b, gtCommitFC(nil, nil), n.tag())
	small := Limits{MaxMessageSize: len(msg) - 1}
	n.a.c.Limits = small
	loaded := gtMust(LoadGroup(n.a.c, n.a.g.GroupID()))(t)
	if _, err := loaded.ProcessMessage(msg); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("loaded with MaxMessageSize %d: %v, want ErrMessageTooLarge", small.MaxMessageSize, err)
	}
	// The same record loaded by a client with the default limits: the
	// message is not refused for its size (its confirmation tag is bad).
	other := *n.a.c
	other.Limits = Limits{}
	if _, err := gtMust(LoadGroup(&other, n.a.g.GroupID()))(t).ProcessMessage(msg); err == nil || errors.Is(err, RuleLimit) {
		t.Fatalf("loaded with the default limits: %v, want a refusal that is not a limit", err)
	}
	// A group joined by a client with limits has them, and so does one
	// it creates.
	j := n.s.newClient()
	res := gtMust(n.b.g.AddMembers(gtKeyPackage(t, j.c, n.s.suite)))(t)
	lim := Limits{MaxPSKs: 5, MaxProposals: 77}
	j.c.Limits = lim
	jg := gtMust(JoinFromWelcome(j.c, res.Welcome, nil, GroupConfig{WireFormatPolicy: PurePlaintext()}))(t)
	if jg.limits() != lim.withDefaults() {
		t.Fatalf("joined group's limits %+v, want %+v", jg.limits(), lim.withDefaults())
	}
	g := gtMust(NewGroup(j.c, n.s.suite, GroupConfig{}, nil))(t)
	if g.limits() != lim.withDefaults() {
		t.Fatalf("created group's limits %+v, want %+v", g.limits(), lim.withDefaults())
	}
	if lg := gtMust(LoadGroup(j.c, jg.GroupID()))(t); lg.limits() != lim.withDefaults() {
		t.Fatalf("loaded group's limits %+v, want %+v", lg.limits(), lim.withDefaults())
	}
	bad := *j.c
	bad.Limits = Limits{MaxPSKs: -1}
	if _, err := LoadGroup(&bad, jg.GroupID()); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("LoadGroup with a negative limit: %v", err)
	}
}

// TestVerifyGroupInfoClientLimits: verifying a GroupInfo outside a group
// (Client.VerifyGroupInfoMessage, NewJoinProposal, an ExternalProposer)
// applies the verifier's limits, not the defaults: a GroupInfo the default
// limits accept is refused by a client whose MaxMessageSize is below its
// size or whose MaxLeaves is below its tree's width (in the GroupInfo or
// out of band). Regression: the defaults were used.
func TestVerifyGroupInfoClientLimits(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true}, gtExternalSenderOptions(t))
	a := s.members[0]
	s.add(a, 3, false) // 4 leaves
	gi := gtMust(a.g.GroupInfo(true))(t)
	noTree := gtMust(a.g.GroupInfo(false))(t)
	tree := a.g.RatchetTree()
	leaves := (len(tree) + 1) / 2
	if leaves < 4 {
		t.Fatalf("tree of %d leaves", leaves)
	}
	c := s.newClient().c
	if _, err := c.VerifyGroupInfoMessage(gi, nil); err != nil {
		t.Fatalf("default limits: %v", err)
	}
	if _, err := c.VerifyGroupInfoMessage(noTree, tree); err != nil {
		t.Fatalf("default limits, tree out of band: %v", err)
	}
	small := Limits{MaxMessageSize: len(gi) - 1}
	narrow := Limits{MaxLeaves: leaves - 1}
	cases := []struct {
		name  string
		lim   Limits
		gi    []byte
		tree  codec.RatchetTree
		want  error
		alsoJ bool // NewJoinProposal takes no tree here
	}{
		{"MaxMessageSize", small, gi, nil, ErrMessageTooLarge, true},
		{"MaxLeaves", narrow, gi, nil, RuleLimit, true},
		{"MaxLeaves, tree out of band", narrow, noTree, tree, RuleLimit, false},
	}
	for _, tc := range cases {
		c.Limits = tc.lim
		if _, err := c.VerifyGroupInfoMessage(tc.gi, tc.tree); !errors.Is(err, tc.want) {
			t.Errorf("%s: VerifyGroupInfoMessage: %v, want %v", tc.name, err, tc.want)
		}
		ep := &ExternalProposer{Provider: s.p, Signer: gtExternalSigner(t), Limits: tc.lim}
		if _, err := ep.GroupContextFromGroupInfo(tc.gi, tc.tree); !errors.Is(err, tc.want) {
			t.Errorf("%s: ExternalProposer: %v, want %v", tc.name, err, tc.want)
		}
		if tc.alsoJ {
			j := s.newClient()
			kp, err := (&KeyPackageBuilder{Provider: j.c.Provider, CipherSuite: s.suite, Credential: j.c.Credential, Signer: j.c.Signer}).BuildAndStore(j.c.Storage)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewJoinProposal(j.c, tc.gi, nil, kp, nil); err != nil {
				t.Fatalf("%s: NewJoinProposal, default limits: %v", tc.name, err)
			}
			j.c.Limits = tc.lim
			if _, err := NewJoinProposal(j.c, tc.gi, nil, kp, nil); !errors.Is(err, tc.want) {
				t.Errorf("%s: NewJoinProposal: %v, want %v", tc.name, err, tc.want)
			}
		}
	}
	ep := &ExternalProposer{Provider: s.p, Signer: gtExternalSigner(t)}
	if _, err := ep.GroupContextFromGroupInfo(gi, nil); err != nil {
		t.Fatalf("ExternalProposer, default limits: %v", err)
	}
	c.Limits = Limits{MaxLeaves: -1}
	if _, err := c.VerifyGroupInfoMessage(gi, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("negative MaxLeaves: %v", err)
	}
	ep.Limits = Limits{MaxMessageSize: -1}
	if _, err := ep.GroupContextFromGroupInfo(gi, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ExternalProposer, negative MaxMessageSize: %v", err)
	}
}
