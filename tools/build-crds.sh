#!/usr/bin/env bash
# Generate every monitoring.coreos.com CRD (v1: ServiceMonitor, PrometheusRule, Prometheus, ...;
# v1alpha1: AlertmanagerConfig, ScrapeConfig, ...) with controller-gen from the Go types of
# github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring (no YAML is fetched).
# Output: $CACHE_ROOT/prometheus-operator-crds-$PROM_OPERATOR_VERSION/*.yaml; prints that dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OUT="$CACHE_ROOT/prometheus-operator-crds-$PROM_OPERATOR_VERSION"
# The chart's objects, and what the in-cluster Prometheus Operator watches (cluster-monitoring.sh).
WANT=(servicemonitors prometheusrules alertmanagerconfigs prometheuses podmonitors probes
      scrapeconfigs alertmanagers thanosrulers prometheusagents)
have() { local k; for k in "${WANT[@]}"; do [[ -s "$OUT/monitoring.coreos.com_$k.yaml" ]] || return 1; done; }
if have; then log "CRDs cached in $OUT"; echo "$OUT"; exit 0; fi

CONTROLLER_GEN="$CACHE_ROOT/controller-gen-$CONTROLLER_GEN_VERSION/controller-gen"
[[ -x "$CONTROLLER_GEN" ]] || "$TOOLS_SRC_DIR/build-go-tools.sh" controller-gen >&2

MOD=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring
work="$CACHE_ROOT/work/crds-$PROM_OPERATOR_VERSION"
go_throwaway_module "$work" offline.local/crds
cat > "$work/types.go" <<GO
// Package crds only pins the monitoring API types for controller-gen.
package crds

import (
	_ "$MOD/v1"
	_ "$MOD/v1alpha1"
)
GO
(cd "$work" && "$GO" get "$MOD@$PROM_OPERATOR_VERSION" >&2 && "$GO" mod tidy >&2)

gen="$work/out"; rm -rf "$gen"; mkdir -p "$gen"
# maxDescLen=0 drops field descriptions: the CRDs stay small; validation is unchanged.
(cd "$work" && "$CONTROLLER_GEN" crd:crdVersions=v1,maxDescLen=0 \
    paths="$MOD/v1" paths="$MOD/v1alpha1" output:crd:dir="$gen" >&2)
mkdir -p "$OUT"
for k in "${WANT[@]}"; do
    f="$gen/monitoring.coreos.com_$k.yaml"
    [[ -s "$f" ]] || die "controller-gen did not produce $f"
    # Atomic: tests may be reading the CRDs already in the cache.
    cp "$f" "$OUT/.$k.tmp.$$" && mv -f "$OUT/.$k.tmp.$$" "$OUT/monitoring.coreos.com_$k.yaml"
done
log "CRDs generated into $OUT"
echo "$OUT"
