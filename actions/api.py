"""HTTP client of the scheduling & content API, for the action server.

Failures are split the way the bot must answer them: `ApiError` is the API saying no (a 4xx with a
stable `code` and a Vietnamese `message` the bot can show), `ApiUnavailable` is the API being down,
slow or broken (the bot says it is busy and to try again).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import aiohttp

DEFAULT_TIMEOUT_S = 8.0


class ApiUnavailable(Exception):
    """The API could not be reached or failed on its side."""


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str


class ApiClient:
    def __init__(self, base_url: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = (base_url or os.environ.get("API_URL", "http://127.0.0.1:8000")).rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                       json: Any = None, headers: dict[str, str] | None = None) -> Any:
        url = f"{self.base_url}/api/v1{path}"
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session, session.request(
                method, url, params=params, json=json, headers=headers
            ) as response:
                body = await response.json(content_type=None)
                if response.status >= 500:
                    raise ApiUnavailable(f"{method} {path}: HTTP {response.status}")
                if response.status >= 400:
                    body = body if isinstance(body, dict) else {}
                    raise ApiError(response.status, str(body.get("code", "error")),
                                   str(body.get("message", "Yêu cầu không hợp lệ.")))
                return body
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise ApiUnavailable(f"{method} {path}: {type(error).__name__}") from error

    async def reminders(self, action: str, **body: Any) -> Any:
        """subscribe | stop | confirm (see the API's /reminders routes)."""
        return await self._request("POST", f"/reminders/{action}", json=body)

    async def announcements(self, action: str, **body: Any) -> Any:
        """subscribe | stop (see the API's /announcements routes)."""
        return await self._request("POST", f"/announcements/{action}", json=body)

    async def speech(self, text: str) -> dict[str, Any]:
        """Vietnamese speech for a text (cached by the API; gTTS, else espeak-ng)."""
        result: dict[str, Any] = await self._request("POST", "/audio/speech", json={"text": text[:1000]})
        return result

    async def audio_for(self, key: str, language: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self._request("GET", "/audio/for", params={"key": key, "lang": language})
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return result

    async def search_faq(self, question: str, language: str = "vi", limit: int = 3, channel: str = ""
                         ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"q": question[:300], "lang": language, "limit": limit}
        if channel:
            params["channel"] = channel  # counted for the reports
        result: list[dict[str, Any]] = await self._request("GET", "/faq/search", params=params)
        return result

    async def record_unanswered(self, text: str, *, channel: str, language: str,
                                best_key: str | None, best_score: float | None) -> None:
        await self._request("POST", "/faq/unanswered", json={
            "text": text[:500], "channel": channel[:16], "language": language,
            "best_key": best_key, "best_score": best_score})

    async def find_communes(self, query: str, limit: int = 5) -> list[dict[str, Any]]:
        body = await self._request("GET", "/communes", params={"q": query[:100], "limit": limit})
        return list(body["items"])

    async def list_sessions(self, *, commune_id: int, date_from: str | None = None,
                            date_to: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"commune_id": commune_id}
        if date_from:
            params["date_from"] = date_from
        if date_to:
            params["date_to"] = date_to
        body = await self._request("GET", "/sessions", params=params)
        return list(body["items"])

    async def create_booking(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "POST", "/bookings", json=body, headers={"Idempotency-Key": idempotency_key})
        return result

    async def get_booking(self, code: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", f"/bookings/{code}")
        return result

    async def cancel_booking(self, code: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("POST", f"/bookings/{code}/cancel")
        return result

    async def reschedule_booking(self, code: str, session_id: int) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "POST", f"/bookings/{code}/reschedule", json={"session_id": session_id})
        return result

    async def list_sites(self, commune_id: int) -> list[dict[str, Any]]:
        body = await self._request("GET", "/sites", params={"commune_id": commune_id})
        return list(body["items"])

    async def report_scam(self, text: str, *, channel: str, commune_id: int | None) -> None:
        await self._request("POST", "/reports/scam", json={
            "text": text[:1000], "channel": channel[:16], "commune_id": commune_id})

    # Identity checks: the chat id lets the API count attempts per conversation.
    async def _identity_request(self, path: str, *, cccd: str, birth_date: str, chat_id: str,
                                **extra: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("POST", path, json={
            "cccd": cccd, "birth_date": birth_date, "chat_id": chat_id[:128], **extra})
        return result

    async def record_status(self, *, cccd: str, birth_date: str, chat_id: str, consent_notice: str,
                            channel: str) -> dict[str, Any]:
        return await self._identity_request("/records/status", cccd=cccd, birth_date=birth_date, chat_id=chat_id,
                                            consent_notice=consent_notice, channel=channel or "api")

    async def held_data(self, *, cccd: str, birth_date: str, chat_id: str) -> dict[str, Any]:
        return await self._identity_request("/privacy/held-data", cccd=cccd, birth_date=birth_date, chat_id=chat_id)

    async def withdraw_consent(self, *, cccd: str, birth_date: str, chat_id: str, purpose: str) -> dict[str, Any]:
        return await self._identity_request("/privacy/withdraw", cccd=cccd, birth_date=birth_date, chat_id=chat_id,
                                            purpose=purpose)

    async def erase(self, *, cccd: str, birth_date: str, chat_id: str) -> dict[str, Any]:
        return await self._identity_request("/privacy/erase", cccd=cccd, birth_date=birth_date, chat_id=chat_id)


class ApiBacked:
    """Mixin for actions that call the API: a default client, replaceable in tests."""

    def __init__(self, client: ApiClient | None = None) -> None:
        self.client = client or ApiClient()

    async def sessions_of_chosen_commune(self, commune_id: Any) -> list[dict[str, Any]]:
        """Coming sessions of the commune the form has settled on (none if it has not yet)."""
        return await self.client.list_sessions(commune_id=int(commune_id)) if commune_id else []
