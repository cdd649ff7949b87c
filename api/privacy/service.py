"""A resident's rights over their data, and the jobs that keep us holding as little as we can.

- `held_data`: what we hold about someone, shown to them (masked where a stranger could misuse it);
- `withdraw`: consent for one purpose withdrawn; for booking that means erasing, since booking data
  is held for nothing else;
- `erase`: personal data gone from every table, bookings kept only as anonymous counts;
- `purge`: the retention job; `rotate_keys`: re-encrypt and re-hash under a new master secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from api.audit.service import record as audit
from api.bookings import service as booking_service
from api.bookings.models import Booking, IdempotencyKey
from api.bookings.service import phone_hash
from api.communes.models import Commune
from api.consent.models import Consent
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import utcnow
from api.identity.service import Identity, claim_hash
from api.notifications.models import AnnouncementSubscription, ReminderSubscription
from api.notifications.reminders import forget_subscriptions
from api.recording import takes as recording
from api.records.models import HealthRecord, RecordImport
from api.records.service import identity_hash
from api.residents.models import Resident
from api.security.models import Throttle
from api.sessions.models import ExamSession
from api.staff.models import StaffUser
from common.errors import InvalidInput
from common.masking import mask
from common.vocabulary import ACTIVE_BOOKING_STATUSES


class BookingConsentIsErasure(InvalidInput):
    code = "withdraw_booking_means_erase"
    message = ("Thông tin đặt lịch chỉ dùng cho việc đặt lịch: rút lại đồng ý này nghĩa là xóa dữ liệu. "
               "Xin dùng chức năng xóa dữ liệu.")


@dataclass
class HeldBooking:
    code: str
    status: str
    starts_at: datetime


@dataclass
class HeldConsent:
    purpose: str
    notice_version: str
    given_at: datetime
    withdrawn_at: datetime | None


@dataclass
class HeldData:
    found: bool
    full_name: str | None = None
    phone_masked: str | None = None
    birth_year: int | None = None
    commune: str | None = None
    record_status: str | None = None
    bookings: list[HeldBooking] = field(default_factory=list)
    consents: list[HeldConsent] = field(default_factory=list)


def held_data(db: Session, crypto: Crypto, identity: Identity) -> HeldData:
    if not identity.matched:
        return HeldData(found=False)
    data = HeldData(found=True, record_status=identity.record.status if identity.record else None)
    resident = identity.resident
    if resident is not None:
        data.full_name = resident.full_name
        data.phone_masked = mask(crypto.decrypt(resident.phone_enc))
        data.birth_year = resident.birth_year
        data.commune = db.scalar(select(Commune.name).where(Commune.id == resident.commune_id))
        rows = db.execute(
            select(Booking.code, Booking.status, ExamSession.starts_at)
            .join(ExamSession, ExamSession.id == Booking.session_id)
            .where(Booking.resident_id == resident.id).order_by(Booking.id)
        ).all()
        data.bookings = [HeldBooking(code, status, starts_at) for code, status, starts_at in rows]
    consents = db.scalars(select(Consent).where(Consent.subject_hash == identity.subject_hash).order_by(Consent.id))
    data.consents = [HeldConsent(c.purpose, c.notice_version, c.given_at, c.withdrawn_at) for c in consents]
    return data


def withdraw(db: Session, identity: Identity, *, purpose: str) -> int:
    """Stamp the subject's consents for one purpose as withdrawn; returns how many."""
    if purpose == "booking":
        raise BookingConsentIsErasure()
    if not identity.matched:
        return 0
    count = _rows_affected(db, (
        update(Consent)
        .where(Consent.subject_hash == identity.subject_hash, Consent.purpose == purpose,
               Consent.withdrawn_at.is_(None))
        .values(withdrawn_at=utcnow())
    ))
    chats = {"reminders": ReminderSubscription, "announcements": AnnouncementSubscription}.get(purpose)
    if chats is not None:  # nothing is sent to them for that purpose from now on
        forget_subscriptions(db, chats, identity.subject_hash)
    audit(db, actor=None, action="privacy.withdraw", entity="consent", entity_id=purpose, withdrawn=count)
    return count


@dataclass
class Erased:
    residents: int = 0
    bookings_anonymised: int = 0
    bookings_cancelled: int = 0
    records: int = 0
    consents: int = 0


def erase(db: Session, identity: Identity, *, actor: StaffUser | None = None, reason: str = "request") -> Erased:
    """Erase every piece of personal data tied to this CCCD; only anonymous counts stay."""
    erased = Erased()
    if not identity.matched:
        return erased
    if identity.resident is not None:
        _erase_resident(db, identity.resident, erased)
    if identity.record is not None:
        erased.records = _rows_affected(db, delete(HealthRecord).where(HealthRecord.cccd_hash == identity.cccd_hash))
    erased.consents += _rows_affected(db, delete(Consent).where(Consent.subject_hash == identity.subject_hash))
    audit(db, actor=actor, action="privacy.erase", entity="subject", entity_id="-", reason=reason,
          **erased.__dict__)
    return erased


def _erase_resident(db: Session, resident: Resident, erased: Erased) -> None:
    bookings = list(db.scalars(select(Booking).where(Booking.resident_id == resident.id).order_by(Booking.id)))
    for booking in bookings:
        if booking.status in ACTIVE_BOOKING_STATUSES:
            # The seat goes back to others (or the first of the waitlist): erasing is also cancelling.
            booking_service.cancel(db=db, code=booking.code)
            erased.bookings_cancelled += 1
        booking.resident_id = None
    ids = [b.id for b in bookings]
    if ids:
        # Their fingerprints are keyed hashes of the personal data that was sent.
        db.execute(delete(IdempotencyKey).where(IdempotencyKey.booking_id.in_(ids)))
    erased.bookings_anonymised += len(bookings)
    erased.consents += _rows_affected(db, delete(Consent).where(Consent.resident_id == resident.id))
    db.flush()
    db.delete(resident)
    db.flush()
    erased.residents += 1


def _rows_affected(db: Session, statement: object) -> int:
    result = db.execute(statement)  # type: ignore[call-overload]
    return int(result.rowcount or 0)


# --- retention ---------------------------------------------------------------------------------

@dataclass
class Purged:
    residents: int = 0
    records: int = 0
    consents: int = 0
    idempotency_keys: int = 0
    throttles: int = 0
    import_reports: int = 0


def purge(db: Session, settings: Settings, *, now: datetime | None = None) -> Purged:
    """Erase what is past its retention period. Safe to run as often as wanted (cron, daily)."""
    now = now or utcnow()
    cutoff = now - timedelta(days=settings.personal_data_retention_days)
    purged = Purged()
    last_booking = (
        select(Booking.resident_id, func.max(Booking.updated_at).label("last"))
        .group_by(Booking.resident_id).subquery()
    )
    active = select(Booking.resident_id).where(Booking.status.in_(ACTIVE_BOOKING_STATUSES),
                                               Booking.resident_id.is_not(None))
    stale = db.scalars(
        select(Resident)
        .outerjoin(last_booking, last_booking.c.resident_id == Resident.id)
        .where(Resident.updated_at < cutoff, or_(last_booking.c.last.is_(None), last_booking.c.last < cutoff),
               Resident.id.not_in(active))
    ).all()
    erased = Erased()
    for resident in stale:
        _erase_resident(db, resident, erased)
    purged.residents = erased.residents
    purged.records = _rows_affected(db, delete(HealthRecord).where(HealthRecord.updated_at < cutoff))
    purged.consents = erased.consents + _rows_affected(
        db, delete(Consent).where(Consent.resident_id.is_(None), Consent.given_at < cutoff))
    purged.idempotency_keys = _rows_affected(db, delete(IdempotencyKey).where(
        IdempotencyKey.created_at < now - timedelta(days=settings.idempotency_key_days)))
    # Counters matter while a window or a lockout runs, and for doubling the next lockout.
    keep_throttles = timedelta(minutes=max(settings.lockout_max_minutes, settings.lookup_cccd_window_minutes))
    purged.throttles = _rows_affected(db, delete(Throttle).where(
        Throttle.updated_at < now - keep_throttles, or_(Throttle.locked_until.is_(None), Throttle.locked_until < now)))
    purged.import_reports = _rows_affected(db, update(RecordImport).where(
        RecordImport.created_at < cutoff, RecordImport.error_report != "").values(error_report=""))
    audit(db, actor=None, action="privacy.purge", entity="retention", entity_id=settings.personal_data_retention_days,
          **purged.__dict__)
    return purged


# --- key rotation ------------------------------------------------------------------------------

@dataclass
class Rotated:
    residents: int = 0
    records: int = 0
    consents: int = 0
    consents_dropped: int = 0
    throttles_reset: int = 0
    idempotency_keys_dropped: int = 0
    staff_secrets: int = 0
    volunteers: int = 0


def rotate_keys(db: Session, crypto: Crypto, settings: Settings) -> Rotated:
    """Re-encrypt every field with the current key and recompute every keyed hash.

    `crypto` must read the old data: SECRET_KEY is the new secret, PREVIOUS_SECRET_KEYS the old.
    Hashes that cannot be recomputed (attempt counters, replay fingerprints, consents of people
    we hold nothing else about) are dropped: they are short-lived or worthless without the data.
    A booking's chat fingerprint cannot be recomputed either (we never held the chat id): after a
    rotation its chat uses the second factor like anyone else.
    """
    rotated = Rotated()
    new_hash: dict[str, str] = {}
    for resident in db.scalars(select(Resident)):
        cccd = crypto.decrypt(resident.cccd_enc)
        if resident.claim_of is not None:  # a disputed claim: found by CCCD and birth date together
            resident.claim_of = crypto.lookup_hash(cccd)
            claimed_birth = date.fromisoformat(crypto.decrypt(resident.birth_date_enc))
            new_hash[resident.cccd_hash] = resident.cccd_hash = claim_hash(crypto, cccd, claimed_birth)
        else:
            new_hash[resident.cccd_hash] = resident.cccd_hash = crypto.lookup_hash(cccd)
        resident.phone_hash = phone_hash(crypto, crypto.decrypt(resident.phone_enc))
        resident.cccd_enc = crypto.reencrypt(resident.cccd_enc)
        resident.birth_date_enc = crypto.reencrypt(resident.birth_date_enc)
        resident.phone_enc = crypto.reencrypt(resident.phone_enc)
        rotated.residents += 1
    for health_record in db.scalars(select(HealthRecord)):
        cccd = crypto.decrypt(health_record.cccd_enc)
        birth = crypto.decrypt(health_record.birth_date_enc)
        new_hash[health_record.cccd_hash] = health_record.cccd_hash = crypto.lookup_hash(cccd)
        health_record.identity_hash = identity_hash(crypto, cccd, date.fromisoformat(birth))
        health_record.cccd_enc = crypto.reencrypt(health_record.cccd_enc)
        health_record.birth_date_enc = crypto.reencrypt(health_record.birth_date_enc)
        rotated.records += 1
    for staff in db.scalars(select(StaffUser).where(StaffUser.totp_secret_enc.is_not(None))):
        # Authenticator secrets: enrolled phones keep working under the new key.
        staff.totp_secret_enc = crypto.reencrypt(staff.totp_secret_enc or "")
        rotated.staff_secrets += 1
    # Volunteers who record (their consents to publishing their voice are filed under their phone's hash).
    volunteers = recording.rotate_keys(db, settings, crypto)
    rotated.volunteers = len(volunteers)
    new_hash.update(volunteers)
    for consent in db.scalars(select(Consent)):
        if consent.subject_hash in new_hash:
            consent.subject_hash = new_hash[consent.subject_hash]
            rotated.consents += 1
        else:
            db.delete(consent)
            rotated.consents_dropped += 1
    rotated.throttles_reset = _rows_affected(db, delete(Throttle))
    rotated.idempotency_keys_dropped = _rows_affected(db, delete(IdempotencyKey))
    audit(db, actor=None, action="privacy.rotate_keys", entity="keys", entity_id="-", **rotated.__dict__)
    return rotated
