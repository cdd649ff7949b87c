from __future__ import annotations

import unicodedata

import pytest

from tests.support.env import ROOT
from vntext import fold, normalize, tokens


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ksk có mất tiền k", "khám sức khỏe có mất tiền không"),
        ("KSK CO MAT TIEN KO???", "khám sức khỏe co mat tien không"),
        ("dky kham cho me toi dc ko", "đăng ký kham cho me toi được không"),
        ("đc khôngggg", "được không"),
        ("sk cua bac the nao", "sức khỏe cua bac the nao"),
        ("thanks ad!!", "cảm ơn quản trị viên"),
        # Shorthand with doubled letters is expanded, not collapsed as emphasis.
        ("so cccd cua toi", "so căn cước cua toi"),
        ("số đt 0912.345.678, ngày 05/03/1958", "số đt 0912.345.678 ngày 05/03/1958"),
    ],
)
def test_normalize_expands_shorthand_and_keeps_numbers(typed: str, expected: str) -> None:
    assert normalize(typed) == expected


def test_normalize_composes_unicode() -> None:
    decomposed = unicodedata.normalize("NFD", "Khám sức khỏe")
    assert normalize(decomposed) == "khám sức khỏe"
    assert unicodedata.is_normalized("NFC", normalize(decomposed))


def test_shorthand_only_replaces_whole_words() -> None:
    # "k" inside a word, or "dc" inside "dcm", is left alone.
    assert normalize("kiểm tra") == "kiểm tra"
    assert normalize("okla") == "okla"


def test_fold_and_tokens() -> None:
    assert fold("Đăng  KÝ khám Sức Khỏe") == "dang ky kham suc khoe"
    assert tokens("ksk có mất tiền k?") == ["kham", "suc", "khoe", "co", "mat", "tien", "khong"]
    assert tokens("KSK co mat tien ko") == tokens("khám sức khỏe có mất tiền không")


def test_commune_lookup_table_matches_the_api_communes() -> None:
    import importlib.util

    script = ROOT / "scripts" / "gen_nlu_lookup.py"
    spec = importlib.util.spec_from_file_location("gen_nlu_lookup", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TARGET.read_text(encoding="utf-8") == module.render(), "run scripts/gen_nlu_lookup.py"
