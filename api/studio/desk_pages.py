"""The station's desk: a commune's exam sessions (create, repeat weekly, change, cancel, mobile-team
stops), the day's roster with check-in by booking code or QR code, walk-ins, and check-ins made while
the connection is down — desk.js keeps them on the device and sends them when it returns, and the same
booking with the same status sent twice is recorded once. Station staff see and change their own
commune's only (the services' check_station_scope); admins every commune's.

Every change goes through the domain's services (sessions, session_changes, communes, bookings,
walk_in), which check the rules and write the audit."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar, get_args

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.models import AuditEntry
from api.bookings import roster, session_changes, walk_in
from api.bookings import service as bookings
from api.bookings.models import Booking
from api.bookings.schemas import OnBehalfCreate
from api.communes.models import Commune, Site
from api.communes.schemas import SiteCreate
from api.communes.service import check_station_scope, create_site, site_out
from api.core.clock import local_today, local_tz, to_local
from api.core.crypto import Crypto
from api.core.errors import Conflict, Forbidden
from api.core.i18n import N_
from api.core.types import IdInPath
from api.identity.service import Limits
from api.outreach.models import ORGANISATIONS, ReferralLink
from api.reports.stats import CHANNELS, age_group
from api.residents.models import ERASED_NAME, Resident
from api.security.origin import Origin
from api.security.quotas import booking_quotas
from api.sessions import service as sessions
from api.sessions.schemas import SessionCreate, SessionOut, SessionUpdate, TargetGroup
from api.staff.models import StaffUser
from api.studio.outreach_pages import NOTICE_VERSION
from api.studio.web import (
    check_csrf,
    chosen_commune,
    current_user,
    database_of,
    posted_form,
    problem,
    render,
    see_other,
    settings_of,
    staff_page,
)
from common import booking_codes
from common.errors import AppError, InvalidInput

router = APIRouter(prefix="/studio/desk", include_in_schema=False)
M = TypeVar("M", bound=BaseModel)

DESK_ROLES = ("admin", "station")
STATIC = Path(__file__).with_name("static")
MAX_REPEAT_WEEKS = 12
PAST_DAYS, AHEAD_DAYS, LIST_LIMIT = 14, 120, 500

# Words for the values of api.sessions.schemas.TargetGroup (the only page that shows them).
TARGET_GROUPS = {
    "general": N_("Mọi người dân"), "elderly": N_("Người cao tuổi"), "children": N_("Trẻ em"),
    "students": N_("Học sinh, sinh viên"), "pregnant": N_("Phụ nữ mang thai"), "workers": N_("Người lao động"),
    "chronic": N_("Người có bệnh mạn tính"), "disabled": N_("Người khuyết tật"), "poor": N_("Hộ nghèo, cận nghèo"),
}
assert set(TARGET_GROUPS) == set(get_args(TargetGroup))
SITE_KINDS = {"station": N_("Trạm y tế"), "hospital": N_("Bệnh viện"), "mobile": N_("Điểm khám lưu động")}
STATUS_NAMES = {"confirmed": N_("Chưa đến"), "attended": N_("Đã đến"), "no_show": N_("Không đến"),
                "waitlisted": N_("Đang chờ chỗ")}
# The first wrong field of a form, in words (the services say what is wrong with a CCCD, a phone, a time).
FIELD_PROBLEMS = {
    "site_id": N_("Xin chọn điểm khám."), "capacity": N_("Số chỗ là một số từ 1 đến 5000."),
    "note": N_("Ghi chú dài tối đa 500 ký tự."), "name": N_("Tên điểm khám cần từ 2 đến 200 ký tự."),
    "address": N_("Địa chỉ dài tối đa 300 ký tự."), "phone": N_("Số điện thoại của điểm khám tối đa 20 ký tự."),
    "resident.full_name": N_("Xin nhập họ và tên."), "resident.birth_date": N_("Ngày sinh chưa đúng."),
    "resident.cccd": N_("Xin nhập số CCCD (12 chữ số)."), "resident.phone": N_("Xin nhập số điện thoại."),
    "resident.commune_id": N_("Xin chọn xã/phường."), "code": N_("Mã đặt lịch chưa đúng."),
}
# Who booked, where the booking says so: the audit of a booking made by staff, a cadre's link.
BOOKED_BY_ACTIONS = ("booking.on_behalf", "booking.walk_in")


class WrongSession(Conflict):
    code = "desk_wrong_session"
    message = "Mã này là lịch hẹn của một buổi khám khác."


class BadMark(InvalidInput):
    code = "desk_bad_mark"
    message = "Nút điểm danh không hợp lệ. Xin tải lại trang."


class LoginExpired(AppError):
    status_code = 401
    code = "login_required"
    message = "Phiên đăng nhập đã hết. Xin đăng nhập lại; những người chưa gửi vẫn được giữ trên máy."


class CheckIn(BaseModel):
    code: str = Field(max_length=40)
    attended: bool
    # The device's id of a check-in it queued: echoed, so the device knows which one was answered.
    client_id: str = Field(default="", max_length=64)


# --- the commune's sessions ----------------------------------------------------------------------------

@router.get("/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, commune_id: str | None = None, past: str | None = None) -> HTMLResponse:
    user, csrf = staff_page(request, DESK_ROLES)
    try:
        chosen = chosen_commune(user, commune_id)
    except AppError as error:
        return problem(request, error, "/studio/desk/sessions")
    created = request.query_params.get("created", "")  # only a count is said ("?created=<text>" is not)
    return _sessions_page(request, user, csrf, chosen, past=past == "1",
                          created=created if created.isascii() and created.isdigit() and len(created) <= 2 else None,
                          site=request.query_params.get("site"))


def _sessions_page(request: Request, user: StaffUser, csrf: str, commune_id: int | None, *, past: bool = False,
                   typed: dict[str, Any] | None = None, error: AppError | None = None, created: str | None = None,
                   site: str | None = None) -> HTMLResponse:
    today = local_today()
    start, end = (today - timedelta(days=PAST_DAYS), today - timedelta(days=1)) if past else (
        today, today + timedelta(days=AHEAD_DAYS))
    with database_of(request).read() as db:
        listed = sessions.list_sessions(db=db, commune_id=commune_id, site_id=None, date_from=start, date_to=end,
                                        include_cancelled=True, limit=LIST_LIMIT)
        if past:
            listed.reverse()  # the most recent first
        query = select(Site).where(Site.active.is_(True)).order_by(Site.commune_id, Site.kind.desc(), Site.name)
        if commune_id is not None:
            query = query.where(Site.commune_id == commune_id)
        sites = list(db.scalars(query))
        communes = list(db.execute(select(Commune.id, Commune.name).order_by(Commune.name)))
    by_site: dict[int, list[SessionOut]] = defaultdict(list)
    for item in listed:
        by_site[item.site.id].append(item)
    # Sites with sessions in the period, then the commune's other sites (a new stop has none yet).
    groups: list[tuple[Any, list[SessionOut]]] = [(items[0].site, items) for items in by_site.values()]
    groups += [(site_out(site_row), []) for site_row in sites if site_row.id not in by_site and commune_id is not None]
    if user.role == "station":
        communes = [c for c in communes if c[0] == user.commune_id]
    form = typed or {"site_id": site or "", "day": (today + timedelta(days=1)).isoformat(), "start": "07:30",
                     "end": "11:00", "capacity": "50", "target_groups": [], "note": "", "repeat_weeks": "0"}
    return render(request, "desk_sessions.html", status_code=error.status_code if error else 200, user=user,
                  csrf=csrf, groups=groups, sites=sites, communes=communes, commune_id=commune_id, past=past,
                  form=form, error=error, created=created, kinds=SITE_KINDS, target_groups=TARGET_GROUPS,
                  max_weeks=MAX_REPEAT_WEEKS, today=today)


@router.post("/sessions")
async def create_sessions(request: Request) -> Response:
    """A session, and as many weekly copies as asked (same weekday, times and seats), in one go: all
    are created or none."""
    user, csrf = staff_page(request, DESK_ROLES)
    form = await posted_form(request, csrf)
    typed = {key: form.get(key) or "" for key in ("site_id", "day", "start", "end", "capacity", "note",
                                                   "repeat_weeks")}
    typed["target_groups"] = _listed(form, "target_groups")
    commune_id = _text(form, "commune_id")
    try:
        chosen = chosen_commune(user, commune_id or None)
        weeks = _number(typed["repeat_weeks"] or "0", 0, MAX_REPEAT_WEEKS,
                        N_("Số tuần lặp lại là một số từ 0 đến 12."))
        starts_at, ends_at = _moment(typed["day"], typed["start"]), _moment(typed["day"], typed["end"])
        body = _validated(SessionCreate, {"site_id": typed["site_id"], "starts_at": starts_at, "ends_at": ends_at,
                                          "capacity": typed["capacity"], "target_groups": typed["target_groups"],
                                          "note": typed["note"]})
        with database_of(request).write() as db:
            for week in range(weeks + 1):
                shift = timedelta(weeks=week)
                sessions.create_session(db=db, actor=user, body=body.model_copy(
                    update={"starts_at": starts_at + shift, "ends_at": ends_at + shift}))
    except AppError as error:
        return _sessions_page(request, user, csrf, _commune_or_none(user, commune_id), typed=typed, error=error)
    back = f"&commune_id={chosen}" if chosen and user.role == "admin" else ""
    return see_other(f"/studio/desk/sessions?created={weeks + 1}{back}")


@router.post("/sites")
async def create_stop(request: Request) -> Response:
    """A mobile team's stop (a hamlet's cultural house): a site of kind "mobile" with its own address."""
    user, csrf = staff_page(request, DESK_ROLES)
    form = await posted_form(request, csrf)
    commune_id = _text(form, "commune_id")
    try:
        chosen = chosen_commune(user, commune_id or None)
        if chosen is None:
            raise InvalidInput(N_("Xin chọn xã/phường."), field="commune_id")
        body = _validated(SiteCreate, {"commune_id": chosen, "kind": "mobile", "name": _text(form, "name"),
                                       "address": _text(form, "address"), "phone": _text(form, "phone")})
        with database_of(request).write() as db:
            site = create_site(db=db, actor=user, body=body)
    except AppError as error:
        return problem(request, error, "/studio/desk/sessions")
    back = f"&commune_id={chosen}" if user.role == "admin" else ""
    return see_other(f"/studio/desk/sessions?site={site.id}{back}#new-session")


@router.get("/sessions/{session_id}/edit", response_class=HTMLResponse)
def edit_page(request: Request, session_id: IdInPath) -> HTMLResponse:
    user, csrf = staff_page(request, DESK_ROLES)
    try:
        with database_of(request).read() as db:
            shown = _own_session(db, user, session_id)
    except AppError as error:
        return problem(request, error, "/studio/desk/sessions")
    return _edit_page(request, user, csrf, shown, saved=request.query_params.get("saved") == "1")


def _edit_page(request: Request, user: StaffUser, csrf: str, shown: SessionOut, *,
               typed: dict[str, Any] | None = None, error: AppError | None = None, saved: bool = False
               ) -> HTMLResponse:
    form = typed or {"day": shown.starts_at.date().isoformat(), "start": f"{shown.starts_at:%H:%M}",
                     "end": f"{shown.ends_at:%H:%M}", "capacity": str(shown.capacity),
                     "target_groups": shown.target_groups, "note": shown.note}
    return render(request, "desk_session_edit.html", status_code=error.status_code if error else 200, user=user,
                  csrf=csrf, shown=shown, form=form, error=error, saved=saved, kinds=SITE_KINDS,
                  target_groups=TARGET_GROUPS)


@router.post("/sessions/{session_id}/edit")
async def edit_session(request: Request, session_id: IdInPath) -> Response:
    """New times, seats (more seats take people from the waitlist), groups or note."""
    user, csrf = staff_page(request, DESK_ROLES)
    form = await posted_form(request, csrf)
    typed = {key: form.get(key) or "" for key in ("day", "start", "end", "capacity", "note")}
    typed["target_groups"] = _listed(form, "target_groups")
    try:
        changes = _validated(SessionUpdate, {
            "starts_at": _moment(typed["day"], typed["start"]), "ends_at": _moment(typed["day"], typed["end"]),
            "capacity": typed["capacity"], "target_groups": typed["target_groups"], "note": typed["note"]})
        with database_of(request).write() as db:
            session_changes.update_session(db=db, actor=user, session_id=session_id, changes=changes)
    except AppError as error:
        try:
            with database_of(request).read() as db:
                shown = _own_session(db, user, session_id)
        except AppError as missing:
            return problem(request, missing, "/studio/desk/sessions")
        return _edit_page(request, user, csrf, shown, typed=typed, error=error)
    return see_other(f"/studio/desk/sessions/{session_id}/edit?saved=1")


@router.post("/sessions/{session_id}/cancel")
async def cancel_session(request: Request, session_id: IdInPath) -> Response:
    """The visit is off: its bookings are cancelled with it (residents are told by the reminders)."""
    user, csrf = staff_page(request, DESK_ROLES)
    form = await posted_form(request, csrf)
    back = f"/studio/desk/sessions/{session_id}/edit"
    try:
        if form.get("confirm") != "on":
            raise InvalidInput(N_("Xin đánh dấu ô xác nhận hủy buổi khám."), field="confirm")
        with database_of(request).write() as db:
            session_changes.update_session(db=db, actor=user, session_id=session_id,
                                           changes=SessionUpdate(status="cancelled"))
    except AppError as error:
        return problem(request, error, back)
    return see_other(f"{back}?saved=1")


# --- the day's roster and check-in ---------------------------------------------------------------------

@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def roster_page(request: Request, session_id: IdInPath) -> HTMLResponse:
    user, csrf = staff_page(request, DESK_ROLES)
    return _roster_page(request, user, csrf, session_id)


def _roster_page(request: Request, user: StaffUser, csrf: str, session_id: int, *, marked: Booking | None = None,
                 replayed: bool = False, error: AppError | None = None) -> HTMLResponse:
    crypto: Crypto = request.app.state.crypto
    try:
        with database_of(request).read() as db:
            shown = _own_session(db, user, session_id)
            lines = roster_lines(db, crypto, session_id, to_local(shown.starts_at).date())
    except AppError as error_:
        return problem(request, error_, "/studio/desk/sessions")
    seated = [line for line in lines if line["status"] != "waitlisted"]
    counts = {status: sum(1 for line in lines if line["status"] == status) for status in STATUS_NAMES}
    marked_line = next((line for line in lines if marked is not None and line["code"] == marked.code), None)
    return render(request, "desk_roster.html", status_code=error.status_code if error else 200, user=user,
                  csrf=csrf, shown=shown, seated=seated, waiting=[line for line in lines if line not in seated],
                  counts=counts, statuses=STATUS_NAMES, kinds=SITE_KINDS, target_groups=TARGET_GROUPS,
                  marked=marked_line, replayed=replayed, error=error, qr_script=(STATIC / "qr-scan.js").is_file(),
                  alphabet=booking_codes.ALPHABET, code_length=booking_codes.LENGTH)


def roster_lines(db: Session, crypto: Crypto, session_id: int, exam_day: date) -> list[dict[str, Any]]:
    """The session's people as the desk shows them: roster.roster's masked entries, with their age
    group, how and by whom they were booked, and whether their card must be checked."""
    entries = roster.roster(db=db, crypto=crypto, session=sessions.get_session(db, session_id))
    flags = {code: (referral, disputed, created) for code, referral, disputed, created in db.execute(
        select(Booking.code, Booking.referral_code, Booking.disputed, Booking.created_at)
        .where(Booking.session_id == session_id))}
    booked_by: dict[str, tuple[str, bool]] = {}
    if flags:
        since = min(created for _r, _d, created in flags.values())
        for code, action, actor in db.execute(
                select(AuditEntry.entity_id, AuditEntry.action, AuditEntry.actor)
                .where(AuditEntry.at >= since, AuditEntry.action.in_(BOOKED_BY_ACTIONS),
                       AuditEntry.entity == "booking", AuditEntry.entity_id.in_(list(flags)))):
            walked_in = action == "booking.walk_in" or booked_by.get(code, ("", False))[1]
            booked_by[code] = (actor, walked_in)
    organisations = dict(db.execute(
        select(ReferralLink.code, ReferralLink.organisation)
        .where(ReferralLink.code.in_({referral for referral, _d, _c in flags.values() if referral}))).all())
    lines = []
    for entry in entries:
        referral, disputed, _created = flags[entry.code]
        actor, walked_in = booked_by.get(entry.code, ("", False))
        organisation = organisations.get(referral or "")
        lines.append({
            "code": entry.code, "status": entry.status, "full_name": entry.full_name,
            "birth_year": entry.birth_year, "age_group": age_group(entry.birth_year, exam_day)[1],
            "cccd_masked": entry.cccd_masked, "phone_masked": entry.phone_masked,
            "channel": CHANNELS.get(entry.channel, entry.channel), "booked_by": actor, "walk_in": walked_in,
            "organisation": ORGANISATIONS[organisation][1] if organisation in ORGANISATIONS else "",
            "disputed": disputed, "waitlist_position": entry.waitlist_position,
        })
    return lines


@router.post("/sessions/{session_id}/attendance")
async def check_in(request: Request, session_id: IdInPath) -> Response:
    """Present or absent, by booking code: JSON from desk.js (its queue, token in X-CSRF-Token), or the
    page's form without script. Idempotent: a booking already in the asked status is left as it is (a
    queued check-in sent again after a lost answer is not recorded twice)."""
    if request.headers.get("content-type", "").startswith("application/json"):
        return await _check_in_json(request, session_id)
    user, csrf = staff_page(request, DESK_ROLES)
    form = await posted_form(request, csrf)
    code, attended = _text(form, "code"), form.get("attended") == "1"
    if form.get("mark"):  # a row's own button: "CODE:1" or "CODE:0"
        code, _sep, flag = _text(form, "mark").partition(":")
        if flag not in ("0", "1"):
            return _roster_page(request, user, csrf, session_id, error=BadMark())
        attended = flag == "1"
    try:
        with database_of(request).write() as db:
            booking, replayed = mark_once(db, request.app.state.crypto, user, session_id, code, attended)
    except AppError as error:
        return _roster_page(request, user, csrf, session_id, error=error)
    return _roster_page(request, user, csrf, session_id, marked=booking, replayed=replayed)


async def _check_in_json(request: Request, session_id: int) -> Response:
    try:
        user = _desk_user_json(request)
        body = _validated(CheckIn, await request.json())
        with database_of(request).write() as db:
            booking, replayed = mark_once(db, request.app.state.crypto, user, session_id, body.code, body.attended)
            name = _name_of(db, booking)
    except AppError as error:
        return JSONResponse(error.body(), status_code=error.status_code)
    except ValueError:
        return JSONResponse(InvalidInput().body(), status_code=422)
    return JSONResponse({"code": booking.code, "status": booking.status, "full_name": name, "replayed": replayed,
                         "client_id": body.client_id})


@router.post("/sessions/{session_id}/find")
async def find_booking(request: Request, session_id: IdInPath) -> Response:
    """The person behind a code typed or scanned that the page's list does not hold (booked since it
    was loaded): their name to compare with the card, before they are marked."""
    try:
        user = _desk_user_json(request)
        sent = await request.json()
        body = _validated(CheckIn, {**sent, "attended": True} if isinstance(sent, dict) else sent)
        crypto: Crypto = request.app.state.crypto
        with database_of(request).read() as db:
            booking = _booking_of_session(db, user, session_id, body.code)
            shown = _own_session(db, user, session_id)
            line = next(item for item in roster_lines(db, crypto, session_id, to_local(shown.starts_at).date())
                        if item["code"] == booking.code)
    except AppError as error:
        return JSONResponse(error.body(), status_code=error.status_code)
    except (ValueError, StopIteration):
        return JSONResponse(bookings.BookingNotFound().body(), status_code=404)
    return JSONResponse({key: line[key] for key in ("code", "status", "full_name", "birth_year", "age_group",
                                                    "cccd_masked", "disputed")})


def mark_once(db: Session, crypto: Crypto, user: StaffUser, session_id: int, code: str, attended: bool
              ) -> tuple[Booking, bool]:
    """(the booking, whether it already had that status). The booking's row is locked first, so two
    copies of one check-in cannot both pass the comparison (PostgreSQL; SQLite's writers queue)."""
    booking = _booking_of_session(db, user, session_id, code, lock=True)
    if booking.status == ("attended" if attended else "no_show"):
        return booking, True
    return bookings.mark_attendance(db=db, crypto=crypto, actor=user, code=booking.code, attended=attended), False


def _booking_of_session(db: Session, user: StaffUser, session_id: int, code: str, *, lock: bool = False) -> Booking:
    _own_session(db, user, session_id)  # another commune's session: refused before any code is looked up
    canonical = booking_codes.canonical(code)
    query = select(Booking).where(Booking.code == canonical)
    booking = db.scalar(query.with_for_update() if lock else query) if canonical else None
    other = sessions.load_session_out(db, booking.session_id) if booking is not None else None
    # Another commune's code is answered as an unknown one: nothing says it exists, nor where or when.
    if booking is None or other is None or (user.role != "admin" and user.commune_id != other.site.commune_id):
        raise bookings.BookingNotFound("Không có lịch hẹn với mã này. Xin kiểm tra lại mã.")
    check_station_scope(user, other.site.commune_id)
    if booking.session_id != session_id:
        raise WrongSession(f"Mã này là lịch hẹn của buổi khám khác: {other.starts_at:%H:%M %d/%m/%Y}, "
                           f"{other.site.name}.")
    return booking


def _name_of(db: Session, booking: Booking) -> str:
    resident = db.get(Resident, booking.resident_id) if booking.resident_id is not None else None
    return resident.full_name if resident is not None else ERASED_NAME


# --- walk-ins --------------------------------------------------------------------------------------------

WALK_IN_FIELDS = ("full_name", "birth_date", "cccd", "phone", "commune_id", "reason")


@router.get("/sessions/{session_id}/walk-in", response_class=HTMLResponse)
def walk_in_page(request: Request, session_id: IdInPath) -> HTMLResponse:
    user, csrf = staff_page(request, DESK_ROLES)
    return _walk_in_page(request, user, csrf, session_id)


def _walk_in_page(request: Request, user: StaffUser, csrf: str, session_id: int, *,
                  typed: dict[str, Any] | None = None, error: AppError | None = None,
                  done: walk_in.WalkIn | None = None) -> HTMLResponse:
    try:
        with database_of(request).read() as db:
            shown = _own_session(db, user, session_id)
            communes = list(db.execute(select(Commune.id, Commune.name).order_by(Commune.name)))
    except AppError as error_:
        return problem(request, error_, "/studio/desk/sessions")
    form = typed or {"commune_id": str(shown.site.commune_id)}
    # A fresh key per form shown: a double tap or a resent form registers the person once.
    form["key"] = form.get("key") or uuid.uuid4().hex
    return render(request, "desk_walk_in.html", status_code=error.status_code if error else 200, user=user,
                  csrf=csrf, shown=shown, communes=communes, form=form, error=error, done=done,
                  full=shown.booked >= shown.capacity, kinds=SITE_KINDS)


@router.post("/sessions/{session_id}/walk-in")
async def register_walk_in(request: Request, session_id: IdInPath) -> Response:
    """Someone at the desk without a booking, who agreed in person: into this session, or beyond its
    seats with the reason the nurse gives (api.bookings.walk_in)."""
    user, csrf = staff_page(request, DESK_ROLES)
    form = await posted_form(request, csrf)
    typed: dict[str, Any] = {key: _text(form, key) for key in (*WALK_IN_FIELDS, "key")}
    typed["shared_phone"] = form.get("shared_phone") == "on"
    settings, crypto = settings_of(request), request.app.state.crypto
    try:
        if form.get("consent_confirmed") != "on":
            raise InvalidInput(N_("Cần xác nhận người đi khám đã nghe thông báo và đồng ý."))
        body = _validated(OnBehalfCreate, {
            "session_id": session_id, "channel": "station", "consent_notice": NOTICE_VERSION,
            "consent_method": "in_person", "shared_phone": typed["shared_phone"],
            "resident": {"full_name": typed["full_name"], "birth_date": typed["birth_date"], "cccd": typed["cccd"],
                         "phone": typed["phone"], "commune_id": typed["commune_id"]}})
        key = bookings.check_idempotency_key(typed["key"] or None)
        with database_of(request).write() as db:
            done = walk_in.register(
                db=db, crypto=crypto, actor=user, body=body, idempotency_key=key, today=local_today(),
                identity=Limits.from_settings(settings), burst_per_minute=settings.booking_burst_alert_per_minute,
                quotas=booking_quotas(settings, crypto, Origin(credential=None, staff=user, chat=None)),
                over_capacity_reason=typed["reason"])
    except AppError as error:
        return _walk_in_page(request, user, csrf, session_id, typed=typed, error=error)
    return _walk_in_page(request, user, csrf, session_id, done=done)


# --- working without a connection ------------------------------------------------------------------------

@router.get("/sw.js")
def service_worker() -> Response:
    """desk.js's service worker, served from here so that its scope can be the desk's pages (a worker
    controls only the pages under its own path)."""
    return FileResponse(STATIC / "desk-sw.js", media_type="text/javascript")


@router.get("/offline", response_class=HTMLResponse)
def offline_page(request: Request) -> HTMLResponse:
    """What the service worker shows for a desk page never opened on this device while online."""
    user, _csrf = staff_page(request, DESK_ROLES)
    return render(request, "notice.html", user=user, title=N_("Chưa có mạng"),
                  message=N_("Trang này chưa được lưu trên máy. Khi có mạng, mở danh sách buổi khám một lần "
                             "thì lúc mất mạng vẫn xem và điểm danh được."), back="/studio/desk/sessions")


# --- helpers ---------------------------------------------------------------------------------------------

def _own_session(db: Session, user: StaffUser, session_id: int) -> SessionOut:
    shown = sessions.load_session_out(db, session_id)
    check_station_scope(user, shown.site.commune_id)
    return shown


def _desk_user_json(request: Request) -> StaffUser:
    """The desk's JSON calls answer in JSON (401, 403) where a page would redirect to the login."""
    found = current_user(request)
    if found is None:
        raise LoginExpired()
    user, csrf = found
    if user.role not in DESK_ROLES or (user.role == "station" and user.commune_id is None):
        raise Forbidden()
    check_csrf(csrf, request.headers.get("x-csrf-token"))
    return user


def _commune_or_none(user: StaffUser, value: str) -> int | None:
    try:
        return chosen_commune(user, value or None)
    except AppError:
        return None


def _moment(day: str, clock: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tzinfo=local_tz())
    except ValueError:
        raise InvalidInput(N_("Ngày hoặc giờ chưa đúng (ngày dạng 2026-12-02, giờ dạng 07:30)."),
                           field="starts_at") from None


def _number(value: str, low: int, high: int, message: str) -> int:
    if not (value.strip().isascii() and value.strip().isdigit()) or not low <= int(value) <= high:
        raise InvalidInput(message)
    return int(value)


def _validated(model: type[M], data: Any) -> M:
    """The model, or the form's refusal in Vietnamese naming the first field that is wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        field = ".".join(str(part) for part in error.errors()[0].get("loc", ()))
        raise InvalidInput(FIELD_PROBLEMS.get(field, InvalidInput.message), field=field) from None


def _text(form: dict[str, Any], key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def _listed(form: dict[str, Any], key: str) -> list[str]:
    value = form.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else [value] if isinstance(
        value, str) and value else []
