"""A local fake of the Telegram Bot API, served over real HTTP in a background thread, so the real
aiogram client can be pointed at it (`TELEGRAM_API_BASE`). It records every request and can be told
to fail the next calls of a method (429 with retry_after, 5xx, 403)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.support.fakes import LocalFake, serving
from tests.support.servers import wait_for


@dataclass
class Call:
    method: str
    data: dict[str, Any]
    files: dict[str, bytes]
    at: float = field(default_factory=time.monotonic)  # when it arrived (rate checks)


@dataclass
class FakeBotApi(LocalFake):
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)  # served once by getUpdates

    def fail_next(self, method: str, status: int, **parameters: Any) -> None:
        self.failures.setdefault(method, []).append((status, parameters))

    def sent(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def wait_for(self, condition: Callable[[], bool], timeout_s: float = 8.0) -> None:
        wait_for(condition, timeout_s, what=lambda: [c.method for c in self.calls])

    def app(self) -> FastAPI:
        return _app(self)


def _app(fake: FakeBotApi) -> FastAPI:
    app = FastAPI()

    @app.get("/files/{name}")
    async def file(name: str) -> Response:
        if name not in fake.files:
            return Response(status_code=404)
        content, media = fake.files[name]
        return Response(content, media_type=media)

    # A resident's voice note, as Telegram serves it after getFile (`files` keyed by file id).
    @app.get("/file/bot{token}/{path:path}")
    async def download(token: str, path: str) -> Response:
        name = path.rsplit("/", 1)[-1]
        if name not in fake.files:
            return Response(status_code=404)
        content, media = fake.files[name]
        return Response(content, media_type=media)

    @app.post("/bot{token}/{method}")
    async def method(token: str, method: str, request: Request) -> Response:
        form = await request.form()
        data: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        for key, value in form.multi_items():
            if hasattr(value, "read"):
                files[key] = await value.read()
            else:
                data[key] = value
        fake.calls.append(Call(method, data, files))
        pending = fake.failures.get(method)
        if pending:
            status, parameters = pending.pop(0)
            body: dict[str, Any] = {"ok": False, "error_code": status, "description": f"fake error {status}"}
            if parameters:
                body["parameters"] = parameters
            return JSONResponse(body, status_code=status)
        if method == "getUpdates":
            offset = int(data.get("offset") or 0)
            ready = [u for u in fake.updates if u["update_id"] >= offset]
            if not ready:
                await asyncio.sleep(0.1)  # a short long-poll
            return JSONResponse({"ok": True, "result": ready})
        if method == "getFile":
            file_id = str(data.get("file_id", ""))
            if file_id not in fake.files:
                return JSONResponse({"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"},
                                    status_code=400)
            return JSONResponse({"ok": True, "result": {"file_id": file_id, "file_unique_id": f"u{file_id}",
                                                        "file_size": len(fake.files[file_id][0]),
                                                        "file_path": f"voice/{file_id}"}})
        return JSONResponse({"ok": True, "result": _result(method, data)})

    return app


def _result(method: str, data: dict[str, Any]) -> Any:
    if method in ("sendMessage", "sendVoice", "sendAudio", "sendPhoto"):
        chat = int(data.get("chat_id", 0))
        return {"message_id": len(data) + 1, "date": int(time.time()), "chat": {"id": chat, "type": "private"},
                "text": data.get("text", "")}
    if method == "getMe":
        return {"id": 1, "is_bot": True, "first_name": "KSK", "username": "ksk_bot"}
    return True


def running_fake_bot_api() -> AbstractContextManager[FakeBotApi]:
    return serving(FakeBotApi())


def keyboard(call: Call) -> list[list[dict[str, str]]]:
    markup = call.data.get("reply_markup")
    return list(json.loads(markup)["inline_keyboard"]) if markup else []


def update(update_id: int, text: str | None = None, chat: int = 42, **extra: Any) -> dict[str, Any]:
    """A private chat's message as Telegram delivers it (webhook body or getUpdates item)."""
    message: dict[str, Any] = {"message_id": update_id, "date": 1_700_000_000, "chat": {"id": chat, "type": "private"},
                               "from": {"id": chat, "is_bot": False, "first_name": "Mai"}}
    if text is not None:
        message["text"] = text
    message.update(extra)
    return {"update_id": update_id, "message": message}
