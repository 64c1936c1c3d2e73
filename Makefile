# sre-ai-platform: `make help` lists every target.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
HELM_DIR ?= /var/cache/sre-ai-platform/bin

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

$(BIN)/python: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

.PHONY: venv
venv: $(BIN)/python ## Create the virtualenv with the service and dev tools.

.PHONY: run
run: venv ## Run the service on the offline default (no API key needed) at http://$(HOST):$(PORT).
	mkdir -p var
	$(BIN)/sre-ai-platform --host $(HOST) --port $(PORT)

.PHONY: lint
lint: venv ## ruff + mypy (strict on app/).
	$(BIN)/ruff check app tests bench tools eval
	$(BIN)/mypy app

##@ Tests

.PHONY: test-deps
test-deps: ## Install Redis, Prometheus, promtool (Debian packages), helm and the monitoring CRDs, if missing.
	tools/install-test-deps.sh
	tools/install-helm.sh >/dev/null
	tools/build-crds.sh >/dev/null

.PHONY: test
test: venv test-deps lint ## Lint, unit, integration, chart and monitoring tests (the e2e suite is `make e2e`).
	PATH="$(HELM_DIR):$$PATH" $(BIN)/pytest -q -m "not e2e"

# The calendar must never break a test: the whole unit + integration suite again, with the test
# process's clock a year ahead (libfaketime). Servers the tests start (redis-server) keep the real
# clock: that is the skew the service must survive. The monotonic clock is not faked;
# tests/faketime/sitecustomize.py works around libfaketime's time.sleep() bug in that mode.
FUTURE ?= +365d

.PHONY: test-future
test-future: venv test-deps ## Unit + integration tests with the clock FUTURE (default a year) ahead.
	PATH="$(HELM_DIR):$$PATH" PYTHONPATH="$(CURDIR)/tests/faketime" FAKETIME_DONT_FAKE_MONOTONIC=1 \
	  faketime -f '$(FUTURE)' \
	  $(BIN)/pytest -q -p no:cacheprovider -m "not e2e" tests/unit tests/integration

.PHONY: test-unit
test-unit: venv ## Unit tests only (fast, no processes, no network).
	$(BIN)/pytest -q tests/unit

# Area-specific targets (cluster, chart, monitoring) live beside this file.
-include mk/*.mk
