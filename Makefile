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

.PHONY: all deps generate check-generate vet test test-short fuzz fuzz-list bench benchtable demo inspect

all: test

deps:
	$(GO) mod download

# Regenerate the wire layer (codec/*_gen.go) from schema/*.tls.
generate: deps
	$(GO) generate ./...

# Fail when the committed generated code differs from what the schema gives.
check-generate: deps
	@$(GO) generate ./...
	@if ! git diff --quiet -- '*_gen.go' 2>/dev/null; then \
		echo "generated code is stale: run 'make generate' and commit:"; git diff --stat -- '*_gen.go'; exit 1; \
	fi

vet: deps
	@out="$$($(GOFMT) -l $$(git ls-files '*.go'))" || exit 1; test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# The full test suite, as CI runs it.
test: check-generate vet
	$(GO) test -count=1 ./...

test-short: deps
	$(GO) test -short ./...

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
