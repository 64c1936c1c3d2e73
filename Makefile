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

# Every venv installs pinned, hash-checked versions from a lock file (requirements/*.lock, made by
# `make lock`), then the package itself with --no-deps: what was tested is what runs, and a
# package replaced on the index fails the install instead of running. A venv is rebuilt from
# scratch when its lock changes. `make run` uses .venv-run, the service's dependencies only;
# everything else uses .venv, which adds the test and lint tools.
RUN_VENV ?= .venv-run
RUNTIME_LOCK := requirements/runtime.lock
DEV_LOCK := requirements/dev.lock

# locked_venv DIR,LOCK,PYTHON: a fresh venv at DIR with exactly LOCK's packages and this package.
define locked_venv
	@command -v $(3) >/dev/null || { echo "$(3) not found: install Python 3.11, 3.12 or 3.13 (PYTHON=...)"; exit 1; }
	rm -rf $(1)
	$(3) -m venv $(1)
	$(1)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r $(2)
	$(1)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(1)/.installed
endef

$(VENV)/.installed: $(DEV_LOCK) pyproject.toml
	$(call locked_venv,$(VENV),$(DEV_LOCK),$(PYTHON))

$(RUN_VENV)/.installed: $(RUNTIME_LOCK) pyproject.toml
	$(call locked_venv,$(RUN_VENV),$(RUNTIME_LOCK),$(PYTHON))

.PHONY: venv
venv: $(VENV)/.installed ## Create .venv: the service and the dev tools, from requirements/dev.lock.

.PHONY: run
run: $(RUN_VENV)/.installed ## Run the service on the offline default (no API key needed) at http://$(HOST):$(PORT).
	mkdir -p var
	$(RUN_VENV)/bin/sre-ai-platform --host $(HOST) --port $(PORT)

# One resolution for every supported Python (uv's universal mode: markers where versions differ),
# with the hashes of every wheel and sdist. setuptools (requirements/build.in) is in both: the
# package is installed without build isolation, so nothing unhashed is fetched. uv keeps the
# current pins where pyproject.toml still allows them; UPGRADE=1 moves every pin to the newest.
LOCK_FLAGS = --universal --python-version 3.11 --generate-hashes --quiet \
  --custom-compile-command "make lock" $(if $(filter 1,$(UPGRADE)),--upgrade)

# compile_lock LOCK,EXTRA_FLAGS: an unchanged lock keeps its mtime (the venvs are not rebuilt).
define compile_lock
	@cp $(1) $(1).new 2>/dev/null || true
	$(BIN)/uv pip compile pyproject.toml requirements/build.in $(2) $(LOCK_FLAGS) -o $(1).new
	@if cmp -s $(1) $(1).new; then rm $(1).new; echo "$(1) unchanged"; else mv $(1).new $(1); echo "$(1) updated"; fi
endef

.PHONY: lock
lock: venv ## Re-resolve requirements/runtime.lock and dev.lock from pyproject.toml (uv, with hashes; UPGRADE=1).
	$(call compile_lock,$(RUNTIME_LOCK),)
	$(call compile_lock,$(DEV_LOCK),--extra dev)

.PHONY: lint
lint: venv workflow-lint ## ruff + mypy (strict, on the service, its tests, benches and tools) + actionlint.
	$(BIN)/ruff check app tests bench tools eval
	$(BIN)/mypy app tests bench tools eval

##@ Tests

.PHONY: test-deps
test-deps: ## Install Redis, Prometheus, promtool, faketime, strace (Debian packages), helm, actionlint and the monitoring CRDs, if missing.
	tools/install-test-deps.sh
	tools/install-helm.sh >/dev/null
	tools/install-actionlint.sh >/dev/null
	tools/build-crds.sh >/dev/null

.PHONY: test
test: venv test-deps lint ## Lint, unit, integration, chart and monitoring tests, and the unit suite on 3.12/3.13.
	PATH="$(HELM_DIR):$$PATH" $(BIN)/pytest -q -m "not e2e"
	$(MAKE) --no-print-directory test-pythons

# The package supports Python 3.11 to 3.13: `make test` runs the full suite on PYTHON (3.11, the
# image's) and the unit suite on each of these, in a venv from the same dev lock that
# tools/cached-venv.sh keeps outside the checkout (built once per lock; app/ is imported from
# this tree). An interpreter is found on PATH or in pyenv's versions; a missing one is skipped
# with a banner, never silently (REQUIRE_ALL_PYTHONS=1 makes it an error).
EXTRA_PYTHONS ?= 3.12 3.13

.PHONY: test-pythons
test-pythons: ## The unit suite on each of EXTRA_PYTHONS (3.12 3.13); a missing interpreter is skipped LOUDLY.
	@for v in $(EXTRA_PYTHONS); do \
	  venv="$$(tools/cached-venv.sh $$v $(DEV_LOCK))" || rc=$$?; \
	  if [ -z "$$venv" ] && [ "$${rc:-0}" = 3 ]; then \
	    printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2; \
	    printf '!!! SKIPPED: no python%s (PATH, pyenv versions): the unit suite did\n' $$v >&2; \
	    printf '!!! NOT run on Python %s. Install it (pyenv install %s).\n' $$v $$v >&2; \
	    printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2; \
	    if [ "$(REQUIRE_ALL_PYTHONS)" = 1 ]; then exit 1; fi; rc=0; continue; \
	  fi; \
	  [ -n "$$venv" ] || exit 1; \
	  echo "unit suite on Python $$v ($$venv)"; \
	  PYTHONPATH="$(CURDIR)" $$venv/bin/python -m pytest -q -p no:cacheprovider tests/unit || exit 1; \
	done

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
