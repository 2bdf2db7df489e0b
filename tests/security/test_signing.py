"""Signed reply addresses and the secret file (SPEC section 5)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from maildesk.security.signing import load_or_create_secret, parse_signed, sign, signed_address, verify

SECRET = b"6f1d3c0a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817069f8e"


def _independent_signature(secret: bytes, ticket: int, recipient: str) -> str:
    digest = hmac.new(secret, f"{ticket}:{recipient.lower()}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower().replace("=", "")[:10]


def test_signature_matches_the_spec_test_vector():
    expected = _independent_signature(SECRET, 42, "alice@example.org")
    assert sign(SECRET, 42, "Alice@Example.org") == expected
    assert len(expected) == 10 and set(expected) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert (
        signed_address(SECRET, "support@example.org", 42, "alice@example.org")
        == f"support+42-{expected}@example.org"
    )


def test_signature_depends_on_ticket_and_recipient():
    assert sign(SECRET, 42, "alice@example.org") != sign(SECRET, 43, "alice@example.org")
    assert sign(SECRET, 42, "alice@example.org") != sign(SECRET, 42, "bob@example.org")
    assert sign(SECRET, 42, "alice@example.org") != sign(b"other", 42, "alice@example.org")


def test_parse_and_verify_round_trip():
    address = signed_address(SECRET, "support-l2@example.org", 1234, "carol@example.org")
    level_address, ticket, sig = parse_signed(address.upper())
    assert (level_address, ticket) == ("support-l2@example.org", 1234)
    assert verify(SECRET, ticket, "carol@example.org", sig)
    assert not verify(SECRET, ticket, "mallory@example.org", sig)
    assert not verify(SECRET, ticket + 1, "carol@example.org", sig)
    assert not verify(SECRET, ticket, "carol@example.org", "é" * 10)


def test_parse_signed_keeps_a_plus_in_the_level_address():
    assert parse_signed("desk+l2+7-abcdefghij@example.org") == ("desk+l2@example.org", 7, "abcdefghij")


def test_parse_signed_rejects_other_addresses():
    for address in (
        "support@example.org",
        "support+42@example.org",
        "support+42-abc@example.org",
        "support+x-abcdefghij@example.org",
        "support+42-abcdefghi1@example.org",
        "support+42-abcdefghijk@example.org",
        "+42-abcdefghij@example.org",
    ):
        assert parse_signed(address) is None, address


def test_secret_is_created_private_and_reused(tmp_path: Path):
    path = tmp_path / "var" / "deep" / "secret"
    secret = load_or_create_secret(path)
    assert len(secret) == 64 and bytes.fromhex(secret.decode())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_secret(path) == secret
    assert [p.name for p in path.parent.iterdir()] == ["secret"]  # no temporary left behind


def test_existing_secret_is_stripped(tmp_path: Path):
    path = tmp_path / "secret"
    path.write_bytes(b"  my-secret-value \n\n")
    assert load_or_create_secret(path) == b"my-secret-value"


def test_racing_creators_end_with_one_secret(tmp_path: Path):
    path = tmp_path / "secret"
    with ThreadPoolExecutor(max_workers=16) as pool:
        secrets = set(pool.map(lambda _: load_or_create_secret(path), range(64)))
    assert secrets == {path.read_bytes().strip()}
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]
