# ipvs-proxy build and test entry points. See README.md.
GO        ?= go
BIN       := bin
LDFLAGS   := -s -w
# The version stamped into binaries (git describe --tags --dirty --always;
# "dev" outside git); `make release VERSION=...` overrides it. Evaluated
# only by the targets that build.
VERSION   ?= $(shell hack/version.sh)
STAMP      = $(shell VERSION='$(VERSION)' hack/version.sh ldflags)
BENCHTIME ?= 1s
FUZZTIME  ?= 60s
# The differential suite's seeds (make parity SEEDS=1,2,3).
SEEDS     ?= 1

.PHONY: all build test lint bench bench-vm fuzz k8s-bins integration vm-smoke kernel-test real-kube-proxy-cleanup manifests-test image privileges-test side-by-side parity e2e demo release clean

all: lint build test

## build: static daemon binary bin/ipvs-proxy (CGO_ENABLED=0), stamped with VERSION
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS) $(STAMP)' -o $(BIN)/ipvs-proxy ./cmd/ipvs-proxy

## test: unit tests with the race detector (no root, no VM, no API server); then the monitoring manifests' checks (test/monitoring, a module of its own)
test:
	$(GO) test -race ./...
	cd test/monitoring && $(GO) test ./...

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./test/... ./cmd/...
	$(GO) vet -tags vmtest ./test/...
	$(GO) vet -tags realkubeproxy ./test/kernel/kubeproxy ./test/manifests/sidebyside
	$(GO) vet -tags bench ./test/bench/...
	cd test/monitoring && $(GO) vet ./...

## bench: in-memory benchmarks; figures are printed, never asserted
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./proxier/... ./internal/gcpace/

## bench-vm: side-by-side VM benchmark with kube-proxy (test/bench; BENCH_SIZES, BENCH_DAEMONS, ...; ~7 min per daemon and size)
bench-vm: k8s-bins
	$(GO) test -tags bench -v -count=1 -timeout 6h ./test/bench -run SideBySide

## fuzz: run the Build fuzzer for FUZZTIME
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzBuild -fuzztime $(FUZZTIME) ./proxier

## k8s-bins: kube-apiserver, etcd, kubectl, kube-proxy v1.37.2 from Go modules (cached; ~5 min cold)
k8s-bins:
	test/apiserver/build.sh

## integration: the daemon and the manifests against a real kube-apiserver (fake kernel)
integration: k8s-bins
	$(GO) test -tags integration -count=1 ./test/... ./cmd/...

## vm-smoke: the VM harness's own proof (qemu, Debian kernel with IPVS)
vm-smoke:
	test/vm/smoke.sh

## kernel-test: every real-kernel adapter suite (IPVS, addr, sysctl, conntrack, netfilter) in the VM
kernel-test:
	test/vm/gotest.sh --timeout 1200 ./test/kernel/...

## real-kube-proxy-cleanup: real kube-proxy v1.37.2 (IPVS mode) in the VM, then ipvs-proxy --cleanup --cleanup-kube-proxy; and both proxies' conntrack sysctls compared
real-kube-proxy-cleanup: k8s-bins
	$(GO) test -tags realkubeproxy -count=1 -v ./test/kernel/kubeproxy

## manifests-test: manifests vs the daemon's options and a real kube-apiserver (server dry run, RBAC); the image archive
manifests-test: k8s-bins
	$(GO) test -tags integration -count=1 ./test/manifests/

## image: OCI image archive without a container engine (hack/image.sh, crane)
image:
	hack/image.sh $(BIN)/ipvs-proxy-image.tar

## release: bin/release/ipvs-proxy-VERSION-linux-{amd64,arm64}, their OCI image archives (ipvs-proxy:VERSION) and sha256 sums (hack/release.sh)
release:
	VERSION='$(VERSION)' hack/release.sh

## privileges-test: the DaemonSet's privilege claims on a real kernel (VM)
privileges-test: build
	test/vm/gotest.sh ./test/manifests/privileges

## side-by-side: real kube-proxy beside ipvs-proxy in the VM (canary configuration, leftover commands)
side-by-side: k8s-bins
	$(GO) test -tags realkubeproxy -count=1 -v ./test/manifests/sidebyside

## parity: the differential suite: random clusters (SEEDS=1,2,3) programmed by the real kube-proxy v1.37.2 and by ipvs-proxy in the VM, IPVS tables and kube-ipvs0 compared (test/parity; one VM boot, ~1.5-2.5 min, per seed)
parity: k8s-bins
	PARITY_SEEDS='$(SEEDS)' $(GO) test -tags parity -count=1 -v -timeout 6h -run '^TestParity$$' ./test/parity

## e2e: real traffic through the daemon in the VM against a real kube-apiserver
e2e: k8s-bins
	$(GO) test -tags e2e -count=1 -timeout 60m ./test/e2e/...

## demo: the main job on one machine: local API server, VM, a Service with three backends, spreading, a drain, ipvsadm-style state, metrics
demo: k8s-bins
	$(GO) run ./test/e2e/demo

clean:
	rm -rf $(BIN)
