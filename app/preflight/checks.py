"""Each check raises ConfigurationError (naming the variable or field, and the fix) or returns
a short description of what it found. `serving_checks` are the ones the server runs before it
binds its port; `sre-ai-platform check` runs them all (app/preflight/command.py)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from app.budget.ledger import open_ledger
from app.clock import Clock
from app.config import Settings
from app.config_watch.initial import initial_policy
from app.errors import ConfigurationError, LedgerUnavailableError, PolicyError, UpstreamError
from app.llm.anthropic import verify_key
from app.metrics import Metrics
from app.policy_source import ActivePolicy
from app.resilience.redis_dependency import redact_redis_url
from app.runbooks.holder import RunbookHolder

LEDGER_CHECK_SECONDS = 5.0


def check_policy(settings: Settings, clock: Clock) -> ActivePolicy:
    try:
        return initial_policy(settings, clock)
    except PolicyError as exc:
        if settings.policy_source == "kubernetes":
            raise ConfigurationError(
                exc.detail, setting="SRE_AI_POLICY_CONFIGMAP",
                fix=f"correct the named field(s) in ConfigMap {settings.policy_configmap} "
                    "(key policy.yaml), or check that it exists and the pod may read it",
            ) from None
        fix = (f"correct the named field(s) in {settings.policy_file} (every field and its "
               "default: app/default_policy.yaml)")
        if exc.detail.startswith("cannot read"):
            fix = "point SRE_AI_POLICY_FILE at a readable policy YAML file"
        raise ConfigurationError(
            exc.detail, setting="SRE_AI_POLICY_FILE",
            fix=fix + ", or unset SRE_AI_POLICY_FILE to start on the built-in policy",
        ) from None


def check_sqlite_ledger(settings: Settings, clock: Clock) -> str:
    """The SQLite ledger file can be created (or opened) and written."""
    async def probe() -> None:
        ledger = open_ledger(settings, clock)
        try:
            await ledger.ping()
        finally:
            await ledger.aclose()

    try:
        asyncio.run(probe())
    except (OSError, sqlite3.Error, LedgerUnavailableError) as exc:
        detail = exc.detail if isinstance(exc, LedgerUnavailableError) else str(exc)
        raise ConfigurationError(
            f"cannot open the SQLite ledger at {settings.ledger_path}: {detail}",
            setting="SRE_AI_LEDGER_PATH",
            fix="point SRE_AI_LEDGER_PATH at a file in a directory this process can create and "
                "write (the chart mounts one at ledger.path), or set SRE_AI_REDIS_URL",
        ) from None
    return f"sqlite {settings.ledger_path}"


def check_spool(settings: Settings) -> str:
    """The settle spool's directory could be created and written. Nothing is created: a pod
    that never spooled never touches its disk (app/budget/spool.py)."""
    problem = _unwritable_dir(settings.settle_spool_dir)
    if problem is not None:
        setting = "SRE_AI_SPOOL_DIR" if settings.spool_dir is not None else "SRE_AI_LEDGER_PATH"
        raise ConfigurationError(
            f"the settle spool in {settings.settle_spool_dir} cannot be written: {problem}",
            setting=setting,
            fix=f"point {setting} at a writable place (the spool defaults to spool/ next to "
                "SRE_AI_LEDGER_PATH)")
    return f"spool {settings.settle_spool_dir}"


async def check_redis_ledger(settings: Settings, clock: Clock) -> str:
    shown = redact_redis_url(settings.redis_url or "")
    ledger = open_ledger(settings, clock)
    try:
        async with asyncio.timeout(LEDGER_CHECK_SECONDS):
            await ledger.ping()
    except (LedgerUnavailableError, TimeoutError) as exc:
        why = exc.detail if isinstance(exc, LedgerUnavailableError) else "no answer in time"
        raise ConfigurationError(
            f"Redis ledger {shown} is unreachable: {why}", setting="SRE_AI_REDIS_URL",
            fix="check the host, port and password in SRE_AI_REDIS_URL, and that Redis runs",
        ) from None
    finally:
        await ledger.aclose()
    return f"redis {shown}"


def check_runbooks(settings: Settings) -> str:
    from prometheus_client import CollectorRegistry

    holder = RunbookHolder(settings.runbooks_dir, Metrics(CollectorRegistry()),
                           cache_dir=None, max_bytes=settings.max_runbook_bytes)
    holder.load()
    index = holder.current
    if len(index) == 0:
        raise ConfigurationError(
            f"no runbook indexed from {settings.runbooks_dir}: {holder.problem or 'empty'}",
            setting="SRE_AI_RUNBOOKS_DIR",
            fix="point SRE_AI_RUNBOOKS_DIR at a directory of Markdown runbooks "
                "(README \"Your own runbooks\")")
    skipped = "".join(f"; skipped {s.path} ({s.reason})" for s in holder.skipped[:10])
    return f"{len(index)} runbooks from {settings.runbooks_dir}, {len(holder.skipped)} skipped" \
        + skipped


async def check_key(settings: Settings) -> str:
    if settings.anthropic_api_key is None:
        return "no ANTHROPIC_API_KEY: the offline provider answers (runbook excerpts, $0)"
    try:
        await verify_key(settings.anthropic_api_key.get_secret_value(),
                         base_url=settings.anthropic_base_url)
    except UpstreamError as exc:
        fix = ("put a valid key in the Secret the pods read ANTHROPIC_API_KEY from"
               if exc.kind == "auth" else "check ANTHROPIC_BASE_URL and the network path to it")
        raise ConfigurationError(exc.detail, setting="ANTHROPIC_API_KEY", fix=fix) from None
    return "the Anthropic API accepts ANTHROPIC_API_KEY"


def serving_checks(settings: Settings, clock: Clock) -> None:
    """What must hold before the server binds its port: the policy, a SQLite ledger's file,
    the settle spool's directory. (An unreachable Redis is not fatal: it is a WARN at
    start-up, app/runtime.py.)"""
    check_policy(settings, clock)
    if not settings.redis_url:
        check_sqlite_ledger(settings, clock)
    check_spool(settings)


def _unwritable_dir(directory: Path) -> str | None:
    """Why `directory` could not be created and written (None: it could), without creating it."""
    if directory.exists():
        if not directory.is_dir():
            return f"{directory} exists and is not a directory"
        return None if os.access(directory, os.W_OK | os.X_OK) else f"{directory} is not writable"
    parent = directory.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} is not writable"
    return None
