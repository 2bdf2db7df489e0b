"""What the desk accepts as an email address where one is configured or commanded: one rule, one place.

Config keys, rule actions and technician commands all check with
:func:`is_address`: a local part and a domain with at least one dot (or
``localhost``), nothing that could split a list or a header (spaces, angle
brackets, quotes, commas, semicolons, square brackets). Outgoing headers are
checked more strictly still by ``maildesk.notify.compose.check_address``.
"""

from __future__ import annotations

import re

_PART = r"[^@\s<>\",;\[\]]+"
_ADDRESS = re.compile(rf"{_PART}@(?:[^@\s<>\",;\[\].]+(?:\.[^@\s<>\",;\[\].]+)+|localhost)")


def is_address(text: str) -> bool:
    """True when ``text`` is one bare email address (no display name, no brackets)."""
    return _ADDRESS.fullmatch(text) is not None
