"""Search keys for commune names; the Vietnamese text helpers themselves live in `vntext`."""

from __future__ import annotations

from vntext import fold

# Administrative prefixes people type in front of a commune name ("xa huu lien").
_UNIT_WORDS = ("xa ", "phuong ", "thi tran ", "dac khu ")


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
