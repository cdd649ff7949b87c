"""Read-back before consequences: what was heard in a voice note is confirmed by the resident before
the assistant acts on it.

Speech recognition errs on exactly what matters most here: a "có" for a "không", a digit of a CCCD, a
"hủy" (cancel). The gateway cannot see which question is on screen, so it turns the rule around: a
resident's *question* (it ends or starts with a question word) goes straight on — a wrong answer to
it costs a second question — unless it asks to book, cancel, withdraw or erase, holds an identity
number or a date, or was hard to hear. Everything else (an answer: consent, "ừ đúng rồi", "thôi không
khám nữa", a name, a number) is first said back — "Có phải bác/anh/chị nói: «…»?" with "yes" and
"no" buttons — and reaches the assistant only with "yes".

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
# How a Vietnamese question ends, or what it holds (folded). Not "đâu" alone ("không … đâu" is a no),
# nor "à"/"ạ" (folded alike, and "ạ" ends polite statements).
QUESTION_ENDS = ("khong", "chua", "gi", "nao", "sao", "bao nhieu", "bao gio", "may", "ha", "nhi", "o dau")
QUESTION_WORDS = ("bao gio", "khi nao", "o dau", "lam sao", "tai sao", "vi sao", "the nao", "bao nhieu", "co phai",
                  "phai khong", "duoc khong")
# Digits enough for a CCCD, a phone number or a date.
NUMBER_DIGITS = 6
# Asking to act (folded: residents' voice is written with diacritics, typing may not be).
ACTS = ("dat lich", "dang ky", "huy", "doi lich", "xoa", "rut lai", "rut dong y", "dong y", "xac nhan")


# Particles that may follow the question word ("… không ạ", "… gì vậy"): looked past.
PARTICLES = ("a", "vay", "nhe", "nha", "the", "di", "chu")


def is_question(text: str) -> bool:
    words = fold(text).replace("?", " ? ").split()
    if "?" in words:
        return True
    while len(words) > 1 and words[-1] in PARTICLES:
        words.pop()
    folded = " ".join(words)
    # One word is an answer ("không", "có"), not a question.
    return len(words) > 1 and (any(folded.endswith(f" {end}") for end in QUESTION_ENDS)
                               or any(f" {word} " in f" {folded} " for word in QUESTION_WORDS))


def needs_read_back(text: str, confidence: float) -> bool:
    folded = f" {fold(text)} "
    return (confidence < LOW_CONFIDENCE or not is_question(text)
            or sum(c.isdigit() for c in text) >= NUMBER_DIGITS
            or any(f" {act} " in folded for act in ACTS))


def answer_to(text: str) -> tuple[bool, str] | None:
    """(confirmed, token) for a tap on a read-back button, else None."""
    match = TOKEN.match(text.strip())
    return (match[1] == "yes", match[2]) if match else None
