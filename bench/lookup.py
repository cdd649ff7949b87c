"""E-health book lookups: latency, "not found" vs "wrong birth date", and brute force.

Starts `python -m api serve` on a fresh database for each phase (SQLite by default, or the local
PostgreSQL with --database postgres) with the production limits, then prints:
- lookup latency p50/p95 for residents who exist;
- not found vs wrong birth date: whether bodies differ, and their latency distributions;
- 1,000 random guesses from one chat, on one CCCD from many chats, and on many CCCDs from many
  chats: how many were answered before the lockouts stopped them;
- how long guessing one person's birth date would take under the configured lockouts.

    .venv/bin/python bench/lookup.py [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.core.config import Settings  # noqa: E402
from api.core.crypto import Crypto  # noqa: E402
from api.core.db import Database  # noqa: E402
from api.core.migrate import upgrade  # noqa: E402
from api.records.service import upsert  # noqa: E402
from bench.booking import POSTGRES, SECRET, prepare_database  # noqa: E402
from tests.support.servers import free_port, running_process  # noqa: E402

KNOWN = 300
STATUS = "/api/v1/records/status"


def person(index: int) -> tuple[str, date]:
    year = 1940 + index % 60
    return f"0030{year % 100:02d}{index:06d}", date(year, 1, 1) + timedelta(days=(index * 37) % 365)


@contextmanager
def server(kind: str) -> Iterator[httpx.Client]:
    """A fresh database with KNOWN e-health books, and the API serving it."""
    with tempfile.TemporaryDirectory() as workdir:
        url, schema = prepare_database(kind, Path(workdir))
        settings = Settings(database_url=url, secret_key=SECRET)
        database = Database.from_settings(settings)
        upgrade(database.writer)
        crypto = Crypto.from_settings(settings)
        with database.write() as db:
            for index in range(KNOWN):
                cccd, birth = person(index)
                upsert(db, crypto, cccd=cccd, birth_date=birth, status="updated", updated_on=date(2026, 10, 1),
                       commune_id=None, source="his")
        database.dispose()
        port = free_port()
        env = {"DATABASE_URL": url, "SECRET_KEY": SECRET, "PATH": "/usr/bin:/bin"}
        command = [sys.executable, "-m", "api", "serve", "--port", str(port), "--log-level", "warning",
                   "--no-access-log"]
        with running_process(command, env=env, ready_url=f"http://127.0.0.1:{port}/api/v1/ready"), \
                httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
        if schema is not None:
            admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def ask(client: httpx.Client, cccd: str, birth: date, chat: str) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    response = client.post(STATUS, json={"cccd": cccd, "birth_date": birth.isoformat(), "chat_id": chat})
    return response.status_code, response.content, (time.perf_counter() - started) * 1000


def quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"p50 {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms (n={len(ordered)})"


def latency_and_sameness(kind: str) -> None:
    with server(kind) as client:
        found = [ask(client, *person(i), chat=f"found-{i}") for i in range(100)]
        assert all(status == 200 and b'"updated"' in body for status, body, _ in found)
        # Interleaved so both see the same server state; 2 wrong dates per known CCCD stay under its limit.
        unknown, wrong = [], []
        for i in range(200):
            cccd, birth = person(100 + i // 2)
            wrong.append(ask(client, cccd, birth + timedelta(days=1 + i % 2), chat=f"wrong-{i}"))
            unknown.append(ask(client, *person(10_000 + i), chat=f"unknown-{i}"))
    bodies = {body for _, body, _ in unknown + wrong}
    print(f"lookup latency, resident found:        {quantiles([t for *_, t in found])}")
    print(f"lookup latency, not found:             {quantiles([t for *_, t in unknown])}")
    print(f"lookup latency, wrong birth date:      {quantiles([t for *_, t in wrong])}")
    difference = statistics.median(t for *_, t in wrong) - statistics.median(t for *_, t in unknown)
    spread = statistics.quantiles([t for *_, t in unknown], n=4)
    print(f"  median difference {difference:+.2f} ms; interquartile range of 'not found' "
          f"{spread[2] - spread[0]:.2f} ms")
    print(f"  distinct response bodies for not found + wrong birth date: {len(bodies)} "
          f"(statuses {sorted({s for s, *_ in unknown + wrong})})")


def brute_force(kind: str) -> None:
    rng = random.Random(7)

    def guess() -> tuple[str, date]:
        year = rng.randint(1940, 1999)
        return f"0030{year % 100:02d}{rng.randint(0, 999_999):06d}", date(year, 1, 1) + timedelta(rng.randint(0, 364))

    with server(kind) as client:
        one_chat = [ask(client, *guess(), chat="attacker")[0] for _ in range(1000)]
    print(f"1,000 guesses from one chat:           {one_chat.count(200)} answered, {one_chat.count(429)} locked out")

    with server(kind) as client:
        victim, birth = person(5)
        january = date(birth.year, 1, 1)
        days = [january + timedelta(d) for d in range(365) if january + timedelta(d) != birth]
        rng.shuffle(days)
        one_cccd = [ask(client, victim, days[i % len(days)], chat=f"chat-{i}")[0] for i in range(1000)]
        owner = ask(client, victim, birth, chat="owner")[0]
    print(f"1,000 guesses on one CCCD, many chats: {one_cccd.count(200)} answered, {one_cccd.count(429)} locked "
          f"out; the owner meanwhile gets HTTP {owner}")

    with server(kind) as client:
        many = [ask(client, *guess(), chat=f"c{i}")[0] for i in range(1000)]
    print(f"1,000 guesses, many CCCDs and chats:   {many.count(200)} answered, {many.count(429)} locked out "
          f"(global failure limit)")


def years_to_guess_one_birth_date(settings: Settings) -> float:
    """Expected time to find a birth date by guessing (half of 365 days; the CCCD gives the year)."""
    guesses_needed = 365 / 2
    per_round = settings.lookup_cccd_failures
    base, cap = settings.lockout_base_minutes, settings.lockout_max_minutes
    minutes, lockouts = 0.0, 0
    while guesses_needed > 0:
        guesses_needed -= per_round
        lockouts += 1
        minutes += min(base * 2 ** (lockouts - 1), cap)
    return minutes / 60 / 24 / 365


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    settings = Settings(database_url="sqlite://", secret_key=SECRET)
    print(f"== e-health book lookups on {args.database} ==")
    print(f"limits: {settings.lookup_chat_attempts} attempts/chat per {settings.lookup_chat_window_minutes} min; "
          f"{settings.lookup_cccd_failures} failures/CCCD per {settings.lookup_cccd_window_minutes} min; "
          f"{settings.lookup_global_failures} failures overall per {settings.lookup_global_window_minutes} min; "
          f"lockout {settings.lockout_base_minutes} min doubling to {settings.lockout_max_minutes} min")
    latency_and_sameness(args.database)
    brute_force(args.database)
    print(f"expected time to guess one person's birth date under these lockouts: "
          f"{years_to_guess_one_birth_date(settings):.1f} years")
    return 0


if __name__ == "__main__":
    sys.exit(main())
