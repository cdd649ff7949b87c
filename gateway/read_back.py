"""Read-back before consequences: what was heard in a voice note is confirmed by the resident before
the assistant acts on it.

Speech recognition errs on exactly what matters most here: a "có" for a "không", a digit of a CCCD, a
"hủy" (cancel). So a transcript that answers a question (a short reply: consent, a confirmation), holds
an identity number or a date, asks to book, cancel, withdraw or erase, or was hard to hear is first
said back — "Có phải bác/anh/chị nói: «…»?" with "yes" and "no" buttons — and reaches the assistant
only with "yes". A question (a FAQ) goes straight on: a wrong answer to it costs a second question.

The transcript waits in the gateway's store (encrypted, its own chat only, a few minutes); the buttons
carry a token the gateway answers itself, never seen by Rasa.
"""

from __future__ import annotations

import re

from vntext import fold

YES, NO = "voice-yes:", "voice-no:"
TOKEN = re.compile(r"^voice-(yes|no):([A-Za-z0-9_\-]{8,40})$")
# Below this (gateway/speech.py's estimate, or the cloud engine's own), everything is read back.
LOW_CONFIDENCE = 0.6
# A reply this short answers a question on screen: consent, "đúng" to a summary, "có" to cancelling.
SHORT_REPLY_WORDS = 4
# Digits enough for a CCCD, a phone number or a date.
NUMBER_DIGITS = 6
# Asking to act (folded: residents' voice is written with diacritics, typing may not be).
ACTS = ("dat lich", "dang ky", "huy", "doi lich", "xoa", "rut lai", "rut dong y", "dong y", "khong dong y")


def needs_read_back(text: str, confidence: float) -> bool:
    folded = f" {fold(text)} "
    return (confidence < LOW_CONFIDENCE or len(text.split()) <= SHORT_REPLY_WORDS
            or sum(c.isdigit() for c in text) >= NUMBER_DIGITS
            or any(f" {act} " in folded for act in ACTS))


def answer_to(text: str) -> tuple[bool, str] | None:
    """(confirmed, token) for a tap on a read-back button, else None."""
    match = TOKEN.match(text.strip())
    return (match[1] == "yes", match[2]) if match else None
