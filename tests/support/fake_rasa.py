"""A fake Rasa for the gateway (served through httpx's mock transport), and how a test reads the chat
the gateway signed into a message's metadata."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from common.chat_identity import METADATA_KEY, ChatIdentity, verify
from common.keys import chat_identity_key
from tests.support.env import TEST_SECRET

LONG_PAYLOAD = '/inform{"session_id": "123456", "commune": "Hữu Liên", "note": "một nút có dữ liệu dài"}'


class FakeRasa:
    """Answers like the assistant would; records what it was sent. "nghe" (listen) is answered with
    a voice clip at `audio_url`."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.down = False
        self.audio_url = ""
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        with self.lock:
            self.seen.append(body)
        if self.down:
            return httpx.Response(500)
        text = body["message"]
        if text == "nut":
            return httpx.Response(200, json=[{"text": "Xin chọn buổi khám:", "buttons": [
                {"title": "Thứ Ba 7:30", "payload": '/inform{"session_id": "12"}'},
                {"title": "Thứ Tư 7:30", "payload": LONG_PAYLOAD}]}])
        if text == "dai":
            return httpx.Response(200, json=[{"text": ("Đoạn văn dài. " * 300).strip()}])
        if text == "nghe":
            return httpx.Response(200, json=[{"custom": {"audio": {"url": self.audio_url, "language": "tyz"}}}])
        return httpx.Response(200, json=[{"text": f"Đã nhận: {text}"}])


def signed_chat(metadata: dict[str, Any]) -> ChatIdentity:
    """The chat a message's metadata proves, checked with the key the API derives (a test fails on a
    token that does not verify)."""
    identity = verify(chat_identity_key(TEST_SECRET.encode()), metadata[METADATA_KEY], now=time.time())
    assert identity is not None, "the chat identity does not verify with the master secret's key"
    return identity


def unsigned(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata apart from the (time-dependent) chat identity."""
    return {name: value for name, value in metadata.items() if name != METADATA_KEY}
