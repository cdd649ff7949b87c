"""Reading dates the way residents type them: "05/03/1958", "5-3-58"?, "ngày 5 tháng 3 năm 1958"."""

from __future__ import annotations

import re
from datetime import date

from vntext import fold

_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})\s*[/\-.\s]\s*(\d{1,2})\s*[/\-.\s]\s*(\d{4})(?!\d)")
_WORDS = re.compile(r"ngay\s*(\d{1,2})\s*thang\s*(\d{1,2})\s*nam\s*(\d{4})")
_PACKED = re.compile(r"(?<!\d)(\d{2})(\d{2})(\d{4})(?!\d)")


def parse_date(text: str) -> date | None:
    """Day first, four-digit year (two-digit years are ambiguous for people born 1920–2029)."""
    folded = fold(text)
    for pattern in (_WORDS, _NUMERIC, _PACKED):
        match = pattern.search(folded)
        if match:
            day, month, year = (int(part) for part in match.groups())
            try:
                return date(year, month, day)
            except ValueError:
                return None
    return None
