package mls

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testvectors"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

type passiveCase struct {
	CipherSuite  uint16 `json:"cipher_suite"`
	ExternalPSKs []struct {
		PSKID testvectors.HexBytes `json:"psk_id"`
		PSK   testvectors.HexBytes `json:"psk"`
	} `json:"external_psks"`
	KeyPackage                testvectors.HexBytes `json:"key_package"`
	SignaturePriv             testvectors.HexBytes `json:"signature_priv"`
	EncryptionPriv            testvectors.HexBytes `json:"encryption_priv"`
	InitPriv                  testvectors.HexBytes `json:"init_priv"`
	Welcome                   testvectors.HexBytes `json:"welcome"`
	RatchetTree               testvectors.HexBytes `json:"ratchet_tree"`
	InitialEpochAuthenticator testvectors.HexBytes `json:"initial_epoch_authenticator"`
	Epochs                    []struct {
		Proposals          []testvectors.HexBytes `json:"proposals"`
		Commit             testvectors.HexBytes   `json:"commit"`
		EpochAuthenticator testvectors.HexBytes   `json:"epoch_authenticator"`
	} `json:"epochs"`
}

// TestPassiveClient runs every passive-client-*.json file of the vectors
// (RFC 9420 test vectors, "Passive Client Scenarios"; the repository's and
// those in MLS_TEST_VECTORS): join from the Welcome, then follow every
// epoch, comparing epoch authenticators. With -short under wasm, where
// the whole files take over a minute, it runs each scenario in one suite
// only (passiveCasesToRun).
func TestPassiveClient(t *testing.T) {
	for _, name := range testvectors.Files(t, "passive-client-*.json") {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			var cases []passiveCase
			testvectors.Load(t, name, &cases)
			run, want := passiveCasesToRun(cases)
			ran := testvectors.Expect(t, name, want)
			passed, epochs := 0, 0
			for i := range cases {
				if !run[i] {
					continue
				}
				c := &cases[i]
				t.Run(fmt.Sprintf("%d/suite%d", i, c.CipherSuite), func(t *testing.T) {
					n, err := runPassive(c, nil)
					epochs += n
					if err != nil {
						t.Fatal(err)
					}
					passed++
					ran.Ran()
				})
			}
			t.Logf("%s: %d/%d cases passed, %d epochs followed (%d cases in the file)", name, passed, want, epochs, len(cases))
		})
	}
}

// passiveCasesToRun returns which cases of a passive-client file the
// passive tests run (TestPassiveClient, TestPublicGroupPassiveClient), and
// how many: all, but with -short under wasm only those passiveShortWasm
// picks.
func passiveCasesToRun(cases []passiveCase) (run []bool, n int) {
	light := testing.Short() && runtime.GOARCH == "wasm"
	run = make([]bool, len(cases))
	for i := range run {
		run[i] = !light || passiveShortWasm(cases, i)
		if run[i] {
			n++
		}
	}
	return run, n
}

// passiveShortWasm reports whether the short run under wasm runs case i.
// The files list the same scenarios for each cipher suite in turn; the j-th
// case of the k-th suite runs when j ≡ k (mod the number of suites), so
// every scenario runs once and every suite at least once when there are
// at least as many scenarios as suites.
func passiveShortWasm(cases []passiveCase, i int) bool {
	suites := map[uint16]int{} // suite → ordinal, in order of appearance
	j := 0                     // position of case i among its suite's
	for x := range cases[:i+1] {
		s := cases[x].CipherSuite
		if _, ok := suites[s]; !ok {
			suites[s] = len(suites)
		}
		if x < i && s == cases[i].CipherSuite {
			j++
		}
	}
	for x := i + 1; x < len(cases); x++ {
		if _, ok := suites[cases[x].CipherSuite]; !ok {
			suites[cases[x].CipherSuite] = len(suites)
		}
	}
	return j%len(suites) == suites[cases[i].CipherSuite]
}

// passiveObserver watches a passive client session: the group once
// joined, each message before the member processes it, and the group after
// each merge.
type passiveObserver interface {
	joined(g *Group) error
	message(epoch int, msg []byte, commit bool) error
	merged(epoch int, g *Group) error
}

func runPassive(c *passiveCase, obs passiveObserver) (int, error) {
	p := defaultcrypto.New()
	store := memstore.New()
	suite := codec.CipherSuite(c.CipherSuite)
	cs, err := p.CipherSuite(suite)
	if err != nil {
		return 0, err
	}
	var kpm codec.MLSMessage
	if err := kpm.Unmarshal(c.KeyPackage); err != nil {
		return 0, fmt.Errorf("key package: %w", err)
	}
	kp := kpm.KeyPackage
	// Some P-521 private keys in the vectors lack their leading zero byte
	// (65 bytes); RFC 9180 §7.1.2 serializes them in Nsk = 66 bytes, which
	// the providers require, so they are left-padded here.
	if suite == codec.CipherSuite(5) {
		c.SignaturePriv = padTo(c.SignaturePriv, 66)
		c.EncryptionPriv = padTo(c.EncryptionPriv, 66)
		c.InitPriv = padTo(c.InitPriv, 66)
	}
	ref, err := KeyPackageRef(cs, kp)
	if err != nil {
		return 0, err
	}
	b := &KeyPackageBundle{KeyPackage: *kp, Ref: ref, InitPrivateKey: c.InitPriv, EncryptionPrivateKey: c.EncryptionPriv}
	if err := b.Store(store); err != nil {
		return 0, err
	}
	for _, psk := range c.ExternalPSKs {
		if err := StoreExternalPSK(store, psk.PSKID, psk.PSK); err != nil {
			return 0, err
		}
	}
	signer, err := NewSignatureKeyPair(p, suite, c.SignaturePriv)
	if err != nil {
		return 0, err
	}
	if !bytes.Equal(signer.PublicKey(), kp.LeafNode.SignatureKey) {
		return 0, fmt.Errorf("signature_priv does not match the key package")
	}
	client := &Client{Provider: p, Storage: store, Signer: signer, Credential: CredentialFromWire(&kp.LeafNode.Credential)}
	// The vectors' leaves carry lifetimes of their generation time.
	client.IgnoreReceivedLifetimes = true
	var cfg GroupConfig
	cfg.WireFormatPolicy = WireFormatPolicy{Outgoing: MixedPlaintext().Outgoing, Incoming: IncomingMixed}
	cfg.NumberOfResumptionPSKs = 16
	var tree codec.RatchetTree
	if len(c.RatchetTree) > 0 {
		if err := tree.Unmarshal(c.RatchetTree); err != nil {
			return 0, fmt.Errorf("ratchet_tree: %w", err)
		}
	}
	g, err := JoinFromWelcome(client, c.Welcome, tree, cfg)
	if err != nil {
		return 0, fmt.Errorf("join: %w", err)
	}
	if !bytes.Equal(g.EpochAuthenticator(), c.InitialEpochAuthenticator) {
		return 0, fmt.Errorf("initial epoch authenticator differs")
	}
	if obs != nil {
		if err := obs.joined(g); err != nil {
			return 0, err
		}
	}
	for i, ep := range c.Epochs {
		for j, pb := range ep.Proposals {
			if obs != nil {
				if err := obs.message(i, pb, false); err != nil {
					return i, fmt.Errorf("epoch %d proposal %d: %w", i, j, err)
				}
			}
			pm, err := g.ProcessMessage(pb)
			if err != nil {
				return i, fmt.Errorf("epoch %d proposal %d: %w", i, j, err)
			}
			if pm.Kind != KindProposal {
				return i, fmt.Errorf("epoch %d proposal %d: kind %d", i, j, pm.Kind)
			}
			if err := g.StoreProposal(pm.Proposal); err != nil {
				return i, err
			}
		}
		if obs != nil {
			if err := obs.message(i, ep.Commit, true); err != nil {
				return i, fmt.Errorf("epoch %d commit: %w", i, err)
			}
		}
		pm, err := g.ProcessMessage(ep.Commit)
		if err != nil {
			return i, fmt.Errorf("epoch %d commit: %w", i, err)
		}
		if pm.Kind != KindCommit {
			return i, fmt.Errorf("epoch %d commit: kind %d", i, pm.Kind)
		}
		if err := g.MergeStagedCommit(pm.Commit); err != nil {
			return i, fmt.Errorf("epoch %d merge: %w", i, err)
		}
		if !bytes.Equal(g.EpochAuthenticator(), ep.EpochAuthenticator) {
			return i, fmt.Errorf("epoch %d: epoch authenticator differs", i)
		}
		if obs != nil {
			if err := obs.merged(i, g); err != nil {
				return i, fmt.Errorf("epoch %d: %w", i, err)
			}
		}
	}
	return len(c.Epochs), nil
}

func padTo(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(make([]byte, n-len(b)), b...)
}

// TestPassiveShortWasmSelection: the light selection of the short wasm run
// covers, in each committed passive-client file, every scenario exactly
// once and every cipher suite.
func TestPassiveShortWasmSelection(t *testing.T) {
	for _, name := range []string{"passive-client-welcome.json", "passive-client-handling-commit.json"} {
		var cases []passiveCase
		testvectors.Load(t, name, &cases)
		perSuite := map[uint16]int{}
		for _, c := range cases {
			perSuite[c.CipherSuite]++
		}
		scenarios := perSuite[cases[0].CipherSuite]
		for s, n := range perSuite {
			if n != scenarios {
				t.Fatalf("%s: suite %d has %d cases, suite %d has %d: not the same scenarios per suite", name, s, n, cases[0].CipherSuite, scenarios)
			}
		}
		seenScenario, seenSuite := map[int]int{}, map[uint16]bool{}
		pos := map[uint16]int{}
		for i, c := range cases {
			j := pos[c.CipherSuite]
			pos[c.CipherSuite]++
			if passiveShortWasm(cases, i) {
				seenScenario[j]++
				seenSuite[c.CipherSuite] = true
			}
		}
		for j := range scenarios {
			if seenScenario[j] != 1 {
				t.Errorf("%s: scenario %d runs %d times, want once", name, j, seenScenario[j])
			}
		}
		if scenarios >= len(perSuite) && len(seenSuite) != len(perSuite) {
			t.Errorf("%s: %d of %d suites run", name, len(seenSuite), len(perSuite))
		}
	}
}
