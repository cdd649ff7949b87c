"""At most RASA_IN_FLIGHT messages of a gateway at Rasa at once, the others waiting their turn in arrival
order within their budget (gateway/rasa.py; issue 21: a replica given every message at once interleaves
them all, and the heaviest wait longest); one client address holds at most a few places in that queue."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from common.keys import chat_identity_key
from gateway.app import create_app, token_fernet
from gateway.config import GatewaySettings
from gateway.conversation import Conversations
from gateway.messages import Incoming, busy_text
from gateway.rasa import RasaClient, RasaUnavailable
from gateway.store import Store
from tests.support.env import TEST_SECRET

KEY = chat_identity_key(TEST_SECRET.encode())


class Replica:
    """Rasa behind `httpx.MockTransport`: notes what arrives and how many it holds at once, answers
    after `delay_s`; the first `fail_first` requests get a 500."""

    def __init__(self, delay_s: float = 0.05, fail_first: int = 0) -> None:
        self.delay_s, self.fail_first = delay_s, fail_first
        self.arrived: list[tuple[str, int]] = []
        self.holding = self.most = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.arrived.append((body["message"], body["attempt"]))
        self.holding += 1
        self.most = max(self.most, self.holding)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.holding -= 1
        if len(self.arrived) <= self.fail_first:
            return httpx.Response(500)
        return httpx.Response(200, json=[{"recipient_id": body["sender"], "text": f"Đã nhận: {body['message']}"}])


def client(replica: Replica, in_flight: int, **settings: float) -> RasaClient:
    return RasaClient("http://rasa", transport=httpx.MockTransport(replica), identity_key=KEY, in_flight=in_flight,
                      **{"timeout_s": 2.0, "retry_for_s": 1.0, **settings})


@pytest.mark.parametrize("in_flight", [1, 2, 3])
def test_no_more_than_in_flight_messages_reach_rasa_and_the_others_follow_in_arrival_order(in_flight: int) -> None:
    replica = Replica()

    async def scenario() -> list[list[str]]:
        rasa = client(replica, in_flight)
        try:
            answers = await asyncio.gather(*(rasa.reply(Incoming("web", f"s{n}", f"tin {n}"), f"id-{n}")
                                             for n in range(7)))
            assert (rasa.waiting, rasa.at_rasa) == (0, 0)
            return [[reply.text for reply in replies] for replies in answers]
        finally:
            await rasa.close()

    answers = asyncio.run(scenario())
    assert answers == [[f"Đã nhận: tin {n}"] for n in range(7)]
    assert replica.most == in_flight
    assert replica.arrived == [(f"tin {n}", 1) for n in range(7)]


def test_without_a_limit_every_message_goes_at_once() -> None:
    replica = Replica()

    async def scenario() -> None:
        rasa = client(replica, 0)
        try:
            await asyncio.gather(*(rasa.reply(Incoming("web", f"s{n}", f"tin {n}"), f"id-{n}") for n in range(5)))
        finally:
            await rasa.close()

    asyncio.run(scenario())
    assert replica.most == 5


def test_a_message_still_waiting_for_a_turn_when_its_budget_ends_is_unavailable_and_never_sent() -> None:
    replica = Replica(delay_s=3.0)  # holds the only turn until the first message's attempt times out (2 s)

    async def scenario() -> tuple[float, float]:
        rasa = client(replica, 1, retry_for_s=0.0)
        started = time.monotonic()

        async def timed(text: str, since: float) -> float:
            with pytest.raises(RasaUnavailable):
                await rasa.reply(Incoming("web", text, text), f"id-{text}", since=since)
            return time.monotonic() - started

        try:
            # The second arrived 1.5 s ago (it waited for its chat's turn): 0.5 s of its budget is left.
            first, second = await asyncio.gather(timed("dau", started), timed("sau", started - 1.5))
            assert (rasa.waiting, rasa.at_rasa) == (0, 0)
            return first, second
        finally:
            await rasa.close()

    first, second = asyncio.run(scenario())
    assert 1.8 <= first <= 2.5, first
    assert 0.4 <= second <= 0.9, second
    assert replica.arrived == [("dau", 1)]


def test_a_failed_attempt_gives_its_turn_back_before_it_pauses() -> None:
    replica = Replica(fail_first=1)

    async def scenario() -> list[list[str]]:
        rasa = client(replica, 1)
        try:
            answers = await asyncio.gather(*(rasa.reply(Incoming("web", t, t), f"id-{t}") for t in ("mot", "hai")))
            return [[reply.text for reply in replies] for replies in answers]
        finally:
            await rasa.close()

    assert asyncio.run(scenario()) == [["Đã nhận: mot"], ["Đã nhận: hai"]]
    # "mot" failed and paused 0.5 s; "hai" had the turn meanwhile instead of waiting behind the retry.
    assert replica.arrived == [("mot", 1), ("hai", 1), ("mot", 2)]


def test_the_gateway_takes_its_limit_from_the_settings_and_shows_its_queue_in_the_metrics(tmp_path: Path) -> None:
    for wrong in ({"rasa_in_flight": -1}, {"web_messages_in_hand_per_address": -1}):
        with pytest.raises(ValidationError):
            GatewaySettings(**wrong)  # type: ignore[arg-type]
    replica = Replica(delay_s=0.0)
    settings = GatewaySettings(gateway_database_url=f"sqlite:///{tmp_path / 'g.db'}", rasa_in_flight=1)
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(replica))) as gateway:
        conversations = gateway.app.state.conversations  # type: ignore[attr-defined]
        assert (conversations.rasa.in_flight, conversations.in_hand_per_address) == (1, 20)
        reply = gateway.post("/chat/messages", json={"session_id": "web-session-1", "text": "alo"})
        assert reply.json()["replies"][0]["text"] == "Đã nhận: alo"
        metrics = gateway.get("/metrics").text
    assert "ksk_gateway_rasa_waiting 0.0" in metrics and "ksk_gateway_rasa_in_flight 0.0" in metrics


@pytest.mark.parametrize("flooder", ["203.0.113.7", "2001:db8::{n:x}"], ids=["IPv4", "one IPv6 /64"])
def test_a_script_writing_from_many_chats_at_one_address_holds_few_places_in_the_queue(tmp_path: Path,
                                                                                    flooder: str) -> None:
    """The attack: no account, one address (or one IPv6 /64), a new web chat per message, all at once, to
    fill the queue before Rasa. Beyond its address's share it gets the busy reply without reaching Rasa,
    and a resident writing from elsewhere meanwhile is answered."""
    replica = Replica(delay_s=0.1)
    rasa = client(replica, 1, timeout_s=5.0)
    conversations = Conversations(Store(f"sqlite:///{tmp_path / 'g.db'}", token_fernet()), rasa,
                                  in_hand_per_address=3)

    async def scenario() -> list[list[str]]:
        try:
            flood = [conversations.answer(Incoming("web", f"flood-{n:04d}", f"spam {n}",
                                                   address=flooder.format(n=n + 1))) for n in range(8)]
            resident = conversations.answer(Incoming("web", "resident-01", "lich kham", address="198.51.100.4"))
            answers = await asyncio.gather(*flood, resident)
            return [[reply.text for reply in replies] for replies in answers]
        finally:
            await rasa.close()

    answers = asyncio.run(scenario())
    assert answers[:3] == [[f"Đã nhận: spam {n}"] for n in range(3)]
    assert answers[3:8] == [[busy_text()]] * 5
    assert answers[8] == ["Đã nhận: lich kham"]
    assert sorted(text for text, _attempt in replica.arrived) == ["lich kham", "spam 0", "spam 1", "spam 2"]
    assert not conversations._in_hand  # every place given back
