"""HTTP client of the scheduling & content API, for the action server.

Failures are split the way the bot must answer them: `ApiError` is the API saying no (a 4xx with a
stable `code`, its Vietnamese `message` and `details`; the bot says the code's keyed text,
actions/speaking.py), `ApiUnavailable` is the API being down, slow or broken (the bot says it is busy
and to try again).

The API serves resident requests only to our own services: every request carries the action
server's service credential (`Authorization: Bearer $API_SERVICE_CREDENTIAL`) and, while an action
runs for a conversation, the chat identity the gateway signed for the message being handled
(`X-Chat-Identity`, from `metadata["chat_identity"]`). The API counts its limits per verified chat
and address, and recognises the chat that made a booking. One client serves every conversation at
once, so the identity lives in a context variable set for the duration of one action run
(`ApiBacked` does it for every action that calls the API): each request the action server handles
is its own asyncio task and sees only its own chat.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from actions.connections import SessionPool, through_json
from common.chat_identity import HEADER as CHAT_IDENTITY_HEADER
from common.chat_identity import METADATA_KEY

log = logging.getLogger(__name__)

# Long enough for an API that is only slow (a burst of residents, a replica reloading beside it, measured
# past 8 s by the production-profile test on two cores); a dead one refuses connections at once.
DEFAULT_TIMEOUT_S = 15.0
# Printed by `python -m api create-service-credential --name action-server` (scripts/run_all.py).
CREDENTIAL_ENV = "API_SERVICE_CREDENTIAL"
# The second factor for a booking code from another chat: the last 3 digits of the booking's phone
# or the birth date YYYY-MM-DD (the API's api/bookings/access.py, which the Rasa side cannot import).
VERIFIER_HEADER = "X-Booking-Verifier"

_chat_identity: ContextVar[str | None] = ContextVar("chat_identity", default=None)
# The message being handled (conversation id, message id) while an action runs for it: reads asked twice
# for one message are answered once (`ApiClient._read`).
_message: ContextVar[tuple[str, str] | None] = ContextVar("message", default=None)
# Messages whose reads are kept, the latest; and for how long at most (a message is handled in well under
# a second; a retry of it within this time may reuse them too). Held no longer than that: a booking's
# answer carries the resident's name.
MESSAGES_KEPT = 64
MESSAGE_READS_FOR_S = 10.0
# Per message being handled, oldest first: when its reads began, and each read's answer by what was asked
# (of which API, with which headers). In the module, not in a client: each action has a client of its own,
# and the actions of one message are several.
_reads: OrderedDict[tuple[str, str], tuple[float, dict[Any, Any]]] = OrderedDict()
# Communes change when an administrator adds one (before a campaign, rarely): a search's answer is kept this
# long for every chat (a booking's form and the schedule each search the commune, and so does the next
# resident of it; README "A sixteenth round"). A commune added meanwhile is found once the answer kept
# without it is older than this.
COMMUNES_FOR_S = 300.0
COMMUNE_SEARCHES_KEPT = 512
_communes: OrderedDict[tuple[str, str, int], tuple[float, list[dict[str, Any]]]] = OrderedDict()


def chat_identity_in(metadata: Any) -> str | None:
    """The gateway-signed chat identity in a message's metadata, if there is one."""
    token = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    return token if isinstance(token, str) and token else None


@contextmanager
def speaking_for(metadata: Any) -> Iterator[None]:
    """API requests made in this block carry the chat identity of the message with `metadata`
    (for the Rasa server's NLG: `tracker.latest_message.metadata`)."""
    token = _chat_identity.set(chat_identity_in(metadata))
    try:
        yield
    finally:
        _chat_identity.reset(token)


@functools.lru_cache(maxsize=1)
def _warn_without_credential() -> None:
    log.warning("%s is not set: the API will refuse bookings, lookups and other resident requests",
                CREDENTIAL_ENV)


class ApiUnavailable(Exception):
    """The API could not be reached or failed on its side."""


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str  # the API's own wording, "" when it gave none
    details: dict[str, Any] = field(default_factory=dict)


class ApiClient:
    def __init__(self, base_url: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S, *,
                 credential: str | None = None) -> None:
        self.base_url = (base_url or os.environ.get("API_URL", "http://127.0.0.1:8000")).rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.connections = SessionPool(timeout=self.timeout)
        self.credential = credential if credential is not None else os.environ.get(CREDENTIAL_ENV, "")
        if not self.credential:
            _warn_without_credential()

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.credential}"} if self.credential else {}
        identity = _chat_identity.get()
        if identity:
            headers[CHAT_IDENTITY_HEADER] = identity
        return {**headers, **(extra or {})}

    async def _read(self, path: str, *, params: dict[str, Any] | None = None,
                    headers: dict[str, str] | None = None) -> Any:
        """A GET of something that only changes by a write: answered from the same GET made earlier for the
        message being handled, when there was one. A message often asks twice: a form's validation checks
        the tapped session (or booking) and the next question shows it, each action by the API (README "A
        sixteenth round"). Answers are copies, and a write made for the message (a booking, a cancellation)
        forgets what it read before. Refusals and failures are not kept."""
        message = _message.get()
        if message is None:
            return await self._request("GET", path, params=params, headers=headers)
        key = (self.base_url, path, tuple(sorted((params or {}).items())),
               tuple(sorted(self._headers(headers).items())))
        now = time.monotonic()
        while _reads and now - next(iter(_reads.values()))[0] > MESSAGE_READS_FOR_S:
            _reads.popitem(last=False)
        entry = _reads.get(message)
        if entry is None:
            entry = _reads[message] = (now, {})
            while len(_reads) > MESSAGES_KEPT:
                _reads.popitem(last=False)
        if key in entry[1]:
            return through_json(entry[1][key])
        body = await self._request("GET", path, params=params, headers=headers)
        if _reads.get(message) is entry:  # not if a write for the message came meanwhile
            entry[1][key] = through_json(body)
        return body

    async def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                       json: Any = None, headers: dict[str, str] | None = None) -> Any:
        message = _message.get() if method != "GET" else None
        if message is not None:
            _reads.pop(message, None)  # what the message read before may have changed
        try:
            return await self._send(method, path, params=params, json=json, headers=headers)
        finally:
            if message is not None:
                _reads.pop(message, None)  # …and what it read during the write too

    async def _send(self, method: str, path: str, *, params: dict[str, Any] | None, json: Any,
                    headers: dict[str, str] | None) -> Any:
        url = f"{self.base_url}/api/v1{path}"
        try:
            async with self.connections.session().request(
                method, url, params=params, json=json, headers=self._headers(headers)
            ) as response:
                body = await response.json(content_type=None)
                if response.status >= 500:
                    log.warning("API answered %s for %s /%s", response.status, method, path.strip("/").split("/")[0])
                    raise ApiUnavailable(f"{method} {path}: HTTP {response.status}")
                if response.status == 401:
                    # Our credential (or the gateway's signature) was refused: a deployment fault, not
                    # something the resident can fix — they hear "busy", the operator reads this.
                    code = body.get("code") if isinstance(body, dict) else None
                    log.error("the API refused the action server's request (%s): check %s and SECRET_KEY",
                              code, CREDENTIAL_ENV)
                    raise ApiUnavailable(f"{method}: HTTP 401 {code}")
                if response.status >= 400:
                    body = body if isinstance(body, dict) else {}
                    details = body.get("details")
                    # Without a code the refusal is the error tree's base one (common.errors.AppError).
                    raise ApiError(response.status, str(body.get("code") or "bad_request"),
                                   str(body.get("message") or ""), details if isinstance(details, dict) else {})
                return body
        # asyncio.TimeoutError: on Python 3.10 (the Rasa environment) it is not the builtin TimeoutError.
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            # The operator learns why residents were told "busy" (the first path segment only: a
            # booking code is not logged).
            log.warning("API unavailable for %s /%s: %s", method, path.strip("/").split("/")[0], type(error).__name__)
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
        key, now = (self.base_url, query[:100], limit), time.monotonic()
        kept = _communes.get(key)
        if kept is not None and now - kept[0] < COMMUNES_FOR_S:
            _communes.move_to_end(key)
            return list(through_json(kept[1]))
        body = await self._request("GET", "/communes", params={"q": query[:100], "limit": limit})
        items = list(body["items"])
        _communes[key] = (now, through_json(items))
        _communes.move_to_end(key)
        while len(_communes) > COMMUNE_SEARCHES_KEPT:
            _communes.popitem(last=False)
        return items

    async def list_sessions(self, *, commune_id: int, date_from: str | None = None,
                            date_to: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"commune_id": commune_id}
        if date_from:
            params["date_from"] = date_from
        if date_to:
            params["date_to"] = date_to
        body = await self._read("/sessions", params=params)
        return list(body["items"])

    async def create_booking(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "POST", "/bookings", json=body, headers={"Idempotency-Key": idempotency_key})
        return result

    # By code: the chat that made the booking needs nothing more; any other adds `verifier`.
    async def get_booking(self, code: str, *, verifier: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._read(f"/bookings/{code}", headers=_verifying(verifier))
        return result

    async def cancel_booking(self, code: str, *, verifier: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("POST", f"/bookings/{code}/cancel",
                                                     headers=_verifying(verifier))
        return result

    async def reschedule_booking(self, code: str, session_id: int, *, verifier: str | None = None
                                 ) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "POST", f"/bookings/{code}/reschedule", json={"session_id": session_id}, headers=_verifying(verifier))
        return result

    async def list_sites(self, commune_id: int) -> list[dict[str, Any]]:
        body = await self._read("/sites", params={"commune_id": commune_id})
        return list(body["items"])

    async def report_scam(self, text: str, *, channel: str, commune_id: int | None) -> None:
        await self._request("POST", "/reports/scam", json={
            "text": text[:1000], "channel": channel[:16], "commune_id": commune_id})

    # Identity checks. The API counts attempts per the signed chat; `chat_id` is still sent for
    # older API versions and is not trusted by the current one.
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


def _verifying(verifier: str | None) -> dict[str, str]:
    return {VERIFIER_HEADER: verifier} if verifier else {}


_FOR_THE_CHAT = "_runs_for_the_chat"


def _for_the_chat(run: Callable[..., Any]) -> Callable[..., Any]:
    """`run` with the API requests it makes carrying the chat identity of the tracker's latest message, and
    its reads shared with the other actions run for that message (`ApiClient._read`)."""

    @functools.wraps(run)  # rasa_sdk registers `run` by its signature (dispatcher, tracker, domain)
    async def run_for_the_chat(self: Any, dispatcher: Any, tracker: Any, domain: Any) -> Any:
        latest = tracker.latest_message or {}
        message_id = latest.get("message_id")
        handling = _message.set((str(tracker.sender_id), message_id) if isinstance(message_id, str) and message_id
                                else None)
        try:
            with speaking_for(latest.get("metadata")):
                result = run(self, dispatcher, tracker, domain)
                return await result if inspect.isawaitable(result) else result
        finally:
            _message.reset(handling)

    setattr(run_for_the_chat, _FOR_THE_CHAT, True)
    return run_for_the_chat


class ApiBacked:
    """Mixin for actions that call the API: a default client, replaceable in tests.

    The `run` of every subclass (a form validation's too) is wrapped once, here, so whatever it
    calls — validators, shared helpers, nested actions — asks the API for the chat being served,
    without the tracker being passed to each request."""

    def __init__(self, client: ApiClient | None = None) -> None:
        self.client = client or ApiClient()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        run = getattr(cls, "run", None)
        if callable(run) and not getattr(run, _FOR_THE_CHAT, False):
            setattr(cls, "run", _for_the_chat(run))  # noqa: B010 - assigning a method on a class

    async def sessions_of_chosen_commune(self, commune_id: Any) -> list[dict[str, Any]]:
        """Coming sessions of the commune the form has settled on (none if it has not yet)."""
        return await self.client.list_sessions(commune_id=int(commune_id)) if commune_id else []
