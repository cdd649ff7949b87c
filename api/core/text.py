"""Vietnamese text helpers shared by search and validation."""

from __future__ import annotations

import re
import unicodedata

from vntext import fold

__all__ = ["DIGIT_RUNS", "collapse_spaces", "compact", "fold", "mask_digit_runs", "nfc", "search_key"]

_SPACES = re.compile(r"\s+")
# Six or more digits in a row (spaces, dots and dashes allowed inside): a CCCD, a phone number or
# an account number a resident typed into free text that staff will read.
DIGIT_RUNS = re.compile(r"\d[\d .\-]{4,}\d")
# Administrative prefixes people type in front of a commune name ("xa huu lien").
_UNIT_WORDS = ("xa ", "phuong ", "thi tran ", "dac khu ")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def collapse_spaces(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def search_key(text: str) -> str:
    """Folded form without a leading unit word, used to match commune names."""
    key = fold(text)
    for word in _UNIT_WORDS:
        if key.startswith(word):
            return key[len(word):]
    return key


def compact(text: str) -> str:
    """Search key without spaces, so 'huulien' still finds 'Hữu Liên'."""
    return search_key(text).replace(" ", "")


def mask_digit_runs(text: str) -> str:
    """Free text as staff may read it: NFC, trimmed, long digit runs replaced by •••."""
    return DIGIT_RUNS.sub("•••", nfc(text).strip())
