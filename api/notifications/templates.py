"""What a reminder or a booking confirmation says when the chat cannot carry it: a ZNS template (approved
by Zalo for the OA, its parameters filled from our fields) and an SMS text. One set per message kind,
edited by staff in the studio (`ReminderTemplate`); a kind nobody edited yet uses `DEFAULTS`.

Only the time and place of the exam, the station's phone and how to stop go out by SMS — an SMS is read
on a lock screen and by whoever holds the phone. The booking code is added only to the confirmation
(the resident needs it at the desk; it opens nothing without the chat or the birth date).
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from api.audit.service import record
from api.core.db import utcnow
from api.notifications.models import ReminderTemplate
from common.errors import InvalidInput
from vntext import nfc, unaccent

KINDS = ("booked", "day_before", "two_hours", "followup", "cancelled")
KIND_NAMES = {"booked": "Xác nhận đặt lịch", "day_before": "Nhắc hôm trước", "two_hours": "Nhắc 2 giờ trước",
              "followup": "Hỏi thăm sau khám", "cancelled": "Báo buổi khám bị hủy"}
# Our fields, as staff see them on the template page.
FIELDS = {"time": "giờ khám (08:00)", "date": "ngày khám (02/12/2026)", "weekday": "thứ (thứ Tư)",
          "place": "nơi khám", "address": "địa chỉ nơi khám", "station_phone": "số điện thoại nơi khám",
          "stop_number": "số nhận tin TC để dừng", "code": "mã đặt lịch"}
ONLY_FOR_BOOKED = ("code",)
SAMPLE = {"time": "07:30", "date": "02/12/2026", "weekday": "thứ Tư", "place": "Trạm Y tế xã Hữu Liên",
          "address": "Thôn Hữu Lễ, xã Hữu Liên", "station_phone": "0205 3830 115", "stop_number": "8077",
          "code": "K7Q2MX"}
# One SMS segment: 160 characters of GSM-7 (a text without diacritics); 70 with Vietnamese letters (UCS-2).
# What counts is the text as sent: with SMS_ENCODING=unicode a text typed without diacritics still goes
# as GSM-7 (the gateway marks Unicode only when needed).
GSM7_LIMIT, UNICODE_LIMIT = 160, 70
# ZNS string parameters: Zalo's limit for the longest kind of parameter; the template page says which.
ZNS_VALUE_LIMIT = 100
ZNS_TEMPLATE_ID = re.compile(r"^[0-9]{1,32}$")
ZNS_PARAM = re.compile(r"^[A-Za-z0-9_]{1,40}$")

DEFAULT_SMS = {
    "booked": "Kham suc khoe mien phi: da dat lich {time} {date} tai {place}. Ma: {code}. Mang CCCD. "
              "Dung nhan tin: soan TC gui {stop_number}",
    "day_before": "Nhac lich kham suc khoe mien phi: ngay mai {time} {date} tai {place}. Mang CCCD, den som "
                  "15 phut. Dung nhan tin: soan TC gui {stop_number}",
    "two_hours": "Con khoang 2 gio nua den gio kham suc khoe ({time}) tai {place}. Dung nhan tin: soan TC "
                 "gui {stop_number}",
    "followup": "Cam on ban da di kham suc khoe. Ket qua se co trong So suc khoe dien tu tren VNeID sau vai "
                "ngay. Hoi them: {station_phone}",
    "cancelled": "Buoi kham suc khoe {time} {date} tai {place} da bi huy. Xin dat lich buoi khac hoac hoi "
                 "{station_phone}. Dung nhan tin: soan TC gui {stop_number}",
}


class TemplateInvalid(InvalidInput):
    code = "template_invalid"
    message = "Mẫu tin chưa hợp lệ."

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems=problems)
        self.problems = problems


@dataclass(frozen=True)
class TemplateSet:
    kind: str
    zns_template_id: str = ""
    zns_params: dict[str, str] = field(default_factory=dict)  # ZNS parameter -> our field
    sms_text: str = ""
    updated_by: str = ""


DEFAULTS = {kind: TemplateSet(kind, sms_text=DEFAULT_SMS[kind]) for kind in KINDS}


def for_kind(db: Session, kind: str) -> TemplateSet:
    row = db.get(ReminderTemplate, kind)
    if row is None:
        return DEFAULTS[kind]
    return TemplateSet(kind, row.zns_template_id, dict(json.loads(row.zns_params or "{}")), row.sms_text,
                       row.updated_by)


def all_kinds(db: Session) -> dict[str, TemplateSet]:
    return {kind: for_kind(db, kind) for kind in KINDS}


def placeholders(text: str) -> list[str]:
    """The fields a text fills, "{" for a brace out of place; a format spec or conversion ("{time:d}",
    "{time!x}") is not ours either — it would fail when sending."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:  # an unmatched brace
        return ["{"]
    return ["{" if spec or conversion else name for _literal, name, spec, conversion in parsed if name is not None]


def sms_body(text: str, encoding: str) -> str:
    """The SMS as the provider receives it: without diacritics for GSM-7, one line either way."""
    text = " ".join(nfc(text).split())
    return unaccent(text) if encoding == "gsm7" else text


def sms_limit(body: str) -> int:
    return GSM7_LIMIT if body.isascii() else UNICODE_LIMIT


def fields_for(kind: str) -> list[str]:
    """What a kind may say, by SMS or ZNS: the booking code only in the confirmation."""
    return [name for name in FIELDS if kind == "booked" or name not in ONLY_FOR_BOOKED]


def problems(template: TemplateSet, encoding: str = "gsm7") -> list[str]:
    """What is wrong with a template, in words for the staff member who wrote it ([] when it is fine)."""
    found = []
    if template.kind not in KINDS:
        found.append("Loại tin không có.")
    if template.zns_template_id and not ZNS_TEMPLATE_ID.fullmatch(template.zns_template_id):
        found.append("Mã mẫu ZNS là dãy số Zalo cấp khi duyệt mẫu.")
    if template.zns_template_id and not template.zns_params:
        found.append("Mẫu ZNS cần ít nhất một tham số.")
    allowed = fields_for(template.kind)
    for name, source in template.zns_params.items():
        if not ZNS_PARAM.fullmatch(name):
            found.append(f"Tên tham số ZNS “{name}” chỉ gồm chữ không dấu, số và dấu gạch dưới.")
        if source not in FIELDS:
            found.append(f"Tham số ZNS “{name}” lấy từ trường không có: “{source}”.")
        elif source not in allowed:
            found.append(f"Tham số ZNS “{name}” không được dùng mã đặt lịch (chỉ gửi trong tin xác nhận).")
    if not template.sms_text.strip():
        found.append("Cần nội dung tin SMS.")
    for name in placeholders(template.sms_text):
        if name == "{":
            found.append("Tin SMS có dấu { hoặc } thừa.")
        elif name not in allowed:
            found.append(f"Tin SMS không được dùng “{{{name}}}”"
                         + (" (mã đặt lịch chỉ gửi trong tin xác nhận)." if name in FIELDS else "."))
    if not found:
        body = sms_body(template.sms_text.format_map(_Blank(SAMPLE)), encoding)
        if len(body) > sms_limit(body):
            found.append(f"Tin SMS dài {len(body)} ký tự với dữ liệu mẫu; tối đa {sms_limit(body)}"
                         + (" (có chữ có dấu: tin Unicode)." if not body.isascii() else "."))
    return found


def save(db: Session, template: TemplateSet, *, actor: Any, encoding: str = "gsm7") -> TemplateSet:
    """Validated, stored and audited (who changed what the residents' phones will show)."""
    found = problems(template, encoding)
    if found:
        raise TemplateInvalid(found)
    row = db.get(ReminderTemplate, template.kind) or ReminderTemplate(kind=template.kind)
    row.zns_template_id, row.zns_params = template.zns_template_id, json.dumps(template.zns_params,
                                                                              ensure_ascii=False)
    row.sms_text, row.updated_by, row.updated_at = template.sms_text, getattr(actor, "username", ""), utcnow()
    db.add(row)
    db.flush()
    record(db, actor=actor, action="reminder_template.save", entity="reminder_template", entity_id=template.kind,
           zns_template_id=template.zns_template_id)
    return for_kind(db, template.kind)


def zns_data(template: TemplateSet, values: dict[str, str]) -> dict[str, str]:
    allowed = fields_for(template.kind)
    return {name: (values.get(source, "") if source in allowed else "")[:ZNS_VALUE_LIMIT]
            for name, source in template.zns_params.items()}


def sms_text(template: TemplateSet, values: dict[str, str], encoding: str = "gsm7") -> str:
    """The text, filled; a long place name is shortened before the message is cut, so the time and the
    stop instruction survive."""
    allowed = {name: values.get(name, "") for name in fields_for(template.kind)}
    body = sms_body(template.sms_text.format_map(_Blank(allowed)), encoding)
    limit = sms_limit(body)
    excess = len(body) - limit
    if excess > 0 and len(allowed["place"]) > 12:
        allowed["place"] = allowed["place"][:max(12, len(allowed["place"]) - excess - 1)].rstrip() + "."
        body = sms_body(template.sms_text.format_map(_Blank(allowed)), encoding)
    return body[:limit]


def preview(template: TemplateSet, encoding: str = "gsm7") -> dict[str, Any]:
    """The template filled with sample data, as the studio shows it before saving."""
    body = sms_body(template.sms_text.format_map(_Blank(SAMPLE)), encoding)
    return {"zns": zns_data(template, SAMPLE), "sms": sms_text(template, SAMPLE, encoding),
            "sms_length": len(body), "sms_limit": sms_limit(body)}


class _Blank(dict[str, str]):
    """A field the kind may not use is left empty, never an error at send time."""

    def __missing__(self, key: str) -> str:
        return ""
