"""Updates the gettext catalogs from locales/messages.pot (after `pybabel extract`, see `make locales`).

Vietnamese is the source language: its catalog is complete by construction (each string is its own
translation, so translators of other languages read one reference file). The Tày, Nùng, H'Mông and
Dao catalogs are started — every string is listed, untranslated ones fall back to Vietnamese —
and are filled in by native speakers, never machine-made. Babel's locale data does not know these
languages, so their catalogs are handled without a CLDR locale.
"""

from __future__ import annotations

import sys
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from common.vocabulary import DEFAULT_LANGUAGE, LANGUAGE_LABELS, LANGUAGES  # noqa: E402

ROOT = PROJECT / "locales"


def update(language: str, template: Catalog) -> tuple[int, int]:
    path = ROOT / language / "LC_MESSAGES" / "messages.po"
    if path.exists():
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=DEFAULT_LANGUAGE if language == DEFAULT_LANGUAGE else None)
    else:
        catalog = Catalog(locale=DEFAULT_LANGUAGE if language == DEFAULT_LANGUAGE else None, project="khamsuckhoe",
                          language_team=f"{LANGUAGE_LABELS[language]} <noi-dung@khamsuckhoe>")
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    if language == DEFAULT_LANGUAGE:
        for message in catalog:
            if message.id and not message.string:
                message.string = message.id
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=120, sort_output=True, omit_header=False)
    write_mo(BytesIO(), catalog)  # compiles, or raises on a broken catalog
    translated = sum(1 for m in catalog if m.id and m.string)
    return translated, sum(1 for m in catalog if m.id)


def main() -> int:
    for language in LANGUAGES:
        # Read afresh for each language: Catalog.update shares the template's message objects.
        with (ROOT / "messages.pot").open("rb") as handle:
            template = read_po(handle)
        done, total = update(language, template)
        print(f"{language}: {done}/{total} chuỗi đã dịch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
