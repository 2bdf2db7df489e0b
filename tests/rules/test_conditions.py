"""Each if.* condition, on messages that should and should not match."""

from __future__ import annotations

import pytest

from maildesk.rules import CONDITIONS, ConditionError, MatchInput

from .factory import PDF, make_message


def matches(condition: str, value: object, rcpt_tos: tuple[str, ...] = (), **message: object) -> bool:
    predicate = CONDITIONS[condition].compile(value)
    return predicate(MatchInput(make_message(**message), rcpt_tos))  # type: ignore[arg-type]


def test_registry_has_every_documented_condition() -> None:
    assert set(CONDITIONS) == {"subject", "body", "from", "from_domain", "to", "header", "has_attachment"}


def test_subject_regex_is_searched_not_anchored() -> None:
    assert matches("subject", "virus", subject="Re: a virus on my laptop")
    assert not matches("subject", "^virus", subject="Re: a virus on my laptop")


def test_subject_regex_is_case_sensitive_unless_asked() -> None:
    assert not matches("subject", "virus", subject="VIRUS ALERT")
    assert matches("subject", "(?i)virus", subject="VIRUS ALERT")


def test_subject_alternatives_and_word_boundaries() -> None:
    assert matches("subject", r"(?i)\b(erp|sap)\b", subject="Question about SAP invoices")
    assert not matches("subject", r"(?i)\b(erp|sap)\b", subject="Sapphire screen broken")


def test_body_searches_the_plain_text() -> None:
    text = "Hello,\n\nall my files have been encrypted and a ransom note appeared.\n"
    assert matches("body", r"(?i)files have been encrypted", text=text)
    assert not matches("body", r"(?i)phishing", text=text)
    assert not matches("body", r"(?i)ransom", subject="ransom", text="nothing here")


def test_body_multiline_flags_work() -> None:
    text = "first line\nSent from my phone\n"
    assert matches("body", r"(?m)^Sent from my", text=text)
    assert not matches("body", r"^Sent from my", text=text)


def test_from_searches_address_and_display_name() -> None:
    assert matches("from", r"^ceo@", from_addr="ceo@example.org", from_name="Big Boss")
    assert matches("from", r"(?i)big boss", from_addr="ceo@example.org", from_name="Big Boss")
    assert not matches("from", r"^cfo@", from_addr="ceo@example.org", from_name="Big Boss")


def test_from_anchors_apply_to_address_and_name_separately() -> None:
    assert matches("from", r"^Big Boss$", from_addr="ceo@example.org", from_name="Big Boss")
    assert matches("from", r"^ceo@example\.org$", from_addr="ceo@example.org", from_name="Big Boss")


def test_from_domain_is_exact_and_case_insensitive() -> None:
    assert matches("from_domain", "Example.COM", from_addr="user@example.com")
    assert not matches("from_domain", "example.com", from_addr="user@mail.example.com")
    assert not matches("from_domain", "example.com", from_addr="user@example.com.evil.net")


def test_from_domain_accepts_a_list() -> None:
    domains = ["bigcustomer.example.com", "partner.example.net"]
    assert matches("from_domain", domains, from_addr="a@partner.example.net")
    assert not matches("from_domain", domains, from_addr="a@example.net")


def test_from_domain_may_be_written_with_an_at_sign() -> None:
    assert matches("from_domain", "@example.com", from_addr="user@example.com")


def test_from_domain_does_not_match_an_absent_sender() -> None:
    assert not matches("from_domain", "example.com", from_addr="")


def test_to_searches_to_cc_and_envelope_recipients() -> None:
    regex = r"^dpo@example\.org$"
    assert matches("to", regex, to=("dpo@example.org",))
    assert matches("to", regex, to=("support@example.org",), cc=("dpo@example.org",))
    assert matches("to", regex, ("DPO@Example.org",), to=("support@example.org",))  # Bcc: envelope only
    assert not matches("to", regex, ("support@example.org",), to=("support@example.org",))
    assert matches("to", regex, ("<dpo@example.org>",))


def test_header_searches_the_decoded_value() -> None:
    headers = (("X-Mailer", "Zabbix 6.0 alerting"),)
    assert matches("header", {"X-Mailer": "(?i)zabbix"}, headers=headers)
    assert not matches("header", {"X-Mailer": "(?i)nagios"}, headers=headers)


def test_header_name_is_case_insensitive() -> None:
    assert matches("header", {"x-mailer": "Zabbix"}, headers=(("X-MAILER", "Zabbix"),))


def test_missing_header_never_matches_even_an_empty_regex() -> None:
    assert not matches("header", {"X-Mailer": ""}, headers=())
    assert matches("header", {"X-Mailer": ""}, headers=(("X-Mailer", ""),))


def test_repeated_header_matches_when_any_occurrence_does() -> None:
    headers = (("Received", "from a.example.net"), ("Received", "from mx.partner.example"))
    assert matches("header", {"Received": r"partner\.example"}, headers=headers)


def test_several_headers_must_all_match() -> None:
    headers = (("X-Priority", "1 (Highest)"), ("X-Mailer", "Outlook"))
    assert matches("header", {"X-Priority": "^1", "X-Mailer": "Outlook"}, headers=headers)
    assert not matches("header", {"X-Priority": "^1", "X-Mailer": "Thunderbird"}, headers=headers)


@pytest.mark.parametrize(
    ("wanted", "attachments", "expected"),
    [
        (True, (PDF,), True),
        (True, (), False),
        (False, (), True),
        (False, (PDF,), False),
    ],
)
def test_has_attachment_compares_presence(wanted: bool, attachments: tuple, expected: bool) -> None:
    assert matches("has_attachment", wanted, attachments=attachments) is expected


@pytest.mark.parametrize(
    ("condition", "value", "message"),
    [
        ("subject", "(unclosed", "bad regex: missing ), unterminated subpattern at position 0"),
        ("subject", 42, "must be a string (a regular expression), not 42"),
        ("body", ["a", "b"], 'must be a string (a regular expression), not ["a", "b"]'),
        ("has_attachment", "yes", 'must be true or false, not "yes"'),
        ("from_domain", 3, "must be a domain or a list of domains, not 3"),
        ("from_domain", ["example.com", 3], 'must be a domain or a list of domains, not ["example.com", 3]'),
        ("from_domain", "user@example.com", '"user@example.com" is not a domain like "example.com"'),
    ],
)
def test_bad_values_are_refused_at_compile_time(condition: str, value: object, message: str) -> None:
    with pytest.raises(ConditionError) as caught:
        CONDITIONS[condition].compile(value)
    assert caught.value.problems == [((), message)]


def test_header_problems_name_the_header() -> None:
    with pytest.raises(ConditionError) as caught:
        CONDITIONS["header"].compile({"X-Mailer": "(", "X-Priority": "1", "Bad Name": "x"})
    assert caught.value.problems == [
        (("X-Mailer",), "bad regex: missing ), unterminated subpattern at position 0"),
        (("Bad Name",), '"Bad Name" is not a header name'),
    ]


def test_regex_that_re_warns_about_is_refused() -> None:
    with pytest.raises(ConditionError, match="bad regex: Possible nested set"):
        CONDITIONS["subject"].compile("[[a]")
