package main

import (
	"strings"
	"testing"
)

func ev(action, pkg, test, out string) string {
	s := `{"Time":"2026-01-01T00:00:00Z","Action":"` + action + `","Package":"` + pkg + `"`
	if test != "" {
		s += `,"Test":"` + test + `"`
	}
	if out != "" {
		s += `,"Output":"` + out + `\n"`
	}
	return s + "}\n"
}

func run(t *testing.T, in string) (bool, string) {
	t.Helper()
	r := newReport()
	if err := r.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	ok := r.summarize(&b)
	return ok, b.String()
}

func TestReport(t *testing.T) {
	pass := ev("run", "p", "TestA", "") + ev("pass", "p", "TestA", "") + ev("pass", "p", "", "")
	failA := ev("run", "p", "TestA", "") + ev("output", "p", "TestA", "boom") + ev("fail", "p", "TestA", "") + ev("fail", "p", "", "")
	for _, c := range []struct {
		name string
		in   string
		ok   bool
		want []string
	}{
		{"all pass", pass + pass, true, []string{"2 results of 1 tests", "PASS"}},
		{"one failure of two", pass + failA, false, []string{"FLAKY p TestA: failed 1 of 2 runs", "boom", "FAIL: 1 failing"}},
		{"always fails", failA + failA, false, []string{"FAILS p TestA: failed 2 of 2 runs"}},
		{"build failure", pass + ev("build-output", "q", "", "syntax error") + ev("fail", "q", "", ""), false,
			[]string{"FAIL package q outside any test", "syntax error"}},
		{"unfinished run", pass + ev("run", "p", "TestA", "") + ev("output", "p", "", "panic: x") + ev("fail", "p", "", ""), false,
			[]string{"FLAKY p TestA: failed 0 of 2 runs (1 did not finish)"}},
		{"go test failed silently", pass + "go: bad pattern\n" + exitMarker + "1 fast\n", false,
			[]string{"exited with status 1 fast", "go: bad pattern"}},
		{"nothing ran", "", false, []string{"no test passed"}},
	} {
		ok, out := run(t, c.in)
		if ok != c.ok {
			t.Errorf("%s: ok = %v, want %v\n%s", c.name, ok, c.ok, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, out)
			}
		}
	}
}
