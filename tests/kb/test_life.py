"""The life of an article: proposed updates, [publish] and [known] of drafts, the kb CLI, rules check."""

from __future__ import annotations

import pytest

from tests.levels.helpers import ALICE, REQUESTER, Local, body_text, parse
from tests.support import Desk, postgres_url, run_cli

PROFILE = """# Reimport the VPN profile
Tags: vpn, profile
Application: VPN
Category: technical

Delete the VPN profile and import it again from the portal, then restart the VPN client.
"""


@pytest.fixture
def local(desk):
    app = Local(desk)
    yield app
    app.close()


def _write(desk: Desk, name: str, text: str) -> str:
    path = desk.dir / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_draft_close_to_a_published_article_is_proposed_as_its_update(local):
    code, _out, err = run_cli(
        local.desk.config, "kb", "add", _write(local.desk, "vpn-profile.md", PROFILE), "--publish"
    )
    assert code == 0, err
    number = local.new_ticket("VPN down")
    local.technician(
        number,
        ALICE,
        "[close]",
        body="Delete the VPN profile and import it again from the portal, then restart the VPN client.\n",
    )
    (mail,) = local.outbox("kb_draft", ALICE)
    assert 'close to the published article "Reimport the VPN profile" (vpn-profile)' in " ".join(
        body_text(parse(mail)).split()
    )
    mark = local.last_outbox_id()

    local.technician(
        number, ALICE, "[publish]", body="Delete the VPN profile, import it again, restart the client.\n"
    )

    articles = {a.slug: a for a in local.articles()}
    assert articles["vpn-profile"].status == "published"
    assert articles["vpn-profile"].body == "Delete the VPN profile, import it again, restart the client."
    assert articles[f"ticket-{number}"].status == "retired"  # no duplicate: its text lives on in vpn-profile
    assert local.outbox(to=REQUESTER, since=mark) == []  # the reply was for the article, not the requester


def test_publish_without_a_draft_and_known_of_a_draft_are_refused_and_say_why(local):
    number = local.new_ticket("VPN down")
    local.technician(number, ALICE, "[publish]", body="")
    (error,) = local.outbox("command_error", ALICE)
    assert f"ticket #{number} has no draft article waiting to be published" in body_text(parse(error))

    local.technician(number, ALICE, "[kb]", body="Restart the VPN gateway.\n")
    other = local.new_ticket("VPN slow")
    mark = local.last_outbox_id()
    local.technician(other, ALICE, f"[known=ticket-{number}]", body="See below.\n")
    (error,) = local.outbox("command_error", ALICE, since=mark)
    assert f"[known=ticket-{number}]: that article is draft, not published" in " ".join(
        body_text(parse(error)).split()
    )
    assert local.outbox(to=REQUESTER, since=mark) == []  # the text written to go with it is held back
    assert local.ticket(other).status != "closed"


# -- the command line ---------------------------------------------------------------------------


def test_kb_add_publish_and_retire(desk):
    path = _write(desk, "vpn-profile.md", PROFILE)
    added = desk.json("kb", "add", path)
    assert (added["slug"], added["status"], added["tags"], added["application"]) == (
        "vpn-profile",
        "draft",
        ["vpn", "profile"],
        "VPN",
    )
    assert "vpn-profile" not in {a["slug"] for a in desk.json("kb", "search", "profile")}
    assert (
        desk.cli("kb", "publish", "vpn-profile").stdout.decode()
        == f"published vpn-profile (#{added['id']}): published\n"
    )
    assert [a["slug"] for a in desk.json("kb", "search", "profile")][:1] == ["vpn-profile"]
    assert desk.json("kb", "retire", str(added["id"]))["status"] == "retired"
    assert "vpn-profile" not in {a["slug"] for a in desk.json("kb", "search", "profile")}
    assert [a["slug"] for a in desk.json("kb", "list", "--status", "retired")] == ["vpn-profile"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ("kb", "add", "{dir}/untitled.md"),
            65,
            "{dir}/untitled.md:1: no title; an article starts with a '# Title' line",
        ),
        (("kb", "add", "{dir}/vpn-profile.md"), 65, "already exists"),
        (("kb", "add", "{dir}/missing.md"), 66, "{dir}/missing.md: no such file"),
        (("kb", "publish", "no-such-article"), 65, "kb publish no-such-article: no such article"),
        (("kb", "retire", "99999999999999999999999"), 65, "no such article"),
    ],
)
def test_kb_bad_input_is_one_line_with_its_exit_code(desk, args, code, message):
    _write(desk, "untitled.md", "Just some text without a heading.\n")
    desk.cli("kb", "add", _write(desk, "vpn-profile.md", PROFILE))
    result = desk.cli(*(arg.format(dir=desk.dir) for arg in args), check=False)
    err = result.stderr.decode()
    assert result.returncode == code
    assert len(err.splitlines()) == 1 and message.format(dir=desk.dir) in err and "Traceback" not in err


def test_rules_check_flags_an_answer_naming_a_draft_or_retired_article(desk):
    desk.cli("kb", "add", _write(desk, "vpn-profile.md", PROFILE))
    desk.cli("kb", "retire", "password-reset")  # an admin's file, taken out of use
    rules = desk.dir / "rules.toml"
    rules.write_text(
        '[[rule]]\nname = "draft"\nif.subject = "profile"\nanswer = "vpn-profile"\n\n'
        '[[rule]]\nname = "reset"\nif.subject = "reset"\nanswer = "password-reset"\n'
    )
    code, out, err = run_cli(desk.config, "rules", "check")
    assert (code, out) == (78, "")
    assert err.splitlines() == [
        f'{rules}:4: rule "draft": answer: article "vpn-profile" is draft, not published: '
        "it would answer nothing",
        f'{rules}:9: rule "reset": answer: article "password-reset" is retired, not published: '
        "it would answer nothing",
    ]


def test_without_review_a_closure_is_published_at_once_redacted_all_the_same(desk):
    desk.config.write_text(
        desk.config.read_text().replace('[kb]\ndir = "kb"', '[kb]\ndir = "kb"\nreview = false')
    )
    local = Local(desk)
    try:
        number = local.new_ticket("VPN down")
        local.technician(
            number, ALICE, "[close]", body="Call me at 06 12 34 56 78; restart the VPN client.\n"
        )
        (article,) = [a for a in local.articles() if a.source_ticket == number]
        assert article.status == "published" and "06 12" not in article.body and "[redacted]" in article.body
        assert local.outbox("kb_draft") == []  # nothing to review
    finally:
        local.close()


def test_a_rule_answer_naming_a_draft_answers_nothing_and_the_request_is_acknowledged(desk):
    desk.cli("kb", "add", _write(desk, "vpn-profile.md", PROFILE))  # a draft
    (desk.dir / "rules.toml").write_text(
        '[[rule]]\nname = "draft"\nif.subject = "profile"\nanswer = "vpn-profile"\n'
    )
    local = Local(desk)
    try:
        number = local.new_ticket("My VPN profile is gone")
        assert local.ticket(number).status == "new"
        assert len(local.outbox("ack", REQUESTER)) == 1 and local.outbox("closed") == []
    finally:
        local.close()


def test_a_reply_to_the_draft_mail_is_a_note_never_an_answer_to_the_requester(local):
    number = local.new_ticket("VPN down")
    local.technician(number, ALICE, "[close]", body="Restart the VPN client.\n")
    (draft_mail,) = local.outbox("kb_draft", ALICE)
    mark = local.last_outbox_id()
    local.technician(
        number,
        ALICE,
        body="Looks right, but let me check the wording first.\n",
        headers={"In-Reply-To": draft_mail.message_id},
    )
    assert local.outbox(to=REQUESTER, since=mark) == []
    assert local.ticket(number).status == "closed"
    assert local.events(number, "comment")[-1].text.startswith("Looks right")


@pytest.mark.postgres
def test_on_postgresql_a_closure_is_a_redacted_draft_proposed_as_an_update_and_published_by_reply(
    tmp_path, sink
):
    with postgres_url() as url:
        desk = Desk(tmp_path / "desk", sink=sink, db_url=url)
        desk.cli("kb", "add", _write(desk, "vpn-profile.md", PROFILE), "--publish")
        local = Local(desk)
        try:
            number = local.new_ticket("VPN down", headers={"Cc": "Bob Durand <bob.durand@client.com>"})
            local.technician(
                number,
                ALICE,
                "[close]",
                body="Bob Durand: delete the VPN profile and import it again from the portal, "
                "then restart the VPN client.\n",
            )
            (draft,) = [a for a in local.articles() if a.source_ticket == number]
            assert draft.status == "draft" and "Durand" not in draft.body and "[redacted]" in draft.body
            local.technician(number, ALICE, "[publish]", body="")
            articles = {a.slug: a for a in local.articles()}
            assert articles["vpn-profile"].body == draft.body and articles[draft.slug].status == "retired"
        finally:
            local.close()
