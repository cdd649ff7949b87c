"""Figures for the monthly report (reference plan, section 5) and the reports page: appointments of a
period counted by commune, site, age group, channel, organisation, day or month; outreach through
cadres' links; questions asked and left unanswered; audio plays per language. Counts only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.bookings.models import Booking
from api.communes.models import Commune, Site
from api.core.clock import start_of_local_day, to_local
from api.core.i18n import N_
from api.core.usage import UsageCount
from api.faq.models import UnansweredQuestion
from api.notifications.models import ReminderLog
from api.outreach.models import ORGANISATIONS, ReferralLink
from api.outreach.service import funnels
from api.residents.models import Resident
from api.sessions.models import ExamSession
from common.errors import InvalidInput

DIMENSIONS = {
    "commune": N_("Xã/phường"), "site": N_("Điểm khám"), "group": N_("Nhóm tuổi"), "channel": N_("Kênh"),
    "organisation": N_("Tổ chức giới thiệu"), "day": N_("Ngày"), "month": N_("Tháng"),
}
# Age bands of the programme's priority groups (the elderly first); the resident's birth year only.
AGE_GROUPS = ((60, N_("Người cao tuổi (từ 60)")), (16, N_("Người lớn (16–59)")), (0, N_("Trẻ em (dưới 16)")))
CHANNELS = {"web": N_("Trang web"), "zalo": "Zalo", "telegram": "Telegram", "cadre": N_("Cán bộ đặt giúp"),
            "station": N_("Trạm y tế đặt"), "api": N_("Hệ thống khác")}
NO_ORGANISATION = N_("Tự đặt (không qua đường dẫn)")
ERASED = N_("Không rõ (đã xóa theo yêu cầu)")


class BadPeriod(InvalidInput):
    code = "bad_period"
    message = "Khoảng thời gian không hợp lệ (tháng dạng 2026-12, hoặc từ ngày đến ngày, tối đa 366 ngày)."


@dataclass
class Row:
    key: str
    label: str
    booked: int = 0
    attended: int = 0
    no_show: int = 0
    waitlisted: int = 0
    cancelled: int = 0

    @property
    def attendance_rate(self) -> float | None:
        """Of those whose exam day has come (examined or not shown), the share examined."""
        decided = self.attended + self.no_show
        return self.attended / decided if decided else None


@dataclass
class Period:
    start: date
    end: date  # inclusive

    @classmethod
    def of_month(cls, month: str) -> Period:
        try:
            year, number = (int(part) for part in month.split("-"))
            start = date(year, number, 1)
        except ValueError:
            raise BadPeriod() from None
        following = date(year + number // 12, number % 12 + 1, 1)
        return cls(start, following - timedelta(days=1))

    @classmethod
    def between(cls, start: date, end: date) -> Period:
        if end < start or (end - start).days > 366:
            raise BadPeriod()
        return cls(start, end)


def age_group(birth_year: int | None, on: date) -> tuple[str, str]:
    if birth_year is None:
        return "unknown", ERASED
    age = on.year - birth_year
    for index, (minimum, label) in enumerate(AGE_GROUPS):
        if age >= minimum:
            return f"g{index}", label
    return "g2", AGE_GROUPS[-1][1]


def appointments(db: Session, period: Period, *, by: str, commune_id: int | None = None) -> list[Row]:
    """Appointments whose exam falls in the period, by one dimension (rows sorted by key)."""
    if by not in DIMENSIONS:
        raise InvalidInput("Không có cách chia này.", field="by", allowed=sorted(DIMENSIONS))
    query = (select(Booking.status, Booking.channel, Booking.referral_code, ExamSession.starts_at, Site.id,
                    Site.name, Commune.id, Commune.name, Resident.birth_year)
             .join(ExamSession, Booking.session_id == ExamSession.id).join(Site, ExamSession.site_id == Site.id)
             .join(Commune, Site.commune_id == Commune.id).outerjoin(Resident, Booking.resident_id == Resident.id)
             .where(ExamSession.starts_at >= start_of_local_day(period.start),
                    ExamSession.starts_at < start_of_local_day(period.end + timedelta(days=1))))
    if commune_id is not None:
        query = query.where(Commune.id == commune_id)
    organisation_of = dict(db.execute(select(ReferralLink.code, ReferralLink.organisation)).all())
    rows: dict[str, Row] = {}
    for status, channel, referral, starts_at, site_id, site, cid, commune, birth_year in db.execute(query):
        day = to_local(starts_at).date()
        if by == "commune":
            key, label = str(cid), commune
        elif by == "site":
            key, label = str(site_id), f"{site} ({commune})"
        elif by == "group":
            key, label = age_group(birth_year, day)
        elif by == "channel":
            key, label = channel, CHANNELS.get(channel, channel)
        elif by == "organisation":
            organisation = organisation_of.get(referral or "")
            key, label = (organisation, ORGANISATIONS[organisation][1]) if organisation else ("none", NO_ORGANISATION)
        elif by == "day":
            key = label = day.isoformat()
        else:
            key = label = day.strftime("%Y-%m")
        row = rows.setdefault(key, Row(key, label))
        row.booked += 1
        if status in ("attended", "no_show", "waitlisted", "cancelled"):
            setattr(row, status, getattr(row, status) + 1)
    return [rows[key] for key in sorted(rows)]


def total(rows: list[Row]) -> Row:
    summed = Row("total", N_("Tổng cộng"))
    for row in rows:
        for name in ("booked", "attended", "no_show", "waitlisted", "cancelled"):
            setattr(summed, name, getattr(summed, name) + getattr(row, name))
    return summed


@dataclass
class Usage:
    questions: dict[str, int] = field(default_factory=dict)       # per channel
    unanswered: dict[str, int] = field(default_factory=dict)      # per channel
    audio_plays: dict[str, int] = field(default_factory=dict)     # per language
    reminders: dict[str, int] = field(default_factory=dict)       # per outcome


def usage(db: Session, period: Period) -> Usage:
    result = Usage()
    for kind, key, count in db.execute(
            select(UsageCount.kind, UsageCount.key, func.sum(UsageCount.count))
            .where(UsageCount.day.between(period.start, period.end), UsageCount.kind.in_(("question", "audio_play")))
            .group_by(UsageCount.kind, UsageCount.key)):
        target = result.questions if kind == "question" else result.audio_plays
        target[key] = int(count)
    since, until = start_of_local_day(period.start), start_of_local_day(period.end + timedelta(days=1))
    for channel, count in db.execute(
            select(UnansweredQuestion.channel, func.count(UnansweredQuestion.id))
            .where(UnansweredQuestion.created_at >= since, UnansweredQuestion.created_at < until)
            .group_by(UnansweredQuestion.channel)):
        result.unanswered[channel or "web"] = int(count)
    for status, detail, count in db.execute(
            select(ReminderLog.status, ReminderLog.detail, func.count(ReminderLog.id))
            .where(ReminderLog.updated_at >= since, ReminderLog.updated_at < until)
            .group_by(ReminderLog.status, ReminderLog.detail)):
        key = "confirmed" if detail == "confirmed" else status
        result.reminders[key] = result.reminders.get(key, 0) + int(count)
    return result


@dataclass
class Outreach:
    organisation: str
    links: int
    opened: int
    chat_started: int
    booked: int
    attended: int


def outreach(db: Session) -> list[Outreach]:
    """Cadres' links so far, by organisation (their funnels are cumulative)."""
    links = list(db.scalars(select(ReferralLink)))
    per_link = funnels(db, links)
    grouped: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for link in links:
        totals = grouped[link.organisation]
        funnel = per_link[link.id]
        for index, value in enumerate((1, funnel.opened, funnel.chat_started, funnel.booked, funnel.attended)):
            totals[index] += value
    return [Outreach(ORGANISATIONS[key][1], *values) for key, values in sorted(grouped.items())]
