package defaultcrypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
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
func (h hashKind) mac(dst, key, msg []byte) []byte {
	if h.blockSize()+len(msg) > stackBuf {
		m := hmac.New(h.new, key)
		m.Write(msg)
		return m.Sum(dst)
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
