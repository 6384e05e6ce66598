package ratchettree

import (
	"errors"
	"testing"

	"github.com/mlskit/mlskit/codec"
)

// TestValidateTrustedLeaf: the leaf identical to TreeValidation.Trusted is
// not verified again, any other leaf is, whatever the number of leaves and
// workers; During runs, and its error comes after any signature error.
func TestValidateTrustedLeaf(t *testing.T) {
	for _, n := range []int{2, 3, 40} {
		st := newSignedTree(t, suite(t, 1), n)
		bad := st.keyPackageLeaf(t)
		bad.Signature[3] ^= 1
		d := st.tr.Stage()
		l, err := d.Add(bad)
		if err != nil {
			t.Fatal(err)
		}
		st.commit(t, d, 0)
		if _, err := d.Merge(); err != nil {
			t.Fatal(err)
		}
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
