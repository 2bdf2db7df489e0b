"""Message bytes on their way in, written to a private temporary file instead of being held in memory.

Twenty clients sending 24 MB each at once would otherwise hold half a
gigabyte in the listener (aiosmtpd keeps every line, then joins them). A
spool keeps its first megabyte in memory and the rest in an unnamed
temporary file (mode 0600, gone when closed), and works out the message's
ledger key as it is written, so storing it never needs all of it at once.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator

from maildesk.message.ledger import message_key

IN_MEMORY = 256 << 10  # smaller messages never touch the disk
CHUNK = 256 << 10  # what is read or written at a time
HEAD = 256 << 10  # the start kept for the ledger key: the header block is there


class Spool:
    """One message's bytes, written once, then read in chunks (or at once, for a small one)."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY)  # noqa: SIM115 - closed by close()
        self._digest = hashlib.sha256()
        self._head = bytearray()
        self.size = 0

    def write(self, data: bytes | bytearray) -> None:
        self._file.write(data)
        self._digest.update(data)
        self.size += len(data)
        if len(self._head) < HEAD:
            self._head += data[: HEAD - len(self._head)]

    @property
    def key(self) -> str:
        """The ledger key, as ``message_key`` gives it for the whole message."""
        return message_key(bytes(self._head), self._digest.hexdigest())

    @property
    def small(self) -> bool:
        return self.size <= IN_MEMORY

    def read(self) -> bytes:
        """All the bytes at once (small messages, and databases without streamed writes)."""
        self._file.seek(0)
        return self._file.read()

    def chunks(self) -> Iterator[bytes]:
        self._file.seek(0)
        while chunk := self._file.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self._file.close()
