"""Structured logs: JSON lines in production, readable lines on a terminal.

The request id lives in a contextvar set by the request-id middleware, so every line logged
while serving a request carries it without being passed around. Fields given with
`logger.info("msg", extra={"fields": {...}})` become top-level JSON keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# Fields for the request's ONE summary line: the middleware sets a fresh dict per request; any
# layer (a route, the paid-call service) adds to it. Outside a request, adding is a no-op.
log_fields_var: ContextVar[dict[str, Any] | None] = ContextVar("log_fields", default=None)


def add_log_fields(**fields: Any) -> None:
    bucket = log_fields_var.get()
    if bucket is not None:
        bucket.update(fields)


def log_fields() -> dict[str, Any]:
    """A copy of the fields the request's summary line has so far ({} outside a request)."""
    return dict(log_fields_var.get() or {})

_access_log = logging.getLogger("app.access")


def question_fields(question: str) -> dict[str, Any]:
    """How a caller's question appears in the request's summary line: the first 16 hex digits
    of its SHA-256 (repeats and one caller's retries correlate without the text) and its length;
    the text itself only while DEBUG logging is on. Questions name customers and hosts, and
    people paste tokens into them: logs are kept longer and read more widely than the answers."""
    digest = hashlib.sha256(question.encode("utf-8", "surrogatepass")).hexdigest()
    fields: dict[str, Any] = {"question_sha256": digest[:16], "question_chars": len(question)}
    if _access_log.isEnabledFor(logging.DEBUG):
        fields["question"] = question
    return fields


# Every line pays for its formatting (one summary line per request, issue 14): what can be
# computed once is. Attributes every LogRecord has, and the ones we never output:
_NOT_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "fields", "message", "asctime", "color_message"}
# json.dumps with options builds a new encoder per call; this one is built once.
_encode = json.JSONEncoder(default=str, separators=(",", ":")).encode


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """`extra={"fields": {...}}` and plain `extra={...}` keys both become output fields."""
    out = {k: v for k, v in vars(record).items() if k not in _NOT_FIELDS}
    fields = getattr(record, "fields", None)
    if isinstance(fields, dict):
        out.update(fields)
    return out


class _UtcSeconds:
    """`datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")`, with the part up to
    the second formatted once per second: datetime rounds t to the microsecond (half to even)
    and isoformat truncates that to the millisecond, and so does this."""

    def __init__(self) -> None:
        self._last = (-1, "")  # (second, its text): one tuple, replaced whole

    def iso_ms(self, t: float) -> str:
        second = int(t)
        micros = round((t - second) * 1e6)
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        cached_second, prefix = self._last
        if second != cached_second:
            prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._last = (second, prefix)
        return f"{prefix}.{micros // 1000:03d}+00:00"


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._clock = _UtcSeconds()

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self._clock.iso_ms(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid is not None:
            out["request_id"] = rid
        out.update(_fields(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return _encode(out)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        rid = request_id_var.get()
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if rid:
            line += f" request_id={rid}"
        if extras:
            line += f" {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO", fmt: str = "json", *, stream: Any = None) -> None:
    """Install one stdout handler on the root logger (idempotent; called from create_app).
    `stream`: another stream (`sre-ai-platform check` keeps stdout for its own lines)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    handler.set_name("sre-ai-platform")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "sre-ai-platform":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Neither formatter writes where a line was logged from, its thread or its process: the
    # logging HOWTO's "Optimization" switches spare every record those lookups (findCaller
    # walks the stack), and every line written is the same.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # uvicorn's access log would be a second line per request; ours is the summary line.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # The HTTP clients' own INFO line per request ("HTTP Request: POST ...", httpx and the
    # SDK's vendored httpx2) would be a second line per paid call and ~2 % of its CPU; the
    # summary line already records the upstream call. At DEBUG they come back.
    quiet = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(quiet)
