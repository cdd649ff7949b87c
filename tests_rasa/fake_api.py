"""A local fake of the scheduling & content API, served over real HTTP for action tests.

Like the real API it answers only our own service: a request without the action server's credential
is refused (401), and a chat identity that does not verify too. Stricter than the real API, a resident
endpoint here also refuses a request without a chat identity — so every action test shows that the
action forwards the chat of the message it handles."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.api import ApiClient
from actions.content import ContentCache
from actions.speaking import Speaks
from common.chat_identity import HEADER, METADATA_KEY, sign, verify

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHAT_REQUIRED = web.AppKey("chat_required", bool)

# What scripts/run_all.py gives the action server, and the key the gateway and API derive.
CREDENTIAL = "ksk_svc_action-server-credential-for-tests-0123456789"
IDENTITY_KEY = b"chat-identity-key-for-tests"
# The endpoints a resident reaches (issue 15): they want the chat the request is for.
RESIDENT_PATHS = re.compile(r"^/api/v1/(bookings|records/|privacy/|reminders/|announcements/|faq/unanswered"
                            r"|reports/scam|audio/speech)")
PUBLIC_PATHS = ("/api/v1/content/bundle",)  # read by the content cache, not by the API client


def chat_token(sender: str = "test-user", channel: str = "zalo", address: str = "") -> str:
    """The chat identity the gateway would sign for a message of this chat."""
    return sign(IDENTITY_KEY, channel=channel, sender=sender, address=address, now=time.time())


def refuse(code: str) -> web.StreamResponse:
    return web.json_response({"code": code, "message": "Không xác minh được nơi gửi yêu cầu."}, status=401)


@web.middleware
async def our_service_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path not in PUBLIC_PATHS and request.headers.get("Authorization") != f"Bearer {CREDENTIAL}":
        return refuse("service_credential_required")
    token = request.headers.get(HEADER)
    request["chat"] = verify(IDENTITY_KEY, token, now=time.time()) if token else None
    if (token and request["chat"] is None) or (
            request["chat"] is None and request.app[CHAT_REQUIRED] and RESIDENT_PATHS.match(request.path)):
        return refuse("invalid_chat_identity")
    return await handler(request)


def json_handler(body: Any, status: int = 200, seen: list[web.Request] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if seen is not None:
            seen.append(request)
            request["json"] = await request.json() if request.can_read_body else None
        return web.json_response(body, status=status)

    return handler


async def serve(routes: dict[tuple[str, str], Handler], scenario: Callable[[str], Awaitable[Any]], *,
                chat_required: bool = True) -> Any:
    app = web.Application(middlewares=[our_service_only])
    app[CHAT_REQUIRED] = chat_required
    for (method, path), handler in routes.items():
        app.router.add_route(method, f"/api/v1{path}", handler)
    server = TestServer(app)
    await server.start_server()
    try:
        return await scenario(str(server.make_url("")).rstrip("/"))
    finally:
        await server.close()


def bundle(messages: dict[str, dict[str, str]], audio: dict[str, Any] | None = None) -> dict[str, Any]:
    """The content API's bundle: published texts by key and language (GET /api/v1/content/bundle)."""
    return {"version": "v1", "messages": messages, "audio": audio or {}}


def tracker(text: str, entities: list[dict[str, Any]] | None = None, slots: dict[str, Any] | None = None,
            *, intent: str = "faq", form: str | None = None, opened: str | None = None) -> Tracker:
    """A tracker whose latest message is `text` (from Zalo), for calling actions directly.

    With `form`, that form is active and the requested slot holds what the message has just
    filled, as Rasa passes it to the form's validation action. With `opened`, the bot's reply to the
    resident's message before put that question (its tag, actions/questions.py) on screen."""
    slots = slots or {}
    events: list[dict[str, Any]] = [{"event": "active_loop", "name": form}] if form else []
    if opened is not None:
        events += [{"event": "user", "text": "…"}, {"event": "slot", "name": "open_question", "value": opened}]
    events.append({"event": "user", "text": text})
    requested = slots.get("requested_slot")
    if form and requested in slots:
        # The answer to the question on screen is the one slot candidate the form passes on.
        events.append({"event": "slot", "name": requested, "value": slots[requested]})
    return Tracker.from_dict({
        "sender_id": "test-user",
        "slots": slots,
        "latest_message": {"text": text, "entities": entities or [], "intent": {"name": intent},
                           "metadata": {"channel": "zalo", METADATA_KEY: chat_token()}},
        "events": events,
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": form} if form else {},
        "latest_action_name": "action_listen",
    })


def run_action(action: Any, routes: dict[tuple[str, str], Handler], track: Tracker
               ) -> tuple[CollectingDispatcher, list[Any]]:
    """Runs an action (or a form's validation) against the fake API: what it said, what it returned.

    The action's texts are those the fake API publishes (a `("GET", "/content/bundle")` route; without
    one the seeds), read by a cache of this run's own: nothing published for another test is said."""
    dispatcher = CollectingDispatcher()

    async def scenario(base: str) -> list[Any]:
        action.client = ApiClient(base)
        if isinstance(action, Speaks):
            action.content = ContentCache(base)
        return list(await action.run(dispatcher, track, bot_domain()))

    return dispatcher, asyncio.run(serve(routes, scenario))


@cache
def bot_domain() -> dict[str, Any]:
    """The assistant's domain as the action server receives it (forms and slots included)."""
    path = Path(__file__).parents[1] / "bot" / "domain.yml"
    domain: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return domain
