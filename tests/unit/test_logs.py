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
