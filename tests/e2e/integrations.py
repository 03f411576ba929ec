"""Real services for the integration tasks' tests: PostgreSQL, an SMTP server and an HTTP server.

Nothing here is a mock client: each is a real server on this machine that the operator (out of
cluster) and, where it matters, pods reach over the network.

- ``PostgresServer``: Debian's PostgreSQL 15 (``/usr/lib/postgresql/15/bin``), a fresh cluster in
  a temporary directory run as the ``postgres`` user (PostgreSQL refuses root), password auth
  (scram) for one database and user, on 127.0.0.1 and, with a real node, the pod bridge's address.
- ``SmtpServer``: aiosmtpd, every message it receives kept (``messages``), on the same addresses.
- ``HttpServer``: a threaded ``http.server`` whose answers the test sets per path
  (``answer(path, status, body)``) and which records every request it gets (``requests``).

``pod_host(kubeconfig)`` is the host address pods of the local cluster can reach (the S3 store's
address in cluster.env), or None when the cluster has no real node.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

PG_BIN = Path(os.environ.get("OVERTURE_PG_BIN", "/usr/lib/postgresql/15/bin"))


def pod_host(kubeconfig: str) -> str | None:
    """The host address pods reach: the S3 store's, which listens on the pod bridge with a real node."""
    state = Path(kubeconfig).with_name("cluster.env")
    if not state.exists():
        return None
    pairs = dict(line.split("=", 1) for line in state.read_text().splitlines() if "=" in line)
    host = urlparse(pairs.get("OVERTURE_S3_ENDPOINT", "")).hostname
    return host if host and host not in ("127.0.0.1", "localhost") else None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A PostgreSQL cluster of its own; ``dsn(host)`` connects as ``user``/``password`` to ``database``."""

    port: int
    hosts: tuple[str, ...]
    user: str = "overture"
    password: str = "s3cret-pw"
    database: str = "warehouse"
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="overture-pg-")))

    def start(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"{PG_BIN}/initdb not found: install Debian's postgresql-15 (.ci/run does)")
        data = self.directory / "data"
        pw_file = self.directory / "pw"
        pw_file.write_text(self.password + "\n")
        owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if owner is not None:
            shutil.chown(self.directory, owner.pw_uid, owner.pw_gid)
            shutil.chown(pw_file, owner.pw_uid, owner.pw_gid)
        self._run(
            str(PG_BIN / "initdb"), "-D", str(data), "-U", self.user, "-A", "scram-sha-256",
            f"--pwfile={pw_file}", "--no-sync", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 0.0.0.0/0 scram-sha-256\n")
        options = f"-c listen_addresses={','.join(self.hosts)} -p {self.port} -k {self.directory} -c fsync=off"
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(self.directory / "log"), "-o", options, "-w", "start"
        )
        self.psql(f"CREATE DATABASE {self.database}", database="postgres")

    def stop(self) -> None:
        data = self.directory / "data"
        if data.exists():
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    def dsn(self, host: str = "127.0.0.1") -> str:
        return f"postgresql://{self.user}:{self.password}@{host}:{self.port}/{self.database}"

    def psql(self, sql: str, database: str | None = None) -> str:
        """Run ``sql`` with psql on the server (over TCP, with the password); return its unaligned output."""
        env = {**os.environ, "PGPASSWORD": self.password}
        result = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
             "-U", self.user, "-d", database or self.database, "-c", sql],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if result.returncode:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def _run(self, *argv: str, check: bool = True) -> None:
        command = ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if check and result.returncode:
            log = self.directory / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {result.stderr.strip()}\n{tail}")


class SmtpServer:
    """aiosmtpd on ``hosts``; ``messages`` are the emails it received, parsed."""

    def __init__(self, hosts: tuple[str, ...]) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._controllers = [Controller(self, hostname=host, port=self.port, ready_timeout=10) for host in hosts]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        for controller in self._controllers:
            controller.start()

    def stop(self) -> None:
        for controller in self._controllers:
            controller.stop()


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpServer:
    """A real HTTP server on 127.0.0.1; ``answer(path, ...)`` sets a path's reply, ``requests`` records calls."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._answers: dict[str, tuple[int, bytes, str]] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urlparse(self.path).path
                server.requests.append(RecordedRequest(self.command, self.path, dict(self.headers), body))
                status, payload, content_type = server._answers.get(
                    path, (404, b'{"error": "no such path"}', "application/json")
                )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 (http.server's names)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, status: int = 200, body: Any = None, content_type: str = "application/json") -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self._answers[path] = (status, payload, content_type)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
