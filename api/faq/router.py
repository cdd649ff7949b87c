from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from sqlalchemy import select

from api.audio.links import audio_base
from api.audio.service import clips_of_texts, pick
from api.core.usage import count_use
from api.deps import CryptoDep, DatabaseDep, ReadSession, SettingsDep, require_roles
from api.faq import service
from api.faq.models import FaqEntry, UnansweredQuestion
from api.faq.schemas import FaqHit, FaqList, FaqOut, UnansweredIn, UnansweredList, UnansweredOut
from api.security import limits, quotas
from api.security.origin import ResidentOrigin
from api.staff.models import StaffUser

router = APIRouter(tags=["faq"])

EditorUser = Annotated[StaffUser, Depends(require_roles("admin", "editor"))]


def index_cache(request: Request) -> service.FaqIndexCache:
    cache: service.FaqIndexCache = request.app.state.faq_index
    return cache


@router.get("/faq/search", response_model=list[FaqHit])
def search_faq(
    request: Request,
    db: ReadSession,
    database: DatabaseDep,
    settings: SettingsDep,
    cache: Annotated[service.FaqIndexCache, Depends(index_cache)],
    q: Annotated[str, Query(min_length=1, max_length=300)],
    lang: Annotated[str, Query(max_length=8)] = "vi",
    limit: Annotated[int, Query(ge=1, le=10)] = 3,
    channel: Annotated[str | None, Query(pattern=r"^[a-z_]{2,16}$")] = None,
) -> list[FaqHit]:
    """With `channel` (the assistant passes it), the question is counted for the reports; nothing of
    its text is kept here (unanswered ones go to the staff inbox, digits masked)."""
    hits, spoken = service.search(db=db, cache=cache, q=q, language=lang, limit=limit)
    clips = clips_of_texts(db, spoken)
    base = audio_base(request, settings.public_base_url)
    for hit in hits:
        found = pick(clips, hit.key, lang)
        if found is not None:
            hit.audio_url, hit.audio_ogg_url = f"{base}/{found.clip.mp3_name}", f"{base}/{found.clip.ogg_name}"
            hit.audio_language = found.language
    if channel is not None:
        with database.write() as counting:
            count_use(counting, kind="question", key=channel)
    return hits


@router.get("/faq", response_model=FaqList)
def list_faq(db: ReadSession) -> FaqList:
    return FaqList(items=[service.faq_out(e) for e in db.scalars(select(FaqEntry).order_by(FaqEntry.key))])


@router.get("/faq/unanswered", response_model=UnansweredList)
def list_unanswered(_editor: EditorUser, db: ReadSession, limit: Annotated[int, Query(ge=1, le=500)] = 100
                    ) -> UnansweredList:
    rows = db.scalars(select(UnansweredQuestion).where(UnansweredQuestion.resolved.is_(False))
                      .order_by(UnansweredQuestion.id.desc()).limit(limit))
    return UnansweredList(items=[UnansweredOut.model_validate(r, from_attributes=True) for r in rows])


@router.post("/faq/unanswered", response_model=UnansweredOut, status_code=status.HTTP_201_CREATED)
def record_unanswered(body: UnansweredIn, origin: ResidentOrigin, database: DatabaseDep, crypto: CryptoDep,
                      settings: SettingsDep) -> UnansweredOut:
    """A question the bot could not answer, for editors (from our action server only, counted per chat)."""
    limits.spend(database, quotas.write_quotas(settings, crypto, origin, "ask"))
    with database.write() as db:
        return UnansweredOut.model_validate(service.record_unanswered(db=db, body=body), from_attributes=True)


@router.get("/faq/{key}", response_model=FaqOut)
def get_faq(key: str, db: ReadSession) -> FaqOut:
    return service.faq_out(service.get_entry(db, key))
