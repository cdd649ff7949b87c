from __future__ import annotations

import json
import threading
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from api.core.clock import local_today
from api.core.errors import NotFound
from api.faq.models import FaqAnswer, FaqEntry, FaqQuestion, UnansweredQuestion
from api.faq.schemas import FaqHit, FaqOut, UnansweredIn
from api.faq.search import FaqIndex
from common.errors import InvalidInput
from common.masking import mask_digit_runs
from common.vocabulary import LANGUAGES

SEED_FILE = Path(__file__).with_name("seed_vi.json")


class FaqNotFound(NotFound):
    code = "faq_not_found"
    message = "Không tìm thấy câu hỏi thường gặp này."


class UnknownLanguage(InvalidInput):
    code = "unknown_language"
    message = "Ngôn ngữ không được hỗ trợ."


class FaqIndexCache:
    """The ranking index, rebuilt only when the published content changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: tuple[int, datetime | None, date] | None = None
        self._index = FaqIndex()
        self._entries: dict[str, FaqEntry] = {}

    def get(self, db: Session) -> tuple[FaqIndex, dict[str, FaqEntry]]:
        today = local_today()
        live = (FaqEntry.published.is_(True),
                or_(FaqEntry.effective_from.is_(None), FaqEntry.effective_from <= today),
                or_(FaqEntry.expires_on.is_(None), FaqEntry.expires_on > today))
        count, latest = db.execute(select(func.count(FaqEntry.id), func.max(FaqEntry.updated_at)).where(*live)).one()
        # The day is part of the version: an answer starts or stops applying at midnight.
        version = (int(count), latest, today)
        with self._lock:
            if version != self._version:
                entries = db.scalars(select(FaqEntry).where(*live)).all()
                self._entries = {e.key: e for e in entries}
                self._index = FaqIndex.build((e.key, [q.text for q in e.questions]) for e in entries)
                for entry in entries:
                    db.expunge(entry)  # kept across requests, detached from this session
                self._version = version
            return self._index, self._entries


def answer_text(entry: FaqEntry, language: str) -> tuple[str, str]:
    """The answer in the wanted language, else Vietnamese (minority-language text may be missing)."""
    answers = {a.language: a.text for a in entry.answers}
    if language in answers:
        return answers[language], language
    return answers.get("vi", ""), "vi"


def search(*, db: Session, cache: FaqIndexCache, q: str, language: str, limit: int
           ) -> tuple[list[FaqHit], dict[str, str]]:
    """The best entries for the question, and their Vietnamese answers by key as the index holds them
    (what their audio was recorded from: the caller checks clips against these, with no statement). The
    clip a resident hears thus always matches the answer shown; both are as fresh as the index, which
    is rebuilt when the published entries' count, their latest `updated_at` or the day changes."""
    if language not in LANGUAGES:
        raise UnknownLanguage(allowed=list(LANGUAGES))
    index, entries = cache.get(db)
    hits, spoken = [], {}
    for key, score in index.rank(q, limit=limit):
        entry = entries[key]
        text, answered_in = answer_text(entry, language)
        hits.append(FaqHit(
            key=key, question=entry.questions[0].text if entry.questions else key, answer=text,
            score=score, language=answered_in, needs_review=entry.needs_review,
        ))
        vietnamese = answer_text(entry, "vi")[0]
        if vietnamese:  # no Vietnamese answer: nothing was recorded from it
            spoken[key] = vietnamese
    return hits, spoken


def faq_out(entry: FaqEntry) -> FaqOut:
    return FaqOut(
        key=entry.key, category=entry.category, published=entry.published, needs_review=entry.needs_review,
        source=entry.source, questions=[q.text for q in entry.questions],
        answers={a.language: a.text for a in entry.answers}, updated_at=entry.updated_at,
        effective_from=entry.effective_from, expires_on=entry.expires_on,
    )


def get_entry(db: Session, key: str) -> FaqEntry:
    entry = db.scalar(select(FaqEntry).where(FaqEntry.key == key))
    if entry is None:
        raise FaqNotFound()
    return entry


def record_unanswered(*, db: Session, body: UnansweredIn) -> UnansweredQuestion:
    item = UnansweredQuestion(
        text=mask_digit_runs(body.text)[:500], language=body.language,
        channel=body.channel, best_key=body.best_key, best_score=body.best_score,
    )
    db.add(item)
    db.flush()
    return item


def seed_content(db: Session) -> int:
    """Adds the seed FAQ entries that are missing; never overwrites what staff have edited."""
    existing = set(db.scalars(select(FaqEntry.key)))
    added = 0
    for item in json.loads(SEED_FILE.read_text(encoding="utf-8")):
        if item["key"] in existing:
            continue
        db.add(FaqEntry(
            key=item["key"], category=item["category"], source=item["source"], needs_review=item["needs_review"],
            published=True,
            questions=[FaqQuestion(language="vi", text=q) for q in item["questions"]],
            answers=[FaqAnswer(language="vi", text=item["answer"])],
        ))
        added += 1
    db.flush()
    return added
