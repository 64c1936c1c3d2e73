"""Faults the fake Anthropic server can inject, and the queue that hands them out.

A fault is a JSON object (the control API) or keyword arguments (the in-process API):

    {"status": 529}                          error reply (Anthropic's error JSON) once
    {"status": 429, "retry_after": 3}        with a `retry-after: 3` header
    {"status": 500, "count": 3}              for the next 3 matching calls
    {"status": 500, "until_cleared": true}   for every matching call until DELETE /_fake/faults
    {"hang": true}                           never answer; the client has to give up
    {"delay_seconds": 2.5}                   answer normally, 2.5 s late (combine with status too)
    {"reset": true}                          close the connection abruptly (TCP RST)
    {"trickle": true}                        200 + headers, then a body byte every 0.1 s, forever
    {"garbage": true}                        200 with an HTML body (a proxy's error page)
    {"truncated": true}                      200 with the Message's JSON cut in half (billed;
                                             a plain call: a streamed one answers normally)
    {"drop_after_deltas": 2}                 streamed: 2 text deltas, then the connection drops
    {"hang_after_deltas": 2}                 a streamed call: 2 text deltas, then nothing, forever
    {"end_after_deltas": 2}                  streamed: 2 text deltas, then the body ends cleanly
                                             (no message_delta, no message_stop)
    {"error_after_deltas": 2}                streamed: 2 text deltas, then an in-band `error` event
                                             (overloaded_error; `stream_error` names another type)
    {"model": "claude-haiku-4-5-20251001", ...}  only calls for that model (others pass by)

Faults are consumed in order: a call takes the first queued fault whose `model` matches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_type_for(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


@dataclass
class Fault:
    status: int | None = None
    retry_after: float | str | None = None
    hang: bool = False
    delay_seconds: float = 0.0
    reset: bool = False
    trickle: bool = False
    garbage: bool = False
    truncated: bool = False
    drop_after_deltas: int | None = None  # streamed calls only (a plain call answers normally)
    hang_after_deltas: int | None = None
    # What the API does under load once a stream has begun: its 200 is sent, so the error comes
    # as an `event: error` carrying the error JSON, and the stream ends.
    error_after_deltas: int | None = None
    stream_error: str = "overloaded_error"
    end_after_deltas: int | None = None
    count: int = 1
    until_cleared: bool = False
    model: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError(f"status must be a 4xx or 5xx code, got {self.status}")
        if self.count < 1:
            raise ValueError("count must be >= 1 (use until_cleared for a lasting fault)")
        if self.delay_seconds < 0:
            raise ValueError("delay_seconds must be >= 0")
        if self.status is None and not (
            self.hang or self.reset or self.trickle or self.garbage or self.truncated
            or self.delay_seconds
            or self.drop_after_deltas is not None or self.hang_after_deltas is not None
            or self.error_after_deltas is not None or self.end_after_deltas is not None
        ):
            raise ValueError(
                "a fault needs one of: status, hang, reset, trickle, garbage, truncated, "
                "delay_seconds, drop_after_deltas, hang_after_deltas, error_after_deltas, "
                "end_after_deltas"
            )

    @classmethod
    def from_json(cls, raw: Any) -> Fault:
        if not isinstance(raw, dict):
            raise ValueError("a fault must be a JSON object")
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        return cls(**raw)

    def to_json(self) -> dict[str, Any]:
        default_error = self.stream_error == "overloaded_error"
        return {k: v for k, v in asdict(self).items()
                if v not in (None, False, 0.0) and not (k == "stream_error" and default_error)}


class FaultQueue:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, *faults: Fault) -> None:
        self._faults.extend(faults)

    def clear(self) -> None:
        self._faults.clear()

    def take(self, model: str) -> Fault | None:
        """The fault for a call to `model`, consuming one use of it; None: answer normally."""
        for i, fault in enumerate(self._faults):
            if fault.model is not None and fault.model != model:
                continue
            if not fault.until_cleared:
                fault.count -= 1
                if fault.count == 0:
                    del self._faults[i]
            return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self._faults]
