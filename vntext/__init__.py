"""Vietnamese chat text, made comparable.

Residents type without diacritics, in chat shorthand ("ksk co mat tien k"), with stray
punctuation and Unicode in either composed or decomposed form. `normalize` gives the
canonical lower-case NFC text with shorthand expanded; `fold` removes diacritics for matching.

Pure standard library and Python 3.10-compatible: the API (main environment) and the Rasa NLU
component (Rasa environment) import the same code, so the bot and the FAQ search agree.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["SHORTHAND", "collapse_spaces", "fold", "nfc", "normalize", "tokens", "unaccent"]

# Chat shorthand -> full words, keyed by the lower-case token as typed (with or without marks).
SHORTHAND: dict[str, str] = {
    "k": "không", "ko": "không", "kh": "không", "hok": "không", "hong": "không", "khg": "không",
    "kg": "không", "hem": "không",
    "dc": "được", "đc": "được", "dk": "đăng ký", "đk": "đăng ký",
    "sk": "sức khỏe", "ksk": "khám sức khỏe", "kskdk": "khám sức khỏe định kỳ",
    "dky": "đăng ký", "đky": "đăng ký", "dki": "đăng ký", "đki": "đăng ký", "dang ki": "đăng ký",
    "bhyt": "bảo hiểm y tế", "tyt": "trạm y tế", "xn": "xét nghiệm", "cmnd": "căn cước",
    "cccd": "căn cước", "sdt": "số điện thoại", "sđt": "số điện thoại",
    "j": "gì", "gi": "gì", "ntn": "như thế nào", "bn": "bao nhiêu", "bnhieu": "bao nhiêu",
    "mn": "mọi người", "ng": "người", "vs": "với", "r": "rồi", "z": "vậy", "v": "vậy",
    "ak": "à", "ah": "à", "uh": "ừ", "uk": "ừ", "ok": "đồng ý", "oke": "đồng ý", "okie": "đồng ý",
    "tks": "cảm ơn", "thanks": "cảm ơn", "thank": "cảm ơn", "cam on": "cảm ơn", "camon": "cảm ơn",
    "mk": "mình", "m": "mình", "t": "tôi", "e": "em", "bt": "biết", "bik": "biết", "bít": "biết",
    "ad": "quản trị viên", "nhiu": "nhiêu", "thui": "thôi", "hok biet": "không biết",
}
# Two-word shorthand is matched before single tokens.
_PHRASES = {key: value for key, value in SHORTHAND.items() if " " in key}
_WORDS = {key: value for key, value in SHORTHAND.items() if " " not in key}

_PUNCT = re.compile(r"[^\w\s/:.,@+-]", re.UNICODE)
_SPACES = re.compile(r"\s+")
_TOKEN = re.compile(r"\w+", re.UNICODE)
# A dot or comma inside a number ("1.958", "0912.345.678") is kept; elsewhere it separates.
_SEPARATORS = re.compile(r"(?<!\d)[.,]|[.,](?!\d)")
# Repeated letters of emphasis: "khongggg" -> "khong", "đượcccc" -> "được".
_REPEATS = re.compile(r"(\w)\1{2,}", re.UNICODE)


def nfc(text: str) -> str:
    """The composed Unicode form: what a phone keyboard sends either way is stored and compared alike."""
    return unicodedata.normalize("NFC", text)


def collapse_spaces(text: str) -> str:
    """Runs of whitespace as one space, trimmed: ' Nguyễn  Văn An ' -> 'Nguyễn Văn An'."""
    return _SPACES.sub(" ", text).strip()


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn").replace("đ", "d").replace("Đ", "D")


def unaccent(text: str) -> str:
    """The same words without diacritics, case kept: 'Trạm y tế Đồng Hỷ' -> 'Tram y te Dong Hy' (an SMS in
    GSM-7, which has no Vietnamese letters)."""
    return _strip_marks(nfc(text))


def fold(text: str) -> str:
    """Lower case, no diacritics, single spaces: 'Hữu  Liên' -> 'huu lien'."""
    return collapse_spaces(_strip_marks(text.lower()))


def normalize(text: str) -> str:
    """Canonical form for understanding: NFC, lower case, shorthand expanded, punctuation
    (other than what numbers, dates and addresses need) turned into spaces."""
    text = nfc(text).lower()
    text = _SEPARATORS.sub(" ", _PUNCT.sub(" ", text))
    # Shorthand is matched before emphasis is collapsed: "cccd" must not become "cd".
    text = " ".join(word if word in _WORDS else _REPEATS.sub(r"\1", word) for word in text.split())
    for phrase, replacement in _PHRASES.items():
        text = re.sub(rf"(?<!\w){re.escape(phrase)}(?!\w)", replacement, text)
    return " ".join(_WORDS.get(word, word) for word in text.split(" ") if word)


def tokens(text: str) -> list[str]:
    """Folded word tokens of the normalised text, for matching and features."""
    return _TOKEN.findall(fold(normalize(text)))
