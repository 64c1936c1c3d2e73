# Monitoring assets: alert/recording rules and Grafana dashboards.
# The single source lives in the chart (charts/sre-ai-platform/files/); prometheus-rules/ and
# dashboards/ are copies for plain Prometheus and Grafana (docker compose). A test fails when
# they drift: run `make monitoring-sync` after editing the chart's files.

MONITORING_SRC := charts/sre-ai-platform/files
PROMTOOL ?= promtool
PROMETHEUS ?= prometheus
# dashboard-snapshot reads this Prometheus when set (e.g. http://127.0.0.1:9090 of
# `docker compose up`); unset, it renders from a fresh live run of the monitoring tests.
PROMETHEUS_URL ?=
SNAPSHOT_RANGE ?= 30m
SNAPSHOT ?= docs/images/dashboard.png

##@ Monitoring

.PHONY: monitoring-sync
monitoring-sync: ## Copy the chart's rules and dashboards to prometheus-rules/ and dashboards/, and re-render manifests/.
	@mkdir -p prometheus-rules dashboards
	cp $(MONITORING_SRC)/rules/*.yaml prometheus-rules/
	cp $(MONITORING_SRC)/dashboards/*.json dashboards/
	$(MAKE) --no-print-directory manifests  # the dashboard ConfigMaps are rendered there too

.PHONY: promtool-check
promtool-check:
	@command -v $(PROMTOOL) >/dev/null || { echo "$(PROMTOOL) not found: apt-get install -y prometheus (it ships promtool)"; exit 1; }

.PHONY: monitoring-test
monitoring-test: promtool-check monitoring-sync ## promtool check rules + promtool test rules (unit tests of every alert).
	$(PROMTOOL) check rules prometheus-rules/*.rules.yaml
	$(PROMTOOL) test rules prometheus-rules/tests/*.yaml

.PHONY: monitoring-integration
monitoring-integration: venv promtool-check ## Live proof: service + real Prometheus, every query and the alerts.
	$(BIN)/pytest -q -m integration tests/integration/monitoring

.PHONY: dashboard-snapshot
dashboard-snapshot: venv ## Render the overview dashboard to docs/images/dashboard.png (from PROMETHEUS_URL, else from a live run).
ifdef PROMETHEUS_URL
	$(BIN)/python tools/dashboard_snapshot.py --prometheus $(PROMETHEUS_URL) --range $(SNAPSHOT_RANGE) --output $(SNAPSHOT)
else
	@command -v $(PROMETHEUS) >/dev/null || { echo "$(PROMETHEUS) not found: apt-get install -y prometheus"; exit 1; }
	SRE_AI_DASHBOARD_SNAPSHOT=$(abspath $(SNAPSHOT)) $(BIN)/pytest -q -m integration tests/integration/monitoring/test_live.py -k snapshot
endif
