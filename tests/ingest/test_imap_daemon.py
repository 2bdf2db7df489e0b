"""IMAP through the whole daemon: a mail appended to the mailbox becomes a ticket and an acknowledgement."""

from __future__ import annotations

import pytest

from tests.support import Desk, make_message, wait_until

pytestmark = pytest.mark.imap


def test_daemon_turns_imap_mail_into_a_ticket_and_moves_it(tmp_path, sink, mailbox):
    desk = Desk(
        tmp_path / "desk",
        sink=sink,
        extra=f"""
[[intake.imap]]
name = "support"
host = "{mailbox.server.host}"
port = {mailbox.server.port}
security = "none"
username = "{mailbox.user}"
password_file = "{mailbox.server.password_file(mailbox.user)}"
folder = "INBOX"
done = "move:Processed"
idle = true
resync_every = "2s"
""",
    )
    desk.start()
    try:
        mailbox.append(
            [make_message(subject="Cannot print", sender="pat@client.com", message_id="<imap1@client.com>")]
        )
        (ticket,) = desk.wait_for_tickets(1)
        assert (ticket["subject"], ticket["requester"]) == ("Cannot print", "pat@client.com")
        sink.wait_for(
            lambda m: "pat@client.com" in str(m["To"]) and "[Support #1]" in str(m["Subject"]),
            what="acknowledgement",
        )
        wait_until(
            lambda: mailbox.message_ids("Processed") == ["<imap1@client.com>"], what="move to Processed"
        )
        assert mailbox.message_ids("INBOX") == []
        assert '"imap_connected"' in desk.log() or "imap_connected" in desk.log()
    finally:
        assert desk.stop() == 0
    # A restart takes nothing twice: the checkpoint and the ledger agree.
    desk.start()
    try:
        mailbox.append(
            [make_message(subject="Scanner too", sender="pat@client.com", message_id="<imap2@client.com>")]
        )
        desk.wait_for_tickets(2)
        assert len(desk.tickets()) == 2
    finally:
        desk.stop()
