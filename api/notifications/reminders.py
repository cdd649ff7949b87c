"""Residents' reminder subscriptions: given with explicit consent after a booking, stopped from the
reminder itself, by the SMS stop keyword or by withdrawing consent; every send checks that the consent
still stands.

The consent names the ways the resident agreed to (`Consent.channels`, api/consent/service.py): their
chat, and when the chat cannot carry a reminder, a ZNS message then an SMS to the booking's phone. A
chat that can write first (Telegram, Zalo) is kept as a subscription; a "yes" said in the web chat,
which only answers, is the consent alone — the reminders go to the phone."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import Exists, delete, exists, select, update
from sqlalchemy.orm import Session

from api.audit.service import record
from api.bookings.models import Booking
from api.bookings.service import BookingNotFound, phone_hash
from api.consent.models import Consent
from api.consent.service import agree, ways_text
from api.core.crypto import Crypto
from api.core.db import utcnow
from api.core.rawsql import Raw
from api.notifications.models import ReminderLog, ReminderSubscription
from api.residents.models import Resident
from common.booking_codes import canonical
from common.errors import InvalidInput
from common.identity import normalize_phone
from common.vocabulary import DEFAULT_LANGUAGE, LANGUAGES

# Channels the gateway can write to first; the web chat only answers.
PUSH_CHANNELS = ("telegram", "zalo")


class ChannelCannotRemind(InvalidInput):
    code = "channel_cannot_remind"
    message = "Kênh này chưa gửi được tin nhắc lịch; xin dùng Zalo hoặc Telegram."


def address_hash(crypto: Crypto, channel: str, chat_id: str) -> str:
    return crypto.lookup_hash(f"reminder-address:{channel}:{chat_id}")


def booking_resident(db: Session, code: str) -> tuple[Booking, Resident]:
    row = db.execute(select(Booking, Resident).join(Resident, Booking.resident_id == Resident.id)
                     .where(Booking.code == canonical(code))).first()
    if row is None:
        raise BookingNotFound()
    return row[0], row[1]


def consent_active() -> Exists:
    """SQL condition on `Resident`: a reminders consent that is not withdrawn."""
    return exists().where(Consent.subject_hash == Resident.cccd_hash, Consent.purpose == "reminders",
                          Consent.withdrawn_at.is_(None))


def subscribe_chat(*, db: Session, crypto: Crypto, model: Any, purpose: str, code: str, channel: str,
                   chat_id: str, language: str, consent_notice: str, channels: str = "",
                   fields: Callable[[Resident], dict[str, Any]] = lambda _resident: {}) -> Any:
    """The resident of booking `code` said yes, in this chat, to `purpose` (reminders, announcements):
    the chat is kept encrypted in `model` and the consent filed with the notice they were shown."""
    if channel not in PUSH_CHANNELS:
        raise ChannelCannotRemind(channel=channel)
    booking, resident = booking_resident(db, code)
    hashed = address_hash(crypto, channel, chat_id)
    subscription = db.scalar(select(model).where(model.resident_id == resident.id, model.address_hash == hashed))
    if subscription is None:
        subscription = model(resident_id=resident.id, channel=channel, address_hash=hashed,
                             address_enc=crypto.encrypt(f"{channel}:{chat_id}"), **fields(resident))
        db.add(subscription)
    subscription.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    ensure_consent(db, resident, purpose=purpose, notice=consent_notice, channel=channel, channels=channels)
    db.flush()
    record(db, actor=None, action=f"{purpose}.subscribe", entity="booking", entity_id=booking.code, channel=channel,
           **({"reach": channels} if channels else {}))
    return subscription


def subscribe(*, db: Session, crypto: Crypto, code: str, channel: str, chat_id: str, language: str,
              consent_notice: str, reach: Collection[str] = ("chat",)) -> ReminderSubscription | None:
    """A "yes" to reminders by the ways in `reach`. With the chat among them, the chat is subscribed (and
    must be one that can write first); without it — the web chat's yes to ZNS and SMS — only the consent
    is filed: the delivery plan finds the resident by it and writes to the booking's phone."""
    channels = ways_text(reach)
    if "chat" in reach:
        subscription: ReminderSubscription = subscribe_chat(
            db=db, crypto=crypto, model=ReminderSubscription, purpose="reminders", code=code, channel=channel,
            chat_id=chat_id, language=language, consent_notice=consent_notice, channels=channels)
        return subscription
    booking, resident = booking_resident(db, code)
    ensure_consent(db, resident, purpose="reminders", notice=consent_notice, channel=channel, channels=channels)
    record(db, actor=None, action="reminders.subscribe", entity="booking", entity_id=booking.code, channel=channel,
           reach=channels)
    return None


def ensure_consent(db: Session, resident: Resident, *, purpose: str, notice: str, channel: str,
                   channels: str = "") -> None:
    """Files the resident's "yes" for a purpose, unless one naming the same ways is already standing; one
    naming other ways gives way to it (api.consent.service.agree)."""
    agree(Raw(db.connection()), subject_hash=resident.cccd_hash, resident_id=resident.id, purpose=purpose,
          notice_version=notice, channel=channel, now=utcnow(), channels=channels)


def stop_chat(*, db: Session, crypto: Crypto, model: Any, purpose: str, channel: str, chat_id: str) -> int:
    """This chat wants no more of `purpose`: its subscriptions (`model`) go and the consent is stamped
    withdrawn. Returns how many residents it covered."""
    hashed = address_hash(crypto, channel, chat_id)
    residents = list(db.scalars(select(model.resident_id).where(model.address_hash == hashed)))
    db.execute(delete(model).where(model.address_hash == hashed))
    if residents:
        hashes = select(Resident.cccd_hash).where(Resident.id.in_(residents)).scalar_subquery()
        db.execute(update(Consent).where(Consent.subject_hash.in_(hashes), Consent.purpose == purpose,
                                         Consent.withdrawn_at.is_(None)).values(withdrawn_at=utcnow()))
    record(db, actor=None, action=f"{purpose}.stop", entity=purpose, entity_id=channel, residents=len(residents))
    return len(residents)


def stop(*, db: Session, crypto: Crypto, channel: str, chat_id: str) -> int:
    return stop_chat(db=db, crypto=crypto, model=ReminderSubscription, purpose="reminders", channel=channel,
                     chat_id=chat_id)


def stop_phone(*, db: Session, crypto: Crypto, phone: str) -> int:
    """The SMS stop keyword ("TC" sent from a phone, relayed by the gateway): every resident whose booking
    phone this is gets no more reminders — their subscriptions go and the consent is stamped withdrawn.
    A number that is no mobile number stops nothing. Audited by count only: the number is personal data
    and the audit log is read by staff. Returns how many residents it covered."""
    try:
        hashed = phone_hash(crypto, normalize_phone(phone))
    except InvalidInput:
        residents: list[int] = []
    else:
        residents = list(db.scalars(select(Resident.id).where(Resident.phone_hash == hashed)))
    if residents:
        db.execute(delete(ReminderSubscription).where(ReminderSubscription.resident_id.in_(residents)))
        hashes = select(Resident.cccd_hash).where(Resident.id.in_(residents)).scalar_subquery()
        db.execute(update(Consent).where(Consent.subject_hash.in_(hashes), Consent.purpose == "reminders",
                                         Consent.withdrawn_at.is_(None)).values(withdrawn_at=utcnow()))
    record(db, actor=None, action="reminders.stop", entity="reminders", entity_id="sms", residents=len(residents))
    return len(residents)


def forget_subscriptions(db: Session, model: Any, cccd_hash: str) -> None:
    """A consent withdrawn through the data-rights flow: that person's chats in `model` are dropped."""
    db.execute(delete(model).where(model.resident_id.in_(select(Resident.id).where(Resident.cccd_hash == cccd_hash))))


def confirm(*, db: Session, crypto: Crypto, code: str, channel: str, chat_id: str) -> Booking:
    """"Tôi sẽ đến" on a reminder: noted on that booking's reminders, for the station's planning."""
    booking, resident = booking_resident(db, code)
    subscribed = db.scalar(select(ReminderSubscription.id).where(
        ReminderSubscription.resident_id == resident.id,
        ReminderSubscription.address_hash == address_hash(crypto, channel, chat_id)))
    if subscribed is None:
        raise BookingNotFound()  # the same answer as an unknown code: no guessing whose booking it is
    db.execute(update(ReminderLog).where(ReminderLog.booking_id == booking.id).values(detail="confirmed"))
    return booking
