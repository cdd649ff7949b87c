"""A shared location answered with the nearest exam sites, their next sessions and a button to book.

The coordinates go to the API's `/sites/nearest` (POST, the gateway's internal token) for this answer
and nowhere else: not to Rasa (its tracker keeps every message), not to the inbox or the logs. The
answer holds only public facts (sites, sessions); its book button starts the booking with the site's
commune filled in.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import httpx

from common.when import session_time
from gateway.messages import LOCATION_RECEIVED, Button, Outgoing
from gateway.wording import Wording

log = logging.getLogger("gateway")

NEAREST = "gateway_nearest_sites"
NEAREST_SITE = "gateway_nearest_site"
NEAREST_SESSION = "gateway_nearest_session"
NEAREST_NO_SESSION = "gateway_nearest_no_session"
NEAREST_NONE = "gateway_nearest_none"
NEAREST_BOOK = "gateway_nearest_book"
# Chat apps cut longer button titles (the gateway's Zalo and Telegram limits are higher; this reads well).
TITLE_LIMIT = 60


class Places:
    """The API's nearest-sites answer for the gateway."""

    def __init__(self, api_url: str, internal_token: str, *, timeout_s: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.client = httpx.AsyncClient(base_url=api_url, timeout=timeout_s, transport=transport,
                                        headers={"X-Internal-Token": internal_token})

    async def nearest(self, latitude: float, longitude: float) -> list[dict[str, Any]]:
        response = await self.client.post("/api/v1/sites/nearest",
                                          json={"latitude": latitude, "longitude": longitude, "limit": 3})
        response.raise_for_status()
        return list(response.json()["sites"])

    async def close(self) -> None:
        await self.client.aclose()


def coordinates(latitude: Any, longitude: Any) -> tuple[float, float] | None:
    """A platform's latitude and longitude as numbers on the globe, or None."""
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


async def answer_location(places: Places | None, wording: Wording, language: str | None,
                          latitude: float, longitude: float) -> list[Outgoing]:
    """The nearest sites with their next sessions and a book button each; when the API cannot say,
    the gateway's "send your commune's name instead"."""
    if places is None:
        return [Outgoing(text=wording.text(LOCATION_RECEIVED, language))]
    try:
        sites = await places.nearest(latitude, longitude)
        return _answer(sites, wording, language)
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as error:
        # The API is down or answered something else: the commune question, never a 500 or silence.
        log.warning("nearest sites unavailable: %s", type(error).__name__)  # never the coordinates
        return [Outgoing(text=wording.text(LOCATION_RECEIVED, language))]


def _answer(sites: list[dict[str, Any]], wording: Wording, language: str | None) -> list[Outgoing]:
    if not sites:
        return [Outgoing(text=wording.text(NEAREST_NONE, language))]
    replies = [Outgoing(text=wording.text(NEAREST, language))]
    for site in sites:
        sessions = [wording.text(NEAREST_SESSION, language, when=session_time(s["starts_at"], s["ends_at"]),
                                 seats=s["seats_left"]) for s in site.get("next_sessions") or []]
        lines = [wording.text(NEAREST_SITE, language, name=site["name"], address=site.get("address") or "",
                              # Whole kilometres: three sites' distances to a tenth would place the
                              # resident, and the answer is kept in the web chat's transcript.
                              commune=site["commune_name"], distance=max(1, round(float(site["distance_km"]))),
                              phone=site.get("phone") or "")]
        lines += sessions or [wording.text(NEAREST_NO_SESSION, language)]
        title = wording.text(NEAREST_BOOK, language, name=site["name"])
        payload = "/book_exam" + json.dumps({"commune": site["commune_name"]}, ensure_ascii=False)
        replies.append(Outgoing(text="\n".join(lines), buttons=(Button(_short(title), payload),)))
    return replies


def _short(title: str) -> str:
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1].rstrip() + "…"
