# ipvs-proxy build and test entry points. See README.md.
GO        ?= go
BIN       := bin
PKG       := github.com/ipvs-proxy/ipvs-proxy
LDFLAGS   := -s -w
BENCHTIME ?= 1x

.PHONY: all build test lint bench fuzz clean

all: lint build test

## build: static daemon binary into bin/ipvs-proxy
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ipvs-proxy ./cmd/ipvs-proxy

## test: unit tests with the race detector (no root, no VM, no API server)
test:
	$(GO) test -race ./...

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## bench: in-memory benchmarks; figures are printed, never asserted
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./proxier/...

## fuzz: run the Build fuzzer for FUZZTIME (default 60s)
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzBuild -fuzztime $(FUZZTIME) ./proxier

clean:
	rm -rf $(BIN)
