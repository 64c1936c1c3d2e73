"""An in-cluster client for the e2e suite: asks POST /ask through the release's Service and
prints ONE JSON summary line when it ends. Stdlib only (urllib), run by the service image's
Python from a ConfigMap.

A port-forward goes to one pod and dies with it; this client goes through the Service, as a
user's client does, so a pod replaced by a rollout is not a failure of the port-forward but of
the service, if any. Each question opens its own connection (`Connection: close`): the
Service then balances every question, and a rollout is judged on the questions, not on a
keep-alive connection pinned to one pod.

    python ask_loop.py URL --workers 4 --stop-file /tmp/stop      # until the file appears
    python ask_loop.py URL --workers 12 --count 90                # exactly 90 questions

Questions are distinct (a tag and a number), so no cache answers them: each is a paid call.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from decimal import Decimal

MAX_ERRORS_SHOWN = 20
NEVER_SENT = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH}


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.degraded = 0
        # "mode: reason" -> count, and when each first and last came (seconds from the start):
        # a failure then says which rung answered, why, and for how long
        self.degraded_why: Counter[str] = Counter()
        self.degraded_when: dict[str, list[float]] = {}
        self.started = time.monotonic()
        self.answered_cost = Decimal(0)
        self.errors: list[str] = []
        self.next_index = 0

    def take(self, limit: int | None) -> int | None:
        with self.lock:
            if limit is not None and self.next_index >= limit:
                return None
            self.next_index += 1
            return self.next_index - 1

    def record(self, status: str, body: dict[str, object] | None, error: str | None) -> None:
        with self.lock:
            self.statuses[status] += 1
            if body is not None and status == "200":
                self.answered_cost += Decimal(repr(body.get("cost_usd") or 0))
                degraded = body.get("degraded")
                if degraded:
                    self.degraded += 1
                    why = (f"{degraded.get('mode')}: {degraded.get('reason')}"
                           if isinstance(degraded, dict) else str(degraded))
                    self.degraded_why[why] += 1
                    at = round(time.monotonic() - self.started, 1)
                    self.degraded_when.setdefault(why, [at, at])[1] = at
            if error is not None and len(self.errors) < MAX_ERRORS_SHOWN:
                self.errors.append(error)


Outcome = tuple[str, dict[str, object] | None, str | None]  # status, 200 body, error


def ask(url: str, question: str, timeout: float) -> Outcome:
    request = urllib.request.Request(
        url + "/ask", data=json.dumps({"question": question}).encode(), method="POST",
        headers={"content-type": "application/json", "connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return str(response.status), json.loads(response.read()), None
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")[:300]
        return str(exc.code), None, None if exc.code == 429 else f"{exc.code}: {text}"
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (ConnectionRefusedError, OSError)) and getattr(
                exc.reason, "errno", None) in NEVER_SENT:
            # Refused or unroutable: the question never reached a server (a dead pod still in
            # the Service's endpoints); still a failed question, but no call was in flight.
            return "unreachable", None, f"{type(exc.reason).__name__}: {exc.reason}"
        return "error", None, f"URLError: {exc.reason}"
    except Exception as exc:  # reset or timed out after sending: a failed question
        return "error", None, f"{type(exc).__name__}: {exc}"


def worker(args: argparse.Namespace, tally: Tally) -> None:
    while args.stop_file is None or not os.path.exists(args.stop_file):
        index = tally.take(args.count)
        if index is None:
            return
        question = f"pod OOMKilled, what now? ticket {args.tag}{index:05d}"
        status, body, error = ask(args.url, question, args.timeout)
        tally.record(status, body, error)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--stop-file", default=None)
    parser.add_argument("--tag", default="q")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    tally = Tally()
    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(args, tally)) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({
        "asked": sum(tally.statuses.values()), "statuses": dict(tally.statuses),
        "degraded": tally.degraded, "degraded_why": dict(tally.degraded_why),
        "degraded_when": tally.degraded_when, "answered_cost_usd": str(tally.answered_cost),
        "errors": tally.errors, "seconds": round(time.monotonic() - started, 1),
    }), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
