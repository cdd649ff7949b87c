"""The volunteer's pages: an invitation link opens them on a phone without a staff account.

`/studio/voice/{token}`: who are you and do you agree (once), then one message at a time to record — or,
for a reviewer's invitation, the takes of their language to accept or refuse. The browser keeps a random
secret in a cookie per invitation; the page's writes carry a CSRF token bound to it. Everything a script
holding only a link can reach is here: it can join (up to the invitation's cap, a few times an hour per
address), record (a few dozen takes per ten minutes), never hear anyone else's voice unless it is a
reviewer of that language, and learn nothing about other links.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.audio import service as audio
from api.audio.links import audio_base
from api.consent.service import notice_fingerprint
from api.content.schemas import KEY_PATTERN
from api.core.clientaddr import address_bucket
from api.core.crypto import Crypto
from api.core.db import utcnow
from api.core.i18n import N_
from api.core.types import IdInPath
from api.deps import client_address
from api.recording import invitations, offers, takes
from api.recording.models import RecordingInvitation, Volunteer
from api.security import limits
from api.security.limits import Rule
from api.studio.web import (
    check_csrf,
    cookie_secure,
    crypto_of,
    csrf_token,
    database_of,
    problem,
    render,
    see_other,
    settings_of,
)
from common.errors import AppError
from common.vocabulary import LANGUAGE_LABELS

router = APIRouter(prefix="/studio/voice", include_in_schema=False)

COOKIE_PREFIX = "ksk_voice_"
# Where a take is posted (its body may be larger than a form's: api.main gives it its own limit).
TAKE_PATH = re.compile(r"^/studio/voice/[^/]+/takes$")
UPLOAD_ID = re.compile(r"^[A-Za-z0-9-]{8,40}$")
SOURCE_HASH = re.compile(r"^[0-9a-f]{64}$")
KEY = re.compile(KEY_PATTERN)
# A volunteer records a message in half a minute at best; a script uploading faster only burns ffmpeg.
TAKES_PER_TEN_MINUTES = 40
# A village's Wi-Fi or a carrier's NAT puts many honest phones behind one address.
JOINS_PER_HOUR_PER_ADDRESS = 30


class BadTake(AppError):
    status_code = 422
    code = "take_invalid"
    message = "Bản ghi gửi lên chưa đủ thông tin. Xin tải lại trang rồi ghi lại."


def _cookie_name(invitation: RecordingInvitation) -> str:
    return f"{COOKIE_PREFIX}{invitation.id}"


def _path(token: str) -> str:
    return f"/studio/voice/{token}"


def _join_csrf(crypto: Crypto, token: str) -> str:
    # Nothing to bind to before the person joins but the link itself.
    return csrf_token(crypto, "voice-join:" + token)


def _found(request: Request, token: str, *, ended_ok: bool = False,
           ) -> tuple[RecordingInvitation, Volunteer | None, str]:
    """The invitation, the volunteer this browser is under it (if any) and the page's CSRF token. With
    `ended_ok` an expired or revoked invitation is found too: its volunteers can still withdraw."""
    crypto = crypto_of(request)
    with database_of(request).read() as db:
        invitation = invitations.open_invitation(db, token, ended_ok=ended_ok)
        secret = request.cookies.get(_cookie_name(invitation))
        volunteer = invitations.volunteer_of(db, invitation, secret)
        db.expunge_all()
    csrf = csrf_token(crypto, secret) if volunteer is not None and secret else _join_csrf(crypto, token)
    return invitation, volunteer, csrf


def _unusable(request: Request, error: AppError) -> HTMLResponse:
    return render(request, "voice_notice.html", status_code=error.status_code, title=N_("Không mở được"),
                  message=error.detail_message)


def _offer(request: Request, invitation: RecordingInvitation, volunteer: Volunteer) -> dict[str, Any] | None:
    settings = settings_of(request)
    with database_of(request).read() as db:
        offer = offers.next_offer(db, settings, volunteer, invitation, audio_base(request, settings.public_base_url))
    return asdict(offer) if offer else None


def _tally(request: Request, volunteer: Volunteer) -> dict[str, int]:
    with database_of(request).read() as db:
        return asdict(takes.tally(db, volunteer))


@router.get("/{token}", response_class=HTMLResponse)
def voice_home(request: Request, token: str) -> HTMLResponse:
    try:
        invitation, volunteer, csrf = _found(request, token, ended_ok=True)
    except AppError as error:
        return _unusable(request, error)
    ended = not invitations.usable(invitation, utcnow())
    if ended and volunteer is None:
        return _unusable(request, invitations.InvitationUnusable())
    common: dict[str, Any] = {"token": token, "invitation": invitation, "csrf": csrf,
                              "language_label": LANGUAGE_LABELS[invitation.language]}
    if volunteer is None:
        return _join_page(request, invitation, common)
    if ended:
        # The link's time is over: what they gave can still be counted and taken back.
        return render(request, "voice_ended.html", name=invitations.display_name(crypto_of(request), volunteer),
                      tally=_tally(request, volunteer), **common)
    with database_of(request).read() as db:
        name = invitations.display_name(crypto_of(request), volunteer)
        if volunteer.role == "review":
            queue = takes.review_queue(db, volunteer.language)
            texts = offers.recordable_texts(db)
            return render(request, "voice_review.html", name=name, queue=queue, texts=texts,
                          done=request.query_params.get("done"), **common)
        rejections = takes.latest_rejections(db, volunteer)
        texts = offers.recordable_texts(db)
    return render(request, "voice_record.html", name=name, offer=_offer(request, invitation, volunteer),
                  tally=_tally(request, volunteer), rejections=rejections, texts=texts,
                  max_seconds=settings_of(request).audio_max_seconds, **common)


def _join_page(request: Request, invitation: RecordingInvitation, common: dict[str, Any], *, status_code: int = 200,
               error: AppError | None = None, name: str = "") -> HTMLResponse:
    with database_of(request).read() as db:
        notice = invitations.notice_text(db, invitation.purpose)
    return render(request, "voice_join.html", status_code=status_code, notice=notice,
                  notice_version=notice_fingerprint(notice), error=error, name=name, **common)


@router.post("/{token}/join")
async def voice_join(request: Request, token: str) -> Response:
    try:
        invitation, volunteer, csrf = _found(request, token)
    except AppError as error:
        return _unusable(request, error)
    if volunteer is not None:
        return see_other(_path(token))
    form = await request.form()
    check_csrf(csrf, str(form.get("csrf") or ""))
    name = str(form.get("name") or "")[:100]
    crypto, database = crypto_of(request), database_of(request)
    address = crypto.lookup_hash("voice-join:" + address_bucket(await client_address(request)))
    try:
        await run_in_threadpool(limits.spend, database,
                                {f"voice-join:{address[:32]}": Rule.per_minutes(JOINS_PER_HOUR_PER_ADDRESS, 60)})
        with database.write() as db:
            fresh = db.merge(invitation)
            _joined, secret = invitations.join(db, crypto, fresh, name=name, phone=str(form.get("phone") or "")[:30],
                                           agreed=form.get("agree") == "on",
                                           notice_version=str(form.get("notice_version") or ""))
    except AppError as error:
        common: dict[str, Any] = {"token": token, "invitation": invitation, "csrf": csrf,
                                  "language_label": LANGUAGE_LABELS[invitation.language]}
        return _join_page(request, invitation, common, status_code=error.status_code, error=error, name=name)
    response = see_other(_path(token))
    # Lax, not strict: the link is opened from Zalo or an SMS, a navigation from another site, and the page
    # must know the person then; every write still needs the CSRF token bound to this secret.
    response.set_cookie(_cookie_name(invitation), secret, httponly=True, samesite="lax",
                        secure=cookie_secure(request), path=_path(token), max_age=90 * 24 * 3600)
    return response


def _volunteer(request: Request, token: str, role: str) -> tuple[RecordingInvitation, Volunteer, str]:
    invitation, volunteer, csrf = _found(request, token)
    if volunteer is None or volunteer.role != role:
        raise invitations.NotJoined()
    return invitation, volunteer, csrf


@router.post("/{token}/takes", status_code=201)
async def voice_take(request: Request, token: str) -> JSONResponse:
    """One recorded take (multipart: csrf, key, source_hash, upload_id, file). Answers with the speaker's
    counts and the next message; the same upload_id again is the same take (a retry after a lost answer)."""
    invitation, volunteer, csrf = _volunteer(request, token, "record")
    settings, database, crypto = settings_of(request), database_of(request), crypto_of(request)
    form = await request.form(max_files=1, max_fields=10)
    check_csrf(csrf, str(form.get("csrf") or ""))
    key, source_hash, upload_id = (str(form.get(name) or "") for name in ("key", "source_hash", "upload_id"))
    upload = form.get("file")
    if not (KEY.match(key) and SOURCE_HASH.match(source_hash) and UPLOAD_ID.match(upload_id)
            and isinstance(upload, UploadFile)):
        raise BadTake()
    data = await upload.read(takes.TAKE_MAX_BYTES + 1)
    if len(data) > takes.TAKE_MAX_BYTES:
        raise takes.TakeTooLarge()

    def store() -> dict[str, Any]:
        with database.read() as db:
            again = takes.existing_take(db, volunteer, upload_id)
        if again is None:
            limits.spend(database, {f"voice-take:{volunteer.id}": Rule.per_minutes(TAKES_PER_TEN_MINUTES, 10)})
            recording = audio.normalise(settings, data, min_seconds=takes.MIN_TAKE_SECONDS, require_sound=True)
            try:
                with database.write() as db:
                    take = takes.submit_take(db, settings, crypto, volunteer, key=key, source_hash=source_hash,
                                               upload_id=upload_id, recording=recording)
                    again = (take.id, take.status)
            except IntegrityError:
                # The same upload, sent twice at once (a reload while the first was being converted).
                with database.read() as db:
                    again = takes.existing_take(db, volunteer, upload_id)
                if again is None:
                    raise
        return {"take": {"id": again[0], "status": again[1]}}

    # ffmpeg takes seconds: off the event loop.
    result = await run_in_threadpool(store)
    result |= {"tally": _tally(request, volunteer), "next": _offer(request, invitation, volunteer)}
    return JSONResponse(result, status_code=201, headers={"Cache-Control": "no-store"})


@router.post("/{token}/skip")
async def voice_skip(request: Request, token: str) -> JSONResponse:
    invitation, volunteer, csrf = _volunteer(request, token, "record")
    form = await request.form()
    check_csrf(csrf, str(form.get("csrf") or ""))
    with database_of(request).write() as db:
        offers.skip(db, db.merge(volunteer), str(form.get("key") or "")[:64])
    with database_of(request).read() as db:
        volunteer = db.get(Volunteer, volunteer.id) or volunteer
        db.expunge(volunteer)
    return JSONResponse({"next": _offer(request, invitation, volunteer)}, headers={"Cache-Control": "no-store"})


@router.get("/{token}/takes/{take_id}.mp3")
def voice_take_audio(request: Request, token: str, take_id: IdInPath) -> Response:
    """A take waiting for review: heard by reviewers of its language (not its own speaker's phone in
    review) and by its speaker."""
    _invitation, volunteer, _csrf = _found(request, token)
    if volunteer is None:
        raise invitations.NotJoined()
    with database_of(request).read() as db:
        take = takes.take_for_listener(db, volunteer, take_id)
        data = takes.take_audio(settings_of(request), crypto_of(request), take)
    return Response(data, media_type="audio/mpeg", headers={"Cache-Control": "no-store"})


@router.post("/{token}/takes/{take_id}/{decision}")
async def voice_decide(request: Request, token: str, take_id: IdInPath, decision: str) -> Response:
    """An invited reviewer accepts or refuses a take of their language."""
    try:
        _invitation, volunteer, csrf = _volunteer(request, token, "review")
    except AppError as error:
        return _unusable(request, error)
    form = await request.form()
    check_csrf(csrf, str(form.get("csrf") or ""))
    if decision not in takes.DECISIONS:
        return _unusable(request, takes.TakeNotFound())
    settings, crypto, reviewer = settings_of(request), crypto_of(request), takes.Reviewer.of_volunteer(volunteer)

    def decide() -> None:
        with database_of(request).write() as db:
            takes.decide(db, settings, crypto, reviewer, take_id, decision, str(form.get("reason") or ""))

    try:
        await run_in_threadpool(decide)
    except AppError as error:
        return problem(request, error, _path(token))
    return see_other(f"{_path(token)}?done={decision}")


@router.post("/{token}/withdraw")
async def voice_withdraw(request: Request, token: str) -> Response:
    """The speaker takes their consent back: their recordings stop playing and are deleted (also once the
    link's time is over)."""
    try:
        invitation, volunteer, csrf = _found(request, token, ended_ok=True)
    except AppError as error:
        return _unusable(request, error)
    if volunteer is None:
        return see_other(_path(token))
    form = await request.form()
    check_csrf(csrf, str(form.get("csrf") or ""))
    with database_of(request).write() as db:
        unpublished = takes.withdraw(db, settings_of(request), db.merge(volunteer))
    response = render(request, "voice_notice.html", title=N_("Đã rút lại đồng ý"), withdrawn=unpublished,
                      message=N_("Các bản ghi của anh/chị đã thôi phát và đã được xóa. Cảm ơn anh/chị đã giúp."))
    response.delete_cookie(_cookie_name(invitation), path=_path(token), httponly=True, samesite="lax",
                           secure=cookie_secure(request))
    return response
