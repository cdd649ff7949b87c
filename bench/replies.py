"""Reply latency through Rasa with its actions and the API, and the Rasa server's memory.

Starts the API (demo province, SQLite), the action server and Rasa with the trained model as real
processes, then plays whole resident conversations over Rasa's REST channel, typed without
diacritics: greeting, FAQ questions, a commune's schedule, a booking (consent, answers, session
button, confirmation), "my bookings" and a cancellation. Prints p50/p95/max per kind of message
and overall, for one resident at a time and for several at once, and the resident memory (RSS)
of the Rasa and action server processes.

    .venv/bin/python bench/replies.py [--conversations 12] [--concurrency 4]
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
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import MODEL, ProcessOutput, running_assistant  # noqa: E402


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (Rasa's Sanic may fork), in MiB."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            continue
        pids.extend(int(child) for child in children)
    return total / 1024


def script(index: int) -> list[tuple[str, str]]:
    """(kind, text) of one resident's conversation; the CCCD is unique per resident (province 003)."""
    cccd = f"0030{58}{index:06d}"
    return [
        ("smalltalk", "xin chao"),
        ("faq", "ksk co mat tien khong"),
        ("faq", "di kham can mang gi"),
        ("form", "dang ky kham cho toi"),
        ("form", "dong y"),
        ("form", "cho toi"),
        ("form", "Luong Van Tam"),
        ("form", "05/03/1958"),
        ("form", cccd),
        ("form", "0912 345 678"),
        ("form", "huu lien"),
        ("button", "<first session>"),
        ("submit", "/affirm"),
        ("schedule", "lich kham o xa huu lien"),
        ("manage", "xem lich toi da dat"),
        ("manage", "huy lich kham"),
        ("button", "<first code>"),
        ("submit", "co"),
        ("smalltalk", "cam on"),
    ]


async def converse(client: httpx.AsyncClient, rasa: str, index: int, timings: dict[str, list[float]]) -> int:
    sender = f"bench-{index}-{os.getpid()}"
    last: list[dict[str, Any]] = []
    errors = 0
    for kind, text in script(index):
        if text.startswith("<"):
            buttons = next((m["buttons"] for m in reversed(last) if m.get("buttons")), [])
            if not buttons:
                errors += 1
                break
            text = buttons[0]["payload"]
        started = time.perf_counter()
        response = await client.post(f"{rasa}/webhooks/rest/webhook",
                                     json={"sender": sender, "message": text, "metadata": {"channel": "web"}})
        timings[kind].append(time.perf_counter() - started)
        if response.status_code != 200 or not response.json():
            errors += 1
        last = response.json() if response.status_code == 200 else []
    return errors


async def play(rasa: str, conversations: int, concurrency: int, first: int) -> tuple[dict[str, list[float]], int]:
    timings: dict[str, list[float]] = defaultdict(list)
    limit = asyncio.Semaphore(concurrency)

    async def one(index: int) -> int:
        async with limit:
            return await converse(client, rasa, index, timings)

    async with httpx.AsyncClient(timeout=60) as client:
        errors = sum(await asyncio.gather(*(one(first + i) for i in range(conversations))))
    return timings, errors


def report(title: str, timings: dict[str, list[float]], errors: int) -> None:
    def line(name: str, values: list[float]) -> str:
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        return (f"  {name:<10} n={len(values):<5} p50={statistics.median(values) * 1000:7.1f} ms  "
                f"p95={p95 * 1000:7.1f} ms  max={ordered[-1] * 1000:7.1f} ms")

    print(title)
    for kind in sorted(timings):
        print(line(kind, timings[kind]))
    print(line("all", [v for values in timings.values() for v in values]))
    print(f"  conversations with an empty or failed reply: {errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=12)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    if not MODEL.exists():
        sys.exit(f"Chưa có mô hình {MODEL}: chạy `make train` trước.")
    logs: list[ProcessOutput] = []
    started = time.perf_counter()
    with running_assistant(Path(tempfile.mkdtemp(prefix="bench-replies-")), logs=logs) as urls:
        rasa = urls["rasa"]
        actions, server = logs[-2], logs[-1]
        print(f"services ready in {time.perf_counter() - started:.0f} s; "
              f"Rasa RSS after start {rss_mib(server.pid):.0f} MiB")
        asyncio.run(play(rasa, 1, 1, first=900_000))  # warm-up: first predictions build TensorFlow graphs
        timings, errors = asyncio.run(play(rasa, args.conversations, 1, first=0))
        report(f"one resident at a time ({args.conversations} conversations):", timings, errors)
        timings, errors = asyncio.run(play(rasa, args.conversations, args.concurrency, first=100_000))
        report(f"{args.concurrency} residents at once ({args.conversations} conversations):", timings, errors)
        print(f"RSS after the run: Rasa {rss_mib(server.pid):.0f} MiB, action server {rss_mib(actions.pid):.0f} MiB")


if __name__ == "__main__":
    main()
