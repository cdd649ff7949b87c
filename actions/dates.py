"""Reading dates the way residents type them: "05/03/1958", "5-3-58"?, "ngày 5 tháng 3 năm 1958"."""

from __future__ import annotations

import re
from datetime import date

from vntext import fold

_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})\s*[/\-.\s]\s*(\d{1,2})\s*[/\-.\s]\s*(\d{4})(?!\d)")
_WORDS = re.compile(r"ngay\s*(\d{1,2})\s*thang\s*(\d{1,2})\s*nam\s*(\d{4})")
_PACKED = re.compile(r"(?<!\d)(\d{2})(\d{2})(\d{4})(?!\d)")
# How dates are kept in slots (and what a remembered birth date looks like when re-used).
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


# Each pattern with where its day, month and year are among the groups.
_PATTERNS = ((_ISO, (2, 1, 0)), (_WORDS, (0, 1, 2)), (_NUMERIC, (0, 1, 2)), (_PACKED, (0, 1, 2)))


def parse_date(text: str) -> date | None:
    """Day first, four-digit year (two-digit years are ambiguous for people born 1920–2029)."""
    folded = fold(text).strip()
    for pattern, order in _PATTERNS:
        match = pattern.search(folded)
        if match:
            parts = [int(part) for part in match.groups()]
            day, month, year = (parts[i] for i in order)
            try:
                return date(year, month, day)
            except ValueError:
                return None
    return None
