"""The chart's bundled Redis requires a password (issue 19, point 6): the service, started with
the very SRE_AI_REDIS_URL the chart renders (expanded as the kubelet expands `$(VAR)`), keeps
its ledger in a real redis-server that has `requirepass`; a wrong or missing password fails
clearly (the ledger says why, /cost answers 503 with a request id) and the password never
reaches a log line or a response."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import string
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis

from tests.chart.rendering import RELEASE, find_helm, render
from tests.fakes.redis_server import BINARY, RedisServer, free_port
from tests.fakes.service_process import ServiceProcess, stop_process, wait_until

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
        logged = password in svc.logs()  # (a boolean: a failure must not print it)
        assert not logged, "the Redis password is in the service's log"
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
        leaked = [name for name, secret in (("right", password), ("wrong", wrong))
                  if secret in exposed]
        assert leaked == [], "a password is in the log, /health/ready or /cost"
    finally:
        svc.stop()


# ------------------------------------------------- the chart's Redis command, run for real


def chart_redis_command(tmp_path: Path, port: int) -> list[str]:
    """The Redis container's command and args as the chart renders them, with its two
    volumes (/tmp, /data) moved under `tmp_path` and its port moved to a free one."""
    container = render(sets=["redis.enabled=true"]).get(
        "Deployment", f"{RELEASE}-redis")["spec"]["template"]["spec"]["containers"][0]
    script, *args = container["args"]
    (tmp_path / "tmp").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    script = script.replace("/tmp/", f"{tmp_path}/tmp/")
    args = [str(tmp_path / "data") if a == "/data" else a for a in args]
    args[args.index("--port") + 1] = str(port)
    return [*container["command"], script, *args, "--bind", "127.0.0.1"]


def test_the_chart_redis_command_requires_the_password_and_hides_it(
    password: str, tmp_path: Path
) -> None:
    if shutil.which(BINARY) is None:
        pytest.skip(f"{BINARY} is not installed (apt-get install -y redis-server)")
    if not find_helm():
        pytest.skip("helm not installed: run tools/install-helm.sh")
    port = free_port()
    proc = subprocess.Popen(chart_redis_command(tmp_path, port), env={
        "PATH": os.environ["PATH"], "REDIS_PASSWORD": password}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    try:
        client = redis.Redis(host="127.0.0.1", port=port, password=password)
        wait_until(client.ping, timeout=10, what="the chart's redis-server")
        config = client.config_get("*")
        assert (config["protected-mode"], config["appendonly"], config["appendfsync"]) == (
            "yes", "yes", "always")
        assert config["requirepass"] == password
        client.close()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port).ping()
        conf = tmp_path / "tmp" / "redis-auth.conf"
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    finally:
        stop_process(proc)
        if proc.stderr is not None:
            proc.stderr.close()


def test_the_chart_redis_command_gives_the_password_only_in_its_config_file(
    password: str, tmp_path: Path
) -> None:
    """redis-server rewrites its process title over argv and environ, so /proc cannot show a
    leak: a stand-in redis-server on PATH records what it was given instead."""
    if not find_helm():
        pytest.skip("helm not installed: run tools/install-helm.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "record"
    stand_in = bin_dir / "redis-server"
    stand_in.write_text(f'#!/bin/sh\n{{ printf "%s\\n" "$@"; env; }} > {record}\n'
                        f'cat "$1" > {record}.conf\n')
    stand_in.chmod(0o755)
    done = subprocess.run(chart_redis_command(tmp_path / "run", free_port()), env={
        "PATH": f"{bin_dir}:{os.environ['PATH']}", "REDIS_PASSWORD": password},
        capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    argv_and_env = record.read_text()
    assert "--appendonly" in argv_and_env  # the stand-in ran with the chart's arguments
    leaked = password in argv_and_env  # (booleans: a failure must not print the password)
    assert not leaked, "the password reached redis-server's arguments or environment"
    in_file = Path(f"{record}.conf").read_text() == f"requirepass {password}\n"
    assert in_file, "the config file does not hold exactly `requirepass <password>`"


@pytest.mark.parametrize("bad", ["", "p@ss:word/with?url#chars"])
def test_the_chart_redis_command_refuses_an_empty_or_url_unsafe_password(
    bad: str, tmp_path: Path
) -> None:
    if not find_helm():
        pytest.skip("helm not installed: run tools/install-helm.sh")
    done = subprocess.run(chart_redis_command(tmp_path, free_port()), env={
        "PATH": os.environ["PATH"], "REDIS_PASSWORD": bad}, capture_output=True, text=True,
        timeout=30, check=False)
    assert done.returncode == 1
    assert f"Secret {RELEASE}-redis (key redis-password)" in done.stderr
    assert ("is empty" if not bad else "may hold only A-Z a-z 0-9") in done.stderr
    if bad:
        assert bad not in done.stderr
