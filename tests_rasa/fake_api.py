"""A local fake of the scheduling & content API, served over real HTTP for action tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from rasa_sdk import Tracker

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_handler(body: Any, status: int = 200, seen: list[web.Request] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if seen is not None:
            seen.append(request)
            request["json"] = await request.json() if request.can_read_body else None
        return web.json_response(body, status=status)

    return handler


async def serve(routes: dict[tuple[str, str], Handler], scenario: Callable[[str], Awaitable[Any]]) -> Any:
    app = web.Application()
    for (method, path), handler in routes.items():
        app.router.add_route(method, f"/api/v1{path}", handler)
    server = TestServer(app)
    await server.start_server()
    try:
        return await scenario(str(server.make_url("")).rstrip("/"))
    finally:
        await server.close()


def tracker(text: str, entities: list[dict[str, Any]] | None = None, slots: dict[str, Any] | None = None
            ) -> Tracker:
    """A tracker whose latest message is `text` (from Zalo), for calling actions directly."""
    return Tracker.from_dict({
        "sender_id": "test-user",
        "slots": slots or {},
        "latest_message": {"text": text, "entities": entities or [], "intent": {"name": "faq"},
                           "metadata": {"channel": "zalo"}},
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    })
