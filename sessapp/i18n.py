"""Messages in the reader's language, and which language the reader reads.

Python code marks what a person reads with ``_("...")``: a Pyramid translation
string that stays English until rendered (``${name}`` placeholders filled from
its ``mapping``). A message with a count is ``ngettext(singular, plural, n)``,
chosen and translated when rendered too. Templates print such a message, or a
literal, with ``{{ _(...) }}``, and counts with ``{% trans count=... %}``, so one
catalogue (``sessapp/locale/<code>/LC_MESSAGES/sessapp.po``) serves views, use
cases and templates. ``str()`` of a refusal is its English text: what the
console, the logs and the JSON API say, whatever the reader's language.

The language is the ``language`` cookie when it names a supported one, else the
best supported match of ``Accept-Language``, else English
(:func:`negotiate_language`, Pyramid's locale negotiator). It runs on every
page, so it reads no database and parses each distinct header once.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pyramid.i18n import TranslationString, TranslationStringFactory
from pyramid.threadlocal import get_current_request
from webob.acceptparse import create_accept_language_header

DOMAIN = "sessapp"
DEFAULT_LANGUAGE = "en"
COOKIE_NAME = "language"
# Each supported code with its name in its own language, as the picker shows it.
# A new language is a line here and a catalogue (README, "Languages").
LANGUAGES: dict[str, str] = {"en": "English", "de": "Deutsch"}
# An Accept-Language header longer than this is judged but not remembered.
_LONGEST_REMEMBERED_HEADER = 200
_LONGEST_READ_HEADER = 1024
# Distinct template texts remembered per language (the templates hold about 150).
_LITERALS_REMEMBERED = 2000

_ = TranslationStringFactory(DOMAIN)


class Plural(str):
    """A message with a count, in the reader's language once rendered.

    As a ``str`` it is the English form for ``n`` with the placeholders left
    in; :meth:`interpolate` fills them (``${n}`` is the count).
    """

    def __new__(cls, singular: str, plural: str, n: int,
                mapping: dict[str, Any] | None = None) -> Plural:
        self = super().__new__(cls, singular if n == 1 else plural)
        self.singular, self.plural, self.n = singular, plural, n
        self.mapping = {"n": n, **(mapping or {})}
        return self

    def interpolate(self) -> str:
        return TranslationString(str(self), mapping=self.mapping).interpolate()

    def translate(self, localizer: Any) -> str:
        return localizer.pluralize(self.singular, self.plural, self.n, domain=DOMAIN,
                                   mapping=self.mapping)


def ngettext(singular: str, plural: str, n: int, mapping: dict[str, Any] | None = None) -> Plural:
    """A counted message, extracted like gettext's ``ngettext`` (``${n}`` is the count)."""
    return Plural(singular, plural, n, mapping)


def english(message: str) -> str:
    """The message as written in the source, its placeholders filled: what the
    console, the logs and JSON errors say."""
    interpolate = getattr(message, "interpolate", None)
    return interpolate() if interpolate is not None else str(message)


def translate(request: Any, message: str, mapping: dict[str, Any] | None = None) -> str:
    """The message in the request's language: for text kept past the request
    (a flash message is stored in the session as plain text)."""
    if isinstance(message, Plural):
        return message.translate(request.localizer)
    return request.localizer.translate(message, domain=DOMAIN, mapping=mapping)


class ReadableError(ValueError):
    """A refusal whose message a person reads. ``message`` keeps the translation
    string for pages (``{{ _(error.message) }}``); ``str()`` is its English text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return english(self.message)


class TemplateGettext:
    """``_()`` and ``{% trans %}`` in templates (pyramid_jinja2's
    ``jinja2.i18n.gettext``): its own wrapper's, and a :class:`Plural` from
    Python is pluralised rather than looked up as one text."""

    def __init__(self, domain: str) -> None:
        self.domain = domain
        # language -> template literal -> its translation. A page prints a
        # dozen literals; translating each anew (a TranslationString made, looked
        # up, interpolated) was a tenth of the home page's CPU (bench.inprocess).
        self._literals: dict[str, dict[str, str]] = {}

    def gettext(self, message: str, mapping: dict[str, Any] | None = None) -> str:
        localizer = get_current_request().localizer
        if mapping is None and type(message) is str:
            known = self._literals.setdefault(localizer.locale_name, {})
            text = known.get(message)
            if text is None:
                text = localizer.translate(message, domain=self.domain)
                # Literals are few; anything else passed as plain text is not kept.
                if len(known) < _LITERALS_REMEMBERED:
                    known[message] = text
            return text
        if isinstance(message, Plural):
            return message.translate(localizer)
        return localizer.translate(message, domain=self.domain, mapping=mapping)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_current_request().localizer.pluralize(singular, plural, n,
                                                         domain=self.domain)


@lru_cache(maxsize=256)
def _best_match(header: str) -> str:
    return create_accept_language_header(header).lookup(
        language_tags=list(LANGUAGES), default=DEFAULT_LANGUAGE)


def language_from_header(header: str | None) -> str:
    """The supported language an ``Accept-Language`` header prefers most (its
    q-values weighed, ``de-AT`` matching ``de``, ``q=0`` ruling one out), or
    English. WebOb's RFC 4647 look-up, remembered per distinct header; of a
    header past 1 KB only the ranges that fit in the first kilobyte are read."""
    if not header:
        return DEFAULT_LANGUAGE
    if len(header) > _LONGEST_REMEMBERED_HEADER:
        # Browsers send a few dozen characters; parsing 8 KB of ranges took
        # 15 ms. Only the ranges that start within the first kilobyte count.
        return _best_match.__wrapped__(header[:_LONGEST_READ_HEADER].rpartition(",")[0]
                                       if len(header) > _LONGEST_READ_HEADER else header)
    return _best_match(header)


def negotiate_language(request: Any) -> str:
    """Pyramid's locale negotiator: the ``language`` cookie, else
    ``Accept-Language``, else English."""
    chosen = request.cookies.get(COOKIE_NAME)
    if chosen in LANGUAGES:
        return chosen
    return language_from_header(request.headers.get("Accept-Language"))


def includeme(config: Any) -> None:
    config.add_translation_dirs("sessapp:locale")
    config.set_locale_negotiator(negotiate_language)
