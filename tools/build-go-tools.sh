#!/usr/bin/env bash
# Build the cluster's smaller Go programs from the Go module proxy, each cached under
# $CACHE_ROOT/<name>-<version>/: kind, crictl, etcd, CoreDNS (lean: only the plugins the
# kubeadm Corefile uses), metrics-server, controller-gen, our pause, and for in-cluster
# monitoring the Prometheus Operator (+ config reloader) and prometheus-adapter. Pass names to build a
# subset (e.g. `build-go-tools.sh kind crictl`); a cached binary is never rebuilt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

GOFLAGS_BUILD=(-trimpath -ldflags "-s -w")
export CGO_ENABLED=0

# Version lines are printed with `sed -n 1p`, never `head -1`: head exits after its line, the
# binary then gets SIGPIPE on its next write, and pipefail + set -e end this script silently. It
# happened to etcd --version in a cold build beside the test suites (2026-12-01).

# go_install OUT PKG@VERSION: `go install` into a temp GOBIN, then into the cache.
go_install() {
    local out="$1" pkg="$2" tmp
    [[ -x "$out" ]] && { log "cached: $out"; return 0; }
    tmp="$(mktemp -d)"
    log "go install $pkg"
    GOBIN="$tmp" "$GO" install "${GOFLAGS_BUILD[@]}" "$pkg"
    install_atomic "$tmp/$(basename "${pkg%@*}")" "$out"
    rm -rf "$tmp"
}

build_kind() {
    go_install "$CACHE_ROOT/kind-$KIND_VERSION/kind" "sigs.k8s.io/kind@$KIND_VERSION"
}

build_crictl() {
    go_install "$CACHE_ROOT/crictl-$CRICTL_VERSION/crictl" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
}

build_metrics_server() {
    go_install "$CACHE_ROOT/metrics-server-$METRICS_SERVER_VERSION/metrics-server" \
        "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
}

build_controller_gen() {
    go_install "$CACHE_ROOT/controller-gen-$CONTROLLER_GEN_VERSION/controller-gen" \
        "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_GEN_VERSION"
}

build_pause() {
    local out="$CACHE_ROOT/pause-$PAUSE_TAG-$(sha256sum "$TOOLS_SRC_DIR/pause/pause.go" | cut -c1-12)/pause"
    [[ -x "$out" ]] && { log "cached: $out"; return 0; }
    log "building our pause"
    local tmp; tmp="$(mktemp -d)"
    (cd "$TOOLS_SRC_DIR/pause" && GO111MODULE=off "$GO" build "${GOFLAGS_BUILD[@]}" -o "$tmp/pause" pause.go)
    install_atomic "$tmp/pause" "$out"
    rm -rf "$tmp"
}

# `go install ...@version` asks the proxy for the module's version list (deprecation check),
# which it refuses for prometheus-adapter; the exact version is served, so a throwaway module
# requires it and builds its main.
build_prometheus_adapter() {
    local v="$PROM_ADAPTER_VERSION" m=sigs.k8s.io/prometheus-adapter
    local out="$CACHE_ROOT/prometheus-adapter-$v/adapter" work="$CACHE_ROOT/work/prometheus-adapter-$v"
    [[ -x "$out" ]] && { log "cached: $out"; return 0; }
    log "building prometheus-adapter $v"
    go_throwaway_module "$work" offline.local/prometheus-adapter
    (cd "$work" && "$GO" mod edit -require="$m@$v" && mkdir -p out \
        && "$GO" build -mod=mod "${GOFLAGS_BUILD[@]}" -o out/adapter "$m/cmd/adapter")
    install_atomic "$work/out/adapter" "$out"
}

# The operator's go.mod replaces its own pkg/apis/monitoring and pkg/client with local paths,
# so `go install` refuses it: a throwaway module requires it and points both at their
# published twins (as tools/build-k8s.sh does for Kubernetes). The operator and its
# config-reloader sidecar are built in one `go build` so shared packages compile once.
build_prometheus_operator() {
    local v="$PROM_OPERATOR_BIN_VERSION" m=github.com/prometheus-operator/prometheus-operator
    local out="$CACHE_ROOT/prometheus-operator-$v" work="$CACHE_ROOT/work/prometheus-operator-$v"
    [[ -x "$out/operator" && -x "$out/prometheus-config-reloader" ]] && { log "cached: $out"; return 0; }
    log "building prometheus-operator $v (operator, prometheus-config-reloader)"
    mkdir -p "$work"
    local gover; gover="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$("$GO" mod download -json "$m@$v" \
        | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')")"
    cat > "$work/go.mod" <<MOD
module offline.local/prometheus-operator

go $gover

require $m $v

replace (
	$m/pkg/apis/monitoring => $m/pkg/apis/monitoring $v
	$m/pkg/client => $m/pkg/client $v
)
MOD
    local ldflags="-s -w -X github.com/prometheus/common/version.Version=${v#v}"
    ldflags+=" -X github.com/prometheus/common/version.Revision=offline"
    (cd "$work" && mkdir -p out && "$GO" build -mod=mod -trimpath -ldflags "$ldflags" -o out/ \
        "$m/cmd/operator" "$m/cmd/prometheus-config-reloader")
    install_atomic "$work/out/operator" "$out/operator"
    install_atomic "$work/out/prometheus-config-reloader" "$out/prometheus-config-reloader"
    "$out/operator" --version 2>&1 | sed -n 1p
}

# Prometheus's go.mod has a replace directive (fsnotify), so `go install` refuses it: a throwaway
# module requires it with the same replacement. Every service discovery is compiled in (its
# plugin list has no build tags to leave them out); the web UI's assets are not (the API is
# what the e2e suite and the adapter use).
build_prometheus() {
    local v="$PROMETHEUS_MODULE_VERSION" m=github.com/prometheus/prometheus
    local out="$CACHE_ROOT/prometheus-$PROMETHEUS_VERSION/prometheus" work="$CACHE_ROOT/work/prometheus-$PROMETHEUS_VERSION"
    [[ -x "$out" ]] && { log "cached: $out"; return 0; }
    log "building prometheus $PROMETHEUS_VERSION (module $v)"
    go_throwaway_module "$work" offline.local/prometheus
    local upstream_mod
    upstream_mod="$("$GO" mod download -json "$m@$v" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
    local ldflags="-s -w -X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION#v}"
    ldflags+=" -X github.com/prometheus/common/version.Revision=offline"
    (cd "$work" && "$GO" mod edit -require="$m@$v" \
        && grep '^replace ' "$upstream_mod" | while read -r _ old oldv _ new ver; do
               "$GO" mod edit -replace="${old}@${oldv}=${new}@${ver}"; done \
        && mkdir -p out && "$GO" build -mod=mod -trimpath -ldflags "$ldflags" -o out/prometheus "$m/cmd/prometheus")
    install_atomic "$work/out/prometheus" "$out"
    "$out" --version 2>&1 | sed -n 1p
}

# etcd has no installable main outside its repo's server module tree, so a throwaway module
# calls etcdmain.Main like etcd's own main.go does.
build_etcd() {
    local out="$CACHE_ROOT/etcd-$ETCD_VERSION/etcd" work="$CACHE_ROOT/work/etcd-$ETCD_VERSION"
    [[ -x "$out" ]] && { log "cached: $out"; return 0; }
    log "building etcd $ETCD_VERSION"
    go_throwaway_module "$work" offline.local/etcd
    cat > "$work/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    (cd "$work" && "$GO" get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && "$GO" mod tidy \
        && "$GO" build "${GOFLAGS_BUILD[@]}" -o "$work/etcd" .)
    install_atomic "$work/etcd" "$out"
    "$out" --version | sed -n 1p
}

# CoreDNS with only the plugins kubeadm's Corefile needs, registered in the order of the
# module's own plugin.cfg (directive order matters).
COREDNS_PLUGINS=(reload ready health prometheus errors log loadbalance cache kubernetes loop forward)
build_coredns() {
    local out="$CACHE_ROOT/coredns-$COREDNS_VERSION/coredns" work="$CACHE_ROOT/work/coredns-$COREDNS_VERSION"
    [[ -x "$out" ]] && { log "cached: $out"; return 0; }
    log "building lean CoreDNS $COREDNS_VERSION (${COREDNS_PLUGINS[*]})"
    go_throwaway_module "$work" offline.local/coredns
    (cd "$work" && "$GO" get "github.com/coredns/coredns@$COREDNS_VERSION")
    local cfg; cfg="$(cd "$work" && "$GO" list -m -f '{{.Dir}}' github.com/coredns/coredns)/plugin.cfg"
    # plugin.cfg lines are "directive:package" (package relative to plugin/ unless a full path).
    local ordered=() pkgs=() name pkg
    while IFS=: read -r name pkg; do
        for p in "${COREDNS_PLUGINS[@]}"; do
            [[ "$name" == "$p" ]] || continue
            ordered+=("$name")
            [[ "$pkg" == */* ]] && pkgs+=("$pkg") || pkgs+=("github.com/coredns/coredns/plugin/$pkg")
        done
    done < <(grep -v '^#' "$cfg")
    (( ${#ordered[@]} == ${#COREDNS_PLUGINS[@]} )) || die "plugin.cfg lacks some of ${COREDNS_PLUGINS[*]}"
    {
        echo "package main"
        echo
        echo "import ("
        echo "	\"github.com/coredns/coredns/core/dnsserver\""
        echo "	\"github.com/coredns/coredns/coremain\""
        for p in "${pkgs[@]}"; do echo "	_ \"$p\""; done
        echo ")"
        echo
        printf 'var directives = []string{'; printf '"%s", ' "${ordered[@]}"; echo '}'
        echo
        echo "func init() { dnsserver.Directives = directives }"
        echo
        echo "func main() { coremain.Run() }"
    } > "$work/main.go"
    gofmt -w "$work/main.go"
    (cd "$work" && "$GO" mod tidy && "$GO" build "${GOFLAGS_BUILD[@]}" -o "$work/coredns" .)
    install_atomic "$work/coredns" "$out"
    "$out" -version | sed -n 1,2p
}

all=(pause kind crictl etcd coredns metrics_server controller_gen prometheus_operator prometheus_adapter prometheus)
targets=("${@:-${all[@]}}")
for t in "${targets[@]}"; do
    t="${t//-/_}"
    SECONDS=0
    "build_$t"
    log "$t done in ${SECONDS}s"
done
