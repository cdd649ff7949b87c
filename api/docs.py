"""The API's interactive documentation at /docs, served from this machine.

FastAPI's default page loads swagger-ui from a CDN, which leaves /docs blank on a station network
without internet. The files come from the swagger-ui-bundle-v2 package instead (swagger-ui's dist
folder, as published). ReDoc is switched off: no package here ships it that we want to depend on,
and one documentation page is enough.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"


def install(app: FastAPI) -> None:
    """Adds /docs, its assets and swagger-ui's OAuth2 redirect page to an app built with docs_url=None."""
    # StaticFiles refuses any path that resolves outside its directory (../, %2F, symlinks), so only
    # swagger-ui's dist folder is reachable under /docs/assets.
    app.mount(ASSETS_PATH, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=app.title,
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
            oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
        )

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
