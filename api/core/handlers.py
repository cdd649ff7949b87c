"""Turns every failure into JSON `{code, message}`: 4xx for what the client sent, 503 when busy."""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.core.errors import MalformedJSON, PayloadTooLarge, ServiceBusy
from common.errors import AppError

log = logging.getLogger("api")

_FIELD_MESSAGES = {
    "missing": "Thiếu thông tin bắt buộc.",
    "int_parsing": "Phải là một số nguyên.",
    "int_type": "Phải là một số nguyên.",
    "int_from_float": "Phải là một số nguyên.",
    "bool_parsing": "Phải là true hoặc false.",
    "bool_type": "Phải là true hoặc false.",
    "string_type": "Phải là chuỗi ký tự.",
    "string_too_short": "Quá ngắn.",
    "string_too_long": "Quá dài.",
    "too_long": "Quá nhiều phần tử.",
    "string_pattern_mismatch": "Có ký tự không hợp lệ.",
    "date_parsing": "Ngày chưa đúng dạng năm-tháng-ngày (YYYY-MM-DD).",
    "date_from_datetime_parsing": "Ngày chưa đúng dạng năm-tháng-ngày (YYYY-MM-DD).",
    "date_type": "Ngày chưa đúng dạng năm-tháng-ngày (YYYY-MM-DD).",
    "datetime_parsing": "Thời gian chưa đúng dạng ISO 8601.",
    "datetime_from_date_parsing": "Thời gian chưa đúng dạng ISO 8601.",
    "datetime_type": "Thời gian chưa đúng dạng ISO 8601.",
    "date_out_of_range": "Ngày nằm ngoài khoảng cho phép.",
    "literal_error": "Giá trị không nằm trong danh sách cho phép.",
    "greater_than_equal": "Giá trị nhỏ hơn mức cho phép.",
    "less_than_equal": "Giá trị lớn hơn mức cho phép.",
    "model_attributes_type": "Phải là một đối tượng JSON.",
    "dict_type": "Phải là một đối tượng JSON.",
    "list_type": "Phải là một danh sách.",
}

_STATUS_CODES = {
    404: ("not_found", "Không tìm thấy địa chỉ này."),
    405: ("method_not_allowed", "Phương thức không được hỗ trợ ở địa chỉ này."),
    401: ("not_authenticated", "Anh/chị cần đăng nhập để dùng chức năng này."),
    403: ("forbidden", "Tài khoản của anh/chị không có quyền thực hiện việc này."),
}


def _error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=body, headers=headers)


async def app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
    if "retry_after_seconds" in exc.details:
        headers["Retry-After"] = str(exc.details["retry_after_seconds"])
    return _error(exc.status_code, exc.body(), headers or None)


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return _error(400, MalformedJSON().body())
    fields = [
        {
            "field": ".".join(str(part) for part in e.get("loc", ())),
            "message": _FIELD_MESSAGES.get(str(e.get("type")), "Giá trị không hợp lệ."),
            "type": e.get("type"),
        }
        for e in errors
    ]
    return _error(
        422,
        {"code": "validation_error", "message": "Thông tin gửi lên chưa đúng. Xin kiểm tra lại.",
         "details": {"fields": fields}},
    )


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code, message = _STATUS_CODES.get(exc.status_code, ("http_error", "Yêu cầu không hợp lệ."))
    return _error(exc.status_code, {"code": code, "message": message}, getattr(exc, "headers", None))


_BUSY_SIGNS = ("locked", "busy", "timeout", "timed out", "could not connect", "connection", "too many clients")


async def database_busy(request: Request, exc: Exception) -> JSONResponse:
    # A locked SQLite file, an exhausted pool or an unreachable server will pass: say "try again".
    # Anything else (a missing table after a skipped migration…) is a fault to log, not "busy".
    if isinstance(exc, OperationalError) and not any(sign in str(exc.orig).lower() for sign in _BUSY_SIGNS):
        return await unexpected(request, exc)
    log.warning("database busy: %s", type(exc).__name__)
    return _error(503, ServiceBusy().body(), {"Retry-After": "2"})


async def unstorable_data(_request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value the schema let through (a NUL byte in text, a number out
    # of the column's range): the client sent it, so it is a 4xx, not a server failure.
    return _error(422, {"code": "invalid_data", "message": "Dữ liệu có ký tự hoặc giá trị không hợp lệ."})


async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
    # Log the type and traceback, never the request body (it may hold personal data).
    log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return _error(500, {"code": "internal_error", "message": "Hệ thống gặp lỗi, xin thử lại sau."})


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(PoolTimeout, database_busy)
    app.add_exception_handler(OperationalError, database_busy)
    app.add_exception_handler(DataError, unstorable_data)
    app.add_exception_handler(Exception, unexpected)


class BodySizeLimit:
    """Refuses bodies over the limit, whether announced by Content-Length or streamed: a JSON error for the
    API, a page in words for the staff pages (a file too large for a form)."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None,
                 patterns: list[tuple[re.Pattern[str], int]] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths that take files (CSV imports) get their own, larger limit; `patterns` for paths with an id.
        self.larger = larger or {}
        self.patterns = patterns or []

    def limit(self, path: str) -> int:
        if path in self.larger:
            return self.larger[path]
        return next((size for pattern, size in self.patterns if pattern.match(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = True
                if too_big:
                    await _too_large(scope, send)
                    return
        # Read the (small) body up front so an oversized stream is answered 413 here,
        # before any parser sees it, then hand the buffered body on.
        chunks: list[bytes] = []
        seen = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await _too_large(scope, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, _replay(chunks, None, receive), send)


def _replay(chunks: list[bytes], then: Message | None, original: Receive) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if then is not None:
                return then
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        return await original()

    return receive


# What a staff page's form gets for a file over the limit (a page of its own: the studio's templates are a
# layer above). Its way back is the form's own address, where every studio form posts.
_TOO_LARGE_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tệp quá lớn</title><link rel="stylesheet" href="/studio/static/studio.css"></head>
<body><main><h1>Tệp quá lớn</h1><p>{message} Xin chọn tệp nhỏ hơn, hoặc chia tệp thành nhiều phần.</p>
<p><a href="{back}">Quay lại</a></p></main></body></html>"""


async def _too_large(scope: Scope, send: Send) -> None:
    path = str(scope.get("path", ""))
    if path != "/studio" and not path.startswith("/studio/"):
        await _json_response(send, 413, PayloadTooLarge().body())
        return
    page = _TOO_LARGE_PAGE.format(message=PayloadTooLarge.message, back=html.escape(path)).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(page)).encode())]})
    await send({"type": "http.response.body", "body": page})


async def _json_response(send: Send, status: int, body: dict[str, Any]) -> None:
    import json

    payload = json.dumps(body, ensure_ascii=False).encode()
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
    })
    await send({"type": "http.response.body", "body": payload})
