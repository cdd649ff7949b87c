"""Reply latency and CPU per message through Rasa with its actions and the API, for one or more checkouts.

For each checkout given (default: this one), in turn, with this checkout's .venv and .venv-rasa: starts
the API (demo province, SQLite), the action server and Rasa with that checkout's model as real processes
(run from that checkout, importing its packages; the files printed), warms them up, then

1. one long chat: one sender sends `--long-chat` messages in a row, typed without diacritics (FAQ,
   schedules, small talk, a booking form opened and stopped with "thoi", "my bookings"…; the session
   never ends). Prints per 10 positions the median latency and the CPU ms per message of Rasa, the action
   server, the API (each process with its children, utime + stime from /proc), PostgreSQL's server
   processes for the conversation database, and the rest of the machine; then the ratio
   median(146–155) ÷ median(6–15): how a reply slows as the conversation grows. On the SQLite
   conversation store, then again on PostgreSQL (a database of its own, dropped afterwards, given to
   Rasa as TRACKER_STORE_URL);
2. on the SQLite store, whole resident conversations (`script()`: greeting, FAQ, a booking with its
   button and summary, schedule, "my bookings", a cancellation; without diacritics) over Rasa's REST
   channel with the metadata the gateway sends for a web chat, 1, 4 and 20 residents at once: reply
   p50/p95/max, empty or failed replies, CPU ms per resident message by service.

With several checkouts, the ratios of each to the first follow: CPU per message, p50/p95 per concurrency,
the position ratio per store. A checkout that changes during its measurement is flagged.

Measured in turn, two checkouts meet a machine that drifts between them: on this shared machine the CPU per
message moved by 10–30 % within minutes, more than most changes. `--interleave N` instead runs every
checkout's services at once (SQLite store) and plays N short rounds of whole conversations at
`--concurrency`'s first level, alternating the checkouts (A B, B A, A B, …): each round's CPU per message is
compared with the other checkout's in the same round, and the median of those ratios, with their spread, is
printed. Run it both ways round (`--roots A B`, then `--roots B A`) and take the two medians together:
while the hypervisor took much of the machine (steal of 10–30 ms per message), one checkout against itself
measured 0.93× (2026-12-03), while a change measured both ways agreed within 1 % (0.874× and 1 ÷ 1.156×).
The services a change does not touch are the run's own control: their ratios should stay near 1.0.

    .venv/bin/python bench/replies.py                                  # this checkout, ≈ 4–5 min
    .venv/bin/python bench/replies.py --roots /work/before /work/main  # the second ÷ the first
    .venv/bin/python bench/replies.py --conversations 4 --long-chat 40 --only sqlite   # a quick check
    .venv/bin/python bench/replies.py --roots /work/before /work/main --interleave 12 --conversations 6 \
        --concurrency 4                                                   # before/after, ≈ 6 min
A root is a git worktree of this repository with its own models/bot.tar.gz (`make train`); the
PostgreSQL store needs the tests' server (TEST_POSTGRES_URL). The machine is shared: the "other
processes" figure says how much CPU something else took meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import Meter, percentile, python_speed, rss_mib  # noqa: E402
from common.chat_identity import METADATA_KEY, sign  # noqa: E402
from common.keys import chat_identity_key  # noqa: E402
from tests.support.env import TEST_SECRET, postgres_reachable  # noqa: E402
from tests.support.env import postgres_database as fresh_postgres_database  # noqa: E402
from tests.support.servers import (  # noqa: E402
    RASA,
    ProcessOutput,
    checkout_env,
    model_path,
    running_assistant,
)

SERVICES = ("Rasa", "actions", "API")
WINDOW = 10  # positions of the long chat summarised together
BASELINE = 6  # the long chat's first window compared (6–15): after the session's start


def page_session(*parts: object) -> str:
    """A web chat session id as the page makes one (gateway/static/chat.js: "w" and 12 random bytes in
    hex), made from `parts` so that runs can tell their residents apart. Only such ids get a transcript."""
    return "w" + hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


def page_message(session: str, text: str, language: str = "vi") -> dict[str, str | bool]:
    """What the web chat's page posts for a message: with an id of its own, so the gateway keeps the
    transcript and answers a message sent again from it, the page's language, and the mark of a first
    sending (the page's retries say `again: true`)."""
    return {"session_id": session, "text": text, "language": language, "message_id": "m" + secrets.token_hex(12),
            "again": False}


def script(index: int) -> list[tuple[str, str]]:
    """(kind, text) of one resident's conversation; the CCCD (province 003) and the phone are unique per
    resident below index 1,000,000: a phone holds one booking at a time, so residents sharing one number
    would be refused while they play at once."""
    cccd = f"0030{58}{index:06d}"
    phone = f"0912 {index // 1000 % 1000:03d} {index % 1000:03d}"
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
        ("form", phone),
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


# The long chat repeats one round of ten kinds of message (so every window of ten positions holds the
# same mix), each round with other words. A booking form is opened, answered once and stopped.
LONG_CHAT_ROUND: list[list[str]] = [
    ["xin chao", "chao ban", "alo co ai khong", "chao em", "xin chao ban oi", "chao buoi sang"],
    ["ksk co mat tien khong", "di kham can mang gi", "co phai nhin an truoc khi kham khong",
     "bao lau thi co ket qua", "ai duoc kham mien phi", "kham nhung gi vay", "khong co bhyt co duoc kham khong",
     "mot nam duoc kham may lan"],
    ["lich kham o xa huu lien", "khi nao doi kham ve mau son", "bao gio xa dong dang kham",
     "lich kham o xa loc binh", "xa bac son khi nao kham", "lich kham o phuong tam thanh",
     "doan kham ve dinh lap bao gio"],
    ["dang ky kham cho toi", "toi muon dat lich kham", "dang ky kham cho me toi", "cho toi dat lich kham suc khoe",
     "dat lich kham"],
    ["dong y", "di kham can mang gi", "toi dong y", "ban la nguoi hay may", "dong y"],
    ["thoi", "thoi khong dat nua", "thoi", "dung lai", "thoi"],
    ["kham o dau", "xet nghiem mau co can nhin an khong", "so suc khoe dien tu la gi",
     "hoc sinh co duoc kham khong", "phat hien benh thi chua co mat tien khong", "nguoi gia co duoc uu tien khong",
     "toi khoe thi co can di kham khong", "thong tin cua toi co bi lo khong"],
    ["xem lich toi da dat", "lich cua toi", "toi da dat lich nao chua", "xem lai lich kham cua toi"],
    ["gia vang hom nay bao nhieu", "tro giup", "ban la ai", "huong dan su dung", "thoi tiet mai the nao"],
    ["cam on", "cam on ban", "ok cam on nhe", "cam on nhieu"],
]


def long_chat(count: int) -> list[str]:
    """The long chat's first `count` messages: kind by position in the round, words by the round's number."""
    texts = []
    for position in range(count):
        round_number, kind = divmod(position, len(LONG_CHAT_ROUND))
        variants = LONG_CHAT_ROUND[kind]
        texts.append(variants[round_number % len(variants)])
    assert all(a != b for a, b in zip(texts, texts[1:], strict=False)), "two messages in a row are the same"
    return texts


@dataclass
class Level:
    concurrency: int
    conversations: int
    timings: dict[str, list[float]]
    errors: int
    cpu_ms: dict[str, float]  # service → CPU ms per resident message

    @property
    def all(self) -> list[float]:
        return [value for values in self.timings.values() for value in values]


@dataclass
class LongChat:
    store: str
    latencies: list[float]
    errors: int
    cpu_ms: list[dict[str, float]]  # per window: service → CPU ms per message

    def late_start(self) -> int | None:
        """First position of the late window: 146, or the last one as far from 6 by a whole number of rounds."""
        end = min(len(self.latencies), 155)
        start = BASELINE + (end - WINDOW + 1 - BASELINE) // WINDOW * WINDOW
        return start if start > BASELINE else None

    def ratio(self) -> float | None:
        start = self.late_start()
        if start is None:
            return None
        return self.median(start) / self.median(BASELINE)

    def median(self, start: int) -> float:
        return statistics.median(self.latencies[start - 1:start - 1 + WINDOW])


@dataclass
class Figures:
    root: Path
    revision: str
    levels: list[Level] = field(default_factory=list)
    chats: list[LongChat] = field(default_factory=list)


@dataclass
class Running:
    """The services of one checkout, answering."""

    rasa: str  # its URL
    pids: dict[str, int]  # service → process id
    database: str | None  # PostgreSQL's conversation database, if it is the store

    def meter(self) -> Meter:
        # PostgreSQL's server processes name their database in their title.
        return Meter(self.pids, (("PostgreSQL", f" {self.database} "),) if self.database else ())


async def send(client: httpx.AsyncClient, rasa: str, sender: str, text: str) -> tuple[list[dict[str, Any]], float]:
    """One resident message with the metadata the gateway sends for a web chat (its channel and its chat,
    signed): the replies ([] when it failed) and the seconds until they came."""
    identity = sign(chat_identity_key(TEST_SECRET.encode()), channel="web", sender=sender, now=time.time())
    started = time.perf_counter()
    try:
        response = await client.post(f"{rasa}/webhooks/rest/webhook", json={
            "sender": sender, "message": text, "metadata": {"channel": "web", METADATA_KEY: identity}})
        replies = list(response.json()) if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError):
        replies = []
    return replies, time.perf_counter() - started


async def converse(client: httpx.AsyncClient, rasa: str, index: int, timings: dict[str, list[float]]) -> int:
    """Plays `script(index)`; the number of empty or failed replies (a missing button ends it)."""
    sender = f"bench-{index}-{os.getpid()}"
    last: list[dict[str, Any]] = []
    errors = 0
    for kind, text in script(index):
        if text.startswith("<"):
            buttons: list[dict[str, Any]] = next((m["buttons"] for m in reversed(last) if m.get("buttons")), [])
            if not buttons:
                return errors + 1
            text = buttons[0]["payload"]
        last, took = await send(client, rasa, sender, text)
        timings[kind].append(took)
        errors += not last
    return errors


async def play(rasa: str, conversations: int, concurrency: int, first: int) -> tuple[dict[str, list[float]], int]:
    timings: dict[str, list[float]] = defaultdict(list)
    limit = asyncio.Semaphore(concurrency)

    async def one(index: int) -> int:
        async with limit:
            return await converse(client, rasa, index, timings)

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=concurrency * 2)) as client:
        errors = sum(await asyncio.gather(*(one(first + i) for i in range(conversations))))
    return timings, errors


def run_level(services: Running, conversations: int, concurrency: int, first: int) -> Level:
    meter = services.meter()
    timings, errors = asyncio.run(play(services.rasa, conversations, concurrency, first))
    messages = sum(len(values) for values in timings.values())
    return Level(concurrency, conversations, timings, errors, meter.per_message_ms(messages))


async def chat_alone(services: Running, texts: list[str], sender: str, store: str) -> LongChat:
    chat = LongChat(store, [], 0, [])
    async with httpx.AsyncClient(timeout=120) as client:
        meter = services.meter()
        for position, text in enumerate(texts, 1):
            replies, took = await send(client, services.rasa, sender, text)
            chat.latencies.append(took)
            chat.errors += not replies
            if position % WINDOW == 0 or position == len(texts):
                chat.cpu_ms.append(meter.per_message_ms((position - 1) % WINDOW + 1))
    return chat


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for the conversations, dropped afterwards: its URL as Rasa takes it."""
    missing = postgres_reachable()
    if missing:
        sys.exit(f"Không kết nối được PostgreSQL ({missing}); chạy lại với --only sqlite.")
    with fresh_postgres_database("ksk_bench_replies") as url:
        yield url


@contextmanager
def assistant(root: Path, store: str, tracker_store_url: str | None) -> Iterator[Running]:
    """The three services of `root`, warmed up."""
    logs: list[ProcessOutput] = []
    started = time.perf_counter()
    # The servers inherit this process's environment: the conversation store is chosen there.
    with mock.patch.dict(os.environ), tempfile.TemporaryDirectory(prefix="bench-replies-") as workdir:
        os.environ.pop("TRACKER_STORE_URL", None)
        if tracker_store_url:
            os.environ["TRACKER_STORE_URL"] = tracker_store_url
        with running_assistant(Path(workdir), logs=logs, root=root) as urls:
            api, actions, rasa = logs  # in the order running_assistant starts them
            pids = {"Rasa": rasa.pid, "actions": actions.pid, "API": api.pid}
            print(f"  [{store}] services ready in {time.perf_counter() - started:.0f} s; "
                  f"Rasa RSS after start {rss_mib(rasa.pid):.0f} MiB")
            # Warm-up: the first predictions build TensorFlow's graphs.
            asyncio.run(play(urls["rasa"], 1, 1, first=900_000))
            yield Running(urls["rasa"], pids, tracker_store_url.rsplit("/", 1)[1] if tracker_store_url else None)
            print(f"  [{store}] RSS at the end: Rasa {rss_mib(rasa.pid):.0f} MiB, "
                  f"action server {rss_mib(actions.pid):.0f} MiB, API {rss_mib(api.pid):.0f} MiB")


def check_imports(root: Path) -> None:
    """Which files the services of `root` import: run as the services are (cwd, environment)."""
    env = {**os.environ, **checkout_env(root)}
    probes = ((RASA.parent / "python", "bot", "actions", "common"), (Path(sys.executable), "api", "common"))
    for python, *modules in probes:
        code = "; ".join(f"import {m}; print('{m}', {m}.__file__)" for m in modules)
        found = subprocess.run([str(python), "-c", code], cwd=root, env=env, capture_output=True, text=True,
                               check=True).stdout.split("\n")
        for line in filter(None, found):
            module, path = line.split(" ", 1)
            if not Path(path).resolve().is_relative_to(root.resolve()):
                sys.exit(f"{python.parent.parent.name}: {module} được nạp từ {path}, không phải từ {root}.")
        print(f"  {python.parent.parent.name} imports " + ", ".join(found).strip(", "))


def revision(root: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True).stdout.strip()

    changed = len(git("status", "--porcelain", "--untracked-files=no").splitlines())
    return git("rev-parse", "--short", "HEAD") + (f" + {changed} changed files" if changed else "")


def measure(root: Path, args: argparse.Namespace) -> Figures:
    figures = Figures(root, revision(root))
    print(f"\n=== {root} ({figures.revision}) ===")
    check_imports(root)
    stores = [store for store in ("sqlite", "postgres") if args.only in (None, store)]
    for store in stores:
        with ExitStack() as stack:
            url = stack.enter_context(postgres_database()) if store == "postgres" else None
            services = stack.enter_context(assistant(root, store, url))
            # The long chat first: on either store it meets the same conversations (the warm-up's).
            if args.long_chat:
                figures.chats.append(asyncio.run(chat_alone(
                    services, long_chat(args.long_chat), f"long-{store}-{os.getpid()}", store)))
                report_chat(figures.chats[-1])
            if store == stores[0]:
                for number, concurrency in enumerate(args.concurrency, 1):
                    figures.levels.append(run_level(services, args.conversations, concurrency, number * 100_000))
                    report_level(figures.levels[-1], store)
    if revision(root) != figures.revision:
        print(f"  ! {root} changed during the measurement: now {revision(root)}")
    return figures


def measured(cpu: dict[str, float]) -> list[str]:
    """The services measured, in order: the three, and PostgreSQL when it holds the conversations."""
    return [*SERVICES, *(["PostgreSQL"] if "PostgreSQL" in cpu else [])]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def report_level(level: Level, store: str) -> None:
    values = level.all
    print(f"  {level.concurrency} at once ({level.conversations} conversations, {len(values)} messages, {store} "
          f"store): p50 {ms(statistics.median(values))}, p95 {ms(percentile(values, 0.95))}, max {ms(max(values))}; "
          f"empty or failed replies: {level.errors}")
    cpu = level.cpu_ms
    print("    CPU per message: " + ", ".join(f"{name} {cpu[name]:.0f} ms" for name in measured(cpu))
          + f" (all three {sum(cpu[name] for name in SERVICES):.0f} ms); besides, on the machine: "
          + ", ".join(f"{name} {cpu[name]:.0f} ms" for name in ("load generator", "other processes", "steal")))
    if level.concurrency == 1:
        print("    p50 by kind: " + ", ".join(f"{kind} {ms(statistics.median(values))}"
                                             for kind, values in sorted(level.timings.items())))


def report_chat(chat: LongChat) -> None:
    print(f"  long chat, {chat.store} store: {len(chat.latencies)} messages from one sender, "
          f"empty or failed replies: {chat.errors}")
    names = [*measured(chat.cpu_ms[0]), "other processes"] if chat.cpu_ms else []
    print("    positions   p50 ms   CPU ms per message: " + "  ".join(f"{name:>7}" for name in names))
    for number, cpu in enumerate(chat.cpu_ms):
        first = number * WINDOW + 1
        window = chat.latencies[first - 1:first - 1 + WINDOW]
        print(f"    {first:>3}–{first + len(window) - 1:<6} {statistics.median(window) * 1000:7.0f}"
              f"{'':22}" + "  ".join(f"{cpu[name]:{max(7, len(name))}.0f}" for name in names))
    late, ratio = chat.late_start(), chat.ratio()
    if late is not None and ratio is not None:
        print(f"    median of {late}–{late + WINDOW - 1} ÷ median of {BASELINE}–{BASELINE + WINDOW - 1}: "
              f"{ratio:.2f} ({ms(chat.median(late))} ÷ {ms(chat.median(BASELINE))})")


def compare(first: Figures, other: Figures) -> None:
    def cpu(figures: Figures) -> dict[str, float]:
        messages = [len(level.all) for level in figures.levels]
        return {name: sum(level.cpu_ms[name] * n for level, n in zip(figures.levels, messages, strict=True))
                / max(sum(messages), 1) for name in SERVICES}

    print(f"\nratios {other.root} ({other.revision}) ÷ {first.root} ({first.revision}):")
    if first.levels and other.levels:
        before, after = cpu(first), cpu(other)
        print("  CPU per message (all concurrencies): " + ", ".join(
            f"{name} {after[name] / before[name]:.2f}×" for name in SERVICES)
            + f", all three {sum(after.values()) / sum(before.values()):.2f}×")
        for a, b in zip(first.levels, other.levels, strict=True):
            print(f"  {a.concurrency} at once: p50 {statistics.median(b.all) / statistics.median(a.all):.2f}×, "
                  f"p95 {percentile(b.all, 0.95) / percentile(a.all, 0.95):.2f}×")
    for was, now in zip(first.chats, other.chats, strict=True):
        ratio_was, ratio_now = was.ratio(), now.ratio()
        if ratio_was and ratio_now:
            print(f"  long chat, {was.store}: late ÷ early {ratio_was:.2f} → {ratio_now:.2f} "
                  f"({ratio_now / ratio_was:.2f}×); whole chat p50 "
                  f"{statistics.median(now.latencies) / statistics.median(was.latencies):.2f}×")


def interleaved(roots: list[Path], args: argparse.Namespace) -> None:
    """Every checkout's services at once; short rounds alternate between them (see the module's text)."""
    concurrency = args.concurrency[0] if args.concurrency else 4
    if args.conversations > 100 or args.interleave > 400:
        sys.exit("--interleave: at most 400 rounds of 100 conversations (each resident is a person of their own).")
    rounds: list[list[Level]] = [[] for _ in roots]
    with ExitStack() as stack:
        # Every resident writes from this machine's one address, which the API's per-address limits would
        # rightly take for a crowd after a few rounds (the servers inherit this environment).
        stack.enter_context(mock.patch.dict(os.environ, {
            "BOOKINGS_PER_ADDRESS": "100000", "LOOKUP_ADDRESS_ATTEMPTS": "100000",
            "RESIDENT_WRITES_PER_ADDRESS": "1000000"}))
        running = []
        for root in roots:
            print(f"\n=== {root} ({revision(root)}) ===")
            check_imports(root)
            running.append(stack.enter_context(assistant(root, "sqlite", None)))
        print(f"\n{args.interleave} rounds of {args.conversations} conversations, {concurrency} at once, "
              "the checkouts alternating; CPU ms per message (Rasa + actions + API):")
        for number in range(args.interleave):
            order = list(range(len(roots)))[::-1 if number % 2 else 1]
            for index in order:
                # Residents of their own (script() needs indexes below 1,000,000): 500,000 + round, checkout.
                level = run_level(running[index], args.conversations, concurrency,
                                  first=500_000 + number * 1_000 + index * 100)
                rounds[index].append(level)
            print(f"  round {number + 1:>2}: " + ", ".join(
                f"{roots[i].name} {sum(rounds[i][-1].cpu_ms[name] for name in SERVICES):.1f} "
                f"(steal {rounds[i][-1].cpu_ms['steal']:.1f}, errors {rounds[i][-1].errors})" for i in order))
    for index in range(1, len(roots)):
        print(f"\n{roots[index]} ({revision(roots[index])}) ÷ {roots[0]} ({revision(roots[0])}), "
              "round by round:")
        for name in (*SERVICES, "all three"):
            def cpu(level: Level, name: str = name) -> float:
                return sum(level.cpu_ms[s] for s in SERVICES) if name == "all three" else level.cpu_ms[name]

            ratios = sorted(cpu(b) / cpu(a) for a, b in zip(rounds[0], rounds[index], strict=True))
            below = sum(ratio < 1 for ratio in ratios)
            print(f"  CPU per message, {name:<9}: median {statistics.median(ratios):.3f}×, "
                  f"spread {ratios[0]:.3f}–{ratios[-1]:.3f}, below 1.0 in {below} of {len(ratios)} rounds")
        medians = sorted(statistics.median(b.all) / statistics.median(a.all)
                         for a, b in zip(rounds[0], rounds[index], strict=True))
        print(f"  reply p50: median {statistics.median(medians):.3f}×, spread {medians[0]:.3f}–{medians[-1]:.3f}")
        errors = [sum(level.errors for level in rounds[i]) for i in (0, index)]
        print(f"  empty or failed replies: {errors[0]} and {errors[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roots", nargs="+", type=Path, default=[ROOT],
                        help="checkouts (git worktrees with models/bot.tar.gz) measured in turn; default: this one")
    parser.add_argument("--conversations", type=int, default=20, help="whole conversations per concurrency")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 4, 20],
                        help="residents at once, one run each (none: skip)")
    parser.add_argument("--long-chat", type=int, default=200, help="messages of the long chat (0: skip)")
    parser.add_argument("--only", choices=["sqlite", "postgres"],
                        help="one conversation store (the concurrency runs use the first store measured)")
    parser.add_argument("--interleave", type=int, default=0,
                        help="rounds alternating the checkouts, all running at once (see the module's text); "
                             "0: each checkout measured in turn")
    args = parser.parse_args()
    roots = [root.resolve() for root in args.roots]
    for root in roots:
        if not model_path(root).exists():
            sys.exit(f"Chưa có mô hình {model_path(root)}: chạy `make train` trong {root} trước.")
    if not RASA.exists():
        sys.exit(f"Chưa có {RASA}: chạy `make setup` trước.")
    print(f"machine: {os.cpu_count()} cores, {python_speed()}; load generator in this process; "
          f"stores: {args.only or 'sqlite, postgres'}")
    if args.interleave:
        interleaved(roots, args)
        return
    results = [measure(root, args) for root in roots]
    for other in results[1:]:
        compare(results[0], other)


if __name__ == "__main__":
    main()
