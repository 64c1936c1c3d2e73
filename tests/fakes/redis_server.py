"""A real Debian `redis-server` on a free loopback port, in its own temp dir, for tests.

`RedisServer` is a plain class so service-level tests (several uvicorn replicas, kill -9) can
share one server and stop/restart it on the SAME port to simulate an outage. The pytest
fixtures below skip with a clear reason only when the binary is missing.

    server = RedisServer.start()   # or the `redis_server` fixture
    server.url                     # redis://127.0.0.1:<port>/0 (redis://:<password>@... with one)
    server.stop(); server.restart()
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.real_clock import real_clock_env
from tests.fakes.service_process import stop_process, wait_until

BINARY = "redis-server"
START_TIMEOUT_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers_ping(port: int) -> bool:
    """Up when it answers PING, or refuses it for want of a password (it is serving)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class RedisServer:
    """One redis-server process. `persistent=True` turns on an fsync-always AOF so data
    survives stop/restart (and kill -9 of the server). `password` makes it require one, as the
    chart's Redis does: it is written to a config file (mode 0600), never on the command line."""

    def __init__(
        self, port: int, workdir: Path, *, persistent: bool = False, password: str | None = None
    ) -> None:
        self.port = port
        self.workdir = workdir
        self.persistent = persistent
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, *, persistent: bool = False, password: str | None = None) -> RedisServer:
        binary = shutil.which(BINARY)
        if binary is None:
            raise FileNotFoundError(f"{BINARY} not found: apt-get install -y redis-server")
        server = cls(
            free_port(), Path(tempfile.mkdtemp(prefix="redis-test-")), persistent=persistent,
            password=password,
        )
        server.restart()
        return server

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def restart(self) -> None:
        """(Re)start on the same port and directory."""
        if self.running:
            return
        args = [BINARY]
        if self.password:
            conf = self.workdir / "auth.conf"
            conf.touch(mode=0o600)
            conf.write_text(f"requirepass {self.password}\n")
            args.append(str(conf))  # the config file comes first, options after it
        args += [
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.workdir),
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--logfile",
            str(self.workdir / "redis.log"),
        ]
        if self.persistent:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=real_clock_env()
        )
        process = self.process

        def up() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"exited with {process.returncode}")
            return _answers_ping(self.port)

        try:
            wait_until(up, timeout=START_TIMEOUT_SECONDS, what=f"redis-server on {self.port}",
                       interval=0.01)
        except TimeoutError as exc:
            self.stop()
            log = self.workdir / "redis.log"
            raise RuntimeError(
                f"redis-server did not start on port {self.port} ({exc}): "
                f"{log.read_text()[-2000:] if log.exists() else ''}"
            ) from None

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGKILL when `kill`); the port stays reserved for restart()."""
        process, self.process = self.process, None
        if process is None:
            return
        if kill and process.poll() is None:
            process.kill()
        stop_process(process, timeout=10)
        if process.stderr is not None:
            process.stderr.close()

    def pause(self) -> None:
        """SIGSTOP: the server keeps its port but answers nothing (a hung Redis)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _start_or_skip(persistent: bool = False) -> RedisServer:
    if shutil.which(BINARY) is None:
        pytest.skip(f"{BINARY} is not installed (apt-get install -y redis-server)")
    return RedisServer.start(persistent=persistent)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One server for the session; tests isolate themselves with unique key prefixes."""
    server = _start_or_skip()
    yield server
    server.close()


@pytest.fixture
def private_redis_server() -> Iterator[RedisServer]:
    """A server of the test's own, for tests that stop, kill or restart it. Persistent (AOF,
    fsync always), so what was written survives a restart as it would in production."""
    server = _start_or_skip(persistent=True)
    yield server
    server.close()
