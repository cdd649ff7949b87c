"""Where a message's CPU goes: every process behind the web chat, sampled while residents talk.

Starts the API (demo province, SQLite), the action server, Rasa with the trained model and the gateway as
real processes (tests/support/servers.py), attaches py-spy to each, and plays whole conversations
(bench/replies.script: greeting, FAQ, booking form, schedule, "my bookings", cancellation; typed without
diacritics) through the gateway's web chat, one resident at a time. Then prints each process's CPU per
message (/proc utime + stime) and where its samples fall — Rasa's by NLU component, policy, tracker store,
NLG, action-server call, tracker replay, … — with the functions holding the largest share; and, from one
long conversation profiled early and late, which of Rasa's parts grow with the conversation's length.

    .venv/bin/python bench/profile.py [--conversations 6] [--rate 200] [--long 100]
    .venv/bin/python bench/profile.py --root /work/before     # another checkout (a git worktree with its model)
    .venv/bin/python bench/profile.py --actions-in-process    # no action server: Rasa runs the actions itself
    .venv/bin/python bench/profile.py --report var/profiles/<run>   # the breakdown of a run again

A bucket's "ms per message" is its share of the process's samples times the process's CPU per message
(/proc): py-spy counts a thread that waits for a core as running, so on a busy machine samples outnumber
CPU time, while the shares hold. Bucket rules: bench/profile_stacks.py.

Each run's stacks are kept under var/profiles/<UTC time>/ in py-spy's raw (collapsed) format, one line per
stack: open a file in https://www.speedscope.app or give it to flamegraph.pl; breakdown.txt is what was
printed. Needs `make train` (the model) and `make setup` (py-spy); py-spy attaches with ptrace (root here,
or kernel.yama.ptrace_scope = 0).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import TICK, Meter, commands, percentile, python_speed, tree_cpu_seconds  # noqa: E402
from bench.profile_stacks import PROCESSES, Profile, render  # noqa: E402
from bench.replies import page_message, page_session, script  # noqa: E402
from tests.support.servers import ProcessOutput, model_path, running_assistant, running_gateway  # noqa: E402

PROFILES = ROOT / "var" / "profiles"
PY_SPY = Path(sys.executable).with_name("py-spy")
# Which server a process is, by its command line (as bench/scale.py tells them apart).
MARKERS = {"rasa": "rasa run --enable-api", "actions": "rasa run actions", "api": "-m api serve",
           "gateway": "-m gateway"}
# The long conversation: cheap turns that do not end it (no form, no booking), again and again.
LONG_TURNS = ("xin chao", "ksk co mat tien khong", "di kham can mang gi", "lich kham o xa huu lien", "cam on")


def pid_of(part: str, port: str) -> int:
    for pid, command in commands():
        if MARKERS[part] in command and f"--port {port}" in command:
            return pid
    raise RuntimeError(f"no {part} process on port {port}")


def cpu_by_thread(pid: int) -> dict[str, float]:
    """CPU seconds of each living thread, by its name ("main" for the first)."""
    used: dict[str, float] = defaultdict(float)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = "main" if task.name == str(pid) else (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[name] += (int(fields[11]) + int(fields[12])) / TICK
    return dict(used)


@contextmanager
def sampled(pids: dict[str, int], folder: Path, rate: int, nonblocking: bool, suffix: str = ""
            ) -> Iterator[dict[str, int]]:
    """py-spy attached to each process until the block ends; its raw stacks land in folder/<part><suffix>.txt.
    Yields the profilers' own pids (their CPU is reported too).

    py-spy stops a process for each sample by default. Non-blocking it reads the memory of a running one,
    which costs the process nothing, but then it cannot tell a thread waiting in uvloop (Sanic, uvicorn) or
    in a lock from a running one — every such sample counts as work — and it loses the outer frames of
    some deep stacks (jsonschema's): measured here, 2026-12-02."""
    profilers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for part, pid in pids.items():
            log = (folder / f"{part}{suffix}.py-spy.log").open("wb")
            profilers[part] = subprocess.Popen(
                [str(PY_SPY), "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate),
                 *(["--nonblocking"] if nonblocking else []), "--threads", "--subprocesses", "--full-filenames",
                 "--output", str(folder / f"{part}{suffix}.txt")],
                stdout=log, stderr=subprocess.STDOUT)
            log.close()
        deadline = time.monotonic() + 10
        while not all("Sampling process" in (folder / f"{part}{suffix}.py-spy.log").read_text() for part in pids):
            failed = [part for part, p in profilers.items() if p.poll() is not None]
            if failed or time.monotonic() > deadline:
                text = (folder / f"{(failed or list(pids))[0]}{suffix}.py-spy.log").read_text()
                raise RuntimeError(f"py-spy did not attach to {failed or list(pids)}:\n{text}")
            time.sleep(0.05)
        yield {part: p.pid for part, p in profilers.items()}
    finally:
        for profiler in profilers.values():
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        for profiler in profilers.values():
            try:
                profiler.wait(timeout=60)
            except subprocess.TimeoutExpired:
                profiler.kill()


def converse(client: httpx.Client, gateway: str, session: str, turns: list[tuple[str, str]],
             pids: dict[str, int], record: list[dict[str, Any]]) -> int:
    """One resident's messages through the web chat, one after the other; each message's reply time and the
    CPU each process spent on it go to `record`. Returns how many replies were missing or failed."""
    failures = 0
    last: list[dict[str, Any]] = []
    for kind, typed in turns:
        text = typed
        if typed.startswith("<"):
            buttons: list[dict[str, Any]] = next((r["buttons"] for r in reversed(last) if r.get("buttons")), [])
            if not buttons:
                return failures + 1
            text = buttons[0]["payload"]
        before = {part: tree_cpu_seconds(pid) for part, pid in pids.items()}
        started = time.perf_counter()
        response = client.post(f"{gateway}/chat/messages", json=page_message(session, text))
        elapsed = time.perf_counter() - started
        record.append({"kind": kind, "reply_s": elapsed,
                       "cpu_ms": {part: (tree_cpu_seconds(pid) - before[part]) * 1000 for part, pid in pids.items()}})
        last = response.json()["replies"] if response.status_code == 200 else []
        failures += not last
    return failures


def run(args: argparse.Namespace, folder: Path) -> None:
    # Every resident writes from this machine's one address, which the API's per-address limits would
    # rightly take for a crowd (api_env passes the environment on).
    os.environ.update({"BOOKINGS_PER_ADDRESS": "1000", "LOOKUP_ADDRESS_ATTEMPTS": "1000",
                       "RESIDENT_WRITES_PER_ADDRESS": "10000"})
    logs: list[ProcessOutput] = []
    started = time.perf_counter()
    with ExitStack() as stack:
        urls = stack.enter_context(running_assistant(Path(tempfile.mkdtemp(prefix="bench-profile-")), logs=logs,
                                                     root=args.root, actions_in_process=args.actions_in_process))
        gateway = stack.enter_context(running_gateway(urls))
        client = stack.enter_context(httpx.Client(timeout=120))
        pids = {part: pid_of(part, url.rsplit(":", 1)[1]) for part, url in
                (("gateway", gateway), ("rasa", urls["rasa"]), ("api", urls["api"]))}
        if not args.actions_in_process:
            pids["actions"] = next(o.pid for o in logs if MARKERS["actions"] in Path(f"/proc/{o.pid}/cmdline")
                                   .read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        print(f"services ready in {time.perf_counter() - started:.0f} s; pids {pids}; {python_speed()}", flush=True)
        # Warm-up, not measured: the first predictions build TensorFlow's graphs.
        warm = converse(client, gateway, f"profile-warm-{os.getpid()}", script(900_000), pids, [])
        if warm:  # the gateway retries a failing Rasa for a minute a message: not worth measuring
            rasa_log = Path(next(o.log_path for o in logs if o.pid == pids["rasa"])).read_text(errors="replace")
            raise SystemExit(f"{warm} replies of the warm-up conversation failed; Rasa's output ends:\n"
                             f"{rasa_log[-3000:]}")
        record: list[dict[str, Any]] = []
        failures = 0
        # The profilers count with this process ("load generator") once they have ended.
        meter = Meter(pids)
        threads_before = {part: cpu_by_thread(pid) for part, pid in pids.items()}
        with sampled(pids, folder, args.rate, args.nonblocking):
            for index in range(args.conversations):
                failures += converse(client, gateway, page_session("profile", index, os.getpid()), script(index), pids,
                                     record)
        cpu = meter.per_message_ms(len(record))
        threads = {part: {name: (seconds - threads_before[part].get(name, 0.0)) * 1000 / len(record)
                          for name, seconds in cpu_by_thread(pid).items()} for part, pid in pids.items()}
        # One long conversation, Rasa and the action server profiled over its first and its last quarter.
        long_record: list[dict[str, Any]] = []
        # Quarters of whole rounds, so that the first and the last quarter hold the same messages.
        rounds = max(args.long // len(LONG_TURNS), 4)
        quarter = rounds // 4 * len(LONG_TURNS)
        session = page_session("profile-long", os.getpid())
        turns = [("long", LONG_TURNS[i % len(LONG_TURNS)]) for i in range(rounds * len(LONG_TURNS))]
        long_pids = {part: pids[part] for part in ("rasa", "actions") if part in pids}
        with sampled(long_pids, folder, args.rate, args.nonblocking, "-early"):
            failures += converse(client, gateway, session, turns[:quarter], pids, long_record)
        failures += converse(client, gateway, session, turns[quarter:-quarter], pids, long_record)
        with sampled(long_pids, folder, args.rate, args.nonblocking, "-late"):
            failures += converse(client, gateway, session, turns[-quarter:], pids, long_record)
    (folder / "run.json").write_text(json.dumps({
        "root": str(args.root), "conversations": args.conversations, "rate": args.rate, "parts": list(pids),
        "nonblocking": args.nonblocking, "failures": failures, "cpu_ms": cpu, "threads_ms": threads,
        "messages": record, "long": long_record, "long_quarter": quarter}, indent=1))


def report(folder: Path) -> list[str]:
    data = json.loads((folder / "run.json").read_text())
    rate, messages, root, cpu = data["rate"], data["messages"], Path(data["root"]), data["cpu_ms"]
    count = len(messages)
    replies = [m["reply_s"] * 1000 for m in messages]
    lines = [f"{count} messages in {data['conversations']} conversations through the gateway's web chat, one at a "
             f"time; py-spy at {rate} Hz ({'non-blocking' if data['nonblocking'] else 'blocking'}); servers run "
             f"from {root}; stacks in {folder}/",
             f"reply with the profilers attached: p50 {statistics.median(replies):.0f} ms, "
             f"p95 {percentile(replies, 0.95):.0f} ms; missing or failed replies: {data['failures']}", ""]
    # Every process profiled (no action server when Rasa ran the actions itself), in PROCESSES' order.
    parts = {part: title for part, title in PROCESSES.items() if part in data.get("parts", PROCESSES)}
    profiles = {part: Profile.load(folder / f"{part}.txt", cpu[part], root) for part in parts}
    total = sum(cpu[part] for part in parts)
    lines.append("CPU ms per message (/proc utime+stime, children included); py-spy's samples per message in ms "
                 "(a thread running or waiting for a core); CPU ms per message by thread:")
    for part in parts:
        busiest = sorted(data["threads_ms"][part].items(), key=lambda item: -item[1])
        shown = ", ".join(f"{name} {ms:.1f}" for name, ms in busiest[:4] if ms > 0)
        lines.append(f"  {part:<8} {cpu[part]:6.1f}  {cpu[part] / total:4.0%}   sampled "
                     f"{profiles[part].total / rate / count * 1000:6.1f}   by thread: {shown}")
    lines.append(f"  {'all':<8} {total:6.1f}         besides: this process with its profilers "
                 f"{cpu['load generator']:.1f}, other processes {cpu['other processes']:.1f}, steal {cpu['steal']:.1f}")
    lines += ["", "By kind of message (CPU ms per message; reply p50 ms):",
              "  kind        n   reply  " + "  ".join(f"{part:>8}" for part in parts)]
    kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        kinds[message["kind"]].append(message)
    for kind, group in sorted(kinds.items(), key=lambda item: -statistics.mean(m["cpu_ms"]["rasa"] for m in item[1])):
        cells = "  ".join(f"{statistics.mean(m['cpu_ms'][part] for m in group):8.1f}" for part in parts)
        lines.append(f"  {kind:<10}{len(group):>3} {statistics.median(m['reply_s'] for m in group) * 1000:6.0f}  "
                     + cells)
    for part, title in parts.items():
        lines += ["", *render(title, profiles[part], top=15 if part == "rasa" else 8)]
    lines += ["", *long_report(folder, data, parts)]
    return lines


def long_report(folder: Path, data: dict[str, Any], parts: dict[str, str]) -> list[str]:
    messages, quarter, root = data["long"], data["long_quarter"], Path(data["root"])
    lines = [f"One long conversation ({len(messages)} messages cycling through {', '.join(LONG_TURNS)}):",
             "  turns      reply p50   CPU ms:" + "".join(f"{part:>10}" for part in parts)]
    for start in range(0, len(messages), 10):
        block = messages[start:start + 10]
        reply = statistics.median(m["reply_s"] for m in block) * 1000
        used = "".join(f"{statistics.mean(m['cpu_ms'][part] for m in block):10.1f}" for part in parts)
        lines.append(f"  {start + 1:>3}-{start + len(block):<3}    {reply:6.0f}     {used}")
    for part in (part for part in ("rasa", "actions") if part in parts):
        early = Profile.load(folder / f"{part}-early.txt",
                             statistics.mean(m["cpu_ms"][part] for m in messages[:quarter]), root)
        late = Profile.load(folder / f"{part}-late.txt",
                            statistics.mean(m["cpu_ms"][part] for m in messages[-quarter:]), root)
        lines += [f"  {PROCESSES[part]}, CPU ms per message by bucket over the first {quarter} and the last "
                  f"{quarter} turns (the same messages):", "    early    late   bucket"]
        early_buckets, late_buckets = early.buckets(), late.buckets()
        for name in sorted(set(early_buckets) | set(late_buckets),
                           key=lambda n: -max(early_buckets.get(n, 0), late_buckets.get(n, 0))):
            first, last = early.ms(early_buckets.get(name, 0)), late.ms(late_buckets.get(name, 0))
            if max(first, last) >= 0.5:
                lines.append(f"  {first:7.1f} {last:7.1f}   {name}")
        lines.append(f"  {early.cpu_ms:7.1f} {late.cpu_ms:7.1f}   all (/proc)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=6)
    parser.add_argument("--rate", type=int, default=200, help="samples per second per process")
    parser.add_argument("--long", type=int, default=100, help="messages of the long conversation")
    parser.add_argument("--nonblocking", action="store_true",
                        help="py-spy without stopping the processes (counts waiting threads as busy: see `sampled`)")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the checkout to run (a git worktree with its own models/bot.tar.gz), with this one's "
                             "environments; default this one")
    parser.add_argument("--actions-in-process", action="store_true",
                        help="no action server: Rasa runs the actions itself (ACTIONS_IN_PROCESS=1 in production)")
    parser.add_argument("--report", type=Path, help="print the breakdown of an earlier run's folder")
    args = parser.parse_args()
    if args.report:
        folder = args.report.resolve()
    else:
        args.root = args.root.resolve()
        model = model_path(args.root)
        if not model.exists():
            sys.exit(f"Chưa có mô hình {model}: chạy `make train` trước.")
        if not PY_SPY.exists():
            sys.exit(f"Chưa có {PY_SPY}: chạy `make setup` trước.")
        folder = PROFILES / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        folder.mkdir(parents=True)
        run(args, folder)
    lines = report(folder)
    (folder / "breakdown.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
