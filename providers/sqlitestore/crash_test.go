package sqlitestore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlskit/mlskit/providers"
)

// crashEnv names the database a child process of TestKilledWriter works on.
const crashEnv = "SQLITESTORE_CRASH_CHILD_DB"

// crashStep is the transaction number i of the crash test: it advances a
// counter, writes a group state and an epoch record derived from i, and
// deletes the epoch record of i-3, so that a torn transaction shows.
func crashStep(tx providers.Records, i uint64) error {
	if err := tx.WritePSK([]byte("counter"), binary.BigEndian.AppendUint64(nil, i)); err != nil {
		return err
	}
	if err := tx.WriteEpochSecrets([]byte("g"), i, crashValue(i, 3000)); err != nil {
		return err
	}
	if i >= 3 {
		if err := tx.DeleteEpochSecrets([]byte("g"), i-3); err != nil {
			return err
		}
	}
	return tx.WriteGroupState([]byte("g"), uint16(i), crashValue(i, 700))
}

func crashValue(i uint64, n int) []byte {
	return bytes.Repeat(binary.BigEndian.AppendUint64(nil, i), n/8)
}

// crashChild runs transactions until it is killed, printing the number of
// each one that committed.
func crashChild(path string) {
	db, err := Open(path, &Options{Synchronous: SyncNormal})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	s := db.Store([]byte("crash"))
	i := uint64(1)
	if v, err := s.ReadPSK([]byte("counter")); err == nil {
		i = binary.BigEndian.Uint64(v) + 1
	}
	w := bufio.NewWriter(os.Stdout)
	for ; ; i++ {
		if err := s.Update(func(tx providers.Records) error { return crashStep(tx, i) }); err != nil {
			fmt.Fprintln(w, "error", err)
			w.Flush()
			os.Exit(1)
		}
		fmt.Fprintln(w, "committed", i)
		w.Flush()
	}
}

// TestKilledWriter kills a process writing transactions to the database
// with SIGKILL at random moments; after every kill the database opens,
// passes the integrity check and holds exactly the transactions that
// reported their commit, plus possibly the one in flight, each whole.
func TestKilledWriter(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("short")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	const kills = 25
	var acked uint64
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriter$")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Kill after the first commit, at a random moment within the
		// following 0-60 ms.
		first := true
		var kill <-chan time.Time
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				if rest, ok := strings.CutPrefix(l, "committed "); ok {
					n, _ := strconv.ParseUint(rest, 10, 64)
					acked = max(acked, n)
					if first {
						first = false
						kill = time.After(time.Duration(rand.IntN(60_000)) * time.Microsecond)
					}
				} else {
					t.Fatalf("child: %s", l)
				}
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				kill = nil
			case <-time.After(2 * time.Minute): // no progress at all, even on a loaded machine
				cmd.Process.Kill()
				t.Fatal("child made no progress in 2 min")
			}
		}
		cmd.Wait()
		checkCrashState(t, path, acked, k)
	}
	t.Logf("%d kills, %d transactions committed", kills, acked)
}

// checkCrashState opens the database after a kill and checks it.
func checkCrashState(t *testing.T, path string, acked uint64, k int) {
	t.Helper()
	db, err := Open(path, fast)
	if err != nil {
		t.Fatalf("kill %d: Open: %v", k, err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		t.Fatalf("kill %d: %v", k, err)
	}
	s := db.Store([]byte("crash"))
	v, err := s.ReadPSK([]byte("counter"))
	if err != nil {
		t.Fatalf("kill %d: counter: %v", k, err)
	}
	c := binary.BigEndian.Uint64(v)
	if c < acked || c > acked+1 {
		t.Fatalf("kill %d: counter %d, but %d transactions reported their commit", k, c, acked)
	}
	ver, st, err := s.ReadGroupState([]byte("g"))
	if err != nil || ver != uint16(c) || !bytes.Equal(st, crashValue(c, 700)) {
		t.Fatalf("kill %d: group state (version %d) is not that of transaction %d: %v", k, ver, c, err)
	}
	var want []uint64
	for e := max(int64(c)-2, 1); e <= int64(c); e++ {
		want = append(want, uint64(e))
	}
	eps, err := s.ListEpochs([]byte("g"))
	if err != nil || !slices.Equal(eps, want) {
		t.Fatalf("kill %d: epochs %v, want %v (%v)", k, eps, want, err)
	}
	for _, e := range eps {
		if v, err := s.ReadEpochSecrets([]byte("g"), e); err != nil || !bytes.Equal(v, crashValue(e, 3000)) {
			t.Fatalf("kill %d: epoch %d: %v", k, e, errors.Join(err, errors.New("wrong value")))
		}
	}
}
