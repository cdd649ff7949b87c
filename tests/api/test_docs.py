"""/docs works without internet: the page names only files this API serves, each of them is served
with its real type, and the assets' mount reaches nothing outside swagger-ui's dist folder."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.support.env import make_settings

ASSET_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.fixture(scope="module")
def docs_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # No request here reaches the database: an empty SQLite file is enough.
    tmp = tmp_path_factory.mktemp("docs")
    with TestClient(create_app(make_settings(f"sqlite:///{tmp / 'docs.db'}", tmp))) as client:
        yield client


def referenced_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)


def test_docs_page_names_no_other_host(docs_client: TestClient) -> None:
    page = docs_client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = referenced_urls(page.text)
    assert len(urls) >= 3, urls  # script, style sheet, icon
    assert not re.search(r"(?:https?:)?//", page.text), "/docs still names another host"


def test_every_asset_of_the_docs_page_is_served_with_its_type(docs_client: TestClient) -> None:
    for url in referenced_urls(docs_client.get("/docs").text):
        response = docs_client.get(url)
        assert response.status_code == 200, url
        expected = ASSET_TYPES[Path(url).suffix]
        assert expected in response.headers["content-type"], (url, response.headers["content-type"])
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "SwaggerUIBundle" in docs_client.get("/docs/assets/swagger-ui-bundle.js").text


def test_swagger_ui_reads_this_apis_schema(docs_client: TestClient) -> None:
    page = docs_client.get("/docs").text
    assert "url: '/openapi.json'" in page
    schema = docs_client.get("/openapi.json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.1")
    redirect = docs_client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200 and not re.search(r"(?:https?:)?//", redirect.text)


def test_redoc_is_off(docs_client: TestClient) -> None:
    # Its script would come from a CDN; /docs is the one documentation page.
    assert docs_client.get("/redoc").status_code == 404


@pytest.mark.parametrize("path", [
    "/docs/assets/../../pyproject.toml",
    "/docs/assets/..%2F..%2Fpyproject.toml",
    "/docs/assets/%2E%2E/%2E%2E/%2E%2E/swagger_ui_bundle/__init__.py",
    "/docs/assets/..%2F__init__.py",
    "/docs/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/docs/assets//etc/passwd",
    "/docs/assets/..\\__init__.py",
])
def test_the_assets_mount_serves_nothing_outside_swagger_ui(docs_client: TestClient, path: str) -> None:
    response = docs_client.get(path)
    assert response.status_code == 404, (path, response.status_code, response.text[:200])


@pytest.mark.slow
def test_swagger_ui_draws_the_api_in_a_browser_from_this_server_alone(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.support.browser import chromium
    from tests.support.servers import app_in_thread

    tmp = tmp_path_factory.mktemp("docs-browser")
    app = create_app(make_settings(f"sqlite:///{tmp / 'docs.db'}", tmp))
    with app_in_thread(app) as base, chromium(1366, 768) as driver:
        driver.get(f"{base}/docs")
        # Drawn from /openapi.json: the operations are on the page.
        WebDriverWait(driver, 15).until(lambda d: d.execute_script(
            "return document.querySelectorAll('.opblock').length") > 10)
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
        assert fetched and all(url.startswith(base + "/") for url in fetched), fetched
