"""Browser code from npm that the staff pages serve (scripts/vendor-js/README.md): the committed copy is the
pinned package's file, byte for byte, with its licence beside it, and it is served like our own."""

from __future__ import annotations

import hashlib
import json

import pytest
from fastapi.testclient import TestClient

from tests.support.env import ROOT

VENDOR = ROOT / "api" / "studio" / "static" / "vendor"
PIN = ROOT / "scripts" / "vendor-js"
# sha256 of dist/jsQR.js in jsqr 1.4.0 (the npm tarball's integrity is in package-lock.json).
JSQR_SHA256 = "bc40c8a15196236b2314db0856f72ca0b49980cd5413b8c852a7349f5fee0859"


def test_the_committed_jsqr_is_the_pinned_release_with_its_licence() -> None:
    assert hashlib.sha256((VENDOR / "jsQR.js").read_bytes()).hexdigest() == JSQR_SHA256
    assert "Apache License" in (VENDOR / "jsQR.LICENSE.txt").read_text(encoding="utf-8")
    lock = json.loads((PIN / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/jsqr"]["version"] == "1.4.0"
    assert json.loads((PIN / "package.json").read_text(encoding="utf-8"))["dependencies"] == {"jsqr": "1.4.0"}
    # A strict CSP (script-src 'self', no 'unsafe-eval') runs it: it builds no code from strings.
    source = (VENDOR / "jsQR.js").read_text(encoding="utf-8")
    assert "eval(" not in source and "new Function" not in source


def test_the_copy_matches_the_installed_package_when_make_vendor_js_has_run() -> None:
    installed = PIN / "node_modules" / "jsqr"
    if not installed.exists():
        pytest.skip("scripts/vendor-js is not installed (make vendor-js)")
    assert (installed / "dist" / "jsQR.js").read_bytes() == (VENDOR / "jsQR.js").read_bytes()
    assert (installed / "LICENSE").read_bytes() == (VENDOR / "jsQR.LICENSE.txt").read_bytes()


def test_the_studio_serves_it_as_a_script(client: TestClient) -> None:
    response = client.get("/studio/static/vendor/jsQR.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["x-content-type-options"] == "nosniff"
