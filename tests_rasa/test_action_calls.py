"""Calls to the action server: their responses checked as Rasa checks them, with the validator built
once, over connections kept alive."""

from __future__ import annotations

import ast
import asyncio
import json
import math
import random
import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet as SdkSlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import ActionExecutionRejection as SdkRejection

import bot.channels  # noqa: F401 - loading the channel installs the check, as in the Rasa server
from actions import connections
from bot import action_calls

GOOD: list[dict[str, Any]] = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "requested_slot", "value": "full_name", "timestamp": None},
                {"event": "active_loop", "name": "booking_form"}, {"event": "followup", "name": "action_listen"}],
     "responses": [{"text": "Họ tên của bác là gì ạ?", "buttons": [], "response": "utter_ask_full_name"}]},
    {"events": [{"event": "slot", "name": "my_booking_codes", "value": ["ABCD3467"]}]},
]
BAD: list[Any] = [
    {"events": [{"event": "slot"}]},  # a slot event without its name
    {"events": [{"event": "no_such_event"}]},
    {"events": "not a list"},
    {"responses": [42]},
    [],
    {"events": [{"event": "slot", "name": "full_name"}]},  # its kind's own field missing
    {"events": [{"event": "user", "parse_data": {"entities": [{"entity": "commune"}]}}]},  # deep inside one kind
    {"events": [{"event": "action", "name": "action_listen"}, {"event": "user", "text": 5}]},  # the second wrong
    {"events": [{"event": "slot", "name": "x", "value": 1, "timestamp": "now"}]},  # a field every kind has
    {"events": [{"name": "x"}]},  # no kind at all
]


def original_verdict(result: Any) -> str | None:
    try:
        jsonschema.validate(result, RemoteAction.action_response_format_spec())
    except ValidationError as error:
        return error.message
    return None


def test_the_server_uses_the_validator_built_once() -> None:
    assert RemoteAction._validate_action_result is action_calls.validate_action_result


@pytest.mark.parametrize("result", GOOD)
def test_what_rasa_accepts_is_accepted(result: dict[str, Any]) -> None:
    assert original_verdict(result) is None
    assert RemoteAction("action_x", None)._validate_action_result(result) is True


@pytest.mark.parametrize("result", BAD)
def test_what_rasa_refuses_is_refused_with_its_error(result: Any) -> None:
    expected = original_verdict(result)
    assert expected is not None
    with pytest.raises(ValidationError) as raised:
        RemoteAction("action_x", None)._validate_action_result(result)
    assert raised.value.message.startswith(expected)
    assert "Failed to validate Action server response" in raised.value.message


def test_each_event_checked_against_its_own_kind_gives_the_whole_schemas_verdict() -> None:
    """Every kind of event, and each with every field of its kind's schema given a value of each JSON type:
    accepted exactly when `jsonschema.validate` accepts it (by the compiled schemas alone), refused with
    its error otherwise."""
    event_schema = RemoteAction.action_response_format_spec()["properties"]["events"]["items"]
    values: list[Any] = [None, True, 3, 2.5, "x", [], [{}], {}, {"name": "x"}]
    cases: list[Any] = []
    for alternative in event_schema["oneOf"]:
        kind = alternative["properties"]["event"]["const"]
        base = {"event": kind, "name": "x", "value": "v", "entities": []}
        cases.append({"events": [base]})
        for field in [*alternative["properties"], "timestamp", "metadata"]:
            cases += [{"events": [{**base, field: value}]} for value in values if field != "event"]
    verdicts = {"accepted": 0, "refused": 0}
    for result in cases:
        expected = original_verdict(result)
        # The compiled check alone gives the verdict: an acceptance never waits for jsonschema's.
        assert action_calls._valid_by_kind(result) is (expected is None), result
        if expected is None:
            assert RemoteAction("action_x", None)._validate_action_result(result) is True, result
            verdicts["accepted"] += 1
        else:
            with pytest.raises(ValidationError) as raised:
                RemoteAction("action_x", None)._validate_action_result(result)
            assert raised.value.message.startswith(expected), result
            verdicts["refused"] += 1
    assert min(verdicts.values()) > 100  # both verdicts well represented


def test_a_valid_response_is_not_checked_against_every_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    whole: list[Any] = []
    monkeypatch.setattr(action_calls._validator(), "iter_errors", lambda result: whole.append(result) or iter(()))
    for result in GOOD:
        RemoteAction("action_x", None)._validate_action_result(result)
    assert whole == []


def test_the_schema_is_checked_once_not_at_every_response(monkeypatch: pytest.MonkeyPatch) -> None:
    checks: list[Any] = []
    validator = jsonschema.validators.validator_for(RemoteAction.action_response_format_spec())
    original = validator.check_schema
    monkeypatch.setattr(validator, "check_schema", classmethod(lambda cls, s: checks.append(s) or original(s)))
    for _ in range(5):
        RemoteAction("action_x", None)._validate_action_result(GOOD[1])
    assert checks == []


@asynccontextmanager
async def serving(method: str, path: str, body: Any, read: list[Any] | None = None
                  ) -> AsyncIterator[tuple[int, list[Any]]]:
    """A local server answering `body` at `path`, keeping idle connections 5 s (as Sanic and uvicorn do):
    its port, and each request's client address as it saw it (one address: one connection). With `read`,
    each request's JSON body as the server read it is added there."""
    from aiohttp import web

    seen: list[Any] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.transport.get_extra_info("peername") if request.transport else None)
        if read is not None:
            read.append(await request.json())
        return web.json_response(body)

    app = web.Application()
    app.router.add_route(method, path, answer)
    runner = web.AppRunner(app, keepalive_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1], seen  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


async def _calls_over_connections(pause_s: float) -> tuple[list[Any], list[Any]]:
    """Two calls through a RemoteAction's endpoint to the action server, `pause_s` apart: the server's
    view of each call's connection, and the responses."""
    async with serving("POST", "/webhook", {"events": [], "responses": []}) as (port, seen):
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
        RemoteAction("action_x", endpoint)  # the server creates one per call, all on its one endpoint
        results = [await endpoint.request(json={"next_action": "action_x"}, method="post")]
        await asyncio.sleep(pause_s)
        results.append(await endpoint.request(json={"next_action": "action_x"}, method="post"))
        await action_calls.close_pooled(endpoint)
    return seen, results


def test_calls_to_the_action_server_reuse_one_connection() -> None:
    seen, results = asyncio.run(_calls_over_connections(0.1))
    assert results == [{"events": [], "responses": []}] * 2
    assert len(seen) == 2 and seen[0] == seen[1]  # the same client port: one connection


def test_an_idle_connection_is_dropped_before_the_server_drops_it() -> None:
    seen, results = asyncio.run(_calls_over_connections(connections.KEEPALIVE_S + 0.5))
    assert results == [{"events": [], "responses": []}] * 2  # no call on a connection being closed
    assert seen[0] != seen[1]
    assert connections.KEEPALIVE_S < 5.0  # Sanic's keep-alive, which the action server runs on


def test_the_action_servers_api_client_reuses_its_connection() -> None:
    from actions.api import ApiClient

    async def two_requests() -> list[Any]:
        async with serving("GET", "/api/v1/sessions", {"items": []}) as (port, seen):
            client = ApiClient(f"http://127.0.0.1:{port}", credential="test")
            for _ in range(2):
                assert await client.list_sessions(commune_id=1) == []
            await client.connections.close()
        return seen

    seen = asyncio.run(two_requests())
    assert len(seen) == 2 and seen[0] == seen[1]


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    """Values a tracker can hold, and their edges: any code point (lone surrogates too), floats from any
    bit pattern (NaN and infinities left out: NaN never equals itself), integers up to 2**80."""
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return "".join(chr(rng.choice((rng.randrange(0x80), rng.randrange(0x110000))))
                       for _ in range(rng.randrange(12)))
    if kind == 1:
        value = struct.unpack("<d", rng.randbytes(8))[0]
        return value if math.isfinite(value) else 0.5
    if kind == 2:
        return rng.randrange(-(2 ** 80), 2 ** 80) >> rng.randrange(80)
    if kind == 3:
        return rng.choice((None, True, False, "", "Xin chào bác/anh chị </script>"))
    if kind == 4:
        return rng.random() * 10 ** rng.randrange(-12, 12)
    if kind == 5:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(5))]
    # Keys: mostly text; some numbers, booleans and null, which both write as text.
    return {(_random_json(rng, 4) if kind == 6 else str(rng.random())): _random_json(rng, depth + 1)
            for _ in range(rng.randrange(5))}


def test_request_bodies_read_back_as_the_standard_librarys() -> None:
    rng = random.Random(21)
    for _ in range(3000):
        value = _random_json(rng)
        read = json.loads(json.dumps(value))
        assert json.loads(connections.dumps(value)) == read
        assert connections.through_json(value) == read  # what a call inside Rasa hands over
    when = datetime(2026, 12, 3, 9, 30, tzinfo=timezone.utc)
    for refused in ({"when": object()}, {"when": when}, [date(2026, 12, 3)]):
        for write in (connections.dumps, connections.through_json):
            with pytest.raises(TypeError):
                write(refused)  # refused, as json.dumps refuses it


def test_what_goes_through_json_shares_nothing_with_what_was_sent() -> None:
    sent = {"tracker": {"slots": {"codes": ["ABCD3467"]}, "events": [{"event": "user", "parse_data": {}}]},
            "pair": ("a", 1), 7: None}
    read = connections.through_json(sent)
    assert read == {"tracker": {"slots": {"codes": ["ABCD3467"]}, "events": [{"event": "user", "parse_data": {}}]},
                    "pair": ["a", 1], "7": None}
    read["tracker"]["slots"]["codes"].append("XXXX0000")
    read["tracker"]["events"][0]["parse_data"]["intent"] = {}
    assert sent["tracker"] == {"slots": {"codes": ["ABCD3467"]}, "events": [{"event": "user", "parse_data": {}}]}


def test_the_action_server_reads_the_body_rasa_meant_to_send(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[Any] = []
    ours = connections.dumps
    monkeypatch.setattr(connections, "dumps", lambda value: written.append(value) or ours(value))
    tracker = {"sender_id": "zalo:1234", "slots": {"full_name": "Lường Văn Tâm", "commune_id": 13, "score": 0.8731},
               "events": [{"event": "user", "text": "đặt lịch khám / hẹn giờ", "timestamp": 1764720000.123456,
                           "parse_data": {"intent": {"name": "book_exam", "confidence": 0.9999999999999998}}}],
               "latest_message": {"text": "\u0000\U0001f600 \"quoted\" \\"}}
    read: list[Any] = []

    async def exchange() -> Any:
        async with serving("POST", "/webhook", {"events": [], "responses": []}, read) as (port, _):
            endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
            RemoteAction("action_x", endpoint)  # the endpoint's session, as the server's calls use it
            answer = await endpoint.request(json={"next_action": "action_x", "tracker": tracker}, method="post")
            await action_calls.close_pooled(endpoint)
        return answer

    assert asyncio.run(exchange()) == {"events": [], "responses": []}
    assert read == [{"next_action": "action_x", "tracker": tracker}]
    assert len(written) == 1  # written by ujson, not by aiohttp's default


# Test actions as plain functions registered on the in-process executor only: an `Action` subclass would
# be found by every executor that registers the actions package (rasa_sdk looks for all subclasses).
async def _rejecting(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[Any]:
    raise SdkRejection("action_test_rejecting", "no slot to fill here")


async def _failing(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[Any]:
    raise RuntimeError("the API answered nonsense")


async def _meddling(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[Any]:
    """Changes what it was handed and answers with a tuple, which JSON turns into a list."""
    tracker.slots["language"] = "hmn"
    tracker.events.clear()
    dispatcher.utter_message(response="utter_greet", name="bác")
    return [SdkSlotSet("my_booking_codes", ("ABCD3467",))]


TEST_ACTIONS = {"action_test_rejecting": _rejecting, "action_test_failing": _failing,
                "action_test_meddling": _meddling}


@pytest.fixture
def in_process() -> Iterator[tuple[EndpointConfig, Domain]]:
    executor = action_calls._executor()
    for name, run in TEST_ACTIONS.items():
        executor.register_function(name, run)
    domain = Domain.from_path(Path(__file__).parents[1] / "bot" / "domain.yml")
    yield EndpointConfig(action_calls.IN_PROCESS), domain
    for name in TEST_ACTIONS:
        executor.actions.pop(name, None)


def _run(name: str, endpoint: EndpointConfig, domain: Domain, tracker: DialogueStateTracker) -> list[Event]:
    action = RemoteAction(name, endpoint)
    return asyncio.run(action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(domain.responses),
                                  tracker, domain))


def _tracker(domain: Domain, **slots: Any) -> DialogueStateTracker:
    tracker = DialogueStateTracker.from_events("in-process", [ActionExecuted("action_listen")], domain.slots)
    for name, value in slots.items():
        tracker.update(SlotSet(name, value))
    return tracker


def test_actions_run_inside_the_server_when_the_endpoint_says_so(
        in_process: tuple[EndpointConfig, Domain]) -> None:
    endpoint, domain = in_process
    events = _run("action_session_start", endpoint, domain, _tracker(domain, language="tyz", audio_wanted=True,
                                                                      full_name="Nông Thị Mai"))
    # The actions package's own session start: the preferences carried over, nothing personal.
    assert [type(e).__name__ for e in events] == ["SessionStarted", "SlotSet", "SlotSet", "ActionExecuted"]
    assert [(e.key, e.value) for e in events if isinstance(e, SlotSet)] == [("language", "tyz"),
                                                                            ("audio_wanted", True)]
    assert endpoint.request is action_calls.run_in_process  # no HTTP client, no connection pool
    assert getattr(endpoint, "_ksk_session_pool", None) is None


def test_in_process_the_actions_get_and_give_copies_as_over_http(in_process: tuple[EndpointConfig, Domain]) -> None:
    endpoint, domain = in_process
    tracker = _tracker(domain, language="tyz")
    events = _run("action_test_meddling", endpoint, domain, tracker)
    assert tracker.get_slot("language") == "tyz" and len(tracker.events) == 2  # untouched by the action
    assert isinstance(events[0], BotUttered) and events[0].text
    assert [(e.key, e.value) for e in events if isinstance(e, SlotSet)] == [("my_booking_codes", ["ABCD3467"])]


def test_in_process_a_rejection_an_unknown_action_and_a_failure_reach_rasa_as_over_http(
        in_process: tuple[EndpointConfig, Domain], caplog: pytest.LogCaptureFixture) -> None:
    endpoint, domain = in_process
    with pytest.raises(ActionExecutionRejection) as rejected:
        _run("action_test_rejecting", endpoint, domain, _tracker(domain))
    assert rejected.value.action_name == "action_test_rejecting" and rejected.value.message == "no slot to fill here"
    for name in ("action_no_such_thing", "action_test_failing"):
        with pytest.raises(RasaException, match=f"Failed to execute custom action '{name}'"):
            _run(name, endpoint, domain, _tracker(domain))
    assert "the API answered nonsense" in caplog.text  # the failure is logged with its cause


def _domain() -> Domain:
    return Domain.from_path(Path(__file__).parents[1] / "bot" / "domain.yml")


def _call_format(name: str, domain: Domain, written_by: Any = action_calls.action_call_format) -> Any:
    endpoint = EndpointConfig("http://127.0.0.1:5055/webhook", enable_selective_domain=True)
    return written_by(RemoteAction(name, endpoint), _tracker(domain, language="tyz"), domain)


def test_a_form_s_validation_gets_the_domain_without_its_responses() -> None:
    domain = _domain()
    call = _call_format("validate_booking_form", domain)
    by_rasa = _call_format("validate_booking_form", domain, action_calls.RASA_CALL_FORMAT)
    full = domain.as_dict()
    assert "responses" not in call["domain"] and full["responses"]
    assert call["domain"] == {key: value for key, value in full.items() if key != "responses"}
    assert {key: value for key, value in call.items() if key not in ("domain", "tracker")} == \
           {key: value for key, value in by_rasa.items() if key not in ("domain", "tracker")}
    assert call["domain"]["forms"]["booking_form"]["required_slots"] and call["domain"]["slots"]
    assert len(json.dumps(call["domain"])) < len(json.dumps(full)) / 2


def test_the_actions_that_read_the_responses_get_them_and_the_others_no_domain() -> None:
    domain = _domain()
    assert _call_format("action_replay_audio", domain)["domain"] == domain.as_dict()
    assert "domain" not in _call_format("action_answer_faq", domain)  # it does not ask for the domain


def _reads_responses(tree: ast.AST) -> set[str]:
    """The functions of a module whose code names the domain's responses."""
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and any(isinstance(leaf, ast.Constant) and leaf.value == "responses" for leaf in ast.walk(node))}


def test_no_other_action_reads_the_domain_s_responses() -> None:
    readers: dict[str, set[str]] = {}
    for path in sorted((Path(__file__).parents[1] / "actions").glob("*.py")):
        found = _reads_responses(ast.parse(path.read_text(encoding="utf-8")))
        if found:
            readers[path.name] = found
    assert readers == {"language.py": {"_has_slots"}}
    # …and only the replay uses that helper.
    tree = ast.parse((Path(__file__).parents[1] / "actions" / "language.py").read_text(encoding="utf-8"))
    users = {cls.name for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef)
             and any(isinstance(call, ast.Name) and call.id == "_has_slots" for call in ast.walk(cls))}
    assert users == {"ActionReplayAudio"}
    from actions.language import ActionReplayAudio

    assert {ActionReplayAudio().name()} == action_calls.RESPONSES_READ_BY


def test_the_rasa_server_trims_the_domain_this_way() -> None:
    assert RemoteAction._action_call_format is action_calls.action_call_format
