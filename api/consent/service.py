"""Recording consent next to the data it covers (imported by the booking hot path: no ORM)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api.core.rawsql import Raw

_SQL_INSERT_CONSENT = (
    "INSERT INTO consents (subject_hash, resident_id, purpose, notice_version, channel, given_at, given_by, method,"
    " recorded_by) VALUES (:subject_hash, :resident_id, :purpose, :notice_version, :channel, :now, :given_by,"
    " :method, :recorded_by)"
)

# What a client sends as the version of the notice it showed: "2026-01", "v3"…
NOTICE_VERSION_PATTERN = r"^[A-Za-z0-9_.\-]{1,16}$"


@dataclass(frozen=True)
class ConsentSource:
    """Who gave a consent and how (see `Consent.given_by`)."""

    given_by: str = "self"
    method: str = "chat"
    recorded_by: str = ""


IN_CHAT = ConsentSource()


def record_consent(raw: Raw, *, subject_hash: str, resident_id: int | None, purpose: str, notice_version: str,
                   channel: str, now: datetime, source: ConsentSource = IN_CHAT) -> None:
    """One consent row, written in the caller's transaction so it is kept exactly with the data."""
    raw.run(_SQL_INSERT_CONSENT, {
        "subject_hash": subject_hash, "resident_id": resident_id, "purpose": purpose,
        "notice_version": notice_version, "channel": channel, "now": raw.timestamp(now),
        "given_by": source.given_by, "method": source.method, "recorded_by": source.recorded_by,
    })
