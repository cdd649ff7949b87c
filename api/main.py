"""The FastAPI application, built by a factory so nothing connects at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Response
from sqlalchemy import text

from api.audio.router import router as audio_router
from api.audio.speech import SpeechEngine
from api.audit.router import router as audit_router
from api.bookings.qr import router as booking_qr_router
from api.bookings.router import router as bookings_router
from api.communes.router import router as communes_router
from api.content.router import router as content_router
from api.core import handlers, logs
from api.core.config import Settings, get_settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.core.metrics import Gauges, RequestMetrics, exposition
from api.deps import DatabaseDep
from api.docs import install as install_docs
from api.faq.router import router as faq_router
from api.faq.service import FaqIndexCache
from api.notifications.gateway_router import router as delivery_router
from api.notifications.router import router as notifications_router
from api.outreach.router import router as outreach_router
from api.privacy.router import router as privacy_router
from api.recording.takes import TAKE_MAX_BYTES
from api.records.router import router as records_router
from api.reports.depths import queue_depths
from api.reports.router import router as reports_router
from api.security.credentials import CredentialCache
from api.security.router import router as alerts_router
from api.sessions.router import router as sessions_router
from api.staff.router import router as staff_router
from api.studio import router as studio
from api.studio.voice_pages import TAKE_PATH as VOICE_TAKE_PATH
from common.heap import freeze_startup_heap

API_PREFIX = "/api/v1"

health_router = APIRouter(tags=["health"])


@health_router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@health_router.get("/ready")
def ready(database: DatabaseDep) -> dict[str, str]:
    with database.read() as db:
        db.execute(text("SELECT 1"))
    return {"status": "ready"}


@health_router.get("/metrics", include_in_schema=False)
def metrics(database: DatabaseDep) -> Response:
    """Prometheus text; restrict it to the monitoring network at the proxy."""
    return exposition(Gauges(lambda: queue_depths(database)))


def create_app(settings: Settings | None = None, database: Database | None = None, *,
               freeze_heap: bool = False) -> FastAPI:
    """The API; `freeze_heap` for the served process only (`create_served_app`), not for tests' apps."""
    settings = settings or get_settings()
    database = database or Database.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if freeze_heap:
            freeze_startup_heap()
        yield
        database.dispose()

    app = FastAPI(
        title="Khám sức khỏe — API lịch khám",
        description="Đặt lịch khám sức khỏe định kỳ miễn phí (Chỉ thị 17/CT-TTg).",
        version="0.1.0",
        lifespan=lifespan,
        # /docs is ours (api/docs.py): FastAPI's own pages load their scripts from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.crypto = Crypto.from_settings(settings)
    app.state.faq_index = FaqIndexCache()
    app.state.speech = SpeechEngine(settings)
    app.state.credentials = CredentialCache()
    handlers.install(app)
    logs.install()
    app.add_middleware(RequestMetrics, service="api")
    app.add_middleware(handlers.BodySizeLimit, max_bytes=settings.max_body_bytes,
                       larger={f"{API_PREFIX}/records/import": settings.max_import_bytes,
                               # multipart framing on top of the largest accepted recording
                               f"{API_PREFIX}/audio/clips": settings.audio_max_bytes + 64 * 1024,
                               "/studio/audio": settings.audio_max_bytes + 64 * 1024,
                               # the file, then the previewed file carried back (compressed, encrypted)
                               "/studio/records/import": settings.max_import_bytes + 64 * 1024,
                               "/studio/records/import/confirm": settings.max_import_bytes * 2},
                       patterns=[(VOICE_TAKE_PATH, TAKE_MAX_BYTES + 64 * 1024)])
    routers = (health_router, staff_router, communes_router, sessions_router, bookings_router, faq_router, audit_router,
               reports_router, records_router, privacy_router, content_router, audio_router, outreach_router,
               notifications_router, delivery_router, alerts_router, booking_qr_router)
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    studio.install(app)
    install_docs(app)
    return app


def create_served_app() -> FastAPI:
    """What `python -m api serve` runs: the API with its start-up heap frozen once it is up (common/heap.py)."""
    return create_app(freeze_heap=True)
