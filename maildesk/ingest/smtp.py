"""SMTP and LMTP intake on aiosmtpd: store durably, then say 250 (or 451 when storage fails).

Bounded whatever the senders do: at most ``max_sessions`` sessions at once
(a new connection beyond gets 421 and tries later), and each message's
DATA is spooled as it arrives (``maildesk.spool``) rather than kept in
memory line by line and joined, as aiosmtpd does, so twenty large messages
at once cost megabytes, not gigabytes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection
from datetime import UTC, datetime

import structlog
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

from maildesk.config import SmtpIntake
from maildesk.storage.inbox import Inbox
from maildesk.storage.spool import CHUNK, Spool
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
        assert isinstance(envelope, SpooledEnvelope)
        spool = envelope.spool  # see _TrackedSMTP.smtp_DATA
        assert spool is not None
        raw = RawMessage(
            data=b"",  # the bytes are in the spool
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            source=self.protocol,
            received_at=datetime.now(UTC),
        )
        self.in_flight += 1
        try:
            accepted = await asyncio.get_running_loop().run_in_executor(None, self.inbox.accept, raw, spool)
        except Exception as exc:  # noqa: BLE001 - any storage failure must become a temporary refusal
            log.error("message_store_failed", error=f"{type(exc).__name__}: {exc}", peer=str(session.peer))
            status = "451 4.3.0 Could not store the message; please try again later"
        else:
            log.info(
                "message_accepted",
                inbox=accepted.inbox_id,
                duplicate=accepted.duplicate,
                size=spool.size,
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
        return sum(1 for session in self.sessions if session.envelope and session.envelope.mail_from)

    def close_sessions(self) -> None:
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()


class SpooledEnvelope(Envelope):
    """An envelope whose message bytes are in a spool rather than in ``content``."""

    def __init__(self) -> None:
        super().__init__()
        self.spool: Spool | None = None


class _TrackedSMTP(SMTP):
    """An SMTP session its handler knows about while the connection is open, spooling its DATA."""

    def _create_envelope(self) -> Envelope:
        return SpooledEnvelope()

    async def smtp_DATA(self, arg: str) -> None:
        """DATA as RFC 5321 section 4.5.2 has it, written to a spool as it comes (aiosmtpd's keeps it all).

        The same answers as aiosmtpd's: 552 past the size limit, 500 for a
        line past 1,000 characters, both only once the data has ended.
        """
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert isinstance(self.envelope, SpooledEnvelope)
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        spool = Spool()
        try:
            refusal = await self._receive(spool)
            if refusal is not None:
                self._set_post_data_state()
                await self.push(refusal)
                return
            self.envelope.spool = spool
            status = await self._call_handler_hook("DATA")
            self._set_post_data_state()
            await self.push("250 OK" if status is MISSING else status)
        finally:
            spool.close()

    async def _receive(self, spool: Spool) -> str | None:
        """Read lines up to the lone dot into ``spool``; the refusal to send instead of handling, if any."""
        limit = self.data_size_limit
        received = 0
        pending = bytearray()  # written to the spool a chunk at a time, not a line at a time
        at_line_start, refusal = True, None
        while self.transport is not None:
            try:
                line = await self._reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError as overrun:  # a line longer than the reader's limit
                line = await self._reader.read(overrun.consumed)
                refusal = refusal or "500 Line too long (see RFC5321 4.5.3.1.6)"
            if at_line_start and line == b".\r\n":
                break
            received += len(line)
            if limit and received > limit:
                refusal = refusal or "552 Error: Too much mail data"
            if refusal is None:
                # Transparency (RFC 5321 4.5.2): a leading dot was doubled by the sender.
                pending += line[1:] if at_line_start and line.startswith(b".") else line
                if len(pending) >= CHUNK:
                    spool.write(pending)
                    pending.clear()
            at_line_start = line.endswith(b"\r\n")
        if refusal is None:
            spool.write(pending)
        return refusal

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.event_handler.sessions.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.event_handler.sessions.discard(self)
        super().connection_lost(error)


class _TrackedLMTP(_TrackedSMTP, LMTP):
    pass


class _TooMany(asyncio.Protocol):
    """A connection beyond ``max_sessions``: told to try later (RFC 5321 4.3.2) and closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.WriteTransport):
            with contextlib.suppress(OSError):
                transport.write(b"421 4.3.2 Too many connections, try again later\r\n")
        transport.close()


async def start_listener(
    intake: SmtpIntake, handler: IntakeHandler, *, hostname: str
) -> asyncio.AbstractServer:
    """Listen on the daemon's own event loop (not aiosmtpd's Controller thread)."""
    protocol_class = _TrackedLMTP if intake.protocol == "lmtp" else _TrackedSMTP
    loop = asyncio.get_running_loop()

    def factory() -> asyncio.Protocol:
        if len(handler.sessions) >= intake.max_sessions:
            log.warning("session_refused", reason=f"{intake.max_sessions} sessions already open")
            return _TooMany()
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
