"""What became of a campaign day's reminders, for station staff and admins: how many of each kind went by
which step (chat, ZNS, SMS) and how it ended; and the people nothing reached, for the station to phone.

The day is the exam date (local time): a reminder belongs to the day of the appointment it is about.
A commune's staff see the reminders of the appointments at their commune's sites.

Who is to be phoned: a resident whose appointment that day still stands, with a message about it that
could not be delivered and no reminder (day before, two hours before) that reached them. A confirmation
that arrived at booking time does not take them off the list (it was days ago), a reminder that arrived
does; a message still being tried does neither.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, case, func, or_, select
from sqlalchemy.orm import Session

from api.bookings.models import Booking
from api.communes.models import Site
from api.core.clock import start_of_local_day, to_local
from api.core.crypto import Crypto
from api.core.i18n import N_
from api.notifications.models import ReminderLog
from api.notifications.templates import KIND_NAMES, KINDS
from api.residents.models import Resident
from api.sessions.models import ExamSession
from common.booking_codes import canonical
from common.masking import mask

OUTCOMES = ("sent", "delivered", "pending", "undeliverable")
OUTCOME_NAMES = {"sent": N_("Đã gửi"), "delivered": N_("Đã đến máy (có báo nhận)"),
                 "pending": N_("Đang gửi, chờ gửi lại"), "undeliverable": N_("Không gửi được")}
# The steps of the delivery plan (api/notifications/plan.py): a chat channel in `channel`, "chat" in a trail.
STEPS = ("telegram", "zalo", "chat", "zns", "sms", "")
STEP_NAMES = {"telegram": "Telegram", "zalo": N_("Zalo (trò chuyện)"), "chat": N_("Trò chuyện"),
              "zns": N_("Zalo ZNS"), "sms": "SMS", "": N_("Chưa có kênh")}
CHAT_STEPS = ("telegram", "zalo")
# Why a step did not reach the person, as the plan and the gateway record it; a code not listed here is
# shown as it is.
REASONS = {
    "outside_window": N_("quá 48 giờ từ tin nhắn cuối trên Zalo"),
    "not_on_zalo": N_("số không dùng Zalo"),
    "quota": N_("hết hạn mức tin nhắn (ZNS hoặc SMS)"),
    "no_channel": N_("không có kênh nào được đồng ý"),
    "channel_off": N_("kênh chưa cấu hình"),
    "template_rejected": N_("mẫu ZNS chưa được Zalo duyệt"),
    "no_template": N_("chưa có mẫu ZNS được duyệt"),
    "invalid_phone": N_("số điện thoại không đúng"),
    "blocked": N_("người dân đã từ chối tin của OA"),
    "gave_up": N_("đã thử nhiều lần không được"),
    "expired": N_("hết thời gian gửi"),
    "error": N_("lỗi hệ thống khi gửi"),
    "sms_auth": N_("tài khoản SMS không hợp lệ"),
    "sms_brandname": N_("tên thương hiệu SMS chưa đăng ký"),
    "sms_template": N_("nội dung SMS chưa đăng ký với nhà mạng"),
    "confirmed": N_("người dân đã trả lời “Tôi sẽ đến”"),
}
# Messages about the appointment ahead; the follow-up after the exam is counted, never phoned about.
BEFORE_EXAM = ("booked", "day_before", "two_hours")
REMINDERS = ("day_before", "two_hours")
# `detail` of a reminder the resident answered "Tôi sẽ đến" to (api/notifications/reminders.confirm).
CONFIRMED = "confirmed"


def outcome(status: str, delivered: bool) -> str:
    if status == "sent":
        return "delivered" if delivered else "sent"
    return "undeliverable" if status == "undeliverable" else "pending"


def reason_name(code: str) -> str:
    return REASONS.get(code, code)


def failed_steps(channel: str, detail: str, trail: str, status: str) -> list[tuple[str, str]]:
    """Each step that did not reach the person and why, in order: the trail, then the step in hand when
    the reminder ended undeliverable there (the plan writes the last step into the trail too, once)."""
    steps = [(step, reason) for step, _sep, reason in (item.partition(":") for item in trail.split())]
    if status == "undeliverable" and detail:
        last = ("chat" if channel in CHAT_STEPS else channel, detail)
        if not steps or steps[-1] != last:
            steps.append(last)
    return steps


@dataclass
class Line:
    """The reminders of one kind that ended on one step, by outcome."""

    kind: str
    channel: str
    counts: Counter[str] = field(default_factory=Counter)


@dataclass
class DayCounts:
    day: date
    commune_id: int | None
    lines: list[Line]
    totals: Counter[str]
    # Final reasons of the undeliverable ones; every step that had to give way (reminders that then went
    # by ZNS or SMS included), as (step, reason).
    undeliverable: Counter[str]
    gave_way: Counter[tuple[str, str]]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    return start_of_local_day(day), start_of_local_day(day + timedelta(days=1))


def _scoped(query: Select[*tuple[Any, ...]], commune_id: int | None) -> Select[*tuple[Any, ...]]:
    return query if commune_id is None else query.where(Site.commune_id == commune_id)


def day_counts(db: Session, day: date, commune_id: int | None) -> DayCounts:
    """The reminders about appointments on `day`, counted by kind × step × outcome."""
    since, until = _day_bounds(day)
    delivered = case((ReminderLog.delivered_at.is_(None), 0), else_=1)
    query = (select(ReminderLog.kind, ReminderLog.channel, ReminderLog.status, delivered, ReminderLog.detail,
                    ReminderLog.trail, func.count(ReminderLog.id))
             .join(Booking, ReminderLog.booking_id == Booking.id)
             .join(ExamSession, Booking.session_id == ExamSession.id)
             .join(Site, ExamSession.site_id == Site.id)
             .where(ReminderLog.starts_at >= since, ReminderLog.starts_at < until)
             .group_by(ReminderLog.kind, ReminderLog.channel, ReminderLog.status, delivered, ReminderLog.detail,
                       ReminderLog.trail))
    lines: dict[tuple[str, str], Line] = {}
    totals: Counter[str] = Counter()
    undeliverable: Counter[str] = Counter()
    gave_way: Counter[tuple[str, str]] = Counter()
    for kind, channel, status, was_delivered, detail, trail, count in db.execute(_scoped(query, commune_id)):
        result = outcome(str(status), bool(was_delivered))
        line = lines.setdefault((str(kind), str(channel)), Line(str(kind), str(channel)))
        line.counts[result] += int(count)
        totals[result] += int(count)
        if result == "undeliverable":
            undeliverable[str(detail) or "gave_up"] += int(count)
        for step in failed_steps(str(channel), str(detail), str(trail), str(status)):
            gave_way[step] += int(count)
    order = {kind: index for index, kind in enumerate(KINDS)}
    ranked = sorted(lines.values(), key=lambda line: (order.get(line.kind, len(KINDS)), _step_rank(line.channel)))
    return DayCounts(day, commune_id, ranked, totals, undeliverable, gave_way)


def _step_rank(step: str) -> int:
    return STEPS.index(step) if step in STEPS else len(STEPS)


@dataclass(frozen=True)
class Attempt:
    """One message about the appointment, as the list to phone shows it."""

    kind: str
    outcome: str
    failed: list[tuple[str, str]]

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, self.kind)


@dataclass
class ToCall:
    code: str
    full_name: str
    starts_at: datetime  # local
    site_name: str
    commune_id: int
    phone_masked: str
    phone_enc: str
    attempts: list[Attempt]


def to_call(db: Session, crypto: Crypto, day: date, commune_id: int | None) -> list[ToCall]:
    """The residents of `day` to phone, by session time then name."""
    since, until = _day_bounds(day)
    query = _to_call_query().where(ExamSession.starts_at >= since, ExamSession.starts_at < until)
    return _callees(db.execute(_scoped(query, commune_id)).all(), crypto)


def callee(db: Session, crypto: Crypto, code: str) -> ToCall | None:
    """The booking `code` if its resident is on a list to phone (whatever the day), else None."""
    canonical_code = canonical(code)
    if canonical_code is None:
        return None
    found = _callees(db.execute(_to_call_query().where(Booking.code == canonical_code)).all(), crypto)
    return found[0] if found else None


def _to_call_query() -> Select[*tuple[Any, ...]]:
    return (select(Booking.id.label("booking_id"), Booking.code, Resident.full_name, Resident.phone_enc,
                   ExamSession.starts_at.label("starts_at"), Site.name.label("site_name"), Site.commune_id,
                   ReminderLog.kind, ReminderLog.channel, ReminderLog.status,
                   ReminderLog.delivered_at, ReminderLog.detail, ReminderLog.trail)
            .join(Resident, Booking.resident_id == Resident.id)
            .join(ExamSession, Booking.session_id == ExamSession.id)
            .join(Site, ExamSession.site_id == Site.id)
            # The reminders of the appointment as it stands (not of a time it was moved from).
            .join(ReminderLog, (ReminderLog.booking_id == Booking.id)
                  & (ReminderLog.starts_at == ExamSession.starts_at))
            .where(or_((Booking.status == "confirmed") & ReminderLog.kind.in_(BEFORE_EXAM),
                       # the notice that staff cancelled the session, to residents it cancelled
                       (Booking.cancel_reason == "session") & (ReminderLog.kind == "cancelled")))
            .order_by(ExamSession.starts_at, Resident.full_name, Booking.id))


def _callees(rows: Sequence[Row[Any]], crypto: Crypto) -> list[ToCall]:
    grouped: dict[int, list[Row[Any]]] = defaultdict(list)
    for row in rows:
        grouped[row.booking_id].append(row)
    order = {kind: index for index, kind in enumerate(KINDS)}
    found = []
    for booking_rows in grouped.values():
        attempts = sorted((Attempt(r.kind, outcome(r.status, r.delivered_at is not None),
                                   failed_steps(r.channel, r.detail, r.trail, r.status)) for r in booking_rows),
                          key=lambda attempt: order.get(attempt.kind, len(KINDS)))
        if not _needs_call(attempts, answered=any(r.detail == CONFIRMED for r in booking_rows)):
            continue
        first = booking_rows[0]
        found.append(ToCall(first.code, first.full_name, to_local(first.starts_at), first.site_name,
                            first.commune_id, mask(crypto.decrypt(first.phone_enc)), first.phone_enc, attempts))
    return found


def _needs_call(attempts: list[Attempt], *, answered: bool) -> bool:
    told = [a for a in attempts if a.kind == "cancelled"]
    if told:  # the session was cancelled: phoned unless the notice reached them
        return any(a.outcome == "undeliverable" for a in told)
    if answered:  # they pressed "Tôi sẽ đến" on one of them
        return False
    reached = any(a.kind in REMINDERS and a.outcome in ("sent", "delivered") for a in attempts)
    return not reached and any(a.outcome == "undeliverable" for a in attempts)
