#!/usr/bin/env bash
# Prints the path of a venv with exactly a lock file's packages for one Python version, building
# it once per (version, lock content) in a cache outside the repository, like helm and
# actionlint. `make test-pythons` runs the unit suite on 3.12 and 3.13 with these: a fresh clone
# (CI) then pays the install once per lock change, not on every run.
#
#   tools/cached-venv.sh 3.13 requirements/dev.lock   # -> /var/cache/sre-ai-platform/venvs/py3.13-<hash>
#
# Exit 3 (and nothing on stdout) when no interpreter for the version is found. The package itself
# is NOT installed: the cached venv is shared by every checkout on the machine, so the caller
# imports app/ from its own tree (PYTHONPATH). Dependencies only, hash-checked.
set -euo pipefail
version="$1" lock="$2"
PYENV_ROOT="${PYENV_ROOT:-$HOME/.pyenv}"
VENV_CACHE="${VENV_CACHE:-/var/cache/sre-ai-platform/venvs}"
# Not root and no write access there: the user's cache.
mkdir -p "$VENV_CACHE" 2>/dev/null && [[ -w "$VENV_CACHE" ]] \
    || VENV_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/sre-ai-platform/venvs"

python=""
# pyenv's shims exist for versions that are not enabled, and fail: take the first that runs.
for candidate in "$(command -v "python$version" || true)" \
    "$PYENV_ROOT"/versions/"$version".*/bin/"python$version"; do
    if [[ -x "$candidate" ]] && "$candidate" -c 'pass' 2>/dev/null; then
        python="$candidate"
        break
    fi
done
[[ -n "$python" ]] || exit 3

hash="$(cat "$lock" <("$python" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-12)"
venv="$VENV_CACHE/py$version-$hash"
mkdir -p "$VENV_CACHE"
exec 9>"$VENV_CACHE/py$version.lock"
flock 9    # another checkout may be building the same venv
if [[ ! -f "$venv/.complete" ]]; then
    echo "cached-venv: building $venv from $lock with $python" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$lock" >&2
    touch "$venv/.complete"
fi
echo "$venv"
