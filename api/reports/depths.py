"""Work waiting in the API's queues, read when Prometheus scrapes."""

from __future__ import annotations

from sqlalchemy import func, select

from api.core.db import Database
from api.faq.models import UnansweredQuestion
from api.notifications.models import BroadcastDelivery, ReminderLog


def queue_depths(database: Database) -> list[tuple[str, str, float]]:
    with database.read() as db:
        pending = db.scalar(select(func.count(BroadcastDelivery.id)).where(
            BroadcastDelivery.status.in_(("pending", "sending")))) or 0
        retrying = db.scalar(select(func.count(ReminderLog.id)).where(ReminderLog.status == "retry")) or 0
        unanswered = db.scalar(select(func.count(UnansweredQuestion.id)).where(
            UnansweredQuestion.resolved.is_(False))) or 0
    return [("ksk_announcements_pending", "announcement messages not yet handed to the gateway", float(pending)),
            ("ksk_reminders_retrying", "reminders waiting for the gateway to come back", float(retrying)),
            ("ksk_unanswered_questions_open", "questions in the staff inbox", float(unanswered))]
