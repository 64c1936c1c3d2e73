"""`sre-ai-platform check`: every start-up check, without serving. One line per check,
`ok`, `warn` or `FAIL`, then exit 0 when nothing failed, else EX_CONFIG (78). For CI (check a
policy and runbooks before they ship) and for an init container (a pod that would not work
never starts its server). `--check-key` also asks the Anthropic API whether it accepts
ANTHROPIC_API_KEY (one free, authenticated GET /v1/models): off by default, it needs the
network and a real key."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from app.clock import SystemClock
from app.config import Settings
from app.config.environment import describe_unknown, load_settings, unknown_variables
from app.errors import ConfigurationError
from app.preflight.checks import (
    check_key,
    check_policy,
    check_redis_ledger,
    check_runbooks,
    check_spool,
    check_sqlite_ledger,
)

EX_OK = 0
EX_CONFIG = 78  # sysexits.h: configuration error


def run_checks(*, with_key: bool, emit: Callable[[str], None] = print) -> int:
    failed = False

    def line(status: str, name: str, text: str) -> None:
        emit(f"{status:<4} {name:<11} {text}")

    def attempt(name: str, check: Callable[[], str]) -> None:
        nonlocal failed
        try:
            line("ok", name, check())
        except ConfigurationError as exc:
            failed = True
            line("FAIL", name, f"{exc.setting}: {exc.detail} (fix: {exc.fix})")

    for name, suggestion in unknown_variables():
        line("warn", "environment", describe_unknown(name, suggestion))
    settings: Settings | None = None

    def environment() -> str:
        nonlocal settings
        settings = load_settings()
        return f"provider {'anthropic' if settings.anthropic_api_key else 'offline'}, " \
            f"policy source {settings.policy_source}"

    attempt("environment", environment)
    if settings is None:
        return EX_CONFIG  # the other checks read their settings from it
    s, clock = settings, SystemClock()

    def policy() -> str:
        active = check_policy(s, clock)
        return f"{active.origin} (hash {active.digest[:12]})"

    attempt("policy", policy)
    attempt("runbooks", lambda: check_runbooks(s))
    def ledger() -> str:
        where = (asyncio.run(check_redis_ledger(s, clock)) if s.redis_url
                 else check_sqlite_ledger(s, clock))
        return f"{where}, {check_spool(s)}"

    attempt("ledger", ledger)
    if with_key:
        attempt("key", lambda: asyncio.run(check_key(s)))
    else:
        line("skip", "key", "not called (add --check-key to ask the Anthropic API)")
    return EX_CONFIG if failed else EX_OK
