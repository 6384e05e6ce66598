//go:build !unix

package cputime

import "time"

// Process is not available on this system: it returns 0.
func Process() time.Duration { return 0 }

// ProcessAvailable reports whether Process measures anything here.
func ProcessAvailable() bool { return false }
