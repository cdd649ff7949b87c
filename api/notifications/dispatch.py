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
from api.consent.models import Consent
from api.content.service import message_texts, text_for
from api.core.clock import local_tz, to_local
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.core.i18n import babel_locale
from api.core.notify import Notifier
from api.notifications import plan, templates
from api.notifications.models import ReminderLog, ReminderSubscription
from api.notifications.plan import Candidate, Claimed
from api.notifications.reminders import PUSH_CHANNELS, consent_active
from api.residents.models import Resident
from api.sessions.models import ExamSession
from common.vocabulary import DEFAULT_LANGUAGE

log = logging.getLogger(__name__)

KINDS = templates.KINDS
# What the chat says for each kind; a confirmation is not said in a chat (see `due_kinds`).
MESSAGE_KEYS = {"day_before": "utter_reminder_day_before", "two_hours": "utter_reminder_two_hours",
                "followup": "utter_reminder_followup", "cancelled": "reminder_session_cancelled"}
# The buttons under a reminder: messages of the content store (bot/texts/reminders.yml), said in the
# resident's language once staff have published it there, else in Vietnamese.
CONFIRM, RESCHEDULE, CANCEL, STOP, CHECK_RECORD, BOOK_AGAIN = (
    "reminder_button_confirm", "reminder_button_reschedule", "reminder_button_cancel", "reminder_button_stop",
    "reminder_button_check_record", "reminder_button_book_again")
TEXT_KEYS = (*MESSAGE_KEYS.values(), CONFIRM, RESCHEDULE, CANCEL, STOP, CHECK_RECORD, BOOK_AGAIN)
SEND_HOUR = time(9, 0)  # day-before and follow-up reminders go out in the morning, not at midnight
RETRY_AFTER = timedelta(minutes=5)
STALE_CLAIM = timedelta(minutes=10)


def window(kind: str, starts_at: datetime, changed_at: datetime | None = None) -> tuple[datetime, datetime]:
    """When a reminder may go out: [from, until). A confirmation goes out as soon as the booking is made
    (`changed_at`), a cancelled session's notice as soon as staff cancel it: while it still helps, within
    a day and before the exam."""
    if kind in ("booked", "cancelled"):
        opened = changed_at or starts_at
        return opened, min(opened + timedelta(days=1), starts_at)
    local = to_local(starts_at)
    if kind == "day_before":
        return datetime.combine(local.date() - timedelta(days=1), SEND_HOUR, tzinfo=local_tz()), \
            starts_at - timedelta(hours=3)
    if kind == "two_hours":
        return starts_at - timedelta(hours=2), starts_at - timedelta(minutes=15)
    opens = datetime.combine(local.date() + timedelta(days=3), SEND_HOUR, tzinfo=local_tz())
    return opens, opens + timedelta(days=7)


@dataclass
class Outcome:
    counts: Counter[str] = field(default_factory=Counter)  # by status
    reached: Counter[str] = field(default_factory=Counter)  # sent, by the channel that carried it


# What a candidate is read from, labelled (one query per reason a reminder may be due, see `candidates`).
_COLUMNS = (Booking.id.label("booking_id"), Booking.code, Booking.status, Booking.channel.label("booking_channel"),
            Booking.created_at.label("booked_at"), ExamSession.starts_at, Site.name.label("site_name"),
            Site.address.label("site_address"), Site.phone.label("site_phone"), Resident.phone_enc,
            Resident.id.label("resident_id"), Resident.cccd_hash, Booking.updated_at.label("changed_at"))
CHUNK = 500  # ids per IN list: well under SQLite's and PostgreSQL's parameter limits


def candidates(database: Database, now: datetime) -> list[Candidate]:
    """Appointments near enough for a reminder, bookings recent enough for a confirmation, and sessions
    staff cancelled today, whose resident has a reminders consent standing: their chat if one is
    subscribed, and the ways the consent names. Each reason is its own query on its own index (the
    session's start, the booking's creation, the session's start again), run every half minute."""
    base = (select(*_COLUMNS).join(Resident, Booking.resident_id == Resident.id)
            .join(ExamSession, Booking.session_id == ExamSession.id).join(Site, ExamSession.site_id == Site.id)
            .where(consent_active()))
    near = base.where(Booking.status.in_(("confirmed", "attended")),
                      ExamSession.starts_at.between(now - timedelta(days=11), now + timedelta(days=2)))
    # Booked today outside a Zalo or Telegram chat, for a later session (a nearer one is `near` already).
    fresh = base.where(Booking.status == "confirmed", Booking.created_at > now - timedelta(days=1),
                       Booking.channel.not_in(PUSH_CHANNELS), ExamSession.starts_at > now + timedelta(days=2))
    told = base.where(Booking.status == "cancelled", Booking.cancel_reason == "session",
                      ExamSession.status == "cancelled", ExamSession.starts_at > now,
                      Booking.updated_at > now - timedelta(days=1))
    with database.read() as db:
        rows = {row.booking_id: row for query in (near, fresh, told) for row in db.execute(query)}
        if not rows:
            return []
        chats: dict[int, tuple[str, str, str]] = {}
        reach: dict[str, frozenset[str]] = {}
        ordered = sorted(rows.values(), key=lambda row: row.booking_id)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start:start + CHUNK]
            for resident_id, channel, address_enc, language in db.execute(
                    select(ReminderSubscription.resident_id, ReminderSubscription.channel,
                           ReminderSubscription.address_enc, ReminderSubscription.language)
                    .where(ReminderSubscription.resident_id.in_([row.resident_id for row in chunk]))
                    .order_by(ReminderSubscription.created_at)):
                chats[resident_id] = (channel, address_enc, language)  # the chat subscribed last
            for subject, channels in db.execute(
                    select(Consent.subject_hash, Consent.channels)
                    .where(Consent.subject_hash.in_([row.cccd_hash for row in chunk]), Consent.purpose == "reminders",
                           Consent.withdrawn_at.is_(None)).order_by(Consent.given_at, Consent.id)):
                # A consent given before the notice named ZNS and SMS covers the chat only.
                reach[subject] = frozenset((channels or "chat").split())
    found = []
    for row in ordered:
        channel, address_enc, language = chats.get(row.resident_id, ("", "", DEFAULT_LANGUAGE))
        found.append(Candidate(
            booking_id=row.booking_id, code=row.code, status=row.status, booking_channel=row.booking_channel,
            booked_at=row.booked_at, starts_at=row.starts_at, site_name=row.site_name,
            site_address=row.site_address or "", site_phone=row.site_phone or "", phone_enc=row.phone_enc,
            reach=reach.get(row.cccd_hash, frozenset()), channel=channel, address_enc=address_enc,
            language=language, changed_at=row.changed_at))
    return found


def due_kinds(candidate: Candidate, now: datetime) -> list[str]:
    kinds = []
    for kind in KINDS:
        if (kind == "followup") != (candidate.status == "attended"):
            continue
        if (kind == "cancelled") != (candidate.status == "cancelled"):
            continue  # only their session's cancellation is said to residents whose booking it cancelled
        if kind == "booked" and candidate.booking_channel in PUSH_CHANNELS:
            continue  # booked in the chat: the code is there already
        opens, closes = window(kind, candidate.starts_at,
                               candidate.booked_at if kind == "booked" else candidate.changed_at)
        if opens <= now < closes:
            kinds.append(kind)
    return kinds


def claim(database: Database, candidate: Candidate, kind: str, now: datetime) -> Claimed | None:
    """The log row this run may send, where its plan stands, or None when another run has it or it
    was already handled."""
    with database.write() as db:
        existing = db.scalar(select(ReminderLog).where(
            ReminderLog.booking_id == candidate.booking_id, ReminderLog.kind == kind,
            ReminderLog.starts_at == candidate.starts_at))
        if existing is not None:
            claimed = Claimed(existing.id, existing.channel, existing.attempts + 1, existing.trail)
            # A retry that is due, or a claim left by a run that died mid-send (the gateway drops repeats).
            taken = db.execute(update(ReminderLog).where(
                ReminderLog.id == existing.id,
                or_((ReminderLog.status == "retry") & (ReminderLog.next_attempt_at <= now),
                    (ReminderLog.status == "sending") & (ReminderLog.updated_at < now - STALE_CLAIM)),
            ).values(status="sending", attempts=ReminderLog.attempts + 1, updated_at=now))
            return claimed if taken.rowcount == 1 else None  # type: ignore[attr-defined]
    try:
        with database.write() as db:
            entry = ReminderLog(booking_id=candidate.booking_id, kind=kind, starts_at=candidate.starts_at,
                                channel="", language=candidate.language, status="sending",
                                attempts=1, updated_at=now)
            db.add(entry)
            db.flush()
            return Claimed(entry.id, "", 1, "")
    except IntegrityError:  # another scheduler claimed it between the look and the insert
        return None


def expire(database: Database, now: datetime) -> int:
    """Reminders still being retried (or left mid-send) after their time has passed: undeliverable
    ("expired"), so they count as not reached and the station phones the resident."""
    with database.write() as db:
        rows = db.execute(
            select(ReminderLog.id, ReminderLog.kind, ReminderLog.starts_at, ReminderLog.channel, ReminderLog.trail,
                   Booking.created_at, Booking.updated_at)
            .join(Booking, ReminderLog.booking_id == Booking.id)
            .where(or_(ReminderLog.status == "retry",
                       (ReminderLog.status == "sending") & (ReminderLog.updated_at < now - STALE_CLAIM)))).all()
        expired = 0
        for entry_id, kind, starts_at, channel, trail, booked_at, changed_at in rows:
            if now < window(kind, starts_at, booked_at if kind == "booked" else changed_at)[1]:
                continue
            step = "chat" if channel in PUSH_CHANNELS else channel or "plan"
            db.execute(update(ReminderLog).where(ReminderLog.id == entry_id).values(
                status="undeliverable", detail="expired", trail=f"{trail} {step}:expired".strip()[-200:],
                next_attempt_at=None, updated_at=now))
            expired += 1
        return expired


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
    elif kind == "cancelled":
        buttons = [[say(BOOK_AGAIN), "/book_exam"]]
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
    expired = expire(database, now)
    if expired:
        log.info("reminders: %d expired while being retried", expired)
    found = candidates(database, now)
    if not found:
        return outcome
    with database.read() as db:
        texts = message_texts(db, TEXT_KEYS)
        clips = playable_clips(db, list(MESSAGE_KEYS.values()))
        phone_templates = templates.all_kinds(db)
    audio_base = sent_audio_base(settings.public_base_url)
    for candidate in found:
        for kind in due_kinds(candidate, now):
            claimed = claim(database, candidate, kind, now)
            if claimed is None:
                continue

            def chat_messages(kind: str = kind, candidate: Candidate = candidate) -> list[dict[str, Any]]:
                return compose(candidate, kind, texts, clips, audio_base)

            try:
                result = plan.carry(claimed, plan.Letter(candidate, kind, chat_messages, phone_templates[kind]),
                                    crypto=crypto, settings=settings, notifier=notifier, now=now)
            except Exception:  # one bad reminder (a key rotated away, a broken text) must not stop the run
                log.exception("reminder %d (%s) failed; tried again later", claimed.entry_id, kind)
                result = plan.Result("retry", claimed.channel, "error", claimed.trail, claimed.attempts)
            with database.write() as db:
                db.execute(update(ReminderLog).where(ReminderLog.id == claimed.entry_id).values(
                    status=result.status, channel=result.channel, detail=result.detail[:64],
                    trail=result.trail[-200:], attempts=result.attempts, updated_at=now,
                    next_attempt_at=(result.retry_at or now + RETRY_AFTER) if result.status == "retry" else None))
            outcome.counts[result.status] += 1
            outcome.reached[result.channel if result.status == "sent" else result.status] += 1
    if outcome.counts:
        log.info("reminders: %s by %s", dict(outcome.counts), dict(outcome.reached))
    return outcome
