package defaultcrypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"github.com/mlskit/mlskit/providers"
)

// hashKind is one of the hash functions of RFC 9420 §17.1.
//
// HMAC (RFC 2104) and HKDF (RFC 5869) are computed here with the one-shot
// sha256.Sum256 / sha512.Sum384 / sha512.Sum512 over a buffer on the stack,
// which allocates nothing, instead of crypto/hmac, which allocates five
// objects per key. Inputs too large for the stack buffer fall back to
// crypto/hmac.
type hashKind uint8

const (
	sha256Kind hashKind = iota + 1
	sha384Kind
	sha512Kind
)

// maxHashSize and maxBlockSize bound the sizes of the hashes above.
const (
	maxHashSize  = 64
	maxBlockSize = 128
)

// stackBuf is the size of the on-stack HMAC input buffer: one block of padded
// key and up to 384 bytes of message, which covers every KDFLabel and
// Extract of the key schedule except GroupContexts with large extensions.
const stackBuf = maxBlockSize + 384

func (h hashKind) size() int {
	switch h {
	case sha256Kind:
		return sha256.Size
	case sha384Kind:
		return sha512.Size384
	default:
		return sha512.Size
	}
}

func (h hashKind) blockSize() int {
	if h == sha256Kind {
		return sha256.BlockSize
	}
	return sha512.BlockSize
}

func (h hashKind) new() hash.Hash {
	switch h {
	case sha256Kind:
		return sha256.New()
	case sha384Kind:
		return sha512.New384()
	default:
		return sha512.New()
	}
}

// sum writes the digest of data to out and returns its length.
func (h hashKind) sum(out *[maxHashSize]byte, data []byte) int {
	switch h {
	case sha256Kind:
		s := sha256.Sum256(data)
		return copy(out[:], s[:])
	case sha384Kind:
		s := sha512.Sum384(data)
		return copy(out[:], s[:])
	default:
		s := sha512.Sum512(data)
		return copy(out[:], s[:])
	}
}

// appendHash appends the digest of msg to dst.
func (h hashKind) appendHash(dst, msg []byte) []byte {
	var out [maxHashSize]byte
	n := h.sum(&out, msg)
	return append(dst, out[:n]...)
}

// hmacKey holds the ipad and opad blocks of an HMAC key (RFC 2104 §2).
type hmacKey struct {
	ipad, opad [maxBlockSize]byte
}

func (h hashKind) initKey(k *hmacKey, key []byte) {
	var hk [maxHashSize]byte
	if len(key) > h.blockSize() {
		n := h.sum(&hk, key)
		key = hk[:n]
	}
	bs := h.blockSize()
	copy(k.ipad[:bs], key)
	for i := 0; i < bs; i += 8 {
		w := binary.LittleEndian.Uint64(k.ipad[i:])
		binary.LittleEndian.PutUint64(k.ipad[i:], w^0x3636363636363636)
		binary.LittleEndian.PutUint64(k.opad[i:], w^0x5c5c5c5c5c5c5c5c)
	}
}

// hmacParts computes HMAC(key, a || b || c) into out, given the padded key,
// using buf (at least blockSize+len(a)+len(b)+len(c) bytes) as scratch.
func (h hashKind) hmacParts(out *[maxHashSize]byte, k *hmacKey, buf []byte, a, b, c []byte) int {
	bs := h.blockSize()
	n := copy(buf, k.ipad[:bs])
	n += copy(buf[n:], a)
	n += copy(buf[n:], b)
	n += copy(buf[n:], c)
	var inner [maxHashSize]byte
	hs := h.sum(&inner, buf[:n])
	var outer [maxBlockSize + maxHashSize]byte
	m := copy(outer[:], k.opad[:bs])
	m += copy(outer[m:], inner[:hs])
	return h.sum(out, outer[:m])
}

// mac appends HMAC(key, msg) to dst.
//
// A message too large for the stack buffer goes to crypto/hmac through a
// chunk buffer of its own, not directly: a slice handed to a hash.Hash
// method escapes, and msg and dst would then escape in every call, so
// that callers could not give mac (or extract) a buffer on the stack. The
// chunk buffer is declared in that branch alone, so only a large message
// allocates it, and it is erased after use (msg may be a secret, ikm).
func (h hashKind) mac(dst, key, msg []byte) []byte {
	if h.blockSize()+len(msg) > stackBuf {
		m := hmac.New(h.new, key)
		var chunk [stackBuf]byte
		for rest := msg; len(rest) > 0; {
			n := copy(chunk[:], rest)
			m.Write(chunk[:n])
			rest = rest[n:]
		}
		clear(chunk[:])
		sum := m.Sum(nil)
		dst = append(dst, sum...)
		clear(sum)
		return dst
	}
	var k hmacKey
	h.initKey(&k, key)
	var buf [stackBuf]byte
	var out [maxHashSize]byte
	n := h.hmacParts(&out, &k, buf[:], msg, nil, nil)
	return append(dst, out[:n]...)
}

// verifyMAC compares HMAC(key, msg) with tag in constant time.
func (h hashKind) verifyMAC(key, msg, tag []byte) bool {
	var out [maxHashSize]byte
	mac := h.mac(out[:0], key, msg)
	return subtle.ConstantTimeCompare(mac, tag) == 1
}

// extract appends HKDF-Extract(salt, ikm) = HMAC(salt, ikm) to dst
// (RFC 5869 §2.2; an empty salt is the same HMAC key as HashLen zeros).
func (h hashKind) extract(dst, salt, ikm []byte) []byte {
	return h.mac(dst, salt, ikm)
}

// expand appends HKDF-Expand(prk, info, length) to dst (RFC 5869 §2.3).
func (h hashKind) expand(dst, prk, info []byte, length int) ([]byte, error) {
	hs := h.size()
	if length < 0 || length > 255*hs {
		return dst, providers.ErrInvalidLength
	}
	if len(prk) < hs {
		return dst, providers.ErrInvalidKeySize
	}
	var k hmacKey
	h.initKey(&k, prk)
	need := h.blockSize() + hs + len(info) + 1
	var stack [stackBuf]byte
	var buf []byte
	if need <= len(stack) {
		buf = stack[:need]
	} else {
		buf = make([]byte, need)
	}
	var t [maxHashSize]byte
	var ctr [1]byte
	tlen := 0
	for done := 0; done < length; done += hs {
		ctr[0]++
		tlen = h.hmacParts(&t, &k, buf, t[:tlen], info, ctr[:])
		dst = append(dst, t[:min(hs, length-done)]...)
	}
	return dst, nil
}

// stateHash is a hash whose state can be saved and restored without
// allocating: the digests of crypto/sha256 and crypto/sha512.
type stateHash interface {
	hash.Hash
	encoding.BinaryAppender
	encoding.BinaryUnmarshaler
}

// maxHashState bounds the saved state of a stateHash (SHA-384/512: a
// magic string, the chaining value, a block of buffered input and the
// length; 4+64+128+8 = 204 bytes; SHA-256: 108). saveState refuses a
// state that does not fit. A buffer this size also holds a pad block
// (maxBlockSize).
const maxHashState = 208

// expander is the suite's providers.Expander: HMAC (RFC 2104) hashes the
// key's inner pad, then the message, and the key's outer pad, then the
// inner digest. SetKey hashes each pad block once and saves the hash's
// state after it; each HMAC of Expand restores a state and hashes only
// what follows the pad (RFC 5869 §2.3: T(i-1), info and the counter, then
// the inner digest), which for an output of one hash length is one
// compression each instead of two.
type expander struct {
	h            hashKind
	d            stateHash
	inner, outer [maxHashState]byte // saved states after the pads
	ni, no       int                // their lengths; 0: no key
	t, in        [maxHashSize]byte  // T(i) and the inner digest
	ctr          [1]byte
}

// NewExpander returns an Expander of the suite's HKDF
// (providers.ExpanderMaker).
func (s *suite) NewExpander() providers.Expander {
	d, _ := s.hash.new().(stateHash) // every hashKind's digest is one
	return &expander{h: s.hash, d: d}
}

func (e *expander) SetKey(prk []byte) error {
	e.ni, e.no = 0, 0
	if hs := e.h.size(); len(prk) < hs {
		e.Zero()
		return fmt.Errorf("%w: PRK of %d bytes, want at least %d", providers.ErrInvalidKeySize, len(prk), hs)
	}
	if e.d == nil {
		return fmt.Errorf("%w: the hash's state cannot be saved", providers.ErrInvalidKeySize)
	}
	// The pads are hashed from inner and outer, where their saved states
	// then overwrite them: a buffer the hash's methods are given must be
	// on the heap already (the expander's own), not on the stack, and
	// Write has consumed a pad before saveState writes over it (hash.Hash
	// does not retain what it is given).
	var k hmacKey // initKey pads short keys with the zeros there
	e.h.initKey(&k, prk)
	bs := e.h.blockSize()
	copy(e.inner[:bs], k.ipad[:bs])
	copy(e.outer[:bs], k.opad[:bs])
	clear(k.ipad[:])
	clear(k.opad[:])
	ni, err := e.saveState(e.inner[:bs], &e.inner)
	no, err2 := e.saveState(e.outer[:bs], &e.outer)
	if err = errors.Join(err, err2); err != nil {
		e.Zero()
		return err
	}
	e.ni, e.no = ni, no
	return nil
}

// saveState saves into st the hash's state after pad, and returns its
// length.
func (e *expander) saveState(pad []byte, st *[maxHashState]byte) (int, error) {
	e.d.Reset()
	e.d.Write(pad)
	clear(pad) // pad may alias st; it is consumed
	b, err := e.d.AppendBinary(st[:0])
	e.d.Reset()
	if err != nil || len(b) == 0 || len(b) > len(st) || &b[0] != &st[0] {
		clear(st[:])
		return 0, fmt.Errorf("%w: the hash's state (%d bytes) does not fit: %v", providers.ErrInvalidKeySize, len(b), err)
	}
	return len(b), nil
}

func (e *expander) Expand(dst, info []byte, length int) ([]byte, error) {
	hs := e.h.size()
	if length < 0 || length > 255*hs {
		return dst, providers.ErrInvalidLength
	}
	if e.ni == 0 {
		return dst, fmt.Errorf("%w: no key set", providers.ErrInvalidKeySize)
	}
	tlen := 0
	e.ctr[0] = 0
	for done := 0; done < length; done += hs {
		e.ctr[0]++
		if err := e.d.UnmarshalBinary(e.inner[:e.ni]); err != nil {
			return dst, err
		}
		e.d.Write(e.t[:tlen])
		e.d.Write(info)
		e.d.Write(e.ctr[:])
		inner := e.d.Sum(e.in[:0])
		if err := e.d.UnmarshalBinary(e.outer[:e.no]); err != nil {
			return dst, err
		}
		e.d.Write(inner)
		tlen = len(e.d.Sum(e.t[:0]))
		dst = append(dst, e.t[:min(hs, length-done)]...)
	}
	clear(e.t[:])
	clear(e.in[:])
	return dst, nil
}

// Zero erases the saved states, the last output and what the hash
// buffered (a block of zeros overwrites it).
func (e *expander) Zero() {
	clear(e.inner[:])
	clear(e.outer[:])
	clear(e.t[:])
	clear(e.in[:])
	e.ni, e.no = 0, 0
	if e.d != nil {
		e.d.Reset()
		e.d.Write(e.inner[:e.h.blockSize()-1]) // zeros, cleared above
		e.d.Reset()
	}
}
