// Command flakyreport reads the output of one or more `go test -json` runs
// (typically with -count=N) from standard input and reports every test that
// did not pass every time it ran, and every package that failed outside a
// test (build error, panic, timeout). It exits with status 1 when there is
// any, or when no test passed at all; `make flaky` pipes its runs into it.
//
//	go test -json -count=100 ./codec/... | go run ./internal/flakyreport
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// testStats counts the outcomes of one test (package and full name).
type testStats struct {
	runs, pass, fail, skip int
	// out collects the output of the current run; firstFail keeps that of
	// the first failed run.
	out       []string
	firstFail []string
}

type report struct {
	progress io.Writer // package results as they arrive, or nil
	tests    map[string]*testStats
	pkgFail  map[string][]string // package -> output of its failed run(s), outside tests
	pkgOut   map[string][]string // package -> output outside tests, current run
	packages map[string]bool
	first    time.Time
	last     time.Time
	// exits are the non-zero exit statuses of go test runs, as the
	// Makefile reports them ("flakyreport-exit STATUS PHASE" lines);
	// other holds lines that are not test2json output.
	exits []string
	other []string
}

// exitMarker starts the line the Makefile writes when a go test run exits
// with a non-zero status.
const exitMarker = "flakyreport-exit "

const maxLines = 60

func newReport() *report {
	return &report{tests: map[string]*testStats{}, pkgFail: map[string][]string{}, pkgOut: map[string][]string{}, packages: map[string]bool{}}
}

func keep(lines []string, s string) []string {
	if len(lines) >= maxLines {
		lines = lines[1:]
	}
	return append(lines, s)
}

func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			s := strings.TrimSpace(string(line))
			if rest, ok := strings.CutPrefix(s, exitMarker); ok {
				r.exits = append(r.exits, rest)
			} else if s != "" {
				r.other = keep(r.other, s)
			}
			continue
		}
		r.add(&e)
	}
	return sc.Err()
}

func (r *report) add(e *event) {
	if !e.Time.IsZero() {
		if r.first.IsZero() || e.Time.Before(r.first) {
			r.first = e.Time
		}
		if e.Time.After(r.last) {
			r.last = e.Time
		}
	}
	if e.Package != "" {
		r.packages[e.Package] = true
	}
	if e.Test == "" {
		if r.progress != nil && (e.Action == "pass" || e.Action == "fail") {
			fmt.Fprintf(r.progress, "  %-4s %s (%.1fs)\n", e.Action, e.Package, e.Elapsed)
		}
		switch e.Action {
		case "output", "build-output":
			r.pkgOut[e.Package] = keep(r.pkgOut[e.Package], strings.TrimRight(e.Output, "\n"))
		case "fail", "build-fail":
			r.pkgFail[e.Package] = append(r.pkgFail[e.Package], r.pkgOut[e.Package]...)
			r.pkgOut[e.Package] = nil
			if len(r.pkgFail[e.Package]) == 0 {
				r.pkgFail[e.Package] = []string{"(no output)"}
			}
		case "pass", "skip":
			r.pkgOut[e.Package] = nil
		}
		return
	}
	key := e.Package + " " + e.Test
	st := r.tests[key]
	if st == nil {
		st = &testStats{}
		r.tests[key] = st
	}
	switch e.Action {
	case "run":
		st.runs++
		st.out = nil
	case "output":
		st.out = keep(st.out, strings.TrimRight(e.Output, "\n"))
	case "pass":
		st.pass++
	case "skip":
		st.skip++
	case "fail":
		st.fail++
		if st.firstFail == nil {
			st.firstFail = append([]string{}, st.out...)
		}
	}
}

// summarize writes the report and returns whether everything passed.
func (r *report) summarize(w io.Writer) bool {
	var keys []string
	results := 0
	passed := 0
	for k, st := range r.tests {
		keys = append(keys, k)
		results += st.pass + st.fail + st.skip
		passed += st.pass
	}
	sort.Strings(keys)
	ok := true
	var bad []string
	for _, k := range keys {
		st := r.tests[k]
		// A run that never ended (a panic or timeout in another test of the
		// package, or in this one) counts as failed too.
		unfinished := st.runs - (st.pass + st.fail + st.skip)
		if st.fail == 0 && unfinished <= 0 {
			continue
		}
		ok = false
		kind := "FLAKY"
		if st.pass == 0 {
			kind = "FAILS"
		}
		line := fmt.Sprintf("%s %s: failed %d of %d runs", kind, k, st.fail, st.runs)
		if unfinished > 0 {
			line += fmt.Sprintf(" (%d did not finish)", unfinished)
		}
		bad = append(bad, line)
		for _, o := range st.firstFail {
			bad = append(bad, "        "+o)
		}
	}
	var pkgs []string
	for p := range r.pkgFail {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, p := range pkgs {
		// A package whose run failed only because of a test reported above
		// adds nothing; otherwise (build error, panic, timeout, a test
		// that failed without a test event) show its output.
		if r.hasFailedTest(p) {
			continue
		}
		ok = false
		bad = append(bad, fmt.Sprintf("FAIL package %s outside any test:", p))
		for _, o := range r.pkgFail[p] {
			bad = append(bad, "        "+o)
		}
	}
	elapsed := ""
	if !r.first.IsZero() {
		elapsed = fmt.Sprintf(" over %s", r.last.Sub(r.first).Round(time.Second))
	}
	fmt.Fprintf(w, "flaky: %d results of %d tests (subtests included) in %d packages%s\n", results, len(keys), len(r.packages), elapsed)
	if passed == 0 {
		ok = false
		bad = append(bad, "no test passed: nothing was run?")
	}
	if ok && len(r.exits) > 0 {
		// go test failed, yet no test or package did: a go command error.
		ok = false
		for _, x := range r.exits {
			bad = append(bad, "go test exited with status "+x+" without a failing test")
		}
		for _, o := range r.other {
			bad = append(bad, "        "+o)
		}
	}
	if ok {
		fmt.Fprintf(w, "PASS: every test passed every time it ran\n")
		return true
	}
	for _, l := range bad {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "FAIL: %d failing or flaky tests listed above\n", len(bad)-countIndented(bad))
	return false
}

func (r *report) hasFailedTest(pkg string) bool {
	for k, st := range r.tests {
		if strings.HasPrefix(k, pkg+" ") && (st.fail > 0 || st.runs > st.pass+st.fail+st.skip) {
			return true
		}
	}
	return false
}

func countIndented(lines []string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "        ") {
			n++
		}
	}
	return n
}

func main() {
	r := newReport()
	r.progress = os.Stderr
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "flakyreport:", err)
		os.Exit(2)
	}
	if !r.summarize(os.Stdout) {
		os.Exit(1)
	}
}
