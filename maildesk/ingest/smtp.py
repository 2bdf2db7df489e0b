"""SMTP and LMTP intake on aiosmtpd: store durably, then say 250 (or 451 when storage fails)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from datetime import UTC, datetime

import structlog
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from maildesk.config import SmtpIntake
from maildesk.storage.inbox import Inbox
from maildesk.types import RawMessage

log = structlog.get_logger("maildesk.smtp")


class IntakeHandler:
    """aiosmtpd handler: refuses foreign recipients at RCPT, stores at DATA before answering."""

    def __init__(
        self, inbox: Inbox, *, domains: Collection[str], protocol: str, on_stored: Callable[[], None]
    ) -> None:
        self.inbox = inbox
        self.domains = frozenset(d.lower() for d in domains)
        self.protocol = protocol
        self.on_stored = on_stored
        self.in_flight = 0
        self.sessions: set[SMTP] = set()  # open connections, so a stop can let transactions finish
        self.stopping = False

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.stopping:
            return "421 4.3.2 Service shutting down, please try again later"
        domain = address.rpartition("@")[2].lower().rstrip(">")
        if self.domains and domain not in self.domains:
            log.info("recipient_refused", recipient=address, peer=str(session.peer))
            return (
                f"550 5.7.1 <{address}>: relay not permitted, this server only takes mail for its own domains"
            )
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        raw = RawMessage(
            data=data,
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            source=self.protocol,
            received_at=datetime.now(UTC),
        )
        self.in_flight += 1
        try:
            accepted = await asyncio.get_running_loop().run_in_executor(None, self.inbox.accept, raw)
        except Exception as exc:  # noqa: BLE001 - any storage failure must become a temporary refusal
            log.error("message_store_failed", error=f"{type(exc).__name__}: {exc}", peer=str(session.peer))
            status = "451 4.3.0 Could not store the message; please try again later"
        else:
            log.info(
                "message_accepted",
                inbox=accepted.inbox_id,
                duplicate=accepted.duplicate,
                size=len(data),
                protocol=self.protocol,
            )
            if not accepted.duplicate:
                self.on_stored()
            status = f"250 2.0.0 Stored as {accepted.inbox_id}"
        finally:
            self.in_flight -= 1
        if self.protocol == "lmtp":
            # LMTP answers once per accepted recipient; the message was stored once for all of them.
            return "\r\n".join([status] * max(1, len(envelope.rcpt_tos)))
        return status

    def in_transaction(self) -> int:
        """How many sessions are between MAIL FROM and the end of DATA (work a stop lets finish)."""
        return sum(1 for session in self.sessions if session.envelope.mail_from is not None)

    def close_sessions(self) -> None:
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()


class _TrackedSMTP(SMTP):
    """An SMTP session its handler knows about while the connection is open."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.event_handler.sessions.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.event_handler.sessions.discard(self)
        super().connection_lost(error)


class _TrackedLMTP(_TrackedSMTP, LMTP):
    pass


async def start_listener(
    intake: SmtpIntake, handler: IntakeHandler, *, hostname: str
) -> asyncio.AbstractServer:
    """Listen on the daemon's own event loop (not aiosmtpd's Controller thread)."""
    protocol_class = _TrackedLMTP if intake.protocol == "lmtp" else _TrackedSMTP
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        return protocol_class(
            handler,
            data_size_limit=intake.max_message_size,
            enable_SMTPUTF8=True,
            hostname=hostname,
            ident="maildesk",
            loop=loop,
        )

    server = await loop.create_server(factory, host=intake.host, port=intake.port)
    port = server.sockets[0].getsockname()[1] if server.sockets else intake.port
    log.info("listener_started", protocol=intake.protocol, host=intake.host, port=port)
    return server
