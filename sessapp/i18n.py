"""Messages in the reader's language.

Python code marks what a person reads with ``_("...")``: a Pyramid translation
string that stays English until rendered. Templates print such a message, or a
literal, with ``{{ _(...) }}`` (pyramid_jinja2's gettext, backed by the
request's localizer), so one catalogue serves views, use cases and templates.
"""

from __future__ import annotations

from pyramid.i18n import TranslationStringFactory

DOMAIN = "sessapp"

_ = TranslationStringFactory(DOMAIN)
