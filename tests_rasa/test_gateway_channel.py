"""The gateway's input channel: a message repeated after a replica died is answered from the record,
never handled twice; failures and a replica not ready are 503 (the gateway tries again)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.channels import handle, nothing_to_read, parsed_payload, recorded_replies

DOMAIN = Domain.from_path(Path(__file__).parents[1] / "bot" / "domain.yml")
SENDER = "web:abc12345"
BUTTONS = [{"title": "Đồng ý", "payload": "/affirm"}]


class Processor:
    """Stands in for Rasa's message processor: records what it handles and answers one line."""

    def __init__(self, store: InMemoryTrackerStore, fail: bool = False, slow_s: float = 0.0) -> None:
        self.store, self.fail, self.slow_s = store, fail, slow_s
        self.handled: list[str] = []
        self.parsed: list[dict[str, Any] | None] = []

    async def handle_message(self, message: UserMessage) -> None:
        if self.fail:
            raise RuntimeError("action server gone")
        self.handled.append(message.message_id)
        self.parsed.append(message.parse_data)
        await asyncio.sleep(self.slow_s)
        tracker = await self.store.get_or_create_tracker(message.sender_id)
        tracker.update(UserUttered(message.text, message_id=message.message_id))
        tracker.update(BotUttered(f"đã nhận {message.text}"))
        await self.store.save(tracker)
        await message.output_channel.send_text_message(message.sender_id, f"đã nhận {message.text}")


class ShortLocks(InMemoryLockStore):
    """Conversation locks that expire after 0.2 s, as the production profile's do after 10 s."""

    def lock(self, conversation_id: str, lock_lifetime: float = 0.2,  # type: ignore[override]
             wait_time_in_seconds: float = 0.05) -> Any:
        return super().lock(conversation_id, lock_lifetime=lock_lifetime, wait_time_in_seconds=wait_time_in_seconds)


class Agent:
    def __init__(self, *, ready: bool = True, fail: bool = False, slow_s: float = 0.0) -> None:
        self.lock_store = ShortLocks() if slow_s else InMemoryLockStore()
        self.tracker_store = InMemoryTrackerStore(Domain.empty())
        self.domain = DOMAIN
        self.processor = Processor(self.tracker_store, fail, slow_s)
        self.ready = ready

    def is_ready(self) -> bool:
        return self.ready


def message(text: str, message_id: str, attempt: int = 1) -> dict[str, Any]:
    return {"sender": SENDER, "message": text, "message_id": message_id, "attempt": attempt,
            "metadata": {"channel": "web"}}


def test_a_new_message_is_handled_and_its_replies_returned() -> None:
    agent = Agent()
    status, body = asyncio.run(handle(agent, "gateway", message("xin chao", "m1")))
    assert status == 200 and body == [{"recipient_id": SENDER, "text": "đã nhận xin chao"}]
    assert agent.processor.handled == ["m1"]


def test_a_repeat_of_a_recorded_message_is_answered_from_the_record_not_handled_again() -> None:
    agent = Agent()
    asyncio.run(handle(agent, "gateway", message("dat lich", "m1")))
    asyncio.run(handle(agent, "gateway", message("dong y", "m2")))
    # The replica that handled m1 died before answering: the gateway sends m1 again, attempt 2.
    status, body = asyncio.run(handle(agent, "gateway", message("dat lich", "m1", attempt=2)))
    assert status == 200 and body == [{"recipient_id": SENDER, "text": "đã nhận dat lich"}]
    assert agent.processor.handled == ["m1", "m2"]
    # A repeat of a message the dead replica never recorded is handled (once).
    status, body = asyncio.run(handle(agent, "gateway", message("nua", "m3", attempt=2)))
    assert status == 200 and agent.processor.handled == ["m1", "m2", "m3"]


def test_a_repeat_sent_while_a_slow_attempt_still_runs_waits_for_it_instead_of_handling_it_twice() -> None:
    # The gateway gave up on attempt 1 (slow, not dead) and sent the message again; attempt 1 has
    # outlived the conversation lock. Handling it twice in parallel put conversations out of step.
    agent = Agent(slow_s=1.0)

    async def scenario() -> list[tuple[int, Any]]:
        first = asyncio.create_task(handle(agent, "gateway", message("cho toi", "m1")))
        await asyncio.sleep(0.5)  # the lock of attempt 1 has expired by now
        second = asyncio.create_task(handle(agent, "gateway", message("cho toi", "m1", attempt=2)))
        return [await first, await second]

    (status1, body1), (status2, body2) = asyncio.run(scenario())
    assert agent.processor.handled == ["m1"]
    assert status1 == status2 == 200 and body1 == body2 == [{"recipient_id": SENDER, "text": "đã nhận cho toi"}]


def test_an_attempt_reached_only_after_the_gateway_gave_up_on_it_is_dropped_not_handled() -> None:
    # A replica restarting after a crash accepts connections while it loads its model; the request
    # waits in its backlog, the gateway's next attempt goes elsewhere. Handled late, it would be twice.
    import time

    agent = Agent()
    late = {**message("cho toi", "m1"), "expires_at": time.time() - 1}
    assert asyncio.run(handle(agent, "gateway", late)) == (503, {"code": "expired"})
    in_time = {**message("cho toi", "m1", attempt=2), "expires_at": time.time() + 20}
    assert asyncio.run(handle(agent, "gateway", in_time))[0] == 200
    assert agent.processor.handled == ["m1"]


def test_recorded_replies_keep_buttons_and_custom_payloads_up_to_the_next_message() -> None:
    tracker = DialogueStateTracker.from_events(SENDER, [
        UserUttered("a", message_id="m1"),
        BotUttered("Chọn:", data={"buttons": BUTTONS}),
        BotUttered(None, data={"custom": {"audio": {"url": "http://x/a.mp3"}}}),
        UserUttered("b", message_id="m2"),
        BotUttered("sau"),
    ])
    assert recorded_replies(tracker, "m1") == [
        {"recipient_id": SENDER, "text": "Chọn:", "buttons": BUTTONS},
        {"recipient_id": SENDER, "custom": {"audio": {"url": "http://x/a.mp3"}}}]
    assert recorded_replies(tracker, "m9") is None
    assert recorded_replies(None, "m1") is None


def test_failures_and_a_replica_not_ready_are_503_and_bad_bodies_400() -> None:
    assert asyncio.run(handle(Agent(fail=True), "gateway", message("x", "m1"))) == (503, {"code": "failed"})
    assert asyncio.run(handle(Agent(ready=False), "gateway", message("x", "m1"))) == (503, {"code": "not_ready"})
    assert asyncio.run(handle(None, "gateway", message("x", "m1"))) == (503, {"code": "not_ready"})
    for body in (None, [], {"sender": SENDER, "message": "x"}, {"sender": 1, "message": "x", "message_id": "m"}):
        assert asyncio.run(handle(Agent(), "gateway", body)) == (400, {"code": "malformed"})


def test_leases_are_shared_through_redis_and_a_dead_holders_lease_runs_out(monkeypatch: Any) -> None:
    # Two replicas see each other's leases through the Redis of the lock store; a replica killed
    # while it holds one stops renewing it, and the message can be handled again soon after.
    import os

    import redis

    import bot.channels as channels

    red = redis.Redis.from_url(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13"))
    try:
        red.ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            raise
        import pytest

        pytest.skip("Redis is not running")
    monkeypatch.setattr(channels, "LEASE_S", 0.4)
    monkeypatch.setattr(channels, "LEASE_RENEW_S", 0.1)
    one, other = channels.Leases(red), channels.Leases(red)

    async def scenario() -> list[bool]:
        seen = []
        async with one.holding("lease-test-m1"):
            await asyncio.sleep(0.6)  # longer than a lease: renewed meanwhile
            seen.append(other.held("lease-test-m1"))
        seen.append(other.held("lease-test-m1"))
        one._take("lease-test-m2")  # taken, then the holder dies: nobody renews it
        seen.append(other.held("lease-test-m2"))
        seen.append(await other.wait_while_held("lease-test-m2", timeout_s=2.0))
        return seen

    assert asyncio.run(scenario()) == [True, False, True, True]


def test_a_tapped_buttons_payload_is_parsed_without_the_classifiers() -> None:
    tapped = '/inform{"session_id": "12", "question": "sid.k3x9"}'
    parsed = parsed_payload(tapped, DOMAIN)
    assert parsed is not None
    assert parsed["intent"] == {"name": "inform", "confidence": 1.0}
    assert parsed["intent_ranking"] == [{"name": "inform", "confidence": 1.0}]
    assert [(e["entity"], e["value"], e["extractor"]) for e in parsed["entities"]] == [
        ("session_id", "12", "RegexMessageHandler"), ("question", "sid.k3x9", "RegexMessageHandler")]
    assert parsed["text"] == tapped
    # The processor gets it and leaves the NLU out; anything else goes through the NLU as typed.
    agent = Agent()
    asyncio.run(handle(agent, "gateway", message(tapped, "m1")))
    asyncio.run(handle(agent, "gateway", message("co", "m2")))
    assert agent.processor.parsed == [parsed, None]


def test_text_that_only_looks_like_a_payload_is_left_to_the_nlu() -> None:
    for typed in ("/", "/xoa_het", "/drop_table{}", "xin chao /affirm", "", "   "):
        assert parsed_payload(typed, DOMAIN) is None, typed
    # A known intent with a broken tail is that intent, as Rasa's own last NLU step reads it.
    broken = parsed_payload('/affirm{"question": ', DOMAIN)
    assert broken is not None and broken["intent"]["name"] == "affirm" and broken["entities"] == []



def test_a_message_with_nothing_to_read_gets_the_menu_without_the_classifiers() -> None:
    # Rasa's classifiers fail on a message without a token; the web page can send spaces.
    agent = Agent()
    for index, blank in enumerate(("", "   ", "\t\n")):
        status, _ = asyncio.run(handle(agent, "gateway", message(blank, f"m{index}")))
        assert status == 200
    assert [parsed and parsed["intent"] for parsed in agent.processor.parsed] == [
        {"name": "help", "confidence": 1.0}] * 3
    assert nothing_to_read("  ")["text"] == "  " and nothing_to_read("")["entities"] == []
