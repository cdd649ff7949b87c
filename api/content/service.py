"""What the bot says, changed by communications staff: drafts, review, publication, history.

An editor drafts; another editor or an admin publishes (an admin may publish their own draft,
for stations with one admin). Publishing writes the live tables the assistant reads — the FAQ
search index and the message texts its NLG fetches — so no retraining is ever needed.

Every sentence a resident reads is a message here, seeded from its current wording (common.wording:
the Rasa domain and bot/texts); the API's own texts to residents (record statuses, reminder buttons)
are read with `text_for`, so a published wording reaches them the same way it reaches the assistant.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.content.models import BotMessage, ContentRevision
from api.content.schemas import KEY_PATTERN, FaqDraft, MessageDraft
from api.core.db import utcnow
from api.core.errors import Conflict, Forbidden, NotFound
from api.faq.models import FaqAnswer, FaqEntry, FaqQuestion, UnansweredQuestion
from api.faq.service import UnknownLanguage
from api.staff.models import StaffUser
from common.errors import InvalidInput
from common.vocabulary import LANGUAGE_NAMES, LANGUAGES
from common.wording import choose, domain_keys, fill, placeholders, seeds, stray_braces
from vntext import nfc

KEY = re.compile(KEY_PATTERN)
OPEN = ("draft", "in_review")


class RevisionNotFound(NotFound):
    code = "revision_not_found"
    message = "Không tìm thấy bản sửa này."


class MessageNotFound(NotFound):
    code = "message_not_found"
    message = "Không có tin nhắn nào của trợ lý mang tên này."


class RevisionOpen(Conflict):
    code = "revision_open"
    message = "Nội dung này đang có một bản sửa chưa duyệt của người khác. Xin duyệt hoặc từ chối bản đó trước."


class RevisionWrongState(Conflict):
    code = "revision_wrong_state"
    message = "Bản sửa không ở trạng thái cho phép việc này."


class OwnRevision(Forbidden):
    code = "own_revision"
    message = "Bản sửa cần một biên tập viên khác (hoặc quản trị viên) duyệt, không tự duyệt được."


class BadKey(InvalidInput):
    code = "bad_key"
    message = "Mã câu hỏi chỉ gồm chữ thường không dấu, số và dấu gạch dưới (ví dụ: lich_kham_thang_12)."


class UnknownPlaceholder(InvalidInput):
    code = "unknown_placeholder"
    message = "Văn bản có chỗ điền {…} mà trợ lý không có. Xin giữ đúng các chỗ điền của bản gốc."


class KeyIsMessage(InvalidInput):
    code = "key_is_message"
    message = "Mã này đã là tên một tin nhắn của trợ lý. Xin chọn mã khác cho câu hỏi thường gặp."


_STRAY_BRACE = ("có dấu ngoặc nhọn { hoặc } lẻ, không thành chỗ điền. Chỗ điền viết liền trong một cặp ngoặc, "
                "ví dụ {code}; xin sửa lại để người dân không thấy dấu ngoặc thừa.")


class MalformedPlaceholder(InvalidInput):
    code = "malformed_placeholder"
    message = "Văn bản " + _STRAY_BRACE

    def __init__(self, *, language: str) -> None:
        # Names the language: the editor sees five boxes and must know which one to fix.
        super().__init__(f"Bản tiếng {LANGUAGE_NAMES.get(language, language)} " + _STRAY_BRACE, language=language)


class IncompleteContent(InvalidInput):
    code = "incomplete_content"
    message = "Nội dung chưa đủ: cần ít nhất một cách hỏi và câu trả lời tiếng Việt."


def text_hash(text: str) -> str:
    """Identifies a Vietnamese text version (audio clips recorded for it become stale when it changes)."""
    return hashlib.sha256(nfc(text).strip().encode()).hexdigest()


# --- bot messages ---------------------------------------------------------------------------------

def seed_messages(db: Session, texts: Mapping[str, str] | None = None) -> int:
    """Adds the seeded messages that are missing (every key of common.wording by default); never
    overwrites what staff have published."""
    existing = set(db.scalars(select(BotMessage.key).where(BotMessage.language == "vi")))
    added = 0
    for key, text in (seeds() if texts is None else texts).items():
        if key not in existing:
            db.add(BotMessage(key=key, language="vi", text=text))
            added += 1
    db.flush()
    return added


def message_texts(db: Session, keys: Collection[str] | None = None) -> dict[str, dict[str, str]]:
    """The published text of every message (or of `keys`) per language, by key."""
    query = select(BotMessage).order_by(BotMessage.key, BotMessage.language)
    if keys is not None:
        query = query.where(BotMessage.key.in_(keys))
    texts: dict[str, dict[str, str]] = {}
    for row in db.scalars(query):
        texts.setdefault(row.key, {})[row.language] = row.text
    return texts


def text_for(published: Mapping[str, Mapping[str, str]], key: str, language: str | None = "vi",
             values: Mapping[str, object] | None = None) -> str:
    """What a resident reads for `key`: staff's wording in their language, else in Vietnamese, else
    the seed — so a store not seeded yet still says the current wording — with `values` filled in."""
    text = choose(published, seeds(), key, language)
    if text is None:
        raise KeyError(f"{key} has no seed in bot/domain.yml or bot/texts")  # a typo in code: tests catch it
    return fill(text, values or {})


def allowed_placeholders(key: str, vietnamese: str) -> set[str]:
    """What a message may fill in. A text of bot/texts is filled by code that offers exactly its seed's
    values; a domain response is filled by Rasa from the conversation's slots, so its current Vietnamese
    text's values stay allowed too (a text staff shortened can take them back)."""
    seed = placeholders(seeds().get(key, ""))
    return placeholders(vietnamese) | seed if key in domain_keys() else seed


def vietnamese_texts(db: Session, keys: Collection[str] | None = None) -> dict[str, str]:
    """The Vietnamese text of every message and FAQ answer (or of `keys`), by key: what speakers record from."""
    messages = select(BotMessage.key, BotMessage.text).where(BotMessage.language == "vi")
    answers = select(FaqEntry.key, FaqAnswer.text).join(FaqAnswer).where(FaqAnswer.language == "vi")
    if keys is not None:
        messages, answers = messages.where(BotMessage.key.in_(keys)), answers.where(FaqEntry.key.in_(keys))
    texts: dict[str, str] = {}
    for query in (messages, answers):
        texts.update((key, text) for key, text in db.execute(query))
    return texts


def vietnamese_text(db: Session, key: str) -> str | None:
    return vietnamese_texts(db, [key]).get(key)


# --- drafts and review ----------------------------------------------------------------------------

def validated_payload(db: Session, kind: str, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        if kind == "faq":
            faq = FaqDraft.model_validate(payload)
            questions = [nfc(q).strip()[:300] for q in faq.questions if q.strip()]
            answers = {lang: nfc(text).strip() for lang, text in faq.answers.items()}
            _known_languages(answers)
            if not questions or not answers.get("vi"):
                raise IncompleteContent()
            if key in seeds() or db.scalar(select(BotMessage.id).where(BotMessage.key == key).limit(1)):
                # Messages and answers share one space of keys: audio clips and the texts speakers
                # record from are looked up by key alone.
                raise KeyIsMessage(key=key)
            return faq.model_copy(update={"questions": questions, "answers": answers}).model_dump(mode="json")
        message = MessageDraft.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        raise InvalidInput(str(first.get("msg", "")).removeprefix("Value error, "),
                           field=".".join(str(p) for p in first.get("loc", ()))) from None
    current = message_texts(db).get(key)
    if current is None or "vi" not in current:
        raise MessageNotFound(key=key)
    texts = {lang: nfc(text).strip() for lang, text in message.texts.items()}
    _known_languages(texts)
    if not texts.get("vi", current["vi"]):
        raise IncompleteContent("Tin nhắn tiếng Việt không được để trống.")
    allowed = allowed_placeholders(key, current["vi"])
    for lang, text in texts.items():
        if stray_braces(text):
            raise MalformedPlaceholder(language=lang)
        extra = placeholders(text) - allowed
        if extra:
            raise UnknownPlaceholder(language=lang, placeholders=sorted(extra), allowed=sorted(allowed))
    return {"texts": texts}


def _known_languages(texts: dict[str, str]) -> None:
    unknown = set(texts) - set(LANGUAGES)
    if unknown:
        raise UnknownLanguage(allowed=list(LANGUAGES))


def get_revision(db: Session, revision_id: int) -> ContentRevision:
    revision = db.get(ContentRevision, revision_id)
    if revision is None:
        raise RevisionNotFound()
    return revision


def open_revision(db: Session, kind: str, key: str) -> ContentRevision | None:
    return db.scalar(select(ContentRevision).where(
        ContentRevision.kind == kind, ContentRevision.key == key, ContentRevision.status.in_(OPEN)))


def save_draft(*, db: Session, actor: StaffUser, kind: str, key: str, payload: dict[str, Any]) -> ContentRevision:
    """Creates a draft, or updates the editor's own open draft of the same content (one open change
    per item, so two drafts never overwrite each other on publication)."""
    clean = validated_payload(db, kind, key, payload)
    revision = open_revision(db, kind, key)
    if revision is not None:
        if revision.author_id != actor.id or revision.status != "draft":
            raise RevisionOpen(revision_id=revision.id, author=revision.author, status=revision.status)
        revision.payload = clean
        action = "content.draft_update"
    else:
        revision = ContentRevision(kind=kind, key=key, status="draft", payload=clean, author_id=actor.id,
                                   author=actor.username)
        db.add(revision)
        action = "content.draft"
    db.flush()
    record(db, actor=actor, action=action, entity=kind, entity_id=key, revision=revision.id)
    return revision


def submit(*, db: Session, actor: StaffUser, revision_id: int) -> ContentRevision:
    revision = get_revision(db, revision_id)
    if revision.status != "draft":
        raise RevisionWrongState(status=revision.status)
    if revision.author_id != actor.id and actor.role != "admin":
        raise Forbidden("Chỉ người soạn mới gửi bản nháp đi duyệt.")
    revision.status = "in_review"
    record(db, actor=actor, action="content.submit", entity=revision.kind, entity_id=revision.key,
           revision=revision.id)
    return revision


def publish(*, db: Session, actor: StaffUser, revision_id: int) -> ContentRevision:
    revision = get_revision(db, revision_id)
    if revision.status not in OPEN or (revision.status == "draft" and actor.role != "admin"):
        raise RevisionWrongState(status=revision.status)
    if revision.author_id == actor.id and actor.role != "admin":
        raise OwnRevision()
    # Checked again: the message or its placeholders may have changed since the draft was written.
    payload = validated_payload(db, revision.kind, revision.key, revision.payload)
    if revision.kind == "faq":
        _apply_faq(db, revision.key, FaqDraft.model_validate(payload))
    else:
        _apply_message(db, revision.key, payload["texts"])
    revision.status, revision.reviewer, revision.decided_at = "published", actor.username, utcnow()
    db.flush()
    record(db, actor=actor, action="content.publish", entity=revision.kind, entity_id=revision.key,
           revision=revision.id, author=revision.author)
    return revision


def reject(*, db: Session, actor: StaffUser, revision_id: int, comment: str) -> ContentRevision:
    revision = get_revision(db, revision_id)
    if revision.status not in OPEN:
        raise RevisionWrongState(status=revision.status)
    revision.status, revision.reviewer, revision.decided_at = "rejected", actor.username, utcnow()
    revision.comment = nfc(comment).strip()[:300]
    record(db, actor=actor, action="content.reject", entity=revision.kind, entity_id=revision.key,
           revision=revision.id)
    return revision


def _apply_faq(db: Session, key: str, faq: FaqDraft) -> None:
    entry = db.scalar(select(FaqEntry).where(FaqEntry.key == key))
    if entry is None:
        entry = FaqEntry(key=key, category=faq.category, source="", published=True)
        db.add(entry)
    entry.category, entry.needs_review, entry.published = faq.category, faq.needs_review, True
    entry.effective_from, entry.expires_on = faq.effective_from, faq.expires_on
    entry.questions = [FaqQuestion(language="vi", text=q) for q in faq.questions]
    current = {a.language: a for a in entry.answers}
    for language, text in faq.answers.items():
        if language in current and text:
            current[language].text = text
        elif language in current:
            entry.answers.remove(current[language])
        elif text:
            entry.answers.append(FaqAnswer(language=language, text=text))
    # Child rows do not touch the entry's own columns: the search index rebuilds on a newer updated_at.
    entry.updated_at = utcnow()


def _apply_message(db: Session, key: str, texts: dict[str, str]) -> None:
    rows = {m.language: m for m in db.scalars(select(BotMessage).where(BotMessage.key == key))}
    for language, text in texts.items():
        if language in rows and text:
            rows[language].text = text
        elif language in rows:
            db.delete(rows[language])
        elif text:
            db.add(BotMessage(key=key, language=language, text=text))


def history(db: Session, *, kind: str | None = None, key: str | None = None, status: str | None = None,
            limit: int = 100) -> list[ContentRevision]:
    query = select(ContentRevision).order_by(ContentRevision.id.desc()).limit(limit)
    if kind:
        query = query.where(ContentRevision.kind == kind)
    if key:
        query = query.where(ContentRevision.key == key)
    if status:
        query = query.where(ContentRevision.status == status)
    return list(db.scalars(query))


def live_faq_payload(entry: FaqEntry) -> dict[str, Any]:
    return FaqDraft(
        category=entry.category, questions=[q.text for q in entry.questions] or [entry.key],
        answers={a.language: a.text for a in entry.answers}, effective_from=entry.effective_from,
        expires_on=entry.expires_on, needs_review=entry.needs_review,
    ).model_dump(mode="json")


def add_question_variant(*, db: Session, actor: StaffUser, unanswered_id: int, key: str) -> ContentRevision:
    """An unanswered question becomes a new way of asking an existing FAQ (as a draft to review)."""
    item = db.get(UnansweredQuestion, unanswered_id)
    if item is None:
        raise NotFound("Không tìm thấy câu hỏi này.")
    revision = open_revision(db, "faq", key)
    if revision is not None and revision.author_id == actor.id and revision.status == "draft":
        payload = dict(revision.payload)
    else:
        entry = db.scalar(select(FaqEntry).where(FaqEntry.key == key))
        if entry is None:
            raise NotFound("Không tìm thấy câu hỏi thường gặp này.", key=key)
        payload = live_faq_payload(entry)
    if item.text not in payload["questions"]:
        payload["questions"] = [*payload["questions"], item.text]
    revision = save_draft(db=db, actor=actor, kind="faq", key=key, payload=payload)
    item.resolved = True
    return revision


def resolve_unanswered(*, db: Session, actor: StaffUser, unanswered_id: int) -> None:
    item = db.get(UnansweredQuestion, unanswered_id)
    if item is None:
        raise NotFound("Không tìm thấy câu hỏi này.")
    item.resolved = True
    record(db, actor=actor, action="faq.unanswered_dismiss", entity="unanswered", entity_id=unanswered_id)
