//go:build !unix

package main

import "time"

// processCPU is not measured on this system: the cpu columns show "—".
func processCPU() time.Duration { return 0 }
