"""Checks on what a resident types about themselves: CCCD, phone number, name, birth date.

Each check returns the normalised value or raises an `InvalidInput` with a plain Vietnamese message.
The API (bookings, identity checks, record imports) and the bot's forms use these same rules, so both
accept and refuse exactly the same input. The bot says each refusal by its keyed text, editable per
language (`error_<code>`, or `error_<code>_<reason>` when a check names its `reason` detail:
bot/texts/errors.yml); the message here is the API's and the seed's wording.
"""

from __future__ import annotations

import re
from datetime import date

from common.errors import InvalidInput
from vntext import collapse_spaces, nfc

_SEPARATORS = re.compile(r"[\s.\-()]")
# Mobile prefixes in use since the 2018 renumbering (Viettel 03x/09x/086, Vinaphone 08x/09x,
# MobiFone 07x/09x/089, Vietnamobile 05x, Gmobile 059, Itel 087).
_MOBILE = re.compile(r"0(3[2-9]|5[2-9]|7[06-9]|8[1-9]|9\d)\d{7}")
# The 4th digit of a CCCD encodes sex and century of birth (Circular 59/2021/TT-BCA).
_CENTURY_BY_DIGIT = {0: 1900, 1: 1900, 2: 2000, 3: 2000, 4: 2100, 5: 2100, 6: 2200, 7: 2200, 8: 1800, 9: 1800}
MAX_AGE_YEARS = 125


class InvalidCCCD(InvalidInput):
    code = "invalid_cccd"
    message = "Số CCCD phải gồm đúng 12 chữ số. Xin kiểm tra lại trên thẻ căn cước."


class CCCDBirthMismatch(InvalidInput):
    code = "cccd_birth_date_mismatch"
    message = "Số CCCD không khớp với năm sinh. Xin kiểm tra lại số CCCD hoặc ngày sinh."


class InvalidPhone(InvalidInput):
    code = "invalid_phone"
    message = "Số điện thoại di động chưa đúng. Số hợp lệ có 10 chữ số, ví dụ 0912 345 678."


class InvalidName(InvalidInput):
    code = "invalid_name"
    message = "Họ và tên chưa hợp lệ. Xin ghi đầy đủ họ tên bằng chữ, ví dụ: Nguyễn Văn An."


class InvalidBirthDate(InvalidInput):
    code = "invalid_birth_date"
    message = "Ngày sinh chưa hợp lệ. Xin ghi theo dạng ngày/tháng/năm, ví dụ 05/03/1958."


def normalize_cccd(raw: str) -> str:
    cccd = _SEPARATORS.sub("", raw)
    if len(cccd) != 12 or not cccd.isascii() or not cccd.isdigit():
        raise InvalidCCCD()
    if not 1 <= int(cccd[:3]) <= 96:
        raise InvalidCCCD("Ba chữ số đầu của CCCD là mã tỉnh nơi đăng ký khai sinh, chưa đúng. Xin kiểm tra lại.",
                          reason="province")
    return cccd


def check_cccd_matches_birth_date(cccd: str, birth_date: date) -> None:
    century = _CENTURY_BY_DIGIT[int(cccd[3])]
    if century + int(cccd[4:6]) != birth_date.year:
        raise CCCDBirthMismatch()


def normalize_phone(raw: str) -> str:
    phone = _SEPARATORS.sub("", raw)
    if phone.startswith("+84"):
        phone = "0" + phone[3:]
    elif phone.startswith("84") and len(phone) == 11:
        phone = "0" + phone[2:]
    if not phone.isascii() or not _MOBILE.fullmatch(phone):
        raise InvalidPhone()
    return phone


def normalize_name(raw: str) -> str:
    name = collapse_spaces(nfc(raw))
    letters = name.replace(" ", "").replace("-", "").replace("'", "")
    if not 2 <= len(name) <= 100 or not letters.isalpha():
        raise InvalidName()
    # Title-case each word so "nguyễn thị  mai" and "NGUYỄN THỊ MAI" are stored alike.
    return " ".join(word[:1].upper() + word[1:].lower() for word in name.split(" "))


def check_birth_date(birth_date: date, *, today: date) -> date:
    if birth_date > today:
        raise InvalidBirthDate("Ngày sinh không thể ở tương lai. Xin kiểm tra lại.", reason="future")
    if today.year - birth_date.year > MAX_AGE_YEARS:
        raise InvalidBirthDate("Năm sinh có vẻ chưa đúng. Xin kiểm tra lại.", reason="implausible_year")
    return birth_date
