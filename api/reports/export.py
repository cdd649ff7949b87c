"""The reports as a chart (inline SVG, no outside library or CDN), CSV and XLSX — the same rows the
page shows."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from html import escape

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]

from api.core.i18n import N_
from api.reports.stats import Outreach, Row, Usage, total

HEADERS = (N_("Số lượt đặt"), N_("Đã khám"), N_("Không đến"), N_("Danh sách chờ"), N_("Đã hủy"),
           N_("Tỉ lệ đến khám (%)"))


def table(rows: list[Row], dimension: str, _: Callable[[str], str]) -> list[list[object]]:
    """Header, one line per row, then the total: what the page, the CSV and the XLSX all show."""
    lines: list[list[object]] = [[_(dimension), *(_(h) for h in HEADERS)]]
    for row in [*rows, total(rows)]:
        rate = row.attendance_rate
        lines.append([_(row.label), row.booked, row.attended, row.no_show, row.waitlisted, row.cancelled,
                      round(rate * 100, 1) if rate is not None else ""])
    return lines


def to_csv(lines: list[list[object]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines)
    # With a byte-order mark, spreadsheet programs open Vietnamese text correctly.
    return ("\ufeff" + buffer.getvalue()).encode()


def to_xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, lines in sheets.items():
        # Excel refuses []:*?/\ in sheet names and more than 31 characters.
        sheet = book.create_sheet(re.sub(r"[\[\]:*?/\\]", "-", title)[:31])
        for line in lines:
            # Control characters (from a name typed anywhere) would make the workbook unreadable.
            sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in line])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for column in sheet.columns:
            width = max(len(str(cell.value or "")) for cell in column)
            sheet.column_dimensions[column[0].column_letter].width = min(max(width + 2, 10), 60)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download(kind: str, name: str, sheets: dict[str, list[list[object]]]) -> tuple[bytes, str, dict[str, str]] | None:
    """(content, media type, headers) of a report file — CSV (its first sheet) or XLSX; None for other kinds."""
    if kind == "csv":
        content, media = to_csv(next(iter(sheets.values()))), "text/csv; charset=utf-8"
    elif kind == "xlsx":
        content, media = to_xlsx(sheets), XLSX
    else:
        return None
    return content, media, {"Content-Disposition": f'attachment; filename="{name}.{kind}"'}


def behind_chart(rows: Sequence[Row], title: str, booked_label: str, attended_label: str) -> str:
    """Horizontal bars, the lowest attendance first: which communes are behind, at a glance."""
    ordered = sorted(rows, key=lambda r: (r.attendance_rate if r.attendance_rate is not None else -1, r.booked))
    biggest = max((r.booked for r in ordered), default=0) or 1
    label_w, bar_w, row_h, top = 220, 380, 26, 46
    height = top + row_h * len(ordered) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{label_w + bar_w + 90}" '
             f'height="{height}" viewBox="0 0 {label_w + bar_w + 90} {height}" font-family="sans-serif" '
             f'font-size="13"><title>{escape(title)}</title>',
             f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>',
             f'<rect x="{label_w}" y="24" width="12" height="12" fill="#b7d7c8"/>'
             f'<text x="{label_w + 16}" y="34">{escape(booked_label)}</text>',
             f'<rect x="{label_w + 150}" y="24" width="12" height="12" fill="#0b6e4f"/>'
             f'<text x="{label_w + 166}" y="34">{escape(attended_label)}</text>']
    for index, row in enumerate(ordered):
        y = top + index * row_h
        booked_w = bar_w * row.booked / biggest
        attended_w = bar_w * row.attended / biggest
        rate = row.attendance_rate
        parts.append(f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end">{escape(row.label[:30])}</text>'
                     f'<rect x="{label_w}" y="{y + 4}" width="{booked_w:.1f}" height="16" fill="#b7d7c8"/>'
                     f'<rect x="{label_w}" y="{y + 4}" width="{attended_w:.1f}" height="16" fill="#0b6e4f"/>'
                     f'<text x="{label_w + booked_w + 6:.1f}" y="{y + 16}">{row.attended}/{row.booked}'
                     f'{f" · {rate * 100:.0f}%" if rate is not None else ""}</text>')
    parts.append("</svg>")
    return "".join(parts)


def usage_lines(usage: Usage, _: Callable[[str], str]) -> list[list[object]]:
    lines: list[list[object]] = [[_("Chỉ số"), _("Nhóm"), _("Số lượng")]]
    for key, count in sorted(usage.questions.items()):
        lines.append([_("Câu hỏi đã nhận"), key, count])
    for key, count in sorted(usage.unanswered.items()):
        lines.append([_("Câu hỏi chưa trả lời được"), key, count])
    for key, count in sorted(usage.audio_plays.items()):
        lines.append([_("Lượt nghe bản ghi âm"), key, count])
    for key, count in sorted(usage.reminders.items()):
        lines.append([_("Tin nhắc lịch"), key, count])
    return lines


def outreach_lines(rows: list[Outreach], _: Callable[[str], str]) -> list[list[object]]:
    lines: list[list[object]] = [[_("Tổ chức"), _("Số đường dẫn"), _("Lượt mở"), _("Bắt đầu trò chuyện"),
                                  _("Đặt lịch"), _("Đã khám")]]
    lines.extend([r.organisation, r.links, r.opened, r.chat_started, r.booked, r.attended] for r in rows)
    return lines
