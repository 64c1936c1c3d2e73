"""A tiny stand-in for the Kubernetes API server: one ConfigMap, list + watch, Events.

Enough of the wire protocol for the real `kubernetes` client: a list returns a ConfigMapList
with a resourceVersion; a watch (`?watch=true`) is a held-open response of JSON lines that
streams what the test pushes and ends at `timeoutSeconds`, or at once after an ERROR event;
Events are accepted (POST) and aggregated (PATCH). Every request is recorded.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

Json = dict[str, Any]


def configmap(namespace: str, name: str, text: str, resource_version: str,
              uid: str = "3f1d2c3b-0000-4000-8000-00000000c0de") -> Json:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "uid": uid,
                         "resourceVersion": resource_version},
            "data": {"policy.yaml": text}}


def expired() -> Json:
    return {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
                                        "status": "Failure", "reason": "Expired",
                                        "message": "too old resource version", "code": 410}}


class FakeKubeAPI:
    def __init__(self, current: Json, list_resource_version: str = "100") -> None:
        self.current = current
        self.list_resource_version = list_resource_version
        self.fail_next_requests = 0
        self.requests: list[tuple[str, str]] = []
        self.events: dict[str, Json] = {}
        self.patches: list[tuple[str, str, Json]] = []  # (name, content type, body)
        self._pending: deque[Json] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> FakeKubeAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def push(self, *events: Json) -> None:
        """Deliver watch events to the open (or next) watch."""
        with self._cond:
            self._pending.extend(events)
            self._cond.notify_all()

    def lists(self) -> int:
        return sum(1 for method, path in self.requests if method == "GET"
                   and "watch=true" not in path and path.split("?")[0].endswith("/configmaps"))

    @property
    def name(self) -> str:
        return str(self.current["metadata"]["name"])

    # ------------------------------------------------------------------ HTTP

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def send_json(self, status: int, obj: Json) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def failed(self) -> bool:
                api.requests.append((self.command, self.path))
                if api.fail_next_requests > 0:
                    api.fail_next_requests -= 1
                    self.send_json(500, {"kind": "Status", "code": 500, "message": "etcd down"})
                    return True
                return False

            def do_GET(self) -> None:
                if self.failed():
                    return
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if query.get("watch") == ["true"]:
                    self.stream_watch(float(query.get("timeoutSeconds", ["30"])[0]))
                elif url.path.endswith("/configmaps/" + api.name):
                    self.send_json(200, api.current)
                else:
                    self.send_json(200, {"apiVersion": "v1", "kind": "ConfigMapList",
                                         "metadata": {"resourceVersion":
                                                      api.list_resource_version},
                                         "items": [api.current]})

            def stream_watch(self, timeout: float) -> None:
                # Chunked, like the real API server: the client reads each event as it comes.
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.close_connection = True
                deadline = threading.Event()
                timer = threading.Timer(timeout, deadline.set)
                timer.start()
                try:
                    while not deadline.is_set():
                        with api._cond:
                            api._cond.wait_for(
                                lambda: api._pending or api._closing or deadline.is_set(), 0.2)
                            if api._closing:
                                return
                            batch = list(api._pending)
                            api._pending.clear()
                        for event in batch:
                            self.chunk((json.dumps(event) + "\n").encode())
                            if event["type"] == "ERROR":
                                return
                except OSError:
                    return  # the client went away (watch stopped)
                finally:
                    timer.cancel()
                    with contextlib.suppress(OSError):
                        self.chunk(b"")  # end of stream

            def chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def do_POST(self) -> None:
                if self.failed():
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if body["metadata"]["name"] in api.events:  # names are unique, as on the server
                    self.send_json(409, {"kind": "Status", "code": 409,
                                         "reason": "AlreadyExists", "message": "exists"})
                    return
                api.events[body["metadata"]["name"]] = body
                self.send_json(201, body)

            def do_PATCH(self) -> None:
                if self.failed():
                    return
                name = urlparse(self.path).path.rsplit("/", 1)[1]
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.patches.append((name, self.headers["Content-Type"], body))
                if name not in api.events:
                    self.send_json(404, {"kind": "Status", "code": 404, "message": "not found"})
                    return
                api.events[name].update(body)
                self.send_json(200, api.events[name])

        return Handler
