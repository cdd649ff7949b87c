"""Start real processes for tests: the API as production runs it, and the Rasa-side servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import IN_CI, TEST_SECRET

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_env(database_url: str, audio_dir: Path | None = None) -> dict[str, str]:
    # Google is out of reach here: speech comes from espeak-ng at once instead of after a timeout.
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET, "TTS_ONLINE": "false"}
    if audio_dir is None:  # never the developer's var/audio
        audio_dir = (Path(database_url.removeprefix("sqlite:///")).parent if database_url.startswith("sqlite:///")
                     else Path(tempfile.mkdtemp(prefix="ksk-audio-"))) / "audio"
    env["AUDIO_DIR"] = str(audio_dir)
    return env


@dataclass
class ProcessOutput:
    text: str = ""
    pid: int = 0
    # Where the output is written while the process runs (gone once it stops; then see `text`).
    log_path: str = ""


@contextmanager
def running_process(command: list[str], *, env: dict[str, str], ready_url: str, timeout_s: float = 30
                    ) -> Iterator[ProcessOutput]:
    """Runs `command` until the block ends, once `ready_url` answers 200; its output is kept.

    Output goes to a file, not a pipe: an unread pipe fills up and blocks the server.
    """
    output = ProcessOutput()
    log = tempfile.NamedTemporaryFile(prefix="server-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    output.pid, output.log_path = process.pid, log.name
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = Path(log.name).read_text(errors="replace")[-4000:]
                raise RuntimeError(f"{command[:3]} did not start:\n{tail}")
            time.sleep(0.3)
        yield output
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        output.text = Path(log.name).read_text(errors="replace")
        Path(log.name).unlink()


@contextmanager
def running_api(database_url: str, *, workers: int = 1, demo: bool = False,
                logs: list[ProcessOutput] | None = None, audio_dir: Path | None = None) -> Iterator[str]:
    """The API on a free port. With `logs`, it logs as production does (info, access log) and its
    output is added there (readable while it runs through `log_path`)."""
    env = api_env(database_url, audio_dir)
    steps = ["migrate", *(["seed-content", "seed-demo"] if demo else [])]
    for step in steps:
        subprocess.run([sys.executable, "-m", "api", step], env=env, check=True, capture_output=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "api", "serve", "--port", str(port), "--workers", str(workers)]
    if logs is None:
        command += ["--log-level", "warning", "--no-access-log"]
    with running_process(command, env=env, ready_url=f"{base}/api/v1/ready") as output:
        if logs is not None:
            logs.append(output)
        yield base
    if logs is None and output.text.strip():
        print(f"--- API server output ---\n{output.text}")
    # Reached only when the test body passed: a server-side traceback still fails it.
    assert "Traceback" not in output.text, "the API server logged an unhandled error (output above)"


@contextmanager
def app_in_thread(app: Any) -> Iterator[str]:
    """An ASGI app served by uvicorn in a background thread (local fakes of outside services)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def wait_for(condition: Any, timeout_s: float = 8.0, what: Any = None) -> None:
    """Poll `condition()` until true; on timeout fail with `what()` (what was seen so far)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; seen so far: {what() if what else '-'}")
        time.sleep(0.02)


RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
MODEL = ROOT / "models" / "bot.tar.gz"


@contextmanager
def running_assistant(workdir: Path, *, logs: list[ProcessOutput] | None = None) -> Iterator[dict[str, str]]:
    """The API (demo province, SQLite in `workdir`), the action server and Rasa with the trained model,
    everything they write kept in `workdir`. Yields their URLs; with `logs`, the servers log as in
    production and their output is collected there."""
    actions_port, rasa_port = free_port(), free_port()
    private = {"SECRET_KEY": TEST_SECRET, "CONVERSATION_DB": str(workdir / "conversations.db"),
               "PYTHONUNBUFFERED": "1"}
    outputs = logs if logs is not None else []
    with ExitStack() as stack:
        api = stack.enter_context(running_api(f"sqlite:///{workdir / 'api.db'}", demo=True, logs=logs,
                                              audio_dir=workdir / "audio"))
        outputs.append(stack.enter_context(running_process(
            [str(RASA), "run", "actions", "--actions", "actions", "--port", str(actions_port)],
            env={**os.environ, "API_URL": api, **private},
            ready_url=f"http://127.0.0.1:{actions_port}/health",
            timeout_s=240)))
        # Rasa loads TensorFlow and the model before it answers: allow a few minutes on two cores.
        outputs.append(stack.enter_context(running_process(
            [str(RASA), "run", "--enable-api", "--model", str(MODEL), "--port", str(rasa_port),
             "--endpoints", "bot/endpoints.yml", "--credentials", "bot/credentials.yml"],
            env={**os.environ, "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook", "API_URL": api,
                 **private},
            ready_url=f"http://127.0.0.1:{rasa_port}/status", timeout_s=300)))
        yield {"api": api, "rasa": f"http://127.0.0.1:{rasa_port}", "workdir": str(workdir)}


@contextmanager
def running_gateway(assistant: dict[str, str], **env_vars: str) -> Iterator[str]:
    """The channel gateway in front of a running assistant: the web chat, plus the channels whose
    credentials are given in `env_vars` (none by default)."""
    port = free_port()
    env = {**os.environ, "RASA_URL": assistant["rasa"], "API_URL": assistant["api"], "SECRET_KEY": TEST_SECRET,
           "GATEWAY_DATABASE_URL": f"sqlite:///{Path(assistant['workdir']) / f'gateway-{port}.db'}"}
    for name in ("TELEGRAM_BOT_TOKEN", "ZALO_APP_ID"):
        env.pop(name, None)
    env.update(env_vars)
    with running_process([sys.executable, "-m", "bot.gateway", "--port", str(port)], env=env,
                         ready_url=f"http://127.0.0.1:{port}/health"):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium through chromium-driver (skips, or fails under CI, without them)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not Path("/usr/bin/chromium").exists():
        reason = "Debian chromium is not installed (make setup-system)"
        if IN_CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    # This machine has no internet: without these Chromium keeps trying to reach Google's hosts.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=412,915", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def trained_assistant(workdir: Path, logs: list[ProcessOutput] | None = None) -> Iterator[dict[str, str]]:
    """`running_assistant`, or a skip (a failure under CI) when the model has not been trained."""
    if not MODEL.exists() or not RASA.exists():
        reason = f"no trained model at {MODEL} (run `make train`)"
        if IN_CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    with running_assistant(workdir, logs=logs) as urls:
        yield urls


def say(assistant: dict[str, str], sender: str, text: str) -> list[dict[str, Any]]:
    """One resident message through Rasa's REST channel (as the web chat sends it)."""
    response = httpx.post(f"{assistant['rasa']}/webhooks/rest/webhook", timeout=60,
                          json={"sender": sender, "message": text, "metadata": {"channel": "web"}})
    assert response.status_code == 200
    return list(response.json())


def texts(messages: list[dict[str, Any]]) -> str:
    return " | ".join(m.get("text", "") for m in messages)
