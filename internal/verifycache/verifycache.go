// Package verifycache wraps a providers.Provider so that its cipher suites
// remember the signatures they found valid (RFC 9420 §5.1.2), keyed by a
// hash of (suite, public key, message, signature).
//
// It is for processes that host many clients of the same groups, which
// verify the same leaf nodes, key packages and messages (§7.3, §10.1,
// §6.1) over and over: the interop server (cmd/mlsinterop) and the
// benchmark fixture's unmeasured helpers (internal/groupbench). It changes
// no result: only a triple that verified is remembered, and anything else
// (an invalid signature; another key, message or signature) is verified by
// the wrapped suite every time.
package verifycache

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// maxEntries bounds the cache; when full it starts over.
const maxEntries = 1 << 20

// Provider is the wrapped Provider with caching cipher suites.
type Provider struct {
	providers.Provider

	mu     sync.Mutex
	valid  map[[32]byte]struct{}
	suites map[codec.CipherSuite]providers.CipherSuite
}

// New wraps p.
func New(p providers.Provider) *Provider {
	return &Provider{Provider: p, valid: map[[32]byte]struct{}{}, suites: map[codec.CipherSuite]providers.CipherSuite{}}
}

// CipherSuite returns the wrapped suite with a caching Verify.
func (v *Provider) CipherSuite(id codec.CipherSuite) (providers.CipherSuite, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if cs, ok := v.suites[id]; ok {
		return cs, nil
	}
	inner, err := v.Provider.CipherSuite(id)
	if err != nil {
		return nil, err
	}
	cs := &cachingSuite{CipherSuite: inner, cache: v}
	v.suites[id] = cs
	return cs, nil
}

func key(id codec.CipherSuite, pub, msg, sig []byte) [32]byte {
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

func (v *Provider) seen(k [32]byte) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.valid[k]
	return ok
}

func (v *Provider) remember(k [32]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.valid) >= maxEntries {
		clear(v.valid)
	}
	v.valid[k] = struct{}{}
}

// cachingSuite is the wrapped suite with a caching Verify; it keeps the
// wrapped suite's optional fast paths (falling back to their definitions
// when the suite has none).
type cachingSuite struct {
	providers.CipherSuite
	cache *Provider
}

// Verify verifies with the wrapped suite unless the same public key,
// message and signature verified before.
func (c *cachingSuite) Verify(pub, msg, sig []byte) error {
	k := key(c.ID(), pub, msg, sig)
	if c.cache.seen(k) {
		return nil
	}
	if err := c.CipherSuite.Verify(pub, msg, sig); err != nil {
		return err
	}
	c.cache.remember(k)
	return nil
}

// PrepareSealBase is the wrapped suite's, or SealBase with info and aad
// fixed.
func (c *cachingSuite) PrepareSealBase(info, aad []byte) (func(pub, plaintext []byte) (kemOutput, ciphertext []byte, err error), error) {
	if ps, ok := c.CipherSuite.(providers.PreparedSealer); ok {
		return ps.PrepareSealBase(info, aad)
	}
	return func(pub, plaintext []byte) ([]byte, []byte, error) {
		return c.CipherSuite.SealBase(pub, info, aad, plaintext)
	}, nil
}

// NewExpander is the wrapped suite's Expander (providers.NewExpander).
func (c *cachingSuite) NewExpander() providers.Expander {
	return providers.NewExpander(c.CipherSuite)
}

// OpenBaseSplitInfo is the wrapped suite's, or OpenBase of head || tail
// (providers.OpenBaseSplitInfo).
func (c *cachingSuite) OpenBaseSplitInfo(priv, pub, kemOutput, head, tail, aad, ciphertext []byte) ([]byte, error) {
	return providers.OpenBaseSplitInfo(c.CipherSuite, priv, pub, kemOutput, head, tail, aad, ciphertext)
}
