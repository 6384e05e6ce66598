package cputime

import (
	"runtime"
	"testing"
)

// TestMonotonic: readings never go backwards. (No assertion on amounts:
// they depend on the machine's load.)
func TestMonotonic(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p0, pok := Process(), ProcessAvailable()
	t0, tok := Thread()
	x := 0
	for i := range 1_000_000 {
		x += i
	}
	_ = x
	if p1 := Process(); pok && p1 < p0 {
		t.Errorf("process CPU time went from %v to %v", p0, p1)
	}
	if t1, ok := Thread(); tok && (!ok || t1 < t0) {
		t.Errorf("thread CPU time went from %v to %v", t0, t1)
	}
	t.Logf("process %v (%v), thread %v (%v)", p0, pok, t0, tok)
}
