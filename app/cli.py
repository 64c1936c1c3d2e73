"""The `sre-ai-platform` console script: the same server as `uvicorn app.main:app`.

One worker process per pod, on purpose. Every worker would keep its own Prometheus registry
(a scrape would see one worker at random), its own circuit breakers, answer cache (without
Redis), rate-limit readings and config watchers. prometheus_client's multiprocess mode would
merge the counters, but it changes what every gauge means (per-process series or a chosen
merge), does not support Info, and needs a shared directory cleaned per pod start: a lot of
moving parts for what the platform already does better. Scale with replicas (the chart's
replicaCount or HPA, with a shared Redis ledger): each pod is one process, one scrape target.

Before it binds its port, the server checks its configuration (app/preflight): a mistake in
the environment, the policy or the ledger's path is ONE log line (JSON or console, per
SRE_AI_LOG_FORMAT) naming the variable or field and the fix, then exit 78 (EX_CONFIG), never a
traceback. `SRE_AI_*` variables that no setting reads are warned about (a typo is otherwise
silently ignored). `sre-ai-platform check` runs every check without serving.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import NoReturn

import uvicorn

from app.api.draining import Draining, DrainingServer
from app.clock import SystemClock
from app.config import Settings
from app.config.environment import (
    describe_unknown,
    fallback_log_format,
    load_settings,
    unknown_variables,
)
from app.errors import ConfigurationError
from app.logs import configure_logging
from app.main import create_app
from app.preflight.checks import serving_checks
from app.preflight.command import EX_CONFIG, run_checks

log = logging.getLogger("app.cli")

WORKERS_REFUSED = (
    "--workers must be 1: each worker process would keep its own metrics, breakers and cache, "
    "so a Prometheus scrape would see one worker at random. Scale with more replicas (Helm "
    "replicaCount or an HPA, with a shared Redis ledger) instead"
)


# In-flight requests get this long after the listener closes (the chart's grace period, minus
# the preStop sleep, is the real bound on Kubernetes).
GRACEFUL_SHUTDOWN_SECONDS = 60


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600 seconds, got {value}")
    return seconds


def _one_worker(value: str) -> int:
    try:
        workers = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if workers != 1:
        raise argparse.ArgumentTypeError(WORKERS_REFUSED)
    return workers


def configuration_failed(exc: ConfigurationError) -> NoReturn:
    """One line (logging must be configured), then EX_CONFIG: never a traceback."""
    log.error(f"configuration error: {exc.setting}: {exc.detail}; fix: {exc.fix}",
              extra={"fields": {"setting": exc.setting, "fix": exc.fix, "exit_code": EX_CONFIG}})
    raise SystemExit(EX_CONFIG)


def startup_settings() -> Settings:
    """Settings, with logging configured from them. When they are invalid, the error is
    logged in SRE_AI_LOG_FORMAT (JSON if that is invalid too) and the process exits."""
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        configure_logging("INFO", fallback_log_format())
        configuration_failed(exc)
    configure_logging(settings.log_level, settings.log_format)
    for name, suggestion in unknown_variables():
        log.warning(describe_unknown(name, suggestion),
                    extra={"fields": {"setting": name, "did_you_mean": suggestion}})
    return settings


def check_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="sre-ai-platform check",
        description="Check environment, policy, runbooks and ledger without serving; one line "
                    "per check; exit 78 (EX_CONFIG) when one fails.")
    parser.add_argument("--check-key", action="store_true",
                        help="also ask the Anthropic API whether it accepts ANTHROPIC_API_KEY "
                             "(one free authenticated call; needs the network)")
    args = parser.parse_args(argv)
    # Only the checks' own lines on stdout: other loggers' lines (the runbook indexer's) go to
    # stderr, warnings and up, in the configured format.
    configure_logging("WARNING", fallback_log_format(), stream=sys.stderr)
    return run_checks(with_key=args.check_key)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check"]:
        raise SystemExit(check_main(argv[1:]))
    parser = argparse.ArgumentParser(
        prog="sre-ai-platform", description=__doc__.splitlines()[0],
        epilog="One process per pod: scale with replicas, not workers (see the README). "
               "`sre-ai-platform check [--check-key]` checks the configuration without serving.")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--workers", type=_one_worker, default=1,
                        help="must be 1 (kept for compatibility): one worker per process keeps "
                             "/metrics whole; scale with replicas or an HPA instead")
    parser.add_argument("--drain-seconds", type=_seconds, default=0.0,
                        help="after SIGTERM, answer /health/ready 503 and keep accepting this "
                             "long before closing the listener (default 0: on Kubernetes the "
                             "preStop sleep does this); in-flight requests always finish")
    args = parser.parse_args(argv)
    settings = startup_settings()
    try:
        serving_checks(settings, SystemClock())
    except ConfigurationError as exc:
        configuration_failed(exc)
    draining = Draining()
    config = uvicorn.Config(create_app(settings, draining=draining), host=args.host,
                            port=args.port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
    DrainingServer(config, draining, args.drain_seconds).run()


if __name__ == "__main__":
    main()
