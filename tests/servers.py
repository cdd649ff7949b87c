"""Start the real API as a subprocess, the way production runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import TEST_SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_env(database_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET}


@contextmanager
def running_api(database_url: str, *, workers: int = 1, demo: bool = False) -> Iterator[str]:
    env = api_env(database_url)
    subprocess.run([sys.executable, "-m", "api", "migrate"], env=env, check=True, capture_output=True)
    if demo:
        for step in ("seed-content", "seed-demo"):
            subprocess.run([sys.executable, "-m", "api", step], env=env, check=True, capture_output=True)
    port = free_port()
    # Output goes to a file, not a pipe: an unread pipe fills up and blocks the server.
    log = tempfile.NamedTemporaryFile(prefix="api-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "api", "serve", "--port", str(port), "--workers", str(workers),
         "--log-level", "warning", "--no-access-log"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/v1/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"API did not start:\n{Path(log.name).read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        output = Path(log.name).read_text(errors="replace")
        Path(log.name).unlink()
        if output.strip():
            print(f"--- API server output ---\n{output}")
    # Reached only when the test body passed: a server-side traceback still fails it.
    assert "Traceback" not in output, "the API server logged an unhandled error (output above)"
