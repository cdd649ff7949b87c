"""Counters per subject (a chat, an address, a person, a credential), kept in the database so every
API process shares them and nothing here holds a CCCD or chat id in plain text.

Two uses: failure counters that lock a subject out for a time that doubles with each lockout
(identity checks, booking codes), and plain quotas that refuse past a count per window (new
bookings, anonymous writes). Rows are locked in one order so concurrent checks never deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.db import Database, utcnow
from api.core.rawsql import Raw
from api.security.models import Throttle
from common.errors import AppError


@dataclass(frozen=True)
class Rule:
    limit: int
    window: timedelta

    @classmethod
    def per_minutes(cls, limit: int, minutes: int) -> Rule:
        return cls(limit, timedelta(minutes=minutes))


@dataclass(frozen=True)
class Escalation:
    """How long a lockout lasts: `base`, doubled with each lockout of the same subject, up to `cap`."""

    base: timedelta
    cap: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Escalation:
        return cls(timedelta(minutes=settings.lockout_base_minutes), timedelta(minutes=settings.lockout_max_minutes))

    def duration(self, lockouts: int) -> timedelta:
        # Doubled step by step up to the cap: `base * 2 ** n` itself overflows timedelta for a subject
        # an attacker keeps locked long enough (and an overflow would undo the count that caused it).
        longer = self.base
        for _ in range(max(lockouts - 1, 0)):
            if longer >= self.cap:
                break
            longer *= 2
        return min(longer, self.cap)


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"
    message = "Có quá nhiều yêu cầu từ nơi này. Xin thử lại sau ít phút."


def load(db: Session, subject: str, now: datetime) -> Throttle:
    """The subject's counter row, locked for this transaction (created if new).

    Two first requests of one subject may create its row at once (PostgreSQL): the loser's insert
    is undone by a savepoint and it locks the winner's row, so no caller sees an IntegrityError."""
    throttle = db.get(Throttle, subject, with_for_update=True)
    if throttle is not None:
        return throttle
    try:
        with db.begin_nested():
            throttle = Throttle(subject=subject, window_started_at=now, attempts=0, lockouts=0, updated_at=now)
            db.add(throttle)
    except IntegrityError:
        throttle = db.get_one(Throttle, subject, with_for_update=True, populate_existing=True)
    return throttle


def peek_locked(db: Session, subjects: Iterable[str], now: datetime) -> datetime | None:
    """When the latest lockout among these subjects ends, read without locking or creating rows."""
    ends = [until for until in db.scalars(select(Throttle.locked_until).where(
        Throttle.subject.in_(list(subjects)), Throttle.locked_until > now)) if until is not None]
    return max(ends, default=None)


def load_all(db: Session, subjects: Iterable[str], now: datetime) -> dict[str, Throttle]:
    return {s: load(db, s, now) for s in sorted(set(subjects))}  # sorted: one lock order for all


def locked_until(throttle: Throttle, now: datetime) -> datetime | None:
    return throttle.locked_until if throttle.locked_until is not None and throttle.locked_until > now else None


def in_window(throttle: Throttle, rule: Rule, now: datetime) -> int:
    """Attempts counted in the current window (0 once it has passed)."""
    return throttle.attempts if now - throttle.window_started_at < rule.window else 0


def count_failure(throttle: Throttle, rule: Rule, escalation: Escalation, now: datetime) -> bool:
    """Count one failure; True when it reached the limit and locked the subject out."""
    if now - throttle.window_started_at >= rule.window:
        throttle.window_started_at, throttle.attempts = now, 0
    throttle.attempts += 1
    throttle.updated_at = now
    if throttle.attempts < rule.limit:
        return False
    throttle.lockouts += 1
    throttle.locked_until = now + escalation.duration(throttle.lockouts)
    throttle.window_started_at, throttle.attempts = now, 0
    return True


# One statement per quota, on the booking hot path: counts the request in the subject's window (a new
# window once the old one has passed) and returns the count, creating the row on first use. The
# row stays locked until the transaction ends (PostgreSQL), so concurrent requests of one subject
# count in turn. Expressions in SET read the row as it was, on both backends.
_SQL_TAKE = (
    "INSERT INTO throttles (subject, window_started_at, attempts, lockouts, updated_at)"
    " VALUES (:subject, :now, 1, 0, :now) ON CONFLICT (subject) DO UPDATE SET"
    " attempts = CASE WHEN throttles.window_started_at <= :expired THEN 1 ELSE throttles.attempts + 1 END,"
    " window_started_at = CASE WHEN throttles.window_started_at <= :expired THEN :now"
    " ELSE throttles.window_started_at END,"
    " updated_at = :now RETURNING attempts, window_started_at"
)
_SQL_TOUCH = (
    "INSERT INTO throttles (subject, window_started_at, attempts, lockouts, updated_at)"
    " VALUES (:subject, :now, 0, 0, :now) ON CONFLICT (subject) DO UPDATE SET updated_at = :now"
)


def _as_utc(value: datetime | str) -> datetime:
    # SQLite hands back the stored text; PostgreSQL an aware datetime.
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def take(raw: Raw, quotas: dict[str, Rule], now: datetime) -> datetime | None:
    """Spend one unit of every quota: None, or when the first exhausted one frees up — then the
    caller must roll back (its transaction holds the increments)."""
    waits = []
    for subject in sorted(quotas):  # one lock order for all
        rule = quotas[subject]
        row = raw.row(_SQL_TAKE, {"subject": subject, "now": raw.timestamp(now),
                                  "expired": raw.timestamp(now - rule.window)})
        assert row is not None
        if int(row[0]) > rule.limit:
            waits.append(_as_utc(row[1]) + rule.window)
    return max(waits) if waits else None


def hold(raw: Raw, subject: str, now: datetime) -> None:
    """Lock the subject's row for this transaction (created if new): a mutex two requests about the
    same thing (one phone number) take in turn on PostgreSQL; SQLite serialises writers anyway."""
    raw.run(_SQL_TOUCH, {"subject": subject, "now": raw.timestamp(now)})


def spend(database: Database, quotas: dict[str, Rule], error: type[AppError] = TooManyRequests) -> None:
    """`take` in a short transaction of its own, so the counter rows are not held locked through
    the work they guard; raises `error` (429) with the wait when a quota is spent."""
    if not quotas:
        return
    now = utcnow()

    with database.write() as db:
        until = take(Raw(db.connection()), quotas, now)
        if until is not None:  # raised inside: nothing of this refused request is counted
            raise error(retry_after_seconds=max(1, int((until - now).total_seconds())))
