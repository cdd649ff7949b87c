"""Seat accounting on exam_sessions: the only code that changes `booked` and `waitlisted`.

Every function runs inside the caller's write transaction. Taking a seat is one conditional
UPDATE, so two requests for the last seat cannot both win; the CHECK constraint on the table
backs it up. Joining or leaving the waitlist also updates the session row first, which on
PostgreSQL locks it, so promotions and new waitlist entries on one session are serialised.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.bookings.models import Booking
from api.core.rawsql import Raw
from api.sessions.models import ExamSession


@dataclass(frozen=True)
class Seats:
    """Seat counts as the UPDATE left them: fresh without another read."""

    booked: int
    waitlisted: int


_TAKE_SEAT = (
    "UPDATE exam_sessions SET booked = booked + 1"
    " WHERE id = :sid AND status = 'open' AND booked < capacity RETURNING booked, waitlisted"
)
_JOIN_WAITLIST = (
    "UPDATE exam_sessions SET waitlisted = waitlisted + 1"
    " WHERE id = :sid AND status = 'open' AND booked >= capacity RETURNING booked, waitlisted"
)


def _counts(raw: Raw, sql: str, session_id: int) -> Seats | None:
    row = raw.row(sql, {"sid": session_id})
    return None if row is None else Seats(int(row[0]), int(row[1]))


def take_seat(raw: Raw, session_id: int) -> Seats | None:
    return _counts(raw, _TAKE_SEAT, session_id)


def join_waitlist(raw: Raw, session_id: int) -> Seats | None:
    """Only succeeds while the session is full: a seat freed meanwhile must be taken instead."""
    return _counts(raw, _JOIN_WAITLIST, session_id)


def leave_waitlist(db: Session, session_id: int) -> None:
    db.execute(
        update(ExamSession)
        .where(ExamSession.id == session_id)
        .values(waitlisted=ExamSession.waitlisted - 1)
        .execution_options(synchronize_session=False)
    )


def release_seat(db: Session, session_id: int) -> Booking | None:
    """Give a freed confirmed seat to the first person on the waitlist, or free it.

    Returns the promoted booking, if any.
    """
    lock_session(db, session_id)
    first = db.scalar(
        select(Booking)
        .where(Booking.session_id == session_id, Booking.status == "waitlisted")
        .order_by(Booking.id)
        .limit(1)
        .with_for_update()
    )
    if first is None:
        db.execute(
            update(ExamSession)
            .where(ExamSession.id == session_id)
            .values(booked=ExamSession.booked - 1)
            .execution_options(synchronize_session=False)
        )
        return None
    first.status = "confirmed"
    leave_waitlist(db, session_id)
    return first


def promote_into_free_seats(db: Session, session_id: int) -> list[Booking]:
    """After capacity grows, move waitlisted people into the new seats, first come first served."""
    promoted: list[Booking] = []
    while True:
        first = db.scalar(
            select(Booking.id)
            .where(Booking.session_id == session_id, Booking.status == "waitlisted")
            .order_by(Booking.id)
            .limit(1)
        )
        if first is None or not take_seat(Raw(db.connection()), session_id):
            return promoted
        booking = db.get_one(Booking, first)
        booking.status = "confirmed"
        leave_waitlist(db, session_id)
        db.flush()
        promoted.append(booking)


def lock_session(db: Session, session_id: int) -> ExamSession | None:
    """Row lock on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    return db.scalar(
        select(ExamSession).where(ExamSession.id == session_id).with_for_update(of=ExamSession)
        .execution_options(populate_existing=True)
    )
