"""End-to-end reply latency through the channel gateway, for web and Telegram chats at once.

Starts the API (demo province), the action server, Rasa with the trained model, a local fake of the
Telegram Bot API and the gateway (`python -m gateway`, webhook mode, production limits), then
plays N web chats and N Telegram chats concurrently (default 10 + 10 = 20). Each resident sends a
short conversation typed without diacritics. Latency is from sending a message to the first reply
reaching the resident: for the web, the HTTP round trip; for Telegram, from the webhook POST to
the fake Bot API receiving the first sendMessage for that chat. Prints p50/p95/max per channel,
unanswered messages, and how many Telegram messages were sent.

    .venv/bin/python bench/gateway.py [--chats 10]
Needs `make train` first (models/bot.tar.gz).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.replies import page_message, page_session  # noqa: E402
from tests.support.fake_telegram import FakeBotApi, running_fake_bot_api  # noqa: E402
from tests.support.servers import MODEL, free_port, running_assistant, running_process  # noqa: E402

SECRET = "bench-webhook-secret"
SCRIPT = ("xin chao", "ksk co mat tien khong", "lich kham o xa huu lien", "dat lich kham", "dong y", "cho toi",
          "thoi")
# After a reply starts, the rest of a multi-message reply trickles out at one message per second
# per chat (Telegram's limit): wait for it before the next message, so replies are not mixed up.
QUIET_S = 1.3


async def web_chat(client: httpx.AsyncClient, gateway: str, index: int, latencies: list[float]) -> int:
    failures, session = 0, page_session("bench-web", index, os.getpid())
    for text in SCRIPT:
        started = time.perf_counter()
        response = await client.post(f"{gateway}/chat/messages", json=page_message(session, text))
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200 or not response.json().get("replies"):
            failures += 1
    return failures


async def telegram_chat(client: httpx.AsyncClient, gateway: str, fake: FakeBotApi, index: int,
                        latencies: list[float], update_ids: list[int]) -> int:
    chat_id = 700_000 + index
    failures = 0

    def delivered() -> int:
        return sum(1 for c in fake.calls if c.method == "sendMessage" and c.data.get("chat_id") == str(chat_id))

    for text in SCRIPT:
        before = delivered()
        update_ids[0] += 1
        update = {"update_id": update_ids[0], "message": {
            "message_id": update_ids[0], "date": int(time.time()), "text": text,
            "chat": {"id": chat_id, "type": "private"}, "from": {"id": chat_id, "is_bot": False, "first_name": "B"}}}
        started = time.perf_counter()
        response = await client.post(f"{gateway}/webhooks/telegram", json=update,
                                      headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        if response.status_code != 200:
            failures += 1
            continue
        while delivered() == before and time.perf_counter() - started < 60:
            await asyncio.sleep(0.01)
        if delivered() == before:
            failures += 1
            continue
        latencies.append(time.perf_counter() - started)
        count = delivered()
        while True:  # let the rest of this reply arrive
            await asyncio.sleep(QUIET_S)
            if delivered() == count:
                break
            count = delivered()
    return failures


def line(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"  {name:<9} n={len(values):<4} p50={statistics.median(values) * 1000:7.0f} ms  "
            f"p95={p95 * 1000:7.0f} ms  max={ordered[-1] * 1000:7.0f} ms")


async def run(gateway: str, fake: FakeBotApi, chats: int) -> None:
    web: list[float] = []
    telegram: list[float] = []
    update_ids = [0]
    async with httpx.AsyncClient(timeout=90) as client:
        await web_chat(client, gateway, 9999, [])  # warm-up: Rasa builds its graphs on first use
        fake.calls.clear()
        started = time.perf_counter()
        failures = await asyncio.gather(
            *(web_chat(client, gateway, i, web) for i in range(chats)),
            *(telegram_chat(client, gateway, fake, i, telegram, update_ids) for i in range(chats)))
        elapsed = time.perf_counter() - started
    sends = [(c.data.get("chat_id"), c.data.get("text")) for c in fake.calls if c.method == "sendMessage"]
    print(f"{chats} web + {chats} Telegram chats at once, {len(SCRIPT)} messages each, {elapsed:.0f} s:")
    print(line("web", web))
    print(line("telegram", telegram))
    print(f"  failed or unanswered messages: {sum(failures)}; Telegram messages sent: {len(sends)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=10, help="chats per channel")
    args = parser.parse_args()
    if not MODEL.exists():
        sys.exit(f"Chưa có mô hình {MODEL}: chạy `make train` trước.")
    workdir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    with running_assistant(workdir) as urls, running_fake_bot_api() as fake:
        port = free_port()
        # Every web chat here writes from 127.0.0.1, standing for residents at many addresses: the gateway's
        # per-address share of its queue (WEB_MESSAGES_IN_HAND_PER_ADDRESS) is not what is measured.
        env = {**os.environ, "WEB_MESSAGES_IN_HAND_PER_ADDRESS": "0", "RASA_URL": urls["rasa"],
               "GATEWAY_DATABASE_URL": f"sqlite:///{workdir / 'gw.db'}",
               "TELEGRAM_BOT_TOKEN": "1:BENCH", "TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_SECRET": SECRET,
               "TELEGRAM_API_BASE": fake.base}
        with running_process([sys.executable, "-m", "gateway", "--port", str(port), "--log-level", "warning"],
                             env=env, ready_url=f"http://127.0.0.1:{port}/health"):
            asyncio.run(run(f"http://127.0.0.1:{port}", fake, args.chats))


if __name__ == "__main__":
    main()
