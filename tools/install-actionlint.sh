#!/usr/bin/env bash
# Installs actionlint (the GitHub Actions workflow checker) into a cache outside the repository
# and prints its path; `make test` lints .github/workflows/ with it.
#
#   tools/install-actionlint.sh      # -> /var/cache/sre-ai-platform/bin/actionlint-v1.7.12/actionlint
#
# actionlint is a Go program and only package registries are reachable from our machines, so it
# is built with `go install` from the Go module proxy (about a minute on a cold Go cache). The
# directory is keyed by the version: bumping ACTIONLINT_VERSION builds the new one beside the old,
# and an existing binary is reused. (The version lives here, not in tools/versions.env: that file
# keys the kind node image's cache, which a linter bump must not rebuild.)
set -euo pipefail
# shellcheck source=tools/lib.sh
source "$(dirname "$0")/lib.sh"
ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"

dir="$CACHE_ROOT/bin/actionlint-$ACTIONLINT_VERSION"
bin="$dir/actionlint"
if [[ -x "$bin" ]] && "$bin" -version >/dev/null 2>&1; then
    echo "$bin"
    exit 0
fi
[[ -x "$GO" ]] || die "go not found: install Go (https://go.dev/dl/) to build actionlint"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log "building actionlint $ACTIONLINT_VERSION with go install (Go module proxy)"
GOBIN="$work" CGO_ENABLED=0 "$GO" install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" >&2
install_atomic "$work/actionlint" "$bin"
echo "$bin"
