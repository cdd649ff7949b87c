"""bench/judgement.py's figures, on results made up here (the held-out sets are not ours to read)."""

from __future__ import annotations

from pathlib import Path

from bench.judgement import FAQ_UNKNOWN, WORDLESS_MENU, confusions, figures, load_pairs, reading_of, reply_is_right


def test_each_set_is_reported_on_its_own() -> None:
    results = {
        "with_diacritics": [("đặt lịch", "book_exam", "book_exam"), ("khám gì", "faq", "nlu_fallback")],
        "without_diacritics": [("dat lich", "book_exam", "book_exam")],
        "off_topic": [("gia vang", "out_of_scope", "out_of_scope"), ("mua", "out_of_scope", "ask_schedule"),
                      ("xyz", "out_of_scope", "nlu_fallback")],
        "emergencies": [("sot cao", "emergency", "emergency"), ("ngat", "emergency", "faq")],
    }
    assert figures(results) == [
        "intent accuracy with diacritics     : 1/2 = 50.0%",
        "in-scope answer rate with diacritics   : 1/2 = 50.0%",
        "intent accuracy without diacritics  : 1/1 = 100.0%",
        "in-scope answer rate without diacritics: 1/1 = 100.0%",
        "off-topic honesty: 2/3 = 66.7% (0 of them without a word, given the menu; refused: 2/3 = 66.7%)",
        "emergency recall: 1/2 = 50.0%",
    ]
    assert confusions(results)[0].startswith("  faq -> nlu_fallback: 1")
    # A set that is not there is left out, not reported as zero.
    assert figures({"emergencies": results["emergencies"]}) == ["emergency recall: 1/2 = 50.0%"]


def test_a_faq_reading_without_an_answer_is_an_honest_refusal_on_both_sides() -> None:
    # action_answer_faq answers "not known yet, ask the station" and records the question when no FAQ
    # entry scores enough: honest for an off-topic question, unanswered for an in-scope one.
    results = {
        "with_diacritics": [("khám có mất tiền không", "faq", "faq"), ("khám có gì", "faq", FAQ_UNKNOWN)],
        "off_topic": [("giá vàng", "out_of_scope", FAQ_UNKNOWN), ("giá lúa", "out_of_scope", "faq")],
    }
    assert figures(results) == [
        "intent accuracy with diacritics     : 2/2 = 100.0%",
        "in-scope answer rate with diacritics   : 1/2 = 50.0%",
        "off-topic honesty: 1/2 = 50.0% (0 of them without a word, given the menu; refused: 1/2 = 50.0%)",
    ]
    assert confusions(results) == ["  out_of_scope -> faq: 1"]


def test_the_menu_is_honest_only_for_a_message_without_a_word() -> None:
    # Issue 17 asks for the menu when a message has nothing to read ("😂😂😂"); the classifier's
    # `help` for a worded off-topic question ("jjjj", "hát đi") is still a miss.
    results = {"off_topic": [("😂😂😂", "out_of_scope", WORDLESS_MENU), ("jjjj", "out_of_scope", "help")]}
    assert figures(results) == [
        "off-topic honesty: 1/2 = 50.0% (1 of them without a word, given the menu; refused: 0/2 = 0.0%)"]
    assert confusions(results) == ["  out_of_scope -> help: 1"]


def judged(question: str, meaning: str, reply: str, intent: str) -> bool:
    return reply_is_right(question, meaning, reading_of(question, reply, intent))


def test_a_short_reply_is_judged_by_what_it_does_to_the_question() -> None:
    assert judged("utter_ask_consent_booking", "affirm", "uh", "affirm")
    assert judged("utter_ask_consent_booking", "deny", "ko", "deny")
    assert judged("utter_ask_phone", "stop", "thoi", "deny")  # a stop word ends the form whatever its intent
    assert not judged("utter_ask_booking_confirmed", "deny", "thoi", "deny")  # …so it is not the summary's "no"
    assert judged("utter_ask_cancel_confirmed", "deny", "thoi", "deny")  # …but ends the cancel form as "no" does
    assert judged("utter_ask_reminders", "thank", "🙏", "affirm")
    assert not judged("utter_ask_consent_booking", "affirm", "ko", "deny")


def test_the_deeds_words_decide_a_confirmation_whatever_the_intent() -> None:
    assert judged("utter_ask_cancel_confirmed", "affirm", "hủy đi", "cancel_booking")
    assert judged("utter_ask_cancel_confirmed", "deny", "ấy đừng hủy", "cancel_booking")
    assert judged("utter_ask_rights_confirmed", "deny", "giữ lại thông tin", "nlu_fallback")
    # Without marks "dung xoa" is "đừng xóa" or "đúng, xóa": asked again, which is not the "no" meant.
    assert reading_of("utter_ask_rights_confirmed", "dung xoa nhe e", "affirm") == "unclear"
    # "hủy" is an answer in the cancel form, a stop elsewhere.
    assert reading_of("utter_ask_cancel_confirmed", "hủy", "cancel_booking") == "affirm"
    assert reading_of("utter_ask_phone", "hủy", "cancel_booking") == "stop"
    # At the booking summary, naming an answer to fix is its "no", and so is an unclear answer.
    assert reading_of("utter_ask_booking_confirmed", "nham so dt", "nlu_fallback") == "deny"
    assert reading_of("utter_ask_booking_confirmed", "đặt đi... à nhầm ngày", "affirm") == "deny"
    # The slot's mappings: at the cancel question `cancel_booking` fills a yes.
    assert reading_of("utter_ask_cancel_confirmed", "chắc chắn rồi em", "cancel_booking") == "affirm"
    # Outside a form a stop word stops nothing: "khỏi" at the reminders offer is a no.
    assert reading_of("utter_reminders_offer", "khỏi", "deny") == "deny"
    assert reading_of("utter_ask_rights_form_cccd", "thôi", "deny") == "stop"


def test_pairs_are_read_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "short_replies.yml"
    path.write_text('pairs:\n  - {question: utter_ask_consent_booking, reply: "đc", meaning: affirm}\n',
                    encoding="utf-8")
    assert load_pairs(path) == [{"question": "utter_ask_consent_booking", "reply": "đc", "meaning": "affirm"}]
