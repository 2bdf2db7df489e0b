"""What one parse noticed, in three lists the ticket and the logs read.

``defects`` are for the log and the inbox row (what was wrong with the
bytes); ``limits`` say what the parser's bounds left out and ``repairs``
which fallback gave the sender, subject or text (a guessed charset, the
requester from Reply-To, a mended header block): both are said on the
ticket's first message event, so that nothing is changed silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from maildesk.types import ParsedMessage


@dataclass
class Notes:
    defects: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)

    def repaired(self, what: str) -> None:
        """A fallback was used: said on the ticket, and in the defects too."""
        self.repairs.append(what)
        self.defects.append(what)

    def safe(self, func: Any, default: Any, what: str, *args: Any) -> Any:
        """``func(*args)``, or ``default`` with a defect when the stdlib or a library raises."""
        try:
            return func(*args)
        except Exception as exc:  # noqa: BLE001 - any library failure becomes a defect note and the default
            self.defects.append(f"{what}: {type(exc).__name__}")
            return default


def said_on_ticket(parsed: ParsedMessage) -> dict[str, Any]:
    """What a message event's data says of the parse: what the limits left out, which fallbacks were used."""
    said: dict[str, Any] = {}
    if parsed.limits:
        said["limits"] = list(parsed.limits)
    if parsed.repairs:
        said["repairs"] = list(parsed.repairs)
    if parsed.from_header != "from":
        said["requester_header"] = parsed.from_header
    return said
