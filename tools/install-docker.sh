#!/usr/bin/env bash
# Install Docker from Debian, register our runc wrapper (tools/runc-capfilter) as the default
# runtime, and start dockerd (no systemd here). Idempotent: a running, configured daemon is
# left alone.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

WRAPPER=/usr/local/sbin/runc-capfilter
DAEMON_JSON=/etc/docker/daemon.json
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"

need_pkgs=()
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
command -v jq >/dev/null || need_pkgs+=(jq)
command -v capsh >/dev/null || need_pkgs+=(libcap2-bin)
command -v debootstrap >/dev/null || need_pkgs+=(debootstrap)
if (( ${#need_pkgs[@]} )); then
    log "apt-get install ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >/dev/null; }
fi

install -D -m 0755 "$TOOLS_SRC_DIR/runc-capfilter" "$WRAPPER"

want_json="$(jq -n --arg p "$WRAPPER" '{
    "default-runtime": "runc-capfilter",
    "runtimes": {"runc-capfilter": {"path": $p}},
    "storage-driver": "overlay2"
}')"
changed=0
if [[ ! -f "$DAEMON_JSON" ]] || [[ "$(jq -S . "$DAEMON_JSON")" != "$(jq -S . <<<"$want_json")" ]]; then
    mkdir -p "$(dirname "$DAEMON_JSON")"
    printf '%s\n' "$want_json" > "$DAEMON_JSON"
    changed=1
fi

dockerd_pid="$(pgrep -x dockerd || true)"
if [[ -z "$dockerd_pid" ]]; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 < /dev/null &
elif (( changed )); then
    log "reloading dockerd $dockerd_pid for the new daemon.json"
    kill -HUP "$dockerd_pid"
fi

deadline=$((SECONDS + 60))
until docker info >/dev/null 2>&1; do
    (( SECONDS < deadline )) || die "dockerd did not answer within 60s; see $DOCKERD_LOG"
    sleep 1
done
deadline=$((SECONDS + 30))
until [[ "$(docker info --format '{{.DefaultRuntime}}')" == runc-capfilter ]]; do
    (( SECONDS < deadline )) || die "dockerd did not pick up runc-capfilter as default runtime"
    sleep 1
done
log "docker $(docker info --format '{{.ServerVersion}}') ready, default runtime runc-capfilter, cgroup $(docker info --format '{{.CgroupVersion}}')"
