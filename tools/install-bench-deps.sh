#!/usr/bin/env bash
# What `make bench-throughput` needs beyond the test dependencies: `wrk` (Debian's package) as
# the load generator, and py-spy in the dev venv for `--profile`. Not on the test path: the
# suite never runs the bench. Idempotent. Usage: tools/install-bench-deps.sh [VENV]
set -euo pipefail
venv=${1:-.venv}

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing wrk: run 'sudo apt-get install -y wrk' (Debian/Ubuntu)" >&2
    exit 1
  fi
  echo "installing wrk from apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
fi
# py-spy samples another process from outside: it is a tool of the bench, not a dependency of
# the service or the tests, so it is not in requirements/*.lock.
[ -x "$venv/bin/py-spy" ] || "$venv/bin/pip" install --quiet --disable-pip-version-check py-spy
