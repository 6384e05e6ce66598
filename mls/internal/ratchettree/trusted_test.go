package ratchettree

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/mlskit/mlskit/codec"
)

// TestValidateTrustedLeaf: the leaf identical to TreeValidation.Trusted is
// not verified again, any other leaf is, whatever the number of leaves and
// workers; During runs, and its error comes after any signature error.
func TestValidateTrustedLeaf(t *testing.T) {
	for _, n := range []int{2, 3, 40} {
		st := newSignedTree(t, suite(t, 1), n)
		bad, l := st.addBadlySignedLeaf(t)
		for _, workers := range []int{0, 1, 2, 3} {
			opts := func(trusted ...*codec.LeafNode) *TreeValidation {
				return &TreeValidation{GroupID: st.groupID, Workers: workers, Trusted: trusted}
			}
			// Trusted is the badly signed leaf: it is not verified.
			if err := st.tr.Validate(opts(bad)); err != nil {
				t.Fatalf("n=%d workers=%d: trusted leaf verified: %v", n, workers, err)
			}
			// A copy with another byte changed matches no leaf: every
			// leaf is verified.
			other := *bad
			other.Signature = append([]byte(nil), bad.Signature...)
			other.Signature[4] ^= 1
			wantNodeErr(t, st.tr.Validate(opts(&other)), ErrBadLeafSignature, l.Node())
			// Another, correctly signed leaf trusted: the bad one still fails.
			wantNodeErr(t, st.tr.Validate(opts(st.tr.Leaf(0))), ErrBadLeafSignature, l.Node())
			// Two trusted leaves, the bad one among them.
			if err := st.tr.Validate(opts(st.tr.Leaf(0), bad)); err != nil {
				t.Fatalf("n=%d workers=%d: two trusted leaves: %v", n, workers, err)
			}

			// During runs once; its error fails a valid validation but
			// comes after a signature error.
			errDuring := errors.New("during")
			calls := 0
			o := opts(bad)
			o.During = func() error { calls++; return errDuring }
			if err := st.tr.Validate(o); !errors.Is(err, errDuring) || calls != 1 {
				t.Fatalf("n=%d workers=%d: During: %v after %d calls", n, workers, err, calls)
			}
			o = opts()
			o.During = func() error { calls++; return errDuring }
			wantNodeErr(t, st.tr.Validate(o), ErrBadLeafSignature, l.Node())
			if calls != 2 {
				t.Fatalf("During ran %d times", calls)
			}
		}
	}
}

// TestStartLeafSignatures: signatures verified from the ratchet tree before
// the Tree is built, or left to Validate (early), are those Validate
// reports: a bad leaf fails unless it is trusted (by its exact encoding);
// a verification started for another group id, from another decoding of
// the tree or cancelled is not used, and Validate verifies every leaf
// itself.
func TestStartLeafSignatures(t *testing.T) {
	for _, n := range []int{2, 3, 40} {
		st := newSignedTree(t, suite(t, 1), n)
		bad, l := st.addBadlySignedLeaf(t)
		other := *bad
		other.Signature = append([]byte(nil), bad.Signature...)
		other.Signature[4] ^= 1
		for _, workers := range []int{0, 1, 2, 3} {
			rt := st.tr.RatchetTree()
			tr, err := FromRatchetTree(st.tr.Suite(), rt)
			if err != nil {
				t.Fatal(err)
			}
			validate := func(ls *LeafSignatures, trusted ...*codec.LeafNode) error {
				return tr.Validate(&TreeValidation{GroupID: st.groupID, Workers: workers, Signatures: ls, Trusted: trusted})
			}
			var early func(*codec.LeafNode) bool
			start := func(groupID []byte, trusted ...*codec.LeafNode) *LeafSignatures {
				return StartLeafSignatures(st.tr.Suite(), rt, groupID, trusted, workers, early, nil)
			}
			if err := validate(start(st.groupID, bad)); err != nil {
				t.Fatalf("n=%d workers=%d: trusted leaf verified: %v", n, workers, err)
			}
			wantNodeErr(t, validate(start(st.groupID)), ErrBadLeafSignature, l.Node())
			wantNodeErr(t, validate(start(st.groupID, &other)), ErrBadLeafSignature, l.Node())
			wantNodeErr(t, validate(start(st.groupID, st.tr.Leaf(0))), ErrBadLeafSignature, l.Node())
			// The bad leaf, or every other, left to Validate.
			for _, lateBad := range []bool{true, false} {
				early = func(ln *codec.LeafNode) bool { return (ln == tr.Leaf(l)) != lateBad }
				wantNodeErr(t, validate(start(st.groupID)), ErrBadLeafSignature, l.Node())
				if err := validate(start(st.groupID, bad)); err != nil {
					t.Fatalf("n=%d workers=%d lateBad=%v: trusted leaf verified: %v", n, workers, lateBad, err)
				}
			}
			early = nil

			// Started for another group id, in which the commit leaves'
			// signatures fail: Validate verifies in its own (with its
			// Trusted), and the bad leaf is found or trusted.
			wrong := append([]byte("x"), st.groupID...)
			wantNodeErr(t, validate(start(wrong, bad)), ErrBadLeafSignature, l.Node())
			if err := validate(start(wrong), bad); err != nil {
				t.Fatalf("n=%d workers=%d: another group id: %v", n, workers, err)
			}
			// Started from another decoding of the tree (other nodes).
			enc, err := rt.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var rt2 codec.RatchetTree
			if err := rt2.Unmarshal(enc); err != nil {
				t.Fatal(err)
			}
			ls := StartLeafSignatures(st.tr.Suite(), rt2, st.groupID, []*codec.LeafNode{bad}, workers, nil, nil)
			wantNodeErr(t, validate(ls), ErrBadLeafSignature, l.Node())
			// Cancelled before it could verify the bad leaf.
			ls = start(st.groupID)
			ls.Cancel()
			wantNodeErr(t, validate(ls), ErrBadLeafSignature, l.Node())
		}
	}
}

// TestSignatureCheckWorkers: a signature check of w workers starts w
// goroutines (the caller helps them), never more than the tasks; every
// leaf is taken, one at a time; the caller's extra task (also) runs
// exactly once; a bad leaf is reported whatever the number of workers.
func TestSignatureCheckWorkers(t *testing.T) {
	st := newSignedTree(t, suite(t, 1), 5)
	var leaves []LeafIndex
	var nodes []*codec.LeafNode
	st.tr.Members(func(l LeafIndex, ln *codec.LeafNode) bool {
		leaves = append(leaves, l)
		nodes = append(nodes, ln)
		return true
	})
	for _, tc := range []struct{ workers, goroutines int }{{1, 1}, {2, 2}, {4, 4}, {8, 5}} {
		s := startSignatureCheck(st.tr.Suite(), leaves, nodes, st.groupID, tc.workers, nil, nil)
		if got := len(s.errs) - 1; got != tc.goroutines {
			t.Errorf("%d workers: %d goroutines, want %d", tc.workers, got, tc.goroutines)
		}
		s.help()
		if err := (sigChecks{s}).wait(); err != nil {
			t.Fatalf("%d workers: %v", tc.workers, err)
		}
		if got := s.taken(); got < len(leaves) {
			t.Errorf("%d workers: %d of %d leaves taken", tc.workers, got, len(leaves))
		}
	}
	// also is one more task, run once, by a worker or by the caller.
	for _, workers := range []int{1, 2, 3} {
		var runs atomic.Int32
		s := startSignatureCheck(st.tr.Suite(), leaves, nodes, st.groupID, workers, nil, func() { runs.Add(1) })
		if got, want := len(s.errs)-1, min(workers, len(leaves)+1); got != want {
			t.Errorf("%d workers and a task: %d goroutines, want %d", workers, got, want)
		}
		s.help()
		if err := (sigChecks{s}).wait(); err != nil {
			t.Fatalf("%d workers and a task: %v", workers, err)
		}
		if runs.Load() != 1 {
			t.Errorf("%d workers: the task ran %d times", workers, runs.Load())
		}
	}
	bad, l := st.addBadlySignedLeaf(t)
	leaves, nodes = append(leaves, l), append(nodes, bad)
	for _, workers := range []int{1, 2, 3} {
		s := startSignatureCheck(st.tr.Suite(), leaves, nodes, st.groupID, workers, nil, nil)
		s.help()
		wantNodeErr(t, (sigChecks{s}).wait(), ErrBadLeafSignature, l.Node())
	}
}
