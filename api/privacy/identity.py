"""Proving who you are with CCCD and birth date, without becoming a guessing oracle.

Every identity check (record status, "what do you hold about me", withdraw, erase) goes through
`check_identity`, which
- answers "matched" or "not matched" only: an unknown CCCD and a wrong birth date are the same
  outcome, reached through the same work (two keyed hashes, one indexed read per table, one
  decryption), so neither the body nor the timing tells them apart;
- counts attempts per chat, failures per CCCD and failures of all chats together, and locks the
  subject out for a time that doubles with each lockout;
- leaves only keyed hashes behind: the counters never hold a CCCD or a chat id in plain text.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.audit.service import record as audit
from api.core.clock import local_today, to_local
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database, utcnow
from api.core.errors import AppError
from api.privacy.models import Throttle
from api.records.models import HealthRecord
from api.residents import validation
from api.residents.models import Resident

T = TypeVar("T")


class TooManyAttempts(AppError):
    status_code = 429
    code = "too_many_attempts"
    message = "Anh/chị đã thử quá nhiều lần."


@dataclass(frozen=True)
class Rule:
    limit: int
    window: timedelta


@dataclass(frozen=True)
class Limits:
    chat: Rule
    cccd: Rule
    everyone: Rule
    lockout_base: timedelta
    lockout_max: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            chat=Rule(settings.lookup_chat_attempts, timedelta(minutes=settings.lookup_chat_window_minutes)),
            cccd=Rule(settings.lookup_cccd_failures, timedelta(minutes=settings.lookup_cccd_window_minutes)),
            everyone=Rule(settings.lookup_global_failures, timedelta(minutes=settings.lookup_global_window_minutes)),
            lockout_base=timedelta(minutes=settings.lockout_base_minutes),
            lockout_max=timedelta(minutes=settings.lockout_max_minutes),
        )


@dataclass(frozen=True)
class Identity:
    """What a CCCD and birth date prove. `matched` is False for unknown and wrong alike."""

    cccd: str
    cccd_hash: str
    matched: bool
    record: HealthRecord | None
    resident: Resident | None
    chat_subject: str | None


@dataclass(frozen=True)
class Lockout:
    until: datetime

    def error(self, now: datetime) -> TooManyAttempts:
        local = to_local(self.until)
        return TooManyAttempts(
            f"Để bảo vệ thông tin của người dân, việc tra cứu tạm khóa đến {local:%H:%M} ngày "
            f"{local:%d/%m/%Y} vì đã thử quá nhiều lần. Nếu cần gấp, xin mang thẻ căn cước đến trạm "
            f"y tế xã để được kiểm tra trực tiếp.",
            retry_after_seconds=max(1, int((self.until - now).total_seconds())),
        )


def identity_hash(crypto: Crypto, cccd: str, birth_date: date) -> str:
    return crypto.lookup_hash(f"{cccd}|{birth_date.isoformat()}")


def chat_subject(crypto: Crypto, chat_id: str | None) -> str | None:
    return f"chat:{crypto.lookup_hash('chat|' + chat_id)[:40]}" if chat_id else None


def check_identity(
    db: Session, crypto: Crypto, limits: Limits, *, cccd_raw: str, birth_date: date, chat_id: str | None,
    today: date, now: datetime,
) -> Identity | Lockout:
    """Run one counted identity check inside the caller's write transaction.

    A Lockout is returned, not raised, so the caller commits the counters and the audit entry
    before answering 429.
    """
    cccd = validation.normalize_cccd(cccd_raw)
    birth_date = validation.check_birth_date(birth_date, today=today)
    # Same for every CCCD, known or not: the year is printed in the number itself.
    validation.check_cccd_matches_birth_date(cccd, birth_date)
    cccd_hash = crypto.lookup_hash(cccd)
    chat, person = chat_subject(crypto, chat_id), f"cccd:{cccd_hash[:40]}"
    subjects = [s for s in (chat, person, "global") if s]
    throttles = {s: _load(db, s, now) for s in sorted(subjects)}  # sorted: one lock order for all
    locked = [t.locked_until for t in throttles.values() if t.locked_until is not None and t.locked_until > now]
    if locked:
        return Lockout(max(locked))

    expected = identity_hash(crypto, cccd, birth_date)
    record = db.scalar(select(HealthRecord).where(HealthRecord.cccd_hash == cccd_hash))
    resident = db.scalar(select(Resident).where(Resident.cccd_hash == cccd_hash))
    record_ok = hmac.compare_digest(record.identity_hash if record else "", expected)
    stored_birth = crypto.decrypt(resident.birth_date_enc if resident else crypto.decoy_token)
    resident_ok = resident is not None and hmac.compare_digest(stored_birth, birth_date.isoformat())
    # A person is known to the record table, the booking table or both; the birth date must
    # agree with every table that knows them.
    matched = (record is not None or resident is not None) and (record is None or record_ok) and (
        resident is None or resident_ok)

    if chat:
        _count(throttles[chat], limits.chat, limits, now)
    if not matched:
        _count(throttles[person], limits.cccd, limits, now)
        _count(throttles["global"], limits.everyone, limits, now)
    return Identity(cccd=cccd, cccd_hash=cccd_hash, matched=matched, record=record if matched else None,
                    resident=resident if matched else None, chat_subject=chat)


def _load(db: Session, subject: str, now: datetime) -> Throttle:
    throttle = db.get(Throttle, subject, with_for_update=True)
    if throttle is None:
        throttle = Throttle(subject=subject, window_started_at=now, attempts=0, lockouts=0, updated_at=now)
        db.add(throttle)
        db.flush()
    return throttle


def _count(throttle: Throttle, rule: Rule, limits: Limits, now: datetime) -> None:
    if now - throttle.window_started_at >= rule.window:
        throttle.window_started_at, throttle.attempts = now, 0
    throttle.attempts += 1
    throttle.updated_at = now
    if throttle.attempts >= rule.limit:
        throttle.lockouts += 1
        throttle.locked_until = now + min(limits.lockout_base * 2 ** (throttle.lockouts - 1), limits.lockout_max)
        throttle.window_started_at, throttle.attempts = now, 0


def counted_check(
    database: Database, crypto: Crypto, settings: Settings, *, action: str, cccd: str, birth_date: date,
    chat_id: str | None, then: Callable[[Session, Identity], T],
) -> T:
    """One identity check, what follows from it (`then`), the counters and the audit entry, all in
    one transaction; a lockout is committed first and then answered 429."""
    limits = Limits.from_settings(settings)

    def attempt() -> T | Lockout:
        now, today = utcnow(), local_today()
        with database.write() as db:
            outcome = check_identity(db, crypto, limits, cccd_raw=cccd, birth_date=birth_date, chat_id=chat_id,
                                     today=today, now=now)
            if isinstance(outcome, Lockout):
                audit(db, actor=None, action=action, entity="identity_check", entity_id="-", outcome="locked")
                return outcome
            result = then(db, outcome)
            audit(db, actor=None, action=action, entity="identity_check", entity_id="-",
                  outcome="matched" if outcome.matched else "not_matched")
            return result

    try:
        result = attempt()
    except IntegrityError:
        # Two first attempts for the same subject created its counter row at once (PostgreSQL):
        # the retry finds the row and counts on it.
        result = attempt()
    if isinstance(result, Lockout):
        raise result.error(utcnow())
    return result
