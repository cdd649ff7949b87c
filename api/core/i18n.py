"""Interface strings of the staff pages, the web chat and the gateway, from gettext catalogs.

Catalogs live in `locales/<lang>/LC_MESSAGES/messages.po`, extracted and updated with Babel
(`make locales`) and compiled by Babel when loaded. Vietnamese is the source language and the
fallback: a string a minority-language catalog has not translated yet shows in Vietnamese. Dates
and numbers are formatted by Babel; languages CLDR does not know (Tày, Nùng, H'Mông, Dao) use
Vietnamese formats, which is what their speakers read on every official paper.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from api.core.config import PROJECT_ROOT
from common.vocabulary import DEFAULT_LANGUAGE, LANGUAGES

LOCALES_DIR = PROJECT_ROOT / "locales"
DOMAIN = "messages"


def N_(text: str) -> str:  # noqa: N802 - the gettext convention Babel extracts
    """Marks a string for the catalogs where it is defined; it is translated where it is used."""
    return text


def _compiled(language: str) -> gettext.GNUTranslations | None:
    po = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.is_file():
        return None
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language if language == DEFAULT_LANGUAGE else None)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@lru_cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalog of a language, falling back to Vietnamese, then to the source text."""
    chain: gettext.NullTranslations = gettext.NullTranslations()
    for name in dict.fromkeys((DEFAULT_LANGUAGE, language if language in LANGUAGES else DEFAULT_LANGUAGE)):
        compiled = _compiled(name)
        if compiled is not None:
            compiled.add_fallback(chain)
            chain = compiled
    return chain


def gettext_for(language: str | None) -> Callable[[str], str]:
    return translations(language or DEFAULT_LANGUAGE).gettext


@lru_cache
def babel_locale(language: str | None) -> Locale:
    try:
        return Locale.parse(language or DEFAULT_LANGUAGE)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LANGUAGE)


def format_day(day: date, language: str | None = None, style: str = "full") -> str:
    return format_date(day, format=style, locale=babel_locale(language))


def format_moment(moment: datetime, language: str | None = None) -> str:
    return format_datetime(moment, format="short", locale=babel_locale(language))


def format_count(number: float, language: str | None = None) -> str:
    return format_decimal(number, locale=babel_locale(language))
