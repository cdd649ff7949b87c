"""The input channel the gateway talks to (runs in the Rasa environment; bot/credentials.yml).

Rasa's REST channel, plus what several replicas behind nginx need:

- **a message is handled once**, even when it is sent twice. The gateway sends each message with a
  stable `message_id`; when a replica died after recording the message but before answering, the
  gateway's next attempt (`attempt` > 1) finds that id in the conversation and gets back the replies
  recorded after it, instead of a second booking. The check and the handling share Rasa's
  conversation lock (the Redis lock store in production), so a slow first attempt and its repeat on
  another replica cannot both run.
- **a slow attempt is waited for, not repeated**: Rasa's conversation lock expires after
  `TICKET_LOCK_LIFETIME` seconds (short, so that a dead replica does not hold a conversation for
  long), and the gateway gives up on an attempt after its own timeout. A message still being handled
  by a live but slow replica (a burst, a replica reloading its model beside it) would then be handled
  a second time, in parallel, on the other replica — and the two saves leave the conversation out of
  step (a form asking for one thing and validating another). So each attempt holds a *lease* on its
  message id while it runs, renewed every `LEASE_RENEW_S` (Redis when the lock store is Redis, shared
  by the replicas; in memory otherwise); a later attempt waits while the lease is held, then answers
  from the record. A killed replica stops renewing, and its lease is gone within `LEASE_S`.
- **an attempt the gateway gave up on is dropped**: each carries `expires_at`; a replica that gets
  to it only later (it was still loading its model and the request waited in its backlog) answers
  503 instead of handling a message that a later attempt handles.
- **failures are failures**: the REST channel answers 200 with whatever it collected when handling
  fails (an empty list, or half the replies); here the gateway gets a 503 and tries again.
- **not ready is 503**: a replica still loading its model refuses messages instead of dropping them,
  and its readiness probe (`GET /webhooks/gateway/`) answers 503 until the model is loaded: the
  production supervisor keeps a restarted replica out of nginx until then (scripts/run_all.py).
- **a tapped button skips the classifiers**: its payload (`/affirm{"question": "cb.k3x9"}`) says what
  it means, and Rasa's NLU would run every featurizer and classifier on it only for its last step to
  replace their answer with the payload's. The channel reads the payload with that same step.

Replayed replies come from the stored conversation, where long digit runs and dates in the bot's
texts are masked (bot/tracker_store.py); that only shows in this rare path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.shared.constants import INTENT_MESSAGE_PREFIX
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import action_calls, count_vectors, event_types, graph_runner, rule_lookup, tracker_copy
from bot.components.message_guard import wordless_intent
from common.heap import freeze_startup_heap

log = logging.getLogger(__name__)
# Loaded by every Rasa server that serves residents (bot/credentials.yml): calls to the action server
# over kept-alive connections, their responses checked with a validator built once (bot/action_calls.py).
action_calls.install()
# Its model graphs run in order, without dask (bot/graph_runner.py).
graph_runner.install()
# A message's words and character n-grams are counted straight into the matrices Rasa keeps (bot/count_vectors.py).
count_vectors.install()
# The tracker Rasa copies before each action is copied as it stands, not replayed (bot/tracker_copy.py).
tracker_copy.install()
# RulePolicy looks rules up in the conversation's last states only (bot/rule_lookup.py).
rule_lookup.install()
# Events are read by their type's name with each class looked up once (bot/event_types.py).
event_types.install()

_REPLY_KEYS = ("buttons", "image", "attachment", "custom")

LEASE_S = 6.0
LEASE_RENEW_S = 2.0
# How long a repeated attempt waits for the one still running before telling the gateway to try again.
WAIT_FOR_RUNNING_S = 15.0
_LEASE_PREFIX = "ksk:handling:"


class Leases:
    """Message ids being handled right now, by any replica (see the module's docstring)."""

    def __init__(self, redis: Any = None) -> None:
        self.redis = redis  # a `redis.Redis` (sync, as Rasa's lock store uses it), or None: this process only
        self.local: dict[str, float] = {}

    @classmethod
    def of(cls, agent: Any) -> Leases:
        """The leases shared like the agent's lock store: its Redis connection if it has one."""
        leases: Leases | None = getattr(agent, "_ksk_leases", None)
        if leases is None:
            leases = cls(getattr(agent.lock_store, "red", None))
            agent._ksk_leases = leases
        return leases

    def _take(self, message_id: str) -> None:
        if self.redis is not None:
            self.redis.set(_LEASE_PREFIX + message_id, "1", px=int(LEASE_S * 1000))
        else:
            self.local[message_id] = time.monotonic() + LEASE_S

    def _drop(self, message_id: str) -> None:
        if self.redis is not None:
            self.redis.delete(_LEASE_PREFIX + message_id)
        else:
            self.local.pop(message_id, None)

    def held(self, message_id: str) -> bool:
        if self.redis is not None:
            return bool(self.redis.exists(_LEASE_PREFIX + message_id))
        return self.local.get(message_id, 0.0) > time.monotonic()

    @contextlib.asynccontextmanager
    async def holding(self, message_id: str) -> AsyncIterator[None]:
        self._take(message_id)

        async def renew() -> None:
            while True:
                self._take(message_id)
                await asyncio.sleep(LEASE_RENEW_S)

        # The renewer starts when the first renewal is due: almost every message is handled long before,
        # and a task per message is CPU for nothing (issue 21).
        renewing: list[asyncio.Task[None]] = []
        first_renewal = asyncio.get_running_loop().call_later(
            LEASE_RENEW_S, lambda: renewing.append(asyncio.create_task(renew())))
        try:
            yield
        finally:
            first_renewal.cancel()
            for task in renewing:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._drop(message_id)

    async def wait_while_held(self, message_id: str, timeout_s: float) -> bool:
        """True once no attempt holds `message_id`; False if one still does after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while self.held(message_id):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.2)
        return True


def recorded_replies(tracker: DialogueStateTracker | None, message_id: str) -> list[dict[str, Any]] | None:
    """The replies recorded after the user message `message_id`, in the REST channel's shape; None when
    the conversation has no such message."""
    if tracker is None:
        return None
    events = list(tracker.events)
    start = next((i for i, e in enumerate(events) if isinstance(e, UserUttered) and e.message_id == message_id),
                 None)
    if start is None:
        return None
    replies = []
    for event in events[start + 1:]:
        if isinstance(event, UserUttered):
            break
        if isinstance(event, BotUttered):
            reply: dict[str, Any] = {"recipient_id": tracker.sender_id}
            if event.text is not None:
                reply["text"] = event.text
            reply.update({key: event.data[key] for key in _REPLY_KEYS if event.data.get(key) is not None})
            replies.append(reply)
    return replies


def nothing_to_read(text: str) -> dict[str, Any]:
    """The parse of a message with no character to read (empty, or spaces only; a web page can send
    one): the menu, as MessageGuard decides for a message without a word. Rasa's classifiers fail on a
    message without a token (the gateway would get 503s and, a minute later, the busy reply)."""
    meaning = {INTENT_NAME_KEY: wordless_intent(text) or "help", PREDICTED_CONFIDENCE_KEY: 1.0}
    return {TEXT: text, INTENT: meaning, ENTITIES: [], INTENT_RANKING_KEY: [meaning]}


def parsed_payload(text: str, domain: Domain | None) -> dict[str, Any] | None:
    """What Rasa's NLU makes of a button's payload, without running the classifiers: the parse that its
    last step (RegexMessageHandler) puts in place of theirs. None for any other text, and for a payload
    of an intent the domain does not know (a resident may type "/…"): the NLU reads those as always."""
    if not text.strip().startswith(INTENT_MESSAGE_PREFIX):
        return None
    unpacked = YAMLStoryReader.unpack_regex_message(Message(data={TEXT: text}), domain,
                                                    entity_extractor_name="RegexMessageHandler")
    if not unpacked.get(INTENT):
        return None
    # As MessageProcessor._parse_message_with_graph shapes the graph's output.
    return {TEXT: "", INTENT: {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0}, ENTITIES: [],
            **unpacked.as_dict(only_output_properties=True)}


async def handle(agent: Any, channel: str, payload: Any) -> tuple[int, Any]:
    """(HTTP status, JSON body) for one message from the gateway."""
    payload = payload if isinstance(payload, dict) else {}
    sender, text, message_id = payload.get("sender"), payload.get("message"), payload.get("message_id")
    if not isinstance(sender, str) or not isinstance(text, str) or not isinstance(message_id, str):
        return 400, {"code": "malformed"}
    if agent is None or not agent.is_ready():
        return 503, {"code": "not_ready"}
    collector = CollectingOutputChannel()
    metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else {}
    leases, repeated = Leases.of(agent), str(payload.get("attempt") or 1) != "1"
    expires_at = payload.get("expires_at")
    try:
        # None (the NLU parses it) is UserMessage's default.
        parse_data = parsed_payload(text, agent.domain) if text.strip() else nothing_to_read(text)
        message = UserMessage(text, collector, sender, parse_data,  # type: ignore[arg-type]
                              input_channel=channel, message_id=message_id, metadata=metadata)
        if repeated and not await leases.wait_while_held(message_id, WAIT_FOR_RUNNING_S):
            return 503, {"code": "still_handling"}  # the earlier attempt is alive: the gateway asks again
        async with leases.holding(message_id), agent.lock_store.lock(sender):
            if isinstance(expires_at, (int, float)) and time.time() > expires_at:
                # The gateway gave up on this attempt before we got to it: another attempt answers.
                log.info("dropped an attempt the gateway had given up on")
                return 503, {"code": "expired"}
            if repeated:
                replayed = recorded_replies(await agent.tracker_store.retrieve(sender), message_id)
                if replayed is not None:
                    log.info("answered a repeated message from the conversation's record")
                    return 200, replayed
            # What Agent.handle_message does, inside the lock already held.
            await agent.processor.handle_message(message)
    except Exception:  # noqa: BLE001 - the gateway tries again; nothing half-done is shown
        log.exception("handling a gateway message failed")
        return 503, {"code": "failed"}
    return 200, collector.messages


class GatewayInput(RestInput):
    @classmethod
    def name(cls) -> str:
        return "gateway"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("gateway_webhook", __name__)

        async def health(request: Request) -> HTTPResponse:
            # Readiness, not liveness: a replica whose model is loading is up but answers nothing useful.
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None or not agent.is_ready():
                return response.json({"status": "loading"}, status=503)
            return response.json({"status": "ok"})

        async def receive(request: Request) -> HTTPResponse:
            try:
                payload = request.json
            except Exception:  # noqa: BLE001 - Sanic raises its own error for a body that is not JSON
                payload = None
            status, body = await handle(request.app.ctx.agent, self.name(), payload)
            return response.json(body, status=status)

        async def close_connections(app: Any, _loop: Any) -> None:
            # The action endpoint's kept-alive connections (bot/action_calls.py), closed with the server.
            await action_calls.close_pooled(getattr(getattr(app.ctx, "agent", None), "action_endpoint", None))

        async def freeze_heap(_app: Any, _loop: Any) -> None:
            # The model was loaded before the server started (Rasa's before_server_start): from here the
            # collector's full passes skip it (common/heap.py).
            freeze_startup_heap()

        # add_route rather than the @route decorator: the same registration, with the handlers' types kept.
        webhook.add_route(health, "/", methods=["GET"])
        webhook.add_route(receive, "/webhook", methods=["POST"])
        # After the server has finished its requests (before that, calls still running would be cut off).
        webhook.listener("after_server_stop")(close_connections)
        webhook.listener("after_server_start")(freeze_heap)
        return webhook
