// Package cputime reads CPU time for the benchmarks and cmd/mlsbench,
// which report it next to wall time: on a machine shared with other work,
// wall time includes waiting for a core and CPU time does not.
//
// Nothing in `go test ./...` asserts a time budget: budgets belong to the
// benchmarks and cmd/mlsbench, whose figures are read, not pass/fail.
package cputime
