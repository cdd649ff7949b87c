from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy import select

from api.audit.service import record
from api.communes.service import check_station_scope, get_commune
from api.core.errors import NotFound
from api.core.text import mask_digit_runs
from api.core.types import IdInPath, IdInQuery
from api.deps import DatabaseDep, ReadSession, require_roles
from api.reports.models import ScamReport
from api.reports.schemas import ScamReportIn, ScamReportList, ScamReportOut
from api.staff.models import StaffUser

router = APIRouter(tags=["reports"])

# Station staff act on reports from their commune; communications staff warn the whole province.
ReportReader = Annotated[StaffUser, Depends(require_roles("admin", "editor", "station"))]


def report_out(report: ScamReport) -> ScamReportOut:
    return ScamReportOut.model_validate(report, from_attributes=True)


@router.post("/reports/scam", response_model=ScamReportOut, status_code=status.HTTP_201_CREATED)
def report_scam(body: ScamReportIn, database: DatabaseDep) -> ScamReportOut:
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
