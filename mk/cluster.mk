# kind cluster for the e2e suite. With internet: stock kind (go install sigs.k8s.io/kind@v0.30.0)
# and its stock node image. On our registry-less machines, `make cluster-toolchain` builds
# everything from package registries (docs/cluster.md) and prints the two variables to pass:
#   make kind-up e2e kind-down TOOLS_DIR=... KIND_NODE_IMAGE=...   (tools/ci-cluster.sh does it)

KIND_CLUSTER ?= sre-ai
KIND_CONFIG ?= kind-config.yaml
# Node image: empty = kind's default for its version; ours = kindest-offline/node:v1.34.N-<hash>.
KIND_NODE_IMAGE ?=
# Directory holding kind, kubectl and helm; empty = whatever is on PATH.
TOOLS_DIR ?=
# Generated ServiceMonitor/PrometheusRule CRDs; empty = generate with tools/build-crds.sh (Go).
CRDS_DIR ?=
# Base for the images built here; empty = the Dockerfile's default (python:3.11-slim-bookworm).
BASE_IMAGE ?=
E2E_REDIS_IMAGE ?= sre-ai-platform/redis:e2e
# Image with redis-server on PATH, re-tagged as E2E_REDIS_IMAGE.
REDIS_IMAGE_BASE ?= redis:7-bookworm
E2E_SMOKE_IMAGE ?= sre-ai-platform/e2e-smoke:1
E2E_VALUES ?= tests/e2e/values-e2e.yaml
# 1: kind-up also installs the Prometheus Operator, Prometheus and prometheus-adapter
# (tools/cluster-monitoring.sh; Go builds, cached); 0: only the CRDs and metrics-server.
MONITORING ?= 1
PYTEST_E2E_ARGS ?= -v

KIND := $(if $(TOOLS_DIR),$(TOOLS_DIR)/kind,kind)
KUBECTL := $(if $(TOOLS_DIR),$(TOOLS_DIR)/kubectl,kubectl)
KIND_HELM := $(if $(TOOLS_DIR),$(TOOLS_DIR)/helm,$(HELM))
KUBE_CONTEXT := kind-$(KIND_CLUSTER)
E2E_PATH := $(if $(TOOLS_DIR),$(TOOLS_DIR):)$(PATH)
DOCKER_BUILD := DOCKER_BUILDKIT=0 docker build $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE))

##@ Cluster (kind)

.PHONY: cluster-toolchain
cluster-toolchain: ## Build or reuse the offline toolchain + node image (cached in /var/cache/sre-ai-platform; ~15 min cold on 2 idle cores).
	tools/build-toolchain.sh
	@. /var/cache/sre-ai-platform/toolchain.env && echo "now: make kind-up e2e kind-down TOOLS_DIR=$$TOOLS_DIR" \
	  "KIND_NODE_IMAGE=$$KIND_NODE_IMAGE CRDS_DIR=$$CRDS_DIR BASE_IMAGE=$$PYTHON_BASE_IMAGE REDIS_IMAGE_BASE=$$REDIS_IMAGE_BASE"

.PHONY: check-kind
check-kind:
	@command -v $(KIND) >/dev/null || { echo "kind not found: go install sigs.k8s.io/kind@v0.30.0, or TOOLS_DIR=<dir> from make cluster-toolchain"; exit 1; }
	@command -v $(KUBECTL) >/dev/null || { echo "kubectl not found: https://kubernetes.io/docs/tasks/tools/, or TOOLS_DIR=<dir> from make cluster-toolchain"; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "docker is not running: start it (our machines: tools/install-docker.sh)"; exit 1; }

.PHONY: kind-up
kind-up: check-kind ## Create the kind cluster KIND_CLUSTER (idempotent), wait for Ready, add monitoring CRDs + metrics-server + Prometheus Operator/Prometheus/prometheus-adapter.
	@if $(KIND) get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)'; then \
	  echo "kind cluster $(KIND_CLUSTER) already exists"; \
	else \
	  $(KIND) create cluster --name $(KIND_CLUSTER) --config $(KIND_CONFIG) $(if $(KIND_NODE_IMAGE),--image $(KIND_NODE_IMAGE)) --wait 180s; \
	fi
	$(KUBECTL) --context $(KUBE_CONTEXT) wait --for=condition=Ready nodes --all --timeout=180s
	KUBECTL=$(KUBECTL) KIND=$(KIND) MONITORING=$(MONITORING) tools/cluster-addons.sh $(KUBE_CONTEXT) $(CRDS_DIR)

.PHONY: kind-down
kind-down: ## Delete the kind cluster KIND_CLUSTER (idempotent).
	@command -v $(KIND) >/dev/null || { echo "kind not found: nothing to delete"; exit 0; }
	$(KIND) delete cluster --name $(KIND_CLUSTER)

.PHONY: e2e-smoke-image
e2e-smoke-image: ## Build the cluster smoke test's HTTP server image (tests/e2e/smoke).
	$(DOCKER_BUILD) -t $(E2E_SMOKE_IMAGE) tests/e2e/smoke

.PHONY: e2e-redis-image
e2e-redis-image: ## Tag an image with redis-server as the e2e release's Redis (REDIS_IMAGE_BASE).
	docker image inspect $(REDIS_IMAGE_BASE) >/dev/null 2>&1 || docker pull $(REDIS_IMAGE_BASE)
	docker tag $(REDIS_IMAGE_BASE) $(E2E_REDIS_IMAGE)

.PHONY: e2e-images
e2e-images: image e2e-redis-image e2e-smoke-image ## Build every image the e2e suite runs: service (IMAGE: the chart's default), Redis, smoke server.

.PHONY: kind-load
kind-load: check-kind e2e-images ## Load the e2e images into the cluster's nodes (kind load docker-image: no registry).
	$(KIND) load docker-image --name $(KIND_CLUSTER) $(IMAGE) $(E2E_REDIS_IMAGE) $(E2E_SMOKE_IMAGE)

.PHONY: e2e-install
e2e-install: check-kind ## helm install the chart into the cluster with tests/e2e/values-e2e.yaml and wait for it.
	$(KIND_HELM) --kube-context $(KUBE_CONTEXT) upgrade --install $(CHART_RELEASE) $(CHART_DIR) \
	  --namespace $(CHART_NAMESPACE) --create-namespace -f $(E2E_VALUES) --wait --timeout 5m

.PHONY: e2e
e2e: kind-load e2e-install e2e-test ## Load the images, install the chart, run tests/e2e (after make kind-up).

.PHONY: e2e-test
e2e-test: venv ## Only run tests/e2e against the cluster (skips cleanly when there is none).
	PATH="$(E2E_PATH)" KIND_CLUSTER=$(KIND_CLUSTER) E2E_SMOKE_IMAGE=$(E2E_SMOKE_IMAGE) \
	  $(BIN)/pytest tests/e2e -m e2e $(PYTEST_E2E_ARGS)
