from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.core.db import Database
from api.faq.schemas import FaqHit
from api.faq.service import seed_content
from tests.support.env import ROOT
from tests.support.world import faq_search

HELDOUT = json.loads((ROOT / "bench" / "data" / "faq_heldout.json").read_text())["items"]
REQUIRED_KEYS = {
    "free_of_charge", "how_often", "who_is_eligible", "priority_groups", "what_is_checked", "what_to_bring",
    "fasting", "where_to_go", "mobile_team", "e_health_book_what", "e_health_book_view", "vneid_level2",
    "health_insurance", "students", "workers", "results", "scam_warning", "data_privacy", "elderly_at_home",
    "why_screening", "treatment_cost", "hotline",
}


@pytest.fixture
def seeded(database: Database) -> Database:
    with database.write() as db:
        assert seed_content(db) == 22
    return database


def test_seed_has_every_contract_key_and_is_idempotent(client: TestClient, seeded: Database) -> None:
    keys = {item["key"] for item in client.get("/api/v1/faq").json()["items"]}
    assert keys == REQUIRED_KEYS
    with seeded.write() as db:
        assert seed_content(db) == 0


@pytest.mark.parametrize(
    ("question", "key"),
    [("ksk có mất tiền k", "free_of_charge"), ("KSK CO MAT TIEN KHONG", "free_of_charge"),
     ("so suc khoe dien tu la gi", "e_health_book_what"), ("nhin an k", "fasting"),
     ("lua dao", "scam_warning"), ("vneid", "vneid_level2")],
)
def test_short_questions_without_diacritics_find_their_answer(
    client: TestClient, seeded: Database, question: str, key: str
) -> None:
    hits = faq_search(client, question)
    assert hits[0]["key"] == key
    FaqHit.model_validate(hits[0])
    assert hits[0]["score"] > hits[1]["score"]


def test_heldout_paraphrases_rank_top1(client: TestClient, seeded: Database) -> None:
    correct = sum(faq_search(client, q, limit=1)[0]["key"] == key for q, key in HELDOUT)
    # bench/nlu.py reports the exact figure; this guards against regressions.
    assert correct / len(HELDOUT) >= 0.90, f"{correct}/{len(HELDOUT)}"


def test_nonsense_scores_low_and_empty_query_has_no_hits(client: TestClient, seeded: Database) -> None:
    assert faq_search(client, "xyzzy qwerty")[0]["score"] < 0.2
    assert faq_search(client, "???") == []
    assert client.get("/api/v1/faq/search", params={"q": ""}).status_code == 422


def test_language_falls_back_to_vietnamese(client: TestClient, seeded: Database) -> None:
    hit = faq_search(client, "ksk co mat tien k", lang="hmn")[0]
    assert hit["language"] == "vi" and "MIỄN PHÍ" in hit["answer"]
    bad = client.get("/api/v1/faq/search", params={"q": "ksk", "lang": "fr"})
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_language"


def test_unanswered_questions_are_kept_without_numbers(client: TestClient, seeded: Database, staff_token: Any) -> None:
    created = client.post("/api/v1/faq/unanswered", json={
        "text": "cccd cua toi la 003158001234 sdt 0912 345 678 thi kham o dau", "channel": "zalo"})
    assert created.status_code == 201
    assert "003158001234" not in created.text and "345 678" not in created.text
    assert client.get("/api/v1/faq/unanswered").status_code == 401
    listed = client.get("/api/v1/faq/unanswered", headers=staff_token("editor")).json()["items"]
    assert listed[0]["text"].count("•••") == 2
