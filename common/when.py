"""A session's time as residents read it in chat: "Thứ Ba, 25/11/2026, 7:30–11:00". Shared by the
actions (Rasa environment) and the gateway, so a session is written the same way everywhere."""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_date, format_time

LOCALE = "vi"


def session_time(starts_at: str, ends_at: str) -> str:
    start, end = datetime.fromisoformat(starts_at), datetime.fromisoformat(ends_at)
    day = format_date(start.date(), "EEEE, dd/MM/yyyy", locale=LOCALE)
    # Babel's vi weekday is "thứ ba"; the first letter is capitalised for a sentence start.
    day = day[:1].upper() + day[1:]
    return f"{day}, {format_time(start.time(), 'H:mm', locale=LOCALE)}–{format_time(end.time(), 'H:mm', locale=LOCALE)}"
