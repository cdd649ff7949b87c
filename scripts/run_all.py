"""Starts every service of the assistant on this machine; Ctrl-C stops them all.

Run by `make run` in the main environment, after scripts/setup.sh. Prepares the embedded
database (migrate + demo data), then supervises the services: their output is shown with a
name prefix, and if one dies the others are stopped too, so nothing is left half running.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
RASA = str(ROOT / ".venv-rasa" / "bin" / "rasa")
MODEL = ROOT / "models" / "bot.tar.gz"


@dataclass
class Service:
    name: str
    command: list[str]
    port: int
    env: dict[str, str]


def services() -> list[Service]:
    host = os.environ.get("HOST", "127.0.0.1")
    api_port = int(os.environ.get("API_PORT", "8000"))
    actions_port = int(os.environ.get("ACTIONS_PORT", "5055"))
    rasa_port = int(os.environ.get("RASA_PORT", "5005"))
    gateway_port = int(os.environ.get("GATEWAY_PORT", "8080"))
    return [
        Service("api", [PY, "-m", "api", "serve", "--host", host, "--port", str(api_port)], api_port, {}),
        Service("actions", [RASA, "run", "actions", "--actions", "actions", "--port", str(actions_port)],
                actions_port, {"API_URL": f"http://127.0.0.1:{api_port}"}),
        # Rasa's HTTP API shows whole conversations: it listens on this machine only and wants a token
        # (RASA_TOKEN, or a random one per run); residents reach Rasa through its channel webhooks.
        Service("rasa", [RASA, "run", "--enable-api", "--auth-token", rasa_token(), "--interface", "127.0.0.1",
                         "--model", str(MODEL), "--port", str(rasa_port),
                         "--endpoints", "bot/endpoints.yml", "--credentials", "bot/credentials.yml"],
                rasa_port, {"ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook",
                 "API_URL": f"http://127.0.0.1:{api_port}"}),
        # Web chat always; Telegram and Zalo when their credentials are in the environment.
        Service("gateway", [PY, "-m", "bot.gateway", "--host", host, "--port", str(gateway_port)], gateway_port,
                {"RASA_URL": f"http://127.0.0.1:{rasa_port}", "API_URL": f"http://127.0.0.1:{api_port}"}),
        # Reminders: hands due ones to the gateway (no port of its own).
        Service("scheduler", [PY, "-m", "api", "scheduler"], 0,
                {"GATEWAY_INTERNAL_URL": f"http://127.0.0.1:{gateway_port}",
                 "PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}"}),
    ]


def rasa_token() -> str:
    return os.environ.get("RASA_TOKEN") or secrets.token_urlsafe(24)


def prepare() -> None:
    # purge: personal data past its retention period goes before anything starts (also run it daily).
    for step in (["migrate"], ["seed-content"], ["seed-demo"], ["purge"]):
        subprocess.run([PY, "-m", "api", *step], cwd=ROOT, check=True)


def pump(name: str, process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    for line in iter(process.stdout.readline, b""):
        sys.stdout.write(f"[{name}] {line.decode(errors='replace')}")
        sys.stdout.flush()


def main() -> int:
    prepare()
    running: list[tuple[Service, subprocess.Popen[bytes]]] = []
    stopping = threading.Event()

    def stop(*_args: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for service in services():
        process = subprocess.Popen(service.command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True, env={**os.environ, **service.env})
        threading.Thread(target=pump, args=(service.name, process), daemon=True).start()
        running.append((service, process))
        if service.port:
            print(f"==> {service.name}: http://127.0.0.1:{service.port}", flush=True)
    ports = {service.name: service.port for service, _process in running}
    api_port = ports["api"]
    print(f"==> Tài liệu API: http://127.0.0.1:{api_port}/docs — nhấn Ctrl-C để dừng tất cả.", flush=True)
    print(f"==> Trò chuyện trên web: http://127.0.0.1:{ports['gateway']}/chat", flush=True)
    print(f"==> Soạn nội dung (biên tập viên, quản trị): http://127.0.0.1:{api_port}/studio", flush=True)

    exit_code = 0
    while not stopping.is_set():
        for service, process in running:
            if process.poll() is not None:
                print(f"==> {service.name} đã dừng (mã {process.returncode}); dừng các dịch vụ khác.", flush=True)
                exit_code = process.returncode or 1
                stopping.set()
        time.sleep(0.3)

    for _service, process in running:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for _service, process in running:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    print("==> Đã dừng tất cả dịch vụ.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
