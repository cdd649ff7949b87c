"""The API's imports run down (docs: core → shared domains → domains → routers/pages): no two domain
packages import each other, and only the app factory imports a router. `scripts/import_layers.py`
measures it; these tests keep it so, and check that the measure itself sees a cycle when there is one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.env import ROOT, load_script

SCRIPT = ROOT / "scripts" / "import_layers.py"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_api_packages_form_no_cycle_and_routers_import_no_router() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no cycles" in result.stdout


def test_no_router_module_imports_another_router() -> None:
    layers = load_script(SCRIPT)
    imports = layers.module_imports(ROOT)
    routers = {m for m in imports if m.startswith("api.") and m.endswith(".router")}
    assert len(routers) > 10  # the measure found the routers it is about
    offending = sorted((m, t) for m in routers for t in imports[m] if t in routers)
    assert offending == []


def test_the_measure_sees_cycles_lazy_imports_and_router_imports(tmp_path: Path) -> None:
    layers = load_script(SCRIPT)
    root = write(tmp_path, {
        "api/__init__.py": "",
        "api/a/__init__.py": "",
        "api/a/service.py": "from api.b.models import Thing\n",
        "api/a/router.py": "from api.b.router import helper\n",
        "api/b/__init__.py": "",
        "api/b/models.py": "Thing = 1\n",
        # a lazy import inside a function closes the cycle
        "api/b/service.py": "def later():\n    from api.a import service\n    return service\n",
        "api/b/router.py": "def helper():\n    return 1\n",
    })
    imports = layers.module_imports(root)
    cycles = layers.strongly_connected(layers.without_entry_points(layers.build_graph(imports)))
    assert cycles == [["api.a", "api.b"]]
    assert layers.route_imports(imports) == [("api.a.router", "api.b.router")]
    assert layers.main(["--root", str(root)]) == 1
