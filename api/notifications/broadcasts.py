"""Announcements of a mobile team's visit to the residents of a commune who asked for them.

Staff write, preview (who will get it, on which channel, how it looks), then send. Sending fixes the
recipients in `broadcast_deliveries`; the scheduler works through them in claimed batches at a pace
under the channels' limits, so a crash midway resumes where it stopped and nobody gets it twice (the
gateway also drops a key it has seen). Residents stop announcements from the announcement itself."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, literal, select, update
from sqlalchemy.orm import Session

from api.audit.service import record
from api.communes.service import check_station_scope, get_commune
from api.consent.models import Consent
from api.content.service import message_texts, text_for
from api.core.crypto import Crypto
from api.core.db import Database, UTCDateTime, utcnow
from api.core.errors import Conflict, NotFound
from api.core.notify import Delivery, Notifier
from api.notifications.models import AnnouncementSubscription, Broadcast, BroadcastDelivery
from api.notifications.reminders import (
    stop_chat,
    subscribe_chat,
)
from api.residents.models import Resident
from api.staff.models import StaffUser
from common.errors import InvalidInput
from vntext import nfc

# Messages of the content store (bot/texts/reminders.yml), in the resident's language when published in it.
STOP, READ_IN_VIETNAMESE = "announcement_button_stop", "announcement_read_in_vietnamese"
STOP_PAYLOAD = '/inform{"reminder_choice": "news_stop"}'
STALE_CLAIM = timedelta(minutes=10)


class BroadcastNotFound(NotFound):
    code = "broadcast_not_found"
    message = "Không tìm thấy thông báo này."


class BroadcastNotDraft(Conflict):
    code = "broadcast_not_draft"
    message = "Thông báo này đã được gửi hoặc đã hủy."


# --- residents ------------------------------------------------------------------------------------------

def subscribe(*, db: Session, crypto: Crypto, code: str, channel: str, chat_id: str, language: str,
              consent_notice: str) -> AnnouncementSubscription:
    """Announcements go to the resident's commune."""
    subscription: AnnouncementSubscription = subscribe_chat(
        db=db, crypto=crypto, model=AnnouncementSubscription, purpose="announcements", code=code, channel=channel,
        chat_id=chat_id, language=language, consent_notice=consent_notice,
        fields=lambda resident: {"commune_id": resident.commune_id})
    return subscription


def stop(*, db: Session, crypto: Crypto, channel: str, chat_id: str) -> int:
    return stop_chat(db=db, crypto=crypto, model=AnnouncementSubscription, purpose="announcements",
                     channel=channel, chat_id=chat_id)


# --- staff ----------------------------------------------------------------------------------------------

@dataclass
class Preview:
    commune: str
    recipients: dict[str, int]
    text: str
    buttons: list[list[str]]


def clean_text(text: str) -> str:
    text = nfc(text).strip()
    if not 10 <= len(text) <= 1000:
        raise InvalidInput("Nội dung thông báo cần từ 10 đến 1.000 ký tự.", field="text")
    return text


def preview(db: Session, actor: StaffUser, commune_id: int, text: str) -> Preview:
    commune = get_commune(db, commune_id)
    check_station_scope(actor, commune_id)
    counts = dict(db.execute(select(AnnouncementSubscription.channel, func.count(AnnouncementSubscription.id))
                             .where(AnnouncementSubscription.commune_id == commune_id)
                             .group_by(AnnouncementSubscription.channel)).all())
    return Preview(commune.name, {str(k): int(v) for k, v in counts.items()}, clean_text(text),
                   [[text_for(message_texts(db, [STOP]), STOP), STOP_PAYLOAD]])


def create(*, db: Session, actor: StaffUser, commune_id: int, text: str) -> Broadcast:
    get_commune(db, commune_id)
    check_station_scope(actor, commune_id)
    broadcast = Broadcast(commune_id=commune_id, text=clean_text(text), status="draft", created_by=actor.username)
    db.add(broadcast)
    db.flush()
    record(db, actor=actor, action="broadcast.create", entity="broadcast", entity_id=broadcast.id)
    return broadcast


def get(db: Session, actor: StaffUser, broadcast_id: int) -> Broadcast:
    broadcast = db.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise BroadcastNotFound()
    check_station_scope(actor, broadcast.commune_id)
    return broadcast


def start(*, db: Session, actor: StaffUser, broadcast_id: int) -> int:
    """Fixes the recipients (subscribers with a standing consent) and hands the broadcast to the scheduler."""
    broadcast = get(db, actor, broadcast_id)
    if broadcast.status != "draft":
        raise BroadcastNotDraft()
    consented = select(Consent.id).where(Consent.subject_hash == Resident.cccd_hash,
                                         Consent.purpose == "announcements", Consent.withdrawn_at.is_(None)).exists()
    recipients = (select(literal(broadcast.id), AnnouncementSubscription.id, literal("pending"),
                         literal(utcnow(), UTCDateTime()))
                  .join(Resident, Resident.id == AnnouncementSubscription.resident_id)
                  .where(AnnouncementSubscription.commune_id == broadcast.commune_id, consented))
    db.execute(insert(BroadcastDelivery).from_select(
        ["broadcast_id", "subscription_id", "status", "updated_at"], recipients))
    broadcast.status, broadcast.started_at = "sending", utcnow()
    record(db, actor=actor, action="broadcast.start", entity="broadcast", entity_id=broadcast.id)
    return int(db.scalar(select(func.count(BroadcastDelivery.id))
                         .where(BroadcastDelivery.broadcast_id == broadcast.id)) or 0)


def cancel(*, db: Session, actor: StaffUser, broadcast_id: int) -> None:
    broadcast = get(db, actor, broadcast_id)
    if broadcast.status in ("done", "cancelled"):
        raise BroadcastNotDraft()
    db.execute(update(BroadcastDelivery).where(BroadcastDelivery.broadcast_id == broadcast.id,
                                               BroadcastDelivery.status == "pending").values(status="skipped"))
    broadcast.status, broadcast.finished_at = "cancelled", utcnow()
    record(db, actor=actor, action="broadcast.cancel", entity="broadcast", entity_id=broadcast.id)


def progress(db: Session, broadcast_id: int) -> dict[str, int]:
    return {str(status): int(count) for status, count in db.execute(
        select(BroadcastDelivery.status, func.count(BroadcastDelivery.id))
        .where(BroadcastDelivery.broadcast_id == broadcast_id).group_by(BroadcastDelivery.status))}


# --- sending ----------------------------------------------------------------------------------------------

def claim(database: Database, broadcast_id: int, size: int, now: datetime) -> list[int]:
    """The next recipients this run may send to (pending, or claimed by a run that died)."""
    with database.write() as db:
        ids = list(db.scalars(select(BroadcastDelivery.id).where(
            BroadcastDelivery.broadcast_id == broadcast_id,
            (BroadcastDelivery.status == "pending")
            | ((BroadcastDelivery.status == "sending") & (BroadcastDelivery.updated_at < now - STALE_CLAIM)),
        ).order_by(BroadcastDelivery.id).limit(size)))
        if not ids:
            return []
        db.execute(update(BroadcastDelivery).where(BroadcastDelivery.id.in_(ids)).values(
            status="sending", attempts=BroadcastDelivery.attempts + 1, updated_at=now))
        return ids


Speak = Callable[[str], dict[str, Any] | None]


def dispatch(*, database: Database, crypto: Crypto, notifier: Notifier, rate_per_s: float, budget_s: float,
             batch: int = 50, speak: Speak | None = None) -> Counter[str]:
    """Sends for up to `budget_s` seconds, at most `rate_per_s` messages a second, across broadcasts.

    With `speak` (text → an audio message), residents who chose a minority language also get the
    announcement read aloud in Vietnamese, saying so — staff write one text, nobody records it."""
    monotonic = time.monotonic
    deadline = monotonic() + budget_s
    counts: Counter[str] = Counter()
    interval = 1.0 / rate_per_s
    next_slot = monotonic()
    with database.read() as db:
        sending = list(db.execute(select(Broadcast.id, Broadcast.text).where(Broadcast.status == "sending")
                                  .order_by(Broadcast.id)))
        texts = message_texts(db, [STOP, READ_IN_VIETNAMESE])
    for broadcast_id, text in sending:
        spoken: dict[str, Any] | None | bool = False  # made once per broadcast, when a listener needs it
        while monotonic() < deadline:
            ids = claim(database, broadcast_id, batch, utcnow())
            if not ids:
                _finish(database, broadcast_id)
                break
            with database.read() as db:
                rows = {row[0]: row[1:] for row in db.execute(
                    select(BroadcastDelivery.id, AnnouncementSubscription.address_enc,
                           AnnouncementSubscription.language)
                    .outerjoin(AnnouncementSubscription,
                               AnnouncementSubscription.id == BroadcastDelivery.subscription_id)
                    .where(BroadcastDelivery.id.in_(ids)))}
            results: list[dict[str, object]] = []
            for delivery_id in ids:
                address_enc, language = rows[delivery_id]
                if address_enc is None:  # opted out since sending started
                    status, detail = "skipped", "opted_out"
                else:
                    wait = next_slot - monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    next_slot = max(next_slot, monotonic()) + interval
                    channel, _sep, chat_id = crypto.decrypt(address_enc).partition(":")
                    messages: list[dict[str, Any]] = [
                        {"text": text, "buttons": [[text_for(texts, STOP, language), STOP_PAYLOAD]]}]
                    if language != "vi" and speak is not None:
                        if spoken is False:
                            spoken = speak(text)
                        if isinstance(spoken, dict):
                            messages.append({**spoken, "text": text_for(texts, READ_IN_VIETNAMESE, language)})
                    result = notifier.send(Delivery(
                        key=f"broadcast-{broadcast_id}-{delivery_id}", channel=channel, chat_id=chat_id,
                        language=language, messages=messages))
                    status, _sep, detail = result.partition(":")
                    if status == "retry":
                        status = "pending"
                results.append({"row": delivery_id, "status": status, "detail": detail[:64], "at": utcnow()})
                counts[status] += 1
            # One transaction per batch. A crash before it leaves the batch claimed: it is sent again
            # after STALE_CLAIM with the same keys, which the gateway has already seen and drops.
            table = cast(Table, BroadcastDelivery.__table__)
            with database.write() as db:
                db.connection().execute(table.update().where(table.c.id == bindparam("row")).values(
                    status=bindparam("status"), detail=bindparam("detail"), updated_at=bindparam("at")), results)
    return counts


def _finish(database: Database, broadcast_id: int) -> None:
    with database.write() as db:
        db.execute(update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == "sending")
                   .values(status="done", finished_at=utcnow()))
