"""Vietnamese dates and session labels for chat: "Thứ Ba, 25/11/2026, 7:30–11:00"; the words around them
are keyed texts (actions/speaking.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from babel.dates import format_date, format_time

from actions.speaking import Wording

LOCALE = "vi"


def session_time(starts_at: str, ends_at: str) -> str:
    start, end = datetime.fromisoformat(starts_at), datetime.fromisoformat(ends_at)
    day = format_date(start.date(), "EEEE, dd/MM/yyyy", locale=LOCALE)
    # Babel's vi weekday is "Thứ Ba"; capitalise the first letter for a sentence start.
    day = day[:1].upper() + day[1:]
    return f"{day}, {format_time(start.time(), 'H:mm', locale=LOCALE)}–{format_time(end.time(), 'H:mm', locale=LOCALE)}"


def day_month_year(iso: str) -> str:
    """'2026-10-01' or '2026-10-01T07:30:00+07:00' → '01/10/2026'."""
    return date.fromisoformat(iso[:10]).strftime("%d/%m/%Y")


def seats_left(session: dict[str, Any], say: Wording) -> str:
    if session["available"] > 0:
        return say("session_seats_left", available=session["available"])
    return say("session_seats_full", waitlisted=session["waitlisted"])


def session_line(session: dict[str, Any], say: Wording) -> str:
    """One session in a list: "• Thứ Ba, 25/11/2026, 7:30–11:00 — Trạm Y tế xã Hữu Liên (còn 12 chỗ)"."""
    return say("session_list_line", when=session_time(session["starts_at"], session["ends_at"]),
               place=session["site"]["name"], seats=seats_left(session, say))
