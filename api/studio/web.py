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

from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.core.errors import AppError
from api.core.i18n import LANGUAGES, N_, format_day, format_moment, translations
from api.staff.models import StaffUser
from api.staff.security import read_token

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
    return wanted if wanted in LANGUAGES else "vi"


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


def current_user(request: Request) -> tuple[StaffUser, str] | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    crypto: Crypto = request.app.state.crypto
    user_id = read_token(key=crypto.token_key, token=token)
    if user_id is None:
        return None
    database: Database = request.app.state.database
    with database.read() as db:
        user = db.get(StaffUser, user_id)
    if user is None or not user.active:
        return None
    return user, csrf_token(crypto, token)


class LoginRequired(Exception):
    pass


class NotAllowed(Exception):
    pass


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
    return found


def editor(request: Request) -> tuple[StaffUser, str]:
    return staff_page(request, EDITING_ROLES)


def home_of(role: str) -> str:
    """Where a role lands after logging in."""
    return "/studio/faq" if role in EDITING_ROLES else "/studio/links"


def check_csrf(expected: str, given: str | None) -> None:
    if not given or not hmac.compare_digest(expected, given):
        raise BadForm()


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def database_of(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


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
