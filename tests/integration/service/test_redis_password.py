"""The chart's bundled Redis requires a password (issue 19, point 6): the service, started with
the very SRE_AI_REDIS_URL the chart renders (expanded as the kubelet expands `$(VAR)`), keeps
its ledger in a real redis-server that has `requirepass`; a wrong or missing password fails
clearly (the ledger says why, /cost answers 503 with a request id) and the password never
reaches a log line or a response."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis

from tests.chart.rendering import RELEASE, find_helm, render
from tests.fakes.redis_server import BINARY, RedisServer
from tests.fakes.service_process import ServiceProcess

pytestmark = pytest.mark.integration

QUESTION = {"question": "pod OOMKilled, what now?"}
START_TIMEOUT_SECONDS = 60.0


def kubelet_expand(env: list[dict[str, Any]], values: Mapping[str, str]) -> dict[str, str]:
    """The container environment as the kubelet builds it: `valueFrom` entries take `values`
    (what the Secret holds), and `$(NAME)` in a `value` is replaced by an entry defined EARLIER
    in the list (an unknown or later name stays as written; `$$` is a literal `$`)."""
    resolved: dict[str, str] = {}

    def expand(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            if match[0] == "$$":
                return "$"
            return resolved.get(match[1], match[0])

        return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, text)

    for entry in env:
        if "value" in entry:
            resolved[entry["name"]] = expand(str(entry["value"]))
        elif entry["name"] in values:
            resolved[entry["name"]] = values[entry["name"]]
    return resolved


def at(url: str, port: int) -> str:
    """`url` pointed at the local server: same scheme, credentials, path; host 127.0.0.1."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def chart_redis_url(password: str, port: int) -> str:
    """SRE_AI_REDIS_URL of the chart's service container with `redis.enabled`, the Secret's
    password filled in by the kubelet, aimed at the test's redis-server."""
    container = render(sets=["redis.enabled=true"]).api_container()
    env = kubelet_expand(container["env"], {"REDIS_PASSWORD": password})
    url = env["SRE_AI_REDIS_URL"]
    assert urlsplit(url).hostname == f"{RELEASE}-redis"
    return at(url, port)


@pytest.fixture(scope="module")
def password() -> str:
    # What the chart generates: 32 letters and digits.
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


@pytest.fixture(scope="module")
def locked_redis(password: str) -> Iterator[RedisServer]:
    if not find_helm():
        pytest.skip("helm not installed: run tools/install-helm.sh")
    try:
        server = RedisServer.start(password=password)
    except FileNotFoundError:
        pytest.skip(f"{BINARY} is not installed (apt-get install -y redis-server)")
    yield server
    server.close()


def start(url: str, workdir: Path) -> ServiceProcess:
    return ServiceProcess({"SRE_AI_REDIS_URL": url}, workdir).start(
        ready_timeout=START_TIMEOUT_SECONDS)


def test_the_fake_redis_refuses_clients_without_the_password(locked_redis: RedisServer) -> None:
    anonymous = redis.Redis(host="127.0.0.1", port=locked_redis.port)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    anonymous.close()


def test_the_service_keeps_its_ledger_in_a_redis_that_requires_a_password(
    locked_redis: RedisServer, password: str, tmp_path: Path
) -> None:
    svc = start(chart_redis_url(password, locked_redis.port), tmp_path)
    try:
        ready = httpx.get(svc.url + "/health/ready", timeout=10).json()
        assert ready["ledger"] == "ok"
        assert httpx.post(svc.url + "/ask", json=QUESTION, timeout=30).status_code == 200
        cost = httpx.get(svc.url + "/cost", timeout=10)
        assert cost.status_code == 200
        assert {w["window"] for w in cost.json()["windows"]} >= {"hourly", "daily", "monthly"}
        # The answer cache wrote through the authenticated connection.
        client = redis.Redis.from_url(locked_redis.url)
        assert client.dbsize() > 0
        client.close()
        assert password not in svc.logs()
    finally:
        svc.stop()


@pytest.mark.parametrize("credential", ["wrong", "missing"])
def test_a_wrong_or_missing_password_fails_clearly_and_is_never_logged(
    locked_redis: RedisServer, password: str, tmp_path: Path, credential: str
) -> None:
    wrong = "Wr0ngPassw0rdThatIsLongEnough123"
    url = chart_redis_url(wrong if credential == "wrong" else password, locked_redis.port)
    if credential == "missing":
        url = at(f"redis://{RELEASE}-redis:6379/0", locked_redis.port)
    svc = start(url, tmp_path)
    try:
        ready = httpx.get(svc.url + "/health/ready", timeout=10).json()
        assert ready["ledger"].startswith("unavailable"), ready["ledger"]
        assert re.search(r"password|authenticat", ready["ledger"], re.I), ready["ledger"]
        cost = httpx.get(svc.url + "/cost", timeout=10)
        assert cost.status_code == 503
        body = cost.json()
        assert body["error"] == "ledger_unavailable" and body["request_id"]
        exposed = svc.logs() + httpx.get(svc.url + "/health/ready", timeout=10).text + cost.text
        for secret in (password, wrong):
            assert secret not in exposed
    finally:
        svc.stop()
