"""The pages' languages: English (the source language of every string) and Hindi, from one gettext
catalogue (``vigil/locale/hi.po``, read with Babel). Templates translate through Jinja's i18n extension
(``_("…")``), the page script through the same catalogue handed to it as JSON (``t("…")``).

A user's language is the one set for them (``vigil users locale``, the header's language menu), else the
browser's (``Accept-Language``), else English. Dates and numbers are formatted for India in either
(``en-IN``, ``hi-IN``).
"""

from __future__ import annotations

import contextvars
from functools import cache
from pathlib import Path

LOCALES = ("en", "hi")
DEFAULT_LOCALE = "en"
LOCALE_NAMES = {"en": "English", "hi": "हिन्दी"}
BROWSER_TAGS = {"en": "en-IN", "hi": "hi-IN"}  # how the page formats dates and numbers (Intl)
CATALOGUES = Path(__file__).with_name("locale")

current_locale: contextvars.ContextVar[str] = contextvars.ContextVar("vigil_locale", default=DEFAULT_LOCALE)


@cache
def catalogue(locale: str) -> dict[str, str]:
    """msgid → translation for ``locale`` (empty for English, the source language). Fuzzy or empty
    entries are left out: the English shows rather than a guess."""
    if locale == DEFAULT_LOCALE or locale not in LOCALES:
        return {}
    from babel.messages.pofile import read_po

    with (CATALOGUES / f"{locale}.po").open("rb") as handle:
        read = read_po(handle, locale=locale)
    return {
        str(message.id): str(message.string)
        for message in read
        if message.id and isinstance(message.id, str) and message.string and not message.fuzzy
    }


def gettext(message: str) -> str:
    """``message`` in the current request's language."""
    return catalogue(current_locale.get()).get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return gettext(singular if n == 1 else plural)


def negotiate(preferred: str | None, accept_language: str | None) -> str:
    """The user's own choice, else the best of the browser's languages that Vigil has, else English."""
    if preferred in LOCALES:
        return str(preferred)
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = tag.strip().lower().split("-")[0]
        if language in LOCALES and quality > 0:
            weighted.append((-quality, index, language))
    return min(weighted)[2] if weighted else DEFAULT_LOCALE
