"""The delivery plan of one reminder or booking confirmation: the resident's chat while the platform
lets us write there → a ZNS template to the booking's phone → an SMS → recorded as undeliverable, with
each step's reason. Only the steps the resident's reminders consent names are tried; phones are written
to between 06:00 and 21:00 only.

A step that cannot reach the person (Zalo's 48 hours are over, the number is not on Zalo, the template
is not approved, the quota is spent, a channel is not configured) gives way to the next one at once; a
step that may work later (the gateway or the provider is down, a rate limit, ZNS's night hours) is tried
again by a later run, up to `STEP_ATTEMPTS` times, then gives way too (the last step keeps trying while
the reminder is due; then it expires, dispatch.expire). Each step has its own key at the gateway, which
keeps a key only once its message went out and answers a repeat "duplicate": a run that died after a send
and is taken over by another does not send it again, and one that died after a refusal is refused again
and moves on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from babel.dates import format_date
from sqlalchemy import update
from sqlalchemy.orm import Session

from api.core.clock import to_local
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.notify import PHONE_CHANNELS, Delivery, Notifier
from api.notifications import templates
from api.notifications.models import ReminderLog
from api.notifications.reminders import PUSH_CHANNELS
from common.errors import InvalidInput
from common.identity import normalize_phone
from common.vocabulary import DEFAULT_LANGUAGE

# A retryable failure on one step is tried this many times (five minutes apart) before the next step.
STEP_ATTEMPTS = 3
# Phones are not woken at night: ZNS and SMS wait for the morning (Zalo refuses ZNS 22:00–06:00 anyway).
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(6, 0)
CHAT_CHANNELS = PUSH_CHANNELS


@dataclass
class Candidate:
    """An appointment (or a fresh booking) whose resident may be reminded, with the ways they agreed to."""

    booking_id: int
    code: str
    status: str
    booking_channel: str
    booked_at: datetime
    starts_at: datetime
    site_name: str
    site_address: str
    site_phone: str
    phone_enc: str
    # What the resident's reminders consent names ("chat", "zns", "sms"), and their chat if one is subscribed.
    reach: frozenset[str]
    channel: str = ""
    address_enc: str = ""
    language: str = DEFAULT_LANGUAGE
    changed_at: datetime | None = None  # the booking's last change (a cancellation's time)

    @property
    def place(self) -> str:
        return f"{self.site_name}, {self.site_address}" if self.site_address else self.site_name


@dataclass(frozen=True)
class Claimed:
    """A reminder this run may carry, and where its plan stood: the step in hand (`channel`, "" before the
    first), the attempts on it, the steps that failed before."""

    entry_id: int
    channel: str
    attempts: int
    trail: str


@dataclass(frozen=True)
class Letter:
    """What is to be said: `kind` for the appointment of `candidate`, as chat messages or a phone template."""

    candidate: Candidate
    kind: str
    chat_messages: Callable[[], list[dict[str, Any]]]
    template: templates.TemplateSet


@dataclass(frozen=True)
class Result:
    status: str  # sent | retry | undeliverable
    channel: str
    detail: str
    trail: str
    attempts: int
    retry_at: datetime | None = None  # a retry not in the usual few minutes (the morning, for a phone)


def steps(letter: Letter) -> list[str]:
    """The plan for this resident, in order; a confirmation is never said in a chat (see dispatch.due_kinds)."""
    candidate, reach = letter.candidate, letter.candidate.reach
    planned = []
    if letter.kind != "booked" and candidate.channel in CHAT_CHANNELS and "chat" in reach:
        planned.append(candidate.channel)
    planned += [step for step in PHONE_CHANNELS if step in reach]
    return planned


def values(candidate: Candidate, settings: Settings) -> dict[str, str]:
    """The fields a template may use (api/notifications/templates.py FIELDS)."""
    local = to_local(candidate.starts_at)
    return {"time": local.strftime("%H:%M"), "date": local.strftime("%d/%m/%Y"),
            "weekday": format_date(local.date(), "EEEE", locale="vi"), "place": candidate.site_name,
            "address": candidate.site_address, "station_phone": candidate.site_phone,
            "stop_number": settings.sms_stop_number, "code": candidate.code}


def international(phone: str) -> str:
    """0912345678 -> 84912345678, as Zalo and the SMS providers take it."""
    return "84" + normalize_phone(phone)[1:]


def morning(now: datetime) -> datetime | None:
    """When a phone may be written to next, if not now (local quiet hours)."""
    local = to_local(now)
    if QUIET_UNTIL <= local.time() < QUIET_FROM:
        return None
    day = local.date() + timedelta(days=1) if local.time() >= QUIET_FROM else local.date()
    return datetime.combine(day, QUIET_UNTIL, tzinfo=local.tzinfo)


def carry(claimed: Claimed, letter: Letter, *, crypto: Crypto, settings: Settings, notifier: Notifier,
          now: datetime) -> Result:
    planned = steps(letter)
    trail = claimed.trail
    if not planned:
        return Result("undeliverable", "", "no_channel", trail, claimed.attempts)
    start = planned.index(claimed.channel) if claimed.channel in planned else 0
    attempts = claimed.attempts if claimed.channel in planned else 1
    reason = ""
    for step in planned[start:]:
        wait = morning(now) if step in PHONE_CHANNELS else None
        if wait is not None:  # not counted as an attempt: nothing was tried
            return Result("retry", step, "night", trail, attempts - 1, retry_at=wait)
        answer = _send(step, claimed.entry_id, letter, crypto=crypto, settings=settings, notifier=notifier)
        status, _sep, reason = answer.partition(":")
        if status == "sent":
            return Result("sent", step, "", trail, attempts)
        # The last step keeps trying while the reminder is due: an outage delays it, nothing else could.
        if status == "retry" and (attempts < STEP_ATTEMPTS or step == planned[-1]):
            return Result("retry", step, reason or "retry", trail, attempts)
        reason = reason or "gave_up"
        trail = f"{trail} {'chat' if step in CHAT_CHANNELS else step}:{reason}".strip()
        attempts = 1
    return Result("undeliverable", planned[-1], reason, trail, attempts)


def _send(step: str, entry_id: int, letter: Letter, *, crypto: Crypto, settings: Settings,
          notifier: Notifier) -> str:
    candidate = letter.candidate
    if step in CHAT_CHANNELS:
        channel, _sep, chat_id = crypto.decrypt(candidate.address_enc).partition(":")
        # The key of the chat step is the one reminders always had: a reminder claimed before this plan
        # existed is not sent twice.
        return notifier.send(Delivery(key=f"reminder-{entry_id}", channel=channel, chat_id=chat_id,
                                      language=candidate.language, messages=letter.chat_messages()))
    try:
        phone = international(crypto.decrypt(candidate.phone_enc))
    except InvalidInput:
        return "undeliverable:invalid_phone"
    filled = values(candidate, settings)
    key = f"reminder-{entry_id}-{step}"
    if step == "zns":
        if not letter.template.zns_template_id:
            return "undeliverable:no_template"
        return notifier.send(Delivery(key=key, channel="zns", phone=phone,
                                      template_id=letter.template.zns_template_id,
                                      template_data=templates.zns_data(letter.template, filled)))
    return notifier.send(Delivery(key=key, channel="sms", phone=phone,
                                  text=templates.sms_text(letter.template, filled, settings.sms_encoding)))


def mark_delivered(db: Session, key: str, at: datetime) -> bool:
    """The gateway heard from Zalo (or the SMS provider) that the message of step key
    "reminder-<id>-<step>" reached the phone. False for a key that is not one of ours."""
    entry_id, _sep, step = key.removeprefix("reminder-").partition("-")
    if not key.startswith("reminder-") or not entry_id.isdigit() or step not in PHONE_CHANNELS:
        return False
    updated = db.execute(update(ReminderLog).where(
        ReminderLog.id == int(entry_id), ReminderLog.channel == step, ReminderLog.delivered_at.is_(None),
    ).values(delivered_at=at))
    return bool(updated.rowcount)  # type: ignore[attr-defined]
