#!/usr/bin/env bash
# Assemble the kind node image without `kind build node-image` (which fetches from
# registries): our Debian node base + our entrypoint, containerd config, systemd units and
# CNI template + kubeadm/kubelet/kubectl/crictl, with every control-plane image preloaded
# into containerd under the exact name `kubeadm config images list` gives.
# Prints the image tag: kindest-offline/node:<k8s version>-<hash of every input>.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

NODE_FILES="$TOOLS_SRC_DIR/node"
K8S_BIN="$CACHE_ROOT/k8s-$K8S_VERSION/bin"
PAUSE_BIN="$(ls -d "$CACHE_ROOT"/pause-"$PAUSE_TAG"-*/pause 2>/dev/null | head -1 || true)"
declare -A BIN=(
    [kube-apiserver]="$K8S_BIN/kube-apiserver"
    [kube-controller-manager]="$K8S_BIN/kube-controller-manager"
    [kube-scheduler]="$K8S_BIN/kube-scheduler"
    [kube-proxy]="$K8S_BIN/kube-proxy"
    [etcd]="$CACHE_ROOT/etcd-$ETCD_VERSION/etcd"
    [coredns]="$CACHE_ROOT/coredns-$COREDNS_VERSION/coredns"
    [pause]="$PAUSE_BIN"
    [metrics-server]="$CACHE_ROOT/metrics-server-$METRICS_SERVER_VERSION/metrics-server"
)
CRICTL="$CACHE_ROOT/crictl-$CRICTL_VERSION/crictl"
for f in "${BIN[@]}" "$K8S_BIN/kubeadm" "$K8S_BIN/kubelet" "$K8S_BIN/kubectl" "$CRICTL"; do
    [[ -x "$f" ]] || die "missing $f: run tools/build-toolchain.sh first"
done
METRICS_SERVER_IMAGE="registry.k8s.io/metrics-server/metrics-server:$METRICS_SERVER_VERSION"

node_base="$("$TOOLS_SRC_DIR/build-rootfs-image.sh" node-base)"
k8s_base="$("$TOOLS_SRC_DIR/build-rootfs-image.sh" k8s-base)"

hash="$( {
    echo "$node_base $k8s_base $PAUSE_BIN"
    cat "${BASH_SOURCE[0]}" "$TOOLS_SRC_DIR/versions.env"
    find "$NODE_FILES" -type f | sort | xargs cat
} | sha256sum | cut -c1-12)"
NODE_IMAGE="${NODE_IMAGE_REPO:-kindest-offline/node}:$K8S_VERSION-$hash"
if docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then
    log "node image $NODE_IMAGE present"
    echo "$NODE_IMAGE"; exit 0
fi

work="$(mktemp -d "$CACHE_ROOT/work/node-image.XXXXXX")"
assembler="node-image-assemble-$$"
trap 'docker rm -f "$assembler" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
export DOCKER_BUILDKIT=0

# 1. one tiny image per control-plane component, on the shared k8s-base layer
mapfile -t refs < <("$K8S_BIN/kubeadm" config images list --kubernetes-version "$K8S_VERSION")
refs+=("$METRICS_SERVER_IMAGE")
for ref in "${refs[@]}"; do
    name="${ref%:*}"; name="${name##*/}"
    src="${BIN[$name]:-}"
    [[ -n "$src" ]] || die "no binary for $ref"
    ctx="$work/img-$name"; mkdir -p "$ctx"
    cp "$src" "$ctx/$name"
    cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $k8s_base
COPY $name /usr/local/bin/$name
ENTRYPOINT ["/usr/local/bin/$name"]
DOCKERFILE
    docker build -q -t "$ref" "$ctx" >/dev/null
    log "built $ref"
done
docker save -o "$work/images.tar" "${refs[@]}"

# 2. the node filesystem
ctx="$work/node"; mkdir -p "$ctx"
cp "$K8S_BIN/kubeadm" "$K8S_BIN/kubelet" "$K8S_BIN/kubectl" "$CRICTL" "$ctx/"
cp "$NODE_FILES/entrypoint.sh" "$NODE_FILES/cni.conflist.in" "$NODE_FILES/crictl.yaml" \
    "$NODE_FILES/default-storage.yaml" "$NODE_FILES/default-cni.yaml" "$NODE_FILES"/systemd/* "$ctx/"
sed "s#@SANDBOX_IMAGE@#registry.k8s.io/pause:$PAUSE_TAG#" "$NODE_FILES/containerd-config.toml.in" > "$ctx/containerd-config.toml"
echo "$K8S_VERSION" > "$ctx/version"
cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $node_base
COPY kubeadm kubelet kubectl /usr/bin/
COPY crictl /usr/local/bin/crictl
COPY entrypoint.sh /usr/local/bin/entrypoint
COPY containerd-config.toml /etc/containerd/config.toml
COPY cni.conflist.in /etc/cni/sre-ai-platform.conflist.in
COPY crictl.yaml /etc/crictl.yaml
COPY kubelet.service kubelet.slice /etc/systemd/system/
COPY 10-kubeadm.conf /etc/systemd/system/kubelet.service.d/10-kubeadm.conf
COPY default-storage.yaml default-cni.yaml /kind/manifests/
COPY version /kind/version
RUN chmod 0755 /usr/local/bin/entrypoint /usr/bin/kube* /usr/local/bin/crictl \
 && mkdir -p /etc/cni/net.d /etc/kubernetes/manifests /var/lib/kubelet \
 && systemctl enable containerd.service kubelet.service \
 && systemctl mask getty.target console-getty.service apt-daily.timer apt-daily-upgrade.timer \
        dpkg-db-backup.timer e2scrub_all.timer e2scrub_reap.service systemd-logind.service
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
DOCKERFILE
stage="sre-ai-platform/node-stage:$K8S_VERSION-$hash"
docker build -q -t "$stage" "$ctx" >/dev/null
log "node stage $stage built"

# 3. preload the images into the node's containerd, unpacked on first use, pinned
docker run --name "$assembler" --privileged --tmpfs /run --tmpfs /tmp \
    -v "$work/images.tar:/images.tar:ro" --entrypoint /bin/bash "$stage" -euc '
        containerd --config /etc/containerd/config.toml >/tmp/containerd.log 2>&1 &
        pid=$!
        for _ in $(seq 150); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done
        ctr -n k8s.io images import --no-unpack --digests /images.tar >/dev/null
        for ref in $(ctr -n k8s.io images ls -q); do
            ctr -n k8s.io images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
        done
        ctr -n k8s.io images ls -q | grep -v "sha256:" | sed "s/^/preloaded: /"
        kill "$pid"; wait "$pid" || true' >&2
docker commit \
    --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' --change 'CMD []' \
    "$assembler" "$NODE_IMAGE" >/dev/null
docker rm "$assembler" >/dev/null
docker rmi "$stage" >/dev/null
# Earlier images for this Kubernetes version (older recipes) each carry 1.1 GB of preloaded
# content: drop the ones no container uses.
docker images "${NODE_IMAGE%:*}" --format '{{.Repository}}:{{.Tag}}' \
    | grep -F ":$K8S_VERSION-" | grep -vxF "$NODE_IMAGE" \
    | while read -r old; do docker rmi "$old" >/dev/null 2>&1 && log "removed superseded $old"; done \
    || true
log "node image $NODE_IMAGE ready"
echo "$NODE_IMAGE"
