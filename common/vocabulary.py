"""Words both runtimes use for the same things: languages, booking statuses, the time zone.

Search here before writing one of these lists again (STYLE.md: a concept has one home).
"""

from __future__ import annotations

# Vietnamese first (the default, and what text falls back to), then the minority languages whose
# audio staff record: Tày, Nùng, H'Mông, Dao (Iu Mien).
LANGUAGES = ("vi", "tyz", "nut", "hmn", "ium")
DEFAULT_LANGUAGE = "vi"
# How a sentence names a language after "tiếng" ("nghe bằng tiếng Tày").
LANGUAGE_NAMES = {"vi": "Việt", "tyz": "Tày", "nut": "Nùng", "hmn": "H'Mông", "ium": "Dao"}

# A booking's status as the API returns it, and as a resident reads it in chat.
BOOKING_STATUS_LABELS = {"confirmed": "đã xác nhận", "waitlisted": "đang trong danh sách chờ", "cancelled": "đã hủy",
                         "attended": "đã khám", "no_show": "đã qua, không đến khám"}
# Bookings that still hold (or wait for) a seat: they can be cancelled or moved.
ACTIVE_BOOKING_STATUSES = ("confirmed", "waitlisted")

# Residents, stations and schedules all live in Vietnam time (UTC+7, no daylight saving).
TIME_ZONE = "Asia/Ho_Chi_Minh"
