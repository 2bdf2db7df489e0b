"""Redaction of drafts: what names or reaches a person is masked; numbers only when check digits hold."""

from __future__ import annotations

from stdnum.fr import nir

from maildesk.kb.redact import MASK, People, redact

ANN = People(
    names=("Ann Martin", "Bob Durand"),
    addresses=("ann.martin@client.com", "bob.durand@client.com"),
    keep=("support@example.org",),
)


def test_names_addresses_phones_and_checked_numbers_are_masked():
    nir_number = "2840776451089" + nir.calc_check_digits("2840776451089")
    text = (
        "Hello Ann, I called Mr DURAND at 06 12 34 56 78 and +33 1 23 45 67 89.\n"
        "Card 4111 1111 1111 1111, IBAN FR76 3000 6000 0112 3456 7890 189 EUR, NIR "
        f"{nir_number[0]} {nir_number[1:3]} {nir_number[3:5]} {nir_number[5:7]} {nir_number[7:10]} "
        f"{nir_number[10:13]} {nir_number[13:]}.\n"
        "Write to ann.martin@client.com, or anyone@else.net, or support@example.org.\n"
        "Sent to 12 rue des Lilas, 75011 Paris.\n"
    )
    masked = redact(text, ANN)
    for secret in (
        "Ann",
        "DURAND",
        "06 12",
        "+33",
        "4111",
        "FR76",
        "3456",
        "anyone@",
        "ann.martin",
        "Lilas",
        "75011",
    ):
        assert secret not in masked, secret
    assert "support@example.org" in masked  # the desk's own address is for everyone
    assert masked.count(MASK) >= 10


def test_numbers_whose_check_digits_fail_and_ordinary_words_stay():
    text = "Order 4111 1111 1111 1112, build 2026.11.22, version 4.2.1, 12345678 rows. Will you restart?"
    people = People(names=("Will Smith",))
    masked = redact(text, people)
    assert "4111 1111 1111 1112" in masked and "12345678" in masked and "4.2.1" in masked
    assert "Will you restart" not in masked  # a name as written capitalised
    assert redact("we will restart it", people) == "we will restart it"  # "will" is no "Will"


def test_an_iban_followed_by_more_capitals_is_masked_up_to_its_last_valid_group():
    masked = redact("IBAN FR76 3000 6000 0112 3456 7890 189 BIC BNPAFRPP please")
    assert masked == f"IBAN {MASK} BIC BNPAFRPP please"
