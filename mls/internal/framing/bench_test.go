package framing_test

// Benchmarks of protecting and unprotecting a 100-byte application message
// (suite 1) in groups of 2 and 10,000 members, for a sender's first message
// in the epoch and in the steady state, next to the primitives they are
// measured against (Ed25519 sign and verify through the provider, one
// ExpandWithLabel, one AEAD seal) in the same top-level benchmark, so that
// -count interleaves them. Compare ratios within one run:
//
//	go test -run '^$' -bench . -benchmem -count=1 ./mls/internal/framing/

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/cputime"
	"github.com/mlskit/mlskit/mls/internal/framing"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
)

// cpuTimer measures the benchmark goroutine's thread CPU time, reported
// as cpu-ns/op next to the wall-clock ns/op: on a machine shared with
// other work, wall time includes time the process waited for a core.
type cpuTimer struct {
	b       *testing.B
	ok      bool
	total   time.Duration
	started time.Duration
}

func startCPU(b *testing.B) *cpuTimer {
	runtime.LockOSThread()
	c := &cpuTimer{b: b}
	c.started, c.ok = cputime.Thread()
	return c
}

func (c *cpuTimer) stop() {
	if now, ok := cputime.Thread(); ok && c.ok {
		c.total += now - c.started
	}
}

func (c *cpuTimer) start() { c.started, _ = cputime.Thread() }

// done stops the timer and reports cpu-ns/op.
func (c *cpuTimer) done() {
	c.stop()
	runtime.UnlockOSThread()
	if c.ok && c.b.N > 0 {
		c.b.ReportMetric(float64(c.total.Nanoseconds())/float64(c.b.N), "cpu-ns/op")
	}
}

type benchGroup struct {
	cs        providers.CipherSuite
	ctx       *codec.GroupContext
	secrets   framing.EpochSecrets
	encSecret []byte
	n         treemath.LeafCount
	signer    providers.Signer
	pub       []byte
	keys      framing.SignatureKeyFunc
	data      []byte
	sender    uint32
}

func newBenchGroup(b *testing.B, members int) *benchGroup {
	cs, err := defaultcrypto.New().CipherSuite(1)
	if err != nil {
		b.Fatal(err)
	}
	priv, pub, err := cs.GenerateSignatureKeyPair(nil)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := cs.NewSigner(priv)
	if err != nil {
		b.Fatal(err)
	}
	nh := cs.HashSize()
	g := &benchGroup{
		cs: cs,
		ctx: &codec.GroupContext{
			CipherSuite:             1,
			GroupID:                 bytes.Repeat([]byte{1}, 16),
			Epoch:                   42,
			TreeHash:                bytes.Repeat([]byte{2}, nh),
			ConfirmedTranscriptHash: bytes.Repeat([]byte{3}, nh),
		},
		secrets:   framing.EpochSecrets{SenderDataSecret: bytes.Repeat([]byte{4}, nh), MembershipKey: bytes.Repeat([]byte{5}, nh)},
		encSecret: bytes.Repeat([]byte{6}, nh),
		n:         treemath.LeafCount(members),
		signer:    signer,
		pub:       pub,
		data:      bytes.Repeat([]byte{0x61}, 100),
		sender:    uint32(members) - 1,
	}
	g.keys = func(*codec.FramedContent) ([]byte, error) { return g.pub, nil }
	return g
}

func (g *benchGroup) protector(b *testing.B) *framing.Protector {
	tree, err := secrettree.New(g.cs, g.encSecret, g.n, secrettree.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	p, err := framing.NewProtector(g.cs, g.ctx, g.secrets, tree, framing.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func (g *benchGroup) content() *codec.FramedContent {
	return &codec.FramedContent{
		GroupID:         g.ctx.GroupID,
		Epoch:           g.ctx.Epoch,
		Sender:          codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: g.sender},
		ContentType:     codec.ContentTypeApplication,
		ApplicationData: g.data,
	}
}

func (g *benchGroup) send(b *testing.B, p *framing.Protector, c *codec.FramedContent) *codec.PrivateMessage {
	ac, err := p.Sign(g.signer, codec.WireFormatMLSPrivateMessage, c)
	if err != nil {
		b.Fatal(err)
	}
	pm, err := p.ProtectPrivate(ac)
	if err != nil {
		b.Fatal(err)
	}
	return pm
}

// primitives are the references: Ed25519 sign and verify (through the
// provider) of a message the size of the SignContent of a 100-byte
// application message, one ExpandWithLabel, one AEAD seal of that size.
type primitives struct {
	g        *benchGroup
	sc, sig  []byte
	key, non []byte
	pt, dst  []byte
}

func newPrimitives(b *testing.B, g *benchGroup) *primitives {
	ac, err := g.protector(b).Sign(g.signer, codec.WireFormatMLSPrivateMessage, g.content())
	if err != nil {
		b.Fatal(err)
	}
	tbs, err := (&codec.FramedContentTBS{WireFormat: ac.WireFormat, Content: ac.Content, Context: g.ctx}).Marshal()
	if err != nil {
		b.Fatal(err)
	}
	sc, err := (&codec.SignContent{Label: []byte(providers.LabelPrefix + framing.SignatureLabel), Content: tbs}).Marshal()
	if err != nil {
		b.Fatal(err)
	}
	sig, err := g.signer.Sign(sc)
	if err != nil {
		b.Fatal(err)
	}
	pt := make([]byte, 100+2+64+2)
	return &primitives{
		g: g, sc: sc, sig: sig,
		key: make([]byte, g.cs.AEADKeySize()), non: make([]byte, g.cs.AEADNonceSize()),
		pt: pt, dst: make([]byte, 0, len(pt)+g.cs.AEADOverhead()),
	}
}

func (p *primitives) sign(b *testing.B) {
	b.Run("ref=Ed25519Sign", func(b *testing.B) {
		b.ReportAllocs()
		c := startCPU(b)
		for b.Loop() {
			if _, err := p.g.signer.Sign(p.sc); err != nil {
				b.Fatal(err)
			}
		}
		c.done()
	})
	b.Run("ref=ExpandWithLabel", func(b *testing.B) {
		b.ReportAllocs()
		c := startCPU(b)
		for b.Loop() {
			if _, err := providers.DeriveTreeSecret(p.g.cs, p.g.encSecret, "secret", 7, 32); err != nil {
				b.Fatal(err)
			}
		}
		c.done()
	})
	b.Run("ref=AEADSeal", func(b *testing.B) {
		b.ReportAllocs()
		c := startCPU(b)
		for b.Loop() {
			if _, err := p.g.cs.Seal(p.dst[:0], p.key, p.non, p.pt, p.sc[:40]); err != nil {
				b.Fatal(err)
			}
		}
		c.done()
	})
}

func (p *primitives) verify(b *testing.B) {
	b.Run("ref=Ed25519Verify", func(b *testing.B) {
		b.ReportAllocs()
		c := startCPU(b)
		for b.Loop() {
			if err := p.g.cs.Verify(p.g.pub, p.sc, p.sig); err != nil {
				b.Fatal(err)
			}
		}
		c.done()
	})
}

// BenchmarkProtect: Sign + ProtectPrivate of a 100-byte application
// message, after the reference primitives (so that -count interleaves
// them).
func BenchmarkProtect(b *testing.B) {
	newPrimitives(b, newBenchGroup(b, 2)).sign(b)
	for _, members := range []int{2, 10000} {
		g := newBenchGroup(b, members)
		b.Run(fmt.Sprintf("members=%d/steady", members), func(b *testing.B) {
			p := g.protector(b)
			c := g.content()
			g.send(b, p, c) // the sender's first message
			b.ReportAllocs()
			t := startCPU(b)
			for b.Loop() {
				g.send(b, p, c)
			}
			t.done()
		})
		b.Run(fmt.Sprintf("members=%d/first", members), func(b *testing.B) {
			c := g.content()
			b.ReportAllocs()
			t := startCPU(b)
			for b.Loop() {
				t.stop() // before StopTimer, whose ReadMemStats costs CPU
				b.StopTimer()
				p := g.protector(b)
				b.StartTimer()
				t.start()
				g.send(b, p, c)
			}
			t.done()
		})
	}
}

// BenchmarkUnprotect: UnprotectPrivate (sender data, secret tree,
// content decryption, signature verification) of a 100-byte application
// message, after the reference Ed25519 verification.
func BenchmarkUnprotect(b *testing.B) {
	newPrimitives(b, newBenchGroup(b, 2)).verify(b)
	for _, members := range []int{2, 10000} {
		g := newBenchGroup(b, members)
		b.Run(fmt.Sprintf("members=%d/steady", members), func(b *testing.B) {
			sender := g.protector(b)
			c := g.content()
			msgs := make([]*codec.PrivateMessage, b.N+1)
			for i := range msgs {
				msgs[i] = g.send(b, sender, c)
			}
			recv := g.protector(b)
			if _, err := recv.UnprotectPrivate(msgs[0], g.keys); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			t := startCPU(b)
			for i := 1; i <= b.N; i++ {
				if _, err := recv.UnprotectPrivate(msgs[i], g.keys); err != nil {
					b.Fatal(err)
				}
			}
			t.done()
		})
		b.Run(fmt.Sprintf("members=%d/first", members), func(b *testing.B) {
			pm := g.send(b, g.protector(b), g.content())
			b.ReportAllocs()
			t := startCPU(b)
			for b.Loop() {
				t.stop() // before StopTimer, whose ReadMemStats costs CPU
				b.StopTimer()
				recv := g.protector(b)
				b.StartTimer()
				t.start()
				if _, err := recv.UnprotectPrivate(pm, g.keys); err != nil {
					b.Fatal(err)
				}
			}
			t.done()
		})
	}
}
