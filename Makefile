# OpenKCI. `make help` lists the targets.
GO        ?= go
BIN       ?= bin
DATA_DIR  ?= /var/lib/kcid
LISTEN    ?= 127.0.0.1:8080
FUZZTIME  ?= 15s
N         ?= 30
SEED      ?= 0
FAULTS    ?= kcid-kill=80,containerd-kill=10,disk-full=5,clock-jump=5
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: help up deps build test test-short test-k8s fuzz bench bench-start bench-imagecache check quickstart-test chaos

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s '	'

up: deps build ## install the Debian packages, build kcid and start it (foreground)
	$(BIN)/kcid serve --data-dir $(DATA_DIR) --listen $(LISTEN)

deps: ## install containerd, runc, CNI plugins, registry and tools (Debian packages)
	bash .ci/install-deps.sh

build: ## build kcid, kcictl and kci-virtual-kubelet into ./bin
	$(GO) build -ldflags "-X github.com/openkci/openkci/internal/version.Version=$(VERSION)" -o $(BIN)/ ./cmd/kcid ./cmd/kcictl ./cmd/kci-virtual-kubelet

check: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test: check ## every test against real containerd, runc, CNI and registry (root); race detector on
	bash hack/start-containerd.sh
	CI=$${CI:-true} $(GO) test -race -count=1 -p 1 -timeout 20m ./...

test-k8s: ## the Kubernetes runtime and kci-virtual-kubelet (kcid on containerd behind it) against a real cluster built from k8s.io/kubernetes (cached build; root)
	bash hack/k8s-e2e/test.sh

test-short: ## the tests that need no root or containerd
	$(GO) test -race -count=1 ./internal/api/... ./internal/auth/... ./internal/lifecycle/... ./internal/config/... ./internal/store/... ./internal/service/... ./internal/app/... ./internal/kcictl/... ./pkg/...

fuzz: ## fuzz the request decoder ($(FUZZTIME) per target)
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./internal/api/awsquery/
	$(GO) test -run '^$$' -fuzz '^FuzzFlattenJSON$$' -fuzztime $(FUZZTIME) ./internal/api/awsquery/

bench: ## request-path and signature benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./internal/api/ ./internal/auth/ ./internal/api/awsquery/

START_RUNS ?= 20
START_MANY ?= 200
bench-start: build ## kcid's create→Running beside ctr run -d --cni, per-phase breakdown, 10 and $(START_MANY) groups at once (root, real containerd)
	$(GO) run ./hack/benchstart -kcid bin/kcid -runs $(START_RUNS) -many $(START_MANY)

CACHE_RUNS ?= 5
CACHE_IMAGE_MB ?= 300
bench-imagecache: build ## create→Running of a $(CACHE_IMAGE_MB) MiB image from the local registry, cold vs from an image cache, as a ratio (root, real containerd)
	$(GO) run ./hack/benchstart -imagecache -kcid bin/kcid -runs $(CACHE_RUNS) -image-mb $(CACHE_IMAGE_MB)

quickstart-test: ## run the README's kcictl quick start exactly as written (root; not beside make test)
	bash hack/quickstart-test.sh README.md

chaos: ## chaos suite: N faults (kcid/containerd kill -9, full data dir, clock jumps) on a real kcid (root; SEED= replays, FAULTS= weights)
	$(GO) build -o $(BIN)/kcid ./cmd/kcid
	$(GO) build -o $(BIN)/kci-chaos ./test/chaos
	$(BIN)/kci-chaos -kcid $(BIN)/kcid -n $(N) -seed $(SEED) -faults $(FAULTS)
