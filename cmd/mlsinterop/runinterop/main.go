// Command runinterop runs the MLS working group's interop harness against
// two mlsinterop servers (mlskit against itself): it starts the servers on
// free loopback ports, runs the test runner for every config and cipher
// suite (both handshake modes; the configs named by -random with the
// runner's -random), each under a timeout, prints a pass table per config ×
// suite, stops the servers, and exits 1 if anything failed. make interop
// builds the binaries and runs it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type scriptResult struct {
	CipherSuite uint32 `json:"cipher_suite"`
	Encrypt     bool   `json:"encrypt_flag"`
	Error       any    `json:"error"`
	FailedStep  *int   `json:"failed_step"`
	FailedJSON  string `json:"failed_step_json"`
}

type results struct {
	Scripts map[string][]scriptResult `json:"scripts"`
}

type cell struct {
	pass, total int
	note        string
}

func main() {
	runner := flag.String("runner", "", "path of the harness's mls-test-runner")
	server := flag.String("server", "", "path of mlsinterop")
	configs := flag.String("configs", "../shared/interop/interop/configs", "directory of the harness configs")
	suitesFlag := flag.String("suites", "1,2,3,4,5,6,7", "comma-separated cipher suites")
	random := flag.String("random", "deep_random", "comma-separated configs run with -random")
	timeout := flag.Duration("timeout", 10*time.Minute, "timeout of one runner invocation")
	verbose := flag.Bool("v", false, "print every failed script")
	flag.Parse()
	if *runner == "" || *server == "" {
		fmt.Fprintln(os.Stderr, "runinterop: -runner and -server are required")
		os.Exit(2)
	}
	suites := strings.Split(*suitesFlag, ",")
	randomSet := map[string]bool{}
	for _, r := range strings.Split(*random, ",") {
		randomSet[r] = true
	}
	files, err := filepath.Glob(filepath.Join(*configs, "*.json"))
	if err != nil || len(files) == 0 {
		fmt.Fprintf(os.Stderr, "runinterop: no configs in %s (%v)\n", *configs, err)
		os.Exit(2)
	}
	sort.Strings(files)

	var addrs []string
	var procs []*exec.Cmd
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			for _, p := range procs {
				_ = p.Process.Signal(os.Interrupt)
				done := make(chan struct{})
				go func() { _ = p.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					_ = p.Process.Kill()
				}
			}
		})
	}
	for range 2 {
		port, err := freePort()
		if err != nil {
			fmt.Fprintf(os.Stderr, "runinterop: %v\n", err)
			stop()
			os.Exit(2)
		}
		cmd := exec.Command(*server, "-port", strconv.Itoa(port))
		cmd.Stderr = os.Stderr
		// The servers die with us, even if we are killed.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "runinterop: starting %s: %v\n", *server, err)
			stop()
			os.Exit(2)
		}
		procs = append(procs, cmd)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if err := waitListening(addr, 30*time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "runinterop: %v\n", err)
			stop()
			os.Exit(2)
		}
		addrs = append(addrs, addr)
	}
	fmt.Printf("servers: %s\n", strings.Join(addrs, ", "))
	// Stop the servers on SIGINT/SIGTERM (a timeout) too.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "runinterop: %v: stopping the servers\n", s)
		stop()
		os.Exit(1)
	}()

	table := map[string]map[string]*cell{}
	var names []string
	failed := false
	start := time.Now()
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		names = append(names, name)
		table[name] = map[string]*cell{}
		for _, suite := range suites {
			args := []string{"-config", f, "-suite", suite}
			for _, a := range addrs {
				args = append(args, "-client", a)
			}
			if randomSet[name] {
				args = append(args, "-random")
			}
			t0 := time.Now()
			c := run(*runner, args, *timeout, *verbose, name, suite)
			table[name][suite] = c
			if c.pass != c.total || c.total == 0 {
				failed = true
			}
			fmt.Fprintf(os.Stderr, "%-20s suite %-3s %3d/%-3d %6.1fs %s\n", name, suite, c.pass, c.total, time.Since(t0).Seconds(), c.note)
		}
	}
	stop()

	// The table: passed/total scripts (both handshake modes) per config and suite.
	fmt.Println()
	fmt.Printf("%-20s", "config \\ suite")
	for _, s := range suites {
		fmt.Printf(" %9s", s)
	}
	fmt.Println()
	for _, n := range names {
		fmt.Printf("%-20s", n)
		for _, s := range suites {
			c := table[n][s]
			mark := "ok"
			if c.pass != c.total || c.total == 0 {
				mark = "FAIL"
			}
			fmt.Printf(" %9s", fmt.Sprintf("%d/%d %s", c.pass, c.total, mark))
		}
		fmt.Println()
	}
	fmt.Printf("\n(passed/total script runs; each script in both handshake modes; %s with -random) in %s\n", *random, time.Since(start).Round(time.Second))
	if failed {
		fmt.Println("interop: FAIL")
		os.Exit(1)
	}
	fmt.Println("interop: PASS")
}

// run runs the test runner once and counts the script results.
func run(runner string, args []string, timeout time.Duration, verbose bool, name, suite string) *cell {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, runner, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	c := &cell{}
	if ctx.Err() != nil {
		c.note = "timeout"
		return c
	}
	var r results
	if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil {
		c.note = fmt.Sprintf("runner failed: %v: %s", err, lastLine(errb.String()))
		return c
	}
	for script, rs := range r.Scripts {
		for _, x := range rs {
			c.total++
			if x.FailedStep == nil {
				c.pass++
				continue
			}
			if verbose {
				fmt.Fprintf(os.Stderr, "FAIL %s/%s suite %s encrypt=%v step %d %s: %v\n", name, script, suite, x.Encrypt, *x.FailedStep, x.FailedJSON, x.Error)
			} else if c.note == "" {
				c.note = fmt.Sprintf("first failure: %s encrypt=%v step %d: %v", script, x.Encrypt, *x.FailedStep, x.Error)
			}
		}
	}
	return c
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s after %v", addr, d)
}
