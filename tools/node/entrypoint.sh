#!/bin/bash
# PID 1 of an offline kind node container: prepare the container so systemd, containerd and
# the kubelet can run nested on our hosts (cgroup v1 + private cgroupns), write the CNI
# config for this node's pod range, then hand over to systemd (or to "$@").
set -euo pipefail

log() { echo "node-entrypoint: $*" >&2; }

# systemd in a container wants a read-only /sys; mounts must propagate for kubelet volumes.
prepare_mounts() {
    mount -o remount,ro /sys || log "warning: could not remount /sys read-only"
    mount --make-rshared /
}

# cgroup v1 with a private cgroupns: each hierarchy shows this container's cgroup as its
# root. kind configures the kubelet with cgroupRoot=/kubelet (systemd driver: kubelet.slice),
# so both must exist in every hierarchy; the bind mount keeps systemd from removing them.
prepare_cgroups() {
    if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
        log "cgroup v2: nothing to prepare here"
        return
    fi
    mount --make-rprivate /sys/fs/cgroup
    local hier sub
    while read -r hier; do
        for sub in kubelet kubelet.slice; do
            mkdir -p "$hier/$sub"
            if [[ -f "$hier/cpuset.cpus" ]]; then
                cat "$hier/cpuset.cpus" > "$hier/$sub/cpuset.cpus"
                cat "$hier/cpuset.mems" > "$hier/$sub/cpuset.mems"
            fi
            mountpoint -q "$hier/$sub" || mount --bind "$hier/$sub" "$hier/$sub"
        done
    done < <(findmnt -ln -t cgroup -o TARGET)
}

# Every node needs its own identity; the image carries an empty machine-id.
prepare_identity() {
    if [[ ! -s /etc/machine-id ]] || [[ -n "${NODE_FORCE_MACHINE_ID:-}" ]]; then
        tr -d '-' < /proc/sys/kernel/random/uuid > /etc/machine-id
    fi
}

# Pod network with no CNI daemon: this node owns 10.244.<last octet of its IP>.0/24, pods
# get point-to-point veths (all traffic is routed, so kube-proxy's iptables rules see it),
# and a route per possible peer node sends other nodes' pod ranges to them.
prepare_pod_network() {
    local ip prefix last i
    ip="$(ip -4 -o addr show dev eth0 | awk '{split($4, a, "/"); print a[1]; exit}')"
    [[ -n "$ip" ]] || { log "no IPv4 address on eth0"; return 1; }
    prefix="${ip%.*}" last="${ip##*.}"
    sed "s#@POD_SUBNET@#${POD_NETWORK_PREFIX:-10.244}.$last.0/24#" \
        /etc/cni/sre-ai-platform.conflist.in > /etc/cni/net.d/10-sre-ai-platform.conflist
    for i in $(seq 2 254); do
        [[ "$i" == "$last" ]] && continue
        ip route replace "${POD_NETWORK_PREFIX:-10.244}.$i.0/24" via "$prefix.$i" dev eth0 onlink
    done
    sysctl -qw net.ipv4.ip_forward=1
    log "node $ip: pods in ${POD_NETWORK_PREFIX:-10.244}.$last.0/24"

    # The resolver pods with dnsPolicy Default (CoreDNS among them) get (kubelet
    # --resolv-conf, see 10-kubeadm.conf). The node's own /etc/resolv.conf, Docker's
    # 127.0.0.11, stays: kubeadm join finds the control plane by name there. In a pod that
    # address is its own loopback, where CoreDNS's loop plugin finds itself and exits. Nothing
    # answers on this node's :53, so in pods cluster names resolve, outside names fail fast, and no
    # pod's DNS query leaves the machine.
    printf 'nameserver %s\noptions ndots:0\n' "$ip" > /etc/kubelet-pod-resolv.conf

    # hostNetwork pods (kube-proxy, the control plane) get that file too, yet must find the
    # other nodes by name: packets this node sends itself to <ip>:53 go to Docker's DNS.
    # Only locally generated ones (nat OUTPUT): pods' queries still find nothing there.
    local rule args
    sysctl -qw net.ipv4.conf.all.route_localnet=1
    while read -r rule; do
        read -ra args <<< "${rule/-A DOCKER_OUTPUT -d 127.0.0.11\/32/-A OUTPUT -d $ip/32}"
        iptables -t nat "${args[@]}"
    done < <(iptables-save -t nat | grep -E '^-A DOCKER_OUTPUT -d 127\.0\.0\.11/32 .*--dport 53 ')
}

# Traffic to a ClusterIP that kube-proxy has not (yet) translated would follow the default
# route out of the node, and on our VMs a TLS-intercepting proxy answers any :443 out there:
# the aggregator once cached such a connection and saw 404s from metrics.k8s.io forever.
# Translated packets no longer carry a service address in the filter table, so reject the rest.
fence_service_network() {
    local cidr="${SERVICE_CIDR:-10.96.0.0/16}" chain
    for chain in OUTPUT FORWARD; do
        iptables -A "$chain" -d "$cidr" -p tcp -j REJECT --reject-with tcp-reset
        iptables -A "$chain" -d "$cidr" -j REJECT
    done
}

prepare_mounts
prepare_cgroups
prepare_identity
prepare_pod_network
fence_service_network

(( $# )) || set -- /sbin/init
log "exec $*"
exec "$@"
