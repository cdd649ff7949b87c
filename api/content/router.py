from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from api.audio.links import audio_base
from api.audio.service import content_version, playable_clips
from api.content import service
from api.content.models import ContentRevision
from api.content.schemas import (
    MessageList,
    MessageOut,
    RejectIn,
    RevisionIn,
    RevisionList,
    RevisionOut,
    VariantIn,
)
from api.core.types import IdInPath
from api.deps import DatabaseDep, ReadSession, SettingsDep, require_roles
from api.staff.models import StaffUser

router = APIRouter(tags=["content"])

EditorUser = Annotated[StaffUser, Depends(require_roles("admin", "editor"))]


def revision_out(revision: ContentRevision) -> RevisionOut:
    return RevisionOut.model_validate(revision, from_attributes=True)


@router.get("/content/bundle")
def content_bundle(request: Request, response: Response, db: ReadSession, settings: SettingsDep) -> dict[str, object]:
    """Everything the assistant's NLG needs, polled every few seconds: published texts and playable
    clips. Answers 304 while nothing changed, so the polling costs one small query."""
    version = content_version(db)
    etag = f'"{version}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})  # type: ignore[return-value]
    response.headers["ETag"] = etag
    base = audio_base(request, settings.public_base_url)
    audio: dict[str, dict[str, dict[str, object]]] = {}
    for (key, language), clip in playable_clips(db).items():
        audio.setdefault(key, {})[language] = {
            "url": f"{base}/{clip.mp3_name}", "ogg_url": f"{base}/{clip.ogg_name}", "placeholder": clip.placeholder}
    return {"version": version, "messages": service.message_texts(db), "audio": audio}


@router.get("/content/messages", response_model=MessageList)
def list_messages(_editor: EditorUser, db: ReadSession) -> MessageList:
    return MessageList(items=[
        MessageOut(key=key, texts=texts, placeholders=sorted(service.allowed_placeholders(key, texts.get("vi", ""))))
        for key, texts in service.message_texts(db).items()])


@router.get("/content/revisions", response_model=RevisionList)
def list_revisions(
    _editor: EditorUser, db: ReadSession,
    kind: Annotated[str | None, Query(pattern="^(faq|message)$")] = None,
    key: Annotated[str | None, Query(max_length=64)] = None,
    revision_status: Annotated[str | None, Query(alias="status", pattern="^(draft|in_review|published|rejected)$")]
    = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> RevisionList:
    rows = service.history(db, kind=kind, key=key, status=revision_status, limit=limit)
    return RevisionList(items=[revision_out(r) for r in rows])


@router.post("/content/revisions", response_model=RevisionOut, status_code=status.HTTP_201_CREATED)
def save_draft(body: RevisionIn, editor: EditorUser, database: DatabaseDep) -> RevisionOut:
    with database.write() as db:
        return revision_out(service.save_draft(db=db, actor=editor, kind=body.kind, key=body.key,
                                               payload=body.payload))


@router.post("/content/revisions/{revision_id}/submit", response_model=RevisionOut)
def submit(revision_id: IdInPath, editor: EditorUser, database: DatabaseDep) -> RevisionOut:
    with database.write() as db:
        return revision_out(service.submit(db=db, actor=editor, revision_id=revision_id))


@router.post("/content/revisions/{revision_id}/publish", response_model=RevisionOut)
def publish(revision_id: IdInPath, editor: EditorUser, database: DatabaseDep) -> RevisionOut:
    with database.write() as db:
        return revision_out(service.publish(db=db, actor=editor, revision_id=revision_id))


@router.post("/content/revisions/{revision_id}/reject", response_model=RevisionOut)
def reject(revision_id: IdInPath, body: RejectIn, editor: EditorUser, database: DatabaseDep) -> RevisionOut:
    with database.write() as db:
        return revision_out(service.reject(db=db, actor=editor, revision_id=revision_id, comment=body.comment))


@router.post("/faq/unanswered/{unanswered_id}/variant", response_model=RevisionOut,
             status_code=status.HTTP_201_CREATED)
def add_variant(unanswered_id: IdInPath, body: VariantIn, editor: EditorUser, database: DatabaseDep) -> RevisionOut:
    with database.write() as db:
        return revision_out(service.add_question_variant(db=db, actor=editor, unanswered_id=unanswered_id,
                                                         key=body.key))


@router.post("/faq/unanswered/{unanswered_id}/dismiss", status_code=status.HTTP_204_NO_CONTENT)
def dismiss(unanswered_id: IdInPath, editor: EditorUser, database: DatabaseDep) -> None:
    with database.write() as db:
        service.resolve_unanswered(db=db, actor=editor, unanswered_id=unanswered_id)
