"""Reading py-spy's raw stacks (bench/profile.py): each sample put in one bucket by the frames on its stack.

A raw file has one line per distinct stack, "frame;frame;…;frame count", the root first; a frame is
"function (path:line)", after a "process …" and a "thread (tid): name" frame (--subprocesses, --threads).
Python 3.10 frames (Rasa, the action server) carry a function's name only: the class is read back from
the source file (`qualify`), so RemoteAction.run and ActionBotResponse.run are told apart.
"""

from __future__ import annotations

import ast
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAME = re.compile(r"^(?P<name>.*) \((?P<path>.*):(?P<line>\d+)\)$")
PROCESSES = {"rasa": "Rasa", "actions": "action server", "api": "API", "gateway": "gateway"}


@dataclass(frozen=True)
class Frame:
    name: str  # qualified: Class.method
    path: str  # shortened: rasa/core/processor.py, bot/nlg.py, stdlib/asyncio/events.py
    line: int

    def within(self, *prefixes: str) -> bool:
        return self.path.startswith(prefixes)


Stack = Sequence[Frame]


def shorten(path: str, root: str) -> str:
    """The path from the package on: of an installed package, of the checkout `root` or this one (the gateway
    runs from this one), of the standard library."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    for checkout in (root, str(ROOT)):
        if path.startswith(f"{checkout}/"):
            return path[len(checkout) + 1:]
    stdlib = re.search(r"/lib/python3\.\d+/(.*)$", path)
    return f"stdlib/{stdlib.group(1)}" if stdlib else path


@cache
def _functions(path: str) -> tuple[tuple[int, int, str], ...]:
    """(first line, last line, qualified name) of every function defined in a source file."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return ()
    found: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((child.lineno, child.end_lineno or child.lineno, prefix + child.name))
                visit(child, f"{prefix}{child.name}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return tuple(found)


@cache
def parse_frame(text: str, root: str) -> Frame:
    found = FRAME.match(text)
    if not found:
        return Frame(text, "", 0)
    name, path, line = found["name"], found["path"], int(found["line"])
    if "." not in name and not name.startswith("<"):
        enclosing = [(start, qualified) for start, end, qualified in _functions(path)
                     if start <= line <= end and qualified.rsplit(".", 1)[-1] == name]
        name = max(enclosing)[1] if enclosing else name
    return Frame(name, shorten(path, root), line)


def outermost(stack: Stack, *prefixes: str) -> Frame | None:
    return next((frame for frame in stack if frame.within(*prefixes)), None)


def innermost(stack: Stack, *prefixes: str) -> Frame | None:
    return next((frame for frame in reversed(stack) if frame.within(*prefixes)), None)


def calls(stack: Stack, path: str, *names: str) -> bool:
    return any(frame.path == path and frame.name in names for frame in stack)


# --- Rasa ---

NLU_COMPONENTS = (
    ("bot/components/vietnamese_tokenizer.py", "tokenizer"), ("rasa/nlu/tokenizers/", "tokenizer"),
    ("rasa/nlu/featurizers/sparse_featurizer/regex_featurizer.py", "RegexFeaturizer"),
    ("rasa/nlu/featurizers/sparse_featurizer/lexical_syntactic_featurizer.py", "LexicalSyntacticFeaturizer"),
    ("rasa/nlu/featurizers/sparse_featurizer/count_vectors_featurizer.py", "CountVectorsFeaturizer"),
    ("rasa/nlu/classifiers/logistic_regression_classifier.py", "LogisticRegressionClassifier"),
    ("rasa/nlu/classifiers/diet_classifier.py", "DIETClassifier (TensorFlow)"),
    ("rasa/nlu/extractors/crf_entity_extractor.py", "CRFEntityExtractor"),
    ("rasa/nlu/classifiers/regex_message_handler.py", "RegexMessageHandler (a button's payload)"),
    ("bot/components/message_guard.py", "MessageGuard"),
    ("rasa/nlu/classifiers/fallback_classifier.py", "FallbackClassifier"),
    ("rasa/nlu/extractors/entity_synonyms.py", "EntitySynonymMapper"),
    ("rasa/nlu/extractors/regex_entity_extractor.py", "RegexEntityExtractor"),
)
POLICIES = (
    ("bot/components/stale_choice.py", "StaleChoicePolicy"), ("rasa/core/policies/rule_policy.py", "RulePolicy"),
    ("rasa/core/policies/memoization.py", "MemoizationPolicy"), ("rasa/core/policies/ted_policy.py", "TEDPolicy"),
    ("rasa/core/policies/ensemble.py", "ensemble"),
)
TRACKERS = "rasa/shared/core/trackers.py"
# Rebuilding a conversation's past from its events: what grows with the conversation's length.
REPLAY = (*(f"DialogueStateTracker.{name}" for name in (
    "applied_events", "past_states", "copy", "init_copy", "generate_all_prior_trackers", "travel_back_in_time",
    "replay_events", "recreate_from_dialogue", "as_dialogue", "_undo_till_previous",
    "_undo_till_previous_loop_execution", "_first_loop_execution_or_unhappy_path", "_is_within_unhappy_path")),
    "Domain.states_for_tracker_history")
HTTP_SERVER = ("sanic/", "sanic_routing/", "sanic_cors/", "rasa/core/channels/", "bot/channels.py", "rasa/server.py",
               "stdlib/json/", "ujson", "httptools/", "multidict/")
TENSORFLOW = ("tensorflow/", "keras/", "rasa/utils/tensorflow/")


def _first_of(stack: Stack, table: tuple[tuple[str, str], ...]) -> str | None:
    for frame in stack:
        for prefix, name in table:
            if frame.within(prefix):
                return name
    return None


def replays(stack: Stack) -> bool:
    return any(frame.name in REPLAY and frame.path in (TRACKERS, "rasa/shared/core/domain.py") for frame in stack)


def rasa_bucket(stack: Stack) -> tuple[str, str]:
    """(bucket, detail) of one Rasa sample; the first rule that holds wins."""
    if outermost(stack, "rasa/core/lock_store.py"):
        return "lock store", ""
    store = outermost(stack, "bot/tracker_store.py", "rasa/core/tracker_store.py")
    if store:
        what = "save" if ".save" in store.name or "serialise" in store.name else "load"
        return f"tracker store: {what}", _store_detail(stack)
    if outermost(stack, "bot/nlg.py", "rasa/core/nlg/"):
        return "NLG (bot/nlg.py)", ("HTTP to the API" if outermost(stack, "aiohttp/", "actions/api.py")
                                    else _leaf_package(stack))
    part = _part(stack)
    if replays(stack):
        inner = next(frame.name for frame in stack if frame.name in REPLAY)
        return "tracker replay", f"in {part}: {inner.split('.')[-1]}"
    return part, (_remote_detail(stack) if part == REMOTE else _leaf_package(stack))


ACTION = "rasa/core/actions/action.py"
REMOTE = "action-server call (RemoteAction)"


def _remote_detail(stack: Stack) -> str:
    # Rasa's own check, or the one bot/action_calls.py installs in its place (by name: that file also
    # builds the request, `action_call_format`, which is not the check)
    if (calls(stack, ACTION, "RemoteAction._validate_action_result")
            or calls(stack, "bot/action_calls.py", "validate_action_result")):
        return "its response checked by the schema"
    if outermost(stack, "rasa/utils/endpoints.py", "aiohttp/"):
        return "HTTP (aiohttp)"
    if (calls(stack, ACTION, "RemoteAction._action_call_format")
            or calls(stack, "bot/action_calls.py", "action_call_format")):
        return "the request: tracker and domain as JSON"
    return _leaf_package(stack)


def _part(stack: Stack) -> str:
    if calls(stack, "rasa/core/processor.py", "MessageProcessor.parse_message",
             "MessageProcessor._parse_message_with_graph"):
        return f"NLU: {_first_of(stack, NLU_COMPONENTS) or 'graph runner, messages'}"
    if calls(stack, "rasa/core/processor.py", "MessageProcessor.predict_next_with_tracker",
             "MessageProcessor._predict_next_with_tracker"):
        return f"policy: {_first_of(stack, POLICIES) or 'graph runner, domain'}"
    if any(frame.name.startswith("RemoteAction.") for frame in stack) or outermost(stack, "rasa/utils/endpoints.py"):
        return REMOTE
    action = outermost(stack, "rasa/core/actions/")
    if action:
        return f"Rasa's own action: {action.name.split('.')[0]}"
    if outermost(stack, "rasa/core/processor.py", "rasa/core/agent.py"):
        return "processor, other"
    if outermost(stack, *HTTP_SERVER):
        return "Sanic, HTTP, JSON"
    return "other"


def _store_detail(stack: Stack) -> str:
    if outermost(stack, "cryptography/") or any(f.name.startswith("PrivacyFilter.") for f in stack):
        return "encryption, masking"
    if outermost(stack, "sqlalchemy/", "stdlib/sqlite3/"):
        return "SQLAlchemy"
    if outermost(stack, TRACKERS, "rasa/shared/core/events.py"):
        return "events <-> tracker"
    return _leaf_package(stack)


def _package(frame: Frame) -> str:
    parts = frame.path.split("/")
    return "/".join(parts[:2]) if frame.within("stdlib/") else parts[0]


def _leaf_package(stack: Stack) -> str:
    """Where the sample's own time is: the innermost frame's package (two levels for Rasa, ours by file)."""
    for frame in reversed(stack):
        if frame.within("stdlib/asyncio/", "stdlib/selectors.py"):
            continue
        parts = frame.path.split("/")
        if frame.within("rasa/"):
            return "/".join(parts[:3])
        if frame.within("stdlib/"):
            return f"{parts[0]}/{parts[1].removesuffix('.py')}"
        return frame.path if frame.within("bot/", "actions/", "api/", "gateway/", "common/") else parts[0]
    return "?"


# --- the other processes: coarser. A library called from anywhere (the database, HTTP to another service)
# takes the sample wherever it is on the stack, the first such rule winning; otherwise the innermost frame of
# the framework or of our code does (our middleware wraps every request: its own time is ours, the
# framework's below it is not).

Rules = tuple[tuple[str, tuple[str, ...]], ...]
OUR_CODE = ("actions/", "api/", "gateway/", "common/", "vntext/", "bot/")
SQL = ("SQLAlchemy and the database driver", ("sqlalchemy/", "stdlib/sqlite3/", "psycopg/", "alembic/"))
ASGI: Rules = (("our code", OUR_CODE), ("FastAPI, Starlette, pydantic", ("fastapi/", "starlette/", "pydantic/",
                                                                          "pydantic_core/")),
               ("uvicorn, HTTP", ("uvicorn/", "h11/", "httptools/", "anyio/")))
RULES: dict[str, tuple[Rules, Rules]] = {
    "actions": ((("HTTP to the API (aiohttp client)", ("aiohttp/", "aiohappyeyeballs/", "yarl/")),),
                (("our actions", ("actions/", "common/", "vntext/")),
                 ("rasa_sdk: tracker, events, dispatcher", ("rasa_sdk/interfaces.py", "rasa_sdk/events.py",
                                                            "rasa_sdk/executor.py", "rasa_sdk/forms.py")),
                 ("Sanic, HTTP, JSON", ("sanic/", "sanic_routing/", "sanic_cors/", "rasa_sdk/endpoint.py",
                                        "stdlib/json/", "httptools/")))),
    "api": ((SQL, ("encryption", ("cryptography/",)), ("logging", ("stdlib/logging/", "api/core/logs.py"))), ASGI),
    "gateway": ((("outbox poll (every 0.2 s, whether or not anything is due)", ("gateway/outbox.py",)),
                 ("HTTP to Rasa (aiohttp) and the API (httpx)", ("aiohttp/", "aiohappyeyeballs/", "yarl/", "httpx/",
                                                                 "httpcore/")), SQL,
                 ("logging", ("stdlib/logging/",))), ASGI),
}


def by_rules(part: str, stack: Stack) -> tuple[str, str]:
    anywhere, innermost_wins = RULES[part]
    for name, prefixes in anywhere:
        if outermost(stack, *prefixes):
            return name, _leaf_package(stack)
    for frame in reversed(stack):
        for name, prefixes in innermost_wins:
            if frame.within(*prefixes):
                return name, (frame.path if name.startswith("our") else _leaf_package(stack))
    return "other", _leaf_package(stack)


# The frame a server's main thread sits in while its event loop (uvloop, in C) waits or runs its own code.
LOOP = ("sanic/server/runners.py", "sanic/app.py", "rasa_sdk/endpoint.py", "uvicorn/_compat.py", "uvicorn/server.py",
        "stdlib/asyncio/runners.py", "stdlib/asyncio/base_events.py", "stdlib/selectors.py")
# A whole stack starts at a script, `python -m`, or a thread's start.
ENTRY = ("<module>", "_run_module_as_main", "Thread._bootstrap")
# A thread blocked here waits for work (a thread pool's idle workers); py-spy still reported some as running.
WAITS = (("stdlib/threading.py", "Condition.wait"), ("stdlib/threading.py", "Event.wait"),
         ("stdlib/queue.py", "Queue.get"), ("stdlib/concurrent/futures/thread.py", "_worker"))


def waiting(stack: Stack) -> bool:
    return bool(stack) and (stack[-1].path, stack[-1].name) in WAITS


def classify(part: str, stack: Stack) -> tuple[str, str]:
    """(bucket, detail) of one sample of the process `part`."""
    if not stack:
        return "other", "?"
    if stack[0].name not in ENTRY:
        # py-spy lost the outer frames (a stack deeper than it reads, or read while it changed)
        return "stack cut short (its outer frames lost)", _leaf_package(stack)
    if stack[-1].within(*LOOP):
        return "event loop (uvloop's C code: sockets, callbacks)", ""
    return rasa_bucket(stack) if part == "rasa" else by_rules(part, stack)
# Parts a sample may count in besides its bucket (shares overlap).
ACROSS: dict[str, Callable[[Stack], bool]] = {
    "TensorFlow (Python side)": lambda stack: outermost(stack, *TENSORFLOW) is not None,
    "tracker replay, wherever called": replays,
    "copy.deepcopy": lambda stack: outermost(stack, "stdlib/copy.py") is not None,
    "SQLAlchemy": lambda stack: outermost(stack, "sqlalchemy/") is not None,
    "JSON": lambda stack: outermost(stack, "stdlib/json/", "ujson", "orjson") is not None,
    "aiohttp client": lambda stack: outermost(stack, "aiohttp/client", "aiohttp/connector") is not None,
    "logging": lambda stack: outermost(stack, "stdlib/logging/") is not None,
}
# Frames every sample of a server passes through (the event loop, the entry point): not worth listing.
PLUMBING = ("stdlib/asyncio/", "stdlib/runpy.py", "<frozen runpy>", "stdlib/threading.py", "stdlib/concurrent/",
            "stdlib/selectors.py", "rasa/__main__.py", "rasa/cli/", "rasa/api.py", "rasa/core/run.py",
            "rasa_sdk/__main__.py", "rasa_sdk/endpoint.py", "click/", "uvicorn/", "sanic/", "connection_task",
            "handle_request", "api/__main__.py", "gateway/__main__.py", "starlette/", "fastapi/", "anyio/_backends/")


@dataclass
class Profile:
    stacks: list[tuple[tuple[Frame, ...], int]]
    threads: Counter[str]
    part: str
    waiting: int  # samples of threads waiting for work, left out
    cpu_ms: float  # the process's CPU per message (/proc), which the samples share out

    @classmethod
    def load(cls, path: Path, cpu_ms: float, root: Path = ROOT) -> Profile:
        """The stacks of a raw file; `root` is the checkout the servers ran from."""
        stacks: list[tuple[tuple[Frame, ...], int]] = []
        threads: Counter[str] = Counter()
        idle = 0
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            text, _, count = line.rpartition(" ")
            if not text or not count.isdigit():
                continue
            parts = text.split(";")
            meta = [p for p in parts[:2] if p.startswith(("process ", "thread ("))]
            thread = next((p.split(": ", 1)[-1] for p in meta if p.startswith("thread (")), "?")
            stack = tuple(parse_frame(p, str(root)) for p in parts[len(meta):])
            if waiting(stack):
                idle += int(count)
                continue
            threads[thread] += int(count)
            stacks.append((stack, int(count)))
        return cls(stacks, threads, path.stem.split("-")[0], idle, cpu_ms)

    @property
    def total(self) -> int:
        return sum(count for _stack, count in self.stacks)

    def ms(self, samples: float) -> float:
        """CPU ms per message that `samples` stand for. py-spy counts a thread that waits for a core as
        running (measured: a loop sharing one core with another was in 299 of 300 samples while it had 50 %
        of the core), so on a busy machine samples outnumber CPU time: they share out /proc's figure."""
        return samples / max(self.total, 1) * self.cpu_ms

    def classified(self) -> dict[str, Counter[str]]:
        found: dict[str, Counter[str]] = defaultdict(Counter)
        for stack, count in self.stacks:
            bucket, detail = classify(self.part, stack)
            found[bucket][detail] += count
        return found

    def buckets(self) -> dict[str, int]:
        return {bucket: sum(details.values()) for bucket, details in self.classified().items()}

    def across(self) -> dict[str, int]:
        return {name: sum(count for stack, count in self.stacks if holds(stack)) for name, holds in ACROSS.items()}

    def functions(self, *, inclusive: bool) -> Counter[tuple[str, str]]:
        """Samples per function: on the stack (inclusive; of a library, only where it is entered, not its
        inner calls: jsonschema's recursion would fill the list) or at its top (self)."""
        found: Counter[tuple[str, str]] = Counter()
        for stack, count in self.stacks:
            if inclusive:
                frames = [f for caller, f in zip((None, *stack), stack, strict=False)
                          if f.within("rasa/", *OUR_CODE) or caller is None or _package(caller) != _package(f)]
            else:
                frames = list(stack[-1:])
            for name, path in {(f.name, f.path) for f in frames
                               if not f.within(*PLUMBING) and f.name not in ENTRY and not f.name.endswith(".__call__")}:
                found[(name, path)] += count
        return found


def render(title: str, profile: Profile, top: int) -> list[str]:
    total = max(profile.total, 1)
    left_out = f", {profile.waiting} of threads waiting for work left out" if profile.waiting else ""
    lines = [f"{title}: {profile.total} samples{left_out}, sharing out {profile.cpu_ms:.1f} ms of CPU per message "
             f"(threads: {', '.join(f'{name} {count / total:.0%}' for name, count in profile.threads.most_common(4))})",
             "  share  ms/msg  bucket — where inside (share of the bucket)"]
    small: list[str] = []
    for bucket, details in sorted(profile.classified().items(), key=lambda item: -sum(item[1].values())):
        samples = sum(details.values())
        if samples / total < 0.005:
            small.append(bucket)
            continue
        inside = ", ".join(f"{detail} {count / samples:.0%}" for detail, count in details.most_common(3) if detail)
        where = f" — {inside}" if inside else ""
        lines.append(f"  {samples / total:5.1%} {profile.ms(samples):6.1f}  {bucket}{where}")
    if small:
        lines.append(f"  under 0.5 % each: {', '.join(small)}")
    across = {name: count for name, count in profile.across().items() if count}
    if across:
        lines.append("  across buckets: " + ", ".join(f"{name} {count / total:.1%}" for name, count in across.items()))
    for inclusive, label in ((True, "inclusive"), (False, "self")):
        lines.append(f"  top functions by {label} share:")
        for (name, path), count in profile.functions(inclusive=inclusive).most_common(top if inclusive else 8):
            lines.append(f"    {count / total:5.1%} {profile.ms(count):6.1f}  {name}  ({path})")
    return lines
