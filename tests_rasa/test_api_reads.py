"""Reads asked twice for one message are answered once (actions/api.py, `ApiClient._read`): a form's
validation checks the tapped session and the next question shows it, each action with its own client.
Searches of communes are kept for every chat a while (`ApiClient.find_communes`)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from typing import Any

import pytest
from aiohttp import web
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import api
from actions.api import ApiBacked, ApiClient, ApiError
from tests_rasa.fake_api import json_handler, serve, tracker

SESSIONS = {"items": [{"id": 12, "seats_left": 3}, {"id": 13, "seats_left": 1}]}
CANCELLED = {"code": "KE3MX7PA", "status": "cancelled"}


# Not rasa_sdk Actions: the action server would register them. ApiBacked wraps their `run` all the same.
class ReadSessions(ApiBacked):
    def name(self) -> str:
        return "test_read_sessions"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Any) -> list[Any]:
        sessions = await self.client.list_sessions(commune_id=9)
        dispatcher.utter_message(json_message={"sessions": copy.deepcopy(sessions)})
        sessions[0]["seats_left"] = 0  # what a caller does with its answer is its own
        return []


class Cancel(ApiBacked):
    def name(self) -> str:
        return "test_cancel"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Any) -> list[Any]:
        await self.client.cancel_booking("KE3MX7PA")
        return []


# One message's metadata, its chat identity signed once, as every action run for the message sees it.
MESSAGE = tracker("13").current_state()


def of_message(message_id: str | None, sender: str = "test-user") -> Tracker:
    state = MESSAGE
    return Tracker.from_dict({**state, "sender_id": sender,
                              "latest_message": {**state["latest_message"], "message_id": message_id}})


def play(steps: list[tuple[type[ApiBacked], Tracker]]) -> tuple[int, list[Any]]:
    """Runs each action (a client of its own, as the action server's are) against one fake API: how many
    times the sessions were asked for, and what each reading action was given."""
    seen: list[web.Request] = []
    routes = {("GET", "/sessions"): json_handler(SESSIONS, seen=seen),
              ("POST", "/bookings/KE3MX7PA/cancel"): json_handler(CANCELLED)}

    async def scenario(base: str) -> list[Any]:
        given = []
        for kind, track in steps:
            dispatcher, client = CollectingDispatcher(), ApiClient(base)
            await kind(client).run(dispatcher, track, {})  # type: ignore[attr-defined]
            await client.connections.close()
            given += [m["custom"]["sessions"] for m in dispatcher.messages]
        return given

    given = asyncio.run(serve(routes, scenario))
    return sum(r.path == "/api/v1/sessions" for r in seen), given


def test_two_actions_of_one_message_ask_the_api_once_and_each_gets_the_answer_whole() -> None:
    asked, given = play([(ReadSessions, of_message("m-1")), (ReadSessions, of_message("m-1"))])
    assert asked == 1
    assert given == [SESSIONS["items"], SESSIONS["items"]]  # the first reader's change reached nobody


def test_another_message_a_write_or_a_message_without_id_asks_again() -> None:
    assert play([(ReadSessions, of_message("m-1")), (ReadSessions, of_message("m-2"))])[0] == 2
    assert play([(ReadSessions, of_message("m-1", "chat-a")), (ReadSessions, of_message("m-1", "chat-b"))])[0] == 2
    # A cancellation made for the message may change what it read: read again after it.
    assert play([(ReadSessions, of_message("m-3")), (Cancel, of_message("m-3")),
                 (ReadSessions, of_message("m-3"))])[0] == 2
    assert play([(ReadSessions, of_message(None)), (ReadSessions, of_message(None))])[0] == 2


class ReadWhileCancelling(ApiBacked):
    """Two things at once for one message (a retry overlapping its first attempt would do the same)."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Any) -> list[Any]:
        await asyncio.gather(self.client.list_sessions(commune_id=9), self.client.cancel_booking("KE3MX7PA"))
        await self.client.list_sessions(commune_id=9)
        return []


def test_what_was_read_while_a_write_was_made_for_the_message_is_not_kept() -> None:
    seen: list[web.Request] = []

    async def slow_sessions(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        await asyncio.sleep(0.2)  # the cancellation comes and goes meanwhile
        return web.json_response(SESSIONS)

    routes = {("GET", "/sessions"): slow_sessions, ("POST", "/bookings/KE3MX7PA/cancel"): json_handler(CANCELLED)}

    async def scenario(base: str) -> None:
        client = ApiClient(base)
        await ReadWhileCancelling(client).run(CollectingDispatcher(), of_message("m-5"), {})
        await client.connections.close()

    asyncio.run(serve(routes, scenario))
    assert len(seen) == 2


def test_a_messages_reads_are_let_go_once_old(monkeypatch: pytest.MonkeyPatch) -> None:
    """A booking's answer carries the resident's name: not held past MESSAGE_READS_FOR_S, even idle."""
    assert play([(ReadSessions, of_message("m-6"))])[0] == 1
    assert ("test-user", "m-6") in api._reads
    monkeypatch.setattr(api, "MESSAGE_READS_FOR_S", 0.0)
    play([(ReadSessions, of_message("m-7", "chat-c"))])
    assert ("test-user", "m-6") not in api._reads


def test_a_refused_read_is_not_kept() -> None:
    seen: list[web.Request] = []
    routes = {("GET", "/sessions"): json_handler({"code": "not_found", "message": "…"}, status=404, seen=seen)}

    async def scenario(base: str) -> None:
        for _ in range(2):
            client = ApiClient(base)
            with contextlib.suppress(ApiError):
                await ReadSessions(client).run(CollectingDispatcher(), of_message("m-4"), {})
            await client.connections.close()

    asyncio.run(serve(routes, scenario))
    assert len(seen) == 2


def test_a_commune_searched_again_by_any_chat_is_not_asked_again_until_its_answer_is_old(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[web.Request] = []
    routes = {("GET", "/communes"): json_handler({"items": [{"id": 9, "name": "Xã Hữu Liên"}]}, seen=seen)}

    async def scenario(base: str) -> list[list[dict[str, Any]]]:
        client, other = ApiClient(base), ApiClient(base)
        found = [await client.find_communes("huu lien")]
        found[0][0]["name"] = "changed by its caller"
        found.append(await other.find_communes("huu lien"))  # another action, another chat
        await client.find_communes("loc binh")
        monkeypatch.setattr(api, "COMMUNES_FOR_S", 0.0)  # the answer kept is now too old
        found.append(await client.find_communes("huu lien"))
        for each in (client, other):
            await each.connections.close()
        return found

    found = asyncio.run(serve(routes, scenario))
    assert [r.query["q"] for r in seen] == ["huu lien", "loc binh", "huu lien"]
    assert found[1] == found[2] == [{"id": 9, "name": "Xã Hữu Liên"}]
