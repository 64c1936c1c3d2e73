#!/usr/bin/env bash
# In-cluster monitoring as kube-prometheus-stack users run it, with no registry: the Prometheus
# Operator and its config reloader, Prometheus, and prometheus-adapter serving
# custom.metrics.k8s.io, all built from their Go modules (tools/build-go-tools.sh), each in a
# small image on our Debian base, loaded with `kind load` and run with imagePullPolicy Never.
# (Debian's Prometheus package cannot be used: it is built without Kubernetes discovery.)
#   cluster-monitoring.sh KUBE_CONTEXT CRDS_DIR
# Binaries are cached by version (tools/build-go-tools.sh); image tags carry a hash of binary +
# recipe + base, so a warm run only re-applies the manifests and waits. Idempotent.
# MONITORING_BASE_IMAGE: base for the images (default: our Debian k8s-base).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

context="${1:?usage: cluster-monitoring.sh KUBE_CONTEXT CRDS_DIR}"
crds_dir="${2:?usage: cluster-monitoring.sh KUBE_CONTEXT CRDS_DIR}"
cluster="${context#kind-}"
KUBECTL="${KUBECTL:-kubectl}"
KIND="${KIND:-kind}"
k() { "$KUBECTL" --context "$context" "$@"; }

"$TOOLS_SRC_DIR/build-go-tools.sh" prometheus_operator prometheus_adapter prometheus
op_dir="$CACHE_ROOT/prometheus-operator-$PROM_OPERATOR_BIN_VERSION"
adapter_bin="$CACHE_ROOT/prometheus-adapter-$PROM_ADAPTER_VERSION/adapter"
prometheus_bin="$CACHE_ROOT/prometheus-$PROMETHEUS_VERSION/prometheus"
base="${MONITORING_BASE_IMAGE:-$("$TOOLS_SRC_DIR/build-rootfs-image.sh" k8s-base)}"

# image NAME VERSION BINARY ENTRYPOINT_PATH: an image with one binary; prints its tag.
IMAGE_RECIPE=1
image() {
    local name="$1" version="$2" bin="$3" path="$4" hash tag ctx
    hash="$( { echo "$IMAGE_RECIPE $base $path"; sha256sum < "$bin"; } | sha256sum | cut -c1-12)"
    tag="sre-ai-platform/$name:$version-$hash"
    if ! docker image inspect "$tag" >/dev/null 2>&1; then
        ctx="$(mktemp -d)"
        cp "$bin" "$ctx/binary"
        cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $base
COPY binary $path
RUN mkdir -p /prometheus /etc/prometheus && chown 65534:65534 /prometheus
WORKDIR /prometheus
USER 65534
ENTRYPOINT ["$path"]
DOCKERFILE
        log "building $tag"
        DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null
        rm -rf "$ctx"
    fi
    echo "$tag"
}

operator_image="$(image prometheus-operator "$PROM_OPERATOR_BIN_VERSION" "$op_dir/operator" /bin/operator)"
reloader_image="$(image prometheus-config-reloader "$PROM_OPERATOR_BIN_VERSION" \
    "$op_dir/prometheus-config-reloader" /bin/prometheus-config-reloader)"
prometheus_image="$(image prometheus "$PROMETHEUS_VERSION" "$prometheus_bin" /bin/prometheus)"
adapter_image="$(image prometheus-adapter "$PROM_ADAPTER_VERSION" "$adapter_bin" /bin/adapter)"
# kind load skips an image a node already has under the same name.
"$KIND" load docker-image --name "$cluster" \
    "$operator_image" "$reloader_image" "$prometheus_image" "$adapter_image"

# Every monitoring.coreos.com CRD: the operator watches Prometheus, its monitors and rules.
k apply --server-side --force-conflicts --field-manager=sre-ai-platform-e2e -f "$crds_dir"
k wait --for=condition=Established --timeout=60s \
    crd/prometheuses.monitoring.coreos.com crd/servicemonitors.monitoring.coreos.com

adapter_config="$(dirname "$TOOLS_SRC_DIR")/prometheus-adapter/config.yaml"
sed -e "s|@OPERATOR_IMAGE@|$operator_image|" -e "s|@RELOADER_IMAGE@|$reloader_image|" \
    -e "s|@PROMETHEUS_IMAGE@|$prometheus_image|" -e "s|@PROMETHEUS_VERSION@|$PROMETHEUS_VERSION|" \
    -e "s|@ADAPTER_IMAGE@|$adapter_image|" \
    -e "s|@ADAPTER_CONFIG_HASH@|$(sha256sum < "$adapter_config" | cut -c1-12)|" \
    "$TOOLS_SRC_DIR/manifests/monitoring-stack.yaml" \
    | k apply --server-side --force-conflicts --field-manager=sre-ai-platform-e2e -f -
k -n monitoring create configmap prometheus-adapter --from-file=config.yaml="$adapter_config" \
    --dry-run=client -o yaml | k apply --server-side --force-conflicts --field-manager=sre-ai-platform-e2e -f -

k -n monitoring rollout status deployment/prometheus-operator --timeout=180s
# The operator creates the StatefulSet; wait for it to exist, then for it to roll out.
k -n monitoring wait --for=create --timeout=180s statefulset/prometheus-kube-prometheus-stack-prometheus
k -n monitoring rollout status statefulset/prometheus-kube-prometheus-stack-prometheus --timeout=180s
k -n monitoring rollout status deployment/prometheus-adapter --timeout=180s
k wait --for=condition=Available --timeout=120s \
    apiservice/v1beta1.custom.metrics.k8s.io apiservice/v1beta2.custom.metrics.k8s.io
log "monitoring ready on $context in ${SECONDS}s: prometheus-operator $PROM_OPERATOR_BIN_VERSION, prometheus $PROMETHEUS_VERSION, prometheus-adapter $PROM_ADAPTER_VERSION"
