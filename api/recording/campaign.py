"""Where a recording campaign stands: per minority language, and per volunteer."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audio import service as audio
from api.core.crypto import Crypto
from api.recording.invitations import display_name
from api.recording.models import Take, Volunteer
from common.vocabulary import LANGUAGES
from common.wording import placeholders


@dataclass(frozen=True)
class LanguageCampaign:
    language: str
    recorded: int
    in_review: int
    missing: int
    stale: int
    placeholder: int
    total: int


@dataclass(frozen=True)
class Speaker:
    volunteer_id: int
    language: str
    role: str
    name: str
    accepted: int
    in_review: int
    rejected: int
    withdrawn: bool
    joined_at: datetime


def campaign(db: Session, crypto: Crypto) -> tuple[list[LanguageCampaign], list[Speaker]]:
    """Per minority language, where its recordings stand; and the people taking part, with their takes."""
    rows = [(key, cells) for key, _kind, text, cells in audio.coverage(db) if not placeholders(text)]
    waiting: dict[str, set[str]] = {}
    for key, language in db.execute(select(Take.key, Take.language).where(Take.status == "in_review")):
        waiting.setdefault(language, set()).add(key)
    languages = []
    for language in LANGUAGES[1:]:
        states = Counter(cells[language] for _key, cells in rows)
        review = sum(1 for key, cells in rows if key in waiting.get(language, ()) and cells[language] != "recorded")
        languages.append(LanguageCampaign(
            language=language, recorded=states["recorded"], in_review=review, missing=states["missing"],
            stale=states["stale"], placeholder=states["placeholder"], total=len(rows)))
    counts: dict[int, Counter[str]] = {}
    for volunteer_id, status, count in db.execute(select(Take.volunteer_id, Take.status, func.count(Take.id))
                                                   .group_by(Take.volunteer_id, Take.status)):
        counts.setdefault(volunteer_id, Counter())[status] = count
    speakers = [Speaker(volunteer_id=v.id, language=v.language, role=v.role, name=display_name(crypto, v),
                        accepted=counts.get(v.id, Counter())["accepted"],
                        in_review=counts.get(v.id, Counter())["in_review"],
                        rejected=counts.get(v.id, Counter())["rejected"], withdrawn=v.withdrawn_at is not None,
                        joined_at=v.created_at)
                for v in db.scalars(select(Volunteer).order_by(Volunteer.language, Volunteer.id))]
    return languages, speakers
