"""The learnt part of the FAQ ranking: which words tell the entries apart, learnt from their questions."""

from __future__ import annotations

import json
import math

from api.faq.learned import KeyModel, features
from api.faq.search import FaqIndex
from tests.support.env import ROOT

ENTRIES = [
    ("health_insurance", ["thẻ bảo hiểm y tế có cần không", "có bhyt thì sao", "bhyt có dùng được không"]),
    ("e_health_book_what", ["sổ sức khỏe điện tử là gì", "sổ sức khỏe điện tử dùng để làm gì",
                            "sổ sức khỏe trên điện thoại là sao", "so suc khoe dien tu la gi"]),
]


def test_features_are_folded_words_their_pairs_and_letters() -> None:
    found = features("Sổ sức khỏe")
    assert {"w so", "w suc", "w khoe", "p so suc", "p suc khoe", "c so", "c  so ", "c kho"} <= set(found)


def test_probabilities_share_out_one_and_follow_the_telling_words() -> None:
    model = KeyModel.train(ENTRIES)
    assert model is not None
    probabilities = model.probabilities("sổ điện tử là cái gì vậy")
    assert math.isclose(sum(probabilities.values()), 1.0)
    assert max(probabilities, key=probabilities.__getitem__) == "e_health_book_what"
    # Words it never saw tell nothing: every entry as likely, however many questions it has.
    assert math.isclose(model.probabilities("qqqq")["health_insurance"], 1 / 2)


def test_nothing_to_learn_from_fewer_than_two_entries() -> None:
    assert KeyModel.train([]) is None
    assert KeyModel.train([("hotline", ["số tổng đài là gì"])]) is None
    assert FaqIndex.build([]).rank("khám có mất tiền không") == []


def test_the_learnt_order_keeps_the_lexical_score_that_the_bot_weighs() -> None:
    seed = json.loads((ROOT / "api" / "faq" / "seed_vi.json").read_text(encoding="utf-8"))
    index = FaqIndex.build((entry["key"], entry["questions"]) for entry in seed)
    lexical_only = FaqIndex.build((entry["key"], entry["questions"]) for entry in seed)
    object.__setattr__(lexical_only, "learned", None)
    question = "dan thuong co dc kham free k hay chi can bo"
    # Sharing "free" with the fee entry, it is about who may be examined.
    assert lexical_only.rank(question, 1)[0][0] == "free_of_charge"
    best, score = index.rank(question, 1)[0]
    assert best == "who_is_eligible"
    assert score == dict(lexical_only.rank(question, 22))["who_is_eligible"]
    # The probability shares out 1 even for a question the content is not about: the learnt order may lower
    # the score given (another entry first), never raise it, so the bot's threshold refuses as before.
    for off_topic in ("giá vàng hôm nay bao nhiêu", "thời tiết ngày mai có mưa không", "thủ tục khai sinh cho con"):
        assert index.rank(off_topic, 1)[0][1] <= lexical_only.rank(off_topic, 1)[0][1]


def test_a_new_entry_asked_as_written_is_not_hidden_behind_the_seed() -> None:
    seed = json.loads((ROOT / "api" / "faq" / "seed_vi.json").read_text(encoding="utf-8"))
    # What staff add: an entry with one question, next to seed entries with ≈ 27 each.
    entries = [(entry["key"], entry["questions"]) for entry in seed]
    entries.append(("lost_id_card", ["Mất căn cước thì khám được không?"]))
    index = FaqIndex.build(entries)
    assert index.rank("Mất căn cước thì khám được không?", 1)[0] == ("lost_id_card", 1.0)
    assert index.rank("mat can cuoc thi kham dc ko", 1)[0][0] == "lost_id_card"


def test_a_question_without_words_neither_crashes_the_index_nor_matches() -> None:
    index = FaqIndex.build([("hotline", ["???", "số tổng đài là gì"]), ("empty", ["!!!"]),
                            ("fasting", ["có phải nhịn ăn không"])])
    assert index.rank("tổng đài số mấy", 1)[0][0] == "hotline"
    assert index.rank("???") == []
