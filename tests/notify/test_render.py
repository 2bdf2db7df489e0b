"""The shipped templates load and render; broken ones are reported at load with file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from maildesk.notify.render import NAMES, RenderedMail, Renderer, TemplateError, clean_subject, sample_context

SHIPPED = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(SHIPPED, ("en", "fr"), default_language="en")


@pytest.fixture
def broken_dir(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(SHIPPED, target)
    return target


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sparse", [False, True])
def test_every_shipped_template_renders(renderer, language, name, sparse):
    mail = renderer.render(name, language, sample_context(name, sparse=sparse))
    assert isinstance(mail, RenderedMail)
    assert mail.subject and "\n" not in mail.subject
    assert mail.text.strip() and mail.text.endswith("\n")
    if name == "report":
        assert mail.subject.startswith("[Support]")
    elif name == "self_service":  # about no ticket: a reply to the question
        assert mail.subject.startswith("Re: ") and "Resetting your VPN password" in mail.text
    elif not (sparse and name == "command_error"):
        assert mail.subject.startswith("[Support #42] ")


@pytest.mark.parametrize("language", ["en", "fr"])
def test_requester_mails_have_html_alternatives(renderer, language):
    for name in ("ack", "closed", "reply", "report"):
        assert renderer.has_html(name, language), name


def test_ack_speaks_the_ticket_language(renderer):
    english = renderer.render("ack", "en", sample_context("ack"))
    french = renderer.render("ack", "fr", sample_context("ack"))
    assert english.subject == "[Support #42] Request received: VPN down since this morning"
    assert french.subject == "[Support #42] Demande reçue : VPN down since this morning"
    for mail in (english, french):
        assert "#42" in mail.text and "[Support #42]" in mail.text
        assert "Resetting your VPN password" in mail.text  # the suggested article
    assert "Thank you" in english.text and "Merci" in french.text


def test_ack_without_suggestions_lists_none(renderer):
    context = sample_context("ack")
    context["articles"] = []
    assert "knowledge base" not in renderer.render("ack", "en", context).text


def test_unknown_language_falls_back_to_the_desk_default():
    french_desk = Renderer(SHIPPED, default_language="fr")
    assert "Demande reçue" in french_desk.render("ack", "de", sample_context("ack")).subject
    assert "Demande reçue" in french_desk.render("ack", None, sample_context("ack")).subject


def test_missing_context_keys_are_filled(renderer):
    context = {
        "desk": {"name": "Desk", "address": "d@example.org", "tag": "Desk"},
        "ticket": {"number": 7, "subject": "Printer", "status": "new"},
    }
    mail = renderer.render("ack", "en", context)
    assert mail.subject == "[Desk #7] Request received: Printer"


def test_requester_html_is_escaped(renderer):
    context = sample_context("reply")
    context["message"]["text"] = "Try <script>alert('x')</script> & <b>this</b>"
    context["ticket"]["subject"] = "<img src=x onerror=alert(1)>"
    mail = renderer.render("reply", "en", context)
    assert "<script>" not in mail.html and "<img" not in mail.html and "<b>this" not in mail.html
    assert "&lt;script&gt;" in mail.html and "&amp;" in mail.html
    assert "<script>alert('x')</script>" in mail.text  # plain text is not HTML: left as written


def test_subject_is_one_short_line(renderer):
    context = sample_context("reply")
    context["ticket"]["subject"] = "VPN\r\ndown\tagain\nBcc: evil@example.com " + "x" * 400
    subject = renderer.render("reply", "en", context).subject
    assert "\n" not in subject and "\r" not in subject and "\t" not in subject
    assert subject.startswith("[Support #42] VPN down again Bcc: evil@example.com")
    assert len(subject) <= 200


def test_clean_subject():
    assert clean_subject("  a\r\n\t b\x00c\u2028d  ") == "a b c d"


def _problems(directory: Path, **kwargs) -> list[str]:
    with pytest.raises(TemplateError) as failure:
        Renderer(directory, **kwargs)
    assert str(failure.value) == "\n".join(failure.value.problems)
    return failure.value.problems


def test_syntax_error_is_reported_with_file_and_line(broken_dir):
    path = broken_dir / "en" / "ack.txt.j2"
    lines = path.read_text().splitlines()
    lines[2] = "Thank you {% if %} oops"
    path.write_text("\n".join(lines) + "\n")
    problems = _problems(broken_dir)
    assert any(p.startswith(f"{path}:3: ") for p in problems), problems


def test_missing_template_is_reported(broken_dir):
    missing = broken_dir / "fr" / "closed.subject.j2"
    missing.unlink()
    (broken_dir / "fr" / "closed.html.j2").unlink()  # html is optional: not a problem
    problems = _problems(broken_dir)
    assert problems == [f"{missing}:1: missing: every language needs closed.subject.j2 and closed.txt.j2"]


def test_undefined_variable_is_reported_at_load(broken_dir):
    path = broken_dir / "en" / "reply.txt.j2"
    path.write_text("{{ message.text }}\nRegards, {{ techncian.name }}\n")
    problems = _problems(broken_dir)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:2: ") and "techncian" in problems[0]


def test_unguarded_optional_value_is_reported_at_load(broken_dir):
    path = broken_dir / "fr" / "closed.txt.j2"
    path.write_text("Bonjour,\n\n{{ article.title }}\n")
    problems = _problems(broken_dir)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:3: with empty optional values:"), problems


def test_error_in_a_partial_names_the_partial(broken_dir):
    layout = broken_dir / "en" / "_layout.html.j2"
    layout.write_text(layout.read_text().replace("<title>", "<title>{{ desk.nmae }}", 1))
    problems = _problems(broken_dir)
    assert problems and all(p.startswith(f"{layout}:6: ") for p in problems), problems


def test_every_problem_is_listed_at_once(broken_dir):
    (broken_dir / "en" / "escalated.txt.j2").write_text("{% for %}\n")
    (broken_dir / "fr" / "ack.subject.j2").unlink()
    problems = _problems(broken_dir)
    assert len(problems) == 2


def test_missing_language_directory(broken_dir):
    shutil.rmtree(broken_dir / "fr")
    problems = _problems(broken_dir)
    assert problems == [f"{broken_dir / 'fr'}:1: templates directory for language 'fr' not found"]
    Renderer(broken_dir, languages=("en",))  # English alone is fine


def test_unescaped_html_output_is_reported_at_load(broken_dir):
    path = broken_dir / "en" / "ack.html.j2"
    path.write_text(path.read_text().replace("{{ message.from_name }}", "{{ message.from_name | safe }}"))
    problems = _problems(broken_dir)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:1: text from a mail is printed unescaped"), problems


def test_text_macro_printed_in_html_is_reported_at_load(broken_dir):
    path = broken_dir / "fr" / "closed.html.j2"
    source = path.read_text().replace(
        "{% block content %}",
        '{% import "fr/_common.j2" as c %}{% block content %}{{ c.subject(ticket) }}',
        1,
    )
    path.write_text(source)
    assert len(_problems(broken_dir)) == 1


def test_syntax_error_in_a_shared_partial_is_reported_once(broken_dir):
    common = broken_dir / "en" / "_common.j2"
    common.write_text(common.read_text() + "{% endif %}\n")
    problems = _problems(broken_dir)
    assert len(problems) == 1 and problems[0].startswith(f"{common}:"), problems
