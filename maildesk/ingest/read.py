"""What ``maildesk ingest`` is given: one message within ``max_message_size``, or a backlog that is one.

An MTA pipes every message to ``ingest`` and acts on its exit code, so a bad
input must say what it is: 66 (EX_NOINPUT) for input that is missing or not
readable, 65 (EX_DATAERR) for a message too large or empty. 75 stays for the
desk failing to store, which is worth retrying; bad input is not. A message
is read with a bound, never the whole stream first. Only stdlib imports:
this is on the pipe fast path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from maildesk.errors import InputMissing, InputRefused

if TYPE_CHECKING:
    from maildesk.config import Settings


def max_message_size(settings: Settings) -> int:
    """The largest message the desk takes: the largest ``[intake.smtp] max_message_size``."""
    from maildesk.config import SmtpIntake  # not on the pipe path: its figures come from pipe_config

    sizes = [intake.max_message_size for intake in settings.smtp]
    return max(sizes) if sizes else SmtpIntake().max_message_size


def too_large(name: str, limit: int) -> InputRefused:
    return InputRefused(f"{name}: larger than max_message_size ({limit:,} bytes); nothing stored")


def check_message_file(path: str) -> None:
    """Refuse now what cannot be a message file: missing, a directory."""
    target = Path(path)
    if not target.exists():
        raise InputMissing(f"{path}: no such file")
    if target.is_dir():
        raise InputMissing(f"{path}: is a directory, not a message file")


def read_message(path: str | None, limit: int, *, empty_ok: bool = False) -> bytes:
    """The bytes of one message from ``path`` (stdin when None), at most ``limit`` of them."""
    name = path or "stdin"
    if path is None:
        return _bounded(sys.stdin.buffer, name, limit, empty_ok)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise too_large(name, limit)
            return _bounded(handle, name, limit, empty_ok)
    except IsADirectoryError:
        raise InputMissing(f"{path}: is a directory, not a message file") from None
    except OSError as exc:
        raise InputMissing(f"{path}: cannot read: {exc.strerror or exc}") from None


def _bounded(stream: BinaryIO, name: str, limit: int, empty_ok: bool) -> bytes:
    data = stream.read(limit + 1)  # one byte past the limit tells a message that is too large
    if len(data) > limit:
        raise too_large(name, limit)
    if not empty_ok and not data.strip():
        raise InputRefused(f"{name}: empty message; nothing stored")
    return data


def check_backlog(path: str, kind: str) -> None:
    """Refuse a backlog that is missing or not the mailbox it is said to be, before anything is stored."""
    target = Path(path)
    if not target.exists():
        raise InputMissing(f"{path}: no such file or directory")
    if kind == "maildir":
        if not target.is_dir():
            raise InputMissing(f"{path}: not a maildir (not a directory)")
        if not (target / "cur").is_dir() or not (target / "new").is_dir():
            raise InputMissing(f"{path}: not a maildir (it has no cur/ and new/ folders)")
        return
    if target.is_dir():
        raise InputMissing(f"{path}: is a directory, not an mbox file")
    try:
        with open(target, "rb") as handle:
            start = handle.read(5)
    except OSError as exc:
        raise InputMissing(f"{path}: cannot read: {exc.strerror or exc}") from None
    if start and start != b"From ":
        raise InputRefused(f'{path}: not an mbox file (it does not begin with a "From " line)')


def read_bounded(handle: BinaryIO, limit: int) -> bytes | None:
    """A backlog message's bytes, or None when it is larger than ``limit`` (it is then not read further)."""
    data = handle.read(limit + 1)
    return None if len(data) > limit else data
