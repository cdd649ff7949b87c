"""Builders for API tests: communes, sites and sessions made through the API as staff would, made-up
residents, and the requests several test modules send the same way."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from api.core.clock import local_tz
from tests.support.env import chat_headers


def future(days: int = 3, hour: int = 7, minute: int = 30) -> datetime:
    base = datetime.now(local_tz()).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return base + timedelta(days=days)


class World:
    """Builds communes, sites and sessions through the API, as staff would."""

    def __init__(self, client: TestClient, admin: dict[str, str]) -> None:
        self.client = client
        self.admin = admin
        self._counter = 0

    def commune(self, name: str = "Hữu Liên", kind: str = "xa") -> dict[str, Any]:
        self._counter += 1
        response = self.client.post(
            "/api/v1/communes", headers=self.admin,
            json={"province_code": "20", "province_name": "Lạng Sơn",
                  "code": f"T-{self._counter}-{uuid.uuid4().hex[:4]}", "name": name, "kind": kind},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def site(self, commune_id: int, kind: str = "station") -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/sites", headers=self.admin,
            json={"commune_id": commune_id, "name": "Trạm Y tế xã", "kind": kind},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def session(self, site_id: int, capacity: int = 2, days: int = 3) -> dict[str, Any]:
        start = future(days)
        response = self.client.post(
            "/api/v1/sessions", headers=self.admin,
            json={"site_id": site_id, "starts_at": start.isoformat(),
                  "ends_at": (start + timedelta(hours=3)).isoformat(), "capacity": capacity},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def place(self, capacity: int = 2) -> dict[str, Any]:
        """A new commune with a station and one session there: {"commune", "site", "session"}."""
        commune = self.commune()
        site = self.site(commune["id"])
        return {"commune": commune, "site": site, "session": self.session(site["id"], capacity=capacity)}


_CCCD_COUNTER = iter(range(10**6))


def person(commune_id: int, *, year: int = 1958, index: int | None = None) -> dict[str, Any]:
    """A valid, made-up resident; each call gets a fresh CCCD unless `index` is given."""
    n = next(_CCCD_COUNTER) if index is None else index
    century = 0 if year < 2000 else 2
    return {
        "full_name": "Nông Thị Mai",
        "birth_date": f"{year}-03-05",
        # Province code 003 is assigned to no province: these numbers can belong to nobody.
        "cccd": f"003{century}{year % 100:02d}{n:06d}",
        "phone": f"09{n:08d}",
        "commune_id": commune_id,
    }


CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "form without a CSRF token"
    return found.group(1)


def faq_search(client: TestClient, q: str, **params: Any) -> list[dict[str, Any]]:
    """The hits residents get for a question (GET /api/v1/faq/search)."""
    response = client.get("/api/v1/faq/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return list(response.json())


def import_csv(client: TestClient, headers: dict[str, str], body: str, name: str = "so.csv") -> Any:
    """A station's e-health-book status list, uploaded as a CSV file (as Excel saves it, with a BOM)."""
    return client.post("/api/v1/records/import", headers=headers,
                       files={"file": (name, body.encode("utf-8-sig"), "text/csv")})


BOOKINGS = "/api/v1/bookings"


def book(client: TestClient, session_id: int, resident: dict[str, Any], *, channel: str = "zalo",
         key: str | None = None, chat: str | None = None, address: str = "", **extra: Any) -> Any:
    """POST /bookings as the action server sends it (the test client holds its credential): with an
    Idempotency-Key when `key` is given, from the signed `chat` (and `address`) when one is given."""
    headers = {"Idempotency-Key": key} if key else {}
    if chat is not None:
        headers.update(chat_headers(sender=chat, address=address))
    return client.post(BOOKINGS, headers=headers, json={"session_id": session_id, "resident": resident,
                                                         "channel": channel, **extra})


def booked(client: TestClient, session_id: int, resident: dict[str, Any], **options: Any) -> dict[str, Any]:
    """A booking that must go through (its body): retried safely, as the action server's are."""
    response = book(client, session_id, resident, key=uuid.uuid4().hex, **options)
    assert response.status_code == 201, response.text
    return dict(response.json())
