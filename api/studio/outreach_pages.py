"""Pages for mass-organisation cadres: create a booking link, print its QR code, copy the message for
Zalo groups, and see what each link brought (counts only). Admins also see totals; station staff the
links of their commune."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.bookings import service as bookings
from api.bookings.schemas import OnBehalfCreate
from api.communes.models import Commune
from api.communes.service import station_commune
from api.consent.service import notice_fingerprint
from api.content.service import message_texts, text_for
from api.core.clock import local_today
from api.core.i18n import N_
from api.core.types import IdInPath
from api.identity.service import Limits
from api.notifications import broadcasts
from api.notifications.models import Broadcast
from api.outreach import service
from api.outreach.models import ORGANISATIONS
from api.outreach.schemas import LinkIn
from api.security.origin import Origin
from api.security.quotas import booking_quotas
from api.sessions.service import list_sessions
from api.studio.web import database_of, posted_form, problem, render, see_other, settings_of, staff_page
from common.errors import AppError, InvalidInput

router = APIRouter(prefix="/studio", include_in_schema=False)

# The personal-data notice the cadre reads to the person (the same series as in the chat).
NOTICE_VERSION = "2026-01.staff"

LINK_ROLES = ("admin", "cadre", "station")
CREATING_ROLES = ("admin", "cadre")


@router.get("/links", response_class=HTMLResponse)
def links_page(request: Request) -> HTMLResponse:
    user, csrf = staff_page(request, LINK_ROLES)
    settings = settings_of(request)
    with database_of(request).read() as db:
        links = service.links_out(db, list(db.scalars(service.visible(user))), settings.gateway_public_url)
        communes = list(db.execute(select(Commune.id, Commune.name).order_by(Commune.name)))
        if user.role == "cadre" and user.commune_id is not None:
            communes = [c for c in communes if c[0] == user.commune_id]
        summary = service.summary(db) if user.role == "admin" else None
    organisations = {key: name for key, (_prefix, name) in ORGANISATIONS.items()}
    return render(request, "links.html", user=user, csrf=csrf, links=links, communes=communes,
                  organisations=organisations, summary=summary, can_create=user.role in CREATING_ROLES,
                  created=request.query_params.get("created"))


@router.post("/links")
async def create_link(request: Request) -> Response:
    user, csrf = staff_page(request, CREATING_ROLES)
    form = await posted_form(request, csrf)
    try:
        try:
            body = LinkIn.model_validate({"organisation": form.get("organisation"), "label": form.get("label") or "",
                                          "commune_id": form.get("commune_id")})
        except ValidationError:
            raise InvalidInput(N_("Xin chọn tổ chức và xã/phường.")) from None
        with database_of(request).write() as db:
            link = service.create_link(db=db, actor=user, body=body)
    except AppError as error:
        return problem(request, error, "/studio/links")
    return see_other(f"/studio/links?created={link.code}#link-{link.code}")


@router.post("/links/{code}/toggle")
async def toggle_link(request: Request, code: str) -> Response:
    user, csrf = staff_page(request, CREATING_ROLES)
    form = await posted_form(request, csrf)
    try:
        with database_of(request).write() as db:
            service.set_active(db=db, actor=user, code=code, active=form.get("active") == "1")
    except AppError as error:
        return problem(request, error, "/studio/links")
    return see_other(f"/studio/links#link-{code}")


@router.get("/links/{code}/qr.{kind}")
def link_qr(request: Request, code: str, kind: str) -> Response:
    user, _csrf = staff_page(request, LINK_ROLES)
    with database_of(request).read() as db:
        try:
            link = service.get_visible(db, user, code)
        except AppError as error:
            return problem(request, error, "/studio/links")
    if kind not in ("png", "svg"):
        return problem(request, service.LinkNotFound(), "/studio/links")
    image = service.qr_image(f"{settings_of(request).gateway_public_url.rstrip('/')}/r/{link.code}", kind)
    return Response(image, media_type="image/png" if kind == "png" else "image/svg+xml",
                    headers={"Content-Disposition": f'inline; filename="ma-qr-{link.code}.{kind}"'})


# --- booking on behalf ---------------------------------------------------------------------------------

BOOKING_ROLES = ("admin", "cadre", "station")
METHODS = {"in_person": N_("Người đi khám đồng ý trực tiếp với tôi"), "phone": N_("Đồng ý qua điện thoại"),
           "paper": N_("Đã ký giấy đồng ý")}
# What the cadre reads to the person before they agree to reminders by ZNS or SMS (content store,
# bot/texts/reminders.yml: staff edit it like any message the resident hears).
REMINDERS_NOTICE = "reminders_notice_in_person"


def reminders_notice(db: Session) -> str:
    return text_for(message_texts(db, [REMINDERS_NOTICE]), REMINDERS_NOTICE)


def reminders_version(request: Request, form: dict[str, Any]) -> str | None:
    """The version of the reminders notice the person agreed to, or None when the box is not ticked.
    That of the page the cadre filled in (a text published meanwhile is not what the person heard),
    else — a form from before the page sent it — that of the words now."""
    if form.get("reminders_consent") != "on":
        return None
    shown = form.get("reminders_notice")
    if isinstance(shown, str) and shown:
        return shown
    with database_of(request).read() as db:
        return notice_fingerprint(reminders_notice(db))


@router.get("/book", response_class=HTMLResponse)
def booking_page(request: Request, commune_id: int | None = None) -> HTMLResponse:
    user, csrf = staff_page(request, BOOKING_ROLES)
    with database_of(request).read() as db:
        communes = list(db.execute(select(Commune.id, Commune.name).order_by(Commune.name)))
        chosen = commune_id or user.commune_id
        sessions = list_sessions(db=db, commune_id=chosen, site_id=None, date_from=None, date_to=None,
                                 include_cancelled=False, limit=50) if chosen else []
        links = [link for link in db.scalars(service.visible(user)) if link.active and link.commune_id == chosen]
        reminders_text = reminders_notice(db)
    return render(request, "book.html", user=user, csrf=csrf, communes=communes, chosen=chosen, sessions=sessions,
                  links=links, methods=METHODS, notice=NOTICE_VERSION, reminders_text=reminders_text,
                  reminders_version=notice_fingerprint(reminders_text))


@router.post("/book")
async def book_page_submit(request: Request) -> Response:
    user, csrf = staff_page(request, BOOKING_ROLES)
    form = await posted_form(request, csrf)
    back = f"/studio/book?commune_id={form.get('commune_id') or ''}"
    try:
        reminders = reminders_version(request, form)
        if form.get("consent_confirmed") != "on":
            raise InvalidInput(N_("Cần xác nhận người đi khám đã nghe thông báo và đồng ý."))
        try:
            body = OnBehalfCreate.model_validate({
                "session_id": form.get("session_id"), "channel": "cadre" if user.role == "cadre" else "station",
                "referral_code": form.get("referral_code") or None, "consent_notice": NOTICE_VERSION,
                "consent_method": form.get("consent_method"),
                "reminders_notice": reminders,
                "resident": {"full_name": form.get("full_name"), "birth_date": form.get("birth_date"),
                             "cccd": form.get("cccd"), "phone": form.get("phone"),
                             "commune_id": form.get("commune_id")},
            })
        except ValidationError as error:
            field = ".".join(str(p) for p in error.errors()[0].get("loc", ()))
            raise InvalidInput(N_("Thông tin chưa đủ hoặc chưa đúng. Xin kiểm tra lại."), field=field) from None
        with database_of(request).write() as db:
            settings = settings_of(request)
            result = bookings.book_on_behalf(db=db, crypto=request.app.state.crypto, actor=user, body=body,
                                             idempotency_key=None, today=local_today(),
                                             identity=Limits.from_settings(settings),
                                             burst_per_minute=settings.booking_burst_alert_per_minute,
                                             quotas=booking_quotas(settings, request.app.state.crypto, Origin(
                                                 credential=None, staff=user, chat=None)))
    except AppError as error:
        return problem(request, error, back)
    return render(request, "booked.html", user=user, booking=result.out,
                  reminders=body.reminders_notice is not None)


# --- announcements of a visit --------------------------------------------------------------------------

BROADCAST_ROLES = ("admin", "station")


@router.get("/broadcasts", response_class=HTMLResponse)
def broadcasts_page(request: Request) -> HTMLResponse:
    user, csrf = staff_page(request, BROADCAST_ROLES)
    with database_of(request).read() as db:
        query = select(Broadcast).order_by(Broadcast.id.desc()).limit(50)
        own = station_commune(user, None)
        if own is not None:
            query = query.where(Broadcast.commune_id == own)
        items = [(b, broadcasts.progress(db, b.id)) for b in db.scalars(query)]
        communes = list(db.execute(select(Commune.id, Commune.name).order_by(Commune.name)))
        if own is not None:
            communes = [c for c in communes if c[0] == own]
        names = dict(communes)
    return render(request, "broadcasts.html", user=user, csrf=csrf, items=items, communes=communes, names=names)


@router.post("/broadcasts/preview", response_class=HTMLResponse)
async def broadcast_preview(request: Request) -> Response:
    user, csrf = staff_page(request, BROADCAST_ROLES)
    form = await posted_form(request, csrf)
    try:
        with database_of(request).write() as db:
            commune_id = int(str(form.get("commune_id") or 0))
            shown = broadcasts.preview(db, user, commune_id, str(form.get("text") or ""))
            draft = broadcasts.create(db=db, actor=user, commune_id=commune_id, text=shown.text)
    except ValueError:
        return problem(request, InvalidInput(N_("Xin chọn xã/phường.")), "/studio/broadcasts")
    except AppError as error:
        return problem(request, error, "/studio/broadcasts")
    return render(request, "broadcast_preview.html", user=user, csrf=csrf, shown=shown, draft=draft)


@router.post("/broadcasts/{broadcast_id}/{verb}")
async def broadcast_action(request: Request, broadcast_id: IdInPath, verb: str) -> Response:
    user, csrf = staff_page(request, BROADCAST_ROLES)
    await posted_form(request, csrf)
    try:
        with database_of(request).write() as db:
            if verb == "send":
                broadcasts.start(db=db, actor=user, broadcast_id=broadcast_id)
            elif verb == "cancel":
                broadcasts.cancel(db=db, actor=user, broadcast_id=broadcast_id)
            else:
                raise broadcasts.BroadcastNotFound()
    except AppError as error:
        return problem(request, error, "/studio/broadcasts")
    return see_other("/studio/broadcasts")
