// Package groupbench builds the groups that the group benchmarks measure,
// shared by mls's testing.B benchmarks and cmd/mlsbench so that both time
// the same state: a group of N members that alice (leaf 0) created by
// adding everyone in one Commit, member 1 joined from the Welcome, and —
// unless fresh — the copaths of leaves 0 and 1 filled by self-updates.
package groupbench

import (
	"errors"
	"fmt"
	"github.com/mlskit/mlskit/internal/verifycache"
	"runtime"
	"slices"
	"sync"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/benchhook"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/memstore"
)

// Member is a client of the group with the key package it was added with.
type Member struct {
	Client *mls.Client
	Bundle *mls.KeyPackageBundle
}

// Fixture is a group of N members in the state described in the package
// doc.
type Fixture struct {
	N        int
	Provider providers.Provider
	Suite    codec.CipherSuite
	Config   mls.GroupConfig
	Alice    *mls.Client
	// Members are the clients of leaves 1..N-1 (index i is leaf i+1),
	// KeyPackages their key packages.
	Members     []Member
	KeyPackages []*codec.KeyPackage
	// Welcome is the Welcome of the creating Commit (ratchet tree inside).
	Welcome []byte
	// AliceGroup and M1Group are the views of leaves 0 and 1.
	AliceGroup, M1Group *mls.Group
	// Extra is the key package of a client outside the group, to add.
	Extra *codec.KeyPackage
	// AliceStore is alice's storage, which counts what is written to it.
	AliceStore *CountingStore

	// storage makes a client's storage (memstore when nil).
	storage func(name string) providers.Storage
	joiners int

	forge  benchhook.Forger
	spoken map[int]bool // leaves that sent through forge

	// helpers is the provider of the clients whose operations are not
	// measured (member 1, the committers of FillCopaths): f.Provider with
	// a cache of the valid signatures, so that each of the N leaf
	// signatures is checked once, not once per helper that joins.
	helpers providers.Provider
}

// NewClient returns a client with its own in-memory storage, a fresh
// signature key pair, a basic credential and a stored key package.
func NewClient(p providers.Provider, suite codec.CipherSuite, name string) (*mls.Client, *mls.KeyPackageBundle, error) {
	return newClient(p, suite, name, memstore.New())
}

func newClient(p providers.Provider, suite codec.CipherSuite, name string, s providers.Storage) (*mls.Client, *mls.KeyPackageBundle, error) {
	signer, err := mls.GenerateSignatureKeyPair(p, suite)
	if err != nil {
		return nil, nil, err
	}
	c := &mls.Client{Provider: p, Storage: s, Signer: signer, Credential: mls.NewBasicCredential([]byte(name))}
	kb := &mls.KeyPackageBuilder{Provider: p, CipherSuite: suite, Credential: c.Credential, Signer: signer}
	bundle, err := kb.BuildAndStore(c.Storage)
	if err != nil {
		return nil, nil, err
	}
	return c, bundle, nil
}

// New builds the n-member fixture; fresh skips FillCopaths, leaving the
// parent nodes blank as right after creation.
func New(p providers.Provider, suite codec.CipherSuite, n int, fresh bool) (*Fixture, error) {
	return NewWithStorage(p, suite, n, fresh, nil)
}

// NewWithStorage is New with every client's storage made by storage(name)
// (memstore when storage is nil).
func NewWithStorage(p providers.Provider, suite codec.CipherSuite, n int, fresh bool, storage func(name string) providers.Storage) (*Fixture, error) {
	return newFixture(p, suite, n, fresh, storage, mls.WireFormatPolicy{})
}

// NewWithPolicy is New with the members sending their handshake messages
// under the wire format policy wf (New: PureCiphertext), e.g.
// MixedPlaintext for a group a server follows with a PublicGroup.
func NewWithPolicy(p providers.Provider, suite codec.CipherSuite, n int, fresh bool, wf mls.WireFormatPolicy) (*Fixture, error) {
	return newFixture(p, suite, n, fresh, nil, wf)
}

func newFixture(p providers.Provider, suite codec.CipherSuite, n int, fresh bool, storage func(name string) providers.Storage, wf mls.WireFormatPolicy) (*Fixture, error) {
	f := &Fixture{N: n, Provider: p, Suite: suite, Config: mls.GroupConfig{UseRatchetTreeExtension: true, WireFormatPolicy: wf}, storage: storage, helpers: verifycache.New(p)}
	var err error
	if f.Alice, _, err = f.newClient("alice"); err != nil {
		return nil, err
	}
	f.AliceStore = NewCountingStore(f.Alice.Storage)
	f.Alice.Storage = f.AliceStore
	f.Members = make([]Member, n-1)
	f.KeyPackages = make([]*codec.KeyPackage, n-1)
	errs := make([]error, n-1)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n-1; i += workers {
				c, kb, err := f.newClient(fmt.Sprintf("member-%05d", i+1))
				if err != nil {
					errs[i] = err
					continue
				}
				f.Members[i], f.KeyPackages[i] = Member{c, kb}, &kb.KeyPackage
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	_, extra, err := f.newClient("extra")
	if err != nil {
		return nil, err
	}
	f.Extra = &extra.KeyPackage
	if f.AliceGroup, f.Welcome, err = f.CreateGroup(); err != nil {
		return nil, err
	}
	if f.M1Group, err = f.joinHelper(0); err != nil {
		return nil, err
	}
	if !fresh {
		if err := f.FillCopaths(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *Fixture) newStorage(name string) providers.Storage {
	if f.storage == nil {
		return memstore.New()
	}
	return f.storage(name)
}

func (f *Fixture) newClient(name string) (*mls.Client, *mls.KeyPackageBundle, error) {
	return newClient(f.Provider, f.Suite, name, f.newStorage(name))
}

// CreateGroup is the measured "create a group of N": alice creates it, adds
// the N-1 others in one Commit and merges it.
func (f *Fixture) CreateGroup() (*mls.Group, []byte, error) {
	g, err := mls.NewGroup(f.Alice, f.Suite, f.Config, nil)
	if err != nil {
		return nil, nil, err
	}
	res, err := g.AddMembers(f.KeyPackages...)
	if err != nil {
		return nil, nil, err
	}
	if err := g.MergePendingCommit(); err != nil {
		return nil, nil, err
	}
	return g, res.Welcome, nil
}

// Join has member i (leaf i+1) join from the Welcome.
func (f *Fixture) Join(i int) (*mls.Group, error) {
	return mls.JoinFromWelcome(f.Members[i].Client, f.Welcome, nil, f.Config)
}

// joinHelper is Join for a client whose operations are not measured: it
// joins with the fixture's helpers provider, whose verifications count
// once for all helpers.
func (f *Fixture) joinHelper(i int) (*mls.Group, error) {
	c := *f.Members[i].Client
	c.Provider = f.helpers
	return mls.JoinFromWelcome(&c, f.Welcome, nil, f.Config)
}

// FreshJoiner returns member i's client with a new storage holding only its
// key package (joining consumes it); the storage is a *CountingStore.
func (f *Fixture) FreshJoiner(i int) (*mls.Client, error) {
	c := *f.Members[i].Client
	f.joiners++
	c.Storage = NewCountingStore(f.newStorage(fmt.Sprintf("joiner-%d", f.joiners)))
	if err := f.Members[i].Bundle.Store(c.Storage); err != nil {
		return nil, err
	}
	return &c, nil
}

// FillCopaths has the members at leaves …, 8, 4, 2 (one in each subtree
// of the copath of leaf 0, from the highest) join and commit a self-update
// in turn, which alice, member 1 and the later committers process and
// merge: afterwards the resolution of every copath node of leaves 0 and 1
// is a single node, as in a group whose members have all updated.
//
// From the highest down, because a path is encrypted to the resolution of
// its copath (RFC 9420 §7.6): in the blank tree after creation, the
// committer at leaf 2^k encrypts to the 2^(k+1) leaves below the subtree
// its predecessors set, 2N encryptions in all; from the lowest up each
// committer would encrypt to nearly every leaf, N·log₂N in all.
func (f *Fixture) FillCopaths() error {
	var committers []*mls.Group
	var leaves []int
	for l := 2; l < f.N; l *= 2 {
		leaves = append(leaves, l)
	}
	slices.Reverse(leaves)
	for _, l := range leaves {
		g, err := f.joinHelper(l - 1)
		if err != nil {
			return err
		}
		committers = append(committers, g)
	}
	for i, c := range committers {
		res, err := c.SelfUpdate(nil)
		if err != nil {
			return err
		}
		if err := c.MergePendingCommit(); err != nil {
			return err
		}
		for _, g := range append([]*mls.Group{f.AliceGroup, f.M1Group}, committers[i+1:]...) {
			if err := MergeCommit(g, res.Commit); err != nil {
				return err
			}
		}
	}
	return nil
}

// MergeCommit processes the Commit message commit in g and merges it.
func MergeCommit(g *mls.Group, commit []byte) error {
	pm, err := g.ProcessMessage(commit)
	if err != nil {
		return err
	}
	if pm.Kind != mls.KindCommit {
		return fmt.Errorf("processed a %v", pm.Kind)
	}
	return g.MergeStagedCommit(pm.Commit)
}

// forger returns the fixture's forger of member messages, made on first use
// from alice's secret tree of the fixture's epoch (which never changes
// after setup).
func (f *Fixture) forger() (benchhook.Forger, error) {
	if f.forge == nil {
		fg, err := benchhook.NewForger(f.AliceGroup)
		if err != nil {
			return nil, err
		}
		f.forge, f.spoken = fg, map[int]bool{}
	}
	return f.forge, nil
}

// MessageFrom returns an application message of data from the member at
// leaf l (2 <= l < N: neither alice nor member 1, whose groups send for
// themselves), the next of its ratchet; alice receives it once, in order.
func (f *Fixture) MessageFrom(l int, data []byte) ([]byte, error) {
	if l < 2 || l >= f.N {
		return nil, fmt.Errorf("groupbench: no forged messages from leaf %d", l)
	}
	fg, err := f.forger()
	if err != nil {
		return nil, err
	}
	f.spoken[l] = true
	return fg(uint32(l), f.Members[l-1].Client.Signer, data)
}

// Unspoken returns the highest leaf (other than alice's and member 1's)
// that has not sent a message through MessageFrom, or -1.
func (f *Fixture) Unspoken() int {
	for l := f.N - 1; l >= 2; l-- {
		if !f.spoken[l] {
			return l
		}
	}
	return -1
}

// BusySenders is how many members the busy-epoch benchmarks let speak:
// min(N/2, 5000).
func BusySenders(n int) int { return min(n/2, 5000) }

// MakeBusy makes the fixture's epoch busy: k members in all have spoken
// (sent an application message that alice received). Alice and member 1
// count, as they speak in the benchmarks; the others are spread evenly
// over leaves 2..N-1. It returns the number of members that have spoken.
func (f *Fixture) MakeBusy(k int, data []byte) (int, error) {
	if _, err := f.forger(); err != nil {
		return 0, err
	}
	others := min(k-2, f.N-2)
	for i := range others {
		l := 2 + int(int64(i)*int64(f.N-2)/int64(others))
		if f.spoken[l] {
			continue
		}
		msg, err := f.MessageFrom(l, data)
		if err != nil {
			return 0, err
		}
		pm, err := f.AliceGroup.ProcessMessage(msg)
		if err != nil {
			return 0, fmt.Errorf("alice receiving from leaf %d: %w", l, err)
		}
		if pm.Kind != mls.KindApplication {
			return 0, fmt.Errorf("processed a %v", pm.Kind)
		}
	}
	return 2 + len(f.spoken), nil
}
