"""The training importer teaches each example also as typed without diacritics."""

from __future__ import annotations

from pathlib import Path

from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.importers.rasa import RasaFileImporter
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.importer import unmarked, with_unmarked_copies

ROOT = Path(__file__).resolve().parents[1]


def example(text: str, intent: str, entities: list[dict] | None = None) -> Message:
    data: dict = {"text": text, "intent": intent}
    if entities:
        data["entities"] = entities
    return Message(data=data)


def texts(data: TrainingData) -> set[tuple[str, str]]:
    return {(m.get("text"), m.get("intent")) for m in data.intent_examples}


def test_the_copy_keeps_case_spacing_and_length() -> None:
    assert unmarked("Đặt lịch  khám cho Bố") == "Dat lich  kham cho Bo"
    assert unmarked("dat lich kham") is None  # nothing to remove
    # Decomposed input (as some keyboards send it) is composed first, so offsets still hold.
    assert unmarked("Kha\u0301m") == "Kham"


def test_entities_keep_their_offsets_and_explicit_values() -> None:
    text = "mẹ tôi ở Tân Lập, tên Vi Thị Hạnh"
    entities = [{"start": 9, "end": 16, "value": "tan_lap", "entity": "commune"},
                {"start": 22, "end": 33, "value": "Vi Thị Hạnh", "entity": "person_name"}]
    data = with_unmarked_copies(TrainingData(training_examples=[example(text, "inform", entities)]))
    copy = next(m for m in data.intent_examples if m.get("text") != text)
    assert copy.get("text") == "me toi o Tan Lap, ten Vi Thi Hanh"
    commune, name = copy.get("entities")
    assert copy.get("text")[commune["start"]:commune["end"]] == "Tan Lap" and commune["value"] == "tan_lap"
    assert copy.get("text")[name["start"]:name["end"]] == "Vi Thi Hanh" and name["value"] == "Vi Thi Hanh"


def test_a_synonym_keeps_its_canonical_value_and_decomposed_annotated_text_gets_no_copy() -> None:
    mong = example("tiếng H'Mông", "choose_language",
                   [{"start": 6, "end": 12, "value": "H'Mông", "entity": "language"}])
    decomposed = example("ở Ta\u0302n La\u0302\u0323p", "inform", [{"start": 2, "end": 13, "value": "Tân Lập",
                                                                   "entity": "commune"}])
    data = TrainingData(training_examples=[mong, decomposed], entity_synonyms={"H'Mông": "hmn"})
    copies = [m for m in with_unmarked_copies(data).intent_examples if m not in (mong, decomposed)]
    assert [(m.get("text"), m.get("entities")[0]["value"]) for m in copies] == [("tieng H'Mong", "hmn")]


def test_a_copy_that_another_intent_also_claims_is_left_out() -> None:
    data = with_unmarked_copies(TrainingData(training_examples=[
        example("đúng vậy", "affirm"), example("dừng vậy", "stop"), example("Đặt lịch", "book_exam"),
        example("dat lich", "book_exam"),
    ]))
    assert texts(data) == {("đúng vậy", "affirm"), ("dừng vậy", "stop"), ("Đặt lịch", "book_exam"),
                           ("dat lich", "book_exam"), ("Dat lich", "book_exam")}


def test_the_assistant_trains_through_the_importer() -> None:
    # Rasa falls back to its own importer, without failing, when a configured one cannot be imported:
    # only the data it yields shows the copies are really taught.
    nlu = [str(ROOT / "nlu_data")]
    importer = TrainingDataImporter.load_nlu_importer_from_config(
        str(ROOT / "bot" / "config.yml"), str(ROOT / "bot" / "domain.yml"), nlu)
    taught = texts(importer.get_nlu_data("vi"))
    written = texts(RasaFileImporter(training_data_paths=nlu).get_nlu_data("vi"))
    assert written < taught
    assert ("giá vàng SJC hôm nay thế nào", "out_of_scope") in written
    assert ("gia vang SJC hom nay the nao", "out_of_scope") in taught - written
