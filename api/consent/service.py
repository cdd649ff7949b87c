"""Recording consent next to the data it covers (imported by the booking hot path: no ORM)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from api.core.rawsql import Raw

_SQL_INSERT_CONSENT = (
    "INSERT INTO consents (subject_hash, resident_id, purpose, notice_version, channel, given_at, given_by, method,"
    " recorded_by, channels) VALUES (:subject_hash, :resident_id, :purpose, :notice_version, :channel, :now,"
    " :given_by, :method, :recorded_by, :channels)"
)
_SQL_WITHDRAW_OTHER_WAYS = (
    "UPDATE consents SET withdrawn_at = :now WHERE subject_hash = :subject_hash AND purpose = :purpose"
    " AND withdrawn_at IS NULL AND channels NOT IN (:channels, :same)"
)
_SQL_STANDING = (
    "SELECT channels FROM consents WHERE subject_hash = :subject_hash AND purpose = :purpose"
    " AND withdrawn_at IS NULL ORDER BY given_at DESC, id DESC LIMIT 1"
)

# What a client sends as the version of the notice it showed: "2026-01", "v3"…
NOTICE_VERSION_PATTERN = r"^[A-Za-z0-9_.\-]{1,16}$"
# The notice series: a version filed with a consent is the series and a fingerprint of the exact words
# shown (the action server's actions/consent.py does the same for the chat's questions).
NOTICE_SERIES = "2026-01"

# The ways a reminder may reach a person, in the order the delivery plan tries them: their chat, a
# Zalo template message (ZNS) to the booking's phone, an SMS. A reminders consent names those its
# notice named (`Consent.channels`); an empty value, from before the notice named ZNS and SMS, is the
# chat only.
ReminderWay = Literal["chat", "zns", "sms"]
REMINDER_WAYS: tuple[ReminderWay, ...] = get_args(ReminderWay)
PHONE_WAYS: tuple[ReminderWay, ...] = ("zns", "sms")


@dataclass(frozen=True)
class ConsentSource:
    """Who gave a consent and how (see `Consent.given_by`)."""

    given_by: str = "self"
    method: str = "chat"
    recorded_by: str = ""


IN_CHAT = ConsentSource()


def ways_text(ways: Iterable[str]) -> str:
    """`Consent.channels` for a set of ways: known ones, space-separated, in REMINDER_WAYS order, so that
    two consents naming the same ways store the same text."""
    chosen = set(ways)
    return " ".join(way for way in REMINDER_WAYS if way in chosen)


def notice_fingerprint(text: str) -> str:
    """The version of a notice as shown: the series and the first hex digits of its words' SHA-256."""
    return f"{NOTICE_SERIES}.{hashlib.sha256(text.encode()).hexdigest()[:6]}"


def record_consent(raw: Raw, *, subject_hash: str, resident_id: int | None, purpose: str, notice_version: str,
                   channel: str, now: datetime, source: ConsentSource = IN_CHAT, channels: str = "") -> None:
    """One consent row, written in the caller's transaction so it is kept exactly with the data."""
    raw.run(_SQL_INSERT_CONSENT, {
        "subject_hash": subject_hash, "resident_id": resident_id, "purpose": purpose,
        "notice_version": notice_version, "channel": channel, "now": raw.timestamp(now),
        "given_by": source.given_by, "method": source.method, "recorded_by": source.recorded_by,
        "channels": channels,
    })


def agree(raw: Raw, *, subject_hash: str, resident_id: int | None, purpose: str, notice_version: str,
          channel: str, now: datetime, source: ConsentSource = IN_CHAT, channels: str = "") -> bool:
    """A "yes" to `purpose` that leaves one consent standing, naming what the person agreed to last.

    A standing consent naming the same ways is kept as it is (its time and notice are the proof of that
    yes); one naming fewer — a chat-only reminders consent, now a yes to ZNS and SMS too — is stamped
    withdrawn and this yes filed with both. Returns whether a new consent was filed."""
    key = {"subject_hash": subject_hash, "purpose": purpose}
    standing = raw.row(_SQL_STANDING, key)
    if standing is not None and channels:
        # A yes to more ways adds them: a Zalo resident who later agrees to ZNS and SMS on the web keeps
        # their chat. Fewer ways are asked for by stopping, not by another yes.
        channels = ways_text({*(standing[0] or "chat").split(), *channels.split()})
    # A consent from before the notice named ways (empty) named the chat only.
    same = "" if channels == "chat" else channels
    raw.run(_SQL_WITHDRAW_OTHER_WAYS, {**key, "channels": channels, "same": same, "now": raw.timestamp(now)})
    if raw.row(_SQL_STANDING, key) is not None:
        return False
    record_consent(raw, subject_hash=subject_hash, resident_id=resident_id, purpose=purpose,
                   notice_version=notice_version, channel=channel, now=now, source=source, channels=channels)
    return True
