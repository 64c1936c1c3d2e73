#!/usr/bin/env bash
# Build the seven Kubernetes binaries from the Go module proxy into
# $CACHE_ROOT/k8s-$K8S_VERSION/bin. k8s.io/kubernetes cannot be `go install`ed (its go.mod
# replaces the staging modules with local paths), so a throwaway module requires it and
# replaces each staging module with its published v0.X.Y twin. kubectl is built first as a
# canary; then all seven in one `go build` so shared packages compile once.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

V="$K8S_VERSION"
STAGING_V="v0.${V#v1.}"
OUT="$CACHE_ROOT/k8s-$V/bin"
CMDS=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubeadm kubectl)

have_all() { local c; for c in "${CMDS[@]}"; do [[ -x "$OUT/$c" ]] || return 1; done; }
if have_all; then log "k8s $V: cached in $OUT"; exit 0; fi

WORK="$CACHE_ROOT/work/k8s-$V"
go_throwaway_module "$WORK" "offline.local/k8s-build"
cd "$WORK"

log "k8s $V: reading upstream go.mod"
upstream_mod="$("$GO" mod download -json "k8s.io/kubernetes@$V" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
[[ -f "$upstream_mod" ]] || die "could not download k8s.io/kubernetes@$V"
mapfile -t staging < <(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$upstream_mod")
(( ${#staging[@]} > 20 )) || die "found only ${#staging[@]} staging modules in $upstream_mod"

{
    echo "module offline.local/k8s-build"
    echo
    echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$upstream_mod")"
    echo
    echo "require k8s.io/kubernetes $V"
    echo
    echo "replace ("
    for m in "${staging[@]}"; do echo "	$m => $m $STAGING_V"; done
    echo ")"
} > go.mod

build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
minor="${V#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$V -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date -X $pkg.gitCommit=offline"
done

gobuild() {
    CGO_ENABLED=0 "$GO" build -mod=mod -trimpath -tags selinux,notest -ldflags "$ldflags" "$@"
}

mkdir -p "$WORK/out"
if [[ ! -x "$WORK/out/kubectl" ]]; then
    log "k8s $V: canary build of kubectl"
    SECONDS=0
    gobuild -o "$WORK/out/" k8s.io/kubernetes/cmd/kubectl
    log "k8s $V: kubectl built in ${SECONDS}s"
    "$WORK/out/kubectl" version --client
fi

log "k8s $V: building ${CMDS[*]}"
SECONDS=0
gobuild -o "$WORK/out/" "${CMDS[@]/#/k8s.io/kubernetes/cmd/}"
log "k8s $V: all built in ${SECONDS}s"

for c in "${CMDS[@]}"; do install_atomic "$WORK/out/$c" "$OUT/$c"; done
"$OUT/kubeadm" version -o short
log "k8s $V: installed into $OUT"
