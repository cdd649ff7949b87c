"""Health, readiness, Prometheus metrics and JSON logs — without personal data anywhere in them."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.core.logs import JsonFormatter
from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from tests.support.servers import api_env, free_port, running_process
from tests.support.world import World, person


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_api_metrics_count_requests_by_route_template_and_bookings(client: TestClient, world: World) -> None:
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"], capacity=1)
    before = client.get("/api/v1/metrics").text
    resident = person(commune["id"])
    booked = client.post("/api/v1/bookings", headers={"Idempotency-Key": "metrics-booking-1"},
                         json={"session_id": session["id"], "resident": resident})
    code = booked.json()["code"]
    client.get(f"/api/v1/bookings/{code}")
    client.post("/api/v1/bookings", headers={"Idempotency-Key": "metrics-booking-2"},
                json={"session_id": session["id"], "resident": person(commune["id"])})
    after = client.get("/api/v1/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    route = "/api/v1/bookings/{code}"
    assert metric(text, "ksk_http_requests_total", route=route, status="200") == \
        metric(before, "ksk_http_requests_total", route=route, status="200") + 1
    assert metric(text, "ksk_bookings_total", status="waitlisted") >= 1
    assert "ksk_http_request_duration_seconds_bucket" in text and "ksk_announcements_pending" in text
    # Never a code, CCCD or phone: paths are templates, values are counts.
    for secret in (code, resident["cccd"], resident["phone"]):
        assert secret not in text


def test_gateway_readiness_follows_rasa_and_its_metrics_show_queues(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "gateway-test-secret-0123456789")
    state = {"up": False}

    def rasa(request: httpx.Request) -> httpx.Response:
        if not state["up"]:
            raise httpx.ConnectError("down")
        if request.method == "GET":
            return httpx.Response(200, text="Hello from Rasa")
        return httpx.Response(200, json=[{"text": "Đã nhận"}])

    settings = GatewaySettings(gateway_database_url=f"sqlite:///{tmp_path / 'g.db'}")
    with TestClient(create_gateway(settings, rasa_transport=httpx.MockTransport(rasa))) as gateway:
        assert gateway.get("/health").status_code == 200
        assert gateway.get("/ready").status_code == 503
        state["up"] = True
        assert gateway.get("/ready").json() == {"status": "ready"}
        gateway.post("/chat/messages", json={"session_id": "metrics-chat-1", "text": "xin chao"})
        text = gateway.get("/metrics").text
        assert metric(text, "ksk_gateway_outbox_pending") == 0.0 and "ksk_gateway_inbox_pending" in text
        assert metric(text, "ksk_http_requests_total", service="gateway", route="/chat/messages") >= 1


def test_json_logs_mask_numbers_and_the_served_api_writes_them(tmp_path: Path) -> None:
    record = logging.LogRecord("api", logging.WARNING, __file__, 1, "lookup for %s failed", ("003158001234",),
                               None)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "WARNING" and "003158001234" not in line["message"] and "•••" in line["message"]
    env = {**api_env(f"sqlite:///{tmp_path / 'api.db'}"), "LOG_FORMAT": "json"}
    subprocess.run([sys.executable, "-m", "api", "migrate"], env=env, check=True, capture_output=True)
    port = free_port()
    with running_process([sys.executable, "-m", "api", "serve", "--port", str(port)], env=env,
                         ready_url=f"http://127.0.0.1:{port}/api/v1/ready") as output:
        httpx.get(f"http://127.0.0.1:{port}/api/v1/faq/search", params={"q": "cccd 003158001234"})
    lines = [json.loads(line) for line in output.text.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(entry) for entry in lines)
    assert any("/api/v1/faq/search" in entry["message"] for entry in lines)
    assert "003158001234" not in output.text


