"""Rendering and sessions of the staff pages: Jinja2 with gettext, cookie login, CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.communes.service import StationWithoutCommune, station_commune
from api.core.clientaddr import forwarded_proto
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.core.i18n import N_, format_day, format_moment, translations
from api.core.types import MAX_ID
from api.staff.models import StaffUser
from api.staff.security import TokenClaims, read_token
from api.staff.service import user_of_token
from common.errors import AppError, InvalidInput
from common.vocabulary import DEFAULT_LANGUAGE, LANGUAGES

TEMPLATES = Path(__file__).with_name("templates")
COOKIE = "ksk_staff"
EDITING_ROLES = ("admin", "editor")


@lru_cache
def environment(language: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["day"] = lambda d: format_day(d, language, "medium") if d else ""
    env.filters["moment"] = lambda m: format_moment(m, language) if m else ""
    return env


def ui_language(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get("ksk_lang") or "vi"
    return wanted if wanted in LANGUAGES else DEFAULT_LANGUAGE


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    language = ui_language(request)
    html = environment(language).get_template(template).render(
        request=request, language=language, languages=LANGUAGES, **context)
    response = HTMLResponse(html, status_code=status_code)
    if request.query_params.get("lang") == language:
        response.set_cookie("ksk_lang", language, samesite="strict", httponly=True)
    return response


def csrf_token(crypto: Crypto, session_token: str) -> str:
    """Bound to the login session: a form posted from another site cannot know it."""
    return hmac.new(crypto.token_key, b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()[:40]


def session_claims(request: Request) -> TokenClaims | None:
    """The claims of the login cookie, if it is a token we signed and it has not expired."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    crypto: Crypto = request.app.state.crypto
    return read_token(key=crypto.token_key, token=token)


def current_user(request: Request) -> tuple[StaffUser, str] | None:
    """The logged-in staff member and the page's CSRF token; None once the cookie's session ended
    (logged out, password changed, account switched off)."""
    claims = session_claims(request)
    if claims is None:
        return None
    database: Database = request.app.state.database
    try:
        with database.read() as db:
            user = user_of_token(db, claims)
    except AppError:
        return None
    crypto: Crypto = request.app.state.crypto
    return user, csrf_token(crypto, request.cookies[COOKIE])


def cookie_secure(request: Request) -> bool:
    """Whether the login cookie is marked Secure. A deployment reached over https always marks it
    (public address https, or the request came over https); X-Forwarded-Proto counts only from a
    trusted proxy, so a client's own header can neither add nor drop it."""
    settings = settings_of(request)
    if settings.staff_cookie_secure is not None:
        return settings.staff_cookie_secure
    if (settings.public_base_url or "").lower().startswith("https://"):
        return True
    said = forwarded_proto(request.client.host if request.client else None,
                           request.headers.get("x-forwarded-proto"), settings.trusted_proxies)
    return request.url.scheme == "https" or said == "https"


class LoginRequired(Exception):
    pass


_NOT_ALLOWED = N_("Tài khoản của anh/chị không có quyền mở trang này. Xin liên hệ quản trị viên.")


class NotAllowed(Exception):
    def __init__(self, message: str = _NOT_ALLOWED) -> None:
        super().__init__(message)
        self.message = message


class BadForm(AppError):
    status_code = 403
    code = "csrf_failed"
    message = "Phiên làm việc của trang đã hết. Xin tải lại trang rồi làm lại."


def staff_page(request: Request, roles: tuple[str, ...]) -> tuple[StaffUser, str]:
    """The logged-in staff member (and the page's CSRF token) if their role may open the page."""
    found = current_user(request)
    if found is None:
        raise LoginRequired()
    if found[0].role not in roles:
        raise NotAllowed()
    if found[0].role == "station" and found[0].commune_id is None:
        # Would otherwise see every commune's links, rosters and reports.
        raise NotAllowed(StationWithoutCommune.message)
    return found


def editor(request: Request) -> tuple[StaffUser, str]:
    return staff_page(request, EDITING_ROLES)


def home_of(role: str) -> str:
    """Where a role lands after logging in."""
    return "/studio/faq" if role in EDITING_ROLES else "/studio/links"


def check_csrf(expected: str, given: str | None) -> None:
    # Bytes: compare_digest refuses a str with characters outside ASCII (a forged field would be a 500).
    if not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise BadForm()


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def database_of(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def crypto_of(request: Request) -> Crypto:
    crypto: Crypto = request.app.state.crypto
    return crypto


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def posted_form(request: Request, csrf: str) -> dict[str, Any]:
    """The posted fields, once the page's CSRF token is checked (a list where a field repeats)."""
    form = await request.form()
    check_csrf(csrf, str(form.get("csrf") or ""))
    return {key: form.getlist(key) if len(form.getlist(key)) > 1 else form.get(key) for key in form}


def problem(request: Request, error: AppError, back: str) -> HTMLResponse:
    """A refused change, explained in Vietnamese, with the way back."""
    return render(request, "notice.html", status_code=error.status_code, title=N_("Chưa lưu được"),
                  message=error.detail_message, details=error.details, back=back)


def chosen_commune(user: StaffUser, value: str | None) -> int | None:
    """The commune a page is about: a station's own whatever was asked; an admin's choice, or all."""
    requested = None
    if value:
        if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_ID:
            raise InvalidInput(N_("Xin chọn xã/phường trong danh sách."))
        requested = int(value)
    return station_commune(user, requested)
