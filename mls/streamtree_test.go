package mls

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
)

// goroutinesBack waits (up to a second) for the number of goroutines to
// fall back to n, and reports whether it did.
func goroutinesBack(n int) bool {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if runtime.NumGoroutine() <= n {
			return true
		}
	}
	return false
}

// TestStageStreamedTreeFailures: Stage decodes the Welcome's ratchet tree
// while its leaves are verified (ratchettree.StreamLeafSignatures). A tree
// cut or broken at any point (re-framed, so that the decoding fails inside
// a node, after some leaves were handed out) fails with the error the
// decoding alone gives (Limits.decodeTree, DecodeRatchetTree), a tree
// wider than MaxLeaves with its RuleLimit error (no node beyond the
// widest tree allowed handed to the verification), and no goroutine of
// the verification is left behind; the KeyPackage stays.
func TestStageStreamedTreeFailures(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true})
	s.add(s.members[0], 6, false)
	cs := gtMust(s.p.CipherSuite(s.suite))(t)
	enc := gtMust(s.members[0].g.RatchetTree().Marshal())(t)
	// The nodes, without the vector's length prefix.
	r := codec.NewReader(enc)
	n, err := r.ReadVarintLength()
	if err != nil || n != r.Len() {
		t.Fatalf("tree encoding: %d of %d bytes, %v", n, r.Len(), err)
	}
	nodes := enc[len(enc)-n:]
	j := s.newClient()
	kp := gtKeyPackage(t, j.c, s.suite)
	welcome := func(tree []byte) []byte {
		gi := hostileGroupInfo(s.suite, cs.HashSize(), tree, nil)
		joiner := bytes.Repeat([]byte{5}, cs.HashSize())
		w := gtMust(sealWelcome(cs, gi, joiner, nil, nil, []welcomeRecipient{{KeyPackage: kp}}))(t)
		return gtMust((&codec.MLSMessage{WireFormat: codec.WireFormatMLSWelcome, Welcome: w}).Marshal())(t)
	}
	type bad struct {
		name string
		tree []byte
	}
	var cases []bad
	for _, cut := range []int{1, 2, 3, n / 4, n / 2, 3 * n / 4, n - 1} {
		cases = append(cases, bad{"cut", htVec(nil, nodes[:cut])})
	}
	for _, at := range []int{0, 1, n / 3, 2 * n / 3, n - 2} {
		b := bytes.Clone(nodes)
		b[at] = 0x7f
		cases = append(cases, bad{"broken", htVec(nil, b)})
	}
	base := runtime.NumGoroutine()
	failing := 0
	for i, c := range cases {
		_, errDecode := DecodeRatchetTree(c.tree, Limits{})
		if errDecode == nil {
			// Cut between two nodes, or changed where any byte decodes:
			// not this test's case.
			continue
		}
		failing++
		_, err := JoinFromWelcome(j.c, welcome(c.tree), nil, GroupConfig{})
		if err == nil || err.Error() != errDecode.Error() {
			t.Errorf("case %d (%s): Stage: %v; the decoding alone: %v", i, c.name, err, errDecode)
		}
		if !errors.Is(err, ErrMalformedExtension) && !errors.Is(err, RuleLimit) {
			t.Errorf("case %d (%s): %v is neither a malformed extension nor a limit", i, c.name, err)
		}
		if !goroutinesBack(base) {
			t.Fatalf("case %d (%s): %d goroutines after a failed join, %d before", i, c.name, runtime.NumGoroutine(), base)
		}
	}
	t.Logf("%d of %d changed trees fail to decode", failing, len(cases))
	if failing < len(cases)/2 {
		t.Errorf("%d of %d changed trees fail to decode", failing, len(cases))
	}

	// Wider than MaxLeaves: the 7 leaves (13 nodes) of the tree with
	// MaxLeaves 4; the decoding hands out no node beyond the widest tree
	// allowed.
	jc := *j.c
	jc.Limits = Limits{MaxLeaves: 4}
	_, err = JoinFromWelcome(&jc, welcome(enc), nil, GroupConfig{})
	if !errors.Is(err, RuleLimit) {
		t.Errorf("a tree of 7 leaves with MaxLeaves 4: %v", err)
	}
	if !goroutinesBack(base) {
		t.Fatalf("%d goroutines after a failed join, %d before", runtime.NumGoroutine(), base)
	}
	gi := hostileGroupInfo(s.suite, cs.HashSize(), enc, nil)
	for _, given := range []codec.RatchetTree{nil, s.members[0].g.RatchetTree()} {
		var handed []int
		_, _, err = Limits{MaxLeaves: 4}.withDefaults().ratchetTreeEach(gi, given, func(x int, _ *codec.Node) { handed = append(handed, x) })
		if !errors.Is(err, RuleLimit) {
			t.Errorf("out of band %v: a tree of 7 leaves with MaxLeaves 4: %v", given != nil, err)
		}
		if given != nil && len(handed) != 0 || given == nil && (len(handed) != 7 || handed[6] != 6) {
			t.Errorf("out of band %v: handed out nodes %v, want %v", given != nil, handed, map[bool]string{true: "none", false: "0 to 6"}[given != nil])
		}
	}
	// Within the limits, every node is handed out, in order.
	var handed []int
	rt, _, err := Limits{}.withDefaults().ratchetTreeEach(gi, nil, func(x int, nd *codec.Node) { handed = append(handed, x) })
	if err != nil || len(handed) != len(rt) || len(rt) != 13 || handed[12] != 12 {
		t.Errorf("a tree of 13 nodes: handed out %v, %d nodes, %v", handed, len(rt), err)
	}

	// The failures left the KeyPackage.
	if _, err := j.c.Storage.ReadKeyPackage(gtMust(KeyPackageRef(cs, kp))(t)); err != nil {
		t.Fatalf("key package gone after failed joins: %v", err)
	}
}
