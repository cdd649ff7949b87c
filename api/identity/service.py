"""Proving who you are with CCCD and birth date, without becoming a guessing oracle.

Every comparison of a CCCD with a birth date — record status, "what do you hold about me",
withdraw, erase, and a booking under a CCCD already on file — goes through `check_identity`, which
- answers "matched" or "not matched" only: an unknown CCCD and a wrong birth date are the same
  outcome, reached through the same work (keyed hashes, one indexed read per table, one
  decryption), so neither the body nor the timing tells them apart;
- counts per *source* (the gateway-signed chat and the resident's address, or the credential of a
  call without a chat — never a field the caller chose): every attempt, and the failures on each
  CCCD; a source that fails `lookup_cccd_failures` times on one CCCD is locked out of it;
- counts failures per CCCD from every source: past `lookup_person_failures` that person's online
  checks pause (the station still serves them) and their commune is alerted;
- counts failures of everyone together, which never locks anyone out: past the limit every
  source is tightened to one failure per CCCD and staff are alerted;
- leaves only keyed hashes behind.

Who is "known": a status record from the health system is authoritative (its birth date was seen
by the station); otherwise any booking's resident row with exactly that CCCD and birth date — a
first booking does not fix a person's birth date (see `claim_hash`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.audit.service import record as audit
from api.core.clock import local_today, to_local
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database, utcnow
from api.records.models import HealthRecord
from api.records.service import identity_hash
from api.residents.models import Resident
from api.security import limits
from api.security.alerts import raise_alert
from api.security.limits import Escalation, Rule
from api.security.models import Throttle
from api.security.origin import Origin
from common.errors import AppError
from common.identity import check_birth_date, check_cccd_matches_birth_date, normalize_cccd

T = TypeVar("T")


class TooManyAttempts(AppError):
    status_code = 429
    code = "too_many_attempts"
    message = "Anh/chị đã thử quá nhiều lần."


@dataclass(frozen=True)
class Limits:
    source: Rule  # every attempt of one chat or credential
    address: Rule  # every attempt from one address
    source_person: Rule  # failures of one source on one CCCD
    person: Rule  # failures on one CCCD from every source
    everyone: Rule  # failures of all sources together: tightens, never locks
    escalation: Escalation

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        cccd_window = settings.lookup_cccd_window_minutes
        return cls(
            source=Rule.per_minutes(settings.lookup_chat_attempts, settings.lookup_chat_window_minutes),
            address=Rule.per_minutes(settings.lookup_address_attempts, settings.lookup_address_window_minutes),
            source_person=Rule.per_minutes(settings.lookup_cccd_failures, cccd_window),
            person=Rule.per_minutes(settings.lookup_person_failures, cccd_window),
            everyone=Rule.per_minutes(settings.lookup_global_failures, settings.lookup_global_window_minutes),
            escalation=Escalation.from_settings(settings),
        )


@dataclass(frozen=True)
class Identity:
    """What a CCCD and birth date prove. `matched` is False for unknown and wrong alike."""

    cccd: str
    cccd_hash: str
    matched: bool
    record: HealthRecord | None
    # The booking resident with exactly this CCCD and birth date (the first one, or a claim).
    resident: Resident | None

    @property
    def subject_hash(self) -> str:
        """Whose consents and subscriptions these are: a claim's own (its CCCD-and-birth-date hash),
        never the other claimant's under the same CCCD."""
        return self.resident.cccd_hash if self.resident is not None else self.cccd_hash


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


def claim_hash(crypto: Crypto, cccd: str, birth_date: date) -> str:
    """Where a booking under a CCCD on file with another birth date keeps its resident."""
    return crypto.lookup_hash(f"claim|{cccd}|{birth_date.isoformat()}")


@dataclass(frozen=True)
class Gate:
    """The counters one check touches, locked for its transaction."""

    sources: list[str]
    source_person: str
    person: str
    throttles: dict[str, Throttle]

    def lockout(self, now: datetime) -> Lockout | None:
        locked = [until for t in self.throttles.values() if (until := limits.locked_until(t, now))]
        return Lockout(max(locked)) if locked else None


def gate_subjects(crypto: Crypto, origin: Origin, cccd_hash: str) -> list[str]:
    """The counters of one check: the sources, the first source on this CCCD, and the person."""
    sources = origin.sources(crypto, "id")
    # The first source is the chat (or credential): it, with the CCCD, is what one guesser controls.
    return [*sources, f"idp:{crypto.lookup_hash(sources[0] + '|' + cccd_hash)[:40]}", f"cccd:{cccd_hash[:40]}"]


def open_gate(db: Session, crypto: Crypto, origin: Origin, cccd_hash: str, now: datetime) -> Gate:
    *sources, source_person, person = gate_subjects(crypto, origin, cccd_hash)
    throttles = limits.load_all(db, [*sources, source_person, person], now)
    return Gate(sources, source_person, person, throttles)


def count_attempt(gate: Gate, lim: Limits, now: datetime) -> None:
    for subject in gate.sources:
        rule = lim.address if subject.startswith("id-addr:") else lim.source
        limits.count_failure(gate.throttles[subject], rule, lim.escalation, now)


def count_mismatch(db: Session, gate: Gate, lim: Limits, now: datetime, *, commune_id: int | None) -> None:
    """A wrong birth date (or an unknown CCCD) from this source: count it everywhere it counts."""
    everyone = limits.load(db, "global", now)
    person = gate.throttles[gate.person]
    # A flood from everywhere, or a person already targeted this window: one failure per source.
    targeted = person.lockouts > 0 and now - person.updated_at < lim.person.window
    tightened = targeted or limits.in_window(everyone, lim.everyone, now) >= lim.everyone.limit
    per_source = Rule(1, lim.source_person.window) if tightened else lim.source_person
    limits.count_failure(gate.throttles[gate.source_person], per_source, lim.escalation, now)
    # The person's pause never grows: strangers must not be able to keep someone out for weeks.
    short = Escalation(lim.escalation.base, lim.escalation.base)
    if limits.count_failure(person, lim.person, short, now):
        raise_alert(db, kind="person_targeted", subject=gate.person, now=now, commune_id=commune_id,
                    detail="Nhiều nơi thử sai ngày sinh của cùng một người: tra cứu trực tuyến của người này "
                           "tạm dừng. Nếu họ đến trạm, xin kiểm tra thẻ căn cước.")
    # Counted without a lockout: a flood from many sources must not become a kill switch.
    if now - everyone.window_started_at >= lim.everyone.window:
        everyone.window_started_at, everyone.attempts = now, 0
    everyone.attempts += 1
    everyone.updated_at = now
    if everyone.attempts == lim.everyone.limit:
        raise_alert(db, kind="identity_flood", subject="global", now=now,
                    detail=f"{everyone.attempts} lần tra cứu sai trong {int(lim.everyone.window.total_seconds() // 60)}"
                           " phút: mỗi nguồn chỉ còn được thử sai một lần.")


def check_identity(
    db: Session, crypto: Crypto, lim: Limits, origin: Origin, *, cccd_raw: str, birth_date: date, today: date,
    now: datetime,
) -> Identity | Lockout:
    """Run one counted identity check inside the caller's write transaction.

    A Lockout is returned, not raised, so the caller commits the counters and the audit entry
    before answering 429.
    """
    cccd = normalize_cccd(cccd_raw)
    birth_date = check_birth_date(birth_date, today=today)
    # Same for every CCCD, known or not: the year is printed in the number itself.
    check_cccd_matches_birth_date(cccd, birth_date)
    cccd_hash = crypto.lookup_hash(cccd)
    gate = open_gate(db, crypto, origin, cccd_hash, now)
    if (lockout := gate.lockout(now)) is not None:
        return lockout

    record = db.scalar(select(HealthRecord).where(HealthRecord.cccd_hash == cccd_hash))
    first = db.scalar(select(Resident).where(Resident.cccd_hash == cccd_hash))
    claim = db.scalar(select(Resident).where(Resident.cccd_hash == claim_hash(crypto, cccd, birth_date)))
    record_ok = hmac.compare_digest(record.identity_hash if record else "", identity_hash(crypto, cccd, birth_date))
    stored_birth = crypto.decrypt(first.birth_date_enc if first else crypto.decoy_token)
    first_ok = first is not None and hmac.compare_digest(stored_birth, birth_date.isoformat())
    resident = first if first_ok else claim
    # The health system's record, where there is one, has the birth date the station saw.
    matched = record_ok if record is not None else resident is not None

    count_attempt(gate, lim, now)
    if not matched:
        count_mismatch(db, gate, lim, now, commune_id=first.commune_id if first else None)
    return Identity(cccd=cccd, cccd_hash=cccd_hash, matched=matched, record=record if matched else None,
                    resident=resident if matched else None)


def counted_check(
    database: Database, crypto: Crypto, settings: Settings, origin: Origin, *, action: str, cccd: str,
    birth_date: date, then: Callable[[Session, Identity], T],
) -> T:
    """One identity check, what follows from it (`then`), the counters and the audit entry, all in
    one transaction; a lockout is committed first and then answered 429."""
    lim = Limits.from_settings(settings)

    def attempt() -> T | Lockout:
        now, today = utcnow(), local_today()
        with database.write() as db:
            outcome = check_identity(db, crypto, lim, origin, cccd_raw=cccd, birth_date=birth_date, today=today,
                                     now=now)
            if isinstance(outcome, Lockout):
                audit(db, actor=origin.staff, action=action, entity="identity_check", entity_id="-", outcome="locked")
                return outcome
            result = then(db, outcome)
            audit(db, actor=origin.staff, action=action, entity="identity_check", entity_id="-",
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
