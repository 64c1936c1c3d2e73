"""What the circuit breaker costs on the request path, and how fast it refuses once OPEN.

Why: the breaker sits in front of every upstream call, so its own overhead must be negligible next
to an LLM round trip (hundreds of ms), and an OPEN breaker must answer "no" in microseconds so
the degradation ladder starts at once. Each call is timed on its own with time.perf_counter_ns;
the timer's own cost (an empty measurement) is reported beside the results, not subtracted.

    .venv/bin/python bench/breaker_overhead.py [--calls 100000] [--out bench/results/breaker.md]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from app.clock import SystemClock
from app.config import BreakerPolicy
from app.errors import CircuitOpenError
from app.resilience import BreakerState, CircuitBreaker

FAST_CALL_SECONDS = 0.25  # the duration reported to the breaker: a healthy, not slow, call


def percentile_ns(sorted_ns: list[int], percent: float) -> int:
    index = min(len(sorted_ns) - 1, int(len(sorted_ns) * percent / 100))
    return sorted_ns[index]


def time_each(calls: int, operation: Callable[[], None]) -> dict[str, int]:
    samples_ns = [0] * calls
    clock_ns = time.perf_counter_ns
    for i in range(calls):
        start_ns = clock_ns()
        operation()
        samples_ns[i] = clock_ns() - start_ns
    samples_ns.sort()
    return {
        "p50_ns": percentile_ns(samples_ns, 50),
        "p99_ns": percentile_ns(samples_ns, 99),
        "max_ns": samples_ns[-1],
    }


def closed_call(policy: BreakerPolicy) -> Callable[[], None]:
    breaker = CircuitBreaker("bench", policy, SystemClock())

    def operation() -> None:
        breaker.acquire().success(FAST_CALL_SECONDS)

    return operation


def rejected_call(policy: BreakerPolicy) -> Callable[[], None]:
    breaker = CircuitBreaker("bench", policy, SystemClock())
    while breaker.state is BreakerState.CLOSED:
        breaker.acquire().failure(FAST_CALL_SECONDS)

    def operation() -> None:
        try:
            breaker.acquire()
        except CircuitOpenError:
            pass
        else:
            raise AssertionError("the breaker let a call through while OPEN")

    return operation


def run(calls: int) -> dict[str, dict[str, int]]:
    # A wait far longer than the run keeps the breaker OPEN throughout.
    policy = BreakerPolicy(wait_in_open_seconds=86_400.0)
    time_policy = policy.model_copy(update={"window_type": "time", "window_size": 60})
    cases = {
        "timer floor (empty measurement)": lambda: None,
        "acquire + success, CLOSED, count window": closed_call(policy),
        "acquire + success, CLOSED, time window": closed_call(time_policy),
        "acquire refused, OPEN (raise + catch)": rejected_call(policy),
    }
    results = {}
    for label, operation in cases.items():
        time_each(min(calls, 10_000), operation)  # warm-up
        results[label] = time_each(calls, operation)
    return results


def to_markdown(results: dict[str, dict[str, int]], calls: int) -> str:
    lines = [
        "# Circuit breaker overhead",
        "",
        f"Produced by `bench/breaker_overhead.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"Python {platform.python_version()} on {platform.machine()}, {calls:,} calls per case, "
        "each timed alone with `time.perf_counter_ns` (timer cost included, shown as the floor).",
        "",
        "| case | p50 (ns) | p99 (ns) | max (ns) |",
        "|---|---:|---:|---:|",
    ]
    for label, r in results.items():
        lines.append(f"| {label} | {r['p50_ns']:,} | {r['p99_ns']:,} | {r['max_ns']:,} |")
    lines += [
        "",
        "Time to reject once OPEN is the last row: the degradation ladder starts within",
        "microseconds, without touching the upstream. Against an LLM call of 0.5-30 s the",
        "CLOSED-path overhead is below one part in a hundred thousand. The max column is",
        "scheduler and GC noise on a shared machine; p99 is the figure to quote.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("bench/results/breaker.md"))
    args = parser.parse_args(argv)
    results = run(args.calls)
    report = to_markdown(results, args.calls)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
