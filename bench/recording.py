"""Volunteer recording (issue 20): what a volunteer's phone downloads, how long a take takes to reach the
review queue, and what a campaign does to each minority language's coverage.

1. Page weight before the first recording: the join page and the recorder page, each with every style
   sheet and script it loads (read from its <link> and <script> tags), as the API sends them (uncompressed:
   deploy/nginx.conf.j2 does not gzip) and gzipped. The target is under 150 KB.
2. Send → review queue: N uploads of a ~4-second sentence (espeak-ng, encoded as the page's MediaRecorder
   sends it: Opus in WebM at 32 kbit/s) to POST /studio/voice/{link}/takes, one at a time, through uvicorn
   on this machine; the time until the 201 (the take is filed, waiting for review) p50/p95/max, and the CPU
   per take: this process (server and client) plus its ffprobe/ffmpeg children.
3. A campaign: for each minority language two volunteers record every recordable message (1-second tones,
   each page following the next message the server names), an invited reviewer decides after every round,
   refusing one take in ten with a reason (a refused message is recorded again once, and that take
   accepted); each language's coverage (the studio's campaign page's figures) before and after. Run with
   the volunteers one after the other, and — for one language — both at the same time, which shows how
   many takes repeat a message someone else has just recorded.

    .venv/bin/python bench/recording.py [--uploads 30]
Needs ffmpeg and espeak-ng (`make setup-system`).
"""

from __future__ import annotations

import argparse
import gzip
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.content.service import seed_messages  # noqa: E402
from api.core.crypto import Crypto  # noqa: E402
from api.core.db import Database  # noqa: E402
from api.core.migrate import upgrade  # noqa: E402
from api.faq.service import seed_content  # noqa: E402
from api.main import create_app  # noqa: E402
from api.recording import invitations  # noqa: E402
from api.recording.campaign import LanguageCampaign, campaign  # noqa: E402
from api.staff.service import create_staff  # noqa: E402
from api.studio import voice_pages  # noqa: E402
from common.vocabulary import LANGUAGES  # noqa: E402
from tests.support.env import make_settings  # noqa: E402
from tests.support.servers import app_in_thread  # noqa: E402

SENTENCE = "Xin chào bà con, mời bà con đi khám sức khỏe miễn phí tại trạm y tế xã."
TARGET_KB = 150
SPEAKERS = ("Hoàng Thị Slao", "Nông Văn Páo")
ROUND = 20  # takes each volunteer sends between two visits of the reviewer (the page holds up to 60 waiting)
ASSET = re.compile(r'<(?:link[^>]+rel="stylesheet"[^>]+href|script[^>]+src)="([^"]+)"')
CSRF = re.compile(r'(?:name="csrf" value|data-csrf)="([^"]+)"')

# Every volunteer here writes from this machine's one address and records far faster than a person: the
# per-address and per-volunteer paces (tests/api/recording test them) would rightly stop the script.
voice_pages.JOINS_PER_HOUR_PER_ADDRESS = 100_000
voice_pages.TAKES_PER_TEN_MINUTES = 100_000


@dataclass
class Served:
    base: str
    database: Database
    crypto: Crypto
    editor: Any

    def invite(self, purpose: str, language: str, keys: list[str] | None = None) -> str:
        with self.database.write() as db:
            actor = db.merge(self.editor)
            _invitation, token = invitations.create_invitation(db, self.crypto, actor, purpose=purpose,
                                                               language=language, days=30,
                                                               max_people=invitations.MAX_PEOPLE, keys=keys)
        return token


@contextmanager
def served() -> Iterator[Served]:
    """A fresh API (SQLite, the content seed) on a free port, and an editor to hand out invitations."""
    with tempfile.TemporaryDirectory() as folder:
        settings = make_settings(f"sqlite:///{Path(folder) / 'bench.db'}", Path(folder))
        database = Database.from_settings(settings)
        upgrade(database.writer)
        with database.write() as db:
            seed_content(db)
            seed_messages(db)
            editor = create_staff(db=db, actor=None, username="bench-editor", password="mat-khau-bench-123",
                                  role="editor")
            db.flush()
            db.expunge(editor)
        try:
            with app_in_thread(create_app(settings, database)) as base:
                yield Served(base, database, Crypto.from_settings(settings), editor)
        finally:
            database.dispose()


class Phone:
    """One person's browser on an invitation's pages (its own cookies)."""

    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=120)
        self.path = f"/studio/voice/{token}"
        self.csrf = ""

    def get(self) -> str:
        response = self.client.get(self.path)
        response.raise_for_status()
        return response.text

    def join(self, name: str, phone: str) -> str:
        page = self.get()
        notice = re.search(r'name="notice_version" value="([^"]+)"', page)
        csrf = CSRF.search(page)
        assert notice and csrf, page[:300]
        joined = self.client.post(f"{self.path}/join", data={"csrf": csrf[1], "notice_version": notice[1],
                                                             "name": name, "phone": phone, "agree": "on"})
        assert joined.status_code == 303, re.findall(r'class="error"[^>]*>([^<]+)', joined.text) or joined.status_code
        page = self.get()
        found = CSRF.search(page)
        assert found, page[:300]
        self.csrf = found[1]
        return page

    def offer(self) -> dict[str, str] | None:
        page = self.get()
        key, source = re.search(r'data-key="([^"]*)"', page), re.search(r'data-source-hash="([^"]*)"', page)
        assert key and source
        return {"key": key[1], "source_hash": source[1]} if key[1] else None

    def try_send(self, offer: dict[str, str], audio: bytes) -> tuple[int, dict[str, Any]]:
        response = self.client.post(f"{self.path}/takes", files={"file": ("take.webm", audio, "audio/webm")}, data={
            "csrf": self.csrf, "key": offer["key"], "source_hash": offer["source_hash"],
            "upload_id": uuid.uuid4().hex})
        body: dict[str, Any] = response.json()
        return response.status_code, body

    def send(self, offer: dict[str, str], audio: bytes) -> dict[str, Any]:
        status, body = self.try_send(offer, audio)
        assert status == 201, body
        return body

    def decide(self, take_id: int, decision: str, reason: str = "") -> None:
        response = self.client.post(f"{self.path}/takes/{take_id}/{decision}", data={"csrf": self.csrf,
                                                                                      "reason": reason})
        assert response.status_code == 303, response.text[:300]

    def queue(self) -> list[int]:
        return [int(found) for found in re.findall(r'<li id="take-(\d+)"', self.get())]


def webm(source: list[str], seconds: float | None = None) -> bytes:
    """ffmpeg's input arguments `source` as the page sends a take: mono Opus in WebM, 32 kbit/s."""
    limit = ["-t", str(seconds)] if seconds else []
    return subprocess.run(["ffmpeg", "-loglevel", "error", *source, *limit, "-ac", "1", "-c:a", "libopus",
                           "-b:a", "32k", "-f", "webm", "-"], capture_output=True, check=True).stdout


def cpu_s() -> float:
    """CPU seconds of this process and of the children it waited for (ffprobe, ffmpeg)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# --- 1 -----------------------------------------------------------------------------------------------------

def page_weight() -> None:
    print("1. Page weight before the first recording (target < 150 KB)")
    with served() as api:
        phone = Phone(api.base, api.invite("record", "tyz"))
        pages = {"join page": phone.get(), "recorder page": phone.join("Lý Thị Mai", "0912345678")}
        print(f"   {'':<30} {'as sent':>10} {'gzip':>10}")
        for name, html in pages.items():
            parts = [(name + " (HTML)", html.encode())]
            for url in ASSET.findall(html):
                asset = phone.client.get(url)
                asset.raise_for_status()
                parts.append((f"  {url.rsplit('/', 1)[1]}", asset.content))
            raw = sum(len(data) for _n, data in parts)
            packed = sum(len(gzip.compress(data, 6)) for _n, data in parts)
            for part, data in parts:
                print(f"   {part:<30} {len(data) / 1024:>8.1f} KB {len(gzip.compress(data, 6)) / 1024:>7.1f} KB")
            verdict = "under" if raw / 1024 < TARGET_KB else "OVER"
            print(f"   {name + ', everything':<30} {raw / 1024:>8.1f} KB {packed / 1024:>7.1f} KB  "
                  f"({verdict} the target as sent)")


# --- 2 -----------------------------------------------------------------------------------------------------

def send_to_queue(uploads: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        spoken = Path(folder) / "spoken.wav"
        subprocess.run(["espeak-ng", "-v", "vi", "-w", str(spoken), SENTENCE], check=True, capture_output=True)
        audio = webm(["-i", str(spoken)])
        seconds = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                        str(spoken)], capture_output=True, text=True, check=True).stdout)
    print(f"\n2. Send → review queue: {uploads} takes of {seconds:.1f} s ({len(audio) / 1024:.1f} KB WebM/Opus), "
          "one at a time")
    with served() as api:
        phone = Phone(api.base, api.invite("record", "tyz"))
        phone.join("Lý Thị Mai", "0912345678")
        offer = phone.offer()
        phone.send(offer or {}, audio)  # warm up: the first request loads what every later one reuses
        walls, cpus = [], []
        for _ in range(uploads):
            offer = phone.offer()
            assert offer is not None, "more uploads than recordable messages"
            started, started_cpu = time.perf_counter(), cpu_s()
            answer = phone.send(offer, audio)
            walls.append((time.perf_counter() - started) * 1000)
            cpus.append((cpu_s() - started_cpu) * 1000)
            assert answer["take"]["status"] == "in_review"
    walls.sort()
    p95 = walls[min(len(walls) - 1, round(0.95 * len(walls)) - 1)]
    print(f"   until filed (201): p50 {statistics.median(walls):.0f} ms, p95 {p95:.0f} ms, max {walls[-1]:.0f} ms")
    print(f"   CPU per take: {statistics.mean(cpus):.0f} ms mean (server, client and ffprobe/ffmpeg; "
          f"{statistics.median(cpus):.0f} ms median)")


# --- 3 -----------------------------------------------------------------------------------------------------

def coverage(api: Served) -> dict[str, LanguageCampaign]:
    with api.database.read() as db:
        languages, _speakers = campaign(db, api.crypto)
    return {row.language: row for row in languages}


@dataclass
class Tally:
    takes: int = 0
    repeats: int = 0  # takes of a message someone had already sent a take of (not refused)
    refused: int = 0
    again: int = 0  # takes of a message after a take of it was refused
    dropped: int = 0  # refused on upload: the volunteer's queue full, or the message recorded meanwhile


@dataclass
class Record:
    """What the campaign knows of the takes of one language."""

    tally: Tally
    keys_of: dict[int, str]
    sent: set[str]
    refused: set[str]


def record_round(volunteers: list[Phone], order: list[int], tone: bytes, book: Record) -> bool:
    """Each volunteer, in `order`, sends the message their page offers; a page is opened (its offer read) at
    the volunteer's first turn of the round and then follows each answer's next message, as voice.js does.
    Whether anyone had anything to record."""
    offers: dict[int, dict[str, str] | None] = {}
    anything = False
    for index in order:
        phone = volunteers[index]
        if index not in offers:
            offers[index] = phone.offer()
        offer = offers[index]
        if offer is None:
            continue
        anything = True
        status, body = phone.try_send(offer, tone)
        if status != 201:  # the page drops it too, and says why
            book.tally.dropped += 1
            offers[index] = None if body.get("code") == "takes_waiting_full" else phone.offer()
            continue
        book.tally.takes += 1
        book.tally.repeats += offer["key"] in book.sent and offer["key"] not in book.refused
        book.tally.again += offer["key"] in book.refused
        book.sent.add(offer["key"])
        book.keys_of[body["take"]["id"]] = offer["key"]
        offers[index] = body["next"]
    return anything


def campaign_for(api: Served, language: str, number: int, tone: bytes, *, together: bool) -> Tally:
    """Two volunteers record `language` — at the same time (turn about) or one after the other (each a
    round of ROUND takes) — and after every round the reviewer decides what waits: every tenth decision a
    refusal (never of a message refused before: its second take is accepted), the rest accepted."""
    volunteers = [Phone(api.base, api.invite("record", language)) for _ in SPEAKERS]
    for index, (phone, name) in enumerate(zip(volunteers, SPEAKERS, strict=True)):
        phone.join(name, f"09{number}{index}000111")
    reviewer = Phone(api.base, api.invite("review", language))
    reviewer.join("Lý Thị Mai", f"09{number}9000222")
    book, decided = Record(Tally(), {}, set(), set()), 0
    people = range(len(volunteers))
    order = [i for _ in range(ROUND) for i in people] if together else [i for i in people for _ in range(ROUND)]
    while record_round(volunteers, order, tone, book):
        for take_id in reviewer.queue():
            key = book.keys_of[take_id]
            if key not in book.refused and (decided := decided + 1) % 10 == 0:
                reviewer.decide(take_id, "reject", "Đọc chưa rõ, xin thu lại")
                book.refused.add(key)
                book.tally.refused += 1
            else:
                reviewer.decide(take_id, "accept")
    return book.tally


def run_campaign(languages: list[str], *, together: bool) -> None:
    tone = webm(["-f", "lavfi", "-i", "sine=frequency=220:sample_rate=48000"], seconds=1.0)
    with served() as api:
        before = coverage(api)
        started, started_cpu = time.perf_counter(), cpu_s()
        done = {language: campaign_for(api, language, number, tone, together=together)
                for number, language in enumerate(languages)}
        elapsed, cpu = time.perf_counter() - started, cpu_s() - started_cpu
        after = coverage(api)
    print(f"   {'language':<9} {'takes':>6} {'repeats':>8} {'refused':>8} {'again':>6} {'dropped':>8}   "
          f"{'recorded before → after':>24}   {'needed before → after':>21}")
    for language, tally in done.items():
        old, new = before[language], after[language]
        needed_before = old.missing + old.stale + old.placeholder
        needed_after = new.missing + new.stale + new.placeholder
        print(f"   {language:<9} {tally.takes:>6} {tally.repeats:>8} {tally.refused:>8} {tally.again:>6} "
              f"{tally.dropped:>8}   {old.recorded:>10} → {new.recorded:>3} of {new.total:<3}   "
              f"{needed_before:>14} → {needed_after:<3}")
    takes = sum(tally.takes for tally in done.values())
    print(f"   {takes} takes uploaded and reviewed in {elapsed:.0f} s ({elapsed / takes * 1000:.0f} ms and "
          f"{cpu / takes * 1000:.0f} ms CPU per take, review included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=30)
    args = parser.parse_args()
    page_weight()
    send_to_queue(args.uploads)
    print(f"\n3. A campaign, 1-second tones: per language two volunteers record every recordable message, "
          f"a reviewer decides after every round ({ROUND} takes each), refusing 1 in 10; a refused message is "
          "recorded again once.\n   a) one volunteer after the other, every minority language:")
    run_campaign(list(LANGUAGES[1:]), together=False)
    print("   b) both at the same time, turn about (each page following its own answers), one language:")
    run_campaign([LANGUAGES[1]], together=True)


if __name__ == "__main__":
    main()
