"""E-health-book statuses from a station's CSV file, in the studio (station staff and admins, as
POST /api/v1/records/import): the file is checked and previewed first — what would be added, changed
and left as it is, the first rows masked, every refused row with its reason — and imported only when
confirmed; then the counts and the error report.

Between the two steps the file travels with the page, not in a store: the preview's confirm form holds it
compressed and encrypted with the API's key (a Fernet token, bound to the staff member and good for an
hour), so what is imported is exactly what was previewed, whichever API process answers, and the page
holds no CCCD in clear."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.communes.models import Commune
from api.communes.service import get_commune
from api.core.clock import local_today
from api.core.crypto import Crypto
from api.core.i18n import N_
from api.core.types import MAX_ID, IdInPath
from api.records import service
from api.staff.models import StaffUser
from api.studio.web import check_csrf, database_of, render, see_other, settings_of, staff_page
from common.errors import AppError, InvalidInput

router = APIRouter(prefix="/studio/records", include_in_schema=False)

IMPORT_ROLES = ("admin", "station")
# How long a preview can be confirmed, and how many refused rows the page lists (the error report has all).
HOLD_SECONDS = 3600
ERRORS_SHOWN = 200
UPLOAD_PATH = "/studio/records/import"

# Columns as the file names them (the error report keeps the API's names).
COLUMN_NAMES = {"cccd": N_("Số căn cước (cccd)"), "birth_date": N_("Ngày sinh (ngay_sinh)"),
                "status": N_("Trạng thái (trang_thai)"), "updated_on": N_("Ngày cập nhật (ngay_cap_nhat)")}
OUTCOME_NAMES = {"created": N_("Thêm mới"), "updated": N_("Cập nhật"), "unchanged": N_("Không đổi")}


class NoFile(InvalidInput):
    code = "import_file_missing"
    message = "Xin chọn tệp CSV danh sách sổ sức khỏe điện tử."


class SpreadsheetNotCsv(InvalidInput):
    code = "invalid_import_file"
    message = ("Đây là tệp Excel, chưa phải CSV. Trong Excel chọn Tệp › Lưu thành › CSV UTF-8 (phân cách bằng "
               "dấu phẩy), rồi chọn tệp .csv vừa lưu.")


class FileTooLarge(AppError):
    status_code = 413
    code = "import_file_too_large"
    message = "Tệp lớn hơn {mb} MB. Xin chia danh sách thành nhiều tệp nhỏ hơn."


class PreviewExpired(InvalidInput):
    code = "import_preview_expired"
    message = "Bản xem trước đã quá một giờ hoặc không còn dùng được. Xin chọn tệp và xem trước lại."


@dataclass(frozen=True)
class HeldFile:
    commune_id: int | None
    filename: str
    content: bytes


def hold(crypto: Crypto, user: StaffUser, held: HeldFile) -> str:
    head = json.dumps({"staff": user.id, "commune": held.commune_id, "filename": held.filename}).encode()
    return crypto.fernet.encrypt(gzip.compress(head + b"\n" + held.content, compresslevel=6)).decode()


def unhold(crypto: Crypto, user: StaffUser, token: str) -> HeldFile:
    try:
        plain = gzip.decompress(crypto.fernet.decrypt(token.encode(), ttl=HOLD_SECONDS))
    except (InvalidToken, OSError, ValueError) as error:
        raise PreviewExpired() from error
    head, _, content = plain.partition(b"\n")
    fields = json.loads(head)
    if fields.get("staff") != user.id:  # a page of another login's
        raise PreviewExpired()
    return HeldFile(commune_id=fields.get("commune"), filename=str(fields.get("filename") or ""), content=content)


def _communes(request: Request, user: StaffUser) -> list[tuple[int, str]]:
    with database_of(request).read() as db:
        query = select(Commune.id, Commune.name).order_by(Commune.name)
        if user.role == "station":
            query = query.where(Commune.id == user.commune_id)
        return [(row[0], row[1]) for row in db.execute(query)]


def _form_page(request: Request, user: StaffUser, csrf: str, *, error: AppError | None = None,
               commune_id: int | None = None) -> HTMLResponse:
    return render(request, "records_import.html", status_code=error.status_code if error else 200, user=user,
                  csrf=csrf, communes=_communes(request, user), commune_id=commune_id, error=error,
                  max_mb=settings_of(request).max_import_bytes // (1024 * 1024))


@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request) -> HTMLResponse:
    user, csrf = staff_page(request, IMPORT_ROLES)
    return _form_page(request, user, csrf)


@router.post("/import")
async def import_preview(request: Request) -> Response:
    """The file checked and compared with the books on record; nothing is stored but the audit entry."""
    user, csrf = staff_page(request, IMPORT_ROLES)
    settings = settings_of(request)
    form = await request.form()
    check_csrf(csrf, str(form.get("csrf") or ""))
    upload, commune_id = form.get("file"), user.commune_id if user.role == "station" else None
    try:
        if user.role != "station":
            commune_id = _commune_of(form.get("commune_id"))
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise NoFile()
        content = await upload.read(settings.max_import_bytes + 1)
        if len(content) > settings.max_import_bytes:
            raise FileTooLarge(FileTooLarge.message.format(mb=settings.max_import_bytes // (1024 * 1024)))
        if not content.strip():
            raise service.BadImportFile("Tệp trống.")
        if content.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):  # .xlsx (a zip), .xls (OLE2)
            raise SpreadsheetNotCsv()
        held = HeldFile(commune_id=commune_id, filename=upload.filename[:200], content=content)
        preview, labels = await run_in_threadpool(_preview, request, user, held)
    except AppError as error:
        return _form_page(request, user, csrf, error=error, commune_id=commune_id)
    crypto: Crypto = request.app.state.crypto
    tally = preview.tally
    return render(request, "records_import_preview.html", user=user, csrf=csrf, held=held, tally=tally,
                  first=preview.first, errors=tally.errors[:ERRORS_SHOWN],
                  more_errors=max(0, len(tally.errors) - ERRORS_SHOWN),
                  to_store=tally.created + tally.updated + tally.unchanged, labels=labels,
                  token=hold(crypto, user, held), commune=dict(_communes(request, user)).get(commune_id or 0),
                  columns=COLUMN_NAMES, outcomes=OUTCOME_NAMES)


def _preview(request: Request, user: StaffUser, held: HeldFile) -> tuple[service.ImportPreview, dict[str, str]]:
    with database_of(request).write() as db:
        if held.commune_id is not None:
            get_commune(db, held.commune_id)
        preview = service.preview_csv(db, request.app.state.crypto, actor=user, commune_id=held.commune_id,
                                      content=held.content, today=local_today())
        return preview, service.status_labels(db)


@router.post("/import/confirm")
async def import_confirm(request: Request) -> Response:
    """The previewed file, imported as the JSON endpoint imports it (same service, same audit)."""
    user, csrf = staff_page(request, IMPORT_ROLES)
    # The held file is one large field of the form (compressed, then encrypted: under twice the file's size;
    # api/main.py lets this path's body be that large).
    form = await request.form(max_part_size=settings_of(request).max_import_bytes * 2)
    check_csrf(csrf, str(form.get("csrf") or ""))
    crypto: Crypto = request.app.state.crypto
    try:
        held = unhold(crypto, user, str(form.get("held") or ""))
        if user.role == "station" and held.commune_id != user.commune_id:  # the account moved meanwhile
            raise PreviewExpired()
        batch_id = await run_in_threadpool(_import, request, user, held)
    except AppError as error:
        return _form_page(request, user, csrf, error=error)
    return see_other(f"/studio/records/imports/{batch_id}")


def _import(request: Request, user: StaffUser, held: HeldFile) -> int:
    with database_of(request).write() as db:
        if held.commune_id is not None:
            get_commune(db, held.commune_id)
        batch = service.import_csv(db, request.app.state.crypto, actor=user, commune_id=held.commune_id,
                                   filename=held.filename, content=held.content, today=local_today())
        return batch.id


@router.get("/imports/{import_id}", response_class=HTMLResponse)
def import_result(request: Request, import_id: IdInPath) -> HTMLResponse:
    user, csrf = staff_page(request, IMPORT_ROLES)
    try:
        with database_of(request).read() as db:
            batch = service.visible_import(db, user, import_id)
            commune = db.get(Commune, batch.commune_id) if batch.commune_id is not None else None
            return render(request, "records_import_result.html", user=user, csrf=csrf, batch=batch,
                          commune=commune.name if commune else None)
    except AppError as error:
        return render(request, "notice.html", status_code=error.status_code, title=N_("Không xem được"),
                      message=error.detail_message, back=UPLOAD_PATH)


@router.get("/imports/{import_id}/errors.csv")
def import_errors(request: Request, import_id: IdInPath) -> Response:
    """The rows an import refused (masked), as the API's errors.csv, for the page's own login."""
    user, _csrf = staff_page(request, IMPORT_ROLES)
    try:
        with database_of(request).read() as db:
            batch = service.visible_import(db, user, import_id)
            report = batch.error_report or "dong,cot,gia_tri,loi\n"
    except AppError as error:
        return render(request, "notice.html", status_code=error.status_code, title=N_("Không xem được"),
                      message=error.detail_message, back=UPLOAD_PATH)
    # With a BOM: Excel opens the Vietnamese reasons as UTF-8.
    return Response("\ufeff" + report, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="loi-nhap-{import_id}.csv"'})


def _commune_of(raw: object) -> int | None:
    """An admin's choice of commune ("" for none); a value that is no id is none, and the form says so."""
    text = str(raw or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ID:
        raise InvalidInput("Xã/phường chọn chưa đúng.")
    return int(text)
