//go:build !linux

package framing_test

import "time"

// threadCPUTime is unavailable off Linux; benchmarks then report wall time
// only.
func threadCPUTime() (time.Duration, bool) { return 0, false }
