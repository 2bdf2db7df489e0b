"""Decide whether a message's From domain passed DKIM, as reported by a trusted Authentication-Results header.

maildesk does not verify signatures itself: the receiving MTA does, and
records the outcome in ``Authentication-Results`` (RFC 8601). Only headers
whose authserv-id the admin trusts count, since anyone can write one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import authres

from maildesk.types import ParsedMessage

_FOLDING = re.compile(r"\r?\n[ \t]*")


def _domain_of(value: str | None) -> str | None:
    """The domain of ``header.d`` (a domain) or ``header.i`` (``[local]@domain``), lower-case."""
    if not value:
        return None
    domain = str(value).strip().strip('"').rpartition("@")[2].strip().rstrip(".").lower()
    return domain or None


def _results(value: str) -> tuple[str, list] | None:
    """``(authserv_id, results)`` of one header value, or None when it cannot be parsed."""
    try:
        header = authres.parse_value(_FOLDING.sub(" ", value))
    except Exception:  # noqa: BLE001 - a garbage header simply counts for nothing
        return None
    if not header.authserv_id:
        return None
    return header.authserv_id, list(header.results)


def dkim_pass_domains(headers: Iterable[tuple[str, str]], trusted_authserv_ids: Sequence[str]) -> set[str]:
    """The domains that passed DKIM according to the trusted ``Authentication-Results`` headers."""
    trusted = {server.strip().lower() for server in trusted_authserv_ids if server.strip()}
    domains: set[str] = set()
    for name, value in headers:
        if name.strip().lower() != "authentication-results" or not isinstance(value, str):
            continue
        parsed = _results(value)
        if parsed is None or parsed[0] not in trusted:
            continue
        for result in parsed[1]:
            if (
                str(getattr(result, "method", "")).lower() != "dkim"
                or str(result.result or "").lower() != "pass"
            ):
                continue
            # Properties are read directly: authres picks its DKIM result class by the method's exact case.
            for prop in getattr(result, "properties", None) or ():
                if str(prop.type).lower() == "header" and str(prop.name).lower() in ("d", "i"):
                    domain = _domain_of(prop.value)
                    if domain:
                        domains.add(domain)
    return domains


def dkim_passes(parsed: ParsedMessage, trusted_authserv_ids: Sequence[str]) -> bool:
    """Whether a trusted server reports ``dkim=pass`` for exactly the From address's domain."""
    from_domain = _domain_of(parsed.from_addr) if "@" in (parsed.from_addr or "") else None
    if not from_domain or not trusted_authserv_ids:
        return False
    return from_domain in dkim_pass_domains(parsed.headers, trusted_authserv_ids)
