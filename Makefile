# slotsync — see README.md. `make dev` and `make test` do all their own set-up.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

K8S_VERSION ?= v1.37.2
ETCD_VERSION ?= v3.6.16
K8S_BIN ?= $(CURDIR)/bin/k8s
GO_TEST_FLAGS ?= -count=1 -timeout=20m
# Pinned by the tool directive in go.mod (sigs.k8s.io/controller-tools v0.23.0).
CONTROLLER_GEN ?= go tool controller-gen

export K8S_VERSION ETCD_VERSION

# The release: a tag (v0.1.0) on a tagged commit, else the commit, -dirty with
# local changes. Stamped into the binary and the image, and pins dist/'s image.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE_REPO ?= slotsync
IMG ?= $(IMAGE_REPO):$(VERSION)
LDFLAGS := -X github.com/slotsync/slotsync/internal/version.Version=$(VERSION) -X main.revision=$(REVISION)

.PHONY: all
all: build

##@ Build

.PHONY: build
build: ## Build bin/slotsync (what ships) and bin/slotsync-dev (local environment, simulator, benchmarks).
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/slotsync ./cmd/slotsync-dev

.PHONY: image
image: ## Build the image $(IMG) with BuildKit, stamped with VERSION and REVISION.
	docker buildx build --load -t $(IMG) \
	  --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) .

.PHONY: dist
dist: ## Write dist/install.yaml: config/default in one file, with the image pinned to $(IMG).
	hack/dist.sh $(IMG) dist/install.yaml

# Where a registry is reachable: resolve the Dockerfile's base images to digests
# and pass them as build arguments (see docs/install.md).
.PHONY: pin-bases
pin-bases: ## Print --build-arg flags pinning the Dockerfile's base images by digest (needs crane and a registry).
	@hack/pin-bases.sh Dockerfile

.PHONY: deps
deps: ## Install missing system packages (PostgreSQL, kubectl) from Debian.
	hack/install-deps.sh

.PHONY: envtest-assets
envtest-assets: ## Build etcd and kube-apiserver for envtest from the Go module proxy (once, cached).
	hack/build-k8s.sh $(K8S_BIN) etcd kube-apiserver

.PHONY: promtool
promtool: ## Build bin/promtool from the Go module proxy (once, cached).
	hack/build-promtool.sh bin

.PHONY: k8s-binaries
k8s-binaries: ## Build the whole local control plane (envtest assets, controller-manager, scheduler).
	hack/build-k8s.sh $(K8S_BIN) etcd kube-apiserver kube-controller-manager kube-scheduler

##@ Generate

.PHONY: generate
generate: ## Generate the API types' deepcopy methods.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: ## Generate the CRD from api/ and the manager's ClusterRole from the +kubebuilder:rbac markers in controllers/.
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=manager-role paths=./controllers/... output:rbac:artifacts:config=config/rbac

.PHONY: verify-generated
verify-generated: ## Fail when deepcopy, CRD or RBAC differ from what the code generates.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cp -R api config "$$tmp"/; \
	$(MAKE) --no-print-directory generate manifests >/dev/null; \
	if ! diff -ru "$$tmp/api" api || ! diff -ru "$$tmp/config" config; then \
	  echo "generated files are stale: run 'make generate manifests' and commit the result" >&2; exit 1; \
	fi

##@ Test

.PHONY: test
test: deps envtest-assets promtool lint openapi-lint verify-generated ## Run every test against real Postgres and a real API server.
	hack/check-rules.sh bin/promtool
	KUBEBUILDER_ASSETS=$(K8S_BIN) go test $(GO_TEST_FLAGS) ./...

.PHONY: lint
lint: ## go vet (the end-to-end tests too) and gofmt.
	go vet ./...
	go vet -tags e2e ./internal/devenv/
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

# The OpenAPI linter, pinned, installed from npm once per version outside the
# clone, so that CI can keep the directory between runs.
REDOCLY_VERSION ?= 2.77.0
NPM_TOOLS ?= $(HOME)/.cache/slotsync/npm
REDOCLY := $(NPM_TOOLS)/redocly-cli-$(REDOCLY_VERSION)/node_modules/.bin/redocly

$(REDOCLY):
	npm install --prefix $(NPM_TOOLS)/redocly-cli-$(REDOCLY_VERSION) --save-exact --no-audit --no-fund --loglevel=error @redocly/cli@$(REDOCLY_VERSION)

.PHONY: openapi-lint
openapi-lint: $(REDOCLY) ## Lint internal/api/openapi.yaml with Redocly's recommended-strict rules (internal/api/redocly.yaml).
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	  $(REDOCLY) lint --config internal/api/redocly.yaml --format=stylish internal/api/openapi.yaml

.PHONY: soak
soak: deps ## The long soak: 120 sync cycles with random faults (SLOTSYNC_SOAK_SEED=n replays another plan).
	SLOTSYNC_SOAK_CYCLES=120 go test -count=1 -v -run '^TestSoak$$' -timeout 20m ./internal/soak/

FUZZ_TIME ?= 10s

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZ_TIME (default 10s) after its committed seed corpus.
	hack/fuzz.sh FuzzDecode ./internal/partner/ $(FUZZ_TIME)
	hack/fuzz.sh FuzzParseSlotsRequest ./internal/api/ $(FUZZ_TIME)
	hack/fuzz.sh FuzzBands ./api/v1alpha1/ $(FUZZ_TIME)
	hack/fuzz.sh FuzzJobName ./api/v1alpha1/ $(FUZZ_TIME)
	hack/fuzz.sh FuzzTerminationMessage ./internal/syncer/ $(FUZZ_TIME)

##@ Benchmarks

.PHONY: bench
bench: deps build envtest-assets ## Measure slotsync against its baselines and limits (about 75 minutes: the capacity topic runs scaled days of uniform and demand-aware polling); writes bench/results.
	@command -v pgbench >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/pgbench' >/dev/null || \
	  { echo "pgbench not found: it ships with Debian's postgresql-15 (make deps installs it)" >&2; exit 1; }
	KUBEBUILDER_ASSETS=$(K8S_BIN) timeout 100m bin/slotsync-dev bench --out bench/results

##@ Run

# The node that runs pods for `make dev` and `make e2e`: real (containerd and a
# kubelet), process (host processes), or auto: real where this machine allows,
# else process with the reason printed.
NODE ?= auto

.PHONY: dev
dev: deps build k8s-binaries node-deps ## Start the whole system locally: control plane, node, Postgres, simulator; config/default's Deployments on the real node.
	SLOTSYNC_DEV_NODE=$(NODE) bin/slotsync-dev dev --k8s-bin $(K8S_BIN) $(DEV_FLAGS)

.PHONY: dev-fast
dev-fast: DEV_FLAGS = --fast
dev-fast: dev ## `make dev` with time running 60x faster.

.PHONY: e2e
e2e: deps build k8s-binaries node-deps ## End-to-end: the dev environment driven with kubectl and HTTP (NODE=real|process|auto).
	SLOTSYNC_DEV_NODE=$(NODE) go test -tags e2e -count=1 -timeout 30m -v -run TestE2E ./internal/devenv/

# What the real node needs, where it can run (root): Debian's containerd, runc,
# CNI plugins and iptables, and kubelet and kube-proxy built from source. Not
# root with NODE=auto: nothing to do, the process node runs pods.
.PHONY: node-deps
node-deps:
	@if [ "$(NODE)" = real ] || { [ "$(NODE)" = auto ] && [ "$$(id -u)" = 0 ]; }; then \
	  $(MAKE) --no-print-directory deps-real-node real-node-binaries; fi

.PHONY: deps-real-node
deps-real-node: ## Install the real node's packages too (containerd, runc, CNI plugins, iptables) from Debian.
	hack/install-deps.sh --real-node

.PHONY: real-node-binaries
real-node-binaries: k8s-binaries ## Build kubelet and kube-proxy from source too (cached).
	hack/build-k8s.sh $(K8S_BIN) kubelet kube-proxy

.PHONY: help
help:
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
