"""A loopback Lambda Runtime API (version 2018-06-01): what the Lambda service is to ``awslambdaric``.

The runtime interface client (``python -m awslambdaric <handler>``) is a loop:
``GET /runtime/invocation/next`` blocks until there is an event; the answer's
headers carry the request id, deadline, function ARN and trace id; the client
calls the handler and posts what it returned to ``/invocation/{id}/response``
or what it raised to ``/invocation/{id}/error``. An exception while importing
the handler (Lambda's INIT) is posted to ``/runtime/init/error`` and the
process exits. Paths, headers and status codes follow the Runtime API
reference (docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) and what
the installed client sends (``awslambdaric/lambda_runtime_client.py`` and its
native ``runtime_client``).

Like the service, this API refuses what breaks the protocol (an unknown or
already answered request id, a response over the 6 MB synchronous payload
limit, a path it does not serve) and records each refusal in
:attr:`RuntimeApi.violations`, so a test can assert there were none.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

PREFIX = "/2018-06-01/runtime"
_OUTCOME_PATH = re.compile(rf"{PREFIX}/invocation/(?P<request_id>[^/]+)/(?P<kind>response|error)")
RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024  # a synchronous invocation's response payload quota
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"  # optional; awslambdaric sends it with init errors only


@dataclass(frozen=True)
class Outcome:
    """What the runtime posted for one invocation."""

    request_id: str
    kind: Literal["response", "error"]
    body: bytes
    headers: dict[str, str]  # names in lower case (HTTP header names are case-insensitive)
    seconds: float  # from the event handed out by /next to the outcome posted

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class InitError:
    """What the runtime posted to ``/runtime/init/error``."""

    error_type: str | None
    body: dict[str, Any]
    at: float  # time.monotonic()


@dataclass
class _Pending:
    request_id: str
    payload: bytes
    handed_out_at: float | None = None
    outcome: Outcome | None = None
    done: threading.Event = field(default_factory=threading.Event)


class RuntimeApiError(AssertionError):
    """The runtime did not answer as the protocol expects (no outcome in time, or it died)."""


class RuntimeApi:
    """Serve the Runtime API on 127.0.0.1 (a free port) for one runtime process; use as a context manager."""

    def __init__(
        self,
        function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:orders-analytics",
        timeout_seconds: int = 900,
    ) -> None:
        self.function_arn = function_arn
        self.timeout_seconds = timeout_seconds
        self.first_next_at: float | None = None  # INIT is over when the runtime first asks for an event
        self.init_error: InitError | None = None
        self.violations: list[str] = []
        self.requests: list[tuple[str, str]] = []  # (method, path), in order
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="runtime-api", daemon=True)

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ the test's side

    def invoke(self, event: Any, *, timeout: float = 120, alive: Any = None) -> Outcome:
        """Hand ``event`` to the runtime's next ``/next`` and wait for its response or error.

        ``alive`` (a callable) is polled so a runtime that died fails at once instead of at the timeout.
        """
        pending = _Pending(request_id=str(uuid.uuid4()), payload=json.dumps(event).encode())
        with self._lock:
            self._pending[pending.request_id] = pending
        self._queue.put(pending)
        deadline = time.monotonic() + timeout
        while not pending.done.wait(0.05):
            if alive is not None and not alive():
                raise RuntimeApiError(f"the runtime exited before answering invocation {pending.request_id}")
            if time.monotonic() > deadline:
                raise RuntimeApiError(f"no outcome for invocation {pending.request_id} within {timeout}s")
        assert pending.outcome is not None
        return pending.outcome

    def wait_until_ready(self, *, timeout: float, alive: Any) -> float:
        """Wait for the first ``/next`` (INIT done); return its ``time.monotonic()``."""
        deadline = time.monotonic() + timeout
        while self.first_next_at is None:
            if self.init_error is not None:
                raise RuntimeApiError(f"INIT failed: {self.init_error.body}")
            if not alive():
                raise RuntimeApiError("the runtime exited during INIT without asking for an event")
            if time.monotonic() > deadline:
                raise RuntimeApiError(f"INIT did not finish within {timeout}s")
            time.sleep(0.01)
        return self.first_next_at

    # ------------------------------------------------------------------ the runtime's side

    def _next(self) -> _Pending | None:
        if self.first_next_at is None:
            self.first_next_at = time.monotonic()
        while not self._closed.is_set():
            try:
                pending = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            pending.handed_out_at = time.monotonic()
            return pending
        return None

    def _finish(self, request_id: str, kind: Literal["response", "error"], body: bytes, headers: dict[str, str]) -> str:
        """Record an outcome; return a violation ('' when accepted)."""
        with self._lock:
            pending = self._pending.get(request_id)
            if pending is None or pending.handed_out_at is None:
                return f"{kind} for unknown request id {request_id}"
            if pending.outcome is not None:
                return f"second {kind} for request id {request_id} (already answered with {pending.outcome.kind})"
            pending.outcome = Outcome(
                request_id=request_id,
                kind=kind,
                body=body,
                headers=headers,
                seconds=time.monotonic() - pending.handed_out_at,
            )
        pending.done.set()
        return ""


def _handler_class(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the client's libcurl expects

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _refuse(self, status: HTTPStatus, message: str) -> None:
            api.violations.append(f"{self.command} {self.path}: {message}")
            self._reply(status, {"errorMessage": message, "errorType": f"{status.phrase.replace(' ', '')}"})

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self) -> None:
            api.requests.append(("GET", self.path))
            if self.path != f"{PREFIX}/invocation/next":
                self._refuse(HTTPStatus.NOT_FOUND, "not a Runtime API path this loopback serves")
                return
            pending = api._next()
            if pending is None:  # shutting down: the process is being stopped anyway
                self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"errorMessage": "shutting down"})
                return
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(pending.payload)))
            self.send_header("Lambda-Runtime-Aws-Request-Id", pending.request_id)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + api.timeout_seconds * 1000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", api.function_arn)
            self.send_header(
                "Lambda-Runtime-Trace-Id",
                f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0",
            )
            self.end_headers()
            self.wfile.write(pending.payload)

        def do_POST(self) -> None:
            api.requests.append(("POST", self.path))
            body = self._body()
            headers = {name.lower(): value for name, value in self.headers.items()}
            if self.path == f"{PREFIX}/init/error":
                if api.first_next_at is not None:
                    self._refuse(HTTPStatus.FORBIDDEN, "init error after INIT was over")
                    return
                api.init_error = InitError(
                    error_type=self.headers.get(ERROR_TYPE_HEADER), body=json.loads(body or b"{}"), at=time.monotonic()
                )
                self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})
                return
            matched = _OUTCOME_PATH.fullmatch(self.path)
            if matched is None:
                self._refuse(HTTPStatus.NOT_FOUND, "not a Runtime API path this loopback serves")
                return
            request_id, kind = matched["request_id"], matched["kind"]
            if kind == "response" and len(body) > RESPONSE_LIMIT_BYTES:
                self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"response of {len(body)} bytes is over the limit")
                return
            refused = api._finish(request_id, "response" if kind == "response" else "error", body, headers)
            if refused:
                self._refuse(HTTPStatus.BAD_REQUEST, refused)
                return
            self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})

    return Handler
