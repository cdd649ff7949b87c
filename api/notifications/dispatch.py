"""Sending reminders: which are due, claiming each once, composing it in the resident's language and
handing it to the channel gateway.

Run by the scheduler (`api/notifications/scheduler.py`) every half minute, and callable with any `now`
(tests travel in time with it). The schedule is not stored as timers: each run derives what is due
from the appointments themselves, so a rescheduled or cancelled booking needs no bookkeeping and a
scheduler that was down catches up while the reminder still makes sense. `reminder_log` makes each
reminder of each appointment time go out once, across restarts and several scheduler processes.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from babel.dates import format_datetime
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from api.audio.links import sent_audio_base
from api.audio.service import playable_clips
from api.bookings.models import Booking
from api.communes.models import Site
from api.content.service import message_texts, text_for
from api.core.clock import local_tz, to_local
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.core.i18n import babel_locale
from api.core.notify import Delivery, Notifier
from api.notifications.models import ReminderLog, ReminderSubscription
from api.notifications.reminders import consent_active
from api.residents.models import Resident
from api.sessions.models import ExamSession

log = logging.getLogger(__name__)

KINDS = ("day_before", "two_hours", "followup")
MESSAGE_KEYS = {kind: f"utter_reminder_{kind}" for kind in KINDS}
# The buttons under a reminder: messages of the content store (bot/texts/reminders.yml), said in the
# resident's language once staff have published it there, else in Vietnamese.
CONFIRM, RESCHEDULE, CANCEL, STOP, CHECK_RECORD = (
    "reminder_button_confirm", "reminder_button_reschedule", "reminder_button_cancel", "reminder_button_stop",
    "reminder_button_check_record")
TEXT_KEYS = (*MESSAGE_KEYS.values(), CONFIRM, RESCHEDULE, CANCEL, STOP, CHECK_RECORD)
SEND_HOUR = time(9, 0)  # day-before and follow-up reminders go out in the morning, not at midnight
RETRY_AFTER = timedelta(minutes=5)
STALE_CLAIM = timedelta(minutes=10)


def window(kind: str, starts_at: datetime) -> tuple[datetime, datetime]:
    """When a reminder may go out: [from, until)."""
    local = to_local(starts_at)
    if kind == "day_before":
        return datetime.combine(local.date() - timedelta(days=1), SEND_HOUR, tzinfo=local_tz()), \
            starts_at - timedelta(hours=3)
    if kind == "two_hours":
        return starts_at - timedelta(hours=2), starts_at - timedelta(minutes=15)
    opens = datetime.combine(local.date() + timedelta(days=3), SEND_HOUR, tzinfo=local_tz())
    return opens, opens + timedelta(days=7)


@dataclass
class Candidate:
    booking_id: int
    code: str
    status: str
    starts_at: datetime
    place: str
    channel: str
    address_enc: str
    language: str


@dataclass
class Outcome:
    counts: Counter[str] = field(default_factory=Counter)


def candidates(database: Database, now: datetime) -> list[Candidate]:
    with database.read() as db:
        rows = db.execute(
            select(Booking.id, Booking.code, Booking.status, ExamSession.starts_at, Site.name, Site.address,
                   ReminderSubscription.channel, ReminderSubscription.address_enc, ReminderSubscription.language)
            .join(Resident, Booking.resident_id == Resident.id)
            .join(ReminderSubscription, ReminderSubscription.resident_id == Resident.id)
            .join(ExamSession, Booking.session_id == ExamSession.id)
            .join(Site, ExamSession.site_id == Site.id)
            .where(Booking.status.in_(("confirmed", "attended")), consent_active(),
                   ExamSession.starts_at.between(now - timedelta(days=11), now + timedelta(days=2)))
            .order_by(Booking.id, ReminderSubscription.created_at.desc()))
        seen: set[int] = set()
        found = []
        for row in rows:
            if row[0] in seen:  # one chat per booking: the one subscribed last
                continue
            seen.add(row[0])
            place = f"{row[4]}, {row[5]}" if row[5] else row[4]
            found.append(Candidate(row[0], row[1], row[2], row[3], place, row[6], row[7], row[8]))
        return found


def due_kinds(candidate: Candidate, now: datetime) -> list[str]:
    kinds = []
    for kind in KINDS:
        if (kind == "followup") != (candidate.status == "attended"):
            continue
        opens, closes = window(kind, candidate.starts_at)
        if opens <= now < closes:
            kinds.append(kind)
    return kinds


def claim(database: Database, candidate: Candidate, kind: str, now: datetime) -> int | None:
    """The log row this run may send, or None when another run has it or it was already handled."""
    try:
        with database.write() as db:
            entry = ReminderLog(booking_id=candidate.booking_id, kind=kind, starts_at=candidate.starts_at,
                                channel=candidate.channel, language=candidate.language, status="sending",
                                attempts=1, updated_at=now)
            db.add(entry)
            db.flush()
            return entry.id
    except IntegrityError:
        pass
    with database.write() as db:
        existing = db.scalar(select(ReminderLog).where(
            ReminderLog.booking_id == candidate.booking_id, ReminderLog.kind == kind,
            ReminderLog.starts_at == candidate.starts_at))
        if existing is None:
            return None
        # A retry that is due, or a claim left by a run that died mid-send (the gateway drops repeats).
        taken = db.execute(update(ReminderLog).where(
            ReminderLog.id == existing.id,
            or_((ReminderLog.status == "retry") & (ReminderLog.next_attempt_at <= now),
                (ReminderLog.status == "sending") & (ReminderLog.updated_at < now - STALE_CLAIM)),
        ).values(status="sending", attempts=ReminderLog.attempts + 1, updated_at=now))
        return existing.id if taken.rowcount == 1 else None  # type: ignore[attr-defined]


def compose(candidate: Candidate, kind: str, texts: dict[str, dict[str, str]],
            clips: dict[tuple[str, str], Any], audio_base: str) -> list[dict[str, Any]]:
    language = candidate.language
    key = MESSAGE_KEYS[kind]
    when = format_datetime(to_local(candidate.starts_at), "HH:mm EEEE dd/MM", locale=babel_locale(language))
    code = candidate.code
    text = text_for(texts, key, language, {"when": when, "place": candidate.place, "code": code})

    def say(button: str) -> str:
        return text_for(texts, button, language)

    if kind == "followup":
        buttons = [[say(CHECK_RECORD), "/check_record_status"]]
    else:
        buttons = [[say(CONFIRM), "/inform" + json.dumps({"reminder_choice": "confirm", "booking_code": code})],
                   [say(RESCHEDULE), "/reschedule_booking" + json.dumps({"booking_code": code})],
                   [say(CANCEL), "/cancel_booking" + json.dumps({"booking_code": code})]]
    buttons.append([say(STOP), "/inform" + json.dumps({"reminder_choice": "stop"})])
    messages: list[dict[str, Any]] = [{"text": text, "buttons": buttons}]
    clip = clips.get((key, language)) if language != "vi" else None
    if clip is not None:  # a recording in their language of the reminder's general wording
        messages.append({"text": "", "buttons": [], "audio_url": f"{audio_base}/{clip.mp3_name}",
                         "voice_url": f"{audio_base}/{clip.ogg_name}", "audio_language": language})
    return messages


def dispatch_due(*, database: Database, crypto: Crypto, settings: Settings, notifier: Notifier,
                 now: datetime) -> Outcome:
    outcome = Outcome()
    found = candidates(database, now)
    if not found:
        return outcome
    with database.read() as db:
        texts = message_texts(db, TEXT_KEYS)
        clips = playable_clips(db, list(MESSAGE_KEYS.values()))
    audio_base = sent_audio_base(settings.public_base_url)
    for candidate in found:
        for kind in due_kinds(candidate, now):
            entry_id = claim(database, candidate, kind, now)
            if entry_id is None:
                continue
            channel, _sep, chat_id = crypto.decrypt(candidate.address_enc).partition(":")
            result = notifier.send(Delivery(key=f"reminder-{entry_id}", channel=channel, chat_id=chat_id,
                                            language=candidate.language,
                                            messages=compose(candidate, kind, texts, clips, audio_base)))
            status, _sep, detail = result.partition(":")
            with database.write() as db:
                db.execute(update(ReminderLog).where(ReminderLog.id == entry_id).values(
                    status=status, detail=detail[:64], updated_at=now,
                    next_attempt_at=now + RETRY_AFTER if status == "retry" else None))
            outcome.counts[status] += 1
    if outcome.counts:
        log.info("reminders: %s", dict(outcome.counts))
    return outcome
