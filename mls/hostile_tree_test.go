package mls

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// Hostile ratchet trees: encodings of about size bytes made of the
// smallest nodes and list entries the wire format allows, each shape
// stressing a different list or struct of the tree's decoder.

// htVec appends an MLS vector holding content.
func htVec(b, content []byte) []byte {
	b, _ = codec.AppendVarint(b, uint64(len(content)))
	return append(b, content...)
}

// htRepeat is unit repeated to fill about size bytes.
func htRepeat(unit []byte, size int) []byte {
	return bytes.Repeat(unit, max(size/len(unit), 1))
}

// htLeaf is a present leaf Node: empty keys, a basic credential of an
// empty identity (or cred), capabilities caps, source update (no arm), then
// extensions exts, an empty signature.
func htLeaf(cred, caps, exts []byte) []byte {
	b := []byte{1, byte(codec.NodeTypeLeaf)} // present, leaf
	b = append(b, 0, 0)                      // encryption_key, signature_key
	if cred == nil {
		cred = []byte{0, 1, 0} // basic, identity<V> empty
	}
	b = append(b, cred...)
	if caps == nil {
		caps = []byte{0, 0, 0, 0, 0}
	}
	b = append(b, caps...)
	b = append(b, byte(codec.LeafNodeSourceUpdate))
	b = htVec(b, exts)
	return append(b, 0) // signature
}

// htRealLeaf is a leaf Node of realistic size (X25519/Ed25519 keys, a basic
// credential, the default capabilities, a lifetime, a signature), i bytes
// into its keys so that leaves differ.
func htRealLeaf(i int) []byte {
	key := func(n int) []byte {
		k := bytes.Repeat([]byte{byte(i)}, n)
		k[0], k[1], k[2] = byte(i>>16), byte(i>>8), byte(i)
		return k
	}
	b := []byte{1, byte(codec.NodeTypeLeaf)}
	b = htVec(b, key(32))
	b = htVec(b, key(32))
	b = append(b, 0, 1)
	b = htVec(b, []byte(fmt.Sprintf("member %d", i)))
	b = htVec(b, []byte{0, 1})                          // versions
	b = htVec(b, []byte{0, 1, 0, 2, 0, 3, 0, 7})        // cipher suites
	b = htVec(b, nil)                                   // extensions
	b = htVec(b, []byte{0, 7})                          // proposals
	b = htVec(b, []byte{0, 1, 0, 2})                    // credentials
	b = append(b, byte(codec.LeafNodeSourceKeyPackage)) // lifetime:
	b = append(b, make([]byte, 8)...)
	b = append(b, bytes.Repeat([]byte{0xff}, 8)...)
	b = htVec(b, nil)
	return htVec(b, key(64))
}

// htParent is a present parent Node with encryption key key, an empty
// parent hash and unmerged leaves unmerged (encoded uint32s).
func htParent(key, unmerged []byte) []byte {
	b := []byte{1, byte(codec.NodeTypeParent)}
	b = htVec(b, key)
	b = append(b, 0)
	return htVec(b, unmerged)
}

// hostileTrees returns ratchet_tree encodings (optional<Node> ratchet_tree<V>)
// of about size bytes.
func hostileTrees(size int) map[string][]byte {
	emptyExt := []byte{0xff, 0x00, 0}
	emptyCert := []byte{0}
	x509 := func(certs []byte) []byte { return htVec([]byte{0, 2}, certs) }
	manyLeaves := func(leaf []byte) []byte { return htRepeat(leaf, size) }
	shapes := map[string][]byte{
		"one leaf, empty extensions":       htLeaf(nil, nil, htRepeat(emptyExt, size)),
		"leaves of 100 empty extensions":   manyLeaves(htLeaf(nil, nil, htRepeat(emptyExt, 300))),
		"leaves of 1 empty extension":      manyLeaves(htLeaf(nil, nil, emptyExt)),
		"tiny leaves":                      manyLeaves(htLeaf(nil, nil, nil)),
		"tiny leaves, blank parents":       manyLeaves(append(htLeaf(nil, nil, nil), 0)),
		"tiny parents":                     manyLeaves(htParent(nil, nil)),
		"blank nodes":                      bytes.Repeat([]byte{0}, size),
		"one leaf, empty certificates":     htLeaf(x509(htRepeat(emptyCert, size)), nil, nil),
		"leaves of 100 empty certificates": manyLeaves(htLeaf(x509(htRepeat(emptyCert, 100)), nil, nil)),
		"leaves of 1 empty certificate":    manyLeaves(htLeaf(x509(emptyCert), nil, nil)),
		"one leaf, capabilities":           htLeaf(nil, htVec(htVec(htVec(htVec(htVec(nil, nil), nil), nil), nil), htRepeat([]byte{0, 1}, size)), nil),
		"one parent, unmerged leaves":      htParent(nil, htRepeat([]byte{0, 0, 0, 1}, size)),
		"parents of 1 unmerged leaf":       manyLeaves(htParent(nil, []byte{0, 0, 0, 1})),
	}
	var real []byte
	for i := 0; len(real) < size; i++ {
		real = append(real, htRealLeaf(i)...)
		real = append(real, htParent(bytes.Repeat([]byte{byte(i)}, 32), nil)...)
	}
	shapes["realistic leaves and parents"] = real
	for name, nodes := range shapes {
		shapes[name] = htVec(nil, nodes)
	}
	return shapes
}

// hostileGroupInfo is a GroupInfo of the joiner's suite whose ratchet_tree
// extension holds tree (none if nil) and whose other extensions are exts.
func hostileGroupInfo(suite codec.CipherSuite, hashSize int, tree []byte, exts []codec.Extension) *codec.GroupInfo {
	if tree != nil {
		exts = append(exts, codec.Extension{ExtensionType: codec.ExtensionTypeRatchetTree, ExtensionData: tree})
	}
	return &codec.GroupInfo{
		GroupContext: codec.GroupContext{
			CipherSuite:             suite,
			GroupID:                 []byte("hostile"),
			Epoch:                   1,
			TreeHash:                bytes.Repeat([]byte{1}, hashSize),
			ConfirmedTranscriptHash: bytes.Repeat([]byte{2}, hashSize),
		},
		Extensions:      exts,
		ConfirmationTag: bytes.Repeat([]byte{3}, hashSize),
		Signature:       bytes.Repeat([]byte{4}, 64),
	}
}

// TestHostileTreeMessages (issue 10): a 10 MB Welcome, GroupInfo or
// out-of-band ratchet tree of any hostile shape makes the member allocate
// at most 64 MB before it refuses it: joining from the Welcome, joining
// from a Welcome with the tree out of band (decoded with
// DecodeRatchetTree), joining by external Commit from the GroupInfo.
func TestHostileTreeMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 10 MB messages")
	}
	const size = 10 << 20
	const budget = 64 << 20
	s := newGTSim(t, gtSuites[0], GroupConfig{})
	cs := gtMust(s.p.CipherSuite(s.suite))(t)
	j := s.newClient()
	kp := gtKeyPackage(t, j.c, s.suite)
	welcome := func(gi *codec.GroupInfo) []byte {
		joiner := bytes.Repeat([]byte{5}, cs.HashSize())
		w := gtMust(sealWelcome(cs, gi, joiner, nil, nil, []welcomeRecipient{{KeyPackage: kp}}))(t)
		return gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSWelcome, Welcome: w}).Marshal())(t)
	}
	groupInfo := func(gi *codec.GroupInfo) []byte {
		return gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSGroupInfo, GroupInfo: gi}).Marshal())(t)
	}
	small := welcome(hostileGroupInfo(s.suite, cs.HashSize(), nil, nil))
	trees := hostileTrees(size)
	var names []string
	for name := range trees {
		names = append(names, name)
	}
	sort.Strings(names)
	exts := make([]codec.Extension, size/3)
	for i := range exts {
		exts[i].ExtensionType = 0xff00
	}
	check := func(shape, path string, n int, f func() error) {
		if only := os.Getenv("HT_ONLY"); only != "" && only != shape+"/"+path {
			return
		}
		var err error
		got := allocated(func() { err = f() })
		t.Logf("%-34s %-12s %8d bytes: %6.1f MB allocated: %v", shape, path, n, float64(got)/(1<<20), trimErr(err))
		if err == nil {
			t.Errorf("%s, %s: accepted", shape, path)
		}
		if got > budget {
			t.Errorf("%s, %s: %.1f MB allocated, want at most %d MB", shape, path, float64(got)/(1<<20), budget>>20)
		}
	}
	for _, name := range names {
		tree := trees[name]
		gi := hostileGroupInfo(s.suite, cs.HashSize(), tree, nil)
		w, g := welcome(gi), groupInfo(gi)
		check(name, "Welcome", len(w), func() error {
			_, err := JoinFromWelcome(j.c, w, nil, GroupConfig{})
			return err
		})
		check(name, "out of band", len(tree), func() error {
			rt, err := DecodeRatchetTree(tree, Limits{})
			if err != nil {
				return err
			}
			_, err = JoinFromWelcome(j.c, small, rt, GroupConfig{})
			return err
		})
		check(name, "GroupInfo", len(g), func() error {
			_, _, err := JoinByExternalCommit(j.c, g, nil, GroupConfig{}, nil)
			return err
		})
	}
	gi := hostileGroupInfo(s.suite, cs.HashSize(), nil, exts)
	w, g := welcome(gi), groupInfo(gi)
	check("GroupInfo of empty extensions", "Welcome", len(w), func() error {
		_, err := JoinFromWelcome(j.c, w, nil, GroupConfig{})
		return err
	})
	check("GroupInfo of empty extensions", "GroupInfo", len(g), func() error {
		_, _, err := JoinByExternalCommit(j.c, g, nil, GroupConfig{}, nil)
		return err
	})
}

// TestHostileTreeMessagesEverySuite: a hostile 10 MB Welcome of every
// tree shape makes the joiner allocate at most 64 MB before refusing it
// in every cipher suite of the default provider (TestHostileTreeMessages
// checks every path in the first). Opening the GroupSecrets hashes the
// whole encrypted GroupInfo into the HPKE info (RFC 9420 §12.4.3.1):
// each suite must do it without a copy (providers.SplitInfoOpener).
func TestHostileTreeMessagesEverySuite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 10 MB messages")
	}
	const size = 10 << 20
	const budget = 64 << 20
	p := defaultcrypto.New()
	trees := hostileTrees(size)
	var names []string
	for name := range trees {
		names = append(names, name)
	}
	sort.Strings(names)
	suites := p.CipherSuites()
	var ran []string
	var first uint64 // the most the first suite allocated
	for i, suite := range suites {
		name := suite.String()
		if suite == providers.CipherSuiteXWing {
			name = "X-Wing"
		}
		name = fmt.Sprintf("%#04x %s", uint16(suite), name)
		cs := gtMust(p.CipherSuite(suite))(t)
		if _, ok := cs.(providers.SplitInfoOpener); !ok {
			t.Errorf("suite %s: no SplitInfoOpener", name)
		}
		j := gtNewClient(t, p, suite, "joiner")
		kp := gtKeyPackage(t, j, suite)
		var most uint64
		for _, shape := range names {
			gi := hostileGroupInfo(suite, cs.HashSize(), trees[shape], nil)
			joiner := bytes.Repeat([]byte{5}, cs.HashSize())
			w, err := sealWelcome(cs, gi, joiner, nil, nil, []welcomeRecipient{{KeyPackage: kp}})
			if err != nil {
				t.Fatalf("suite %s: %v", name, err)
			}
			msg, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSWelcome, Welcome: w}).Marshal()
			if err != nil {
				t.Fatalf("suite %s: %v", name, err)
			}
			got := allocated(func() { _, err = JoinFromWelcome(j, msg, nil, GroupConfig{}) })
			if err == nil {
				t.Errorf("suite %s, %s: accepted", name, shape)
			}
			if errors.Is(err, ErrWelcomeDecryption) {
				t.Errorf("suite %s, %s: refused at the GroupSecrets, not the GroupInfo: %v", name, shape, err)
			}
			if got > budget {
				t.Errorf("suite %s, %s: %.1f MB allocated, want at most %d MB", name, shape, float64(got)/(1<<20), budget>>20)
			}
			most = max(most, got)
		}
		t.Logf("suite %s: %d Welcomes of %d MB, at most %.1f MB allocated", name, len(names), size>>20, float64(most)/(1<<20))
		// The suites differ only in small keys and hashes: one that
		// allocates a megabyte more than the first copies the message.
		if i == 0 {
			first = most
		} else if most > first+1<<20 {
			t.Errorf("suite %s: at most %.1f MB allocated, %.1f MB more than suite %#04x", name, float64(most)/(1<<20), float64(most-first)/(1<<20), uint16(suites[0]))
		}
		ran = append(ran, name)
	}
	t.Logf("%d suites: %s", len(ran), strings.Join(ran, ", "))
	if len(ran) != len(suites) || len(ran) < 8 {
		t.Errorf("ran %d suites, want all %d of the default provider (at least 8)", len(ran), len(suites))
	}
}

// trimErr shortens an error for the log.
func trimErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	if len(s) > 90 {
		s = s[:90] + "…"
	}
	var _ = errors.Is
	return s
}

// TestDecodeLargeTree: the ratchet tree of a full 100,000-member group
// (realistic leaves with basic credentials, every parent node set) decodes
// within the default limits, from a Welcome's GroupInfo or out of band.
func TestDecodeLargeTree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-leaf tree")
	}
	const leaves = 100_000
	var nodes []byte
	for i := range leaves {
		nodes = append(nodes, htRealLeaf(i)...)
		if i < leaves-1 {
			nodes = append(nodes, htParent(bytes.Repeat([]byte{byte(i)}, 32), nil)...)
		}
	}
	data := htVec(nil, nodes)
	rt, err := DecodeRatchetTree(data, Limits{})
	if err != nil {
		t.Fatalf("%d-byte tree: %v", len(data), err)
	}
	if len(rt) != 2*leaves-1 || rt[0].LeafNode == nil || rt[1].ParentNode == nil {
		t.Fatalf("%d nodes", len(rt))
	}
	l := DefaultLimits()
	got := allocated(func() { _, err = l.decodeTree(data) })
	t.Logf("%d-byte tree of %d leaves: %.1f MB allocated decoding it, budget %.1f MB", len(data), leaves, float64(got)/(1<<20), float64(l.treeAlloc(len(data)))/(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	// A sparse tree: two members at the ends of the widest tree allowed.
	sparse := append(htRealLeaf(0), bytes.Repeat([]byte{0}, 2*DefaultMaxLeaves-3)...)
	sparse = append(sparse, htRealLeaf(1)...)
	if rt, err = DecodeRatchetTree(htVec(nil, sparse), Limits{}); err != nil || len(rt) != 2*DefaultMaxLeaves-1 {
		t.Fatalf("sparse tree: %d nodes, %v", len(rt), err)
	}
}
