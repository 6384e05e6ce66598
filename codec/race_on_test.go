//go:build race

package codec_test

// raceEnabled: the race detector slows code down too much for timing budgets.
const raceEnabled = true
