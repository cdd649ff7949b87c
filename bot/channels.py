"""The input channel the gateway talks to (runs in the Rasa environment; bot/credentials.yml).

Rasa's REST channel, plus what several replicas behind nginx need:

- **a message is handled once**, even when it is sent twice. The gateway sends each message with a
  stable `message_id`; when a replica died after recording the message but before answering, the
  gateway's next attempt (`attempt` > 1) finds that id in the conversation and gets back the replies
  recorded after it, instead of a second booking. The check and the handling share Rasa's
  conversation lock (the Redis lock store in production), so a slow first attempt and its repeat on
  another replica cannot both run.
- **failures are failures**: the REST channel answers 200 with whatever it collected when handling
  fails (an empty list, or half the replies); here the gateway gets a 503 and tries again.
- **not ready is 503**: a replica still loading its model refuses messages instead of dropping them.

Replayed replies come from the stored conversation, where long digit runs and dates in the bot's
texts are masked (bot/tracker_store.py); that only shows in this rare path.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

log = logging.getLogger(__name__)

_REPLY_KEYS = ("buttons", "image", "attachment", "custom")


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
    message = UserMessage(text, collector, sender, input_channel=channel, message_id=message_id, metadata=metadata)
    try:
        async with agent.lock_store.lock(sender):
            if str(payload.get("attempt") or 1) != "1":
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

        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        async def receive(request: Request) -> HTTPResponse:
            try:
                payload = request.json
            except Exception:  # noqa: BLE001 - Sanic raises its own error for a body that is not JSON
                payload = None
            status, body = await handle(request.app.ctx.agent, self.name(), payload)
            return response.json(body, status=status)

        # add_route rather than the @route decorator: the same registration, with the handlers' types kept.
        webhook.add_route(health, "/", methods=["GET"])
        webhook.add_route(receive, "/webhook", methods=["POST"])
        return webhook
