//go:build !linux

package cputime

import "time"

// Thread is available on Linux only: it returns false here.
func Thread() (time.Duration, bool) { return 0, false }
