"""A real HTTP(S) webhook receiver on 127.0.0.1 for the webhook tests (http.server in a thread).

It answers each POST with the next scripted answer (204 when the script is empty), records
what it received (path, headers, body, TLS server name) and checks the Standard Webhooks
signature itself, from the specification's recipe, not with Rota's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# How long a "hang" answer waits for the test to let it go; only a failing test gets there.
HANG_SECONDS = 60.0


@dataclass(frozen=True)
class Answer:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hang: bool = False  # never answer (until the receiver stops)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def signature_valid(self, secret: str) -> bool:
        """Standard Webhooks verification: HMAC-SHA256 of "id.timestamp.body" keyed by the
        base64-decoded secret, compared in constant time with each `v1,` signature."""
        key = base64.b64decode(secret.removeprefix("whsec_"))
        signed = (
            f"{self.headers['webhook-id']}.{self.headers['webhook-timestamp']}.".encode()
            + self.body
        )
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        offered = [
            s.removeprefix("v1,")
            for s in self.headers["webhook-signature"].split()
            if s.startswith("v1,")
        ]
        return any(hmac.compare_digest(expected, s) for s in offered)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    def __init__(self, port: int | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.port = port or free_port()
        self.tls = tls
        self.script: list[Answer] = []
        self.received: list[Received] = []
        self.server_names: list[str | None] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def start(self) -> Receiver:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        if self.tls is not None:
            self.tls.sni_callback = self._on_server_name
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
        self._server = self._thread = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_server_name(self, _sock: object, name: str | None, _ctx: object) -> None:
        self.server_names.append(name)

    def _take(self, received: Received) -> Answer:
        with self._lock:
            self.received.append(received)
            return self.script.pop(0) if self.script else Answer()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = receiver._take(Received(self.path, headers, body))
            if answer.hang:
                receiver.release.wait(HANG_SECONDS)
                return
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, *args: object) -> None:
            pass  # the tests look at `received`, not at stderr

    return Handler


def self_signed(directory: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate for `name` made by the openssl command: (server context, a client
    context that trusts only it)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
            "-addext", f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client
