"""Reasons as codes with parameters: each template language says them; the English text stays the default."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from maildesk.notify.render import Renderer, TemplateError, sample_context, sample_reasons
from maildesk.types import REASON_TEXTS, Reason, reason_parameters

SHIPPED = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(SHIPPED, ("en", "fr"), default_language="en")


def _refusal_lines(renderer: Renderer, language: str, refusals: list) -> list[str]:
    context = {**sample_context("command_error"), "refusals": refusals, "errors": []}
    text = renderer.render("command_error", language, context).text
    return [line[4:] for line in text.splitlines() if line.startswith("  * ")]


def test_every_code_has_an_english_sentence_with_its_parameters():
    for code in REASON_TEXTS:
        reason = Reason.of(code, **{name: f"<{name}>" for name in reason_parameters(code)})
        assert "{" not in reason.text and all(f"<{name}>" in reason.text for name in reason_parameters(code))


def test_the_english_templates_say_exactly_the_english_text(renderer):
    reasons = sample_reasons()
    assert _refusal_lines(renderer, "en", reasons) == [r["text"] for r in reasons]


def test_the_french_templates_say_every_known_code_in_french(renderer):
    reasons = sample_reasons()
    french = _refusal_lines(renderer, "fr", reasons)
    assert len(french) == len(reasons)
    for reason, line in zip(reasons, french, strict=True):
        if reason["code"] in REASON_TEXTS:
            assert line != reason["text"], reason["code"]
            assert reason["text"] not in line
    held = next(line for r, line in zip(reasons, french, strict=True) if r["params"].get("held_back"))
    assert held.endswith("; votre texte n'a pas été envoyé au demandeur")


@pytest.mark.parametrize("language", ["en", "fr"])
def test_an_unknown_code_renders_its_text_or_its_code(renderer, language):
    lines = _refusal_lines(
        renderer,
        language,
        [
            {"code": "brand_new", "params": {"x": 1}, "text": "something new happened"},
            {"code": "brand_new_too"},  # no text, no params: the code
            "a plain sentence",  # an older caller's string
        ],
    )
    assert lines == ["something new happened", "brand_new_too", "a plain sentence"]


@pytest.mark.parametrize("language", ["en", "fr"])
def test_english_errors_alone_still_render(renderer, language):
    context = {**sample_context("command_error"), "refusals": [], "errors": ["[x=y]: unknown command"]}
    assert "  * [x=y]: unknown command" in renderer.render("command_error", language, context).text
    context = {**sample_context("escalated"), "reasons": [], "reason": "some English reason"}
    assert "some English reason" in renderer.render("escalated", language, context).text


def test_escalation_reasons_are_joined_in_the_language_of_the_mail(renderer):
    reasons = [
        Reason.of("no_reply_at_level", level=1, after="4h").as_context(),
        Reason.of("first_response_passed", urgency="critical").as_context(),
    ]
    context = {
        **sample_context("notify_level"),
        "reasons": reasons,
        "reason": "ignored when reasons are there",
    }
    text = renderer.render("notify_level", "fr", context).text
    assert (
        "Motif : aucune réponse d'un technicien au niveau 1 en 4h ; délai de première réponse dépassé "
        "pour l'urgence critique"
    ) in text
    text = renderer.render("notify_level", "en", context).text
    assert (
        "Reason: no technician reply at level 1 within 4h; first-response target for critical urgency passed"
        in text
    )


def test_a_language_that_breaks_on_one_code_is_reported_at_load(tmp_path):
    target = tmp_path / "templates"
    shutil.copytree(SHIPPED, target)
    common = target / "fr" / "_common.j2"
    text = common.read_text()
    needle = "{{ p.requester }} a répondu"
    assert needle in text
    common.write_text(text.replace(needle, "{{ p.who }} a répondu"))  # a parameter the desk never passes
    with pytest.raises(TemplateError) as caught:
        Renderer(target, ("en", "fr"))
    assert any("fr/_common.j2" in problem and "who" in problem for problem in caught.value.problems)


def test_reason_text_of_an_unknown_code_or_missing_parameter_does_not_raise():
    assert Reason.of("brand_new", a=1).text == "brand_new (a=1)"
    assert Reason.of("last_level").text == "last_level"
    assert (
        Reason.of("nothing_to_file", held_back=True).text
        == "[kb]: the mail has no text to file; your text was not sent to the requester"
    )
