"""The QR code of a booking code: a picture of the code in the URL, for anyone, never a lookup."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bookings.qr import booking_qr_png
from api.core.config import Settings
from api.core.db import Database
from api.core.logs import loggable_path
from api.main import create_app
from common.booking_codes import new_code, qr_path
from tests.support.qr import decode_qr, png_rgba
from tests.support.sql import recorded_statements
from tests.support.world import booked, person


@pytest.fixture
def anyone(settings: Settings, database: Database) -> Iterator[TestClient]:
    """A browser or a chat app fetching the image: no credential, no chat, no staff cookie."""
    with TestClient(create_app(settings, database), raise_server_exceptions=False) as browser:
        yield browser


@pytest.fixture
def statements(database: Database) -> Iterator[list[str]]:
    """Every SQL statement either engine runs while the test does."""
    with recorded_statements(database.reader, database.writer) as seen:
        yield seen


def test_the_image_reads_back_as_the_code_and_any_cache_may_keep_it(anyone: TestClient) -> None:
    code = new_code()
    response = anyone.get(qr_path(code))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert decode_qr(response.content) == code
    # Sharp on a phone, small to send: 29 modules of 12 px, a few hundred bytes.
    width, height, _ = png_rgba(response.content)
    assert (width, height) == (348, 348) and len(response.content) < 1024


def test_a_real_booking_and_an_invented_code_are_answered_alike_without_a_query(
        client: TestClient, anyone: TestClient, place: dict[str, Any], statements: list[str]) -> None:
    real = booked(client, place["session"]["id"], person(place["commune"]["id"]))["code"]
    invented = new_code()
    statements.clear()
    answers = {code: anyone.get(qr_path(code)) for code in (real, invented)}
    assert statements == [], "the QR code of a code must not look the booking up"
    for code, answer in answers.items():
        assert answer.status_code == 200 and answer.content == booking_qr_png(code)
        assert set(answer.headers) == set(answers[invented].headers)


@pytest.mark.parametrize("bad", ["KE3MX7P", "KE3MX7PAA", "ke3mx7pa", "KE3M-X7PA", "KE3MX7P0", "KE3MX7PB",
                                 "%3Cscript%3E", "KE3MX7PA%00"])
def test_anything_not_shaped_like_a_code_is_a_422(anyone: TestClient, statements: list[str], bad: str) -> None:
    response = anyone.get(f"/api/v1/qr/bookings/{bad}.png")
    assert response.status_code == 422
    assert response.json()["code"] == "booking_code_malformed"
    assert statements == []


def test_other_paths_are_not_images(anyone: TestClient) -> None:
    assert anyone.get(f"/api/v1/qr/bookings/{new_code()}.svg").status_code == 404
    assert anyone.get(f"/api/v1/qr/bookings/{new_code()}").status_code == 404


def test_the_code_in_the_path_stays_out_of_the_access_log() -> None:
    assert loggable_path(qr_path("KE3MX7PA")) == "/api/v1/qr/bookings/***"
