package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
)

// Sentinel errors wrapped by *Error. Branch on them with errors.Is.
var (
	// ErrTruncated: the input ended before the value did.
	ErrTruncated = errors.New("truncated input")
	// ErrTrailingData: bytes are left after a top-level value.
	ErrTrailingData = errors.New("trailing data after value")
	// ErrNonMinimalVarint: a variable-length integer is not in its shortest
	// form (RFC 9420 §2.1.2).
	ErrNonMinimalVarint = errors.New("non-minimal variable-length integer")
	// ErrInvalidVarint: a variable-length integer uses the reserved 8-byte
	// prefix 0b11 (RFC 9420 §2.1.2).
	ErrInvalidVarint = errors.New("invalid variable-length integer prefix")
	// ErrVarintTooLarge: a value does not fit a variable-length integer
	// (at most 2^30-1).
	ErrVarintTooLarge = errors.New("value too large for a variable-length integer")
	// ErrInvalidPresence: an optional's presence byte is neither 0 nor 1
	// (RFC 9420 §2.1.1).
	ErrInvalidPresence = errors.New("optional presence byte is not 0 or 1")
	// ErrUnknownEnumValue: a closed enum holds a value the schema does not
	// define.
	ErrUnknownEnumValue = errors.New("unknown enum value")
	// ErrNoArm: a select has no arm for its discriminant.
	ErrNoArm = errors.New("no select arm for discriminant")
	// ErrMissingArm: the selected arm of a value is nil when encoding or
	// validating.
	ErrMissingArm = errors.New("selected arm is missing")
	// ErrUnselectedArm: an arm other than the selected one is set.
	ErrUnselectedArm = errors.New("arm set that the discriminant does not select")
	// ErrLengthBound: a vector's length is outside the schema's bounds.
	ErrLengthBound = errors.New("vector length out of bounds")
	// ErrNoHead: AppendHead of a value whose encoding, as selected, does
	// not end in a vector (a select arm of a @head struct without one).
	ErrNoHead = errors.New("encoding ends in no vector to write the head of")
	// ErrNoPrefixRoom: FrameVarintVector was given content without
	// MaxVarintLen bytes of room before it for the length prefix.
	ErrNoPrefixRoom = errors.New("no room before a vector's content for its length prefix")
	// ErrNonZeroPadding: padding holds a byte other than zero
	// (RFC 9420 §6.3.1).
	ErrNonZeroPadding = errors.New("padding is not all zero")
	// ErrConstant: a field the schema fixes to one value holds another.
	ErrConstant = errors.New("field differs from its fixed value")
)

// Error says where encoding, decoding or validation failed: the type and
// field being processed and, when decoding, the byte offset in the input.
// It wraps one of the sentinel errors of this package.
type Error struct {
	Type   string // schema name of the type, such as "KeyPackage"
	Field  string // schema name of the field, such as "init_key"
	Offset int    // byte offset of the field in the input; -1 when not decoding
	Err    error
}

func (e *Error) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("codec: %s.%s at offset %d: %v", e.Type, e.Field, e.Offset, e.Err)
	}
	return fmt.Sprintf("codec: %s.%s: %v", e.Type, e.Field, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// WrapError attaches a location to err. An err that already is an *Error
// keeps its own, innermost, location.
func WrapError(err error, typ, field string, offset int) error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return err
	}
	return &Error{Type: typ, Field: field, Offset: offset, Err: err}
}

// MaxVarint is the largest value a variable-length integer can hold
// (RFC 9420 §2.1.2).
const MaxVarint = 1<<30 - 1

// Reader is a cursor over an encoded value. Its methods never read past the
// end of the input: they return ErrTruncated instead.
type Reader struct {
	buf []byte
	off int
	// limit counts the vector elements and the allocated bytes of a
	// decoding with limits (LimitElements, LimitAlloc), shared with the
	// sub-readers; nil otherwise.
	limit *DecodeLimits
}

// DecodeLimits are the limits of one decoding (Reader.LimitElements,
// Reader.LimitAlloc) and what the decoding has used of them.
type DecodeLimits struct {
	elements, maxElements int
	alloc, maxAlloc       int
	// over is set once a limit is exceeded: every reader of the decoding
	// then reads as cut short at its next vector element (Empty).
	over bool
}

// NewReader returns a Reader over b. Byte slices read from it alias b.
func NewReader(b []byte) *Reader {
	return &Reader{buf: b}
}

// Offset is the position of the next byte to read.
func (r *Reader) Offset() int { return r.off }

// Len is the number of bytes left to read.
func (r *Reader) Len() int { return len(r.buf) - r.off }

// Empty reports whether all input has been read.
//
// Generated decoders call Empty before each element of a vector whose
// elements are not of a fixed size (those are allocated at once from the
// vector's byte length, and read while Len is positive). When the decoding
// has limits (LimitElements, LimitAlloc) and this element would exceed the
// element limit, or the decoding already went past either limit, Empty
// still returns false but cuts r's input short, so that reading the element
// fails at once; ElementsExceeded then reports it.
func (r *Reader) Empty() bool {
	if r.off >= len(r.buf) {
		return true
	}
	if l := r.limit; l != nil {
		l.elements++
		if l.elements > l.maxElements {
			l.over = true
		}
		if l.over {
			r.buf = r.buf[:r.off]
		}
	}
	return false
}

// ErrTooManyElements: a decoding holds more vector elements than the limit
// its caller set (Reader.LimitElements), or allocates more memory than its
// allocation limit (Reader.LimitAlloc; the error then also matches
// ErrAllocLimit).
var ErrTooManyElements = errors.New("too many vector elements")

// ErrAllocLimit: a decoding allocates more memory than its caller allowed
// (Reader.LimitAlloc). It comes wrapped with ErrTooManyElements, the error
// of every decoding limit.
var ErrAllocLimit = errors.New("decoding allocates more than its limit")

// limits returns r's decoding limits, made unbounded if r has none.
func (r *Reader) limits() *DecodeLimits {
	if r.limit == nil {
		r.limit = &DecodeLimits{maxElements: math.MaxInt, maxAlloc: math.MaxInt}
	}
	return r.limit
}

// LimitElements bounds the number of vector elements (of vectors whose
// elements are not of a fixed size), over all vectors at every depth, that
// a decoding from r may hold (r and the sub-readers it
// makes from now on); n <= 0 removes the bound. Call it before decoding.
//
// Input of a given size can describe far more memory than its own: a
// two-byte element can decode to a forty-byte struct. The bound caps what
// an untrusted input makes a decoder allocate, whatever its size; a
// decoding that exceeds it fails (with a truncation error;
// ElementsExceeded reports the cause). LimitAlloc bounds the bytes.
func (r *Reader) LimitElements(n int) {
	if n <= 0 {
		n = math.MaxInt
	}
	r.limits().maxElements = n
}

// LimitAlloc bounds the memory, in bytes, that a decoding from r (r and
// the sub-readers it makes from now on) may allocate for the values it
// decodes; n <= 0 removes the bound. Call it before decoding. Byte vectors
// alias the input and cost nothing; what counts is every struct a decoder
// allocates behind a pointer, every vector of elements of varying size
// (exactly as long as it is) and the scratch it is decoded in (see
// Alloc). Vectors of fixed-size elements, no larger than their encoding,
// and decodings of less than 4 KiB, which do not allocate from slabs, are
// not counted. A decoding that exceeds the bound fails at its next vector
// element, with a truncation error; ElementsExceeded reports the cause.
// AllocBudget is the bound UnmarshalLimited sets.
func (r *Reader) LimitAlloc(n int) {
	if n <= 0 {
		n = math.MaxInt
	}
	r.limits().maxAlloc = n
}

// Alloc records that a decoding from r is about to allocate n bytes for
// the values it decodes; generated decoders call it. It reports false, and
// the decoding then fails at its next vector element (Empty), once the
// decoding's allocation limit (LimitAlloc) is exceeded; the caller then
// skips the allocation if it can.
func (r *Reader) Alloc(n int) bool { return r.limit.Alloc(n) }

// Limits returns the limits of the decoding from r, nil if it has none.
// Their Alloc method is r's, for code that keeps them instead of r.
func (r *Reader) Limits() *DecodeLimits { return r.limit }

// Alloc is Reader.Alloc for the decoding of these limits; a nil
// *DecodeLimits has no limits.
func (l *DecodeLimits) Alloc(n int) bool {
	if l == nil {
		return true
	}
	l.alloc += n
	if l.alloc > l.maxAlloc {
		l.over = true
		return false
	}
	return true
}

// AllocSlack is the fixed part of the allocation limit AllocBudget of a
// decoding of untrusted input.
const AllocSlack = 1 << 20

// AllocBudget is the allocation limit (LimitAlloc) UnmarshalLimited sets
// for an input of n bytes: 2.5 bytes per input byte, plus AllocSlack. The
// largest legitimate structures decode to less: a ratchet tree to about
// 1.6 bytes per byte of its encoding, a Commit adding members by value
// (key packages of the X25519 suites with the default capabilities and a
// short basic credential) to about 2.05, messages with byte strings of
// realistic sizes to less; only lists of near-empty entries go over, which
// is what the bound is for.
func AllocBudget(n int) int {
	return n*5/2 + AllocSlack
}

// ElementsExceeded returns an error matching ErrTooManyElements if a
// decoding from r went past its element limit or its allocation limit (the
// error then also matches ErrAllocLimit), and nil otherwise.
func (r *Reader) ElementsExceeded() error {
	l := r.limit
	switch {
	case l == nil || !l.over:
		return nil
	case l.alloc > l.maxAlloc:
		return fmt.Errorf("%w: %w: more than %d bytes", ErrTooManyElements, ErrAllocLimit, l.maxAlloc)
	}
	return fmt.Errorf("%w: more than %d", ErrTooManyElements, l.maxElements)
}

// UnmarshalLimited decodes data into v as v's Unmarshal method does (from a
// copy of data, which must be consumed entirely), with at most maxElements
// vector elements (LimitElements) and AllocBudget(len(data)) bytes
// allocated (LimitAlloc). Exceeding a limit gives an error matching
// ErrTooManyElements.
func UnmarshalLimited(data []byte, maxElements int, v interface{ Decode(*Reader) error }) error {
	return DecodeLimited(bytes.Clone(data), maxElements, v)
}

// DecodeLimited is UnmarshalLimited decoding data in place: the decoded
// value aliases data, which the caller must not change afterwards.
func DecodeLimited(data []byte, maxElements int, v interface{ Decode(*Reader) error }) error {
	r := NewReader(data)
	r.LimitElements(maxElements)
	r.LimitAlloc(AllocBudget(len(data)))
	err := v.Decode(r)
	if e := r.ElementsExceeded(); e != nil {
		return e
	}
	if err != nil {
		return err
	}
	if err := r.Finish(); err != nil {
		return fmt.Errorf("codec: at offset %d: %w", r.Offset(), err)
	}
	return nil
}

// Finish returns ErrTrailingData unless all input has been read.
func (r *Reader) Finish() error {
	if r.off != len(r.buf) {
		return ErrTrailingData
	}
	return nil
}

// ReadUint8 reads one byte.
func (r *Reader) ReadUint8() (uint8, error) {
	if r.Len() < 1 {
		return 0, ErrTruncated
	}
	v := r.buf[r.off]
	r.off++
	return v, nil
}

// ReadUint16 reads a big-endian uint16.
func (r *Reader) ReadUint16() (uint16, error) {
	if r.Len() < 2 {
		return 0, ErrTruncated
	}
	b := r.buf[r.off:]
	r.off += 2
	return uint16(b[0])<<8 | uint16(b[1]), nil
}

// ReadUint32 reads a big-endian uint32.
func (r *Reader) ReadUint32() (uint32, error) {
	if r.Len() < 4 {
		return 0, ErrTruncated
	}
	b := r.buf[r.off:]
	r.off += 4
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), nil
}

// ReadUint64 reads a big-endian uint64.
func (r *Reader) ReadUint64() (uint64, error) {
	hi, err := r.ReadUint32()
	if err != nil {
		return 0, err
	}
	lo, err := r.ReadUint32()
	if err != nil {
		return 0, err
	}
	return uint64(hi)<<32 | uint64(lo), nil
}

// ReadVarint reads a variable-length integer of RFC 9420 §2.1.2: the two
// top bits of the first byte give the length (1, 2 or 4 bytes); the prefix
// 0b11 is invalid and the encoding must be the shortest one.
func (r *Reader) ReadVarint() (uint64, error) {
	if r.Len() < 1 {
		return 0, ErrTruncated
	}
	first := r.buf[r.off]
	var n int
	switch first >> 6 {
	case 0:
		r.off++
		return uint64(first), nil
	case 1:
		n = 2
	case 2:
		n = 4
	default:
		return 0, ErrInvalidVarint
	}
	if r.Len() < n {
		return 0, ErrTruncated
	}
	v := uint64(first & 0x3f)
	for _, c := range r.buf[r.off+1 : r.off+n] {
		v = v<<8 | uint64(c)
	}
	// The shortest form of v: 1 byte up to 63, 2 up to 16383, else 4.
	if (n == 2 && v < 1<<6) || (n == 4 && v < 1<<14) {
		return 0, ErrNonMinimalVarint
	}
	r.off += n
	return v, nil
}

// ReadBytes reads n bytes. The result aliases the input; its capacity is
// capped at n so that appending to it cannot overwrite what follows. Zero
// bytes read as nil, so that decoded empty vectors equal unset fields.
func (r *Reader) ReadBytes(n int) ([]byte, error) {
	if n < 0 || r.Len() < n {
		return nil, ErrTruncated
	}
	if n == 0 {
		return nil, nil
	}
	b := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return b, nil
}

// ReadFull fills dst from the input.
func (r *Reader) ReadFull(dst []byte) error {
	if r.Len() < len(dst) {
		return ErrTruncated
	}
	r.off += copy(dst, r.buf[r.off:])
	return nil
}

// ReadVarintBytes reads an MLS vector of bytes (opaque x<V>).
func (r *Reader) ReadVarintBytes() ([]byte, error) {
	n, err := r.ReadVarintLength()
	if err != nil {
		return nil, err
	}
	return r.ReadBytes(n)
}

// The ReadXLength methods read the length prefix of a vector, in bytes,
// and check that the input holds that many more bytes (ErrTruncated
// otherwise). X names the prefix as in BeginXVector.

// ReadVarintLength reads the varint length prefix of an MLS vector (T x<V>).
func (r *Reader) ReadVarintLength() (int, error) {
	n, err := r.ReadVarint()
	return r.length(n, err)
}

// ReadUint8Length reads the one-byte length prefix of a TLS vector.
func (r *Reader) ReadUint8Length() (int, error) {
	n, err := r.ReadUint8()
	return r.length(uint64(n), err)
}

// ReadUint16Length reads the two-byte length prefix of a TLS vector.
func (r *Reader) ReadUint16Length() (int, error) {
	n, err := r.ReadUint16()
	return r.length(uint64(n), err)
}

// ReadUint24Length reads the three-byte length prefix of a TLS vector.
func (r *Reader) ReadUint24Length() (int, error) {
	b, err := r.ReadBytes(3)
	if err != nil {
		return 0, err
	}
	return r.length(uint64(b[0])<<16|uint64(b[1])<<8|uint64(b[2]), nil)
}

// ReadUint32Length reads the four-byte length prefix of a TLS vector.
func (r *Reader) ReadUint32Length() (int, error) {
	n, err := r.ReadUint32()
	return r.length(uint64(n), err)
}

// length returns the length n just read, if the input holds that many
// more bytes.
func (r *Reader) length(n uint64, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	if uint64(r.Len()) < n {
		return 0, ErrTruncated
	}
	return int(n), nil
}

// Sub returns a Reader over the next n bytes and advances r past them.
// Offsets reported by the sub-reader stay relative to the whole input.
func (r *Reader) Sub(n int) (Reader, error) {
	if n < 0 || r.Len() < n {
		return Reader{}, ErrTruncated
	}
	s := Reader{buf: r.buf[:r.off+n], off: r.off, limit: r.limit}
	r.off += n
	return s, nil
}

// ReadPresence reads the presence byte of optional<T> (RFC 9420 §2.1.1).
func (r *Reader) ReadPresence() (bool, error) {
	v, err := r.ReadUint8()
	if err != nil {
		return false, err
	}
	switch v {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	r.off--
	return false, ErrInvalidPresence
}

// ReadZeroPadding consumes the rest of the input, which must be all zero
// bytes (RFC 9420 §6.3.1), and returns how many there were.
func (r *Reader) ReadZeroPadding() (int, error) {
	n := r.Len()
	for _, c := range r.buf[r.off:] {
		if c != 0 {
			return 0, ErrNonZeroPadding
		}
	}
	r.off += n
	return n, nil
}

// AppendUint8 appends v.
func AppendUint8(b []byte, v uint8) []byte { return append(b, v) }

// AppendUint16 appends v big-endian.
func AppendUint16(b []byte, v uint16) []byte { return append(b, byte(v>>8), byte(v)) }

// AppendUint32 appends v big-endian.
func AppendUint32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// AppendUint64 appends v big-endian.
func AppendUint64(b []byte, v uint64) []byte {
	return append(b, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
		byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// varintLen is the length of the shortest encoding of v.
func varintLen(v uint64) int {
	switch {
	case v < 1<<6:
		return 1
	case v < 1<<14:
		return 2
	default:
		return 4
	}
}

// VarintSize returns the size of the shortest varint of n (RFC 9420
// §2.1.2), 4 for a length too large for one (whose encoding fails).
func VarintSize(n int) int { return varintLen(uint64(n)) }

// AppendVarint appends v as a variable-length integer in its shortest form
// (RFC 9420 §2.1.2).
func AppendVarint(b []byte, v uint64) ([]byte, error) {
	switch {
	case v < 1<<6:
		return append(b, byte(v)), nil
	case v < 1<<14:
		return append(b, 0x40|byte(v>>8), byte(v)), nil
	case v <= MaxVarint:
		return append(b, 0x80|byte(v>>24), byte(v>>16), byte(v>>8), byte(v)), nil
	}
	return b, ErrVarintTooLarge
}

// AppendVarintLength appends the varint length prefix (RFC 9420 §2.1.2)
// of an MLS vector of n bytes whose length must lie in [lo, hi]
// (ErrLengthBound otherwise, or for a negative n; ErrVarintTooLarge past
// MaxVarint). Generated AppendHead methods call it for the vector a @head
// struct ends in, whose content the caller appends after the prefix.
func AppendVarintLength(b []byte, n int, lo, hi uint64) ([]byte, error) {
	if n < 0 || uint64(n) < lo || uint64(n) > hi {
		return b, ErrLengthBound
	}
	return AppendVarint(b, uint64(n))
}

// AppendVarintBytes appends an MLS vector of bytes (opaque x<V>).
func AppendVarintBytes(b, data []byte) ([]byte, error) {
	b, err := AppendVarint(b, uint64(len(data)))
	if err != nil {
		return b, err
	}
	return append(b, data...), nil
}

// Scratch returns an empty buffer for an encoding of n bytes (a value's
// Size): b emptied if its capacity holds n bytes, else a new one of
// capacity exactly n (b's content is not copied). A caller that encodes
// value after value into one reused buffer so grows it to the largest
// encoding, once per new largest, never by append.
func Scratch(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:0]
	}
	return make([]byte, 0, n)
}

// AppendZeros appends n zero bytes.
func AppendZeros(b []byte, n int) []byte {
	for ; n > 0; n-- {
		b = append(b, 0)
	}
	return b
}

// Vectors whose length is not known in advance are written in two steps,
// as cryptobyte's length-prefixed builders do: BeginXVector appends room for
// the length prefix and returns where the content starts; the caller appends
// the content; EndXVector checks the content's length and writes the prefix.
// X names the prefix: a variable-length integer (RFC 9420 §2.1.2) for the
// MLS vectors T x<V>, a big-endian integer of 8 to 32 bits for the TLS
// vectors T x<lo..hi> (RFC 8446 §3.4).

// BeginVarintVector starts an MLS vector: it appends one byte for its
// varint length prefix (EndVarintVector widens it when needed) and returns
// the position where the content starts.
func BeginVarintVector(b []byte) ([]byte, int) {
	b = append(b, 0)
	return b, len(b)
}

// EndVarintVector writes the varint length prefix of the MLS vector begun
// at start. A length that needs more than one byte moves the content once;
// the content of a shorter one, the common case, is not moved.
func EndVarintVector(b []byte, start int) ([]byte, error) {
	n := uint64(len(b) - start)
	if n > MaxVarint {
		return b, ErrVarintTooLarge
	}
	extra := varintLen(n) - 1
	if extra > 0 {
		b = append(b, make([]byte, extra)...)
		copy(b[start+extra:], b[start:len(b)-extra])
	}
	p := b[start-1 : start+extra]
	switch extra {
	case 0:
		p[0] = byte(n)
	case 1:
		p[0], p[1] = 0x40|byte(n>>8), byte(n)
	default:
		p[0], p[1], p[2], p[3] = 0x80|byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	}
	return b, nil
}

// EndBoundedVarintVector is EndVarintVector for a vector whose length in
// bytes must lie in [lo, hi] (an @size annotation of the schema); it returns
// ErrLengthBound otherwise.
func EndBoundedVarintVector(b []byte, start int, lo, hi uint64) ([]byte, error) {
	if n := uint64(len(b) - start); n < lo || n > hi {
		return b, ErrLengthBound
	}
	return EndVarintVector(b, start)
}

// MaxVarintLen is the length of the longest variable-length integer
// (RFC 9420 §2.1.2): the room FrameVarintVector needs before a vector's
// content.
const MaxVarintLen = 4

// FrameVarintVector makes the MLS vector (T x<V>, RFC 9420 §2.1.2) of
// content already written, without moving it: buf[start:] is the content
// and buf[start-MaxVarintLen:start] room the caller left for the varint
// length prefix. It writes the prefix at the end of that room and returns
// the vector, buf[start-k:] for a prefix of k bytes. The content's length
// in bytes must lie in [lo, hi] (ErrLengthBound) and fit a varint
// (ErrVarintTooLarge). Generated FrameX functions call it with the bounds
// of a named vector type X; a caller that keeps the encodings of a
// vector's elements (a ratchet tree's, spliced) so frames them with no copy.
func FrameVarintVector(buf []byte, start int, lo, hi uint64) ([]byte, error) {
	if start < MaxVarintLen || start > len(buf) {
		return buf, ErrNoPrefixRoom
	}
	n := uint64(len(buf) - start)
	if n > MaxVarint {
		return buf, ErrVarintTooLarge
	}
	if n < lo || n > hi {
		return buf, ErrLengthBound
	}
	var pb [MaxVarintLen]byte
	p, err := AppendVarint(pb[:0], n)
	if err != nil {
		return buf, err
	}
	copy(buf[start-len(p):], p)
	return buf[start-len(p):], nil
}

// BeginUint8Vector starts a TLS vector with a one-byte length prefix
// (T x<lo..hi>, hi < 2^8).
func BeginUint8Vector(b []byte) ([]byte, int) {
	b = append(b, 0)
	return b, len(b)
}

// EndUint8Vector writes the one-byte length prefix of the vector begun at
// start; its length in bytes must lie in [lo, hi] and fit the prefix, or it
// returns ErrLengthBound.
func EndUint8Vector(b []byte, start int, lo, hi uint64) ([]byte, error) {
	n, err := fixedLength(b, start, lo, hi, 1<<8-1)
	if err != nil {
		return b, err
	}
	b[start-1] = byte(n)
	return b, nil
}

// BeginUint16Vector starts a TLS vector with a two-byte length prefix
// (T x<lo..hi>, hi < 2^16).
func BeginUint16Vector(b []byte) ([]byte, int) {
	b = append(b, 0, 0)
	return b, len(b)
}

// EndUint16Vector writes the two-byte length prefix of the vector begun at
// start; its length in bytes must lie in [lo, hi] and fit the prefix, or it
// returns ErrLengthBound.
func EndUint16Vector(b []byte, start int, lo, hi uint64) ([]byte, error) {
	n, err := fixedLength(b, start, lo, hi, 1<<16-1)
	if err != nil {
		return b, err
	}
	b[start-2], b[start-1] = byte(n>>8), byte(n)
	return b, nil
}

// BeginUint24Vector starts a TLS vector with a three-byte length prefix
// (T x<lo..hi>, hi < 2^24).
func BeginUint24Vector(b []byte) ([]byte, int) {
	b = append(b, 0, 0, 0)
	return b, len(b)
}

// EndUint24Vector writes the three-byte length prefix of the vector begun
// at start; its length in bytes must lie in [lo, hi] and fit the prefix, or
// it returns ErrLengthBound.
func EndUint24Vector(b []byte, start int, lo, hi uint64) ([]byte, error) {
	n, err := fixedLength(b, start, lo, hi, 1<<24-1)
	if err != nil {
		return b, err
	}
	b[start-3], b[start-2], b[start-1] = byte(n>>16), byte(n>>8), byte(n)
	return b, nil
}

// BeginUint32Vector starts a TLS vector with a four-byte length prefix
// (T x<lo..hi>, hi < 2^32).
func BeginUint32Vector(b []byte) ([]byte, int) {
	b = append(b, 0, 0, 0, 0)
	return b, len(b)
}

// EndUint32Vector writes the four-byte length prefix of the vector begun at
// start; its length in bytes must lie in [lo, hi] and fit the prefix, or it
// returns ErrLengthBound.
func EndUint32Vector(b []byte, start int, lo, hi uint64) ([]byte, error) {
	n, err := fixedLength(b, start, lo, hi, 1<<32-1)
	if err != nil {
		return b, err
	}
	b[start-4], b[start-3], b[start-2], b[start-1] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return b, nil
}

// fixedLength is the length of the content from start, checked against
// [lo, hi] and the largest length its prefix holds.
func fixedLength(b []byte, start int, lo, hi, max uint64) (uint64, error) {
	n := uint64(len(b) - start)
	if n < lo || n > hi || n > max {
		return 0, ErrLengthBound
	}
	return n, nil
}
