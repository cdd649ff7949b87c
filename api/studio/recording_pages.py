"""Staff pages of the recording campaign: where each minority language stands, the invitations (the link of a
new one shown once: only its hash is kept), the people taking part, the takes waiting for a decision and a
printable sheet of what a language still needs. Editors and admins only; the volunteers' own pages are
api/studio/voice_pages.py."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.core.clock import local_today
from api.core.db import utcnow
from api.core.i18n import N_
from api.core.types import IdInPath
from api.outreach.service import qr_image
from api.recording import campaign, invitations, offers, takes
from api.recording.models import Take
from api.studio.web import crypto_of, database_of, editor, posted_form, problem, render, see_other, settings_of
from common.errors import AppError
from common.vocabulary import LANGUAGE_LABELS, LANGUAGES

router = APIRouter(prefix="/studio/recording", include_in_schema=False)

HOME = "/studio/recording"
PURPOSE_LABELS = {"record": N_("Thu âm"), "review": N_("Duyệt bản thu")}
DEFAULT_DAYS, DEFAULT_PEOPLE = 14, 20
_UNKNOWN_LANGUAGE = N_("Không có ngôn ngữ này. Xin chọn Tày, Nùng, H'Mông, Dao hoặc tiếng Việt.")


def unknown_language(request: Request, back: str) -> HTMLResponse:
    return render(request, "notice.html", status_code=422, title=N_("Chưa mở được"), message=_UNKNOWN_LANGUAGE,
                  back=back)


# --- the campaign ---------------------------------------------------------------------------------------

@router.get("", response_class=HTMLResponse)
def campaign_page(request: Request) -> HTMLResponse:
    user, csrf = editor(request)
    with database_of(request).read() as db:
        progress, speakers = campaign.campaign(db, crypto_of(request))
        links = invitations.invitations(db)
    return render(request, "recording_campaign.html", user=user, csrf=csrf, progress=progress, speakers=speakers,
                  invitations=links, now=utcnow(), labels=LANGUAGE_LABELS,
                  purposes=PURPOSE_LABELS, max_days=invitations.MAX_DAYS, max_people=invitations.MAX_PEOPLE,
                  days=DEFAULT_DAYS, people=DEFAULT_PEOPLE, revoked=request.query_params.get("revoked"),
                  refused=_count(request.query_params.get("refused")))


def _count(value: str | None) -> str | None:
    """A count carried back in the URL after a change, shown only if it is one."""
    return value if value and value.isascii() and value.isdigit() and len(value) <= 6 else None


def _whole_number(value: Any, default: int) -> int:
    text = str(value or "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 4):
        raise invitations.BadInvitation()
    return int(text)


@router.post("/invitations", response_class=HTMLResponse)
async def create_invitation(request: Request) -> Response:
    user, csrf = editor(request)
    form = await posted_form(request, csrf)
    settings = settings_of(request)
    try:
        days = _whole_number(form.get("days"), DEFAULT_DAYS)
        max_people = _whole_number(form.get("max_people"), DEFAULT_PEOPLE)
        keys = [line.strip() for line in str(form.get("keys") or "").splitlines() if line.strip()]
        with database_of(request).write() as db:
            invitation, token = invitations.create_invitation(
                db, crypto_of(request), user, purpose=str(form.get("purpose") or ""),
                language=str(form.get("language") or ""), days=days, max_people=max_people,
                label=str(form.get("label") or ""), keys=keys)
    except AppError as error:
        return problem(request, error, HOME)
    link = f"{(settings.public_base_url or str(request.base_url)).rstrip('/')}/studio/voice/{token}"
    qr = "data:image/png;base64," + base64.b64encode(qr_image(link, "png")).decode()
    page = render(request, "recording_created.html", user=user, csrf=csrf, invitation=invitation, link=link, qr=qr,
                  labels=LANGUAGE_LABELS, purposes=PURPOSE_LABELS)
    # The only time the link exists outside the holder's hands: no cache or back button keeps it.
    page.headers["Cache-Control"] = "no-store"
    return page


@router.post("/invitations/{invitation_id}/revoke")
async def revoke_invitation(request: Request, invitation_id: IdInPath) -> Response:
    user, csrf = editor(request)
    await posted_form(request, csrf)
    try:
        with database_of(request).write() as db:
            invitations.revoke_invitation(db, user, invitation_id)
    except AppError as error:
        return problem(request, error, HOME)
    return see_other(f"{HOME}?revoked={invitation_id}#invitation-{invitation_id}")


@router.post("/invitations/{invitation_id}/refuse-waiting")
async def refuse_waiting(request: Request, invitation_id: IdInPath) -> Response:
    """Every take waiting from one link refused at once (a link that leaked and filled with noise)."""
    user, csrf = editor(request)
    form = await posted_form(request, csrf)
    settings = settings_of(request)

    def apply() -> int:
        with database_of(request).write() as db:
            return takes.refuse_waiting(db, settings, user, invitation_id, str(form.get("reason") or ""))

    try:
        refused = await run_in_threadpool(apply)
    except AppError as error:
        return problem(request, error, HOME)
    return see_other(f"{HOME}?refused={refused}#invitation-{invitation_id}")


# --- review -------------------------------------------------------------------------------------------------

def _language_filter(value: Any) -> str | None:
    """The language a review queue is narrowed to, or None for every language."""
    text = str(value or "")
    return text if text in LANGUAGES else None


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, language: str = "") -> HTMLResponse:
    user, csrf = editor(request)
    if language and language not in LANGUAGES:
        return unknown_language(request, f"{HOME}/review")
    chosen = _language_filter(language)
    with database_of(request).read() as db:
        queue = takes.review_queue(db, chosen)
        texts = offers.recordable_texts(db) if queue else {}
    rows = [{"take": take, "stale": stale, "text": texts.get(take.key, "")} for take, stale in queue]
    return render(request, "recording_review.html", user=user, csrf=csrf, takes=rows, chosen=chosen or "",
                  labels=LANGUAGE_LABELS, done=request.query_params.get("done"))


@router.post("/takes/{take_id}/{decision}")
async def decide(request: Request, take_id: IdInPath, decision: str) -> Response:
    user, csrf = editor(request)
    form = await posted_form(request, csrf)
    chosen = _language_filter(form.get("language"))
    back = f"{HOME}/review" + (f"?language={chosen}" if chosen else "")
    if decision not in takes.DECISIONS:
        return render(request, "notice.html", status_code=404, title=N_("Không tìm thấy"),
                      message=N_("Không có thao tác này."), back=back)
    settings, crypto, reviewer = settings_of(request), crypto_of(request), takes.Reviewer.of_staff(user)

    def apply() -> None:
        # Files are decrypted, copied into the library or deleted: off the event loop.
        with database_of(request).write() as db:
            takes.decide(db, settings, crypto, reviewer, take_id, decision, str(form.get("reason") or ""))

    try:
        await run_in_threadpool(apply)
    except AppError as error:
        return problem(request, error, back)
    return see_other(back + ("&" if chosen else "?") + f"done={decision}")


@router.get("/takes/{take_id}.mp3")
def take_mp3(request: Request, take_id: IdInPath) -> Response:
    """A take waiting for review, decrypted for the staff member listening to it (never cached)."""
    editor(request)
    with database_of(request).read() as db:
        take = db.get(Take, take_id)
        if take is None:
            raise takes.TakeNotFound()
        data = takes.take_audio(settings_of(request), crypto_of(request), take)
    return Response(data, media_type="audio/mpeg", headers={"Cache-Control": "no-store"})


# --- the printed sheet ----------------------------------------------------------------------------------

@router.get("/sheet", response_class=HTMLResponse)
def sheet_page(request: Request, language: str = "") -> HTMLResponse:
    user, csrf = editor(request)
    if language not in LANGUAGES:
        return unknown_language(request, HOME)
    with database_of(request).read() as db:
        items = offers.missing_sheet(db, language)
    # `language` is the page's own (render's); the sheet's is another.
    return render(request, "recording_sheet.html", user=user, csrf=csrf, items=items, sheet_language=language,
                  labels=LANGUAGE_LABELS, today=local_today())
