"""Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), from the
standard library so any authenticator app (Google Authenticator, Microsoft, FreeOTP…) works.

Only the arithmetic lives here; keeping a used step from being accepted twice is the caller's job
(`api.staff.service.claim_totp_step`), since it needs the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
# One step either side: the phone's clock may be a little off, and a code typed at the end of
# its window arrives in the next one.
DRIFT_STEPS = 1
_CODE = re.compile(r"^\d{6}$")


def new_secret() -> str:
    """160 random bits (the RFC's recommended length), base32 as authenticator apps expect."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    return base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)


def code_at(secret: str, step: int) -> str:
    digest = hmac.new(_key(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def step_of(unix_time: float) -> int:
    return int(unix_time // STEP_SECONDS)


def normalise(code: str) -> str:
    """What people type: spaces or a dash in the middle ("123 456") are dropped."""
    return re.sub(r"[\s-]", "", code)


def matching_step(secret: str, code: str, unix_time: float) -> int | None:
    """The step whose code this is, within the allowed drift, or None."""
    code = normalise(code)
    if not _CODE.match(code):
        return None
    now = step_of(unix_time)
    found = None
    # Every candidate is compared, so the time taken does not depend on which one matched.
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_at(secret, step), code):
            found = step
    return found


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The otpauth:// address an authenticator app reads (typed in, or from a QR code)."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS,
                       "period": STEP_SECONDS}, quote_via=quote)
    return f"otpauth://totp/{label}?{query}"
