"""Booking codes: short, random, and easy to read aloud or type on a phone.

The alphabet leaves out look-alikes (0/O/D, 1/I/L, 2/Z, 5/S, 8/B) so a code read off a
screen or spoken on the phone is not mistyped; 8 symbols from 24 give 1.1e11 codes, so
guessing one is hopeless and codes reveal nothing about order or volume. The API issues and looks
up codes; the bot reads them out of what residents type.
"""

from __future__ import annotations

import secrets

ALPHABET = "ACEFGHJKMNPQRTUVWXY34679"
LENGTH = 8


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def canonical(raw: str) -> str | None:
    """'ke3m-x7pa ' -> 'KE3MX7PA'; None when it cannot be a code."""
    code = raw.replace("-", "").replace(" ", "").upper()
    if len(code) != LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    return code


def qr_path(code: str) -> str:
    """Where the API serves the QR code of `code` (api/bookings/qr.py), under its base URL: what the actions
    send residents to show at the desk."""
    return f"/api/v1/qr/bookings/{code}.png"
