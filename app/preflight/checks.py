"""Each check raises ConfigurationError (naming the variable or field, and the fix) or returns
a short description of what it found. `serving_checks` are the ones the server runs before it
binds its port; `sre-ai-platform check` runs them all (app/preflight/command.py)."""

from __future__ import annotations

import asyncio
import sqlite3

from app.budget.ledger import open_ledger
from app.budget.spool import SettleSpool
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
        setting = "SRE_AI_POLICY_FILE"
        raise ConfigurationError(
            exc.detail, setting=setting,
            fix=f"correct the named field(s) in {settings.policy_file} (every field and its "
                "default: app/default_policy.yaml), or unset SRE_AI_POLICY_FILE to start on "
                "the built-in policy",
        ) from None


def check_sqlite_ledger(settings: Settings, clock: Clock) -> str:
    """The SQLite ledger file and the settle spool beside it can be created and written."""
    async def ledger_probe() -> None:
        ledger = open_ledger(settings, clock)
        try:
            await ledger.ping()
        finally:
            await ledger.aclose()

    async def spool_probe() -> None:
        spool = SettleSpool(settings.settle_spool_dir)
        try:
            await spool.depth()
        finally:
            spool.close()

    where = {"SRE_AI_LEDGER_PATH": (ledger_probe, f"the SQLite ledger at {settings.ledger_path}"),
             "SRE_AI_SPOOL_DIR": (spool_probe, f"the settle spool in {settings.settle_spool_dir}")}
    for setting, (probe, what) in where.items():
        try:
            asyncio.run(probe())
        except (OSError, sqlite3.Error, LedgerUnavailableError) as exc:
            detail = exc.detail if isinstance(exc, LedgerUnavailableError) else str(exc)
            if setting == "SRE_AI_SPOOL_DIR" and settings.spool_dir is None:
                setting = "SRE_AI_LEDGER_PATH"  # the default spool is next to the ledger
            raise ConfigurationError(
                f"cannot open {what}: {detail}", setting=setting,
                fix=f"point {setting} at a place in a directory this process can create and "
                    "write (the chart mounts one at ledger.path), or set SRE_AI_REDIS_URL",
            ) from None
    return f"sqlite {settings.ledger_path} (spool {settings.settle_spool_dir})"


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
    """What must hold before the server binds its port: the policy, and a SQLite ledger's
    file. (An unreachable Redis is not fatal: it is a WARN at start-up, app/runtime.py.)"""
    check_policy(settings, clock)
    if not settings.redis_url:
        check_sqlite_ledger(settings, clock)
