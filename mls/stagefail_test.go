package mls

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/ratchettree"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/storagetest"
)

// badKeyProvider is a provider whose cipher suites reject every signature
// under one public key (none while bad is nil): a leaf whose signature
// does not verify, without forging a tree.
type badKeyProvider struct {
	providers.Provider
	mu  sync.Mutex
	bad []byte
}

type badKeySuite struct {
	providers.CipherSuite
	p *badKeyProvider
}

func (p *badKeyProvider) CipherSuite(id codec.CipherSuite) (providers.CipherSuite, error) {
	cs, err := p.Provider.CipherSuite(id)
	if err != nil {
		return nil, err
	}
	return &badKeySuite{CipherSuite: cs, p: p}, nil
}

func (p *badKeyProvider) setBad(key []byte) {
	p.mu.Lock()
	p.bad = key
	p.mu.Unlock()
}

func (s *badKeySuite) Verify(pub, msg, sig []byte) error {
	s.p.mu.Lock()
	bad := s.p.bad != nil && bytes.Equal(pub, s.p.bad)
	s.p.mu.Unlock()
	if bad {
		return errors.New("badKeySuite: rejected")
	}
	return s.CipherSuite.Verify(pub, msg, sig)
}

// TestStageFailureErasesEpoch: Stage derives the new epoch while the leaf
// signatures are still being verified (join.go); when one of them fails,
// the joiner must not join (RFC 9420 §12.4.3.1: "return an error"), so
// that epoch is erased: its epoch secrets, its secret tree (the root and
// the joiner's own ratchets, derived at once) and its private keys (our
// leaf's and the path_secret's). Nothing is written to storage and the
// KeyPackage is not consumed (§16.8 consumes it when a join succeeds), so
// the same KeyPackage then joins from a Welcome that validates.
func TestStageFailureErasesEpoch(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true})
	a := s.members[0]
	s.add(a, 2, false)
	b := s.members[1]

	p := &badKeyProvider{Provider: s.p}
	j := gtNewMember(t, p, s.suite, "joiner")
	kp := j.keyPackage(t)
	// With a path, the GroupSecrets carry a path_secret: the staged epoch
	// holds a private key derived from it besides our leaf's.
	res := gtMust(a.g.Commit(CommitOptions{Add: []*codec.KeyPackage{kp}, ForcePath: true}))(t)

	// b's leaf signature fails for the joiner; the GroupInfo, signed by
	// a, verifies.
	p.setBad(b.c.Signer.PublicKey())
	pw, err := ProcessWelcome(j.c, res.Welcome, s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ref := bytes.Clone(pw.KeyPackageRef())
	type captured struct {
		name string
		buf  []byte
	}
	var (
		staged  *epoch
		secrets []captured
		leaves  int
	)
	pw.staged = func(e *epoch, _ *joinRecords) {
		staged = e
		sec := &e.secrets
		secrets = append(secrets, []captured{
			{"sender_data", sec.SenderData}, {"encryption", sec.Encryption},
			{"exporter", sec.Exporter}, {"external", sec.External},
			{"confirm", sec.Confirmation}, {"membership", sec.Membership},
			{"resumption", sec.Resumption}, {"epoch_authenticator", sec.EpochAuthenticator},
			{"init", sec.Init},
		}...)
		for _, x := range e.keys.Nodes() {
			priv, _, _ := e.keys.Get(x)
			secrets = append(secrets, captured{fmt.Sprintf("private key of node %d", x), priv})
		}
		rec := e.protector.Tree().Export()
		leaves = len(rec.Leaves)
		// What is captured is the live epoch: secrets, not zeros.
		for _, c := range secrets {
			if len(c.buf) == 0 || allZero(c.buf) {
				t.Errorf("staged epoch: %s is empty or zero before the validation ended", c.name)
			}
		}
	}
	f := j.c.Storage.(*storagetest.Faulty)
	var writes []string
	f.FailWhen(func(op storagetest.Op) bool {
		if !strings.HasPrefix(op.Name, "Read") && !strings.HasPrefix(op.Name, "List") {
			writes = append(writes, op.Name)
		}
		return false
	})
	sw, err := pw.Stage(nil)
	f.Reset()
	if err == nil {
		t.Fatal("Stage accepted a tree with a leaf whose signature fails")
	}
	if !errors.Is(err, ratchettree.ErrBadLeafSignature) {
		t.Fatalf("Stage: %v, want ErrBadLeafSignature", err)
	}
	if sw != nil {
		t.Fatal("a failed Stage returned a StagedWelcome")
	}
	if staged == nil {
		t.Fatal("Stage failed before deriving the epoch: the erasure was not exercised")
	}
	// The private keys are our leaf's and the path_secret's node's.
	if n := len(secrets) - 9; n != 2 {
		t.Fatalf("the staged epoch held %d private keys, want 2", n)
	}
	if leaves == 0 {
		t.Fatal("the staged secret tree held no leaf ratchets")
	}
	for _, c := range secrets {
		if !allZero(c.buf) {
			t.Errorf("after the failed Stage, the staged epoch's %s is not erased", c.name)
		}
	}
	if n := staged.keys.Len(); n != 0 {
		t.Errorf("after the failed Stage, the staged epoch holds %d private keys", n)
	}
	if rec := staged.protector.Tree().Export(); len(rec.Nodes) != 0 || len(rec.Leaves) != 0 {
		t.Errorf("after the failed Stage, the staged secret tree holds %d node secrets and %d leaves", len(rec.Nodes), len(rec.Leaves))
	}
	if len(writes) != 0 {
		t.Errorf("ProcessWelcome and the failed Stage changed storage: %v", writes)
	}
	if _, _, err := j.c.Storage.ReadGroupState(a.g.GroupID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("group state after the failed Stage: %v, want ErrNotFound", err)
	}
	pw.Discard()

	// The KeyPackage is still there: with every signature valid, the same
	// Welcome joins with it, in a's epoch.
	if _, err := LoadKeyPackageBundle(j.c.Storage, ref); err != nil {
		t.Fatalf("the KeyPackage after the failed Stage: %v", err)
	}
	p.setBad(nil)
	g, err := JoinFromWelcome(j.c, res.Welcome, nil, s.cfg)
	if err != nil {
		t.Fatalf("joining again after the failed Stage: %v", err)
	}
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.EpochAuthenticator(), a.g.EpochAuthenticator()) {
		t.Fatal("the joiner's epoch after the retry is not the committer's")
	}
	if _, err := LoadKeyPackageBundle(j.c.Storage, ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("the KeyPackage after the join: %v, want ErrNotFound (consumed)", err)
	}
}
