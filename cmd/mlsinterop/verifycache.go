package main

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// verifyCacheMax bounds the cache; when full it starts over.
const verifyCacheMax = 1 << 20

// verifyCache wraps a Provider so that its cipher suites remember the
// signatures they found valid, keyed by a hash of (suite, public key,
// message, signature). One server hosts many of the harness's clients, and
// each of them verifies the same leaf nodes, key packages and messages
// (RFC 9420 §7.3, §10.1, §6.1): with the slow ECDSA of P-521 and P-384 the
// deep_random scenario spends nearly all its time verifying, in every
// hosted member, signatures another hosted member already verified. The
// cache makes each distinct valid signature cost one verification per
// server. It changes no result: only a triple that verified is remembered,
// and anything else (an invalid signature, another key, message or
// signature) is verified by the wrapped suite every time. Off with
// -no-verify-cache.
type verifyCache struct {
	providers.Provider

	mu     sync.Mutex
	valid  map[[32]byte]struct{}
	suites map[codec.CipherSuite]providers.CipherSuite
	hits   uint64
}

func newVerifyCache(p providers.Provider) *verifyCache {
	return &verifyCache{Provider: p, valid: map[[32]byte]struct{}{}, suites: map[codec.CipherSuite]providers.CipherSuite{}}
}

// CipherSuite returns the wrapped suite with a caching Verify.
func (v *verifyCache) CipherSuite(id codec.CipherSuite) (providers.CipherSuite, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if cs, ok := v.suites[id]; ok {
		return cs, nil
	}
	inner, err := v.Provider.CipherSuite(id)
	if err != nil {
		return nil, err
	}
	var cs providers.CipherSuite = &cachingSuite{CipherSuite: inner, cache: v}
	// Keep the optional fast path of the wrapped suite.
	if ps, ok := inner.(providers.PreparedSealer); ok {
		cs = &cachingSealerSuite{cachingSuite: cs.(*cachingSuite), ps: ps}
	}
	v.suites[id] = cs
	return cs, nil
}

func (v *verifyCache) key(id codec.CipherSuite, pub, msg, sig []byte) [32]byte {
	h := sha256.New()
	var b [10]byte
	binary.BigEndian.PutUint16(b[:2], uint16(id))
	h.Write(b[:2])
	// Length-prefixed, so that no two triples hash the same input.
	for _, x := range [][]byte{pub, msg, sig} {
		binary.BigEndian.PutUint64(b[2:], uint64(len(x)))
		h.Write(b[2:])
		h.Write(x)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (v *verifyCache) seen(k [32]byte) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.valid[k]
	if ok {
		v.hits++
	}
	return ok
}

func (v *verifyCache) remember(k [32]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.valid) >= verifyCacheMax {
		clear(v.valid)
	}
	v.valid[k] = struct{}{}
}

type cachingSuite struct {
	providers.CipherSuite
	cache *verifyCache
}

// Verify verifies with the wrapped suite unless the same public key,
// message and signature verified before.
func (c *cachingSuite) Verify(pub, msg, sig []byte) error {
	k := c.cache.key(c.ID(), pub, msg, sig)
	if c.cache.seen(k) {
		return nil
	}
	if err := c.CipherSuite.Verify(pub, msg, sig); err != nil {
		return err
	}
	c.cache.remember(k)
	return nil
}

type cachingSealerSuite struct {
	*cachingSuite
	ps providers.PreparedSealer
}

func (c *cachingSealerSuite) PrepareSealBase(info, aad []byte) (func(pub, plaintext []byte) (kemOutput, ciphertext []byte, err error), error) {
	return c.ps.PrepareSealBase(info, aad)
}
