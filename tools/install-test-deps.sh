#!/usr/bin/env bash
# Install what the test suite needs from Debian's packages: a real Redis, a real Prometheus and
# promtool, a real Alertmanager, and libfaketime (`make test-future` runs the suite a year ahead). Idempotent: does nothing when they are present. Daemons are NOT started by the
# packages (the tests start their own on free loopback ports).
set -euo pipefail

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v prometheus >/dev/null && command -v promtool >/dev/null || need+=(prometheus)
command -v faketime >/dev/null || need+=(faketime)
# strace: the SQLite ledger's fsyncs are counted by the kernel (tests/integration/budget).
command -v strace >/dev/null || need+=(strace)
# The real Alertmanager for the receiver's end-to-end test (tests/integration/alerts).
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing ${need[*]}: run 'sudo apt-get install -y ${need[*]}' (Debian/Ubuntu)" >&2
  exit 1
fi
echo "installing ${need[*]} from apt"
# Keep package scripts from starting daemons: nothing should listen on 6379 or 9090 but the
# tests' own servers.
policy=/usr/sbin/policy-rc.d
had_policy=0
[ -e "$policy" ] && had_policy=1
if [ "$had_policy" -eq 0 ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
