"""What the action server shows the API with every request: our service credential, and the chat of
the message being handled as the gateway signed it — from every action, form validation included,
and never another conversation's when several are handled at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher

from actions.api import ApiBacked, ApiClient
from actions.faq import FAQ_MIN_SCORE, ActionAnswerFaq
from actions.manage import ValidateCancelForm
from actions.safety import ActionReportScam
from common.chat_identity import HEADER, METADATA_KEY
from tests_rasa.fake_api import CREDENTIAL, bot_domain, chat_token, json_handler, run_action, serve, tracker


def with_chat(track: Tracker, token: str) -> Tracker:
    state = track.current_state()
    state["latest_message"] = {**state["latest_message"], "metadata": {"channel": "zalo", METADATA_KEY: token}}
    return Tracker.from_dict(state)


def test_every_request_carries_the_credential_and_the_chat_of_the_message() -> None:
    seen: list[web.Request] = []
    routes = {("GET", "/faq/search"): json_handler([{"key": "fasting", "question": "?", "answer": "x",
                                                     "score": FAQ_MIN_SCORE - 0.1}], seen=seen),
              ("POST", "/faq/unanswered"): json_handler({"id": 1}, status=201, seen=seen)}
    track = tracker("co phai nhin an khong")
    dispatcher, _ = run_action(ActionAnswerFaq(), routes, track)
    assert [m["response"] for m in dispatcher.messages] == ["utter_faq_unknown"]
    assert [request.path for request in seen] == ["/api/v1/faq/search", "/api/v1/faq/unanswered"]
    for request in seen:
        assert request.headers["Authorization"] == f"Bearer {CREDENTIAL}"
        # Passed through as the gateway signed it: the action server cannot make or change one.
        assert request.headers[HEADER] == track.latest_message["metadata"][METADATA_KEY]
    assert seen[1]["chat"].chat_key == "zalo:test-user"


def test_a_form_validation_asks_the_api_for_the_chat_too() -> None:
    seen: list[web.Request] = []
    booking = {"code": "KE3MX7PA", "status": "confirmed", "session_id": 12, "session": {}}
    routes = {("GET", "/bookings/{code}"): json_handler(booking, seen=seen)}
    track = tracker("KE3MX7PA", slots={"requested_slot": "booking_code", "booking_code": "KE3MX7PA"},
                    intent="inform", form="cancel_form")
    _, events = run_action(ValidateCancelForm(), routes, track)
    assert SlotSet("booking_code", "KE3MX7PA") in events
    assert seen[0].headers[HEADER] == track.latest_message["metadata"][METADATA_KEY]
    assert seen[0].headers["Authorization"] == f"Bearer {CREDENTIAL}"


def test_every_action_that_can_call_the_api_speaks_for_the_chat() -> None:
    executor = ActionExecutor()
    executor.register_package("actions")
    backed = {name: run.__self__ for name, run in executor.actions.items() if hasattr(run.__self__, "client")}
    assert {"action_submit_booking", "validate_cancel_form", "action_submit_rights",
            "action_route_inform"} <= set(backed)
    for name, action in backed.items():
        assert isinstance(action, ApiBacked), f"{name} holds an API client outside ApiBacked"
        assert getattr(type(action).run, "_runs_for_the_chat", False), name


def test_conversations_handled_at_once_each_send_their_own_chat() -> None:
    """One client serves every conversation: while one action waits for the API, another runs."""
    arrived: list[web.Request] = []
    both_in = asyncio.Event()

    async def slow_report(request: web.Request) -> web.StreamResponse:
        arrived.append(request)
        request["json"] = await request.json()
        if len(arrived) == 2:
            both_in.set()
        await asyncio.wait_for(both_in.wait(), timeout=5)
        return web.json_response({"id": len(arrived)}, status=201)

    chats = {"zalo:u-1": chat_token("u-1"), "telegram:42": chat_token("42", channel="telegram")}

    async def scenario(base: str) -> None:
        action = ActionReportScam(ApiClient(base))
        await asyncio.gather(*(action.run(CollectingDispatcher(), with_chat(tracker(f"lua dao {chat}"), token),
                                          bot_domain()) for chat, token in chats.items()))

    asyncio.run(serve({("POST", "/reports/scam"): slow_report}, scenario))
    assert {request["json"]["text"].removeprefix("lua dao "): request["chat"].chat_key for request in arrived} == {
        chat: chat for chat in chats}


def test_a_message_without_a_chat_identity_is_sent_without_one() -> None:
    seen: list[web.Request] = []
    track = tracker("co nguoi goi lua dao")
    track.latest_message["metadata"] = {"channel": "zalo"}
    routes = {("POST", "/reports/scam"): json_handler({"id": 1}, status=201, seen=seen)}

    async def scenario(base: str) -> None:
        await ActionReportScam(ApiClient(base)).run(CollectingDispatcher(), track, bot_domain())

    asyncio.run(serve(routes, scenario, chat_required=False))
    assert HEADER not in seen[0].headers and seen[0].headers["Authorization"] == f"Bearer {CREDENTIAL}"


def test_a_refused_credential_is_busy_for_the_resident_and_an_error_for_the_operator(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes: dict[Any, Any] = {("POST", "/reports/scam"): json_handler({"id": 1}, status=201)}
    monkeypatch.setenv("API_SERVICE_CREDENTIAL", "ksk_svc_revoked-or-mistyped-0000000000000000000000")
    dispatcher, _ = run_action(ActionReportScam(), routes, tracker("co nguoi goi lua dao"))
    assert [m["response"] for m in dispatcher.messages] == ["utter_scam_warning"]  # the report could not be filed
    assert "service_credential_required" in caplog.text and "ksk_svc_" not in caplog.text
    monkeypatch.setenv("API_SERVICE_CREDENTIAL", CREDENTIAL)
    dispatcher, _ = run_action(ActionReportScam(), routes, tracker("co nguoi goi lua dao"))
    assert [m["response"] for m in dispatcher.messages] == ["utter_scam_warning", "utter_scam_recorded"]
