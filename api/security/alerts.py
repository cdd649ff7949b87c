"""Alerts for staff: raised where an attack or an identity problem shows, listed per commune.

A repeat of an open alert within the hour raises its count instead of adding a row, so a flood
produces one line to read, not thousands."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.security.models import SecurityAlert

REPEAT_WINDOW = timedelta(hours=1)

# Vietnamese headings staff read in the alert list; details carry counts and booking codes only.
TITLES = {
    "booking_burst": "Buổi khám nhận lịch nhanh bất thường",
    "identity_dispute": "Hai lịch hẹn cùng số CCCD nhưng khác ngày sinh",
    "identity_flood": "Nhiều lần tra cứu sai trên toàn hệ thống",
    "person_targeted": "Một số CCCD bị thử sai nhiều lần",
    "phone_clash": "Một số điện thoại dùng cho hai người",
    "code_guessing": "Một mã đặt lịch bị thử sai nhiều lần",
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
