import json
import logging

from app.logs import ConsoleFormatter, JsonFormatter, request_id_var


def _record(msg: str = "request", **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("test")
    return logger.makeRecord("test", logging.INFO, __file__, 1, msg, (), None, extra=extra)


def test_json_line_has_request_id_and_fields() -> None:
    token = request_id_var.set("rid-1")
    try:
        line = JsonFormatter().format(_record(fields={"model": "offline", "cost_usd": 0.0}))
    finally:
        request_id_var.reset(token)
    data = json.loads(line)
    assert data["request_id"] == "rid-1"
    assert data["model"] == "offline" and data["cost_usd"] == 0.0
    assert data["level"] == "info" and data["msg"] == "request"
    assert data["ts"].endswith("+00:00")


def test_plain_extra_keys_are_fields_too() -> None:
    data = json.loads(JsonFormatter().format(_record(configmap="ns/name")))
    assert data["configmap"] == "ns/name"
    assert "request_id" not in data  # outside a request


def test_console_line_is_readable() -> None:
    line = ConsoleFormatter().format(_record(fields={"status": 200}))
    assert "INFO" in line and "status=200" in line and "{" not in line


def test_timestamps_are_datetimes_own_iso_form_to_the_millisecond() -> None:
    """The formatter formats each second once; the text must be datetime's, digit for digit,
    including its rounding to the microsecond (half to even) before truncating."""
    import random
    from datetime import UTC, datetime

    from app.logs import _UtcSeconds

    clock = _UtcSeconds()
    base = 1_796_000_000
    edges = [base + f for f in (0.0, 0.0004999, 0.0005, 0.9994999, 0.9995, 0.9999994,
                                0.9999995, 0.9999996, 0.1234565, 0.1234575)]
    rng = random.Random(14)
    moments = edges + sorted(base + rng.uniform(0, 5) for _ in range(5000))
    moments += [base - 86_400 * 400 + rng.random() for _ in range(100)]  # back in time
    for t in moments:
        assert clock.iso_ms(t) == datetime.fromtimestamp(t, UTC).isoformat(
            timespec="milliseconds"), repr(t)


def test_a_json_line_is_the_compact_json_of_its_fields_in_order() -> None:
    token = request_id_var.set("rid-2")
    try:
        record = _record(fields={"sources": ["a", "b"], "cost_usd": 0.5, "obj": object,
                                 "text": "crème"})
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)
    head = {"ts": json.loads(line)["ts"], "level": "info", "logger": "test", "msg": "request",
            "request_id": "rid-2", "sources": ["a", "b"], "cost_usd": 0.5, "obj": str(object),
            "text": "crème"}
    assert line == json.dumps(head, separators=(",", ":"))


def test_configured_logging_looks_up_no_caller_thread_or_process() -> None:
    """What neither formatter prints is not computed per record (and the lines are the same)."""
    import io

    from app.logs import configure_logging

    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    seen: list[logging.LogRecord] = []

    class Keep(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            seen.append(record)
            return True

    logger = logging.getLogger("test.lookups")
    logger.addFilter(Keep())
    try:
        logger.info("request", extra={"fields": {"status": 200}})
    finally:
        logger.filters.clear()
        root = logging.getLogger()
        for handler in [h for h in root.handlers if h.get_name() == "sre-ai-platform"]:
            root.removeHandler(handler)
    record = seen[0]
    assert record.lineno == 0 and record.pathname == "(unknown file)"
    assert record.thread is None and record.process is None
    data = json.loads(stream.getvalue().splitlines()[-1])
    assert data["msg"] == "request" and data["status"] == 200
