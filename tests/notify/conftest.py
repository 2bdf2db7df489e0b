"""A real aiosmtpd sink on 127.0.0.1, port 0, that collects what the transport sends."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class _PortZeroController(Controller):
    """Controller that binds port 0 and learns the port the kernel chose before triggering the server."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class Received:
    peer: tuple
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: bytes | None


@dataclass
class Sink:
    """Answers 550 to recipients starting with "refused", 451 at DATA for "later" recipients."""

    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # aiosmtpd hook
        if address.startswith("refused"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook
        if any(rcpt.startswith("later") for rcpt in envelope.rcpt_tos):
            return "451 4.3.0 Mailbox busy, try again later"
        login = session.auth_data if session.authenticated else None
        self.messages.append(
            Received(
                session.peer,
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content or envelope.content,
                login,
            )
        )
        return "250 2.0.0 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            self.logins.append((auth_data.login, auth_data.password))
            if auth_data.password == b"s3cret":
                return AuthResult(success=True, auth_data=auth_data.login)
        return AuthResult(success=False, handled=False)


@dataclass
class Server:
    host: str
    port: int
    sink: Sink
    mode: str = "none"  # the SmtpTransport security that fits


@pytest.fixture
def smtp_sink(request) -> Iterator[Server]:
    sink = Sink()
    controller = _PortZeroController(
        sink,
        hostname="127.0.0.1",
        port=0,
        auth_require_tls=False,
        authenticator=sink.authenticate,
        server_hostname="sink.test",
    )
    controller.start()
    try:
        yield Server("127.0.0.1", controller.port, sink, getattr(request, "param", "none"))
    finally:
        controller.stop()


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_sink(certificate, request) -> Iterator[Server]:
    """The sink behind TLS: implicit ("tls") or STARTTLS ("starttls", required before MAIL)."""
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    sink = Sink()
    if request.param == "tls":
        controller = _PortZeroController(
            sink, hostname="127.0.0.1", port=0, ssl_context=server_context, server_hostname="sink.test"
        )
    else:
        controller = _PortZeroController(
            sink,
            hostname="127.0.0.1",
            port=0,
            tls_context=server_context,
            require_starttls=True,
            server_hostname="sink.test",
        )
    controller.start()
    try:
        yield Server("127.0.0.1", controller.port, sink, getattr(request, "param", "none"))
    finally:
        controller.stop()
