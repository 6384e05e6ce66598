package mls

import (
	"bytes"
	"sync"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// openLogProvider is a provider whose cipher suites record what their
// SplitInfoOpener is given and count the calls to their OpenBase.
type openLogProvider struct {
	providers.Provider
	mu       sync.Mutex
	opens    []splitOpen
	openBase int
}

type splitOpen struct{ pub, head, tail []byte }

type openLogSuite struct {
	providers.CipherSuite
	log *openLogProvider
}

func (p *openLogProvider) CipherSuite(id codec.CipherSuite) (providers.CipherSuite, error) {
	cs, err := p.Provider.CipherSuite(id)
	if err != nil {
		return nil, err
	}
	return &openLogSuite{CipherSuite: cs, log: p}, nil
}

func (s *openLogSuite) OpenBase(priv, kemOutput, info, aad, ct []byte) ([]byte, error) {
	s.log.mu.Lock()
	s.log.openBase++
	s.log.mu.Unlock()
	return s.CipherSuite.OpenBase(priv, kemOutput, info, aad, ct)
}

func (s *openLogSuite) OpenBaseSplitInfo(priv, pub, kemOutput, head, tail, aad, ct []byte) ([]byte, error) {
	s.log.mu.Lock()
	s.log.opens = append(s.log.opens, splitOpen{pub: bytes.Clone(pub), head: bytes.Clone(head), tail: bytes.Clone(tail)})
	s.log.mu.Unlock()
	return providers.OpenBaseSplitInfo(s.CipherSuite, priv, pub, kemOutput, head, tail, aad, ct)
}

// TestWelcomeOpensWithInitKey: a joiner opens its GroupSecrets (RFC 9420
// §12.4.3.1) once, through the suite's SplitInfoOpener, never OpenBase,
// with the init_key of its KeyPackage as the recipient's public key (the
// pk(skR) of RFC 9180 §4.1's KEM context, not computed from the private
// key) and the encrypted GroupInfo as the tail of the info, after the
// label: EncryptContext{"MLS 1.0 Welcome", encrypted_group_info} in two
// parts, the GroupInfo not copied into one.
func TestWelcomeOpensWithInitKey(t *testing.T) {
	s := newGTSim(t, gtSuites[0], GroupConfig{UseRatchetTreeExtension: true})
	a := s.members[0]
	s.add(a, 2, false)
	log := &openLogProvider{Provider: s.p}
	s.p = log
	j := s.newClient()
	kp := gtKeyPackage(t, j.c, s.suite)
	res := gtMust(a.g.Commit(CommitOptions{Add: []*codec.KeyPackage{kp}}))(t)
	var m codec.MLSMessage
	if err := m.Unmarshal(res.Welcome); err != nil || m.Welcome == nil {
		t.Fatalf("the Commit's Welcome: %v", err)
	}
	wantInfo, err := providers.EncryptContext(labelWelcome, m.Welcome.EncryptedGroupInfo)
	if err != nil {
		t.Fatal(err)
	}
	s.applyCommit(a, res, j)
	if log.openBase != 0 {
		t.Errorf("%d OpenBase calls, want none", log.openBase)
	}
	if len(log.opens) != 1 {
		t.Fatalf("%d split-info opens, want 1", len(log.opens))
	}
	o := log.opens[0]
	if !bytes.Equal(o.pub, kp.InitKey) {
		t.Errorf("public key %x, want the KeyPackage's init_key %x", o.pub, kp.InitKey)
	}
	if !bytes.Equal(o.tail, m.Welcome.EncryptedGroupInfo) || !bytes.Equal(append(o.head, o.tail...), wantInfo) {
		t.Errorf("info given as %d + %d bytes, want the EncryptContext's header and the %d-byte encrypted GroupInfo", len(o.head), len(o.tail), len(m.Welcome.EncryptedGroupInfo))
	}
}
