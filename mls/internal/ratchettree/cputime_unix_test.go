//go:build unix

package ratchettree

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time of the process so far, so
// that benchmarks on a shared machine can report CPU time next to wall
// time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
