"""A session's people as station staff see them: masked on screen, exported on purpose and audited."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.bookings.models import Booking
from api.core.crypto import Crypto
from api.residents.models import ERASED_NAME, Resident
from api.sessions.models import ExamSession
from api.sessions.schemas import RosterEntry
from api.staff.models import StaffUser
from common.masking import mask


def roster(*, db: Session, crypto: Crypto, session: ExamSession) -> list[RosterEntry]:
    """The session's people for staff: CCCD and phone masked (see `roster_csv` for an export)."""
    entries, position = [], 0
    for booking, resident in _roster_rows(db, session):
        if booking.status == "waitlisted":
            position += 1
        entries.append(RosterEntry(
            code=booking.code, status=booking.status,
            full_name=resident.full_name if resident else ERASED_NAME,
            birth_year=resident.birth_year if resident else None,
            cccd_masked=mask(crypto.decrypt(resident.cccd_enc)) if resident else "",
            phone_masked=mask(crypto.decrypt(resident.phone_enc)) if resident else "",
            channel=booking.channel,
            waitlist_position=position if booking.status == "waitlisted" else None,
        ))
    return entries


def _roster_rows(db: Session, session: ExamSession) -> list[tuple[Booking, Resident | None]]:
    # Outer join: a resident who had their data erased still counts as a booking.
    rows = db.execute(
        select(Booking, Resident)
        .outerjoin(Resident, Resident.id == Booking.resident_id)
        .where(Booking.session_id == session.id, Booking.status != "cancelled")
        .order_by(Booking.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


def roster_csv(*, db: Session, crypto: Crypto, actor: StaffUser, session: ExamSession, with_phone: bool) -> str:
    """The roster as CSV for printing or calling people. Full phone numbers only on request, and
    every export is audited with who took it and whether it held phone numbers."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ma_lich", "trang_thai", "ho_ten", "nam_sinh", "cccd", "dien_thoai"])
    rows = _roster_rows(db, session)
    for booking, resident in rows:
        phone = crypto.decrypt(resident.phone_enc) if resident else ""
        writer.writerow([
            booking.code, booking.status, resident.full_name if resident else ERASED_NAME,
            resident.birth_year if resident else "", mask(crypto.decrypt(resident.cccd_enc)) if resident else "",
            phone if with_phone else mask(phone),
        ])
    record(db, actor=actor, action="roster.export", entity="session", entity_id=session.id, rows=len(rows),
           with_phone=with_phone)
    return out.getvalue()
