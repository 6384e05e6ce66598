// Command runinterop runs the MLS working group's interop harness against
// mlsinterop servers (mlskit against itself): it starts -jobs lanes of two
// servers each on loopback ports the kernel picks, runs the test runner for
// every config and cipher suite (both handshake modes; the configs named by
// -random with the runner's -random), each under a timeout, one per lane at
// a time, prints a pass table per config × suite with the wall and CPU time
// (runner and servers) of each suite, stops the servers (also on SIGINT or
// SIGTERM; they and the runners die with it if it is killed), and exits 1
// if anything failed, after a FAILED line per failing config × suite. Its
// last line is "interop: N passed, M failed" (script runs). make interop
// builds the binaries and runs it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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
	// wall and cpu are the config's wall time and the CPU time of the
	// runner and both servers while it ran.
	wall, cpu time.Duration
}

func main() {
	runner := flag.String("runner", "", "path of the harness's mls-test-runner")
	server := flag.String("server", "", "path of mlsinterop")
	configs := flag.String("configs", "../shared/interop/interop/configs", "directory of the harness configs")
	suitesFlag := flag.String("suites", "1,2,3,4,5,6,7", "comma-separated cipher suites")
	random := flag.String("random", "deep_random", "comma-separated configs run with -random")
	timeout := flag.Duration("timeout", 10*time.Minute, "timeout of one runner invocation")
	verbose := flag.Bool("v", false, "print every failed script")
	jobs := flag.Int("jobs", 1, "configs × suites run at once, each lane with its own two servers")
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

	// The servers of every lane, stopped on every way out.
	var (
		procsMu sync.Mutex
		procs   []*exec.Cmd
	)
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			procsMu.Lock()
			defer procsMu.Unlock()
			for _, p := range procs {
				_ = p.Process.Signal(os.Interrupt)
			}
			for _, p := range procs {
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
	// Stop the servers on SIGINT/SIGTERM (a timeout) too.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "runinterop: %v: stopping the servers\n", s)
		stop()
		os.Exit(1)
	}()
	if *jobs < 1 {
		*jobs = 1
	}
	lanes := make([]*lane, *jobs)
	for i := range lanes {
		lanes[i] = &lane{}
		for range 2 {
			p, addr, err := startServer(*server)
			if p != nil {
				procsMu.Lock()
				procs = append(procs, p)
				procsMu.Unlock()
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "runinterop: %s: %v\n", *server, err)
				stop()
				os.Exit(2)
			}
			lanes[i].procs = append(lanes[i].procs, p)
			lanes[i].addrs = append(lanes[i].addrs, addr)
		}
		fmt.Printf("servers of lane %d: %s\n", i, strings.Join(lanes[i].addrs, ", "))
	}

	// The jobs, the costly ones first so that the lanes end together.
	table := map[string]map[string]*cell{}
	var names []string
	type job struct{ file, name, suite string }
	var todo []job
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		names = append(names, name)
		table[name] = map[string]*cell{}
		for _, suite := range suites {
			todo = append(todo, job{f, name, suite})
		}
	}
	sort.SliceStable(todo, func(i, j int) bool {
		return cost(todo[i].name, todo[i].suite) > cost(todo[j].name, todo[j].suite)
	})
	queue := make(chan job, len(todo))
	for _, j := range todo {
		queue <- j
	}
	close(queue)
	var (
		mu     sync.Mutex
		failed bool
		wg     sync.WaitGroup
	)
	start := time.Now()
	for _, l := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				args := []string{"-config", j.file, "-suite", j.suite}
				for _, a := range l.addrs {
					args = append(args, "-client", a)
				}
				if randomSet[j.name] {
					args = append(args, "-random")
				}
				t0, cpu0 := time.Now(), serversCPU(l.procs)
				c := run(*runner, args, *timeout, *verbose, j.name, j.suite)
				c.wall = time.Since(t0)
				c.cpu += serversCPU(l.procs) - cpu0
				mu.Lock()
				table[j.name][j.suite] = c
				if c.pass != c.total || c.total == 0 {
					failed = true
				}
				fmt.Fprintf(os.Stderr, "%-20s suite %-3s %3d/%-3d %7.1fs wall %7.1fs cpu %s\n", j.name, j.suite, c.pass, c.total, c.wall.Seconds(), c.cpu.Seconds(), c.note)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
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
	fmt.Printf("%-20s", "time wall/cpu (s)")
	var wall, cpu time.Duration
	for _, s := range suites {
		var w, c time.Duration
		for _, n := range names {
			w += table[n][s].wall
			c += table[n][s].cpu
		}
		wall, cpu = wall+w, cpu+c
		fmt.Printf(" %9s", fmt.Sprintf("%.0f/%.0f", w.Seconds(), c.Seconds()))
	}
	fmt.Println()
	fmt.Printf("\n(passed/total script runs; each script in both handshake modes; %s with -random; cpu: the runner's and both servers') in %s wall, %s cpu\n",
		*random, time.Since(start).Round(time.Second), cpu.Round(time.Second))
	if failed {
		// Every failing config × suite again, with its first failure.
		for _, n := range names {
			for _, s := range suites {
				if c := table[n][s]; c.pass != c.total || c.total == 0 {
					fmt.Printf("FAILED: config %s suite %s: %d/%d passed: %s\n", n, s, c.pass, c.total, c.note)
				}
			}
		}
	}
	// The closing line: script runs passed and failed; a config × suite
	// that gave no results (a timeout, a crash of the runner) counts as
	// one failure.
	passed, nfailed := 0, 0
	for _, n := range names {
		for _, s := range suites {
			c := table[n][s]
			passed += c.pass
			nfailed += c.total - c.pass
			if c.total == 0 {
				nfailed++
			}
		}
	}
	fmt.Printf("interop: %d passed, %d failed\n", passed, nfailed)
	if failed {
		os.Exit(1)
	}
}

// run runs the test runner once and counts the script results.
func run(runner string, args []string, timeout time.Duration, verbose bool, name, suite string) *cell {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, runner, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	c := &cell{}
	if cmd.ProcessState != nil {
		c.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if ctx.Err() != nil {
		c.note = fmt.Sprintf("timeout after %v (-timeout)", timeout)
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

// lane is a pair of servers that one runner at a time drives.
type lane struct {
	procs []*exec.Cmd
	addrs []string
}

// startServer starts a server on port 0 (the kernel picks a free port,
// which the server logs; no other process can take it meanwhile) and
// returns it with its address. The server dies with us, even if we are
// killed.
func startServer(server string) (*exec.Cmd, string, error) {
	cmd := exec.Command(server, "-port", "0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	addr, err := listenAddr(stderr, 60*time.Second)
	return cmd, addr, err
}

// cost is a rough relative CPU cost of a config × suite (measured, see the
// README), to start the long ones first.
func cost(config, suite string) int {
	c := map[string]int{"deep_random": 10, "commit": 10, "reinit": 4, "branch": 3, "external_proposals": 2}[config]
	if c == 0 {
		c = 1
	}
	switch suite {
	case "5":
		c *= 6
	case "7":
		c *= 3
	case "4", "6":
		c *= 2
	}
	return c
}

// listenAddr forwards a server's log to our stderr and returns the address
// of its "listening on ADDR" line, or an error if none comes within d.
func listenAddr(r io.Reader, d time.Duration) (string, error) {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(os.Stderr, line)
			if i := strings.Index(line, "listening on "); i >= 0 {
				select {
				case found <- strings.TrimSpace(line[i+len("listening on "):]):
				default:
				}
			}
		}
		close(found)
	}()
	select {
	case a, ok := <-found:
		if !ok {
			return "", errors.New("exited before listening")
		}
		return a, nil
	case <-time.After(d):
		return "", fmt.Errorf("not listening after %v", d)
	}
}

// serversCPU is the CPU time (user and system) the server processes have
// used so far, from /proc/PID/stat (Linux; 0 where it cannot be read).
func serversCPU(procs []*exec.Cmd) time.Duration {
	var total time.Duration
	for _, p := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Process.Pid))
		if err != nil {
			continue
		}
		// The fields after the command name (in parentheses, which may
		// hold spaces): state is field 3, utime and stime fields 14, 15.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		// Clock ticks of USER_HZ, 100 per second on Linux.
		total += time.Duration(ut+st) * (time.Second / 100)
	}
	return total
}
