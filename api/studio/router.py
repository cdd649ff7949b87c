"""The content studio: pages where communications staff edit FAQ answers and bot messages, review
each other's changes, turn unanswered questions into content and manage audio per language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.staticfiles import StaticFiles

from api.audio import service as audio
from api.content import service as content
from api.content.models import ContentRevision
from api.core.clock import local_today
from api.core.crypto import Crypto
from api.core.i18n import N_
from api.core.types import IdInPath
from api.deps import client_address
from api.faq.models import FaqEntry, UnansweredQuestion
from api.security.login import log_in
from api.staff.errors import TotpInvalid, TotpRequired, TotpReused
from api.staff.security import issue_token
from api.staff.service import revoke_token
from api.studio import (
    alert_pages,
    desk_pages,
    outreach_pages,
    recording_pages,
    records_pages,
    reminder_pages,
    report_pages,
    voice_pages,
)
from api.studio.headers import SecurityHeaders
from api.studio.web import (
    COOKIE,
    LoginRequired,
    NotAllowed,
    check_csrf,
    cookie_secure,
    current_user,
    database_of,
    editor,
    home_of,
    posted_form,
    problem,
    render,
    see_other,
    session_claims,
    settings_of,
)
from common.errors import AppError
from common.vocabulary import LANGUAGE_LABELS, LANGUAGES
from vntext import nfc

router = APIRouter(prefix="/studio", include_in_schema=False)

STATIC = Path(__file__).with_name("static")


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(outreach_pages.router)
    app.include_router(report_pages.router)
    app.include_router(alert_pages.router)
    app.include_router(reminder_pages.router)
    app.include_router(desk_pages.router)
    app.include_router(records_pages.router)
    app.include_router(recording_pages.router)
    app.include_router(voice_pages.router)
    app.mount("/studio/static", StaticFiles(directory=STATIC), name="studio-static")
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _error: LoginRequired) -> Response:
        return see_other("/studio/login")

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, error: NotAllowed) -> Response:
        return render(request, "notice.html", status_code=403, title=N_("Không có quyền"), message=error.message)


# --- login ------------------------------------------------------------------------------------------

# Refusals after which the form asks for the authenticator code.
_CODE_ERRORS = (TotpRequired, TotpInvalid, TotpReused)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html")


@router.post("/login")
async def login(request: Request) -> Response:
    """The same door as POST /api/v1/auth/token: the same counters, lockout and audit."""
    form = await request.form()
    username = str(form.get("username") or "")
    settings = settings_of(request)
    crypto: Crypto = request.app.state.crypto
    try:
        # scrypt takes tens of milliseconds: off the event loop.
        user = await run_in_threadpool(
            log_in, database=database_of(request), crypto=crypto, settings=settings, username=username,
            password=str(form.get("password") or ""), code=str(form.get("totp") or "") or None,
            address=await client_address(request), via="studio")
    except AppError as error:
        page = render(request, "login.html", status_code=error.status_code, error=error.detail_message,
                      username=username[:64], need_totp=isinstance(error, _CODE_ERRORS))
        if "retry_after_seconds" in error.details:
            page.headers["Retry-After"] = str(error.details["retry_after_seconds"])
        return page
    token = issue_token(key=crypto.token_key, user_id=user.id, role=user.role, version=user.token_version,
                        minutes=settings.access_token_minutes)
    response = see_other(home_of(user.role))
    # No max-age: the cookie goes when the browser closes (station computers are shared); the token
    # inside expires on its own anyway.
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=cookie_secure(request),
                        path="/studio")
    return response


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    """Ends the session for good: the cookie's token is revoked, not just forgotten by this browser."""
    found, claims = current_user(request), session_claims(request)
    if found is not None and claims is not None:
        with database_of(request).write() as db:
            revoke_token(db, found[0], claims)
    response = see_other("/studio/login")
    response.delete_cookie(COOKIE, path="/studio", httponly=True, samesite="strict", secure=cookie_secure(request))
    return response


@router.get("", include_in_schema=False)
@router.get("/", include_in_schema=False)
def home(request: Request) -> RedirectResponse:
    found = current_user(request)
    return see_other(home_of(found[0].role) if found else "/studio/login")


# --- FAQ ------------------------------------------------------------------------------------------

@router.get("/faq", response_class=HTMLResponse)
def faq_list(request: Request) -> HTMLResponse:
    user, csrf = editor(request)
    with database_of(request).read() as db:
        entries = list(db.scalars(select(FaqEntry).order_by(FaqEntry.category, FaqEntry.key)))
        open_keys = {r.key: r for r in db.scalars(select(ContentRevision).where(
            ContentRevision.kind == "faq", ContentRevision.status.in_(content.OPEN)))}
        rows = [{"key": e.key, "category": e.category, "question": e.questions[0].text if e.questions else "",
                 "state": _faq_state(e), "open": open_keys.get(e.key)} for e in entries]
    return render(request, "faq_list.html", user=user, csrf=csrf, rows=rows)


def _faq_state(entry: FaqEntry) -> str:
    today = local_today()
    if not entry.published:
        return "hidden"
    if entry.effective_from and entry.effective_from > today:
        return "scheduled"
    if entry.expires_on and entry.expires_on <= today:
        return "expired"
    return "live"


@router.get("/faq/new", response_class=HTMLResponse)
def faq_new(request: Request, question: str = "") -> HTMLResponse:
    user, csrf = editor(request)
    draft: dict[str, Any] = {"category": "chung", "questions": [nfc(question)[:300]] if question else [], "answers": {},
             "effective_from": None, "expires_on": None, "needs_review": False}
    return render(request, "faq_edit.html", user=user, csrf=csrf, key="", draft=draft, history=[], new=True,
                  labels=LANGUAGE_LABELS, live=None)


@router.get("/faq/{key}", response_class=HTMLResponse)
def faq_edit(request: Request, key: str) -> HTMLResponse:
    user, csrf = editor(request)
    with database_of(request).read() as db:
        entry = db.scalar(select(FaqEntry).where(FaqEntry.key == key))
        pending = content.open_revision(db, "faq", key)
        if entry is None and pending is None:
            return render(request, "notice.html", status_code=404, title=N_("Không tìm thấy"),
                          message=N_("Không có câu hỏi thường gặp này."), back="/studio/faq")
        live = content.live_faq_payload(entry) if entry else None
        draft = pending.payload if pending else live
        history = content.history(db, kind="faq", key=key)
    return render(request, "faq_edit.html", user=user, csrf=csrf, key=key, draft=draft, live=live, pending=pending,
                  history=history, new=False, labels=LANGUAGE_LABELS, saved=request.query_params.get("saved"))


@router.post("/faq/{key}")
async def faq_save(request: Request, key: str) -> Response:
    user, csrf = editor(request)
    form = await posted_form(request, csrf)
    if key == "new":
        key = str(form.get("key") or "").strip().lower()
    payload = {
        "category": str(form.get("category") or "chung").strip(),
        "questions": [q for q in str(form.get("questions") or "").splitlines() if q.strip()],
        "answers": {lang: str(form.get(f"answer_{lang}") or "") for lang in LANGUAGES},
        "effective_from": form.get("effective_from") or None,
        "expires_on": form.get("expires_on") or None,
        "needs_review": form.get("needs_review") == "on",
    }
    back = f"/studio/faq/{key}" if key else "/studio/faq/new"
    try:
        with database_of(request).write() as db:
            if not content.KEY.match(key):
                raise content.BadKey()
            revision = content.save_draft(db=db, actor=user, kind="faq", key=key, payload=payload)
            if form.get("action") == "submit":
                content.submit(db=db, actor=user, revision_id=revision.id)
        from_id = form.get("from_unanswered")
        if from_id and str(from_id).isascii() and str(from_id).isdigit():
            with database_of(request).write() as db:
                content.resolve_unanswered(db=db, actor=user, unanswered_id=int(str(from_id)))
    except AppError as error:
        return problem(request, error, back)
    return see_other(f"/studio/faq/{key}?saved={form.get('action') or 'save'}")


# --- bot messages --------------------------------------------------------------------------------

@router.get("/messages", response_class=HTMLResponse)
def message_list(request: Request) -> HTMLResponse:
    user, csrf = editor(request)
    with database_of(request).read() as db:
        messages = content.message_texts(db)
        open_keys = {r.key for r in db.scalars(select(ContentRevision).where(
            ContentRevision.kind == "message", ContentRevision.status.in_(content.OPEN)))}
    return render(request, "message_list.html", user=user, csrf=csrf, messages=messages, open_keys=open_keys)


@router.get("/messages/{key}", response_class=HTMLResponse)
def message_edit(request: Request, key: str) -> HTMLResponse:
    user, csrf = editor(request)
    with database_of(request).read() as db:
        texts = content.message_texts(db).get(key)
        if texts is None:
            return render(request, "notice.html", status_code=404, title=N_("Không tìm thấy"),
                          message=content.MessageNotFound.message, back="/studio/messages")
        pending = content.open_revision(db, "message", key)
        history = content.history(db, kind="message", key=key)
    draft = pending.payload["texts"] if pending else texts
    return render(request, "message_edit.html", user=user, csrf=csrf, key=key, live=texts, draft=draft,
                  pending=pending, history=history, labels=LANGUAGE_LABELS,
                  placeholders=sorted(content.allowed_placeholders(key, texts.get("vi", ""))),
                  saved=request.query_params.get("saved"))


@router.post("/messages/{key}")
async def message_save(request: Request, key: str) -> Response:
    user, csrf = editor(request)
    form = await posted_form(request, csrf)
    payload = {"texts": {lang: str(form.get(f"text_{lang}") or "") for lang in LANGUAGES}}
    try:
        with database_of(request).write() as db:
            revision = content.save_draft(db=db, actor=user, kind="message", key=key, payload=payload)
            if form.get("action") == "submit":
                content.submit(db=db, actor=user, revision_id=revision.id)
    except AppError as error:
        return problem(request, error, f"/studio/messages/{key}")
    return see_other(f"/studio/messages/{key}?saved={form.get('action') or 'save'}")


# --- review -----------------------------------------------------------------------------------------

@router.get("/review", response_class=HTMLResponse)
def review(request: Request) -> HTMLResponse:
    user, csrf = editor(request)
    with database_of(request).read() as db:
        waiting = content.history(db, status="in_review", limit=200)
        drafts = content.history(db, status="draft", limit=200)
        messages = content.message_texts(db)
        faqs = {e.key: content.live_faq_payload(e) for e in db.scalars(select(FaqEntry))}
    return render(request, "review.html", user=user, csrf=csrf, waiting=waiting, drafts=drafts, messages=messages,
                  faqs=faqs, labels=LANGUAGE_LABELS, done=request.query_params.get("done"))


@router.post("/review/{revision_id}/{decision}")
async def decide(request: Request, revision_id: IdInPath, decision: str) -> Response:
    user, csrf = editor(request)
    form = await posted_form(request, csrf)
    try:
        with database_of(request).write() as db:
            if decision == "publish":
                content.publish(db=db, actor=user, revision_id=revision_id)
            elif decision == "reject":
                content.reject(db=db, actor=user, revision_id=revision_id, comment=str(form.get("comment") or ""))
            elif decision == "submit":
                content.submit(db=db, actor=user, revision_id=revision_id)
            else:
                return render(request, "notice.html", status_code=404, title=N_("Không tìm thấy"),
                              message=N_("Không có thao tác này."), back="/studio/review")
    except AppError as error:
        return problem(request, error, "/studio/review")
    return see_other(f"/studio/review?done={decision}")


# --- unanswered questions --------------------------------------------------------------------------

@router.get("/unanswered", response_class=HTMLResponse)
def unanswered(request: Request) -> HTMLResponse:
    user, csrf = editor(request)
    with database_of(request).read() as db:
        items = list(db.scalars(select(UnansweredQuestion).where(UnansweredQuestion.resolved.is_(False))
                                .order_by(UnansweredQuestion.id.desc()).limit(200)))
        keys = list(db.scalars(select(FaqEntry.key).order_by(FaqEntry.key)))
    return render(request, "unanswered.html", user=user, csrf=csrf, items=items, keys=keys,
                  done=request.query_params.get("done"))


@router.post("/unanswered/{item_id}/{decision}")
async def unanswered_decide(request: Request, item_id: IdInPath, decision: str) -> Response:
    user, csrf = editor(request)
    form = await posted_form(request, csrf)
    try:
        with database_of(request).write() as db:
            if decision == "variant":
                revision = content.add_question_variant(db=db, actor=user, unanswered_id=item_id,
                                                        key=str(form.get("key") or ""))
                return see_other(f"/studio/faq/{revision.key}?saved=variant")
            if decision != "dismiss":
                return render(request, "notice.html", status_code=404, title=N_("Không tìm thấy"),
                              message=N_("Không có thao tác này."), back="/studio/unanswered")
            content.resolve_unanswered(db=db, actor=user, unanswered_id=item_id)
    except AppError as error:
        return problem(request, error, "/studio/unanswered")
    return see_other("/studio/unanswered?done=dismiss")


# --- audio --------------------------------------------------------------------------------------------

@router.get("/audio", response_class=HTMLResponse)
def audio_matrix(request: Request) -> HTMLResponse:
    user, csrf = editor(request)
    with database_of(request).read() as db:
        rows = audio.coverage(db)
    totals = {lang: sum(1 for *_, cells in rows if cells[lang] == "recorded") for lang in LANGUAGES}
    return render(request, "audio_matrix.html", user=user, csrf=csrf, rows=rows, labels=LANGUAGE_LABELS,
                  totals=totals, count=len(rows))


@router.get("/audio/{key}", response_class=HTMLResponse)
def audio_key(request: Request, key: str) -> HTMLResponse:
    user, csrf = editor(request)
    with database_of(request).read() as db:
        text = content.vietnamese_text(db, key)
        if text is None:
            return render(request, "notice.html", status_code=404, title=N_("Không tìm thấy"),
                          message=audio.AudioKeyUnknown.message, back="/studio/audio")
        hashes = audio.current_hashes(db)
        clips = {c.language: c for c in audio.active_clips(db) if c.key == key}
    states = {lang: ("missing" if lang not in clips else "stale" if clips[lang].source_hash != hashes.get(key)
                     else "placeholder" if clips[lang].placeholder else "recorded") for lang in LANGUAGES}
    return render(request, "audio_key.html", user=user, csrf=csrf, key=key, text=text, clips=clips, states=states,
                  labels=LANGUAGE_LABELS, saved=request.query_params.get("saved"),
                  max_mb=settings_of(request).audio_max_bytes // (1024 * 1024))


@router.post("/audio")
async def audio_upload(request: Request) -> Response:
    user, csrf = editor(request)
    form = await request.form()
    check_csrf(csrf, str(form.get("csrf") or ""))
    key, language, upload = str(form.get("key") or ""), str(form.get("language") or ""), form.get("file")
    back = f"/studio/audio/{key}"
    settings = settings_of(request)
    if not isinstance(upload, UploadFile):
        return problem(request, AppError("Xin chọn tệp ghi âm."), back)
    data = await upload.read(settings.audio_max_bytes + 1)

    def store() -> None:
        with database_of(request).write() as db:
            audio.store_upload(db=db, settings=settings, actor=user, key=key, language=language, data=data)

    try:
        await run_in_threadpool(store)
    except AppError as error:
        return problem(request, error, back)
    return see_other(f"{back}?saved={language}")
