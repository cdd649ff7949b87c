"""Alerts for station staff and admins: sessions filling faster than people type, disputed identities,
phones used twice, codes being guessed — with the two things to do about them at hand: close the
alert, or cancel a burst of bookings at once (their seats go to the waitlist)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from api.bookings import service as bookings
from api.communes.models import Commune
from api.core.clock import to_local
from api.core.db import utcnow
from api.core.types import IdInPath
from api.security import alerts
from api.studio.web import database_of, posted_form, problem, render, see_other, staff_page
from common.errors import AppError

router = APIRouter(prefix="/studio", include_in_schema=False)

ALERT_ROLES = ("admin", "station")
# A burst's window, widened a little on both sides: the bookings made while the alert was rising.
BURST_MARGIN = timedelta(minutes=2)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, cancelled: int | None = None) -> HTMLResponse:
    user, csrf = staff_page(request, ALERT_ROLES)
    with database_of(request).read() as db:
        items = alerts.visible(db, user)
        names: dict[int, str] = dict(db.execute(select(Commune.id, Commune.name)).all())
    rows = [(alert, alerts.TITLES.get(alert.kind, alert.kind), to_local(alert.created_at), to_local(alert.updated_at))
            for alert in items]
    return render(request, "alerts.html", user=user, csrf=csrf, rows=rows, names=names, cancelled=cancelled)


@router.post("/alerts/{alert_id}/resolve")
async def resolve_alert(request: Request, alert_id: IdInPath) -> Response:
    user, csrf = staff_page(request, ALERT_ROLES)
    await posted_form(request, csrf)
    try:
        with database_of(request).write() as db:
            alerts.resolve(db, user, alert_id, utcnow())
    except AppError as error:
        return problem(request, error, "/studio/alerts")
    return see_other("/studio/alerts")


@router.post("/alerts/{alert_id}/cancel-burst")
async def cancel_burst(request: Request, alert_id: IdInPath) -> Response:
    """Cancel the bookings of the alert's session made during the burst, then close the alert."""
    user, csrf = staff_page(request, ALERT_ROLES)
    await posted_form(request, csrf)
    try:
        with database_of(request).write() as db:
            alert = alerts.resolve(db, user, alert_id, utcnow())
            if alert.kind != "booking_burst" or alert.session_id is None:
                raise alerts.AlertNotFound()
            cancelled = bookings.bulk_cancel(db, actor=user, session_id=alert.session_id, codes_given=[],
                                             created_from=alert.created_at - BURST_MARGIN,
                                             created_to=alert.updated_at + BURST_MARGIN, channel=None)
    except AppError as error:
        return problem(request, error, "/studio/alerts")
    return see_other(f"/studio/alerts?cancelled={len(cancelled)}")
