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

from common.chat_identity import METADATA_KEY, sign
from common.keys import chat_identity_key
from tests.support.env import IN_CI, ROOT, TEST_SECRET

# A test's request to a server on this machine: its timeout detects a hang, it is not a latency check.
# httpx's default of 5 s was once exceeded by a refusal that takes milliseconds, on a loaded CI host.
PATIENT_S = 30.0


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
def running_process(command: list[str], *, env: dict[str, str], ready_url: str, timeout_s: float = 30,
                    cwd: Path = ROOT) -> Iterator[ProcessOutput]:
    """Runs `command` (in `cwd`: this checkout) until the block ends, once `ready_url` answers 200; its
    output is kept.

    Output goes to a file, not a pipe: an unread pipe fills up and blocks the server.
    """
    output = ProcessOutput()
    log = tempfile.NamedTemporaryFile(prefix="server-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
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
                logs: list[ProcessOutput] | None = None, audio_dir: Path | None = None,
                root: Path = ROOT) -> Iterator[str]:
    """The API on a free port. With `logs`, it logs as production does (info, access log) and its
    output is added there (readable while it runs through `log_path`). `root`: see `running_assistant`."""
    env = {**api_env(database_url, audio_dir), **checkout_env(root)}
    steps = ["migrate", *(["seed-content", "seed-demo"] if demo else [])]
    for step in steps:
        subprocess.run([sys.executable, "-m", "api", step], env=env, check=True, capture_output=True, cwd=root)
    if demo and checkout_env(root):
        _forget_demo_admin(database_url, env, root)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "api", "serve", "--port", str(port), "--workers", str(workers)]
    if logs is None:
        command += ["--log-level", "warning", "--no-access-log"]
    with running_process(command, env=env, ready_url=f"{base}/api/v1/ready", cwd=root) as output:
        if logs is not None:
            logs.append(output)
        yield base
    if logs is None and output.text.strip():
        print(f"--- API server output ---\n{output.text}")
    # Reached only when the test body passed: a server-side traceback still fails it.
    assert "Traceback" not in output.text, "the API server logged an unhandled error (output above)"


def _forget_demo_admin(database_url: str, env: dict[str, str], root: Path) -> None:
    """Another checkout is only read: the demo admin's password file seed-demo left in its var/ goes
    (asked of that checkout's own code where it is), and var/ with it when nothing else is there."""
    path = Path(subprocess.run(
        [sys.executable, "-c", "import sys; from api.demo import demo_admin_file; print(demo_admin_file(sys.argv[1]))",
         database_url], env=env, cwd=root, check=True, capture_output=True, text=True).stdout.strip())
    path.unlink(missing_ok=True)
    if path.parent.is_dir() and not any(path.parent.iterdir()):
        path.parent.rmdir()


def service_credential(database_url: str, audio_dir: Path | None = None, *, root: Path = ROOT) -> str:
    """A credential for our action server (and Rasa's NLG), made the way scripts/run_all.py makes it:
    the API's CLI prints it and nothing else."""
    result = subprocess.run([sys.executable, "-m", "api", "create-service-credential", "--name", "action-server",
                             "--replace"], env={**api_env(database_url, audio_dir), **checkout_env(root)},
                            check=True, capture_output=True, text=True, cwd=root)
    credential = result.stdout.strip()
    assert credential.startswith("ksk_svc_"), "create-service-credential printed no credential"
    return credential


def service_headers(assistant: dict[str, str], *, verifier: str | None = None) -> dict[str, str]:
    """Headers that make a test's own request to the API count as our action server's; a booking by
    code then also wants its second factor (the phone's last 3 digits or the birth date YYYY-MM-DD)."""
    headers = {"Authorization": f"Bearer {assistant['credential']}"}
    if verifier:
        headers["X-Booking-Verifier"] = verifier
    return headers


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


def model_path(root: Path = ROOT) -> Path:
    """The trained model of the checkout at `root` (`make train` writes it)."""
    return root / "models" / "bot.tar.gz"


RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
MODEL = model_path()


def checkout_env(root: Path) -> dict[str, str]:
    """For another checkout run with this one's environments: its packages first on the path (this
    checkout's editable install would answer otherwise), and no bytecode written into it. Nothing for
    this checkout."""
    if root.resolve() == ROOT.resolve():
        return {}
    return {"PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}


@contextmanager
def running_assistant(workdir: Path, *, logs: list[ProcessOutput] | None = None,
                      root: Path = ROOT, actions_in_process: bool = False) -> Iterator[dict[str, str]]:
    """The API (demo province, SQLite in `workdir`), the action server and Rasa with the trained model,
    everything they write kept in `workdir`. Yields their URLs; with `logs`, the servers log as in
    production and their output is collected there.

    `root`: another checkout (a git worktree with its own `models/bot.tar.gz`) to run instead of this
    one, with this checkout's `.venv` and `.venv-rasa`: its code, its model, its bot/endpoints.yml.
    `actions_in_process`: no action server; Rasa runs the actions package itself (bot/action_calls.py)."""
    actions_port, rasa_port = free_port(), free_port()
    database_url = f"sqlite:///{workdir / 'api.db'}"
    private = {"SECRET_KEY": TEST_SECRET, "CONVERSATION_DB": str(workdir / "conversations.db"),
               "PYTHONUNBUFFERED": "1", **checkout_env(root)}
    outputs = logs if logs is not None else []
    with ExitStack() as stack:
        api = stack.enter_context(running_api(database_url, demo=True, logs=logs, audio_dir=workdir / "audio",
                                              root=root))
        # The actions (and the NLG's speech requests) reach the API's resident endpoints only with it.
        credential = service_credential(database_url, workdir / "audio", root=root)
        private["API_SERVICE_CREDENTIAL"] = credential
        # "in-process": bot/action_calls.py's IN_PROCESS (the Rasa runtime, not importable here), as in
        # scripts/run_all.py.
        action_endpoint = "in-process" if actions_in_process else f"http://127.0.0.1:{actions_port}/webhook"
        if not actions_in_process:
            outputs.append(stack.enter_context(running_process(
                [str(RASA), "run", "actions", "--actions", "actions", "--port", str(actions_port)],
                env={**os.environ, "API_URL": api, **private},
                ready_url=f"http://127.0.0.1:{actions_port}/health",
                timeout_s=240, cwd=root)))
        # Rasa loads TensorFlow and the model before it answers: allow a few minutes on two cores.
        outputs.append(stack.enter_context(running_process(
            [str(RASA), "run", "--enable-api", "--model", str(model_path(root)), "--port", str(rasa_port),
             "--endpoints", "bot/endpoints.yml", "--credentials", "bot/credentials.yml"],
            env={**os.environ, "ACTION_ENDPOINT_URL": action_endpoint, "API_URL": api,
                 **private},
            ready_url=f"http://127.0.0.1:{rasa_port}/status", timeout_s=300, cwd=root)))
        yield {"api": api, "rasa": f"http://127.0.0.1:{rasa_port}", "workdir": str(workdir), "credential": credential}


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
    with running_process([sys.executable, "-m", "gateway", "--port", str(port)], env=env,
                         ready_url=f"http://127.0.0.1:{port}/health"):
        yield f"http://127.0.0.1:{port}"


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
    """One resident message through Rasa's REST channel, with the metadata the gateway sends for a web
    chat: its channel and its chat, signed (the API knows the chat that made a booking by it)."""
    identity = sign(chat_identity_key(TEST_SECRET.encode()), channel="web", sender=sender, now=time.time())
    response = httpx.post(f"{assistant['rasa']}/webhooks/rest/webhook", timeout=60, json={
        "sender": sender, "message": text, "metadata": {"channel": "web", METADATA_KEY: identity}})
    assert response.status_code == 200
    return list(response.json())


def texts(messages: list[dict[str, Any]]) -> str:
    return " | ".join(m.get("text", "") for m in messages)


@dataclass
class Production:
    """A running production profile (scripts/run_all.py --profile production) on free ports."""

    public: str
    rasa_ports: list[int]
    gateway_ports: list[int]
    api: str
    databases: dict[str, str]  # part → SQLAlchemy URL (psycopg)
    output: ProcessOutput
    run_dir: Path  # nginx.conf, nginx's logs

    def log_lines(self, *needles: str) -> list[str]:
        """The supervisor's output lines (every service's, prefixed) that contain one of `needles`."""
        text = Path(self.output.log_path).read_text(errors="replace")
        return [line for line in text.splitlines() if any(needle in line for needle in needles)]

    def rasa_pid(self, port: int) -> int:
        found = subprocess.run(["pgrep", "-f", f"rasa run --enable-api.*--port {port} "], capture_output=True,
                               text=True).stdout.split()
        assert found, f"no Rasa replica on port {port}"
        return int(found[0])


def free_ports(count: int) -> int:
    """The first of `count` consecutive free ports."""
    for _attempt in range(50):
        first = free_port()
        if first + count < 65000 and all(_port_free(first + i) for i in range(count)):
            return first
    raise RuntimeError("no consecutive free ports")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def production_profile(workdir: Path, *, rasa_replicas: int = 2, gateway_replicas: int = 2,
                       api_workers: int = 2, root: Path = ROOT, settings: dict[str, str] | None = None
                       ) -> Iterator[Production]:
    """The production profile on PostgreSQL (databases of its own, dropped afterwards) and Redis (a
    database of this test process's own, flushed), with nginx in front; yields once every replica answers.
    `root`: see `running_assistant`; `settings`: more of the profile's settings (scripts/run_all.py)."""
    import redis
    from sqlalchemy import create_engine, text

    from tests.support.env import POSTGRES_URL, postgres_reachable, redis_test_url

    redis_url = redis_test_url("production")
    missing = postgres_reachable() or _redis_missing(redis_url) or (
        None if Path("/usr/sbin/nginx").exists() else "nginx is not installed (make setup-system)") or (
        None if (model := model_path(root)).exists() and RASA.exists() else f"no trained model at {model} (make train)")
    if missing:
        if IN_CI:
            pytest.fail(f"CI=true and {missing}")
        pytest.skip(missing)
    server = POSTGRES_URL.split("://", 1)[1].rsplit("/", 1)[0]
    prefix = f"ksk_it_{os.getpid()}_{int(time.time()) % 100000}"
    rasa_base, gateway_base = free_ports(rasa_replicas), free_ports(gateway_replicas)
    public, api_port, api_base = free_port(), free_port(), free_ports(api_workers)
    env = {**os.environ, "SECRET_KEY": TEST_SECRET, "TTS_ONLINE": "false", "AUDIO_DIR": str(workdir / "audio"),
           "POSTGRES_URL": f"postgresql://{server}", "POSTGRES_DB_PREFIX": prefix,
           "REDIS_URL": redis_url, "RUN_DIR": str(workdir / "run"),
           "PUBLIC_PORT": str(public), "API_PORT": str(api_port), "API_BASE_PORT": str(api_base),
           "ACTIONS_PORT": str(free_port()),
           "RASA_BALANCER_PORT": str(free_port()), "RASA_BASE_PORT": str(rasa_base),
           "GATEWAY_BASE_PORT": str(gateway_base), "RASA_REPLICAS": str(rasa_replicas),
           "GATEWAY_REPLICAS": str(gateway_replicas), "API_WORKERS": str(api_workers), "LOG_FORMAT": "json",
           # Every simulated resident writes from this machine's one loopback address, which the
           # per-address limits would rightly treat as one crowd: give that one address a crowd's room.
           "BOOKINGS_PER_ADDRESS": "1000", "LOOKUP_ADDRESS_ATTEMPTS": "1000", "RESIDENT_WRITES_PER_ADDRESS": "10000",
           "WEB_MESSAGES_IN_HAND_PER_ADDRESS": "1000", **checkout_env(root), **(settings or {})}
    databases = {part: f"postgresql+psycopg://{server}/{name}" for part, name in
                 (("api", prefix), ("conversations", f"{prefix}_conversations"), ("gateway", f"{prefix}_gateway"))}
    rasa_ports = [rasa_base + i for i in range(rasa_replicas)]
    output = ProcessOutput()
    try:
        with running_process([sys.executable, "scripts/run_all.py", "--profile", "production"], env=env,
                             ready_url=f"http://127.0.0.1:{public}/nginx-health", timeout_s=120, cwd=root) as output:
            profile = Production(f"http://127.0.0.1:{public}", rasa_ports,
                                 [gateway_base + i for i in range(gateway_replicas)], f"http://127.0.0.1:{api_port}",
                                 databases, output, workdir / "run")
            for port in rasa_ports:  # a replica is ready once its channel handles a message
                wait_for(lambda port=port: _rasa_answers(port), timeout_s=240,
                         what=lambda: Path(output.log_path).read_text(errors="replace")[-3000:])
            wait_for(lambda: httpx.get(f"{profile.public}/ready", timeout=5).status_code == 200, timeout_s=30)
            yield profile
    finally:
        # Every service's output, kept beside nginx's logs in the test's directory (pytest keeps the last
        # three runs'), for a failure to be read after the fact.
        (workdir / "supervisor.log").write_text(output.text, encoding="utf-8")
        redis.Redis.from_url(redis_url).flushdb()
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for url in databases.values():
                conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
        admin.dispose()


def _redis_missing(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url).flushdb()
    except redis.RedisError as error:
        return f"Redis not reachable: {type(error).__name__}"
    return None


def _rasa_answers(port: int) -> bool:
    try:
        response = httpx.post(f"http://127.0.0.1:{port}/webhooks/gateway/webhook", timeout=30, json={
            "sender": f"probe-{port}", "message": "/greet", "message_id": f"probe-{time.time()}"})
    except httpx.HTTPError:
        return False
    return response.status_code == 200


@contextmanager
def redis_with_password(password: str) -> Iterator[str]:
    """A Redis of its own on a free port that refuses clients without `password` (a managed Redis);
    yields its URL without the password, as configuration carries it."""
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass", password,
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: _port_taken(port), timeout_s=10, what=lambda: f"redis-server on {port}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
