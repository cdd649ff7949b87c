from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Header, Query, Response, UploadFile, status
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit.service import record as audit
from api.communes.service import get_commune
from api.consent.service import NOTICE_VERSION_PATTERN, record_consent
from api.core.clock import local_today
from api.core.db import utcnow
from api.core.errors import NotAuthenticated
from api.core.rawsql import Raw
from api.core.types import IdInPath, IdInQuery
from api.deps import CryptoDep, DatabaseDep, ReadSession, SettingsDep, StationUser
from api.identity.schemas import IdentityIn
from api.identity.service import Identity, counted_check
from api.records import service
from api.records.models import ApiKey, HealthRecord, RecordImport
from api.records.service import RecordIn, StatusAnswer
from api.security.origin import ResidentOrigin
from common.errors import AppError
from common.masking import mask

router = APIRouter(tags=["records"])


class StatusLookupIn(IdentityIn):
    consent_notice: str | None = Field(default=None, pattern=NOTICE_VERSION_PATTERN)
    channel: str = Field(default="api", pattern=r"^[a-z_]{2,16}$")


@router.post("/records/status", response_model=StatusAnswer,
             responses={429: {"description": "thử quá nhiều lần, tạm khóa"}})
def record_status(body: StatusLookupIn, origin: ResidentOrigin, database: DatabaseDep, crypto: CryptoDep,
                  settings: SettingsDep) -> StatusAnswer:
    """E-health book status for a CCCD and birth date. An unknown person and a wrong birth date get
    the same answer; attempts are limited per verified chat, address and CCCD."""

    def answer(db: Session, identity: Identity) -> StatusAnswer:
        if identity.matched and body.consent_notice is not None:
            record_consent(Raw(db.connection()), subject_hash=identity.subject_hash,
                           resident_id=identity.resident.id if identity.resident else None, purpose="record_lookup",
                           notice_version=body.consent_notice, channel=body.channel, now=utcnow())
        return service.answer_for(db, identity.record)

    return counted_check(database, crypto, settings, origin, action="record.lookup", cccd=body.cccd,
                         birth_date=body.birth_date, then=answer)


class ImportOut(BaseModel):
    id: int
    filename: str
    rows: int
    created: int
    updated: int
    unchanged: int
    failed: int
    error_report_url: str | None


def _import_out(batch: RecordImport) -> ImportOut:
    return ImportOut(
        id=batch.id, filename=batch.filename, rows=batch.rows, created=batch.created, updated=batch.updated,
        unchanged=batch.unchanged, failed=batch.failed,
        error_report_url=f"/api/v1/records/imports/{batch.id}/errors.csv" if batch.error_report else None,
    )


@router.post("/records/import", response_model=ImportOut, status_code=status.HTTP_201_CREATED)
async def import_records(
    staff: StationUser, database: DatabaseDep, crypto: CryptoDep, file: Annotated[UploadFile, File()],
    commune_id: IdInQuery = None,
) -> ImportOut:
    """CSV of e-health book statuses (columns cccd, ngay_sinh, trang_thai, ngay_cap_nhat). Valid rows
    are stored, bad ones listed in a downloadable error report; importing the same file again
    changes nothing."""
    if staff.role == "station":
        commune_id = staff.commune_id
    content = await file.read()
    today = local_today()

    def run() -> ImportOut:
        with database.write() as db:
            if commune_id is not None:
                get_commune(db, commune_id)
            batch = service.import_csv(db, crypto, actor=staff, commune_id=commune_id,
                                       filename=file.filename or "tep.csv", content=content, today=today)
            return _import_out(batch)

    return await database.run(run)


@router.get("/records/imports/{import_id}/errors.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def import_errors(import_id: IdInPath, staff: StationUser, db: ReadSession) -> Response:
    batch = service.visible_import(db, staff, import_id)
    return Response(batch.error_report or "dong,cot,gia_tri,loi\n", media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="loi-nhap-{import_id}.csv"'})


class RecordRow(BaseModel):
    cccd_masked: str
    birth_year: int
    status: str
    label: str
    updated_on: date | None
    source: str


class RecordList(BaseModel):
    counts: dict[str, int]
    items: list[RecordRow]


@router.get("/records", response_model=RecordList)
def list_records(
    staff: StationUser, db: ReadSession, crypto: CryptoDep, commune_id: IdInQuery = None,
    record_status: Annotated[service.RecordStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> RecordList:
    """Staff view of a commune's books: counts per status and a masked list (no full CCCD)."""
    if staff.role == "station":
        commune_id = staff.commune_id
    scope = [HealthRecord.commune_id == commune_id] if commune_id is not None else []
    grouped = db.execute(select(HealthRecord.status, func.count()).where(*scope).group_by(HealthRecord.status))
    counts = {status_name: int(count) for status_name, count in grouped}
    query = select(HealthRecord).where(*scope).order_by(HealthRecord.id).limit(limit)
    if record_status is not None:
        query = query.where(HealthRecord.status == record_status)
    labels = service.status_labels(db)
    items = [
        RecordRow(cccd_masked=mask(crypto.decrypt(r.cccd_enc)), birth_year=int(crypto.decrypt(r.birth_date_enc)[:4]),
                  status=r.status, label=labels[r.status], updated_on=r.updated_on, source=r.source)
        for r in db.scalars(query)
    ]
    return RecordList(counts=counts, items=items)


# --- the health information system --------------------------------------------------------------

class InvalidApiKey(NotAuthenticated):
    code = "invalid_api_key"
    message = "Khóa API không hợp lệ hoặc đã bị thu hồi."


def integration_client(database: DatabaseDep, x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
    if not x_api_key:
        raise InvalidApiKey("Thiếu khóa API (header X-Api-Key).")
    with database.write() as db:
        client = db.scalar(select(ApiKey).where(ApiKey.key_hash == service.api_key_hash(x_api_key), ApiKey.active))
        if client is None:
            raise InvalidApiKey()
        client.last_used_at = utcnow()
        db.expunge(client)
    return client


IntegrationClient = Annotated[ApiKey, Depends(integration_client)]


class BatchIn(BaseModel):
    records: list[RecordIn] = Field(min_length=1, max_length=1000)


class RowError(BaseModel):
    index: int
    code: str
    message: str


class BatchOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    errors: list[RowError]


@router.post("/integration/records", response_model=BatchOut)
def upsert_records(body: BatchIn, client: IntegrationClient, database: DatabaseDep, crypto: CryptoDep) -> BatchOut:
    """Batch upsert of e-health book statuses by the health information system (header X-Api-Key).
    Rows are checked one by one: a bad row is reported and the others are stored."""
    today = local_today()
    out = BatchOut(created=0, updated=0, unchanged=0, errors=[])
    with database.write() as db:
        for index, row in enumerate(body.records):
            try:
                cccd, birth_date = service.check_row(row, today=today)
                if row.commune_id is not None:
                    get_commune(db, row.commune_id)
            except AppError as error:  # bad values, or an unknown commune
                out.errors.append(RowError(index=index, code=error.code, message=error.detail_message))
                continue
            outcome = service.upsert(db, crypto, cccd=cccd, birth_date=birth_date, status=row.status,
                                     updated_on=row.updated_on, commune_id=row.commune_id, source="his")
            setattr(out, outcome, getattr(out, outcome) + 1)
        audit(db, actor=None, action="records.integration", entity="api_key", entity_id=client.name,
              created=out.created, updated=out.updated, unchanged=out.unchanged, failed=len(out.errors))
    return out

