# mlskit — common tasks. Every target installs what it needs (Go modules from
# the module proxy); the only prerequisite is a Go 1.26 toolchain.

GO       ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
# gofmt of the same toolchain as $(GO).
GOFMT    ?= $(shell $(GO) env GOROOT)/bin/gofmt
FUZZTIME ?= 10s
# Cap on minimizing each new interesting input: minimizing one of the large
# inputs (>= 4 KiB, which take the decoders' slab path) can otherwise eat a
# whole short run.
FUZZMINIMIZETIME ?= 5s
BENCHTIME ?= 200ms
# Pinned linter, run through the module proxy (not a dependency of the module).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all deps generate check-generate vet test unit cross cross-build cross-test node test-short flaky fuzz fuzz-list bench benchtable demo inspect protoc interop interop-build

# cmd/mlsinterop is a module of its own (gRPC and protobuf stay out of
# mlskit's go.mod); these run the go tool in it.
INTEROP_DIR = cmd/mlsinterop
GO_INTEROP = cd $(INTEROP_DIR) && $(GO)

all: test

deps:
	$(GO) mod download

# protoc from Debian's protobuf-compiler, for the interop service's Go code.
protoc:
	@command -v protoc >/dev/null 2>&1 || { \
		echo "installing protobuf-compiler (protoc)"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq protobuf-compiler >/dev/null; }

# Regenerate the wire layer (codec/*_gen.go) from schema/*.tls, and the
# interop service's Go code (cmd/mlsinterop/proto/*.pb.go) from its proto.
generate: deps protoc
	$(GO) generate ./...
	$(GO_INTEROP) generate ./...

# Fail when the committed generated code differs from what the schema and
# the proto give.
check-generate: deps protoc
	@$(GO) generate ./...
	@$(GO_INTEROP) generate ./...
	@if ! git diff --quiet -- '*_gen.go' '*.pb.go' 2>/dev/null; then \
		echo "generated code is stale: run 'make generate' and commit:"; git diff --stat -- '*_gen.go' '*.pb.go'; exit 1; \
	fi

vet: deps
	@out="$$($(GOFMT) -l $$(git ls-files '*.go'))" || exit 1; test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO_INTEROP) mod tidy -diff
	$(GO_INTEROP) vet ./...
	$(GO_INTEROP) run $(STATICCHECK) ./...

# The full test suite, as CI runs it: generated code current, vet, the unit
# tests, then the cross-builds and the 386 and WebAssembly tests, then the
# interop harness when ../shared/interop is beside the clone. TESTFLAGS
# goes to the unit tests (make test TESTFLAGS=-v prints each vector file's
# count of cases run).
test: check-generate vet
	$(GO) test -count=1 $(TESTFLAGS) ./...
	$(GO_INTEROP) test -count=1 $(TESTFLAGS) ./...
	@$(MAKE) --no-print-directory cross
	@if test -d $(INTEROP_SHARED)/interop/test-runner; then \
		$(MAKE) --no-print-directory interop INTEROP_SUITES=$(INTEROP_CI_SUITES); \
	else \
		echo "interop: NOT RUN: the harness is not at $(INTEROP_SHARED) (a clone with nothing beside it; CI has ../shared)"; \
	fi

unit: deps
	$(GO) test -count=1 ./...
	$(GO_INTEROP) test -count=1 ./...

# Every package builds for 32-bit x86, arm64, js/wasm and wasip1/wasm, and
# the codec and mls tests run (-short) as 386 binaries and as js/wasm under
# Node.js. modernc.org/sqlite has no WebAssembly port, so the packages that
# need it (providers/sqlitestore and the commands built on it) are left out
# of the two wasm builds.
WASM_EXCLUDE    = /providers/sqlitestore$$|/cmd/mlsdemo$$|/cmd/mlsbench$$
CROSS_TEST_PKGS = ./codec ./mls
cross: cross-build cross-test

cross-build: deps
	GOARCH=386 $(GO) build ./...
	GOARCH=arm64 $(GO) build ./...
	GOOS=js GOARCH=wasm $(GO) build $$(GOOS=js GOARCH=wasm $(GO) list -e ./... | grep -vE '$(WASM_EXCLUDE)')
	GOOS=wasip1 GOARCH=wasm $(GO) build $$(GOOS=wasip1 GOARCH=wasm $(GO) list -e ./... | grep -vE '$(WASM_EXCLUDE)')

# The emulated runs are several times slower than native ones: the timeout
# is raised from go test's 10 minutes so that a loaded machine does not fail
# them (on a quiet 2-core machine they take a few minutes in all).
CROSS_TIMEOUT ?= 30m
cross-test: deps node
	GOARCH=386 $(GO) test -count=1 -short -timeout=$(CROSS_TIMEOUT) $(CROSS_TEST_PKGS)
	GOOS=js GOARCH=wasm $(GO) test -count=1 -short -timeout=$(CROSS_TIMEOUT) -exec="$$($(GO) env GOROOT)/lib/wasm/go_js_wasm_exec" $(CROSS_TEST_PKGS)

# Node.js runs Go's js/wasm test binaries; installed from the Debian
# packages when missing (as root, as CI runs).
node:
	@command -v node >/dev/null || { apt-get update && apt-get install -y nodejs; }

test-short: deps
	$(GO) test -short ./...

# Runs the fast packages many times and lists every test that did not pass
# every time it ran (internal/flakyreport reads the go test -json output);
# exits non-zero if there is one. Every randomized test draws a fresh seed
# on each run (internal/testseed), so the repeats also explore new inputs,
# and a failure prints its MLSKIT_SEED=... rerun command.
#
# Tuned for a shared 2-core machine, where -count=100 of everything takes
# well over an hour: all runs use -short (smaller property runs and
# groups); the tests in FLAKY_SLOW, each over 0.5 s even in -short (the
# treekem, tree-validation and tree-math vectors over every suite and tree
# implementation, the large property runs, the per-byte signature
# tampering), run FLAKY_SLOW_COUNT times instead of FLAKY_COUNT; package
# mls runs FLAKY_MLS_COUNT times. Takes 15-60 min depending on the load:
#   make flaky FLAKY_COUNT=100 FLAKY_SLOW_COUNT=10 FLAKY_MLS_COUNT=10
FLAKY_COUNT      ?= 100
FLAKY_SLOW_COUNT ?= 10
FLAKY_MLS_COUNT  ?= 10
FLAKY_PKGS = ./codec/... ./providers/... ./mls/internal/...
FLAKY_SLOW = ^(TestTreeKEMVectors|TestTreeKEMVectorsPublicMerge|TestTreeValidationVectors|TestAgainstAppendixC|TestPropertyGroups|TestProperties|TestCrossProviderSymmetric|TestCrossProviderAsymmetric|TestNegativeSignatures)$$
FLAKY_TEST = $(GO) test -json -short -timeout=180m
flaky: deps
	@echo "make flaky: $(FLAKY_PKGS) x$(FLAKY_COUNT) (FLAKY_SLOW x$(FLAKY_SLOW_COUNT)), ./mls x$(FLAKY_MLS_COUNT), all -short"
	@start=$$(date +%s); \
	{ $(FLAKY_TEST) -count=$(FLAKY_COUNT) -skip '$(FLAKY_SLOW)' $(FLAKY_PKGS) || echo "flakyreport-exit $$? (fast tests x$(FLAKY_COUNT))"; \
	  $(FLAKY_TEST) -count=$(FLAKY_SLOW_COUNT) -run '$(FLAKY_SLOW)' $(FLAKY_PKGS) || echo "flakyreport-exit $$? (FLAKY_SLOW x$(FLAKY_SLOW_COUNT))"; \
	  $(FLAKY_TEST) -count=$(FLAKY_MLS_COUNT) ./mls || echo "flakyreport-exit $$? (./mls x$(FLAKY_MLS_COUNT))"; \
	} | $(GO) run ./internal/flakyreport; status=$$?; \
	echo "make flaky: $$(( $$(date +%s) - start )) s"; exit $$status

# Every fuzz target of the repository (every func FuzzX in a _test.go file,
# found anew each time) for FUZZTIME each: make fuzz FUZZTIME=60s.
FUZZ_FIND = grep -rE --include='*_test.go' --exclude-dir=.git '^func Fuzz[A-Za-z0-9_]*\(' . | \
	sed -E 's|^(.*)/[^/]*:func (Fuzz[A-Za-z0-9_]*)\(.*|\1 \2|' | sort
fuzz-list:
	@$(FUZZ_FIND)
fuzz: deps
	@targets="$$($(FUZZ_FIND))"; test -n "$$targets" || { echo "no fuzz targets found"; exit 1; }; \
	echo "$$targets" | while read -r pkg t; do \
		echo "== $$pkg $$t"; \
		$(GO) test "$$pkg" -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZETIME) || exit 1; \
	done

bench: deps
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./...

# The group operations of the performance chapter against the issue's floors,
# as a table (medians of wall and CPU time): make benchtable SIZES=2,10,100,1000,10000
SIZES ?= 2,10,100,1000
benchtable: deps
	$(GO) run ./cmd/mlsbench -sizes $(SIZES)

# The main job: a real MLS session among N clients (create, add everyone,
# join, messages, self-updates, remove), every member's view checked after
# each phase: make demo N=1000.
N ?= 10
demo: deps
	$(GO) run ./cmd/mlsdemo -n $(N)

# Decode every message of the official test vectors.
inspect: deps
	$(GO) run ./cmd/mlsinspect summary

# The MLS working group's interop harness (../shared/interop), mlskit against
# itself: builds the harness's test runner and cmd/mlsinterop into bin/,
# starts servers on loopback ports the kernel picks (two per lane; INTEROP_JOBS
# lanes run configs × suites at once), runs every config for every suite of
# INTEROP_SUITES (both handshake modes; deep_random with -random), prints the
# pass table with each suite's wall and CPU time, and stops the servers (also
# on a timeout, a signal or a crash of runinterop); a failing config × suite
# is printed as FAILED and fails make. INTEROP_TIMEOUT bounds one config ×
# suite, INTEROP_TOTAL_TIMEOUT the whole run. make test runs it for
# INTEROP_CI_SUITES: all of them (about 23 min of CPU; see the README).
INTEROP_SHARED ?= $(CURDIR)/../shared/interop
INTEROP_SUITES ?= 1,2,3,4,5,6,7,77
INTEROP_CI_SUITES ?= 1,2,3,4,5,6,7,77
INTEROP_JOBS ?= 2
INTEROP_TIMEOUT ?= 30m
INTEROP_TOTAL_TIMEOUT ?= 60m
interop-build:
	@test -d $(INTEROP_SHARED)/interop/test-runner || { echo "interop: the harness is not at $(INTEROP_SHARED) (set INTEROP_SHARED)"; exit 1; }
	@mkdir -p bin
	cd $(INTEROP_SHARED) && $(GO) build -o $(CURDIR)/bin/mls-test-runner ./interop/test-runner
	$(GO_INTEROP) build -o $(CURDIR)/bin/mlsinterop .
	$(GO_INTEROP) build -o $(CURDIR)/bin/runinterop ./runinterop

interop: interop-build
	timeout $(INTEROP_TOTAL_TIMEOUT) bin/runinterop -runner bin/mls-test-runner -server bin/mlsinterop \
		-configs $(INTEROP_SHARED)/interop/configs -suites $(INTEROP_SUITES) -jobs $(INTEROP_JOBS) -timeout $(INTEROP_TIMEOUT)
