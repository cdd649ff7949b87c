"""Scaling figures of the production profile on this machine.

1. Chat: the production profile (nginx, two gateways, two API workers, PostgreSQL and Redis) with one
   and then two Rasa replicas. Residents play whole conversations (greeting, FAQ, booking with its
   form, schedule, "my bookings", cancellation; typed without diacritics) through nginx's web-chat
   endpoint, 1, 4 and 20 at once: back to back (a load generator), all starting the script together;
   at the highest level also back to back with each resident at its own step of the script
   (`play_staggered`: all twenty starting together stay nearly in step, so a booking's costly steps
   arrive as a burst of twenty); and, with --pause, each resident pausing before their next message
   (reading the reply, typing). Prints messages/s, reply p50/p95 (and by kind of message), failures,
   the CPU ms per message of each part (read from /proc) and messages/s per Rasa core.
2. Bookings: bench/booking.py on PostgreSQL with one and then two API workers.
3. With `--roots A B`: two checkouts' profiles (git worktrees with their own models; `--settings-a`/`-b`
   give a profile its own settings, so `--roots X X --settings-b ACTIONS_IN_PROCESS=0` compares a
   setting) run side by side, and short rounds of the chat at the highest level alternate between them,
   the order flipped every round; with `--together` both are played in every round at once, half the
   level each. The machine's drift here (a third within minutes, and from one round of seconds to the
   next) then falls on both; each round's CPU comes from each profile's own processes and PostgreSQL
   backends (Redis is shared, and not counted). A worktree runs with its own `.venv` and `.venv-rasa`
   (links to this checkout's will do) and its own `models/bot.tar.gz`. Prints every round and the
   median and spread of the round-by-round ratios B ÷ A. Measured
   A against A (2026-12-04): one after the other, 8 rounds (of 16 and of 20 residents), CPU per message
   1.04× (0.98–1.07) and 0.91× (0.79–1.07); together, 12 rounds, 1.00× (0.98–1.03), p95 1.02× (0.94–1.11). Together is
   the way to compare CPU; latency ratios are muted there (the two profiles share the cores), so a
   change's effect on latency is read from rounds one after the other, many of them.

    .venv/bin/python bench/scale.py [--conversations 32] [--concurrency 1 4 20] [--pause 3] [--replicas 1 2]
                                    [--bookings 6000] [--only chat|bookings]
    .venv/bin/python bench/scale.py --roots /work/before /work/main --together --rounds 12 --conversations 10 \
                                    --concurrency 20 --replicas 2
Needs `make train` and `make setup-system` (nginx) first, PostgreSQL and Redis on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import (  # noqa: E402
    commands,
    cpu_by_command,
    cpu_seconds,
    machine_busy,
    percentile,
    process_tree,
    python_speed,
    used_since,
)
from bench.replies import page_message, page_session, script  # noqa: E402
from gateway.messages import busy_text  # noqa: E402
from tests.support.servers import Production, production_profile  # noqa: E402

T = TypeVar("T")

# Which part of the deployment a process is, by its command line.
PARTS = (("load generator", "bench/booking.py"), ("rasa", "rasa run --enable-api"), ("actions", "rasa run actions"),
         ("api", "-m api serve"),
         ("api", "multiprocessing"), ("gateway", "-m gateway"), ("nginx", "nginx"),
         ("postgres", "postgres"), ("redis", "redis-server"))


PART_NAMES = ("rasa", "gateway", "api", "actions", "postgres", "nginx")


def cpu_by_process() -> dict[tuple[int, str], float]:
    """CPU seconds (user + system) used so far by each process of the deployment: (pid, part) → s."""
    return cpu_by_command(PARTS)


def cpu_of_profile(profile: Production) -> dict[tuple[int, str], float]:
    """CPU seconds used so far by each process of one profile: its supervisor's tree, and PostgreSQL's
    backends of its own databases (a backend's title names its database). (pid, part) → s. Redis is
    shared by the two profiles: not counted."""
    used: dict[tuple[int, str], float] = {}
    parts = tuple(item for item in PARTS if item[0] not in ("postgres", "redis"))
    mine = set(process_tree(profile.output.pid))
    databases = {url.rsplit("/", 1)[1] for url in profile.databases.values()}
    for pid, command in commands():
        if pid in mine:
            part = next((name for name, marker in parts if marker in command), None)
        else:  # "postgres: [<cluster>:] <user> <database> <client> <state>": the database's name, whole
            words = command.split()
            part = "postgres" if words[:1] == ["postgres:"] and databases.intersection(words[1:4]) else None
        if part and (seconds := cpu_seconds(pid)) is not None:
            used[(pid, part)] = seconds
    return used


class Chat:
    """One resident's conversation on the web chat's page: what the page sends for each message
    (bench/replies.py, page_message), the transcript kept, and the bot's latest replies (a tap answers
    their first button)."""

    def __init__(self, public: str, index: int) -> None:
        self.public = public
        self.session = page_session("scale", public, index, os.getpid())  # two profiles share Redis: not one chat
        self.last: list[dict[str, Any]] = []

    async def send(self, client: aiohttp.ClientSession, text: str) -> tuple[float, bool] | None:
        """(seconds to the reply, whether it failed or was the busy reply); None when `text` is a tap
        ("<…>") and the latest replies had no button."""
        if text.startswith("<"):
            buttons: list[dict[str, Any]] = next((r["buttons"] for r in reversed(self.last) if r.get("buttons")), [])
            if not buttons:
                return None
            text = buttons[0]["payload"]
        started = time.perf_counter()
        async with client.post(f"{self.public}/chat/messages", json=page_message(self.session, text)) as response:
            answer = await response.json() if response.status == 200 else {}
        seconds = time.perf_counter() - started
        self.last = answer.get("replies") or []
        return seconds, not self.last or any(r["text"] == busy_text() for r in self.last)


async def converse(client: aiohttp.ClientSession, public: str, index: int, timings: list[float],
                   pause_s: float = 0.0, kinds: list[str] | None = None) -> int:
    """One resident's whole conversation; `pause_s` between a reply and their next message (reading it
    and typing or tapping), 0 for a load generator's back-to-back messages. `kinds` gets each timed
    message's kind (bench/replies.py, script), in the order of `timings`."""
    chat = Chat(public, index)
    failures = 0
    for kind, text in script(index):
        if pause_s and chat.last:
            await asyncio.sleep(pause_s)
        sent = await chat.send(client, text)
        if sent is None:
            return failures + 1
        timings.append(sent[0])
        if kinds is not None:
            kinds.append(kind)
        failures += sent[1]
    return failures


def _client(concurrency: int) -> aiohttp.ClientSession:
    # aiohttp: the load generator shares the two cores (its CPU per message is printed, not counted).
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120),
                                 connector=aiohttp.TCPConnector(limit=concurrency * 2))


async def play(public: str, conversations: int, concurrency: int, first: int, pause_s: float = 0.0,
               kinds: list[str] | None = None) -> tuple[list[float], int, float]:
    timings: list[float] = []
    limit = asyncio.Semaphore(concurrency)

    async def one(index: int) -> int:
        async with limit:
            return await converse(client, public, index, timings, pause_s, kinds)

    started = time.perf_counter()
    async with _client(concurrency) as client:
        failures = sum(await asyncio.gather(*(one(first + i) for i in range(conversations))))
    return timings, failures, time.perf_counter() - started


async def play_staggered(public: str, conversations: int, concurrency: int, first: int,
                         kinds: list[str], at_start: Callable[[], T]) -> tuple[list[float], int, float, T]:
    """`concurrency` residents back to back, each at its own point of the script: resident r first goes,
    untimed, through the first r ÷ `concurrency` of a conversation, and when all stand in place (then
    `at_start` is called, its value returned: the CPU's first reading) each plays the same number of
    messages, `conversations` ÷ `concurrency` (rounded down, at least 1) conversations' worth. Every step
    of the script is played equally often, as when the residents start together (`play`), but at any
    moment the twenty are at different steps (one confirms a booking while another answers a form), not
    all at the same one."""
    steps, rounds = len(script(0)), max(1, conversations // concurrency)
    timings: list[float] = []
    in_place = asyncio.Barrier(concurrency + 1)

    async def resident(r: int) -> int:
        offset, failures = r * steps // concurrency, 0
        stream = [(index, kind, text) for j in range(rounds + 1)
                  for index in [first + r + j * concurrency] for kind, text in script(index)]
        chats: dict[int, Chat] = {}
        broken: set[int] = set()
        for position, (index, kind, text) in enumerate(stream[:offset + rounds * steps]):
            if position == offset:
                await in_place.wait()
            if index in broken:
                continue
            sent = await chats.setdefault(index, Chat(public, index)).send(client, text)
            if sent is None:  # no button to tap: the rest of that conversation would make no sense
                broken.add(index)
                failures += 1
            elif position >= offset:
                timings.append(sent[0])
                kinds.append(kind)
                failures += sent[1]
        return failures

    async with _client(concurrency) as client:
        residents = [asyncio.create_task(resident(r)) for r in range(concurrency)]
        placed = asyncio.create_task(in_place.wait())
        done, _ = await asyncio.wait([placed, *residents], return_when=asyncio.FIRST_COMPLETED)
        if placed not in done:  # a resident stopped before its place: its error, not a wait for ever
            for task in (placed, *residents):
                task.cancel()
            next(iter(done)).result()
            raise RuntimeError("a resident stopped before taking its place")
        reading = at_start()
        started = time.perf_counter()
        failures = sum(await asyncio.gather(*residents))
    return timings, failures, time.perf_counter() - started, reading


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
            # At the highest level the residents are also played at different steps of the script, and pausing
            # (one conversation each: a level of 20 takes a minute).
            ways = ["in step"] + (["staggered"] if concurrency == concurrencies[-1] and concurrency > 1 else []) + (
                ["pausing"] if pause_s and concurrency == concurrencies[-1] else [])
            for way_number, way in enumerate(ways):
                count = {"pausing": concurrency,
                         "staggered": max(1, conversations // concurrency) * concurrency}.get(way, conversations)
                first = 100_000 * round_ + 30_000 * way_number
                kinds: list[str] = []
                if way == "staggered":  # the CPU read when all stand in place
                    timings, failures, elapsed, (before, generator) = asyncio.run(play_staggered(
                        profile.public, count, concurrency, first, kinds,
                        at_start=lambda: (cpu_by_process(), time.process_time())))
                else:
                    before, generator = cpu_by_process(), time.process_time()
                    timings, failures, elapsed = asyncio.run(play(
                        profile.public, count, concurrency, first, pause_s=pause_s if way == "pausing" else 0.0,
                        kinds=kinds))
                used, generator = Counter(used_since(before, cpu_by_process())), time.process_time() - generator
                measured = chat_figures(concurrency, way, pause_s, count, timings, failures, elapsed, used, generator)
                print("    reply p50 / p95 by kind of message: " + by_kind(kinds, timings))
                figures = measured if way == "in step" else figures  # the ratio compares in-step runs
        sizes = storage(profile.databases)
    print(f"  stored: {sizes['event_bytes'] / max(sizes['user_messages'], 1):.0f} bytes of conversation per resident "
          f"message ({sizes['events']} events), besides {sizes['web_bytes'] / max(sizes['user_messages'], 1):.0f} "
          f"bytes of the web chat's transcript ({sizes['web_turns']} turns, deleted after its chat's silence), "
          f"{sizes['booking_bytes'] / max(sizes['bookings'], 1):.0f} bytes "
          f"per booking with its resident, consents and indexes; "
          f"{sizes['bot_messages'] / max(sizes['user_messages'], 1):.2f} bot messages per resident message")
    return figures


def by_kind(kinds: list[str], timings: list[float]) -> str:
    """p50 / p95 ms of each kind of message (bench/replies.py, script), the slowest first: which messages
    make the tail (those that wait for the API, or a moment when many residents send the same kind)."""
    grouped: dict[str, list[float]] = {}
    for kind, seconds in zip(kinds, timings, strict=True):
        grouped.setdefault(kind, []).append(seconds)
    ranked = sorted(grouped.items(), key=lambda item: -percentile(item[1], 0.95))
    return ", ".join(f"{kind} {statistics.median(t) * 1000:.0f} / {percentile(t, 0.95) * 1000:.0f}"
                     for kind, t in ranked)


def chat_figures(concurrency: int, way: str, pause_s: float, conversations: int, timings: list[float],
                 failures: int, elapsed: float, used: Counter[str], generator_s: float) -> dict[str, float]:
    rate, total = len(timings) / elapsed, sum(used.values())
    how = {"pausing": f"pausing {pause_s:.0f} s before each message",
           "staggered": "back to back, each at its own step of the script",
           "in step": "back to back, starting together"}[way]
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


def interleaved(roots: list[Path], settings: dict[str, dict[str, str]], replicas: int, conversations: int,
                concurrency: int, rounds: int, together: bool) -> None:
    """Two profiles side by side, in short rounds (see the module's docstring)."""
    names = ("A", "B")
    for name, root in zip(names, roots, strict=True):
        extra = f" with {settings[name]}" if settings.get(name) else ""
        print(f"  {name}: {root} ({revision(root)}){extra}")
    level = concurrency // 2 if together else concurrency
    how = f"both at once, {level} residents each" if together else f"one after the other, {level} residents"
    print(f"  {rounds} rounds of {conversations} conversations per profile, {how}")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with contextlib.ExitStack() as stack:
        profiles = {name: stack.enter_context(production_profile(
            Path(tempfile.mkdtemp(prefix=f"bench-scale-{name}-")), rasa_replicas=replicas, root=root,
            settings=settings.get(name))) for name, root in zip(names, roots, strict=True)}
        for profile in profiles.values():  # warm-up: each replica's first predictions load what the model needs
            asyncio.run(play(profile.public, 2 * replicas, 2 * replicas, first=900_000))
        for round_ in range(rounds):
            order = names if round_ % 2 == 0 else names[::-1]
            for group in [order] if together else [[name] for name in order]:
                played = asyncio.run(measured({name: profiles[name] for name in group}, conversations, level,
                                              first=100_000 + round_ * conversations))
                for name, figures in played.items():
                    results[name].append(figures)
                    print(f"  round {round_ + 1} {name}: {figures['messages']:.0f} messages, {figures['rate']:.1f}/s, "
                          f"p50 {figures['p50']:.0f} ms, p95 {figures['p95']:.0f} ms, failed {figures['failed']:.0f}; "
                          f"CPU ms per message {figures['cpu']:.1f}: "
                          + ", ".join(f"{part} {figures[part]:.1f}" for part in PART_NAMES), flush=True)
    print(f"\nB ÷ A over {rounds} rounds (median, lowest–highest):")
    for key in ("cpu", *PART_NAMES, "rate", "p50", "p95"):
        ratios = sorted(b[key] / a[key] for a, b in zip(results["A"], results["B"], strict=True) if a[key])
        if ratios:
            a, b = (statistics.median(r[key] for r in results[name]) for name in names)
            print(f"  {key:9s} {statistics.median(ratios):.2f}× ({ratios[0]:.2f}–{ratios[-1]:.2f}); "
                  f"medians A {a:.1f}, B {b:.1f}")


async def measured(profiles: dict[str, Production], conversations: int, concurrency: int, first: int
                   ) -> dict[str, dict[str, float]]:
    """Each profile's figures of one round, the profiles played at once: messages, rate, p50, p95 (ms),
    failures, CPU ms per message in all and by part."""
    before = {name: cpu_of_profile(profile) for name, profile in profiles.items()}
    played = await asyncio.gather(*(play(profile.public, conversations, concurrency, first)
                                    for profile in profiles.values()))
    figures = {}
    for (name, profile), (timings, failures, elapsed) in zip(profiles.items(), played, strict=True):
        used, count = Counter(used_since(before[name], cpu_of_profile(profile))), len(timings)
        figures[name] = {"messages": count, "cpu": sum(used.values()) / count * 1000, "rate": count / elapsed,
                         "p50": statistics.median(timings) * 1000, "p95": percentile(timings, 0.95) * 1000,
                         "failed": failures, **{part: used[part] / count * 1000 for part in PART_NAMES}}
    return figures


def revision(root: Path) -> str:
    found = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h"], capture_output=True, text=True)
    return found.stdout.strip() or "?"


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
    parser.add_argument("--roots", type=Path, nargs=2, metavar=("A", "B"),
                        help="two checkouts side by side, rounds alternating (chat only, highest level)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--together", action="store_true",
                        help="with --roots: both profiles played at once in each round, half the level each")
    parser.add_argument("--settings-a", nargs="*", default=[], metavar="NAME=VALUE",
                        help="the first profile's own settings (scripts/run_all.py's names)")
    parser.add_argument("--settings-b", nargs="*", default=[], metavar="NAME=VALUE",
                        help="the second profile's own settings")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; {python_speed()}")
    if args.roots:
        if args.together and args.concurrency[-1] % 2:
            parser.error("--together shares the level between the two profiles: give an even --concurrency")
        if args.conversations < args.concurrency[-1] // (2 if args.together else 1):
            parser.error("--conversations below the level: fewer residents would be at once")
        if any("=" not in item or not item.split("=", 1)[1] for item in args.settings_a + args.settings_b):
            parser.error("--settings-a/-b take NAME=VALUE, the value not empty")
        for root in args.roots:
            if not ((root / ".venv" / "bin" / "python").exists() and (root / ".venv-rasa" / "bin" / "rasa").exists()):
                parser.error(f"{root} has no .venv and .venv-rasa: its scripts/run_all.py runs with its own "
                             f"(a worktree: `ln -s {ROOT}/.venv {ROOT}/.venv-rasa {root}/`)")
        settings = {name: dict(item.split("=", 1) for item in items)
                    for name, items in (("A", args.settings_a), ("B", args.settings_b))}
        interleaved([root.resolve() for root in args.roots], settings, args.replicas[-1], args.conversations,
                    args.concurrency[-1], args.rounds, args.together)
        return
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
