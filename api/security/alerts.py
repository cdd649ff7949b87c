"""Alerts for staff: raised where an attack or an identity problem shows, listed per commune.

A repeat of an open alert within the hour raises its count instead of adding a row, so a flood
produces one line to read, not thousands."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.core.errors import NotFound
from api.core.i18n import N_
from api.security.models import SecurityAlert
from api.staff.models import StaffUser

REPEAT_WINDOW = timedelta(hours=1)

# Vietnamese headings staff read in the alert list; details carry counts and booking codes only.
TITLES = {
    "booking_burst": N_("Buổi khám nhận lịch nhanh bất thường"),
    "identity_dispute": N_("Hai lịch hẹn cùng số CCCD nhưng khác ngày sinh"),
    "identity_flood": N_("Nhiều lần tra cứu sai trên toàn hệ thống"),
    "person_targeted": N_("Một số CCCD bị thử sai nhiều lần"),
    "phone_clash": N_("Một số điện thoại dùng cho hai người"),
    "code_guessing": N_("Một mã đặt lịch bị thử sai nhiều lần"),
}


def raise_alert(db: Session, *, kind: str, subject: str, now: datetime, detail: str = "",
                commune_id: int | None = None, session_id: int | None = None) -> SecurityAlert:
    alert = db.scalar(select(SecurityAlert).where(
        SecurityAlert.subject == subject, SecurityAlert.kind == kind, SecurityAlert.resolved_at.is_(None),
        SecurityAlert.updated_at > now - REPEAT_WINDOW).limit(1))
    if alert is None:
        alert = SecurityAlert(kind=kind, subject=subject, commune_id=commune_id, session_id=session_id,
                              detail=detail, count=1, created_at=now, updated_at=now)
        db.add(alert)
    else:
        alert.count += 1
        alert.updated_at = now
        if detail:
            alert.detail = detail
    db.flush()
    return alert


class AlertNotFound(NotFound):
    code = "alert_not_found"
    message = "Không tìm thấy cảnh báo này."


def visible(db: Session, staff: StaffUser, *, include_resolved: bool = False) -> list[SecurityAlert]:
    """A station's alerts are its commune's; an admin sees all, those of no commune included."""
    query = select(SecurityAlert).order_by(SecurityAlert.updated_at.desc()).limit(200)
    if staff.role != "admin":
        query = query.where(SecurityAlert.commune_id == (staff.commune_id or -1))
    if not include_resolved:
        query = query.where(SecurityAlert.resolved_at.is_(None))
    return list(db.scalars(query))


def resolve(db: Session, staff: StaffUser, alert_id: int, now: datetime) -> SecurityAlert:
    alert = db.get(SecurityAlert, alert_id)
    # Another commune's alert is as good as missing to a station.
    if alert is None or (staff.role != "admin" and alert.commune_id != staff.commune_id):
        raise AlertNotFound()
    alert.resolved_at, alert.resolved_by = now, staff.username
    db.flush()
    return alert
