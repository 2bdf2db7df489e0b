"""Signed addresses and the secret that keys them (SPEC section 5).

Two kinds, both ``<local>+...@<domain>`` of a desk address:

- reply addresses ``<local>+<N>-<sig>@<domain>``, one per ticket and recipient;
- bounce addresses (VERP) ``<local>+bounce-<outbox id>-<sig>@<domain>``, the
  envelope sender of each outgoing mail, so a delivery report names the very
  mail that bounced and cannot be forged without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from pathlib import Path

from maildesk.errors import ExitCode, MaildeskError
from maildesk.storage.fsutil import fsync_directory, make_private_dir

SIGNATURE_LENGTH = 10


class SecretFileError(MaildeskError, ValueError):
    """The secret file exists but cannot serve as the secret (a directory, empty, unreadable); one line."""

    exit_code = ExitCode.CONFIG


_SIGNED = re.compile(r"^(?P<local>[^@\s]+)\+(?P<ticket>[0-9]+)-(?P<sig>[a-z2-7]{10})@(?P<domain>[^@\s]+)$")
# The signature part is loose on purpose: a bounce address with a mangled signature is still
# recognised as one (and refused for its signature), never taken for an ordinary address. The desk's
# own local part may hold a "+" (``help+desk@``): the greedy local part ends at the last "+bounce-".
_BOUNCE = re.compile(
    r"^(?P<local>[^@\s]+)\+bounce-(?P<outbox>[0-9]{1,18})-(?P<sig>[^@\s]*)@(?P<domain>[^@\s]+)$"
)


def load_or_create_secret(path: Path | str) -> bytes:
    """The secret file's bytes, surrounding whitespace stripped; created (mode 0600) when absent.

    Creation is atomic: the secret is written to a private temporary file that
    is then hard-linked into place, so processes racing to create it all end
    up with the one that was linked first.
    """
    path = Path(path)
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    make_private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process won the race: use its secret
        except OSError:
            # A file system without hard links: fall back to an exclusive create.
            _create_exclusive(path)
        else:
            fsync_directory(path.parent)
    finally:
        temporary.unlink(missing_ok=True)
    return _read_secret(path)


def _create_exclusive(path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _read_secret(path: Path) -> bytes:
    """The secret; FileNotFoundError when there is none yet, SecretFileError when the file cannot be one."""
    if path.is_dir():
        raise SecretFileError(f"{path} is a directory, not a secret file")
    # An empty file can only be seen mid-creation under the exclusive-create fallback.
    for _ in range(50):
        try:
            secret = path.read_bytes().strip()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise SecretFileError(f"{path} cannot be read: {exc.strerror or exc}") from None
        if secret:
            return secret
        time.sleep(0.01)
    raise SecretFileError(f"{path} is empty; delete it to have a new secret created")


def _signature(secret: bytes, text: str) -> str:
    """The first 10 characters of the lower-case base32 (no padding) HMAC-SHA256 of ``text``."""
    digest = hmac.new(secret, text.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()[:SIGNATURE_LENGTH]


def sign(secret: bytes, ticket: int, recipient: str) -> str:
    """The 10-character signature of ticket ``ticket`` for ``recipient``."""
    return _signature(secret, f"{int(ticket)}:{recipient.lower()}")


def signed_address(secret: bytes, level_address: str, ticket: int, recipient: str) -> str:
    """``<local>+<N>-<sig>@<domain>`` for the level address ``<local>@<domain>``."""
    local, at, domain = level_address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{level_address!r} is not an email address")
    return f"{local}+{int(ticket)}-{sign(secret, ticket, recipient)}@{domain}"


def parse_signed(address: str) -> tuple[str, int, str] | None:
    """``(level_address, ticket, sig)`` of a signed address (lower-case), or None for any other address."""
    match = _SIGNED.match(address.strip().lower())
    if match is None:
        return None
    return f"{match['local']}@{match['domain']}", int(match["ticket"]), match["sig"]


def verify(secret: bytes, ticket: int, recipient: str, sig: str) -> bool:
    """Whether ``sig`` is the signature of ``ticket`` for ``recipient`` (constant-time comparison)."""
    expected = sign(secret, ticket, recipient).encode("ascii")
    return hmac.compare_digest(expected, sig.lower().encode("utf-8", "replace"))


def bounce_address(secret: bytes, desk_address: str, outbox_id: int) -> str:
    """``<local>+bounce-<outbox id>-<sig>@<domain>``: the envelope sender of outbox mail ``outbox_id``."""
    local, at, domain = desk_address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{desk_address!r} is not an email address")
    return f"{local}+bounce-{int(outbox_id)}-{_signature(secret, f'bounce:{int(outbox_id)}')}@{domain}"


def parse_bounce(address: str) -> tuple[str, int, str] | None:
    """``(desk_address, outbox_id, sig)`` of a bounce address (lower-case), or None for any other address."""
    match = _BOUNCE.match(address.strip().strip("<>").strip().lower())
    if match is None:
        return None
    return f"{match['local']}@{match['domain']}", int(match["outbox"]), match["sig"]


def verify_bounce(secret: bytes, outbox_id: int, sig: str) -> bool:
    """Whether ``sig`` is the signature of bounce address ``outbox_id`` (constant-time comparison)."""
    expected = _signature(secret, f"bounce:{int(outbox_id)}").encode("ascii")
    return hmac.compare_digest(expected, sig.lower().encode("utf-8", "replace"))
