package sqlitestore_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/sqlitestore"
)

const suite = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519

func newClient(t testing.TB, p providers.Provider, s providers.Storage, name string) (*mls.Client, *codec.KeyPackage) {
	t.Helper()
	signer, err := mls.GenerateSignatureKeyPair(p, suite)
	if err != nil {
		t.Fatal(err)
	}
	c := &mls.Client{Provider: p, Storage: s, Signer: signer, Credential: mls.NewBasicCredential([]byte(name))}
	b := &mls.KeyPackageBuilder{Provider: p, CipherSuite: suite, Credential: c.Credential, Signer: signer}
	kp, err := b.BuildAndStore(s)
	if err != nil {
		t.Fatal(err)
	}
	return c, &kp.KeyPackage
}

// TestGroupsShareOneDatabase runs independent MLS sessions, one per
// goroutine, whose clients all keep their state in one database file (a
// namespace each), then reloads every group from the file (run with -race).
func TestGroupsShareOneDatabase(t *testing.T) {
	db, err := sqlitestore.Open(filepath.Join(t.TempDir(), "mls.db"), &sqlitestore.Options{
		Synchronous: sqlitestore.SyncNormal, Erasure: sqlitestore.EraseOnCheckpoint,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := defaultcrypto.New()
	const sessions, rounds = 4, 3
	type pair struct {
		a, b   *mls.Client
		ga, gb *mls.Group
	}
	pairs := make([]*pair, sessions)
	for i := range pairs {
		pr := &pair{}
		pr.a, _ = newClient(t, p, db.Store(fmt.Appendf(nil, "alice-%d", i)), "alice")
		var kp *codec.KeyPackage
		pr.b, kp = newClient(t, p, db.Store(fmt.Appendf(nil, "bob-%d", i)), "bob")
		cfg := mls.GroupConfig{UseRatchetTreeExtension: true}
		if pr.ga, err = mls.NewGroup(pr.a, suite, cfg, &mls.CreateOptions{GroupID: fmt.Appendf(nil, "group-%d", i)}); err != nil {
			t.Fatal(err)
		}
		res, err := pr.ga.AddMembers(kp)
		if err != nil {
			t.Fatal(err)
		}
		if err := pr.ga.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		if pr.gb, err = mls.JoinFromWelcome(pr.b, res.Welcome, nil, cfg); err != nil {
			t.Fatal(err)
		}
		pairs[i] = pr
	}
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i, pr := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := func() error {
				for r := range rounds {
					// Messages both ways.
					for _, d := range [][2]*mls.Group{{pr.ga, pr.gb}, {pr.gb, pr.ga}} {
						msg, err := d[0].SendApplicationMessage(fmt.Appendf(nil, "s%d r%d", i, r), nil)
						if err != nil {
							return err
						}
						pm, err := d[1].ProcessMessage(msg)
						if err != nil {
							return err
						}
						if string(pm.ApplicationData) != fmt.Sprintf("s%d r%d", i, r) {
							return fmt.Errorf("got %q", pm.ApplicationData)
						}
					}
					// A self-update by one of them, in turn.
					from, to := pr.ga, pr.gb
					if r%2 == 1 {
						from, to = pr.gb, pr.ga
					}
					res, err := from.SelfUpdate(nil)
					if err != nil {
						return err
					}
					if err := from.MergePendingCommit(); err != nil {
						return err
					}
					pm, err := to.ProcessMessage(res.Commit)
					if err != nil {
						return err
					}
					if err := to.MergeStagedCommit(pm.Commit); err != nil {
						return err
					}
				}
				return nil
			}()
			if err != nil {
				errs <- fmt.Errorf("session %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, pr := range pairs {
		for _, m := range []struct {
			c *mls.Client
			g *mls.Group
		}{{pr.a, pr.ga}, {pr.b, pr.gb}} {
			g, err := mls.LoadGroup(m.c, m.g.GroupID())
			if err != nil {
				t.Fatalf("session %d: LoadGroup: %v", i, err)
			}
			if g.Epoch() != 1+rounds || !bytes.Equal(g.EpochAuthenticator(), m.g.EpochAuthenticator()) {
				t.Fatalf("session %d: loaded epoch %d, want %d and the same authenticator", i, g.Epoch(), 1+rounds)
			}
		}
	}
}
