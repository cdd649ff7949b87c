"""Published texts and recordings from the content API, cached for the Rasa server's NLG and the
action server alike. Polled with an ETag, so an unchanged bundle costs one 304 per interval; when
the API cannot be reached the last bundle (or, before any, the seeds: common.wording) is used.

`say` is how the action server words anything a resident reads: a key, the resident's language,
named values — never a sentence written in code."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import aiohttp

from common import wording

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
                 timeout_s: float = 2.0, *, seeds: Mapping[str, str] | None = None) -> None:
        self.base_url = (base_url or os.environ.get("API_URL", "http://127.0.0.1:8000")).rstrip("/")
        # The words said until staff publish others (read from bot/ on first use, once per process).
        self._seeds = seeds
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
        """Staff's published wording only (the NLG keeps the domain's variations when there is none)."""
        texts = self.bundle.messages.get(key) or {}
        return texts.get(language) or texts.get("vi")

    @property
    def seeds(self) -> Mapping[str, str]:
        return self._seeds if self._seeds is not None else wording.seeds()

    def find(self, key: str, language: str | None) -> str | None:
        """The text of `key` in the language (else Vietnamese, else the seed), unfilled; None if the key
        has no text at all. As fresh as the last `get()`."""
        return wording.choose(self.bundle.messages, self.seeds, key, language)

    def say(self, key: str, language: str | None, **values: object) -> str:
        """The text of `key` for a resident, its `{name}` placeholders filled from `values`."""
        text = self.find(key, language)
        if text is None:
            # A key without a seed is a bug the tests catch (tests_rasa/test_wording.py); saying the key
            # beats saying nothing.
            log.error("no text for key %s", key)
            return key
        return wording.fill(text, values)


@lru_cache(maxsize=4)
def content_for(base_url: str) -> ContentCache:
    """One cache of published texts per API (in production one per process: every action asks the same
    API), made on first use, so the action server polls once however many actions speak."""
    return ContentCache(base_url)


@lru_cache(maxsize=1)
def seeds_only() -> ContentCache:
    """A cache that is never polled, so it says the seeds: for callers given no cache of their own."""
    return ContentCache("http://seeds.invalid")
