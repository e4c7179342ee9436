# Gatehouse — see README.md. `make run` and `make test` are all you need.
SHELL := /bin/bash

GO      ?= go
BIN     := bin/gatehouse
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/gatehouse/gatehouse/app.Version=$(VERSION)

.PHONY: all build run demo test test-go lint generate check-generated clean bench fuzz

all: build

## build: compile the single binary (CGO-free) into bin/gatehouse
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

## run: build and serve on http://localhost:8080 with SQLite in ./data/
run: build
	./$(BIN) serve

## demo: Gatehouse on :8080 with a demo admin (demo / demo-password, for
## local demos only), demo scopes and a registered client, plus the example
## client app (examples/democlient) on http://localhost:8000. Data in
## data/demo/ (reused; delete it to start over). Ctrl-C stops both.
demo: build
	GATEHOUSE_BIN=$(BIN) scripts/demo.sh

# golangci-lint is pinned in its own module (tools/go.mod), so that its
# dependencies stay out of go.mod; the first run builds it (minutes).
GOLANGCI_LINT := $(GO) tool -modfile=tools/go.mod golangci-lint

## test: lint, generated-files check, and every Go test with -race
## (PostgreSQL suites run when GATEHOUSE_TEST_POSTGRES_URL is set).
test: lint check-generated test-go

test-go:
	$(GO) test -race -count=1 -timeout 40m ./...

## lint: go vet, a gofmt check and golangci-lint (.golangci.yml)
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GOLANGCI_LINT) run ./...

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

## generate: templ components and the Tailwind CSS (+ vendored Font Awesome)
generate: node_modules/.package-lock.json
	$(GO) tool templ generate -path views
	BROWSERSLIST_IGNORE_OLD_DATA=1 npm run --silent build

# check-generated fails when `make generate` changes any generated file,
# i.e. when a *_templ.go or static/css/app.css is stale or missing.
GENERATED = find views static/css static/vendor -type f \( -name '*_templ.go' -o -path 'static/*' \) | LC_ALL=C sort | xargs sha256sum
check-generated:
	@before=$$($(GENERATED)); \
	$(MAKE) --no-print-directory generate >/dev/null; \
	after=$$($(GENERATED)); \
	if [ "$$before" != "$$after" ]; then \
		echo "generated files were out of date; run 'make generate' and commit:"; \
		diff <(echo "$$before") <(echo "$$after") | grep '^[<>]' | awk '{print $$3}' | sort -u; \
		exit 1; \
	fi; echo "generated files are up to date"

## bench: load benchmark of the real binary on SQLite and PostgreSQL
## against baseline servers; prints a table and writes docs/BENCHMARKS.md.
## BENCH_DURATION=5s for a quick run (20s per endpoint takes ~10 minutes);
## GATEHOUSE_BENCH_POSTGRES_URL picks the PostgreSQL server (default: the
## local one, database gatehouse_bench). BENCH_FLAGS passes more flags, e.g.
## BENCH_FLAGS='-only client_credentials -out ""' to measure one endpoint
## (and the baselines) without rewriting docs/BENCHMARKS.md; see bench/main.go.
## Not part of `make test`.
BENCH_DURATION ?= 20s
BENCH_FLAGS    ?=
bench: build
	$(GO) run ./bench -bin $(BIN) -duration $(BENCH_DURATION) $(BENCH_FLAGS)

## fuzz: run every fuzz target (FuzzXxx in *_fuzz_test.go) for FUZZTIME
## each, one at a time (-fuzz takes one target). New failures are saved
## under testdata/fuzz/ of the package; `make test` replays that corpus.
## Go 1.26's fuzzing coordinator can report "context deadline exceeded"
## at the end of FUZZTIME on a busy machine without having found anything
## (go.dev/issue/75804, fixed in Go 1.27): such a run, and only such a run
## (no failing input written), is tried once more.
FUZZTIME ?= 10s
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for pkg in $$($(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}' ./...); do \
		for f in $$(ls $$pkg/*_fuzz_test.go 2>/dev/null); do \
			for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
				for try in 1 2; do \
					echo "== $$t ($${pkg#$$(pwd)/}, $(FUZZTIME))"; \
					if $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1 | tee $$log; test $${PIPESTATUS[0]} -eq 0; then break; fi; \
					if [ $$try = 1 ] && grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input written' $$log; then \
						echo "== $$t: the coordinator's deadline race (go.dev/issue/75804), nothing found; once more"; continue; fi; \
					exit 1; \
				done; \
			done; \
		done; \
	done

clean:
	rm -rf bin
