"""What the bench scripts read about running processes (/proc) and how they summarise latencies."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float | None:
    """CPU seconds (user + system) a process has used so far; with `reaped_children`, also what its
    children that ended (and were waited for) used. None once the process is gone."""
    try:
        # The command name in parentheses may hold spaces: the fields are counted after its ")".
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    used = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped_children:
        used += int(fields[13]) + int(fields[14])  # cutime, cstime
    return used / TICK


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants alive now."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        found.append(current)
        for task in tasks:
            try:
                pending.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by a process and its descendants, those that ended included (a server
    that forks workers or runs a command per request): differences of two readings are what it did."""
    return sum(cpu_seconds(member, reaped_children=True) or 0.0 for member in process_tree(pid))


def commands() -> Iterator[tuple[int, str]]:
    """(pid, command line or title) of every process alive now (PostgreSQL's server processes show their
    database in their title)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        yield int(entry.name), command


def cpu_by_command(parts: tuple[tuple[str, str], ...]) -> dict[tuple[int, str], float]:
    """CPU seconds (user + system) used so far by each process whose command line holds a marker:
    (pid, part) → s, for `parts` = ((part, marker), …), the first marker found naming the part."""
    used: dict[tuple[int, str], float] = {}
    for pid, command in commands():
        part = next((name for name, marker in parts if marker in command), None)
        if part and (seconds := cpu_seconds(pid)) is not None:
            used[(pid, part)] = seconds
    return used


def used_since(before: dict[tuple[int, str], float], now: dict[tuple[int, str], float]) -> dict[str, float]:
    """CPU seconds by part between two readings of (pid, part) → s, over the processes alive at the second:
    one that ended meanwhile (a backend, a restarted replica) takes nothing away from its part."""
    used: dict[str, float] = {}
    for (pid, part), seconds in now.items():
        used[part] = used.get(part, 0.0) + seconds - before.get((pid, part), 0.0)
    return used


def machine_busy() -> tuple[float, float, float]:
    """(busy CPU seconds, CPU seconds the hypervisor took away (steal), wall seconds) since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, steal = fields[3] + fields[4], fields[7]
    return (sum(fields) - idle - steal) / TICK, steal / TICK, sum(fields) / TICK / (os.cpu_count() or 1)


def python_speed() -> str:
    """How fast this machine runs plain Python now: the best of three 10-million-step loops. A gauge of a slow
    spell (here it took from 0.28 s to 1.3 s on one day), not a conversion factor: the chat's CPU per message
    moved far less than it. Figures of different runs compare through ratios measured in one run."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for step in range(10_000_000):
            total += step
        best = min(best, time.perf_counter() - started)
    return f"a 10-million-step Python loop takes {best:.2f} s"


class Meter:
    """CPU per message of named servers (each with its descendants) and of the processes whose command
    line holds a marker (PostgreSQL's backends for a database: they come and go), between readings;
    with what else the machine did meanwhile (this process, the rest, the hypervisor's steal)."""

    def __init__(self, trees: dict[str, int], markers: tuple[tuple[str, str], ...] = ()) -> None:
        self.trees, self.markers = trees, markers
        self.last = self._read()

    def _read(self) -> tuple[dict[str, float], dict[tuple[int, str], float], tuple[float, float, float]]:
        trees = {name: tree_cpu_seconds(pid) for name, pid in self.trees.items()}
        trees["load generator"] = cpu_seconds(os.getpid(), reaped_children=True) or 0.0
        return trees, cpu_by_command(self.markers) if self.markers else {}, machine_busy()

    def per_message_ms(self, messages: int) -> dict[str, float]:
        """Since the last call (or the start): part → CPU ms per message; "other processes" and
        "steal" are the machine's rest, in CPU ms per message too."""
        (trees, marked, machine), (trees_was, marked_was, machine_was) = self._read(), self.last
        self.last = trees, marked, machine
        used = {name: trees[name] - trees_was[name] for name in trees}
        for part, seconds in used_since(marked_was, marked).items():
            used[part] = used.get(part, 0.0) + seconds
        busy, steal = machine[0] - machine_was[0], machine[1] - machine_was[1]
        used["other processes"] = max(0.0, busy - sum(used.values()))
        used["steal"] = steal
        return {part: seconds * 1000 / max(messages, 1) for part, seconds in used.items()}


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (Rasa's Sanic may fork), in MiB."""
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total / 1024


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
