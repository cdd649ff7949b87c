"""Booking throughput and latency against a real API server, and the overbooking count.

Starts `python -m api serve` on a fresh database (SQLite file by default, or the local
PostgreSQL with --database postgres), creates sessions whose seats run out during the run,
then sends bookings from N concurrent keep-alive clients (a minimal asyncio HTTP/1.1 client,
so the load generator costs little CPU on this 2-core machine). Prints bookings/s,
p50/p95/p99 latency, status counts, 5xx count and how many sessions were overbooked.

Each booking comes as our action server sends it: a service credential and a chat identity the
gateway signed, one chat and one address per resident (signed before the run, so the load
generator does not pay for it); the checks behind them (credential, signature, per-chat and
per-address quotas, identity gate, phone rule, burst count) are part of what is measured.

    .venv/bin/python bench/booking.py [--database sqlite|postgres] [--requests 6000]
                                      [--concurrency 16] [--workers 1] [--behind-nginx]

--workers N starts uvicorn with N workers sharing one socket; with --behind-nginx, N API processes
on ports of their own behind nginx (least_conn), as the production profile runs them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from api.bookings.models import Booking  # noqa: E402
from api.communes.models import Commune, Province, Site  # noqa: E402
from api.core.config import Settings  # noqa: E402
from api.core.db import Database  # noqa: E402
from api.sessions.models import ExamSession  # noqa: E402
from common.chat_identity import HEADER, sign  # noqa: E402
from common.keys import chat_identity_key  # noqa: E402

SECRET = "bench-secret-not-for-production-000000000"
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def prepare_database(kind: str, workdir: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", None
    schema = f"ksk_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return f"{POSTGRES}?options=-csearch_path%3D{schema}", schema


def seed(url: str, sessions: int, capacity: int) -> tuple[list[int], int]:
    db = Database.from_settings(Settings(database_url=url, secret_key=SECRET))
    start = datetime.now(UTC) + timedelta(days=3)
    with db.write() as s:
        commune = Commune(province=Province(code="20", name="Lạng Sơn"), code="BENCH", name="Mẫu Sơn",
                          kind="xa", search_key="mau son", compact_key="mauson")
        site = Site(commune=commune, name="Trạm Y tế xã Mẫu Sơn", kind="station")
        exams = [ExamSession(site=site, starts_at=start + timedelta(days=i), ends_at=start + timedelta(days=i, hours=4),
                             capacity=capacity, booked=0, waitlisted=0, target_groups=[], note="", status="open")
                 for i in range(sessions)]
        s.add_all(exams)
        s.flush()
        ids, commune_id = [e.id for e in exams], commune.id
    db.dispose()
    return ids, commune_id


def booking_body(index: int, session_id: int, commune_id: int) -> bytes:
    year = 1940 + index % 60
    return json.dumps({
        "session_id": session_id,
        "resident": {"full_name": "Hoàng Văn Bình", "birth_date": f"{year}-06-15",
                     "cccd": f"003{0 if year < 2000 else 2}{year % 100:02d}{index:06d}",  # 003: no such province
                     "phone": f"09{index:08d}", "commune_id": commune_id},
        "channel": "web",
    }).encode()


def origin_headers(index: int, credential: str) -> str:
    chat = sign(chat_identity_key(SECRET.encode()), channel="web", sender=f"bench-{index}",
                address=f"198.18.{index // 250 % 250}.{index % 250}", now=time.time())
    return f"Authorization: Bearer {credential}\r\n{HEADER}: {chat}\r\n"


async def client_loop(port: int, jobs: asyncio.Queue[tuple[int, bytes]], results: list[tuple[int, float]]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            try:
                index, body = jobs.get_nowait()
            except asyncio.QueueEmpty:
                return
            head, body = body.split(b"\x00", 1)
            request = (
                f"POST /api/v1/bookings HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                f"Idempotency-Key: bench-{index:08d}\r\nContent-Length: {len(body)}\r\n"
            ).encode() + head + b"\r\n\r\n" + body
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            results.append((int(status_line.split()[1]), time.perf_counter() - started))
    finally:
        writer.close()


async def load(port: int, bodies: list[bytes], concurrency: int) -> tuple[list[tuple[int, float]], float]:
    jobs: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for item in enumerate(bodies):
        jobs.put_nowait(item)
    results: list[tuple[int, float]] = []
    started = time.perf_counter()
    await asyncio.gather(*(client_loop(port, jobs, results) for _ in range(concurrency)))
    return results, time.perf_counter() - started


def nginx_conf(directory: Path, port: int, upstreams: list[int]) -> str:
    """The production profile's way to the API (deploy/nginx.conf.j2), alone."""
    servers = "".join(f"server 127.0.0.1:{p};" for p in upstreams)
    conf = directory / "nginx.conf"
    conf.write_text(
        f"{'user root; ' if os.geteuid() == 0 else ''}worker_processes 1; pid {directory}/nginx.pid; daemon off; "
        f"error_log {directory}/nginx-error.log warn; events {{ worker_connections 1024; }} "
        f"http {{ access_log off; client_body_temp_path {directory}/body; proxy_temp_path {directory}/proxy; "
        f"proxy_http_version 1.1; proxy_set_header Connection \"\"; "
        f"upstream api {{ least_conn; {servers} keepalive 32; }} "
        f"server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://api; }} }} }}\n")
    return str(conf)


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the API server exited during start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("the API server did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--capacity", type=int, default=250, help="seats per session (runs out mid-run)")
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--behind-nginx", action="store_true", help="N processes behind nginx (production)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url, schema = prepare_database(args.database, Path(tmp))
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET}
        py = sys.executable
        subprocess.run([py, "-m", "api", "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
        session_ids, commune_id = seed(url, args.sessions, args.capacity)
        credential = subprocess.run([py, "-m", "api", "create-service-credential", "--name", "bench"], env=env,
                                    cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
        # Each job carries its extra header lines, a NUL, then the JSON body.
        bodies = [origin_headers(i, credential).rstrip("\r\n").encode() + b"\x00"
                  + booking_body(i, session_ids[i % len(session_ids)], commune_id) for i in range(args.requests)]
        serve = [py, "-m", "api", "serve", "--log-level", "warning", "--no-access-log"]
        if args.behind_nginx:
            ports = [args.port + 1 + i for i in range(args.workers)]
            servers = [subprocess.Popen([*serve, "--port", str(port)], env=env, cwd=ROOT) for port in ports]
            servers.append(subprocess.Popen(["/usr/sbin/nginx", "-c", nginx_conf(Path(tmp), args.port, ports),
                                             "-p", tmp]))
        else:
            ports = [args.port]
            servers = [subprocess.Popen([*serve, "--port", str(args.port), "--workers", str(args.workers)],
                                        env=env, cwd=ROOT)]
        try:
            for port, server in zip(ports, servers, strict=False):
                wait_ready(port, server)
            wait_ready(args.port, servers[-1])
            # A short warm-up on throw-away sessions' worth of requests is not needed: the first
            # requests are part of what residents experience, so they are measured too.
            results, elapsed = asyncio.run(load(args.port, bodies, args.concurrency))
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=15)

        db = Database.from_settings(Settings(database_url=url, secret_key=SECRET))
        with db.read() as s:
            overbooked = 0
            for exam in s.scalars(select(ExamSession)):
                confirmed = s.scalar(select(func.count()).where(Booking.session_id == exam.id,
                                                                 Booking.status == "confirmed"))
                if exam.booked > exam.capacity or confirmed != exam.booked or (confirmed or 0) > exam.capacity:
                    overbooked += 1
            outcome = dict(s.execute(select(Booking.status, func.count()).group_by(Booking.status)).all())
        db.dispose()
        if schema:
            admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    latencies = sorted(latency for _, latency in results)
    statuses = Counter(status for status, _ in results)

    def pct(p: float) -> float:
        return latencies[min(int(p * len(latencies)), len(latencies) - 1)] * 1000

    print(f"database={args.database} workers={args.workers}{' behind nginx' if args.behind_nginx else ''} "
          f"concurrency={args.concurrency} "
          f"requests={len(results)} seats={args.sessions * args.capacity}")
    print(f"throughput: {len(results) / elapsed:,.0f} bookings/s over {elapsed:.2f} s")
    print(f"latency ms: p50 {pct(0.50):.1f}  p95 {pct(0.95):.1f}  p99 {pct(0.99):.1f}  "
          f"mean {statistics.fmean(latencies) * 1000:.1f}")
    print(f"HTTP statuses: {dict(statuses)}   5xx: {sum(v for k, v in statuses.items() if k >= 500)}")
    print(f"bookings: {outcome}")
    print(f"overbooked sessions: {overbooked}")


if __name__ == "__main__":
    main()
