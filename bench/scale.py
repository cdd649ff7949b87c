"""Scaling figures of the production profile on this machine.

1. Chat: the production profile (nginx, two gateways, two API workers, PostgreSQL and Redis) with one
   and then two Rasa replicas. Residents play whole conversations (greeting, FAQ, booking with its
   form, schedule, "my bookings", cancellation; typed without diacritics) through nginx's web-chat
   endpoint, 1, 4 and 20 at once: back to back (a load generator) and, with --pause, each resident
   pausing before their next message (reading the reply, typing). Prints messages/s, reply p50/p95,
   failures, the CPU ms per message of each part (read from /proc) and messages/s per Rasa core.
2. Bookings: bench/booking.py on PostgreSQL with one and then two API workers.

    .venv/bin/python bench/scale.py [--conversations 32] [--concurrency 1 4 20] [--pause 3] [--replicas 1 2]
                                    [--bookings 6000] [--only chat|bookings]
Needs `make train` and `make setup-system` (nginx) first, PostgreSQL and Redis on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import cpu_by_command, machine_busy, percentile, python_speed  # noqa: E402
from bench.replies import page_message, page_session, script  # noqa: E402
from gateway.messages import busy_text  # noqa: E402
from tests.support.servers import production_profile  # noqa: E402

# Which part of the deployment a process is, by its command line.
PARTS = (("load generator", "bench/booking.py"), ("rasa", "rasa run --enable-api"), ("actions", "rasa run actions"),
         ("api", "-m api serve"),
         ("api", "multiprocessing"), ("gateway", "-m gateway"), ("nginx", "nginx"),
         ("postgres", "postgres"), ("redis", "redis-server"))


def cpu_by_process() -> dict[tuple[int, str], float]:
    """CPU seconds (user + system) used so far by each process of the deployment: (pid, part) → s."""
    return cpu_by_command(PARTS)


def cpu_by_part() -> Counter[str]:
    used: Counter[str] = Counter()
    for (_pid, part), seconds in cpu_by_process().items():
        used[part] += seconds
    return used


async def converse(client: aiohttp.ClientSession, public: str, index: int, timings: list[float],
                   pause_s: float = 0.0) -> int:
    """One resident's whole conversation; `pause_s` between a reply and their next message (reading it
    and typing or tapping), 0 for a load generator's back-to-back messages. Each message is what the web
    chat's page sends, transcript kept (bench/replies.py, page_message)."""
    session = page_session("scale", index, os.getpid())
    last: list[dict[str, Any]] = []
    failures = 0
    for _kind, text in script(index):
        if text.startswith("<"):
            buttons = next((r["buttons"] for r in reversed(last) if r.get("buttons")), [])
            if not buttons:
                return failures + 1
            text = buttons[0]["payload"]
        if pause_s and last:
            await asyncio.sleep(pause_s)
        started = time.perf_counter()
        async with client.post(f"{public}/chat/messages", json=page_message(session, text)) as response:
            answer = await response.json() if response.status == 200 else {}
        timings.append(time.perf_counter() - started)
        last = answer.get("replies") or []
        if not last or any(r["text"] == busy_text() for r in last):
            failures += 1
    return failures


async def play(public: str, conversations: int, concurrency: int, first: int, pause_s: float = 0.0
               ) -> tuple[list[float], int, float]:
    timings: list[float] = []
    limit = asyncio.Semaphore(concurrency)

    async def one(index: int) -> int:
        async with limit:
            return await converse(client, public, index, timings, pause_s)

    started = time.perf_counter()
    # aiohttp: the load generator shares the two cores (its CPU per message is printed, not counted).
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120),
                                     connector=aiohttp.TCPConnector(limit=concurrency * 2)) as client:
        failures = sum(await asyncio.gather(*(one(first + i) for i in range(conversations))))
    return timings, failures, time.perf_counter() - started


def chat_run(replicas: int, conversations: int, concurrencies: list[int], pause_s: float) -> dict[str, float]:
    """The chat through the profile with `replicas` Rasa replicas, at each number of residents at once;
    returns the figures of the highest, back to back."""
    started = time.perf_counter()
    figures: dict[str, float] = {}
    with production_profile(Path(tempfile.mkdtemp(prefix="bench-scale-")), rasa_replicas=replicas) as profile:
        print(f"\n{replicas} Rasa replica(s): profile ready in {time.perf_counter() - started:.0f} s")
        # Warm-up: each replica's first predictions load what the model needs.
        asyncio.run(play(profile.public, 2 * replicas, 2 * replicas, first=900_000))
        for round_, concurrency in enumerate(concurrencies):
            # Pausing residents only at the highest level, one conversation each (a level of 20 takes a minute).
            for pause in (0.0, pause_s) if pause_s and concurrency == concurrencies[-1] else (0.0,):
                count = concurrency if pause else conversations
                before, generator = cpu_by_part(), time.process_time()
                timings, failures, elapsed = asyncio.run(play(
                    profile.public, count, concurrency, first=100_000 * round_ + (50_000 if pause else 0),
                    pause_s=pause))
                used, generator = cpu_by_part() - before, time.process_time() - generator
                measured = chat_figures(concurrency, pause, count, timings, failures, elapsed, used, generator)
                figures = figures if pause else measured  # the ratio compares back-to-back runs
        sizes = storage(profile.databases)
    print(f"  stored: {sizes['event_bytes'] / max(sizes['user_messages'], 1):.0f} bytes of conversation per resident "
          f"message ({sizes['events']} events), besides {sizes['web_bytes'] / max(sizes['user_messages'], 1):.0f} "
          f"bytes of the web chat's transcript ({sizes['web_turns']} turns, deleted after its chat's silence), "
          f"{sizes['booking_bytes'] / max(sizes['bookings'], 1):.0f} bytes "
          f"per booking with its resident, consents and indexes; "
          f"{sizes['bot_messages'] / max(sizes['user_messages'], 1):.2f} bot messages per resident message")
    return figures


def chat_figures(concurrency: int, pause_s: float, conversations: int, timings: list[float], failures: int,
                 elapsed: float, used: Counter[str], generator_s: float) -> dict[str, float]:
    rate, total = len(timings) / elapsed, sum(used.values())
    how = f"pausing {pause_s:.0f} s before each message" if pause_s else "back to back"
    print(f"  {concurrency} at once, {how}: {len(timings)} messages from {conversations} conversations, "
          f"{rate:.1f} messages/s over {elapsed:.1f} s")
    print(f"    reply p50 {statistics.median(timings) * 1000:.0f} ms, p95 {percentile(timings, 0.95) * 1000:.0f} ms, "
          f"max {max(timings) * 1000:.0f} ms; failed or busy replies: {failures}")
    print(f"    CPU used: {total:.1f} s of {2 * elapsed:.0f} s available on 2 cores; CPU ms per message "
          f"{total / len(timings) * 1000:.1f}: " + ", ".join(
              f"{part} {seconds / len(timings) * 1000:.1f}" for part, seconds in used.most_common()))
    print(f"    besides, the load generator (this process) {generator_s / len(timings) * 1000:.1f} ms per message")
    if used["rasa"]:
        print(f"    messages per second per Rasa core (1000 ÷ Rasa's CPU ms per message): "
              f"{len(timings) / used['rasa']:.0f}")
    return {"rate": rate, "p95": percentile(timings, 0.95), "cpu_ms": total / len(timings) * 1000}


def storage(databases: dict[str, str]) -> dict[str, int]:
    """What the run left in PostgreSQL: conversation events, the gateway's web transcript and bookings,
    with their on-disk sizes."""
    from sqlalchemy import create_engine, text

    conversations, api = create_engine(databases["conversations"]), create_engine(databases["api"])
    gateway = create_engine(databases["gateway"])
    with gateway.connect() as db:
        web_turns, web_bytes = db.execute(text(
            "SELECT count(*), pg_total_relation_size('web_turns') FROM web_turns")).one()
    with conversations.connect() as db:
        events, users, bots, event_bytes = db.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE type_name = 'user'), count(*) FILTER (WHERE type_name = 'bot'), "
            "pg_total_relation_size('events') FROM events")).one()
    with api.connect() as db:
        bookings = db.execute(text("SELECT count(*) FROM bookings")).scalar_one()
        booking_bytes = db.execute(text(
            "SELECT sum(pg_total_relation_size(c::regclass)) "
            "FROM unnest(ARRAY['bookings', 'residents', 'consents']) AS c")).scalar_one()
    for engine in (conversations, api, gateway):
        engine.dispose()
    return {"events": events, "user_messages": users, "bot_messages": bots, "event_bytes": event_bytes,
            "web_turns": web_turns, "web_bytes": web_bytes,
            "bookings": bookings,
            "booking_bytes": int(booking_bytes or 0)}


def booking_run(workers: int, requests: int, concurrency: int, behind_nginx: bool) -> float:
    command = [sys.executable, "bench/booking.py", "--database", "postgres", "--workers", str(workers),
               "--requests", str(requests), "--concurrency", str(concurrency)]
    process = subprocess.Popen([*command, *(["--behind-nginx"] if behind_nginx else [])], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    # CPU by process, sampled: the API servers and their database connections end with the run, so
    # the last reading of each process while it lived is kept.
    base, machine = cpu_by_process(), machine_busy()
    seen: dict[tuple[int, str], float] = {}
    while process.poll() is None:
        seen.update({key: seconds - base.get(key, 0.0) for key, seconds in cpu_by_process().items()})
        time.sleep(0.2)
    busy, stolen, elapsed = (after - before for after, before in zip(machine_busy(), machine, strict=True))
    output = process.stdout.read() if process.stdout else ""
    if process.returncode:
        raise SystemExit(f"bench/booking.py failed:\n{output}")
    by_part: Counter[str] = Counter()
    for (_pid, part), seconds in seen.items():
        by_part[part] += seconds
    # How the work fell on the API processes (uvicorn's workers, or the processes behind nginx).
    api = sorted((seconds for (_pid, part), seconds in seen.items() if part == "api" and seconds > 0.5), reverse=True)
    how = "processes behind nginx" if behind_nginx else "uvicorn worker(s) on one socket"
    print(f"\nAPI on PostgreSQL, {workers} {how}:\n  " + output.strip().replace("\n", "\n  "))
    print(f"  whole run (start-up and seeding included): {busy / elapsed:.2f} of 2 cores busy, "
          f"{stolen / elapsed:.2f} taken by the hypervisor; CPU seconds: "
          + ", ".join(f"{part} {seconds:.1f}" for part, seconds in by_part.most_common()))
    if len(api) > 1:
        print("  the API processes' shares of the work: " + " / ".join(f"{s / sum(api):.0%}" for s in api))
    found = re.search(r"throughput: ([\d,]+) bookings/s", output)
    assert found, output
    return float(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=32)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 20],
                        help="residents at once, each level played in turn")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="also play each level with residents pausing this many seconds before a message")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--bookings", type=int, default=6000)
    parser.add_argument("--booking-clients", type=int, default=16)
    parser.add_argument("--only", choices=["chat", "bookings"])
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; {python_speed()}")
    ratios = []
    if args.only != "bookings":
        runs = [chat_run(n, args.conversations, args.concurrency, args.pause) for n in args.replicas]
        if len(runs) == 2:
            ratios.append(f"chat messages/s with 2 Rasa replicas: {runs[1]['rate'] / runs[0]['rate']:.2f}×; "
                          f"reply p95 {runs[1]['p95'] / runs[0]['p95']:.2f}×")
    if args.only != "chat":
        for behind_nginx in (False, True):
            single, double = (booking_run(n, args.bookings, args.booking_clients, behind_nginx) for n in (1, 2))
            how = "API processes behind nginx" if behind_nginx else "uvicorn workers"
            ratios.append(f"bookings/s with 2 {how}: {double / single:.2f}×")
    if ratios:
        print("\nratios (2 ÷ 1):\n  " + "\n  ".join(ratios))


if __name__ == "__main__":
    main()
