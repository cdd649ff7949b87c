"""What the Rasa server and the action server load never imports the API or the gateway.

Every module of actions/, the Rasa plugins (bot/*.py, bot/components/), common/ and vntext/ is
imported by the Rasa environment's own interpreter (Python 3.10), in a fresh isolated process (`-I`:
no PYTHONPATH, no current directory on sys.path) whose only project code is those folders, linked
into a temporary directory: `api` and `gateway` are simply not there. An import hook also records
any attempt to import them from our code, so an attempt wrapped in `try/except ImportError` still
fails the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The folders the Rasa environment runs; bot/ is taken without bot/gateway (a main-env runtime).
SHARED_PACKAGES = ("actions", "common", "vntext")
FORBIDDEN = ("api", "gateway", "bot.gateway")

_PROBE = r"""
import importlib, importlib.abc, json, sys, traceback

root, modules, forbidden = sys.argv[1], json.loads(sys.argv[2]), tuple(json.loads(sys.argv[3]))
attempts = []


class Boundary(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if not any(fullname == name or fullname.startswith(name + ".") for name in forbidden):
            return None
        ours = [f"{frame.filename[len(root) + 1:]}:{frame.lineno}" for frame in traceback.extract_stack()
                if frame.filename.startswith(root + "/")]
        if not ours:  # a third-party package's own module of that name is not our concern
            return None
        attempts.append({"module": fullname, "from": ours[-1]})
        raise ImportError(f"the Rasa environment must not import {fullname}")


sys.meta_path.insert(0, Boundary())
sys.path.insert(0, root)
failures = {}
for name in modules:
    try:
        importlib.import_module(name)
    except BaseException as error:  # noqa: BLE001 - every failure is reported, by module
        failures[name] = f"{type(error).__name__}: {error}"
loaded = sorted(name for name in sys.modules if any(name == f or name.startswith(f + ".") for f in forbidden))
print(json.dumps({"python": list(sys.version_info[:2]), "attempts": attempts, "failures": failures,
                  "loaded": loaded}))
"""


def rasa_side_modules(source: Path) -> list[str]:
    """Every module of the Rasa side, by file: bot/*.py and bot/components/ but not bot/gateway/."""
    files = [*sorted((source / "bot").glob("*.py")), *sorted((source / "bot" / "components").rglob("*.py"))]
    for package in SHARED_PACKAGES:
        files += sorted((source / package).rglob("*.py"))
    names = []
    for file in files:
        parts = list(file.relative_to(source).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def link_rasa_side(source: Path, into: Path) -> None:
    """A project tree holding only what the Rasa environment runs (links to the real files)."""
    for package in SHARED_PACKAGES:
        (into / package).symlink_to(source / package, target_is_directory=True)
    (into / "bot").mkdir()
    for file in (source / "bot").glob("*.py"):
        (into / "bot" / file.name).symlink_to(file)
    (into / "bot" / "components").symlink_to(source / "bot" / "components", target_is_directory=True)


def import_rasa_side(source: Path, scratch: Path) -> tuple[list[str], dict[str, Any]]:
    link_rasa_side(source, scratch)
    modules = rasa_side_modules(source)
    done = subprocess.run(
        [sys.executable, "-I", "-B", "-c", _PROBE, str(scratch), json.dumps(modules), json.dumps(FORBIDDEN)],
        cwd=scratch, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return modules, json.loads(done.stdout.strip().splitlines()[-1])


def test_the_rasa_side_imports_neither_the_api_nor_the_gateway(tmp_path: Path) -> None:
    modules, report = import_rasa_side(ROOT, tmp_path)
    assert report["python"] == [3, 10], "the Rasa side is proved on the Rasa environment's Python 3.10"
    assert {"actions.booking_form", "bot.tracker_store", "bot.components.vietnamese_tokenizer", "common.identity",
            "vntext"} <= set(modules), modules
    assert not any(name.startswith("bot.gateway") for name in modules)
    assert report["attempts"] == [], report["attempts"]
    assert report["loaded"] == [], report["loaded"]
    assert report["failures"] == {}, report["failures"]
