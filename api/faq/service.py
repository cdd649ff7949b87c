from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.core.db import utcnow
from api.core.errors import InvalidInput, NotFound
from api.core.text import mask_digit_runs, nfc
from api.faq.models import FaqAnswer, FaqEntry, FaqQuestion, UnansweredQuestion
from api.faq.schemas import LANGUAGES, FaqHit, FaqOut, FaqUpdate, UnansweredIn
from api.faq.search import FaqIndex
from api.staff.models import StaffUser

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
        self._version: tuple[int, datetime | None] | None = None
        self._index = FaqIndex()
        self._entries: dict[str, FaqEntry] = {}

    def get(self, db: Session) -> tuple[FaqIndex, dict[str, FaqEntry]]:
        count, latest = db.execute(
            select(func.count(FaqEntry.id), func.max(FaqEntry.updated_at)).where(FaqEntry.published.is_(True))
        ).one()
        version = (int(count), latest)
        with self._lock:
            if version != self._version:
                entries = db.scalars(select(FaqEntry).where(FaqEntry.published.is_(True))).all()
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


def search(*, db: Session, cache: FaqIndexCache, q: str, language: str, limit: int) -> list[FaqHit]:
    if language not in LANGUAGES:
        raise UnknownLanguage(allowed=list(LANGUAGES))
    index, entries = cache.get(db)
    hits = []
    for key, score in index.rank(q, limit=limit):
        entry = entries[key]
        text, answered_in = answer_text(entry, language)
        hits.append(FaqHit(
            key=key, question=entry.questions[0].text if entry.questions else key, answer=text,
            score=score, language=answered_in, needs_review=entry.needs_review,
        ))
    return hits


def faq_out(entry: FaqEntry) -> FaqOut:
    return FaqOut(
        key=entry.key, category=entry.category, published=entry.published, needs_review=entry.needs_review,
        source=entry.source, questions=[q.text for q in entry.questions],
        answers={a.language: a.text for a in entry.answers}, updated_at=entry.updated_at,
    )


def get_entry(db: Session, key: str) -> FaqEntry:
    entry = db.scalar(select(FaqEntry).where(FaqEntry.key == key))
    if entry is None:
        raise FaqNotFound()
    return entry


def update_entry(*, db: Session, actor: StaffUser, key: str, changes: FaqUpdate) -> FaqEntry:
    entry = get_entry(db, key)
    fields = changes.model_dump(exclude_unset=True)
    for name in ("category", "published", "needs_review"):
        if fields.get(name) is not None:
            setattr(entry, name, fields[name])
    if changes.questions is not None:
        texts = [nfc(t).strip() for t in changes.questions if t.strip()]
        if not texts:
            raise InvalidInput("Cần ít nhất một cách hỏi.", field="questions")
        entry.questions = [FaqQuestion(language="vi", text=t[:300]) for t in texts]
    if changes.answers is not None:
        unknown = set(changes.answers) - set(LANGUAGES)
        if unknown:
            raise UnknownLanguage(allowed=list(LANGUAGES))
        current = {a.language: a for a in entry.answers}
        for language, text in changes.answers.items():
            if language in current:
                current[language].text = nfc(text).strip()
            else:
                entry.answers.append(FaqAnswer(language=language, text=nfc(text).strip()))
    # Child rows do not touch the entry's own columns, so bump its version explicitly:
    # the search index is rebuilt when it sees a newer updated_at.
    entry.updated_at = utcnow()
    db.flush()
    record(db, actor=actor, action="faq.update", entity="faq", entity_id=key, fields=sorted(fields))
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
