"""The `sre-ai-platform` console script: the same server as `uvicorn app.main:app`.

One worker process per pod, on purpose. Every worker would keep its own Prometheus registry
(a scrape would see one worker at random), its own circuit breakers, answer cache (without
Redis), rate-limit readings and config watchers. prometheus_client's multiprocess mode would
merge the counters, but it changes what every gauge means (per-process series or a chosen
merge), does not support Info, and needs a shared directory cleaned per pod start: a lot of
moving parts for what the platform already does better. Scale with replicas (the chart's
replicaCount or HPA, with a shared Redis ledger): each pod is one process, one scrape target.
"""

from __future__ import annotations

import argparse

import uvicorn

WORKERS_REFUSED = (
    "--workers must be 1: each worker process would keep its own metrics, breakers and cache, "
    "so a Prometheus scrape would see one worker at random. Scale with more replicas (Helm "
    "replicaCount or an HPA, with a shared Redis ledger) instead"
)


def _one_worker(value: str) -> int:
    try:
        workers = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if workers != 1:
        raise argparse.ArgumentTypeError(WORKERS_REFUSED)
    return workers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="sre-ai-platform", description=__doc__.splitlines()[0],
        epilog="One process per pod: scale with replicas, not workers (see the README).")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--workers", type=_one_worker, default=1,
                        help="must be 1 (kept for compatibility): one worker per process keeps "
                             "/metrics whole; scale with replicas or an HPA instead")
    args = parser.parse_args(argv)
    uvicorn.run("app.main:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_config=None, access_log=False,
                timeout_graceful_shutdown=60)


if __name__ == "__main__":
    main()
