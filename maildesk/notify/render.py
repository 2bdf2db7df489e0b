"""Load, check and render the Jinja2 mail templates (SPEC section 9)."""

from __future__ import annotations

import itertools
import re
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from maildesk.config import ConfigError
from maildesk.notify.samples import sample_context
from maildesk.notify.samples import sample_reasons as sample_reasons  # callers check templates with it

#: Every mail the desk sends; each needs NAME.subject.j2 and NAME.txt.j2 per language.
NAMES = (
    "ack",
    "closed",
    "reply",
    "notify_level",
    "escalated",
    "command_error",
    "forward",
    "report",
    "storm",
    "kb_draft",
    "self_service",
)
PARTS = ("subject", "txt", "html")
REQUIRED_PARTS = ("subject", "txt")
SUBJECT_MAX = 200

#: The top-level keys every template receives, with the value used when the caller leaves one out.
CONTEXT_DEFAULTS: dict[str, Any] = {
    "desk": None,
    "ticket": None,
    "message": None,
    "articles": [],
    "article": None,
    "level": None,
    "errors": [],  # why commands were refused, in English
    "refusals": [],  # the same as reasons (below), for the template's language
    "reason": None,  # why the ticket moved or the level is told, in English
    "reasons": [],  # the same, each {"code", "params", "text"}: the ``reason`` macro of _common.j2 says it
    "report": None,
    "updates": None,  # kb_draft: the published article the draft proposes to update ({"slug", "title"})
}

# Keys of the nested dictionaries; missing ones are filled with None so that a
# template may always test them (``{% if ticket.assignee %}``).
DESK_KEYS = ("name", "address", "tag")
TICKET_KEYS = (
    "number",
    "subject",
    "status",
    "level",
    "level_name",
    "team",
    "organisation",
    "urgency",
    "category",
    "kind",
    "application",
    "requester",
    "assignee",
    "created_at",
    "closed_at",
    "time_spent",
    "url",
)
MESSAGE_KEYS = ("from_addr", "from_name", "text", "subject")
ARTICLE_KEYS = ("slug", "title", "excerpt", "body")  # body: only the self-service answer sends it
ANSWER_KEYS = ("slug", "title", "body")
UPDATES_KEYS = ("slug", "title")
LEVEL_KEYS = ("id", "name", "address", "team")  # team: None for a level without [[levels.teams]]
REASON_KEYS = ("code", "params", "text")

_SUBJECT_SPACE = re.compile(r"[\s\x00-\x1f\x7f\x85\u2028\u2029]+")


class TemplateError(ConfigError):
    """The templates cannot be used; ``problems`` lists each as ``FILE:LINE: message``."""


@dataclass(frozen=True)
class RenderedMail:
    """One mail's texts, ready for :func:`maildesk.notify.compose.compose`."""

    subject: str
    text: str
    html: str | None


# -- filters ---------------------------------------------------------------------------


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _format_datetime(value: Any) -> str:
    """A datetime (or ISO 8601 string) as "2026-11-22 09:00 UTC"; None gives ""."""
    if value is None:
        return ""
    moment = _as_datetime(value)
    if moment is None:
        return str(value)
    text = moment.strftime("%Y-%m-%d %H:%M")
    zone = moment.tzname()
    return f"{text} {zone}" if zone else text


def _format_date(value: Any) -> str:
    """Like ``datetime``, but only "2026-11-22" when the moment is at midnight (report periods)."""
    moment = _as_datetime(value) if value is not None else None
    if moment is not None and (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
        return moment.strftime("%Y-%m-%d")
    return _format_datetime(value)


def _format_seconds(value: Any) -> str:
    """Seconds as "45s", "20m", "1h20m", "2d3h"; None gives "-"."""
    if value is None:
        return "-"
    seconds = int(round(float(value)))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def _format_percent(value: Any) -> str:
    """A ratio 0..1 as "92%"; None gives "-"."""
    if value is None:
        return "-"
    return f"{float(value) * 100:.0f}%"


def _quote(text: Any, prefix: str = "> ") -> str:
    """Prefix every line with "> ", the way mail clients quote."""
    if text is None:
        return ""
    return "\n".join(f"{prefix}{line}".rstrip() for line in str(text).splitlines())


FILTERS = {
    "datetime": _format_datetime,
    "date": _format_date,
    "seconds": _format_seconds,
    "percent": _format_percent,
    "quote": _quote,
}


# -- context ---------------------------------------------------------------------------


def _complete(value: Any, keys: Iterable[str]) -> Any:
    if isinstance(value, Mapping):
        return {**{key: None for key in keys}, **value}
    return value


def complete_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The context with every contract key present (missing ones as None or [])."""
    full = {
        key: (list(default) if isinstance(default, list) else default)
        for key, default in CONTEXT_DEFAULTS.items()
    }
    full.update(context)
    full["desk"] = _complete(full["desk"], DESK_KEYS)
    full["ticket"] = _complete(full["ticket"], TICKET_KEYS)
    full["message"] = _complete(full["message"], MESSAGE_KEYS)
    full["article"] = _complete(full["article"], ANSWER_KEYS)
    full["level"] = _complete(full["level"], LEVEL_KEYS)
    full["updates"] = _complete(full["updates"], UPDATES_KEYS)
    full["articles"] = [_complete(item, ARTICLE_KEYS) for item in full["articles"] or []]
    full["errors"] = list(full["errors"] or [])
    full["reasons"] = [_complete_reason(item) for item in full["reasons"] or []]
    full["refusals"] = [_complete_reason(item) for item in full["refusals"] or []]
    return full


def _complete_reason(value: Any) -> Any:
    """A reason with code, params (a dictionary) and text; a plain string stays as it is."""
    if not isinstance(value, Mapping):
        return value
    full = {**{key: None for key in REASON_KEYS}, **value}
    full["params"] = dict(full["params"] or {})
    if full["text"] is None:
        full["text"] = full["code"] or ""
    return full


_PROBE = "<maildesk-probe>"


def _with_probe(value: Any) -> Any:
    """Every string in a sample context with markup appended, to catch HTML output that is not escaped."""
    if isinstance(value, str):
        return value + _PROBE
    if isinstance(value, dict):
        return {key: _with_probe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_probe(item) for item in value]
    return value


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


# -- the renderer ----------------------------------------------------------------------


def _template_line(exc: BaseException, fallback: str) -> tuple[str, int]:
    """The template file and line a rendering error was raised at (Jinja rewrites tracebacks)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".j2"):
            return frame.filename, frame.lineno or 1
    return fallback, 1


_GENERATIONS = itertools.count(1)


class Renderer:
    """Every template of every language, compiled and test-rendered at construction.

    Build a new one to reload (SIGHUP): when it raises :class:`TemplateError`
    the caller keeps the old one.
    """

    def __init__(
        self, templates_dir: Path | str, languages: Iterable[str] = ("en", "fr"), default_language: str = "en"
    ) -> None:
        self.templates_dir = Path(templates_dir)
        self.generation = next(_GENERATIONS)  # tells worker processes which templates to load
        self.languages = tuple(languages)
        self.default_language = default_language
        self._templates: dict[tuple[str, str, str], jinja2.Template] = {}
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.templates_dir)),
            undefined=jinja2.StrictUndefined,
            autoescape=lambda name: name is not None and name.endswith(".html.j2"),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
            # Compiled templates are cached on disk (a private per-user temp directory, keyed by the
            # source's checksum): every CLI run builds a Renderer, and compiling them all costs most of a second.
            bytecode_cache=jinja2.FileSystemBytecodeCache(),
        )
        self.env.filters.update(FILTERS)
        problems: list[str] = []
        if not self.templates_dir.is_dir():
            raise TemplateError([f"{self.templates_dir}:1: templates directory not found"])
        if default_language not in self.languages:
            problems.append(
                f"{self.templates_dir}:1: default language {default_language!r} "
                f"has no templates (have: {', '.join(self.languages)})"
            )
        for language in self.languages:
            problems.extend(self._load_language(language))
        if problems:
            raise TemplateError(list(dict.fromkeys(problems)))

    def _file(self, name: str) -> str:
        return str(self.templates_dir / name)

    def _compile(self, template_name: str) -> tuple[jinja2.Template | None, list[str]]:
        try:
            return self.env.get_template(template_name), []
        except jinja2.TemplateSyntaxError as exc:
            where = exc.filename or self._file(template_name)
            return None, [f"{where}:{exc.lineno or 1}: {exc.message}"]
        except jinja2.TemplateNotFound as exc:
            # Raised for a missing {% include %} / {% extends %} target.
            return None, [f"{self._file(template_name)}:1: template {exc.name!r} not found"]
        except (OSError, UnicodeDecodeError) as exc:
            return None, [f"{self._file(template_name)}:1: cannot read: {exc}"]

    def _load_language(self, language: str) -> list[str]:
        problems: list[str] = []
        folder = self.templates_dir / language
        if not folder.is_dir():
            return [f"{folder}:1: templates directory for language {language!r} not found"]
        # Partials and templates of no known name are compiled too, for their syntax.
        for path in sorted(folder.glob("*.j2")):
            problems.extend(self._compile(f"{language}/{path.name}")[1])
        for name in NAMES:
            for part in PARTS:
                template_name = f"{language}/{name}.{part}.j2"
                if not (self.templates_dir / template_name).is_file():
                    if part in REQUIRED_PARTS:
                        problems.append(
                            f"{self._file(template_name)}:1: missing: every language needs "
                            f"{name}.subject.j2 and {name}.txt.j2"
                        )
                    continue
                template, found = self._compile(template_name)
                problems.extend(found)
                if template is None:
                    continue
                self._templates[(language, name, part)] = template
                problems.extend(self._try(template, name, part, template_name))
        return problems

    def _try(self, template: jinja2.Template, name: str, part: str, template_name: str) -> list[str]:
        """Render with sample contexts: full, with every optional value empty, and (HTML) hostile text."""
        for sparse in (False, True):
            try:
                template.render(complete_context(sample_context(name, sparse=sparse)))
            except jinja2.TemplateSyntaxError as exc:  # in an imported or extended partial
                return [f"{exc.filename or self._file(template_name)}:{exc.lineno or 1}: {exc.message}"]
            except Exception as exc:  # noqa: BLE001 - any error here would otherwise surface when a mail is due
                where, line = _template_line(exc, self._file(template_name))
                what = "with empty optional values: " if sparse else ""
                return [f"{where}:{line}: {what}{type(exc).__name__}: {exc}"]
        if part == "html":
            try:
                output = template.render(complete_context(_with_probe(sample_context(name))))
            except Exception:  # noqa: BLE001 - the plain render above reported it; only escaping is checked here
                return []
            if _PROBE in output:
                line = _line_of(output, _PROBE)
                return [
                    f"{self._file(template_name)}:1: text from a mail is printed unescaped (output line {line}): "
                    "use plain {{ value }}, not |safe or a macro from a non-HTML template"
                ]
        return []

    def has_html(self, name: str, language: str) -> bool:
        return (self._language(language), name, "html") in self._templates

    def _language(self, language: str | None) -> str:
        return language if language in self.languages else self.default_language

    def render(self, name: str, language: str | None, context: Mapping[str, Any]) -> RenderedMail:
        """Render mail ``name`` in ``language`` (the default language when unknown)."""
        if name not in NAMES:
            raise ValueError(f"unknown template {name!r} (expected one of: {', '.join(NAMES)})")
        language = self._language(language)
        full = complete_context(context)
        texts: dict[str, str | None] = {}
        for part in PARTS:
            template = self._templates.get((language, name, part))
            if template is None:
                texts[part] = None
                continue
            try:
                texts[part] = template.render(full)
            except (
                Exception
            ) as exc:  # a template can raise anything: it becomes a TemplateError naming its line
                where, line = _template_line(exc, self._file(f"{language}/{name}.{part}.j2"))
                raise TemplateError([f"{where}:{line}: {type(exc).__name__}: {exc}"]) from exc
        return RenderedMail(
            subject=clean_subject(texts["subject"] or ""),
            text=_clean_text(texts["txt"] or ""),
            html=texts["html"],
        )


def clean_subject(subject: str) -> str:
    """One line: CR, LF, tabs and other control characters collapsed to a space; at most 200 characters."""
    subject = _SUBJECT_SPACE.sub(" ", subject).strip()
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1].rstrip() + "…"
    return subject


def _clean_text(text: str) -> str:
    """Unix line ends, no trailing blanks, runs of blank lines squeezed, one final newline."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return body + "\n"
