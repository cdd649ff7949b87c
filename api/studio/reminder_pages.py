"""Reminders outside the chat, in the studio: the ZNS template and SMS text of each message kind (edited
by content editors and admins, previewed with sample data, saved with the check and the audit of
api/notifications/templates.py); and, for station staff and admins, what became of a campaign day's
reminders with the list of people to phone, whose full number is shown on request, audited."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from api.audit.service import record
from api.communes.models import Commune
from api.core.clock import local_today
from api.core.crypto import Crypto
from api.core.i18n import N_
from api.notifications import report, templates
from api.staff.models import StaffUser
from api.studio.web import (
    NotAllowed,
    chosen_commune,
    database_of,
    editor,
    posted_form,
    problem,
    render,
    see_other,
    settings_of,
    staff_page,
)
from common.errors import AppError, InvalidInput

router = APIRouter(prefix="/studio/reminders", include_in_schema=False)

REPORT_ROLES = ("admin", "station")
# Parameter rows on the template form: the template's own and a few empty ones to add more.
MAX_PARAMS = 20
SPARE_ROWS = 3


class BadDay(InvalidInput):
    code = "bad_day"
    message = "Ngày khám không hợp lệ (dạng 2026-12-02)."


_NOT_ON_LIST = N_("Không có người này trong danh sách cần gọi điện.")
_OTHER_COMMUNE = N_("Anh/chị chỉ xem được số điện thoại của người trong danh sách cần gọi của xã/phường mình.")


# --- templates ----------------------------------------------------------------------------------------

@router.get("/templates", response_class=HTMLResponse)
def template_list(request: Request) -> HTMLResponse:
    user, csrf = editor(request)
    with database_of(request).read() as db:
        sets = templates.all_kinds(db)
    return render(request, "reminder_templates.html", user=user, csrf=csrf, sets=sets, names=templates.KIND_NAMES,
                  fields=templates.FIELDS)


@router.get("/templates/{kind}", response_class=HTMLResponse)
def template_edit(request: Request, kind: str) -> HTMLResponse:
    user, csrf = editor(request)
    if kind not in templates.KINDS:
        return _no_kind(request)
    with database_of(request).read() as db:
        current = templates.for_kind(db, kind)
    return _edit_page(request, user, csrf, current, saved=request.query_params.get("saved") == "1")


@router.post("/templates/{kind}")
async def template_save(request: Request, kind: str) -> Response:
    """"Xem trước" shows the template filled with sample data and keeps nothing; "Lưu" keeps it once it
    passes the checks, else the form comes back as typed with what to fix."""
    user, csrf = editor(request)
    form = await posted_form(request, csrf)
    if kind not in templates.KINDS:
        return _no_kind(request)
    typed, rows, found = _typed(kind, form)
    encoding = settings_of(request).sms_encoding
    if form.get("action") == "preview":
        return _edit_page(request, user, csrf, typed, rows=rows, problems=found + templates.problems(typed, encoding),
                          preview=_preview(typed, encoding))
    try:
        if found:
            raise templates.TemplateInvalid(found + templates.problems(typed, encoding))
        with database_of(request).write() as db:
            templates.save(db, typed, actor=user, encoding=encoding)
    except templates.TemplateInvalid as error:
        return _edit_page(request, user, csrf, typed, rows=rows, problems=error.problems, status_code=error.status_code)
    return see_other(f"/studio/reminders/templates/{kind}?saved=1")


def _typed(kind: str, form: dict[str, Any]) -> tuple[templates.TemplateSet, list[tuple[str, str]], list[str]]:
    """The template as the form has it, its parameter rows as typed (to show them again) and what the
    rows alone get wrong (a name given twice, a field without a name)."""
    rows, params, found = [], {}, []
    for index in range(MAX_PARAMS):
        name, source = _text(form, f"param_name_{index}"), _text(form, f"param_field_{index}")
        if not name and not source:
            continue
        rows.append((name, source))
        if not name:
            found.append(f"Dòng tham số thứ {index + 1} chọn trường “{templates.FIELDS.get(source, source)}” "
                         "nhưng chưa có tên tham số ZNS.")
        elif name in params:
            found.append(f"Tham số ZNS “{name}” có hai dòng; mỗi tham số một dòng.")
        else:
            params[name] = source
    typed = templates.TemplateSet(kind, zns_template_id=_text(form, "zns_template_id"), zns_params=params,
                                  sms_text=str(form.get("sms_text") or "").strip())
    return typed, rows, found


def _text(form: dict[str, Any], key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def _preview(template: templates.TemplateSet, encoding: str) -> dict[str, Any] | None:
    try:
        return templates.preview(template, encoding)
    except (ValueError, KeyError, IndexError):  # braces that do not make a placeholder: problems() says so
        return None


def _edit_page(request: Request, user: StaffUser, csrf: str, template: templates.TemplateSet, *,
               rows: list[tuple[str, str]] | None = None, problems: list[str] | None = None,
               preview: dict[str, Any] | None = None, saved: bool = False, status_code: int = 200) -> HTMLResponse:
    rows = list(template.zns_params.items()) if rows is None else rows
    rows = (rows + [("", "")] * SPARE_ROWS)[:MAX_PARAMS]
    encoding = settings_of(request).sms_encoding
    return render(request, "reminder_template_edit.html", status_code=status_code, user=user, csrf=csrf,
                  shown=template, name=templates.KIND_NAMES[template.kind], rows=rows, fields=templates.FIELDS,
                  sms_fields=templates.fields_for(template.kind), problems=problems or [], preview=preview,
                  saved=saved, encoding=encoding,
                  limit=templates.GSM7_LIMIT if encoding == "gsm7" else templates.UNICODE_LIMIT,
                  zns_limit=templates.ZNS_VALUE_LIMIT)


def _no_kind(request: Request) -> HTMLResponse:
    return render(request, "notice.html", status_code=404, title=N_("Không tìm thấy"),
                  message=N_("Không có loại tin này."), back="/studio/reminders/templates")


# --- a campaign day's reminders -----------------------------------------------------------------------

@router.get("/report", response_class=HTMLResponse)
def report_page(request: Request, day: str | None = None, commune_id: str | None = None) -> HTMLResponse:
    user, csrf = staff_page(request, REPORT_ROLES)
    try:
        chosen_day, commune = _day(day), chosen_commune(user, commune_id)
    except AppError as error:
        return problem(request, error, "/studio/reminders/report")
    return _report_page(request, user, csrf, chosen_day, commune)


@router.post("/report/phone", response_class=HTMLResponse)
async def reveal_phone(request: Request) -> HTMLResponse:
    """The full number of one person on a list to phone: for the station of their commune and admins
    (the same people who may export a session's roster with phone numbers), and audited. Whether the
    code exists is told only to those who may see it."""
    user, csrf = staff_page(request, REPORT_ROLES)
    form = await posted_form(request, csrf)
    code = _text(form, "code")
    crypto: Crypto = request.app.state.crypto
    with database_of(request).write() as db:
        found = report.callee(db, crypto, code)
        if user.role != "admin" and (found is None or found.commune_id != user.commune_id):
            raise NotAllowed(_OTHER_COMMUNE)
        if found is None:
            return render(request, "notice.html", status_code=404, title=N_("Không tìm thấy"),
                          message=_NOT_ON_LIST, back="/studio/reminders/report")
        record(db, actor=user, action="reminder.reveal_phone", entity="booking", entity_id=found.code)
        phone = crypto.decrypt(found.phone_enc)
    try:
        commune = chosen_commune(user, _text(form, "commune_id") or None)
    except AppError:
        commune = None
    return _report_page(request, user, csrf, found.starts_at.date(), commune, revealed={found.code: phone})


def _report_page(request: Request, user: StaffUser, csrf: str, day: date, commune_id: int | None, *,
                 revealed: dict[str, str] | None = None) -> HTMLResponse:
    with database_of(request).read() as db:
        counts = report.day_counts(db, day, commune_id)
        callees = report.to_call(db, request.app.state.crypto, day, commune_id)
        communes = list(db.execute(select(Commune.id, Commune.name).order_by(Commune.name)))
    if user.role == "station":
        communes = [c for c in communes if c[0] == user.commune_id]
    return render(request, "reminder_report.html", user=user, csrf=csrf, day=day, commune_id=commune_id,
                  communes=communes, counts=counts, callees=callees, revealed=revealed or {},
                  outcomes=report.OUTCOMES, outcome_names=report.OUTCOME_NAMES, steps=report.STEP_NAMES,
                  reason_name=report.reason_name, kinds=templates.KIND_NAMES)


def _day(value: str | None) -> date:
    if not value:
        return local_today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadDay() from None


