package providers

import "fmt"

// Expander computes HKDF-Expand (RFC 5869 §2.3) under one pseudorandom key
// for several infos: after SetKey(prk), Expand(dst, info, length) is
// CipherSuite.Expand(dst, prk, info, length). RFC 9420 derives several
// secrets from one: both children of a secret tree node (§9), the key,
// nonce and next secret of a ratchet generation (§9.1), the sender data
// key and nonce (§6.3.2). An Expander is not safe for concurrent use.
type Expander interface {
	// SetKey makes prk the key of the following Expand calls; it does
	// not retain prk. It fails with an error wrapping ErrInvalidKeySize
	// if prk is shorter than HashSize (as Expand does) and then holds no
	// key.
	SetKey(prk []byte) error
	// Expand appends HKDF-Expand(prk, info, length) to dst, for the prk
	// of the last successful SetKey. It fails as CipherSuite.Expand does,
	// and with an error wrapping ErrInvalidKeySize when it holds no key
	// (none set, or erased by Zero).
	Expand(dst, info []byte, length int) ([]byte, error)
	// Zero erases the key and whatever was derived from it.
	Zero()
}

// ExpanderMaker is implemented by cipher suites whose own Expander is
// faster than one Expand call per output. HKDF-Expand is HMAC (RFC 2104),
// which hashes two blocks that depend on the key alone, its inner and
// outer pads, in every call; an Expander can hash them once per key, which
// for an output of one hash length takes the HMAC from four compression
// function calls to two. Callers go through [NewExpander].
type ExpanderMaker interface {
	NewExpander() Expander
}

// NewExpander returns an Expander of cs: its own if cs is an
// ExpanderMaker, else one that calls cs.Expand with a copy of the key.
func NewExpander(cs CipherSuite) Expander {
	if m, ok := cs.(ExpanderMaker); ok {
		return m.NewExpander()
	}
	return &suiteExpander{cs: cs}
}

// suiteExpander is the Expander of a suite without its own: it keeps a
// copy of the key for CipherSuite.Expand.
type suiteExpander struct {
	cs  CipherSuite
	buf []byte // the key's storage, reused
	prk []byte // the key, in buf; nil: none
}

func (e *suiteExpander) SetKey(prk []byte) error {
	e.Zero()
	if len(prk) < e.cs.HashSize() {
		return fmt.Errorf("%w: PRK of %d bytes, want at least %d", ErrInvalidKeySize, len(prk), e.cs.HashSize())
	}
	if cap(e.buf) < len(prk) {
		e.buf = make([]byte, len(prk))
	}
	e.prk = append(e.buf[:0], prk...)
	return nil
}

func (e *suiteExpander) Expand(dst, info []byte, length int) ([]byte, error) {
	if e.prk == nil {
		return dst, fmt.Errorf("%w: no key set", ErrInvalidKeySize)
	}
	return e.cs.Expand(dst, e.prk, info, length)
}

func (e *suiteExpander) Zero() {
	clear(e.buf[:cap(e.buf)])
	e.prk = nil
}
