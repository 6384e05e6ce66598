// Package benchhook connects the benchmark fixtures (internal/groupbench,
// cmd/mlsbench) to unexported parts of package mls that only benchmarks
// need. Package mls sets the hooks in an init function; being internal to
// the module, nothing outside mlskit can import or call them.
package benchhook

import "github.com/mlskit/mlskit/providers"

// Forger protects application messages of one epoch as any member whose
// signer it is given.
type Forger func(leaf uint32, signer providers.Signer, data []byte) ([]byte, error)

// NewForger, set by package mls, returns a Forger for the current epoch of
// group (a *mls.Group), working on a copy of the epoch's secret tree taken
// now: the messages it makes are those the members would send, each
// sender's first from generation 0, and the group can process them. The
// group itself is not changed.
var NewForger func(group any) (Forger, error)
