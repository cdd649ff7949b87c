"""What each call from the Rasa server to the action server costs, cut to what it needs (issue 21,
`bench/profile.py`). Rasa offers no setting for either; `install()` is called when the Rasa server loads
our input channel (bot/channels.py), in every process that serves residents.

- **The response's check.** Rasa checks every action server response against its JSON schema with
  `jsonschema.validate`, which first checks the schema itself against JSON Schema's meta-schema and
  builds a new validator each time: ≈ 18 ms of CPU per call here, two calls in a typical message — the
  largest part of what a message cost in Rasa. The same check with one validator built once costs
  ≈ 0.7 ms and accepts and refuses exactly the same responses, with the same error. Most of that was
  the schema's `oneOf` over every kind of event, tried for each event; each kind names itself
  (`"event": {"const": …}`), so at most one kind can match an event, and an event is valid exactly when
  its own kind's schema accepts it. A response is first checked that way, by the schemas compiled to
  Python once (fastjsonschema: ≈ 7 µs for a form's answer, against ≈ 100 µs with jsonschema's validators
  built once); one that fails is checked again by the whole schema with jsonschema, for Rasa's verdict
  and error.
- **The connection.** Rasa opens a new HTTP session, hence a new TCP connection, for every call. The
  action endpoint lends one session per event loop instead, with connections kept alive
  (actions/connections.py).
- **The domain without its responses.** An action that asks for the domain (`send_domain: true` in
  bot/domain.yml: the forms' validations, which read the slots and the forms) got all of it, three
  quarters of it the responses' wording (27 of 36 KB): written as JSON by Rasa and read back by the action
  server at every answer in a form. Only the actions in `RESPONSES_READ_BY` read the responses (the replay
  asks whether a message's wording has slots, actions/language.py); the others get the rest of the domain.
  A test reads the actions package for any other reader.
- **No call at all.** With `ACTION_ENDPOINT_URL=in-process` the actions package runs inside the Rasa
  server, through rasa_sdk's own executor, as the action server would run it: the same request and
  response (passed through JSON, so neither side shares or keeps the other's objects), the same
  rejections (400), unknown actions (404) and failures (500) as Rasa sees them over HTTP. What it saves
  is the HTTP round trip: Rasa's client, the tracker written as JSON (actions/connections.py), the
  action server's Sanic and event loop (≈ 10 ms of CPU per message by `bench/profile.py`'s shares, one
  message at a time; under load `bench/scale.py` measured ≈ 0.91× the CPU per message in one session and
  0.98× in the next, with a longer tail in every pair; a third time, Rasa with its actions 0.85–0.90× of
  Rasa and the action server with p95 longer in three pairs of four, so the production profile leaves it
  off). The copy is orjson's (`through_json`), ≈ 2.6× cheaper than the ujson round trip it replaced. Actions
  are coroutines that wait only on the API, so they share the server's event loop as they share the
  action server's.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from functools import lru_cache
from types import TracebackType
from typing import Any

import aiohttp
import fastjsonschema
from jsonschema import ValidationError, validators
from jsonschema.exceptions import best_match
from rasa.core.actions.action import RemoteAction
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.shared.core.domain import KEY_RESPONSES, Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import ClientResponseError, EndpointConfig
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

from actions.connections import SessionPool, dumps, through_json

_POOLED = "_ksk_session_pool"
# The action endpoint's URL that runs the actions package inside this server instead of calling it.
IN_PROCESS = "in-process"
ACTIONS_PACKAGE = "actions"

# The actions that read the domain's responses: every other action that asks for the domain gets it without.
RESPONSES_READ_BY = frozenset({"action_replay_audio"})
_WITHOUT_RESPONSES = "_ksk_without_responses"
# Rasa's own, kept for comparison (tests_rasa/test_action_calls.py).
RASA_CALL_FORMAT = RemoteAction._action_call_format

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)  # once, as `jsonschema.validate` does on every call
    return cls(schema)


@lru_cache(maxsize=1)
def _by_kind() -> tuple[Callable[[Any], Any], dict[str, Callable[[Any], Any]]] | None:
    """The response's schema without the events' `oneOf`, and each kind of event's own schema by its
    name, each compiled to Python by fastjsonschema (≈ 7 µs for a form's answer against ≈ 100 µs with
    jsonschema's validators; defaults are never written into the response); None if the kinds do not
    each name themselves once (then the whole schema checks)."""
    schema = copy.deepcopy(RemoteAction.action_response_format_spec())
    event = schema["properties"]["events"]["items"]
    kinds: dict[str, Any] = {}
    for alternative in event.pop("oneOf", []):
        name = alternative.get("properties", {}).get("event", {}).get("const")
        if not isinstance(name, str) or name in kinds:
            return None
        kinds[name] = alternative
    return (fastjsonschema.compile(schema, use_default=False),
            {name: fastjsonschema.compile(alternative, use_default=False) for name, alternative in kinds.items()})


def _valid_by_kind(result: Any) -> bool:
    """Whether the whole schema accepts `result`, checking each event against its own kind only. An
    acceptance here is final: tests_rasa/test_action_calls.py checks it agrees with jsonschema for every
    kind of event, field and JSON type. A refusal is checked again by jsonschema, for its verdict and
    error. `result` is always parsed JSON (the HTTP response's body, or `through_json` in process), so
    the tuples and Decimals fastjsonschema would take for arrays and numbers, and jsonschema would not,
    never reach it."""
    checks = _by_kind()
    if checks is None:
        return False
    outline, kinds = checks
    try:
        outline(result)
        for event in result.get("events") or []:
            own = kinds.get(event["event"])
            if own is None:
                return False
            own(event)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """`RemoteAction._validate_action_result` with the validators built once."""
    if _valid_by_kind(result):
        return True
    error: ValidationError | None = best_match(_validator().iter_errors(result))
    if error is None:
        return True
    # Rasa's own wording of the failure (rasa/core/actions/action.py).
    error.message += (". Failed to validate Action server response from API, make sure your response from "
                      "the Action endpoint is valid. For more information about the format visit "
                      "https://rasa.com/docs/rasa/custom-actions")
    raise error


def _without_responses(domain: Domain) -> dict[str, Any]:
    held: dict[str, Any] | None = getattr(domain, _WITHOUT_RESPONSES, None)
    if held is None:  # once per domain: a model's domain does not change while it serves
        held = {key: value for key, value in domain.as_dict().items() if key != KEY_RESPONSES}
        setattr(domain, _WITHOUT_RESPONSES, held)
    return held


def action_call_format(self: RemoteAction, tracker: DialogueStateTracker, domain: Domain) -> dict[str, Any]:
    """What Rasa sends the action server, with the domain's responses only for the actions that read them."""
    call: dict[str, Any] = RASA_CALL_FORMAT(self, tracker, domain)
    if "domain" in call and self.name() not in RESPONSES_READ_BY:
        call["domain"] = _without_responses(domain)
    return call


class _Borrowed:
    """`async with endpoint.session() as session` on a session that stays open afterwards."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        return None


def pool_connections(endpoint: EndpointConfig) -> None:
    """Makes `endpoint.session()` lend its event loop's session, made as Rasa's `EndpointConfig.session`
    makes one (the endpoint's headers, basic auth and timeout), with keep-alive connections."""
    if getattr(endpoint, _POOLED, None) is not None:
        return
    auth = endpoint.basic_auth
    pool = SessionPool(headers=endpoint.headers, timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                       auth=aiohttp.BasicAuth(auth["username"], auth["password"]) if auth else None)
    setattr(endpoint, _POOLED, pool)
    # lent, not a new ClientSession for the caller to close
    endpoint.session = lambda: _Borrowed(pool.session())  # type: ignore[method-assign,assignment,return-value]


async def close_pooled(endpoint: EndpointConfig | None) -> None:
    """Closes the session lent on this event loop (the server is stopping)."""
    pool: SessionPool | None = getattr(endpoint, _POOLED, None) if endpoint is not None else None
    if pool is not None:
        await pool.close()


@lru_cache(maxsize=1)
def _executor() -> ActionExecutor:
    executor = ActionExecutor()
    executor.register_package(ACTIONS_PACKAGE)
    return executor


async def run_in_process(json: Any = None, **_http: Any) -> Any:
    """What `endpoint.request(json=…, method="post")` returns from rasa_sdk's action server
    (rasa_sdk/endpoint.py `webhook`), or the `ClientResponseError` Rasa gets from it."""
    call = through_json(json)
    try:
        result = await _executor().run(call)
    except ActionExecutionRejection as error:
        raise _refused(400, "Bad Request", error) from error
    except ActionNotFoundException as error:
        log.error(error)
        raise _refused(404, "Not Found", error) from error
    except Exception as error:
        log.exception("Exception occurred while running the action %s", (call or {}).get("next_action"))
        raise ClientResponseError(500, "Internal Server Error", "") from error
    return through_json(result)


def _refused(status: int, reason: str, error: ActionExecutionRejection | ActionNotFoundException
             ) -> ClientResponseError:
    """The error response rasa_sdk's action server gives for a rejected or unknown action."""
    return ClientResponseError(status, reason, dumps({"error": error.message, "action_name": error.action_name}))


def run_here(endpoint: EndpointConfig) -> bool:
    """Whether the endpoint names the actions package run inside this server."""
    return (endpoint.url or "").strip() == IN_PROCESS


def _pooling_init(original: Callable[..., None]) -> Callable[..., None]:
    def init(self: RemoteAction, name: str, action_endpoint: EndpointConfig | None) -> None:
        original(self, name, action_endpoint)
        if action_endpoint is not None and run_here(action_endpoint):
            action_endpoint.request = run_in_process  # type: ignore[method-assign,assignment]
        elif action_endpoint is not None:
            pool_connections(action_endpoint)  # the endpoint object is the server's one, shared by every call

    return init


def install() -> None:
    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
    RemoteAction._action_call_format = action_call_format  # type: ignore[method-assign]
    if not getattr(RemoteAction.__init__, "_ksk_pooling", False):
        init = _pooling_init(RemoteAction.__init__)
        init._ksk_pooling = True  # type: ignore[attr-defined]
        RemoteAction.__init__ = init  # type: ignore[method-assign]
