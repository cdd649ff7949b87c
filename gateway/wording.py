"""The gateway's words as staff published them: the content bundle, polled from the API, over the
seeds (common.wording).

Texts are read synchronously from the last bundle (`Wording.text`), so the busy reply, a refusal or a
web page never waits on the API; a background task (`run`, started in the app's lifespan) polls the
bundle with its ETag, so an unchanged bundle costs one 304 per interval. When the API cannot be
reached the last bundle stays, and before any bundle the seeds are the words: the gateway never goes
silent because the content service is down.

One cache per app, handed to what speaks (conversations, channels, pages), rather than one per
process: two gateways in one process (tests, benches) each read their own API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping

import httpx

from common.wording import choose, fill, seeds

log = logging.getLogger("gateway")

BUNDLE_PATH = "/api/v1/content/bundle"
# A change published by staff reaches residents within this many seconds.
DEFAULT_REFRESH_S = 10.0
# Short: a poll that hangs must not hold up the next one, and the gateway's startup waits for the first.
DEFAULT_TIMEOUT_S = 2.0


def refresh_interval() -> float:
    """CONTENT_REFRESH_S, as the action server reads it (actions/content.py)."""
    return float(os.environ.get("CONTENT_REFRESH_S", DEFAULT_REFRESH_S))


class MissingText(KeyError):
    """A key the code uses that no seed file has: a programming error, caught by the tests."""


class Wording:
    def __init__(self, api_url: str | None = None, *, transport: httpx.AsyncBaseTransport | None = None,
                 refresh_s: float | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        # Without an API (a script, a unit test) the seeds are the words and nothing is polled.
        self.client = (httpx.AsyncClient(base_url=api_url.rstrip("/"), timeout=timeout_s, transport=transport)
                       if api_url else None)
        self.refresh_s = refresh_interval() if refresh_s is None else refresh_s
        self.version = ""
        self.messages: Mapping[str, Mapping[str, str]] = {}
        self._etag: str | None = None
        self._failing = False

    def text(self, key: str, language: str | None = None, **values: object) -> str:
        """The text of `key` in `language` (staff's, else their Vietnamese, else the seed), with its
        `{name}` placeholders filled from `values`. No I/O: any code path may call it."""
        chosen = choose(self.messages, seeds(), key, language)
        if chosen is None:
            raise MissingText(key)
        return fill(chosen, values)

    async def refresh(self) -> bool:
        """Poll the bundle once; True when new texts were taken. Failures keep the texts there are."""
        if self.client is None:
            return False
        headers = {"If-None-Match": self._etag} if self._etag else {}
        try:
            response = await self.client.get(BUNDLE_PATH, headers=headers)
        except httpx.HTTPError as error:
            return self._failed(f"content service unreachable ({type(error).__name__})")
        if response.status_code == 304:
            return self._answered(taken=False)
        if response.status_code != 200:
            return self._failed(f"content bundle: HTTP {response.status_code}")
        try:
            data = response.json()
            messages = _messages(data["messages"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return self._failed("content bundle not understood")
        self.messages, self.version = messages, str(data.get("version", ""))
        self._etag = response.headers.get("ETag") or (f'"{self.version}"' if self.version else None)
        return self._answered(taken=True)

    def _failed(self, why: str) -> bool:
        # Once per outage, not every few seconds for as long as it lasts.
        if not self._failing:
            log.warning("%s; keeping the last texts", why)
        self._failing = True
        return False

    def _answered(self, *, taken: bool) -> bool:
        if self._failing:
            log.info("content service answers again")
        self._failing = False
        return taken

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every `refresh_s` until `stop` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.refresh_s)
            if not stop.is_set():
                try:
                    await self.refresh()
                except Exception:  # noqa: BLE001 - whatever went wrong, the next round tries again
                    log.exception("content bundle refresh failed")

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()


def _messages(raw: object) -> dict[str, dict[str, str]]:
    """`{key: {language: text}}` from the bundle; entries of another shape are left out (a bundle
    from a newer API must not take every text down with it)."""
    if not isinstance(raw, dict):
        raise TypeError("messages is not a mapping")
    return {str(key): {str(language): text for language, text in texts.items() if isinstance(text, str) and text}
            for key, texts in raw.items() if isinstance(texts, dict)}
