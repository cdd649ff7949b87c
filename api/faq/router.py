from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from sqlalchemy import select

from api.deps import DatabaseDep, ReadSession, require_roles
from api.faq import service
from api.faq.models import FaqEntry, UnansweredQuestion
from api.faq.schemas import FaqHit, FaqList, FaqOut, FaqUpdate, UnansweredIn, UnansweredList, UnansweredOut
from api.staff.models import StaffUser

router = APIRouter(tags=["faq"])

EditorUser = Annotated[StaffUser, Depends(require_roles("admin", "editor"))]


def index_cache(request: Request) -> service.FaqIndexCache:
    cache: service.FaqIndexCache = request.app.state.faq_index
    return cache


@router.get("/faq/search", response_model=list[FaqHit])
def search_faq(
    db: ReadSession,
    cache: Annotated[service.FaqIndexCache, Depends(index_cache)],
    q: Annotated[str, Query(min_length=1, max_length=300)],
    lang: Annotated[str, Query(max_length=8)] = "vi",
    limit: Annotated[int, Query(ge=1, le=10)] = 3,
) -> list[FaqHit]:
    return service.search(db=db, cache=cache, q=q, language=lang, limit=limit)


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
def record_unanswered(body: UnansweredIn, database: DatabaseDep) -> UnansweredOut:
    with database.write() as db:
        return UnansweredOut.model_validate(service.record_unanswered(db=db, body=body), from_attributes=True)


@router.get("/faq/{key}", response_model=FaqOut)
def get_faq(key: str, db: ReadSession) -> FaqOut:
    return service.faq_out(service.get_entry(db, key))


@router.put("/faq/{key}", response_model=FaqOut)
def update_faq(key: str, body: FaqUpdate, editor: EditorUser, database: DatabaseDep) -> FaqOut:
    with database.write() as db:
        return service.faq_out(service.update_entry(db=db, actor=editor, key=key, changes=body))
