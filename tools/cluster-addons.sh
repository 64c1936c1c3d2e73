#!/usr/bin/env bash
# Install what the e2e suite expects on top of a fresh kind cluster: the ServiceMonitor and
# PrometheusRule CRDs (server-side apply: CRDs are too large for the last-applied annotation)
# and metrics-server (our manifest), then the in-cluster monitoring stack (Prometheus Operator,
# Prometheus, prometheus-adapter: tools/cluster-monitoring.sh; MONITORING=0 skips it). Waits
# until all are usable. Idempotent.
#   cluster-addons.sh KUBE_CONTEXT [CRDS_DIR]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

context="${1:?usage: cluster-addons.sh KUBE_CONTEXT [CRDS_DIR]}"
crds_dir="${2:-}"
[[ -n "$crds_dir" ]] || crds_dir="$("$TOOLS_SRC_DIR/build-crds.sh")"
KUBECTL="${KUBECTL:-kubectl}"
k() { "$KUBECTL" --context "$context" "$@"; }

k apply --server-side --force-conflicts --field-manager=sre-ai-platform-e2e \
    -f "$crds_dir/monitoring.coreos.com_servicemonitors.yaml" \
    -f "$crds_dir/monitoring.coreos.com_prometheusrules.yaml"
k wait --for=condition=Established --timeout=60s \
    crd/servicemonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com

k apply --server-side --field-manager=sre-ai-platform-e2e -f "$TOOLS_SRC_DIR/manifests/metrics-server.yaml"
k -n kube-system rollout status deployment/metrics-server --timeout=180s
k wait --for=condition=Available --timeout=120s apiservice/v1beta1.metrics.k8s.io
if [[ "${MONITORING:-1}" != 0 ]]; then
    KUBECTL="$KUBECTL" "$TOOLS_SRC_DIR/cluster-monitoring.sh" "$context" "$crds_dir"
fi
log "addons ready on $context: monitoring CRDs, metrics-server$([[ "${MONITORING:-1}" == 0 ]] || echo ", monitoring stack")"
