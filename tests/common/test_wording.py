"""One key per sentence a resident reads: the seeds are well formed, texts are chosen and filled by the
rules every runtime shares, and the code that talks to residents holds no sentence staff cannot edit
(`scripts/resident_texts.py`, which these tests also check can see one)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from api.content.schemas import KEY_PATTERN
from common.wording import DuplicateKey, choose, fill, placeholders, seeds, stray_braces, text_seeds
from tests.support.env import ROOT, load_script

SCRIPT = ROOT / "scripts" / "resident_texts.py"


def test_every_seed_has_a_key_staff_can_edit_and_well_formed_placeholders() -> None:
    texts = seeds()
    assert len(texts) > 150
    for key, text in texts.items():
        assert re.fullmatch(KEY_PATTERN, key), key
        assert text.strip() == text and text, key
        assert not stray_braces(text), (key, text)


def test_a_key_seeded_twice_is_refused(tmp_path: Path) -> None:
    domain = tmp_path / "domain.yml"
    domain.write_text("responses:\n  utter_help:\n  - text: Giúp\n", encoding="utf-8")
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.yml").write_text("texts:\n  seats_left: còn {count} chỗ\n", encoding="utf-8")
    assert text_seeds(folder, domain) == {"seats_left": "còn {count} chỗ"}
    (folder / "b.yml").write_text("texts:\n  seats_left: còn chỗ\n", encoding="utf-8")
    with pytest.raises(DuplicateKey, match="seats_left"):
        text_seeds(folder, domain)
    (folder / "b.yml").write_text("texts:\n  utter_help: Trợ giúp\n", encoding="utf-8")
    with pytest.raises(DuplicateKey, match="utter_help"):
        text_seeds(folder, domain)


def test_texts_are_chosen_in_the_language_then_vietnamese_then_the_seed() -> None:
    published = {"greet": {"vi": "Chào bác", "tyz": "Pây lăng"}, "bye": {"vi": "Tạm biệt"}}
    seed = {"greet": "Xin chào", "bye": "Chào", "thanks": "Cảm ơn"}
    assert choose(published, seed, "greet", "tyz") == "Pây lăng"
    assert choose(published, seed, "bye", "tyz") == "Tạm biệt"
    assert choose(published, seed, "thanks", "hmn") == "Cảm ơn"
    assert choose(published, seed, "greet", None) == "Chào bác"
    assert choose(published, seed, "missing", "vi") is None


def test_placeholders_are_filled_by_name_only() -> None:
    assert placeholders("Mã {code}, {when}") == {"code", "when"}
    assert fill("Mã {code} lúc {when}", {"code": "KE3M", "when": "7:30"}) == "Mã KE3M lúc 7:30"
    # A value the code does not offer stays visible rather than failing the reply.
    assert fill("Mã {code} ({extra})", {"code": "KE3M"}) == "Mã KE3M ({extra})"
    # What str.format would evaluate is plain text here: staff's wording reaches nothing but the values.
    assert fill("{code.__class__} {0} {code!r}", {"code": "KE3M"}) == "{code.__class__} {0} {code!r}"
    assert stray_braces("Mã {code") and stray_braces("{ code }") and stray_braces("{}")
    assert not stray_braces("Mã {code} lúc {when}")


def test_the_code_that_talks_to_residents_holds_no_sentence_staff_cannot_edit() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--list"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 hard-coded" in result.stdout


def test_the_measure_sees_hard_coded_texts(tmp_path: Path) -> None:
    script = load_script(SCRIPT)
    (tmp_path / "actions").mkdir()
    (tmp_path / "gateway" / "templates").mkdir(parents=True)
    (tmp_path / "actions" / "booking.py").write_text(
        '"""Đặt lịch (a docstring)."""\n'
        'import logging\n'
        'log = logging.getLogger(__name__)\n'
        'class Full(Exception):\n'
        '    message = "Buổi khám đã đầy."\n'
        'def reply(dispatcher, n):\n'
        '    log.info("đã gửi")\n'
        '    dispatcher.utter_message(text=f"Còn {n} chỗ")\n'
        '    return "Đặt lịch"\n', encoding="utf-8")
    (tmp_path / "gateway" / "templates" / "chat.html").write_text(
        '<title>{{ text("web_chat_title") }}</title>\n<button>{{ _("Gửi") }}</button>\n<p>Chữ to hơn</p>\n',
        encoding="utf-8")
    found = sorted((file, text) for file, _line, text in script.hard_coded(tmp_path))
    assert found == [("actions/booking.py", " chỗ"), ("actions/booking.py", "Còn "), ("actions/booking.py", "Đặt lịch"),
                     ("gateway/templates/chat.html", "<p>Chữ to hơn</p>"),
                     ("gateway/templates/chat.html", "Gửi")]
