"""One report, assembled once for the page, the CSV, the spreadsheet and the JSON API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from api.core.clock import local_today
from api.reports import export
from api.reports.stats import DIMENSIONS, Outreach, Period, Row, Usage, appointments, outreach, usage
from api.staff.models import StaffUser

# The monthly report the province sends up (reference plan, section 5): results by commune, priority
# group and channel, outreach by organisation, digital outreach.
MONTHLY_SHEETS = ("commune", "group", "channel", "organisation")


@dataclass
class Report:
    period: Period
    by: str
    commune_id: int | None
    rows: list[Row]
    usage: Usage
    outreach: list[Outreach]


def scope(actor: StaffUser, commune_id: int | None) -> int | None:
    """Station staff tied to a commune see that commune only."""
    if actor.role == "station" and actor.commune_id is not None:
        return actor.commune_id
    return commune_id


def period_of(month: str | None) -> Period:
    return Period.of_month(month or local_today().strftime("%Y-%m"))


def build(db: Session, period: Period, *, by: str, commune_id: int | None) -> Report:
    return Report(period, by, commune_id, appointments(db, period, by=by, commune_id=commune_id),
                  usage(db, period), outreach(db) if commune_id is None else [])


def monthly_sheets(db: Session, report: Report, _: Callable[[str], str]) -> dict[str, list[list[object]]]:
    sheets = {_(DIMENSIONS[by]): export.table(appointments(db, report.period, by=by, commune_id=report.commune_id),
                                              DIMENSIONS[by], _)
              for by in MONTHLY_SHEETS}
    sheets[_("Chuyển đổi số")] = export.usage_lines(report.usage, _)
    if report.outreach:
        sheets[_("Cán bộ giới thiệu")] = export.outreach_lines(report.outreach, _)
    return sheets
