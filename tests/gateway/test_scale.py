"""Several gateway processes on one PostgreSQL inbox/outbox and one Redis: a chat's messages are
handled in order and once whichever process received them, replies are sent once and paced by one
budget, a stopped process's messages are taken over, and Rasa is asked again (same message id)
while no replica answers."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from common.keys import chat_identity_key
from gateway.app import create_app, token_fernet
from gateway.config import GatewaySettings
from gateway.coordination import LocalCoordination, RedisCoordination
from gateway.messages import Incoming
from gateway.rasa import RasaClient, RasaUnavailable
from gateway.store import Store
from gateway.zalo import OaApiClient
from tests.support.env import TEST_SECRET
from tests.support.fake_telegram import FakeBotApi, running_fake_bot_api, update
from tests.support.fake_zalo import running_fake_oa
from tests.support.servers import redis_with_password

SECRET = "webhook-secret-123"
KEY = chat_identity_key(TEST_SECRET.encode())


# --- the coordination primitives ---

def test_a_chat_lock_admits_one_process_and_frees_itself_when_its_holder_dies(redis_url: str) -> None:
    async def scenario() -> None:
        first, second = RedisCoordination(redis_url, lock_ttl_s=1.0), RedisCoordination(redis_url, lock_ttl_s=1.0)
        async with first.lock("chat:web:a") as mine:
            assert mine
            await asyncio.sleep(2.5)  # two and a half lifetimes: the holder keeps renewing it
            async with second.lock("chat:web:a", wait=False) as theirs:
                assert not theirs
        async with second.lock("chat:web:a", wait=False) as theirs:
            assert theirs
        # A holder that died: its key is left without renewal and expires on its own.
        await second.redis.set("ksk:gateway:lock:chat:web:b", "dead-process", px=500)
        started = time.monotonic()
        async with second.lock("chat:web:b") as theirs:
            assert theirs and 0.2 < time.monotonic() - started < 3
        await first.close()
        await second.close()

    asyncio.run(scenario())


def test_send_pacing_is_one_budget_for_every_process(redis_url: str) -> None:
    async def scenario() -> None:
        processes = [RedisCoordination(redis_url), RedisCoordination(redis_url)]
        sent: list[float] = []

        async def send(process: RedisCoordination) -> None:
            await asyncio.sleep(await process.next_slot("telegram", 1 / 30))
            sent.append(time.monotonic())

        # 30 sends at 30/s from two processes: one budget spreads them over ~1 s (two budgets: ~0.5 s).
        await asyncio.gather(*(send(processes[i % 2]) for i in range(30)))
        sent.sort()
        assert 0.9 < sent[-1] - sent[0] < 2.0
        assert await processes[0].take_turn("telegram:42", 0.3)
        assert not await processes[1].take_turn("telegram:42", 0.3)  # the same chat, another process
        await asyncio.sleep(0.35)
        assert await processes[1].take_turn("telegram:42", 0.3)
        for process in processes:
            await process.close()

    asyncio.run(scenario())


def test_local_coordination_forgets_locks_nobody_holds() -> None:
    async def scenario() -> None:
        local = LocalCoordination()
        order: list[int] = []

        async def hold(index: int) -> None:
            async with local.lock("chat:x"):
                order.append(index)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(hold(i) for i in range(5)))
        assert order == [0, 1, 2, 3, 4] and local._locks == {}  # noqa: SLF001 - what is kept between chats

    asyncio.run(scenario())


# --- two gateway processes ---

class SlowRasa:
    """Answers after a random pause (so handling in two processes overlaps); records what it got."""

    def __init__(self, fail_first: int = 0) -> None:
        self.seen: list[dict[str, Any]] = []
        self.fail_first = fail_first

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.seen.append(body)
        if len(self.seen) <= self.fail_first:
            return httpx.Response(502)
        await asyncio.sleep(random.uniform(0.0, 0.05))
        return httpx.Response(200, json=[{"text": f"Đã nhận: {body['message']}"}])


def gateway_settings(db: str, redis: str, bot_api: FakeBotApi) -> GatewaySettings:
    return GatewaySettings(gateway_database_url=db, gateway_redis_url=redis, telegram_bot_token="42:TEST",
                           telegram_webhook_secret=SECRET, telegram_mode="webhook", telegram_api_base=bot_api.base,
                           per_chat_interval_s=0.0, rasa_retry_s=5.0)


def test_two_gateways_handle_each_chat_in_order_and_send_each_reply_once(gateway_db: str, redis_url: str) -> None:
    rasa = SlowRasa()
    chats, per_chat = list(range(501, 509)), 6
    with running_fake_bot_api() as bot_api, \
            TestClient(create_app(gateway_settings(gateway_db, redis_url, bot_api),
                                  rasa_transport=httpx.MockTransport(rasa))) as first, \
            TestClient(create_app(gateway_settings(gateway_db, redis_url, bot_api),
                                  rasa_transport=httpx.MockTransport(rasa))) as second:
        # nginx sends the webhooks round-robin; Telegram waits for each acknowledgement of a chat.
        update_id = 1000
        for turn in range(per_chat):
            for chat in chats:
                update_id += 1
                target = (first, second)[update_id % 2]
                assert target.post("/webhooks/telegram", json=update(update_id, f"tin {turn}", chat),
                                   headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}).status_code == 200
        # Telegram redelivers one update to the other process: dropped by the shared inbox.
        assert second.post("/webhooks/telegram", json=update(1001, "tin 0", chats[0]),
                           headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}).status_code == 200
        bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) >= len(chats) * per_chat, timeout_s=30)
        time.sleep(0.5)  # anything sent twice would arrive now
    expected = [f"tin {turn}" for turn in range(per_chat)]
    for chat in chats:
        asked = [b["message"] for b in rasa.seen if b["sender"] == f"telegram:{chat}"]
        assert asked == expected, chat
        sent = [c.data["text"] for c in bot_api.sent("sendMessage") if str(c.data["chat_id"]) == str(chat)]
        assert sent == [f"Đã nhận: {m}" for m in expected], chat
    # Both processes took part (the lock, not one process, kept the order).
    assert len(rasa.seen) == len(chats) * per_chat


def test_a_stopped_gateways_messages_are_taken_over_by_another(gateway_db: str, redis_url: str,
                                                                  tmp_path: Path) -> None:
    rasa = SlowRasa()
    with running_fake_bot_api() as bot_api:
        # Process A accepted two updates of a chat and died before handling them (its lock is left
        # to expire).
        orphan = Store(gateway_db, token_fernet())
        for index in (1, 2):
            orphan.accept(f"telegram:update:{index}", "telegram:77", {
                "channel": "telegram", "chat_id": "77", "text": f"mat {index}", "referral_code": None,
                "language": None})
        orphan.engine.dispose()
        with TestClient(create_app(gateway_settings(gateway_db, redis_url, bot_api),
                                   rasa_transport=httpx.MockTransport(rasa))) as survivor:
            bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) == 2)
            assert [c.data["text"] for c in bot_api.sent("sendMessage")] == ["Đã nhận: mat 1", "Đã nhận: mat 2"]
            assert survivor.app.state.store.depths()["inbox_pending"] == 0  # type: ignore[attr-defined]


def test_rasa_is_asked_again_with_the_same_message_id_while_no_replica_answers() -> None:
    rasa = SlowRasa(fail_first=2)

    async def scenario() -> None:
        client = RasaClient("http://rasa", transport=httpx.MockTransport(rasa), identity_key=KEY, retry_for_s=10)
        replies = await client.reply(Incoming("web", "s1", "dat lich"), "id-1")
        assert [r.text for r in replies] == ["Đã nhận: dat lich"]
        impatient = RasaClient("http://rasa", transport=httpx.MockTransport(SlowRasa(fail_first=99)),
                               identity_key=KEY, retry_for_s=0)
        with pytest.raises(RasaUnavailable):
            await impatient.reply(Incoming("web", "s1", "x"), "id-2")
        await client.close()
        await impatient.close()

    asyncio.run(scenario())
    assert [(b["message_id"], b["attempt"]) for b in rasa.seen] == [("id-1", 1), ("id-1", 2), ("id-1", 3)]


def test_two_gateways_refresh_the_zalo_token_once(gateway_db: str, redis_url: str) -> None:
    """A Zalo refresh token works once: two processes finding the access token stale at the same
    moment must not both spend it."""
    with running_fake_oa() as oa:
        settings = oa.gateway_settings()

        async def scenario() -> None:
            clients = [OaApiClient(app_id=settings["zalo_app_id"], app_secret=settings["zalo_app_secret"],
                                   initial_refresh_token="refresh-1", store=Store(gateway_db, token_fernet()),
                                   fernet=token_fernet(), api_base=oa.base, oauth_base=oa.base,
                                   coordination=RedisCoordination(redis_url)) for _ in range(2)]
            await asyncio.gather(*(client.refresh("") for client in clients))
            for client in clients:
                await client.close()
                await client.coordination.close()

        asyncio.run(scenario())
        assert oa.refreshes == ["refresh-1"]


def test_without_redis_the_web_chat_says_busy_and_the_gateway_is_not_ready(tmp_path: Path) -> None:
    rasa = SlowRasa()
    settings = GatewaySettings(gateway_database_url=f"sqlite:///{tmp_path / 'g.db'}",
                               gateway_redis_url="redis://127.0.0.1:9/0", rasa_retry_s=0.0)
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa))) as gateway:
        reply = gateway.post("/chat/messages", json={"session_id": "web-session-9", "text": "alo"})
        assert reply.status_code == 200 and "bận" in reply.json()["replies"][0]["text"]
        ready = gateway.get("/ready")
        assert ready.status_code == 503 and ready.json() == {"status": "redis unavailable"}
    assert rasa.seen == []  # nothing reached Rasa out of turn


def test_with_rasa_down_the_gateway_is_out_of_nginx_but_still_ready_for_kubernetes(tmp_path: Path) -> None:
    # nginx takes a gateway whose Rasa is unreachable out of rotation (/ready); in Kubernetes every gateway
    # reaches one Rasa Service, so its probe asks ?rasa=false (deploy/k8s/base/gateway.yaml) and the
    # webhooks and the "busy" reply stay up through a Rasa outage.
    def rasa_down(_request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    settings = GatewaySettings(gateway_database_url=f"sqlite:///{tmp_path / 'g.db'}", rasa_retry_s=0.0)
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa_down))) as gateway:
        assert gateway.get("/ready").json() == {"status": "rasa unavailable"}
        assert gateway.get("/ready").status_code == 503
        own = gateway.get("/ready", params={"rasa": "false"})
        assert own.status_code == 200 and own.json() == {"status": "ready"}
        reply = gateway.post("/chat/messages", json={"session_id": "web-session-8", "text": "alo"})
        assert reply.status_code == 200 and reply.json()["replies"]


def test_a_managed_redis_with_a_password_is_reached_with_the_secrets_password(tmp_path: Path) -> None:
    # Kubernetes: GATEWAY_REDIS_URL sits in configuration, REDIS_PASSWORD in the Secret.
    with redis_with_password("mat-khau-redis") as url:
        for password, ready in ((None, {"status": "redis unavailable"}), ("mat-khau-redis", {"status": "ready"})):
            settings = GatewaySettings(gateway_database_url=f"sqlite:///{tmp_path / 'g.db'}", gateway_redis_url=url,
                                       redis_password=password, rasa_retry_s=0.0)
            with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(SlowRasa()))) as gateway:
                assert gateway.get("/ready", params={"rasa": "false"}).json() == ready
                if password:
                    reply = gateway.post("/chat/messages", json={"session_id": "web-session-7", "text": "alo"})
                    assert reply.json()["replies"][0]["text"] == "Đã nhận: alo"


def test_gateways_starting_together_create_their_tables_once(gateway_db: str) -> None:
    """Two gateways of the production profile start at the same moment on one database: one of them lost
    the race to create the tables (a unique violation in PostgreSQL's catalog) and died at start."""
    barrier, stores, errors = threading.Barrier(4), [], []

    def start() -> None:
        barrier.wait()
        try:
            stores.append(Store(gateway_db, token_fernet()))
        except Exception as error:  # noqa: BLE001 - what each start raised is the result
            errors.append(error)

    workers = [threading.Thread(target=start) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == [] and len(stores) == 4
    for store in stores:
        store.engine.dispose()
