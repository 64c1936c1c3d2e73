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

def question_fields(question: str) -> dict[str, Any]:
    """How a caller's question appears in the request's summary line: the first 16 hex digits
    of its SHA-256 (repeats and one caller's retries correlate without the text) and its length;
    the text itself only while DEBUG logging is on. Questions name customers and hosts, and
    people paste tokens into them: logs are kept longer and read more widely than the answers."""
    digest = hashlib.sha256(question.encode("utf-8", "surrogatepass")).hexdigest()
    fields: dict[str, Any] = {"question_sha256": digest[:16], "question_chars": len(question)}
    if logging.getLogger("app.access").isEnabledFor(logging.DEBUG):
        fields["question"] = question
    return fields


_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """`extra={"fields": {...}}` and plain `extra={...}` keys both become output fields."""
    out = {k: v for k, v in vars(record).items()
           if k not in _RESERVED and k not in {"fields", "message", "asctime", "color_message"}}
    fields = getattr(record, "fields", None)
    if isinstance(fields, dict):
        out.update(fields)
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
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
        return json.dumps(out, default=str, separators=(",", ":"))


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
    # uvicorn's access log would be a second line per request; ours is the summary line.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
