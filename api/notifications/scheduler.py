"""The outreach scheduler: one process (`python -m api scheduler`) that runs the periodic jobs with
APScheduler. Jobs live in memory — they are code, not data; what must survive a restart (which
reminder went out, how far a broadcast got) is in the database, so a restart loses nothing and
sends nothing twice. Several scheduler processes may run: every send is claimed first."""

from __future__ import annotations

import contextlib
import logging
import signal
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler  # type: ignore[import-untyped]

from api.audio.links import sent_audio_base
from api.audio.speech import SpeechEngine
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database, utcnow
from api.core.notify import GatewayNotifier
from api.notifications import broadcasts
from api.notifications.dispatch import dispatch_due
from common.errors import AppError

log = logging.getLogger(__name__)


def build(settings: Settings, database: Database, *, interval_s: float = 30.0) -> BlockingScheduler:
    crypto = Crypto.from_settings(settings)
    notifier = GatewayNotifier(settings.gateway_internal_url, crypto.internal_token)
    scheduler = BlockingScheduler(timezone=settings.timezone)

    def reminders() -> None:
        dispatch_due(database=database, crypto=crypto, settings=settings, notifier=notifier, now=utcnow())

    engine = SpeechEngine(settings)
    audio_base = sent_audio_base(settings.public_base_url)

    def speak(text: str) -> dict[str, object] | None:
        try:
            speech = engine.speak(text)
        except AppError:
            return None  # text only, as for everyone else
        return {"text": "", "buttons": [], "audio_url": f"{audio_base}/{speech.mp3_name}",
                "voice_url": f"{audio_base}/{speech.ogg_name}", "audio_language": "vi"}

    def announcements() -> None:
        # Works through announcements for a while each run, paced; the next run carries on.
        broadcasts.dispatch(database=database, crypto=crypto, notifier=notifier,
                            rate_per_s=settings.broadcast_rate_per_s, budget_s=20, speak=speak)

    # One run at a time; runs missed while busy are folded into the next one.
    scheduler.add_job(reminders, "interval", seconds=interval_s, id="reminders", max_instances=1, coalesce=True,
                      next_run_time=utcnow())
    scheduler.add_job(announcements, "interval", seconds=5, id="announcements", max_instances=1, coalesce=True)
    return scheduler


def run(settings: Settings, database: Database, *, interval_s: float = 30.0) -> None:
    scheduler = build(settings, database, interval_s=interval_s)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    # APScheduler logs every run of every job (announcements: every 5 s); only its problems matter.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    log.info("scheduler started: reminders every %.0f s", interval_s)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
