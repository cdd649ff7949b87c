"""Imports every model so Alembic and tests see the whole schema."""

from api.audio.models import AudioClip
from api.audit.models import AuditEntry
from api.bookings.models import Booking, IdempotencyKey
from api.communes.models import Commune, Province, Site
from api.consent.models import Consent
from api.content.models import BotMessage, ContentRevision
from api.core.db import Base
from api.core.usage import UsageCount
from api.faq.models import FaqAnswer, FaqEntry, FaqQuestion, UnansweredQuestion
from api.notifications.models import (
    AnnouncementSubscription,
    Broadcast,
    BroadcastDelivery,
    ReminderLog,
    ReminderSubscription,
    ReminderTemplate,
)
from api.outreach.models import ReferralCount, ReferralLink
from api.recording.models import RecordingInvitation, Take, Volunteer
from api.records.models import ApiKey, HealthRecord, RecordImport
from api.reports.models import ScamReport
from api.residents.models import Resident
from api.security.models import SecurityAlert, ServiceCredential, Throttle
from api.sessions.models import ExamSession
from api.staff.models import StaffUser

__all__ = [
    "AnnouncementSubscription", "AudioClip", "AuditEntry", "Base", "Broadcast", "BroadcastDelivery",
    "BotMessage", "Booking", "Commune", "ContentRevision", "ExamSession", "FaqAnswer", "FaqEntry",
    "FaqQuestion", "IdempotencyKey", "UnansweredQuestion", "ApiKey", "Consent", "HealthRecord",
    "RecordImport", "RecordingInvitation", "ReferralCount", "ReferralLink", "ReminderLog", "ReminderSubscription",
    "ReminderTemplate",
    "Throttle", "Province", "Resident", "ScamReport", "SecurityAlert", "ServiceCredential", "Site", "StaffUser",
    "Take", "UsageCount", "Volunteer",
]
