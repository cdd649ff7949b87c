"""The reports page: a month's appointments by commune, site, age group, channel, organisation or day,
a chart that shows which communes are behind, the digital-outreach figures, and the same figures as
CSV, XLSX and the monthly report workbook."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from api.core.i18n import gettext_for
from api.reports import export, monthly, stats
from api.studio.web import database_of, problem, render, staff_page, ui_language
from common.errors import AppError

router = APIRouter(prefix="/studio", include_in_schema=False)

REPORT_ROLES = ("admin", "station")


def _report(request: Request, month: str | None, by: str, commune_id: int | None) -> monthly.Report:
    user, _csrf = staff_page(request, REPORT_ROLES)
    if by not in stats.DIMENSIONS:
        by = "commune"
    with database_of(request).read() as db:
        return monthly.build(db, monthly.period_of(month), by=by, commune_id=monthly.scope(user, commune_id))


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, month: str | None = None, by: str = "commune",
                 commune_id: int | None = None) -> HTMLResponse:
    user, csrf = staff_page(request, REPORT_ROLES)
    try:
        report = _report(request, month, by, commune_id)
    except AppError as error:
        return problem(request, error, "/studio/reports")
    _ = gettext_for(ui_language(request))
    lines = export.table(report.rows, stats.DIMENSIONS[report.by], _)
    chart = export.behind_chart(report.rows, _("Ai đang chậm? Đã khám trên số lượt đặt, thấp nhất ở trên"),
                                _("Đã đặt"), _("Đã khám")) if report.rows else ""
    query = f"month={report.period.start:%Y-%m}&by={report.by}" + (
        f"&commune_id={report.commune_id}" if report.commune_id else "")
    return render(request, "reports.html", user=user, csrf=csrf, report=report, lines=lines, chart=Markup(chart),
                  dimensions=stats.DIMENSIONS, month=f"{report.period.start:%Y-%m}", query=query,
                  usage=export.usage_lines(report.usage, _), outreach=export.outreach_lines(report.outreach, _))


@router.get("/reports/export.{kind}")
def reports_export(request: Request, kind: str, month: str | None = None, by: str = "commune",
                   commune_id: int | None = None) -> Response:
    try:
        report = _report(request, month, by, commune_id)
    except AppError as error:
        return problem(request, error, "/studio/reports")
    _ = gettext_for(ui_language(request))
    if kind == "monthly.xlsx":
        with database_of(request).read() as db:
            sheets = monthly.monthly_sheets(db, report, _)
        made = export.download("xlsx", f"bao-cao-thang-{report.period.start:%Y-%m}", sheets)
    else:
        name = f"lich-kham-{report.period.start:%Y-%m}-{report.by}"
        made = export.download(kind, name, {name: export.table(report.rows, stats.DIMENSIONS[report.by], _)})
    if made is None:
        return problem(request, stats.BadPeriod("Không có kiểu tệp này."), "/studio/reports")
    content, media, headers = made
    return Response(content, media_type=media, headers=headers)
