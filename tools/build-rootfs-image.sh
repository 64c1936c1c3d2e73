#!/usr/bin/env bash
# Make a Debian image with no registry: debootstrap a rootfs and `docker import` it.
#   build-rootfs-image.sh PROFILE   -> prints the image tag on stdout
# Profiles (the package sets) are below. The tag carries a hash of this script and the
# profile, so a changed recipe gives a new tag and an unchanged one is reused. The rootfs
# tarball is kept in $CACHE_ROOT/rootfs so the image can be re-imported after a docker prune.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
profile="${1:?usage: build-rootfs-image.sh python-base|node-base|k8s-base|redis}"
# python-base trusts what this machine trusts: our machines reach PyPI through a TLS-inspecting
# proxy, so `pip install` in a `docker build` FROM it needs the machine's CA bundle. The image
# is a local build base, never published. EXTRA_CA_BUNDLE= (empty) keeps Debian's bundle.
EXTRA_CA_BUNDLE="${EXTRA_CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}"
ca_bundle=""

case "$profile" in
    # App base: the service's Dockerfile builds FROM it (ARG BASE_IMAGE).
    python-base)
        repo=sre-ai-platform/python-base; tag_prefix="$DEBIAN_SUITE-3.11"
        include=python3,python3-venv,ca-certificates
        [[ -n "$EXTRA_CA_BUNDLE" && -s "$EXTRA_CA_BUNDLE" ]] && ca_bundle="$EXTRA_CA_BUNDLE"
        cmd='["/usr/bin/python3"]' ;;
    # kind node: systemd as PID 1, containerd + runc, CNI plugins and what kubelet shells out to.
    node-base)
        repo=sre-ai-platform/node-base; tag_prefix="$DEBIAN_SUITE"
        include=systemd,systemd-sysv,dbus,containerd,runc,containernetworking-plugins,iptables,nftables,iproute2,conntrack,ethtool,kmod,mount,util-linux,socat,ca-certificates,procps,libseccomp2,bash,curl,findutils,hostname
        cmd='["/sbin/init"]' ;;
    # Control-plane images (static Go binaries; kube-proxy needs iptables and conntrack).
    k8s-base)
        repo=sre-ai-platform/k8s-base; tag_prefix="$DEBIAN_SUITE"
        include=iptables,conntrack,ca-certificates
        cmd='["/bin/sh"]' ;;
    # Redis for the chart's e2e release (its pod runs `redis-server`).
    redis)
        repo=sre-ai-platform/redis-base; tag_prefix="$DEBIAN_SUITE"
        include=redis-server
        cmd='["redis-server"]' ;;
    *) die "unknown profile $profile" ;;
esac

# Bump when the rootfs steps below change; the tag hash covers recipe, profile and CA bundle.
ROOTFS_RECIPE=1
hash="$( { printf '%s\n' "$ROOTFS_RECIPE" "$profile" "$include" "$DEBIAN_SUITE";
          [[ -z "$ca_bundle" ]] || sha256sum < "$ca_bundle"; } | sha256sum | cut -c1-12)"
tag="$repo:$tag_prefix-$hash"
tarball="$CACHE_ROOT/rootfs/$profile-$DEBIAN_SUITE-$hash.tar"

if docker image inspect "$tag" >/dev/null 2>&1; then
    log "$profile: image $tag present"
    echo "$tag"; exit 0
fi

if [[ ! -f "$tarball" ]]; then
    command -v debootstrap >/dev/null || die "debootstrap missing: run tools/install-docker.sh"
    root="$(mktemp -d "$CACHE_ROOT/work/rootfs-$profile.XXXXXX")"
    trap 'umount -R "$root/proc" "$root/sys" "$root/dev" 2>/dev/null || true; rm -rf "$root"' EXIT
    mkdir -p "$CACHE_ROOT/debootstrap-debs"
    log "$profile: debootstrap $DEBIAN_SUITE minbase + $include"
    SECONDS=0
    debootstrap --variant=minbase --include="$include" --cache-dir="$CACHE_ROOT/debootstrap-debs" \
        "$DEBIAN_SUITE" "$root" "$MIRROR" > "$CACHE_ROOT/logs/debootstrap-$profile.log" 2>&1 \
        || die "debootstrap failed: see $CACHE_ROOT/logs/debootstrap-$profile.log"
    log "$profile: debootstrap took ${SECONDS}s"
    echo "deb $MIRROR $DEBIAN_SUITE main" > "$root/etc/apt/sources.list"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
    # Images must not carry the build machine's identity or resolver.
    : > "$root/etc/machine-id"; rm -f "$root/var/lib/dbus/machine-id"
    rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
    [[ -z "$ca_bundle" ]] || install -m 0644 "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" . && mv -f "$tarball.tmp" "$tarball"
fi

log "$profile: docker import -> $tag"
docker import --change "CMD $cmd" --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tarball" "$tag" >/dev/null
echo "$tag"
