"""Delivery through a real SMTP server (aiosmtpd) and to a directory of .eml files."""

from __future__ import annotations

import email
import socket
import ssl
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest

from maildesk.config import ConfigError, OutgoingSettings
from maildesk.notify.compose import compose
from maildesk.notify.render import RenderedMail
from maildesk.notify.transport import (
    MaildirTransport,
    PermanentDeliveryError,
    SmtpTransport,
    TransientDeliveryError,
    make_transport,
)


def _mail(to: str = "user@example.com", subject: str = "Hello", ticket: int = 42) -> tuple[str, bytes]:
    return compose(
        RenderedMail(
            subject=f"[Support #{ticket}] {subject}", text="Body text.\n.\nA dot line.\n", html=None
        ),
        from_addr="support@example.org",
        from_name="Example Support",
        to=to,
        reply_to=None,
        ticket=ticket,
        loop_address="support@example.org",
        in_reply_to=None,
        references=(),
        message_id_domain="example.org",
        now=datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
    )


def test_smtp_delivery_arrives_with_headers_and_body(smtp_sink):
    message_id, data = _mail()
    with SmtpTransport(smtp_sink.host, smtp_sink.port, "none", local_hostname="desk.test") as transport:
        transport.deliver("bounces@example.org", "user@example.com", data, message_id)
    [received] = smtp_sink.sink.messages
    assert received.mail_from == "bounces@example.org"
    assert received.rcpt_tos == ["user@example.com"]
    parsed = email.message_from_bytes(received.data, policy=policy.default)
    assert parsed["Message-ID"] == message_id
    assert parsed["X-Maildesk-Ticket"] == "42"
    assert (
        parsed.get_content().replace("\r\n", "\n") == "Body text.\n.\nA dot line.\n"
    )  # the lone dot survived dot-stuffing


def test_smtp_connection_is_reused_for_a_burst(smtp_sink):
    with SmtpTransport(smtp_sink.host, smtp_sink.port, "none", local_hostname="desk.test") as transport:
        for number in (1, 2, 3):
            message_id, data = _mail(ticket=number)
            transport.deliver("bounces@example.org", f"user{number}@example.com", data, message_id)
        assert transport.connections == 1
    assert len(smtp_sink.sink.messages) == 3
    assert len({received.peer for received in smtp_sink.sink.messages}) == 1


def test_smtp_reconnects_when_the_connection_was_dropped(smtp_sink):
    with SmtpTransport(smtp_sink.host, smtp_sink.port, "none", local_hostname="desk.test") as transport:
        message_id, data = _mail(ticket=1)
        transport.deliver("bounces@example.org", "user@example.com", data, message_id)
        transport._smtp.sock.shutdown(socket.SHUT_RDWR)  # as if the relay had timed the idle connection out
        message_id, data = _mail(ticket=2)
        transport.deliver("bounces@example.org", "user@example.com", data, message_id)
        assert transport.connections == 2
    assert len(smtp_sink.sink.messages) == 2


def test_smtp_550_is_permanent_and_the_connection_stays_usable(smtp_sink):
    with SmtpTransport(smtp_sink.host, smtp_sink.port, "none", local_hostname="desk.test") as transport:
        message_id, data = _mail(to="refused@example.com")
        with pytest.raises(PermanentDeliveryError, match="550"):
            transport.deliver("bounces@example.org", "refused@example.com", data, message_id)
        message_id, data = _mail()
        transport.deliver("bounces@example.org", "user@example.com", data, message_id)
        assert transport.connections == 1
    assert [m.rcpt_tos for m in smtp_sink.sink.messages] == [["user@example.com"]]


def test_smtp_451_is_transient(smtp_sink):
    message_id, data = _mail(to="later@example.com")
    with (
        SmtpTransport(smtp_sink.host, smtp_sink.port, "none", local_hostname="desk.test") as transport,
        pytest.raises(TransientDeliveryError, match="451"),
    ):
        transport.deliver("bounces@example.org", "later@example.com", data, message_id)
    assert smtp_sink.sink.messages == []


def test_smtp_closed_port_is_transient(closed_port):
    message_id, data = _mail()
    transport = SmtpTransport("127.0.0.1", closed_port, "none", timeout=5, local_hostname="desk.test")
    with pytest.raises(TransientDeliveryError):
        transport.deliver("bounces@example.org", "user@example.com", data, message_id)
    transport.close()


def test_smtp_login_and_password_kept_out_of_repr(smtp_sink):
    message_id, data = _mail()
    with SmtpTransport(
        smtp_sink.host, smtp_sink.port, "none", "desk", "s3cret", local_hostname="desk.test"
    ) as transport:
        assert "s3cret" not in repr(transport)
        transport.deliver("bounces@example.org", "user@example.com", data, message_id)
    assert smtp_sink.sink.logins == [(b"desk", b"s3cret")]
    assert smtp_sink.sink.messages[0].login == b"desk"


def test_smtp_wrong_password_is_transient_and_not_in_the_error(smtp_sink):
    message_id, data = _mail()
    with (
        SmtpTransport(
            smtp_sink.host, smtp_sink.port, "none", "desk", "wrong-pass", local_hostname="desk.test"
        ) as transport,
        pytest.raises(TransientDeliveryError) as failure,
    ):
        transport.deliver("bounces@example.org", "user@example.com", data, message_id)
    assert "wrong-pass" not in str(failure.value)
    assert smtp_sink.sink.messages == []


def test_maildir_writes_one_file_per_message_id(tmp_path: Path):
    transport = MaildirTransport(tmp_path / "sent")
    message_id, data = _mail()
    transport.deliver("bounces@example.org", "user@example.com", data, message_id)
    transport.deliver("bounces@example.org", "user@example.com", data, message_id)
    files = list((tmp_path / "sent").iterdir())
    assert len(files) == 1
    assert files[0].name.startswith("20261122T090000-") and files[0].suffix == ".eml"
    assert files[0].read_bytes() == b"Return-Path: <bounces@example.org>\r\n" + data
    other_id, other = _mail(ticket=43)
    transport.deliver("bounces@example.org", "user@example.com", other, other_id)
    assert len(list((tmp_path / "sent").iterdir())) == 2


def test_maildir_unwritable_directory_is_transient(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    message_id, data = _mail()
    with pytest.raises(TransientDeliveryError):
        MaildirTransport(blocker / "sent").deliver("b@example.org", "user@example.com", data, message_id)


def test_make_transport_maildir(tmp_path: Path):
    transport = make_transport(OutgoingSettings(transport="maildir", maildir=tmp_path / "out"))
    assert isinstance(transport, MaildirTransport)
    assert transport.directory == tmp_path / "out"


def test_make_transport_smtp_password_from_env(monkeypatch, smtp_sink):
    monkeypatch.setenv("RELAY_PW", "s3cret")
    transport = make_transport(
        OutgoingSettings(
            transport="smtp",
            host=smtp_sink.host,
            port=smtp_sink.port,
            username="desk",
            password_env="RELAY_PW",
        )
    )
    assert isinstance(transport, SmtpTransport)
    transport.local_hostname = "desk.test"
    message_id, data = _mail()
    with transport:
        transport.deliver("bounces@example.org", "user@example.com", data, message_id)
    assert smtp_sink.sink.logins == [(b"desk", b"s3cret")]


def test_make_transport_smtp_password_from_file(tmp_path: Path):
    secret = tmp_path / "relay.pw"
    secret.write_text("  from-file\n")
    transport = make_transport(
        OutgoingSettings(transport="smtp", username="desk", password_file="relay.pw"), base_dir=tmp_path
    )
    assert isinstance(transport, SmtpTransport)
    assert transport._password == "from-file"


def test_make_transport_missing_password_env_names_the_key(monkeypatch):
    monkeypatch.delenv("NO_SUCH_PW", raising=False)
    with pytest.raises(ConfigError, match="outgoing.password_env"):
        make_transport(OutgoingSettings(transport="smtp", username="desk", password_env="NO_SUCH_PW"))


def test_smtp_idn_recipient_is_sent_in_ascii_form(smtp_sink):
    message_id, data = _mail()
    with SmtpTransport(smtp_sink.host, smtp_sink.port, "none", local_hostname="desk.test") as transport:
        transport.deliver("bounces@example.org", "jose@españa.example", data, message_id)
        with pytest.raises(PermanentDeliveryError, match="SMTPUTF8"):
            transport.deliver("bounces@example.org", "josé@example.com", data, message_id)
    assert [m.rcpt_tos for m in smtp_sink.sink.messages] == [["jose@xn--espaa-rta.example"]]


@pytest.mark.parametrize("tls_sink", ["tls", "starttls"], indirect=True)
def test_smtp_over_tls_verifies_the_certificate(tls_sink, certificate):
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    message_id, data = _mail()
    with SmtpTransport(
        tls_sink.host, tls_sink.port, tls_sink.mode, ssl_context=trusting, local_hostname="desk.test"
    ) as transport:
        transport.deliver("bounces@example.org", "user@example.com", data, message_id)
    assert len(tls_sink.sink.messages) == 1
    # The default context does not trust a self-signed certificate: retry later, never send in clear.
    with (
        SmtpTransport(
            tls_sink.host, tls_sink.port, tls_sink.mode, timeout=5, local_hostname="desk.test"
        ) as transport,
        pytest.raises(TransientDeliveryError, match="certificate"),
    ):
        transport.deliver("bounces@example.org", "user@example.com", data, message_id)
    assert len(tls_sink.sink.messages) == 1
