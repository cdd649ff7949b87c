from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.communes.service import check_station_scope, get_commune
from api.core.errors import NotFound
from api.core.i18n import gettext_for
from api.core.types import IdInPath, IdInQuery
from api.deps import CryptoDep, DatabaseDep, ReadSession, SettingsDep, require_roles
from api.reports import export, monthly, stats
from api.reports.models import ScamReport
from api.reports.schemas import ScamReportIn, ScamReportList, ScamReportOut
from api.security import limits, quotas
from api.security.origin import ResidentOrigin
from api.staff.models import StaffUser
from common.masking import mask_digit_runs

router = APIRouter(tags=["reports"])

# Station staff act on reports from their commune; communications staff warn the whole province.
ReportReader = Annotated[StaffUser, Depends(require_roles("admin", "editor", "station"))]


def report_out(report: ScamReport) -> ScamReportOut:
    return ScamReportOut.model_validate(report, from_attributes=True)


@router.post("/reports/scam", response_model=ScamReportOut, status_code=status.HTTP_201_CREATED)
def report_scam(body: ScamReportIn, origin: ResidentOrigin, database: DatabaseDep, crypto: CryptoDep,
                settings: SettingsDep) -> ScamReportOut:
    limits.spend(database, quotas.write_quotas(settings, crypto, origin, "scam"))
    with database.write() as db:
        if body.commune_id is not None:
            get_commune(db, body.commune_id)
        report = ScamReport(text=mask_digit_runs(body.text)[:1000], channel=body.channel, commune_id=body.commune_id)
        db.add(report)
        db.flush()
        return report_out(report)


@router.get("/reports/scam", response_model=ScamReportList)
def list_scam_reports(
    staff: ReportReader,
    db: ReadSession,
    commune_id: IdInQuery = None,
    include_reviewed: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ScamReportList:
    stmt = select(ScamReport).order_by(ScamReport.id.desc()).limit(limit)
    if commune_id is not None:
        check_station_scope(staff, commune_id)
    elif staff.role == "station":
        commune_id = staff.commune_id
    if commune_id is not None:
        stmt = stmt.where(ScamReport.commune_id == commune_id)
    if not include_reviewed:
        stmt = stmt.where(ScamReport.reviewed.is_(False))
    return ScamReportList(items=[report_out(r) for r in db.scalars(stmt)])


@router.post("/reports/scam/{report_id}/reviewed", response_model=ScamReportOut)
def mark_reviewed(report_id: IdInPath, staff: ReportReader, database: DatabaseDep) -> ScamReportOut:
    with database.write() as db:
        report = db.get(ScamReport, report_id)
        if report is None:
            raise NotFound("Không tìm thấy báo cáo này.")
        if report.commune_id is not None:
            check_station_scope(staff, report.commune_id)
        report.reviewed = True
        record(db, actor=staff, action="scam_report.review", entity="scam_report", entity_id=report.id)
        return report_out(report)


# --- appointment figures and the monthly report -----------------------------------------------------

ReportViewer = Annotated[StaffUser, Depends(require_roles("admin", "station"))]
Month = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="tháng, ví dụ 2026-12 (mặc định: tháng này)")]
By = Annotated[str, Query(pattern="^(commune|site|group|channel|organisation|day|month)$")]


def report_for(db: Session, staff: StaffUser, month: str | None, by: str, commune_id: int | None
               ) -> monthly.Report:
    return monthly.build(db, monthly.period_of(month), by=by, commune_id=monthly.scope(staff, commune_id))


@router.get("/reports/appointments")
def appointment_report(staff: ReportViewer, db: ReadSession, month: Month = None, by: By = "commune",
                       commune_id: IdInQuery = None) -> dict[str, object]:
    report = report_for(db, staff, month, by, commune_id)
    rows = [*report.rows, stats.total(report.rows)]
    return {"start": report.period.start, "end": report.period.end, "by": by, "commune_id": report.commune_id,
            "rows": [{**vars(row), "attendance_rate": row.attendance_rate} for row in rows],
            "usage": vars(report.usage)}


@router.get("/reports/appointments.{kind}")
def appointment_export(kind: str, staff: ReportViewer, db: ReadSession, month: Month = None, by: By = "commune",
                       commune_id: IdInQuery = None) -> Response:
    report = report_for(db, staff, month, by, commune_id)
    name = f"lich-kham-{report.period.start:%Y-%m}-{by}"
    made = export.download(kind, name, {name: export.table(report.rows, stats.DIMENSIONS[by], gettext_for("vi"))})
    if made is None:
        raise NotFound()
    content, media, headers = made
    return Response(content, media_type=media, headers=headers)


@router.get("/reports/monthly.xlsx")
def monthly_report(staff: ReportViewer, db: ReadSession, month: Month = None, commune_id: IdInQuery = None
                   ) -> Response:
    report = report_for(db, staff, month, "commune", commune_id)
    content, media, headers = export.download("xlsx", f"bao-cao-thang-{report.period.start:%Y-%m}",
                                              monthly.monthly_sheets(db, report, gettext_for("vi"))) or (b"", "", {})
    return Response(content, media_type=media, headers=headers)
