//go:build !unix

package codec_test

import "time"

// processCPUTime is not available here: the budget tests use wall time.
func processCPUTime() (time.Duration, bool) { return 0, false }
