"""Starts every service of the assistant on this machine; Ctrl-C stops them all.

    scripts/run_all.py                        embedded defaults (`make run`): SQLite, one of each
    scripts/run_all.py --profile production   PostgreSQL, Redis, nginx, several replicas
                                              (`make run-production`; settings in deploy/production.env)

Run in the main environment, after scripts/setup.sh. Prepares the databases (migrate + demo data),
then supervises the services, their output shown with a name prefix. Embedded: if one dies, the
others are stopped too, so nothing is left half running. Production: a replica that dies is started
again (as systemd or Kubernetes would), while nginx sends its traffic to the others; only a replica
that keeps dying at start stops everything.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
RASA = str(ROOT / ".venv-rasa" / "bin" / "rasa")
RASA_PY = str(ROOT / ".venv-rasa" / "bin" / "python")
MODEL = ROOT / "models" / "bot.tar.gz"
PRODUCTION_ENV = ROOT / "deploy" / "production.env"
# A replica that dies this many times, each within a minute of its start, is not started again.
MAX_QUICK_DEATHS = 5


@dataclass
class Service:
    name: str
    command: list[str]
    port: int
    env: dict[str, str]
    restart: bool = False
    deaths: list[float] = field(default_factory=list)
    # Behind the balancer: restarted, it is kept out of it until this URL answers 200 (its readiness).
    ready_url: str | None = None


@dataclass
class Profile:
    services: list[Service]
    links: list[str]  # what to print once started: (label, URL) lines
    # Rewrites the balancer's configuration with these ports taken out of it (production: nginx).
    balance: Callable[[set[int]], None] | None = None


def setting(name: str, default: str, config: dict[str, str] | None = None) -> str:
    """The environment wins over the profile's file, which wins over the default."""
    return os.environ.get(name) or (config or {}).get(name) or default


# Rasa's HTTP API shows whole conversations: it listens on this machine only and wants a token
# (RASA_TOKEN, or a random one per run, the same for every replica); residents reach Rasa through
# the gateway's channel.
RASA_TOKEN = os.environ.get("RASA_TOKEN") or secrets.token_urlsafe(24)


def rasa_command(port: int, endpoints: str) -> list[str]:
    # "--auth-token=…" in one argument: a random token can start with "-", which argparse would take
    # for an option (Rasa then refuses to start, about one run in 64).
    return [RASA, "run", "--enable-api", f"--auth-token={RASA_TOKEN}", "--interface", "127.0.0.1",
            "--model", str(MODEL), "--port", str(port), "--endpoints", endpoints,
            "--credentials", "bot/credentials.yml"]


def actions_command(port: int) -> list[str]:
    return [RASA, "run", "actions", "--actions", "actions", "--port", str(port)]


# rasa_sdk listens on all interfaces unless told otherwise; actions are for Rasa on this machine only.
ACTIONS_HOST = {"SANIC_HOST": "127.0.0.1"}


# --- embedded: SQLite, one process each ---

def embedded() -> Profile:
    host = os.environ.get("HOST", "127.0.0.1")
    api_port = int(setting("API_PORT", "8000"))
    actions_port = int(setting("ACTIONS_PORT", "5055"))
    rasa_port = int(setting("RASA_PORT", "5005"))
    gateway_port = int(setting("GATEWAY_PORT", "8080"))
    api, gateway = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{gateway_port}"
    migrate_api({})
    credential = service_credential({})
    return Profile([
        Service("api", [PY, "-m", "api", "serve", "--host", host, "--port", str(api_port)], api_port, {}),
        Service("actions", actions_command(actions_port), actions_port,
                {**ACTIONS_HOST, "API_URL": api, **credential}),
        Service("rasa", rasa_command(rasa_port, "bot/endpoints.yml"), rasa_port,
                {"ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook", "API_URL": api, **credential}),
        # Web chat always; Telegram and Zalo when their credentials are in the environment.
        Service("gateway", [PY, "-m", "gateway", "--host", host, "--port", str(gateway_port)], gateway_port,
                {"RASA_URL": f"http://127.0.0.1:{rasa_port}", "API_URL": api}),
        # Reminders and announcements: hands due ones to the gateway (no port of its own).
        Service("scheduler", [PY, "-m", "api", "scheduler"], 0,
                {"GATEWAY_INTERNAL_URL": gateway, "PUBLIC_BASE_URL": api}),
    ], links(api, gateway))


def links(api: str, public: str) -> list[str]:
    return [f"Tài liệu API: {api}/docs — nhấn Ctrl-C để dừng tất cả.",
            f"Trò chuyện trên web: {public}/chat",
            f"Soạn nội dung (biên tập viên, quản trị): {api}/studio"]


def migrate_api(env: dict[str, str]) -> None:
    # purge: personal data past its retention period goes before anything starts (also run it daily).
    for step in (["migrate"], ["seed-content"], ["seed-demo"], ["purge"]):
        subprocess.run([PY, "-m", "api", *step], cwd=ROOT, check=True, env={**os.environ, **env})


# The API answers resident requests (bookings, lookups, data rights, reminders, speech…) only to our
# own services. A fresh credential each start, the previous ones revoked: it lives only in the
# environment of the processes that use it — Rasa (the actions inside it, and its NLG asking for speech)
# and, with ACTIONS_IN_PROCESS=0, the action server. Its name is the action server's, for continuity.
SERVICE_NAME = "action-server"


def service_credential(env: dict[str, str]) -> dict[str, str]:
    """{"API_SERVICE_CREDENTIAL": …} for the services that call the API on a resident's behalf."""
    result = subprocess.run([PY, "-m", "api", "create-service-credential", "--name", SERVICE_NAME, "--replace"],
                            cwd=ROOT, check=True, capture_output=True, text=True, env={**os.environ, **env})
    credential = result.stdout.strip()
    if not credential or len(credential.split()) != 1:
        raise SystemExit("`python -m api create-service-credential` không in ra khóa dịch vụ.")
    return {"API_SERVICE_CREDENTIAL": credential}


# --- production: PostgreSQL, Redis, nginx, replicas ---

def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


def production(env_file: Path) -> Profile:
    config = read_env_file(env_file)

    def get(name: str, default: str = "") -> str:
        return setting(name, default, config)

    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("Chưa có nginx: chạy `make setup-system` (apt-get install nginx).")
    public_host, public_port = get("PUBLIC_HOST", "127.0.0.1"), int(get("PUBLIC_PORT", "8080"))
    public = f"http://{public_host}:{public_port}"
    api_port, actions_port = int(get("API_PORT", "8000")), int(get("ACTIONS_PORT", "5055"))
    api_ports = [int(get("API_BASE_PORT", "8001")) + i for i in range(int(get("API_WORKERS", "2")))]
    balancer_port = int(get("RASA_BALANCER_PORT", "5005"))
    rasa_ports = [int(get("RASA_BASE_PORT", "5101")) + i for i in range(int(get("RASA_REPLICAS", "2")))]
    gateway_ports = [int(get("GATEWAY_BASE_PORT", "8101")) + i for i in range(int(get("GATEWAY_REPLICAS", "2")))]
    run_dir = Path(get("RUN_DIR", str(ROOT / "var" / "production")))
    api, balancer = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{balancer_port}"

    server, prefix = get("POSTGRES_URL", "postgresql://127.0.0.1:5432").rstrip("/"), get("POSTGRES_DB_PREFIX", "ksk")
    databases = {"api": prefix, "conversations": f"{prefix}_conversations", "gateway": f"{prefix}_gateway"}
    create_databases(server, databases.values())
    api_db = with_driver(f"{server}/{databases['api']}", "psycopg")
    redis = urlsplit(get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    common = {"LOG_FORMAT": get("LOG_FORMAT", "json")}
    # Whose X-Forwarded-For the API and the gateways believe; unset, their default: nginx on this machine.
    trusted = get("TRUSTED_PROXIES")
    proxies = {"TRUSTED_PROXIES": trusted} if trusted else {}
    api_env = {**common, **proxies, "DATABASE_URL": api_db, "GATEWAY_PUBLIC_URL": public,
               "GATEWAY_INTERNAL_URL": public, "PUBLIC_BASE_URL": public}
    # "in-process": bot/action_calls.py's IN_PROCESS, the actions package run inside each replica.
    actions_in_process = get("ACTIONS_IN_PROCESS", "1") == "1"
    action_endpoint = "in-process" if actions_in_process else f"http://127.0.0.1:{actions_port}/webhook"
    rasa_env = {**common, "ACTION_ENDPOINT_URL": action_endpoint, "API_URL": api, "PUBLIC_BASE_URL": public,
                "TRACKER_STORE_URL": f"{server}/{databases['conversations']}",
                "CONVERSATION_PURGE_AT_START": "0", "TICKET_LOCK_LIFETIME": get("TICKET_LOCK_LIFETIME", "10"),
                "REDIS_HOST": redis.hostname or "127.0.0.1", "REDIS_PORT": str(redis.port or 6379),
                "REDIS_LOCK_DB": (redis.path or "/0").strip("/") or "0", "REDIS_PASSWORD": redis.password or ""}
    gateway_env = {**common, **proxies, "RASA_URL": balancer, "API_URL": api, "PUBLIC_URL": public,
                   "GATEWAY_DATABASE_URL": with_driver(f"{server}/{databases['gateway']}", "psycopg"),
                   "GATEWAY_REDIS_URL": get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                   "RASA_IN_FLIGHT": get("RASA_IN_FLIGHT", "0")}

    migrate_api(api_env)
    credential = service_credential(api_env)
    # The conversation tables, and old conversations purged, once rather than by every replica.
    subprocess.run([RASA_PY, "-m", "bot.tracker_store", "purge"], cwd=ROOT, check=True,
                   env={**os.environ, **rasa_env})
    # Prometheus counters of the API's workers are summed from files in this directory.
    metrics_dir = run_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    api_env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    nginx_values = {"public_host": public_host, "public_port": public_port, "api_ports": api_ports,
                    "api_balancer_port": api_port, "gateway_ports": gateway_ports, "rasa_ports": rasa_ports,
                    "rasa_balancer_port": balancer_port}
    write_nginx_conf(run_dir, rasa_down=[], **nginx_values)

    services = [
        *(Service(f"api-{i + 1}", [PY, "-m", "api", "serve", "--host", "127.0.0.1", "--port", str(port)], port,
                  api_env, restart=True) for i, port in enumerate(api_ports)),
        *([] if actions_in_process else [
            Service("actions", actions_command(actions_port), actions_port,
                    {**common, **ACTIONS_HOST, "API_URL": api, "PUBLIC_BASE_URL": public, **credential,
                     "ACTION_SERVER_SANIC_WORKERS": get("ACTION_WORKERS", "2")}, restart=True)]),
        *(Service(f"rasa-{i + 1}", rasa_command(port, "deploy/endpoints.yml"), port, {**rasa_env, **credential},
                  restart=True, ready_url=f"http://127.0.0.1:{port}/webhooks/gateway/")
          for i, port in enumerate(rasa_ports)),
        *(Service(f"gateway-{i + 1}", [PY, "-m", "gateway", "--host", "127.0.0.1", "--port", str(port)], port,
                  gateway_env, restart=True) for i, port in enumerate(gateway_ports)),
        Service("scheduler", [PY, "-m", "api", "scheduler"], 0, api_env, restart=True),
        Service("nginx", [nginx, "-c", str(run_dir / "nginx.conf"), "-p", str(run_dir)], public_port, {},
                restart=True),
    ]
    return Profile(services, links(public, public),
                   balance=lambda down: write_nginx_conf(run_dir, rasa_down=sorted(down), **nginx_values))


def with_driver(url: str, driver: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}+{driver}://{rest}"


def create_databases(server: str, names: object) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        existing = {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
        for name in names:  # type: ignore[attr-defined]
            if name not in existing:
                connection.execute(f'CREATE DATABASE "{name}"')


def write_nginx_conf(run_dir: Path, **values: object) -> None:
    from jinja2 import Environment, FileSystemLoader

    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (run_dir / temp).mkdir(parents=True, exist_ok=True)
    template = Environment(loader=FileSystemLoader(ROOT / "deploy"), keep_trailing_newline=True).get_template(
        "nginx.conf.j2")
    # Written aside and renamed: nginx (re)reading it meanwhile sees the old file or the new, never half.
    written = run_dir / "nginx.conf.new"
    written.write_text(template.render(run_dir=run_dir, run_as_root=os.geteuid() == 0, **values), encoding="utf-8")
    os.replace(written, run_dir / "nginx.conf")


# --- supervision ---

def pump(name: str, process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    for line in iter(process.stdout.readline, b""):
        sys.stdout.write(f"[{name}] {line.decode(errors='replace')}")
        sys.stdout.flush()


def start(service: Service) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(service.command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True, env={**os.environ, **service.env})
    threading.Thread(target=pump, args=(service.name, process), daemon=True).start()
    return process


# How long a just-started nginx is given before it is told to reload.
NGINX_SETTLES_S = 2.0


def supervise(profile: Profile) -> int:
    stopping = threading.Event()

    def stop(*_args: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    running: dict[str, tuple[Service, subprocess.Popen[bytes], float]] = {}
    for service in profile.services:
        running[service.name] = (service, start(service), time.monotonic())
        if service.port:
            print(f"==> {service.name}: http://127.0.0.1:{service.port}", flush=True)
    for line in profile.links:
        print(f"==> {line}", flush=True)

    # A restarted replica accepts connections while it loads its model, and answers none of them for a
    # minute or more; nginx's passive checks never learn it (the gateway gives up on an attempt before
    # nginx's own timeout), so it would keep getting messages that each wait out the gateway's timeout.
    # Like a Kubernetes readiness probe: out of the balancer from its restart until it says it is ready.
    down: set[int] = set()
    balancing = threading.Lock()

    def rebalance(service: Service, ready: bool) -> None:
        if profile.balance is None:
            return
        with balancing:
            (down.discard if ready else down.add)(service.port)
            profile.balance(set(down))
            nginx = running.get("nginx")
            if nginx is not None and nginx[1].poll() is None:
                # An nginx started this instant has not set its signal handlers yet (SIGHUP would kill it);
                # one started since reads the file as it is now anyway.
                time.sleep(max(0.0, nginx[2] + NGINX_SETTLES_S - time.monotonic()))
                nginx[1].send_signal(signal.SIGHUP)  # reload: in-flight requests finish on the old workers

    def readmit(service: Service, process: subprocess.Popen[bytes]) -> None:
        assert service.ready_url is not None
        while not stopping.is_set() and process.poll() is None:
            try:
                ready = httpx.get(service.ready_url, timeout=2).status_code == 200
            except httpx.HTTPError:
                ready = False
            if ready:
                rebalance(service, ready=True)
                print(f"==> {service.name} đã sẵn sàng; nhận tin nhắn trở lại.", flush=True)
                return
            time.sleep(1)

    exit_code = 0
    while not stopping.is_set():
        for name, (service, process, started) in list(running.items()):
            if process.poll() is None:
                continue
            now = time.monotonic()
            if now - started < 60:
                service.deaths.append(now)
            if service.restart and len(service.deaths) < MAX_QUICK_DEATHS:
                print(f"==> {name} đã dừng (mã {process.returncode}); khởi động lại.", flush=True)
                if service.ready_url:
                    rebalance(service, ready=False)
                running[name] = (service, start(service), now)
                if service.ready_url:
                    threading.Thread(target=readmit, args=(service, running[name][1]), daemon=True).start()
                continue
            print(f"==> {name} đã dừng (mã {process.returncode}); dừng các dịch vụ khác.", flush=True)
            exit_code = process.returncode or 1
            stopping.set()
        time.sleep(0.3)

    processes = [process for _service, process, _started in running.values()]
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    print("==> Đã dừng tất cả dịch vụ.", flush=True)
    return exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chạy toàn bộ trợ lý trên máy này.")
    parser.add_argument("--profile", choices=["embedded", "production"], default="embedded")
    parser.add_argument("--env-file", type=Path, default=PRODUCTION_ENV, help="cấu hình của hồ sơ production")
    args = parser.parse_args(argv)
    profile = production(args.env_file) if args.profile == "production" else embedded()
    return supervise(profile)


if __name__ == "__main__":
    sys.exit(main())
