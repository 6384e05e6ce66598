package ratchettree

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
)

// goroutinesBack waits (up to a second) for the number of goroutines to
// fall back to n, and reports whether it did: the workers of a cancelled
// or finished verification end.
func goroutinesBack(n int) bool {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if runtime.NumGoroutine() <= n {
			return true
		}
	}
	return false
}

// TestStreamLeafSignatures: leaves handed to a streamed verification one
// node at a time (as DecodeEach hands them out) are verified as
// StartLeafSignatures verifies them: Validate uses it, reports a bad leaf
// or accepts it when trusted, and closes a stream the caller did not
// close; the workers verify leaves before the stream is closed; also runs
// once, after the leaves; its workers start with the first leaf; and
// cancelled at any point, closed or not, with workers waiting for leaves
// or not, it ends every goroutine it started.
func TestStreamLeafSignatures(t *testing.T) {
	for _, n := range []int{2, 3, 40} {
		st := newSignedTree(t, suite(t, 1), n)
		bad, l := st.addBadlySignedLeaf(t)
		rt := st.tr.RatchetTree()
		tr, err := FromRatchetTree(st.tr.Suite(), rt)
		if err != nil {
			t.Fatal(err)
		}
		for _, workers := range []int{0, 1, 2, 3} {
			validate := func(ls *LeafSignatures, trusted ...*codec.LeafNode) error {
				return tr.Validate(&TreeValidation{GroupID: st.groupID, Workers: workers, Signatures: ls, Trusted: trusted})
			}
			var runs atomic.Int32
			stream := func(close bool, trusted ...*codec.LeafNode) *LeafSignatures {
				ls := StreamLeafSignatures(st.tr.Suite(), st.groupID, trusted, workers, nil, func() { runs.Add(1) })
				for x, nd := range rt {
					ls.Add(x, nd)
				}
				if close {
					ls.Close()
				}
				return ls
			}
			base := runtime.NumGoroutine()
			for _, close := range []bool{true, false} {
				runs.Store(0)
				if err := validate(stream(close, bad), bad); err != nil {
					t.Fatalf("n=%d workers=%d close=%v: trusted leaf verified: %v", n, workers, close, err)
				}
				if runs.Load() != 1 {
					t.Errorf("n=%d workers=%d close=%v: also ran %d times", n, workers, close, runs.Load())
				}
				wantNodeErr(t, validate(stream(close)), ErrBadLeafSignature, l.Node())
			}

			// The workers start with the first leaf added, not before
			// (nor for a parent node); without any leaf, Close starts
			// one per task (here also alone).
			ls := StreamLeafSignatures(st.tr.Suite(), st.groupID, nil, workers, nil, func() {})
			if len(rt) > 1 {
				ls.Add(1, rt[1])
			}
			if ls.started || ls.s.errs != nil {
				t.Errorf("n=%d workers=%d: workers started before any leaf", n, workers)
			}
			ls.Add(0, rt[0])
			if want := workerCount(workers); !ls.started || len(ls.s.errs)-1 != want {
				t.Errorf("n=%d workers=%d: %d workers after the first leaf, want %d", n, workers, len(ls.s.errs)-1, want)
			}
			ls.Cancel()
			ls = StreamLeafSignatures(st.tr.Suite(), st.groupID, nil, workers, nil, func() {})
			ls.Close()
			if len(ls.s.errs)-1 != 1 {
				t.Errorf("n=%d workers=%d: %d workers for one task", n, workers, len(ls.s.errs)-1)
			}
			ls.Cancel()

			// The workers verify while the stream is open: the bad leaf
			// alone, added but not closed, fails the verification.
			ls = StreamLeafSignatures(st.tr.Suite(), st.groupID, nil, max(workers, 1), nil, nil)
			ls.Add(int(l.Node()), rt[l.Node()])
			deadline := time.Now().Add(5 * time.Second)
			for !ls.s.failed.Load() && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if !ls.s.failed.Load() {
				t.Errorf("n=%d workers=%d: a bad leaf added to an open stream not verified", n, workers)
			}
			ls.Close()
			ls.s.help()
			wantNodeErr(t, (sigChecks{ls.s}).wait(), ErrBadLeafSignature, l.Node())

			// Cancelled with nothing added (workers waiting for leaves),
			// halfway, or after Close: no goroutine is left.
			for _, added := range []int{0, len(rt) / 2, len(rt)} {
				for _, close := range []bool{false, true} {
					ls := StreamLeafSignatures(st.tr.Suite(), st.groupID, nil, workers, nil, nil)
					for x := range added {
						ls.Add(x, rt[x])
					}
					if close {
						ls.Close()
					}
					// Time for the workers to verify what was added and
					// wait for more.
					time.Sleep(2 * time.Millisecond)
					ls.Cancel()
					if !goroutinesBack(base) {
						t.Fatalf("n=%d workers=%d: %d goroutines after cancelling a stream of %d nodes (closed %v), %d before", n, workers, runtime.NumGoroutine(), added, close, base)
					}
					// Validate, given it, verifies the leaves itself.
					if added == len(rt) {
						wantNodeErr(t, validate(ls), ErrBadLeafSignature, l.Node())
					}
				}
			}
			if !goroutinesBack(base) {
				t.Fatalf("n=%d workers=%d: %d goroutines left, %d before", n, workers, runtime.NumGoroutine(), base)
			}
		}
	}
}
