"""Vietnamese dates and session labels for chat: "Thứ Ba, 25/11/2026, 7:30–11:00"; the words around them
are keyed texts (actions/speaking.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from babel.dates import format_date, format_time

from actions.speaking import Wording
from common.when import LOCALE, session_time


def short_session_time(starts_at: str, ends_at: str) -> str:
    """A session as a button names it, short enough for a phone's button: "Thứ 4, 25/11, 7:30–11:00"."""
    start, end = datetime.fromisoformat(starts_at), datetime.fromisoformat(ends_at)
    day = format_date(start.date(), "EEE, dd/MM", locale=LOCALE)
    return f"{day}, {format_time(start.time(), 'H:mm', locale=LOCALE)}–{format_time(end.time(), 'H:mm', locale=LOCALE)}"


# The gateway cuts a Telegram button's title at 64 characters; longer ones also wrap badly on a small phone.
BUTTON_TITLE_MAX = 64
# "Đội khám lưu động — Nhà văn hóa thôn Nà Ho": what follows the dash tells two places apart.
PLACE_DETAIL = " — "


def short_place(name: str, room: int) -> str:
    """A place's name within `room` characters: whole, else its detail after the dash, else cut."""
    if len(name) <= room:
        return name
    detail = name.split(PLACE_DETAIL)[-1]
    if len(detail) <= room:
        return detail
    return detail[:max(room - 1, 8)].rstrip() + "…"


def session_title(session: dict[str, Any], say: Wording, *, several_sites: bool, to_book: bool = False) -> str:
    """A session's button (`to_book`: the schedule's "Đặt lịch …"): its day and hours, and where only when
    the list has several places; a long place name is shortened so the time and seats always show."""
    when, seats = short_session_time(session["starts_at"], session["ends_at"]), seats_left(session, say)
    if not several_sites:
        return say("button_book_session", when=when) if to_book else say("button_session", when=when, seats=seats)

    def titled(place: str) -> str:
        if to_book:
            return say("button_book_session_at", when=when, place=place)
        return say("button_session_at", when=when, place=place, seats=seats)

    return titled(short_place(session["site"]["name"], BUTTON_TITLE_MAX - len(titled(""))))


def several_sites(sessions: list[dict[str, Any]]) -> bool:
    return len({s["site"].get("id", s["site"]["name"]) for s in sessions}) > 1


def day_month_year(iso: str) -> str:
    """'2026-10-01' or '2026-10-01T07:30:00+07:00' → '01/10/2026'."""
    return date.fromisoformat(iso[:10]).strftime("%d/%m/%Y")


def seats_left(session: dict[str, Any], say: Wording) -> str:
    if session["available"] > 0:
        return say("session_seats_left", available=session["available"])
    return say("session_seats_full", waitlisted=session["waitlisted"])


def address_of(site: dict[str, Any], say: Wording) -> str:
    """Where the site is, for a resident who has never been there: its address, else its commune."""
    return str(site.get("address") or site.get("commune_name") or say("address_unknown"))


def session_line(session: dict[str, Any], say: Wording) -> str:
    """One session in a list: "• Thứ Ba, 25/11/2026, 7:30–11:00 — Trạm Y tế xã Hữu Liên (còn 12 chỗ)"."""
    return say("session_list_line", when=session_time(session["starts_at"], session["ends_at"]),
               place=session["site"]["name"], seats=seats_left(session, say))
