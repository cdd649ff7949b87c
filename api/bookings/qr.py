"""The QR code of a booking code, for the resident to show at the station's desk.

It is only a picture of the string in the URL: the code's shape is checked (common.booking_codes) and the
booking is never looked up, so the answer is the same for a real code and an invented one and tells
nothing about either (no oracle, no counters to spend). That makes the image the same forever for one
code: any cache may keep it. The path puts the code after `/bookings/`, where the access logs of nginx
and the API already mask it (deploy/nginx.conf.j2, api.core.logs).
"""

from __future__ import annotations

import io

import segno
from fastapi import APIRouter, Response

from common import booking_codes
from common.errors import InvalidInput

router = APIRouter(tags=["bookings"])

# Version 1 (21×21 modules) holds 8 alphanumeric symbols even at error correction H, which reads through a
# cracked or glaring phone screen; 12 px a module and the standard 4-module quiet zone make 348 px, sharp
# on a phone and large enough for a desk's webcam at arm's length.
SCALE = 12
QUIET_ZONE = 4


class MalformedBookingCode(InvalidInput):
    code = "booking_code_malformed"
    message = "Mã đặt lịch gồm 8 chữ cái và chữ số, ví dụ KE3MX7PA."


def booking_qr_png(code: str) -> bytes:
    """A PNG of the QR code of `code` (a full QR code: desk scanners and browsers do not read Micro QR)."""
    buffer = io.BytesIO()
    segno.make_qr(code, error="h").save(buffer, kind="png", scale=SCALE, border=QUIET_ZONE)
    return buffer.getvalue()


# Under the API's prefix: common.booking_codes.qr_path spells the whole path for the actions.
@router.get("/qr/bookings/{code}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "ảnh mã QR của mã đặt lịch"},
                       422: {"description": "không có dạng một mã đặt lịch"}})
def booking_code_qr(code: str) -> Response:
    """The QR code of a booking code (public: the image holds only the code in its URL)."""
    # Only the canonical spelling: one URL per code, so caches hold one copy.
    if booking_codes.canonical(code) != code:
        raise MalformedBookingCode()
    return Response(booking_qr_png(code), media_type="image/png",
                    headers={"Cache-Control": "public, max-age=31536000, immutable",
                             "Content-Disposition": f'inline; filename="ma-qr-{code}.png"'})
