"""The production profile as one command starts it — PostgreSQL, Redis, nginx, two Rasa replicas,
two gateways, two API workers, the actions inside the replicas — under 50 residents booking at once,
with one Rasa replica killed (SIGKILL) in the middle of it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from common.masking import mask_digits
from tests.support.servers import Production, production_profile, wait_for

# Alone: fifty residents at once against two Rasa replicas take both cores; beside another test process
# the replicas' answers outlast the gateway's attempt timeout (seen with `pytest -n 2`).
pytestmark = [pytest.mark.slow, pytest.mark.alone]

RESIDENTS = 50
BUSY = "Hệ thống đang bận"
GIVEN_NAMES = ("An", "Bình", "Chi", "Dũng", "Hoa", "Khánh", "Lan", "Minh", "Nga", "Phúc")


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    with production_profile(tmp_path_factory.mktemp("production")) as running:
        yield running


def resident_script(index: int) -> list[str]:
    """What resident `index` types to book: consent, for themself, name, birth date, CCCD (whose
    digits agree with the birth year), phone, commune; then the first session offered, then yes."""
    year = 1940 + index % 40
    name = f"Nguyễn {GIVEN_NAMES[index % 10]} {GIVEN_NAMES[index // 10]}"
    return ["dat lich kham", "dong y", "cho toi", name, f"0{index % 9 + 1}/03/{year}",
            f"0010{year % 100:02d}{index:06d}", f"09{index:08d}", "huu lien"]


class Resident:
    def __init__(self, public: str, index: int) -> None:
        self.public, self.index = public, index
        self.session = f"load-resident-{index:03d}"
        self.sent: list[str] = []
        self.replies: list[str] = []
        self.waiting_since: float | None = None  # monotonic time the message in flight was sent

    def say(self, client: httpx.Client, message: str) -> list[dict[str, Any]]:
        self.sent.append(message)
        self.waiting_since = time.monotonic()
        response = client.post(f"{self.public}/chat/messages", json={"session_id": self.session, "text": message},
                               timeout=120)
        self.waiting_since = None
        assert response.status_code == 200, (self.index, message, response.status_code, response.text[:200])
        replies = list(response.json()["replies"])
        self.replies.extend(r["text"] for r in replies)
        return replies

    def transcript(self) -> str:
        """The whole conversation, for a failure message: which step went out of step, and after what."""
        return f"resident {self.index}: sent {self.sent}; replies {self.replies}"

    def book(self) -> None:
        with httpx.Client() as client:
            replies: list[dict[str, Any]] = []
            for message in resident_script(self.index):
                replies = self.say(client, message)
            offered = [b for r in replies for b in r["buttons"]]
            assert offered, self.transcript()
            self.say(client, offered[0]["payload"])
            self.say(client, "/affirm")


def test_fifty_residents_book_across_replicas_and_a_killed_replica_loses_nothing(profile: Production) -> None:
    residents = [Resident(profile.public, index) for index in range(RESIDENTS)]
    killed = threading.Event()
    api = create_engine(profile.databases["api"])
    web_bookings = "SELECT count(*), count(DISTINCT resident_id) FROM bookings WHERE channel = 'web'"
    with api.connect() as db:
        before = db.execute(text(web_bookings)).one()

    taken_out = threading.Event()
    killed_upstream = f"127.0.0.1:{profile.rasa_ports[0]} max_fails=1 fail_timeout=5s down;"

    def kill_one_replica_midway() -> None:
        # Once a fifth of all messages went through, kill replica 1 the hard way (no clean shutdown).
        total = RESIDENTS * (len(resident_script(0)) + 2)
        while sum(len(r.sent) for r in residents) < total // 5:
            time.sleep(0.1)
        os.kill(profile.rasa_pid(profile.rasa_ports[0]), signal.SIGKILL)
        killed.set()
        # Restarted, it loads its model: the supervisor keeps it out of nginx meanwhile.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not taken_out.is_set():
            if killed_upstream in (profile.run_dir / "nginx.conf").read_text():
                taken_out.set()
            time.sleep(0.2)

    done = threading.Event()

    def report_stuck_messages() -> None:
        # A message unanswered for 70 s is about to become nginx's 504 (90 s): the gateways log what each
        # of their tasks waits on (SIGUSR1), for the failure's story.
        while not done.wait(1):
            if any(r.waiting_since is not None and time.monotonic() - r.waiting_since > 70 for r in residents):
                for port in profile.gateway_ports:
                    for pid in subprocess.run(["pgrep", "-f", f"gateway --host 127.0.0.1 --port {port}"],
                                              capture_output=True, text=True).stdout.split():
                        os.kill(int(pid), signal.SIGUSR1)
                return

    killer = threading.Thread(target=kill_one_replica_midway, daemon=True)
    killer.start()
    threading.Thread(target=report_stuck_messages, daemon=True).start()
    with ThreadPoolExecutor(max_workers=RESIDENTS) as pool:
        failures = [f.exception() for f in [pool.submit(r.book) for r in residents]]
    done.set()
    assert killed.is_set()
    # What the gateways and the supervisor saw, for a failure's message: attempts lost, chats waiting.
    story = "\n".join(profile.log_lines("attempt", "waited", "answered after", "unavailable", "đã dừng",
                                         "sẵn sàng", "task")[-60:])
    assert [f for f in failures if f is not None] == [], story

    # Every conversation completed with a booking code; nobody was told "busy".
    for resident in residents:
        assert not any(BUSY in reply for reply in resident.replies), resident.index
        # A booking ends with the web chat's offer of the code and reminders by ZNS or SMS (made only after a
        # booking); the bookings themselves are counted below.
        assert "nhận mã đặt lịch" in resident.replies[-1], resident.replies[-3:]

    with api.connect() as db:
        after = db.execute(text(web_bookings)).one()
        sessions = db.execute(text(
            "SELECT s.id, s.capacity, s.booked, count(b.id) FILTER (WHERE b.status = 'confirmed') "
            "FROM exam_sessions s LEFT JOIN bookings b ON b.session_id = s.id GROUP BY s.id")).all()
    api.dispose()
    # One booking each: none lost, none made twice.
    assert (after[0] - before[0], after[1] - before[1]) == (RESIDENTS, RESIDENTS)
    for session_id, capacity, booked, confirmed in sessions:
        assert confirmed <= capacity and booked == confirmed, (session_id, capacity, booked, confirmed)

    # Each conversation's messages reached Rasa once each, in the order typed (the stored copy has
    # its digits masked).
    conversations = create_engine(profile.databases["conversations"])
    with conversations.connect() as db:
        rows = db.execute(text("SELECT sender_id, data FROM events WHERE type_name = 'user' ORDER BY id")).all()
    conversations.dispose()
    said: dict[str, list[str]] = {}
    for sender, data in rows:
        said.setdefault(sender, []).append(json.loads(data)["text"])
    for resident in residents:
        assert said[f"web:{resident.session}"] == [mask_digits(m) for m in resident.sent], resident.index

    # The supervisor started the killed replica again (it loads its model meanwhile).
    log = Path(profile.output.log_path).read_text(errors="replace")
    assert "rasa-1 đã dừng" in log and "khởi động lại" in log
    # … kept out of nginx while it loaded its model, and back in once ready.
    assert taken_out.is_set()
    wait_for(lambda: "rasa-1 đã sẵn sàng" in Path(profile.output.log_path).read_text(errors="replace"),
             timeout_s=300)
    assert " down;" not in (profile.run_dir / "nginx.conf").read_text()


def test_the_public_paths_the_issue_added_pass_nginx(profile: Production) -> None:
    """Swagger UI with its own files (no CDN), the web chat's transcript and its voice notes (bodies
    above nginx's 1 MB default, below the gateway's cap) reach their services through nginx."""
    with httpx.Client(timeout=60) as client:
        docs = client.get(f"{profile.public}/docs")
        assert docs.status_code == 200
        asset = re.search(r'(?:src|href)="(/docs/[^"]+\.(?:js|css))"', docs.text)
        assert asset, docs.text[:500]
        assert client.get(f"{profile.public}{asset[1]}").status_code == 200
        history = client.post(f"{profile.public}/chat/history", json={"session_id": "w" + "ab" * 12})
        assert history.status_code == 200 and history.json() == {"messages": []}
        headers = {"X-Chat-Session": "w" + "cd" * 12, "content-type": "audio/webm"}
        noise = client.post(f"{profile.public}/chat/voice", content=b"\x1a\x45\xdf\xa3" + b"\x00" * 2_000_000,
                            headers=headers)
        assert noise.status_code == 200 and noise.json()["replies"], noise.text[:300]
        assert client.post(f"{profile.public}/chat/voice", content=b"\x00" * 5_000_000,
                           headers=headers).status_code == 413


def test_the_actions_run_inside_the_replicas_or_in_an_action_server_as_set(profile: Production,
                                                                           tmp_path: Path) -> None:
    """The profile's default runs the actions inside each Rasa replica (no action server started); with
    ACTIONS_IN_PROCESS=0, as the Kubernetes manifests run them, the supervisor starts the action server
    and Rasa's custom actions go through it (the FAQ's answer is one)."""
    assert not profile.log_lines("[actions]")
    question = {"session_id": "w" + "ef" * 12, "text": "kham suc khoe co mat tien khong"}
    with production_profile(tmp_path, rasa_replicas=1, gateway_replicas=1, api_workers=1,
                            settings={"ACTIONS_IN_PROCESS": "0", "ACTION_WORKERS": "1"}) as separate:
        assert separate.log_lines("[actions]"), "no action server was started"
        for running in (profile, separate):
            answer = httpx.post(f"{running.public}/chat/messages", json=question, timeout=120)
            assert answer.status_code == 200, answer.text[:300]
            texts = " ".join(r["text"] for r in answer.json()["replies"])
            assert "miễn phí" in texts.lower() and BUSY not in texts, texts
