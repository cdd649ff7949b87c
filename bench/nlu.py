"""NLU accuracy on held-out examples, with and without diacritics; FAQ top-1; parse latency.

Runs in the Rasa environment (Python 3.10), from the repository root:
    .venv-rasa/bin/python bench/nlu.py [--model models/nlu.tar.gz] [--train] [--set-dir DIR]
--set-dir evaluates a directory of judgement sets (bench/data/heldout_6: with_diacritics.yml,
without_diacritics.yml, off_topic.yml, emergencies.yml in NLU YAML, short_replies.yml as
`pairs: [{question, reply, meaning}]`), each reported on its own (see judgement.py).
--heldout FILE evaluates one NLU YAML file. --train trains the NLU model first and reports the training time.
Every set here is spent (evaluated once, then looked at): sets 1-5 and the messages of 6-10 are training
data (nlu_data/spent_heldout_*.yml; set 5's short replies stay in bench/data/heldout_5); set 11 and FAQ
sets 1-6 were each evaluated once; FAQ sets 3-4 (and 1-2's misses) are seed questions now. A new measure
needs a new blind set.
FAQ paraphrases are ranked by the API's own ranking code (--faq-set).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vntext import fold  # noqa: E402


def macro_f1(pairs: list[tuple[str, str]]) -> float:
    labels = {gold for gold, _ in pairs} | {pred for _, pred in pairs}
    scores = []
    for label in labels:
        tp = sum(1 for g, p in pairs if g == label and p == label)
        fp = sum(1 for g, p in pairs if g != label and p == label)
        fn = sum(1 for g, p in pairs if g == label and p != label)
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


async def evaluate(model: Path, heldout: Path) -> None:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    print(f"held-out set: {heldout.relative_to(ROOT)}")
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    latencies, misses = [], []
    from bench.judgement import load_nlu_set

    examples = load_nlu_set(heldout)
    for text, _ in examples[:20]:  # warm-up: TensorFlow builds its graphs on the first predictions
        await agent.parse_message(text)
    cpu_started = time.process_time()
    for text, gold in examples:
        started = time.perf_counter()
        parsed = await agent.parse_message(text)
        latencies.append(time.perf_counter() - started)
        predicted = parsed["intent"]["name"]
        plain = fold(text) == text.lower()
        groups["without diacritics" if plain else "with diacritics"].append((gold, predicted))
        if predicted != gold:
            misses.append(f"    {text!r}: {gold} -> {predicted}")
    for name, pairs in sorted(groups.items()):
        accuracy = sum(g == p for g, p in pairs) / len(pairs)
        print(f"intent {name:20}: accuracy {accuracy:.1%}  macro-F1 {macro_f1(pairs):.3f}  (n={len(pairs)})")
    latencies.sort()
    cpu = (time.process_time() - cpu_started) / len(examples)
    print(f"parse latency ms: p50 {latencies[len(latencies) // 2] * 1000:.1f}  "
          f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.1f}  CPU per message {cpu * 1000:.1f} ms")
    if misses:
        print("misclassified:\n" + "\n".join(misses))


def faq_top1(path: Path) -> None:
    from bench.judgement import seed_faq_index

    index = seed_faq_index()
    items = json.loads(path.read_text(encoding="utf-8"))["items"]
    misses = [(q, key, index.rank(q, 1)) for q, key in items]
    misses = [(q, key, ranked[0] if ranked else None) for q, key, ranked in misses
              if not ranked or ranked[0][0] != key]
    correct = len(items) - len(misses)
    print(f"FAQ top-1 on {path.name}: {correct}/{len(items)} = {correct / len(items):.1%}")
    for question, key, best in misses:
        print(f"  {question!r}: {key} -> {best}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(ROOT / "models" / "nlu.tar.gz"))
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--heldout", action="append", help="held-out NLU file(s)")
    parser.add_argument("--set-dir", help="a directory of judgement sets (bench/data/heldout_6); only these")
    parser.add_argument("--faq-set", default=str(ROOT / "bench" / "data" / "faq_heldout.json"),
                        help="FAQ paraphrases [[question, key], …] (faq_heldout_2.json: the blind set)")
    args = parser.parse_args()
    model = Path(args.model)
    if args.train:
        started = time.perf_counter()
        name = model.name.removesuffix(".tar.gz")
        subprocess.run([sys.executable, "-m", "rasa", "train", "nlu", "--config", "bot/config.yml", "--nlu",
                        "nlu_data", "--out", str(model.parent), "--fixed-model-name", name],
                       cwd=ROOT, check=True, capture_output=True)
        print(f"NLU training time: {time.perf_counter() - started:.0f} s")
    faq_top1(Path(args.faq_set))
    if args.set_dir:
        from bench.judgement import evaluate_sets

        asyncio.run(evaluate_sets(model, Path(args.set_dir)))
        return
    for path in map(Path, args.heldout or ()):
        asyncio.run(evaluate(model, path.resolve()))


if __name__ == "__main__":
    main()
