package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mlskit/mlskit/internal/storehook"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/memstore"
	"github.com/mlskit/mlskit/providers/sqlitestore"
)

// meter accumulates the time spent in storage calls, over every client of
// the benchmark.
type meter struct {
	ns atomic.Int64
}

// add is the storehook.Hooks.After of the clients' storage: it adds the
// time of every call, and of every transaction outside its function (the
// calls in it are timed on their own).
func (m *meter) add(_ storehook.Op, d time.Duration) { m.ns.Add(int64(d)) }

// read returns the total so far.
func (m *meter) read() time.Duration { return time.Duration(m.ns.Load()) }

// stores makes the clients' storage for one item of -store.
type stores struct {
	kind  string // "memory" or "sqlite"
	opts  sqlitestore.Options
	dir   string
	tmp   bool // dir is a temporary directory of ours
	id    int  // distinguishes the database files of several sqlite items
	db    *sqlitestore.DB
	meter meter
}

// parseStores reads -store, a comma-separated list of stores, each memory
// or sqlite[:full|normal][:commit|checkpoint|DELAY] (the durability and
// erasure of a sqlite item default to -sync and -erase). The sqlite items
// share dir, a temporary directory if empty.
func parseStores(list, syncMode, erase, dir string) ([]*stores, error) {
	var out []*stores
	var tmp string
	for i, item := range strings.Split(list, ",") {
		parts := strings.Split(strings.TrimSpace(item), ":")
		sync, er := syncMode, erase
		if len(parts) > 1 {
			sync = parts[1]
		}
		if len(parts) > 2 {
			er = parts[2]
		}
		if len(parts) > 3 || parts[0] != "sqlite" && len(parts) > 1 {
			return nil, fmt.Errorf("-store item %q: want memory or sqlite[:full|normal][:commit|checkpoint|DELAY]", item)
		}
		s, err := parseStore(parts[0], sync, er, dir)
		if err != nil {
			return nil, err
		}
		s.id = i
		if s.tmp {
			// One temporary directory for all.
			if tmp == "" {
				tmp = s.dir
			} else {
				os.RemoveAll(s.dir)
				s.dir, s.tmp = tmp, false
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// parseStore reads the storage flags of one store.
func parseStore(kind, syncMode, erase, dir string) (*stores, error) {
	s := &stores{kind: kind, dir: dir}
	switch kind {
	case "memory", "sqlite":
	default:
		return nil, fmt.Errorf("-store %q: want memory or sqlite", kind)
	}
	switch syncMode {
	case "full":
		s.opts.Synchronous = sqlitestore.SyncFull
	case "normal":
		s.opts.Synchronous = sqlitestore.SyncNormal
	default:
		return nil, fmt.Errorf("-sync %q: want full or normal", syncMode)
	}
	switch erase {
	case "commit":
		s.opts.Erasure = sqlitestore.EraseOnCommit
	case "checkpoint":
		s.opts.Erasure = sqlitestore.EraseOnCheckpoint
	default:
		d, err := time.ParseDuration(erase)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("-erase %q: want commit, checkpoint or a delay such as 1s", erase)
		}
		s.opts.Erasure, s.opts.EraseDelay = sqlitestore.EraseOnCheckpoint, d
	}
	if kind == "sqlite" && dir == "" {
		d, err := os.MkdirTemp("", "mlsbench-")
		if err != nil {
			return nil, err
		}
		s.dir, s.tmp = d, true
	}
	return s, nil
}

// label is a short name of the store, for the comparison table.
func (s *stores) label() string {
	if s.kind != "sqlite" {
		return "memory"
	}
	erase := "erase on commit"
	if s.opts.Erasure == sqlitestore.EraseOnCheckpoint {
		erase = "erase on checkpoint"
		if s.opts.EraseDelay > 0 {
			erase = fmt.Sprintf("erase within %v", s.opts.EraseDelay)
		}
	}
	return fmt.Sprintf("sqlite %v, %s", s.opts.Synchronous, erase)
}

func (s *stores) String() string {
	if s.kind != "sqlite" {
		return "memory (providers/memstore)"
	}
	erase := "erase on commit"
	if s.opts.Erasure == sqlitestore.EraseOnCheckpoint {
		erase = "erase on checkpoint"
		if s.opts.EraseDelay > 0 {
			erase = fmt.Sprintf("erase within %v", s.opts.EraseDelay)
		}
	}
	return fmt.Sprintf("sqlite (providers/sqlitestore) in %s, synchronous=%v, %s", s.dir, s.opts.Synchronous, erase)
}

// cleanup closes the database and removes a temporary directory.
func (s *stores) cleanup() {
	s.close()
	if s.tmp {
		os.RemoveAll(s.dir)
		s.tmp = false
	}
}

// open prepares a new database (sqlite) for one group size.
func (s *stores) open(n int) error {
	if s == nil || s.kind != "sqlite" {
		return nil
	}
	if s.db != nil {
		s.db.Close()
	}
	var err error
	s.db, err = sqlitestore.Open(filepath.Join(s.dir, fmt.Sprintf("mlsbench-%d-%d.db", n, s.id)), &s.opts)
	return err
}

func (s *stores) close() {
	if s != nil && s.db != nil {
		path := s.db.Path()
		s.db.Close()
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			os.Remove(f)
		}
		s.db = nil
	}
}

// newStorage returns the metered storage of the client name.
func (s *stores) newStorage(name string) providers.Storage {
	if s == nil {
		return memstore.New()
	}
	var st providers.Storage = memstore.New()
	if s.kind == "sqlite" {
		st = s.db.Store([]byte(name))
	}
	return storehook.New(st, storehook.Hooks{After: s.meter.add, ReuseTx: true})
}
