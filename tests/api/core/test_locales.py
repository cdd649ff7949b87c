"""Interface catalogs: up to date with the code, Vietnamese complete, minority languages started and
falling back to Vietnamese; dates and numbers in Vietnamese formats for languages CLDR lacks."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from api.core.i18n import LANGUAGES, LOCALES_DIR, format_count, format_day, gettext_for
from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.support.env import ROOT


def catalog(language: str):  # noqa: ANN201 - babel's Catalog
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale="vi" if language == "vi" else None)


def test_catalogs_hold_every_string_the_code_uses(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "N_",
                    "--no-location", "-o", str(fresh), "."], cwd=ROOT, check=True, capture_output=True)
    with fresh.open("rb") as handle:
        used = {m.id for m in read_po(handle) if m.id}
    assert len(used) > 100
    for language in LANGUAGES:
        listed = {m.id for m in catalog(language) if m.id}
        assert used <= listed, f"{language}: run `make locales` for {sorted(used - listed)[:5]}"


def test_vietnamese_is_complete_and_other_languages_fall_back_to_it() -> None:
    vietnamese = catalog("vi")
    assert all(m.string for m in vietnamese if m.id)
    for language in ("tyz", "nut", "hmn", "ium"):
        assert len([m for m in catalog(language) if m.id]) == len([m for m in vietnamese if m.id])
        assert gettext_for(language)("Nghe lời nhắn") == "Nghe lời nhắn"  # not yet translated: Vietnamese
    assert gettext_for("hmn")("H'Mông") == "Hmoob"
    assert gettext_for("ium")("Dao") == "Iu Mien"
    assert gettext_for("fr")("Gửi") == "Gửi"


def test_dates_and_numbers_use_vietnamese_formats_where_cldr_has_no_data() -> None:
    day = date(2026, 12, 7)
    assert format_day(day) == "Thứ Hai, 7 tháng 12, 2026"
    for language in ("tyz", "nut", "hmn", "ium", "xx"):
        assert format_day(day, language) == format_day(day, "vi")
        assert format_count(12500.5, language) == "12.500,5"


def test_web_chat_and_widget_are_rendered_in_the_chosen_language(tmp_path: Path) -> None:
    settings = GatewaySettings(gateway_database_url=f"sqlite:///{tmp_path / 'g.db'}")
    with TestClient(create_app(settings)) as gateway:
        page = gateway.get("/chat", params={"lang": "hmn"})
        assert page.status_code == 200 and '<html lang="hmn">' in page.text
        assert "Gõ tin nhắn, có dấu hoặc không dấu…" in page.text  # untranslated strings stay Vietnamese
        assert '<html lang="vi">' in gateway.get("/chat", params={"lang": "<script>"}).text
        widget = gateway.get("/chat/widget.js", params={"lang": "tyz"})
        assert widget.headers["content-type"].startswith("text/javascript")
        assert json.dumps("Hỏi về khám sức khỏe") in widget.text and '/chat?lang=" + "tyz"' in widget.text
