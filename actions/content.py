"""Published texts and recordings from the content API, cached for the Rasa server's NLG and the
action server alike. Polled with an ETag, so an unchanged bundle costs one 304 per interval; when
the API cannot be reached the last bundle (or, before any, the domain texts) is used."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

# A change published by staff reaches the assistant within this many seconds.
DEFAULT_REFRESH_S = float(os.environ.get("CONTENT_REFRESH_S", "10"))


@dataclass
class Bundle:
    version: str = ""
    messages: dict[str, dict[str, str]] = field(default_factory=dict)
    audio: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


class ContentCache:
    def __init__(self, base_url: str | None = None, refresh_s: float = DEFAULT_REFRESH_S,
                 timeout_s: float = 2.0) -> None:
        self.base_url = (base_url or os.environ.get("API_URL", "http://127.0.0.1:8000")).rstrip("/")
        self.refresh_s = refresh_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.bundle = Bundle()
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self) -> Bundle:
        if time.monotonic() - self._checked_at < self.refresh_s:
            return self.bundle
        async with self._lock:  # one poll however many replies are being generated
            if time.monotonic() - self._checked_at >= self.refresh_s:
                await self._refresh()
                self._checked_at = time.monotonic()
        return self.bundle

    async def _refresh(self) -> None:
        headers = {"If-None-Match": f'"{self.bundle.version}"'} if self.bundle.version else {}
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session, session.get(
                    f"{self.base_url}/api/v1/content/bundle", headers=headers) as response:
                if response.status == 304:
                    return
                if response.status != 200:
                    log.warning("content bundle: HTTP %s; keeping the last texts", response.status)
                    return
                data = await response.json()
        # asyncio.TimeoutError: on Python 3.10 (the Rasa environment) it is not the builtin TimeoutError.
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            log.warning("content service unreachable (%s); keeping the last texts", type(error).__name__)
            return
        self.bundle = Bundle(version=str(data.get("version", "")), messages=data.get("messages") or {},
                             audio=data.get("audio") or {})

    def text(self, key: str, language: str) -> str | None:
        texts = self.bundle.messages.get(key) or {}
        return texts.get(language) or texts.get("vi")
