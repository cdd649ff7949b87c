"""Personal numbers kept out of what people read later: staff screens, logs, stored conversations.

A CCCD, a phone number and a birth date are all digits, so masking works on digits:
- `mask`: all but the last few characters of a known value ('012345678901' -> '•••••••••901'), for
  staff screens and the resident's own summaries;
- `mask_digit_runs`: free text a resident typed that staff will read (an unanswered question, a scam
  report, a log line): each run of six or more digits becomes '•••';
- `mask_digits`: every digit, for what a resident typed into the chat (only history reads it back);
- `mask_personal_digits`: the bot's own messages, where counts and times stay readable but digit runs
  and full dates (a booking summary repeats the birth date) lose their digits;
- `mask_echoes`: the bot's messages a resident may read again (the web chat's transcript), where the
  numbers the resident gave lose their digits — what they just said repeated back, and dates long past
  (a birth date) — while the station's phone, the hotline and the session's date stay readable.
"""

from __future__ import annotations

import re
from datetime import date

from vntext import nfc

MASK = "•"
# Six or more digits in a row (spaces, dots and dashes allowed inside): a CCCD, a phone number or
# an account number a resident typed into free text that staff will read.
DIGIT_RUNS = re.compile(r"\d[\d .\-]{4,}\d")
_DIGIT = re.compile(r"\d")
# In the bot's messages: those digit runs, or a date with its year.
_PERSONAL = re.compile(DIGIT_RUNS.pattern + r"|\b\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}\b")


def mask(value: str, visible: int = 3) -> str:
    """'012345678901' -> '•••••••••901' for staff screens and logs."""
    return MASK * max(len(value) - visible, 0) + value[-visible:]


def mask_digit_runs(text: str) -> str:
    """Free text as staff may read it: NFC, trimmed, long digit runs replaced by •••."""
    return DIGIT_RUNS.sub(MASK * 3, nfc(text).strip())


def mask_digits(text: str) -> str:
    return _DIGIT.sub(MASK, text)


def mask_personal_digits(text: str) -> str:
    return _PERSONAL.sub(lambda match: mask_digits(match.group()), text)


_DATE = re.compile(r"\b(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\b")


def mask_echoes(text: str, said: str, today: date) -> str:
    """`text` (the bot's) with the resident's own numbers masked: a digit run of `said` (what the
    resident just typed or said) repeated in it, and any full date more than a year before `today` (a
    birth date in a summary) unless it is a question's example."""
    given = [re.sub(r"\D", "", run) for run in DIGIT_RUNS.findall(said)]

    def echo(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        return mask_digits(match.group()) if any(g in digits for g in given) else match.group()

    def past(match: re.Match[str]) -> str:
        # A question's own example ("ví dụ 05/03/1958") is nobody's birth date.
        example = "ví dụ" in nfc(text[max(0, match.start() - 12):match.start()]).lower()
        return mask_digits(match.group()) if int(match.group(3)) < today.year - 1 and not example else match.group()

    text = DIGIT_RUNS.sub(echo, text) if given else text
    return _DATE.sub(past, text)
