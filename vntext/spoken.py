"""Numbers as a Vietnamese speaker says them, written as digits.

Speech recognition writes what it hears in words, lower case, without punctuation: a CCCD read digit
by digit ("không không ba một bảy năm …"), a phone number, a birth date ("mười bốn tháng ba năm tám
bảy"), an age ("sáu mươi lăm"). The booking form wants digits, so a transcript is rewritten before the
assistant reads it: "003175…", "14/03/1987", "65".

Only what is surely a number is rewritten: "không" alone is "no", "một" in "một chút" is "a", "năm"
is also "year", "thứ ba" is Tuesday. So digit words become digits only in runs of three or more (a
number spelled out), after a word that announces a number ("ngày", "tháng", "số", …), or when the run
is a whole number in words ("hai mươi mốt", "một nghìn chín trăm năm mươi tám").

Pure standard library, Python 3.10-compatible (the gateway reads transcripts; the Rasa side may too).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

__all__ = ["digits_from_speech"]

DIGITS = {"không": 0, "linh": 0, "lẻ": 0, "một": 1, "mốt": 1, "hai": 2, "ba": 3, "bốn": 4, "tư": 4, "năm": 5,
          "lăm": 5, "nhăm": 5, "sáu": 6, "bảy": 7, "bẩy": 7, "tám": 8, "chín": 9}
SCALES = {"mười", "mươi", "trăm", "nghìn", "ngàn", "triệu"}
# Forms heard only inside a number ("hai mốt" 21, "mười lăm" 15, "hai tư" 24): never a word of their own.
ONLY_IN_NUMBERS = {"mốt", "lăm", "nhăm", "tư", "linh", "lẻ"}
# Words after which a number is said, even a one-digit one ("ngày năm", "tháng ba", "số hai").
ANNOUNCE = {"ngày", "mùng", "mồng", "tháng", "số", "lúc", "tuổi", "sinh"}
# Spelled-out numbers are at least this many digit words (a CCCD, a phone number, a year): three
# are too few ("khám ba năm một lần" is every three years).
SPELLED_FROM = 4
VIETNAM = timezone(timedelta(hours=7))  # no daylight saving: a fixed offset needs no tz database
DATE = re.compile(r"\b(?:ngày |mùng |mồng )?(\d{1,2}) tháng (\d{1,2}) năm (\d{2}|\d{4})\b")


def digits_from_speech(text: str, today: date | None = None) -> str:
    """`text` (a transcript) with its spoken numbers as digits and its spoken dates as dd/mm/yyyy."""
    words = text.split()
    out: list[str] = []
    i = 0
    while i < len(words):
        end = _number_end(words, i)
        if end == i:
            out.append(words[i])
            i += 1
            continue
        run = words[i:end]
        before = out[-1] if out else ""
        written = _written(run, before)
        out.extend([written] if written is not None else run)
        i = end
    today = today or datetime.now(VIETNAM).date()
    return DATE.sub(lambda m: _date(m, today), " ".join(out))


def _number_end(words: list[str], start: int) -> int:
    """Where the run of number words starting at `start` ends (== start when there is none); a "năm"
    that means "year" ends it."""
    end = start
    while end < len(words) and (words[end] in DIGITS or words[end] in SCALES):
        if words[end] == "năm" and _is_year_word(words, end):
            break
        end += 1
    return end


def _is_year_word(words: list[str], at: int) -> bool:
    """"năm" is the word "year" where a year follows it: after a word that is not a number ("sinh năm
    một chín năm tám"), or after a month ("tháng ba năm tám bảy"); and where no number follows it but
    a number comes before ("mười năm trước", "tháng mười năm ngoái"). It is five before a scale or a
    form heard only in numbers ("năm mươi" is fifty, "năm lăm" fifty-five) and at the end of a number."""
    following = words[at + 1] if at + 1 < len(words) else ""
    before = words[at - 1] if at > 0 else ""
    if following not in DIGITS and following not in SCALES:
        # Nothing of a number follows: "năm" ends a number only at the end of the text ("số nhà hai năm").
        return bool(following) and (before in DIGITS or before in SCALES)
    if following in ONLY_IN_NUMBERS or following in SCALES:
        return False
    if at == 0 or (words[at - 1] not in DIGITS and words[at - 1] not in SCALES):
        return True
    back = at - 1
    while back >= 0 and at - back <= 2 and (words[back] in DIGITS or words[back] in SCALES):
        back -= 1
    return back >= 0 and words[back] == "tháng"


def _written(run: list[str], before: str) -> str | None:
    """The run as digits, or None where it is better left as words. `before` is the word before it:
    after "năm" (year) two digits are a year ("năm tám bảy"); one digit is a number only after a word
    that announces one ("ngày năm", "tháng ba", not "năm năm": five years)."""
    announced = before in ANNOUNCE or before == "năm"
    if any(w in SCALES for w in run):
        return " ".join(_chunks(run))
    if len(run) >= SPELLED_FROM and any(w != "không" for w in run):  # "không không không phải": no
        return "".join(str(DIGITS[w]) for w in run)
    if len(run) == 2 and (announced or run[1] in ONLY_IN_NUMBERS):
        # "hai lăm" is 25, "ba mốt" 31; after "năm"/"tháng", two digits are a two-digit number.
        if run[1] in ONLY_IN_NUMBERS:
            return str(DIGITS[run[0]] * 10 + DIGITS[run[1]])
        return "".join(str(DIGITS[w]) for w in run)
    # One word after "ngày", "tháng": a day, a month ("tháng tư" is April) — but "ngày mốt" is the day
    # after tomorrow, and "không" is no.
    if len(run) == 1 and before in ANNOUNCE and run[0] not in ("không", "mốt", "lăm", "nhăm", "linh", "lẻ"):
        return str(DIGITS[run[0]])
    return None


def _chunks(run: list[str]) -> list[str]:
    """A run with scales, as the numbers in it: a phone number is often read in groups, partly digit by
    digit and partly in hundreds ("không chín tám bảy một trăm hai mươi ba …" → "0987", "123", …)."""
    out, i = [], 0
    while i < len(run):
        j = i
        while j < len(run) and run[j] in DIGITS and not (j + 1 < len(run) and run[j + 1] in SCALES):
            j += 1
        if j > i:
            out.append("".join(str(DIGITS[w]) for w in run[i:j]))
        else:
            j = _cardinal_end(run, i)
            out.append(str(_cardinal(run[i:j])))
        i = j
    return out


def _cardinal_end(run: list[str], start: int) -> int:
    """Where the number in words starting at `start` ends: after its last unit ("… mươi ba"), before a
    digit that starts the next group."""
    j, unit_done = start, False
    while j < len(run):
        word, following = run[j], run[j + 1] if j + 1 < len(run) else ""
        if word in SCALES:
            unit_done = False
        elif word in ("linh", "lẻ"):
            pass
        elif unit_done:
            break
        elif following in SCALES:
            pass  # the multiplier of the scale after it
        elif j > start and (run[j - 1] in SCALES or run[j - 1] in ("linh", "lẻ")):
            unit_done = True  # the last unit of the group
        else:
            break
        j += 1
    return max(j, start + 1)


def _cardinal(run: list[str]) -> int:
    """A number said in words with its scales ("một nghìn chín trăm năm mươi tám" → 1958)."""
    total, group, unit = 0, 0, None
    for word in run:
        if word in DIGITS:
            if unit is not None:  # two digits in a row inside a number: colloquial tens ("hai lăm")
                group, unit = group + unit * 10 + DIGITS[word], None
            else:
                unit = DIGITS[word]
        elif word == "mười":
            group += 10
        elif word == "mươi":
            group, unit = group + (unit if unit is not None else 1) * 10, None
        elif word == "trăm":
            group, unit = group + (unit if unit is not None else 1) * 100, None
        elif word in ("nghìn", "ngàn"):
            total, group, unit = total + (group + (unit or 0) or 1) * 1000, 0, None
        elif word == "triệu":
            total, group, unit = (total + group + (unit or 0) or 1) * 1_000_000, 0, None
    return total + group + (unit or 0)


def _date(match: re.Match[str], today: date) -> str:
    day, month, year = int(match[1]), int(match[2]), match[3]
    if len(year) == 2:  # "năm tám bảy": the century that puts the year in the past
        full = 2000 + int(year)
        year = str(full if full <= today.year else full - 100)
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return match[0]
    return f"{day:02d}/{month:02d}/{year}"
