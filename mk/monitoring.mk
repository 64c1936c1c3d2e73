# Monitoring assets: alert/recording rules and Grafana dashboards.
# The single source lives in the chart (charts/sre-ai-platform/files/); prometheus-rules/ and
# dashboards/ are copies for plain Prometheus and Grafana (docker compose). A test fails when
# they drift: run `make monitoring-sync` after editing the chart's files.

MONITORING_SRC := charts/sre-ai-platform/files
PROMTOOL ?= promtool
PROMETHEUS_URL ?= http://127.0.0.1:9090
SNAPSHOT_RANGE ?= 30m

##@ Monitoring

.PHONY: monitoring-sync
monitoring-sync: ## Copy the chart's rules and dashboards to prometheus-rules/ and dashboards/.
	@mkdir -p prometheus-rules dashboards
	cp $(MONITORING_SRC)/rules/*.yaml prometheus-rules/
	cp $(MONITORING_SRC)/dashboards/*.json dashboards/

.PHONY: promtool-check
promtool-check:
	@command -v $(PROMTOOL) >/dev/null || { echo "$(PROMTOOL) not found: apt-get install -y prometheus (it ships promtool)"; exit 1; }

.PHONY: monitoring-test
monitoring-test: promtool-check monitoring-sync ## promtool check rules + promtool test rules (unit tests of every alert).
	$(PROMTOOL) check rules prometheus-rules/*.rules.yaml
	$(PROMTOOL) test rules prometheus-rules/tests/*.yaml

.PHONY: monitoring-integration
monitoring-integration: venv promtool-check ## Live proof: service + real Prometheus, every query and the alerts.
	$(BIN)/pytest -m integration tests/integration/monitoring -q

.PHONY: dashboard-snapshot
dashboard-snapshot: venv ## Render the dashboard from a live Prometheus to docs/images/dashboard.png (PROMETHEUS_URL=..., or none to start the demo stack).
	$(BIN)/python tools/dashboard_snapshot.py $(if $(filter-out none,$(PROMETHEUS_URL)),--prometheus $(PROMETHEUS_URL),--demo) --range $(SNAPSHOT_RANGE) --output docs/images/dashboard.png
