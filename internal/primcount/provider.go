package primcount

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// Provider wraps a providers.Provider so that its cipher suites count the
// calls made to each primitive (see [Counts]), for tests that compare what
// an operation does with what RFC 9420 requires. It changes no result.
// Calls from several goroutines are counted.
type Provider struct {
	providers.Provider

	mu     sync.Mutex
	suites map[codec.CipherSuite]providers.CipherSuite
	c      counters
}

// NewProvider wraps p.
func NewProvider(p providers.Provider) *Provider {
	return &Provider{Provider: p, suites: map[codec.CipherSuite]providers.CipherSuite{}}
}

type counters struct {
	sign, verify, sealBase, openBase, deriveKeyPair, generateKeyPair, publicKey atomic.Int64
	expand, extract, mac, hash, aeadSeal, aeadOpen, export                      atomic.Int64
}

// Reset sets every count to zero.
func (p *Provider) Reset() {
	for _, c := range p.all() {
		c.Store(0)
	}
}

func (p *Provider) all() []*atomic.Int64 {
	c := &p.c
	return []*atomic.Int64{&c.sign, &c.verify, &c.sealBase, &c.openBase, &c.deriveKeyPair, &c.generateKeyPair, &c.publicKey,
		&c.expand, &c.extract, &c.mac, &c.hash, &c.aeadSeal, &c.aeadOpen, &c.export}
}

// Counts returns the calls counted since the last Reset.
func (p *Provider) Counts() Counts {
	c := &p.c
	return Counts{
		Sign: int(c.sign.Load()), Verify: int(c.verify.Load()),
		SealBase: int(c.sealBase.Load()), OpenBase: int(c.openBase.Load()),
		DeriveKeyPair: int(c.deriveKeyPair.Load()), GenerateKeyPair: int(c.generateKeyPair.Load()),
		HPKEPublicKey: int(c.publicKey.Load()),
		Expand:        int(c.expand.Load()), Extract: int(c.extract.Load()), MAC: int(c.mac.Load()),
		Hash: int(c.hash.Load()), AEADSeal: int(c.aeadSeal.Load()), AEADOpen: int(c.aeadOpen.Load()),
		Export: int(c.export.Load()),
	}
}

// CipherSuite returns the wrapped suite with counting primitives.
func (p *Provider) CipherSuite(id codec.CipherSuite) (providers.CipherSuite, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cs, ok := p.suites[id]; ok {
		return cs, nil
	}
	inner, err := p.Provider.CipherSuite(id)
	if err != nil {
		return nil, err
	}
	cs := &suite{CipherSuite: inner, c: &p.c}
	p.suites[id] = cs
	return cs, nil
}

// suite counts the calls to its CipherSuite. It implements the optional
// interfaces PreparedSealer, SplitInfoOpener and ExpanderMaker (falling
// back to SealBase, OpenBase and Expand when the wrapped suite does not),
// counting each encryption as a SealBase, each decryption as an OpenBase
// and each output of an Expander as an Expand.
type suite struct {
	providers.CipherSuite
	c *counters
}

func (s *suite) Hash(dst, msg []byte) []byte { s.c.hash.Add(1); return s.CipherSuite.Hash(dst, msg) }
func (s *suite) MAC(dst, key, msg []byte) []byte {
	s.c.mac.Add(1)
	return s.CipherSuite.MAC(dst, key, msg)
}
func (s *suite) VerifyMAC(key, msg, tag []byte) bool {
	s.c.mac.Add(1)
	return s.CipherSuite.VerifyMAC(key, msg, tag)
}
func (s *suite) Extract(dst, salt, ikm []byte) []byte {
	s.c.extract.Add(1)
	return s.CipherSuite.Extract(dst, salt, ikm)
}
func (s *suite) Expand(dst, prk, info []byte, length int) ([]byte, error) {
	s.c.expand.Add(1)
	return s.CipherSuite.Expand(dst, prk, info, length)
}
func (s *suite) Seal(dst, key, nonce, plaintext, aad []byte) ([]byte, error) {
	s.c.aeadSeal.Add(1)
	return s.CipherSuite.Seal(dst, key, nonce, plaintext, aad)
}
func (s *suite) Open(dst, key, nonce, ciphertext, aad []byte) ([]byte, error) {
	s.c.aeadOpen.Add(1)
	return s.CipherSuite.Open(dst, key, nonce, ciphertext, aad)
}
func (s *suite) SealBase(pub, info, aad, plaintext []byte) ([]byte, []byte, error) {
	s.c.sealBase.Add(1)
	return s.CipherSuite.SealBase(pub, info, aad, plaintext)
}
func (s *suite) OpenBase(priv, kemOutput, info, aad, ciphertext []byte) ([]byte, error) {
	s.c.openBase.Add(1)
	return s.CipherSuite.OpenBase(priv, kemOutput, info, aad, ciphertext)
}
func (s *suite) ExportBaseS(pub, info, exporterContext []byte, length int) ([]byte, []byte, error) {
	s.c.export.Add(1)
	return s.CipherSuite.ExportBaseS(pub, info, exporterContext, length)
}
func (s *suite) ExportBaseR(priv, kemOutput, info, exporterContext []byte, length int) ([]byte, error) {
	s.c.export.Add(1)
	return s.CipherSuite.ExportBaseR(priv, kemOutput, info, exporterContext, length)
}
func (s *suite) DeriveKeyPair(ikm []byte) ([]byte, []byte, error) {
	s.c.deriveKeyPair.Add(1)
	return s.CipherSuite.DeriveKeyPair(ikm)
}
func (s *suite) GenerateKeyPair(rand io.Reader) ([]byte, []byte, error) {
	s.c.generateKeyPair.Add(1)
	return s.CipherSuite.GenerateKeyPair(rand)
}
func (s *suite) HPKEPublicKey(priv []byte) ([]byte, error) {
	s.c.publicKey.Add(1)
	return s.CipherSuite.HPKEPublicKey(priv)
}
func (s *suite) Verify(pub, msg, signature []byte) error {
	s.c.verify.Add(1)
	return s.CipherSuite.Verify(pub, msg, signature)
}
func (s *suite) NewSigner(priv []byte) (providers.Signer, error) {
	sg, err := s.CipherSuite.NewSigner(priv)
	if err != nil {
		return nil, err
	}
	return &signer{Signer: sg, c: s.c}, nil
}

// PrepareSealBase counts each sealing as a SealBase.
func (s *suite) PrepareSealBase(info, aad []byte) (func(pub, plaintext []byte) ([]byte, []byte, error), error) {
	ps, ok := s.CipherSuite.(providers.PreparedSealer)
	if !ok {
		info, aad := append([]byte(nil), info...), append([]byte(nil), aad...)
		return func(pub, pt []byte) ([]byte, []byte, error) { return s.SealBase(pub, info, aad, pt) }, nil
	}
	f, err := ps.PrepareSealBase(info, aad)
	if err != nil {
		return nil, err
	}
	return func(pub, pt []byte) ([]byte, []byte, error) {
		s.c.sealBase.Add(1)
		return f(pub, pt)
	}, nil
}

// OpenBaseSplitInfo counts an OpenBase: the wrapped suite's
// OpenBaseSplitInfo, or its OpenBase of head || tail.
func (s *suite) OpenBaseSplitInfo(priv, pub, kemOutput, head, tail, aad, ciphertext []byte) ([]byte, error) {
	s.c.openBase.Add(1)
	return providers.OpenBaseSplitInfo(s.CipherSuite, priv, pub, kemOutput, head, tail, aad, ciphertext)
}

// NewExpander returns the wrapped suite's Expander
// (providers.NewExpander), counting each output as an Expand.
func (s *suite) NewExpander() providers.Expander {
	return &expander{Expander: providers.NewExpander(s.CipherSuite), c: s.c}
}

// expander counts the outputs of a wrapped Expander.
type expander struct {
	providers.Expander
	c *counters
}

func (x *expander) Expand(dst, info []byte, length int) ([]byte, error) {
	x.c.expand.Add(1)
	return x.Expander.Expand(dst, info, length)
}

// signer counts the signatures of a wrapped Signer.
type signer struct {
	providers.Signer
	c *counters
}

func (s *signer) Sign(msg []byte) ([]byte, error) {
	s.c.sign.Add(1)
	return s.Signer.Sign(msg)
}
