//go:build !unix

package ratchettree

import "time"

func processCPU() time.Duration { return 0 }
