"""An announcement to N subscribers through the real gateway (a local fake of the Telegram Bot API
behind it), at the production pace, with the scheduler killed midway and restarted.

    .venv/bin/python bench/broadcast.py [--subscribers 10000] [--rate 25] [--crash-at 0.4]

Prints the time it took, the busiest second at the hand-over and at Telegram, and how many messages
Telegram received per chat (must be exactly one).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import update  # noqa: E402

from api.communes.models import Commune, Province  # noqa: E402
from api.core.config import Settings  # noqa: E402
from api.core.crypto import Crypto  # noqa: E402
from api.core.db import Database, utcnow  # noqa: E402
from api.core.migrate import upgrade  # noqa: E402
from api.core.notify import Delivery, GatewayNotifier  # noqa: E402
from api.notifications import broadcasts  # noqa: E402
from api.notifications.models import BroadcastDelivery  # noqa: E402
from api.staff.models import StaffUser  # noqa: E402
from tests.api.notifications.test_broadcasts import subscribers  # noqa: E402
from tests.support.fake_telegram import running_fake_bot_api  # noqa: E402
from tests.support.servers import app_in_thread  # noqa: E402

SECRET = "bench-secret-0123456789-abcdefghij"


class Crashing:
    """The scheduler process dies after handing over `after` messages."""

    def __init__(self, inner: GatewayNotifier, after: int) -> None:
        self.inner, self.after, self.handed = inner, after, 0
        self.times: list[float] = []

    def send(self, delivery: Delivery) -> str:
        if self.handed >= self.after:
            raise SystemExit("killed")
        self.handed += 1
        self.times.append(time.monotonic())
        return self.inner.send(delivery)


def busiest(times: list[float]) -> int:
    window: list[float] = []
    most = 0
    for moment in sorted(times):
        window.append(moment)
        while window[0] <= moment - 1.0:
            window.pop(0)
        most = max(most, len(window))
    return most


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--crash-at", type=float, default=0.4)
    args = parser.parse_args()
    os.environ["SECRET_KEY"] = SECRET
    from gateway.app import create_app
    from gateway.config import GatewaySettings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/api.db", secret_key=SECRET, audio_dir=Path(tmp) / "a")
        database = Database.from_settings(settings)
        upgrade(database.writer)
        crypto = Crypto.from_settings(settings)
        with database.write() as db:
            province = Province(code="BENCH", name="Tỉnh thử")
            db.add(province)
            db.flush()
            commune = Commune(province_id=province.id, code="B01", name="Xã Thử", kind="xa", search_key="xa thu",
                              compact_key="xathu")
            actor = StaffUser(username="bench", password_hash="-", role="admin")
            db.add_all([commune, actor])
            db.flush()
            commune_id = commune.id
        subscribers(database, crypto, commune_id, args.subscribers)
        with running_fake_bot_api() as bot_api:
            gateway_settings = GatewaySettings(
                gateway_database_url=f"sqlite:///{tmp}/gateway.db", telegram_bot_token="42:BENCH",
                telegram_mode="webhook", telegram_webhook_secret="s" * 20, telegram_api_base=bot_api.base,
                per_chat_interval_s=1.0, send_rate_per_s=30.0, rasa_url="http://127.0.0.1:9")
            with app_in_thread(create_app(gateway_settings)) as url, GatewayNotifier(url, crypto.internal_token) as api:
                with database.write() as db:
                    draft = broadcasts.create(db=db, actor=actor, commune_id=commune_id,
                                              text="Đội khám lưu động đến xã sáng thứ Bảy. Khám miễn phí.")
                    broadcasts.start(db=db, actor=actor, broadcast_id=draft.id)
                started = time.monotonic()
                crashing = Crashing(api, int(args.subscribers * args.crash_at))
                try:
                    broadcasts.dispatch(database=database, crypto=crypto, notifier=crashing, rate_per_s=args.rate,
                                        budget_s=10_000)
                except SystemExit:
                    print(f"scheduler killed after {crashing.handed} hand-overs; restarting")
                with database.write() as db:  # the restarted scheduler finds the dead one's claim stale
                    db.execute(update(BroadcastDelivery).where(BroadcastDelivery.status == "sending").values(
                        updated_at=utcnow() - broadcasts.STALE_CLAIM - timedelta(seconds=1)))
                resumed = Crashing(api, 10**9)
                broadcasts.dispatch(database=database, crypto=crypto, notifier=resumed, rate_per_s=args.rate,
                                    budget_s=10_000)
                handed_over = time.monotonic() - started
                bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) >= args.subscribers, timeout_s=3_600)
                delivered = time.monotonic() - started
        per_chat = Counter(call.data["chat_id"] for call in bot_api.sent("sendMessage"))
        sends = bot_api.sent("sendMessage")
        print(f"subscribers {args.subscribers}, hand-over pace {args.rate:g}/s")
        print(f"handed over to the gateway in {handed_over:.1f} s; all delivered to Telegram in {delivered:.1f} s")
        print(f"busiest second: hand-over {busiest(crashing.times + resumed.times)}, "
              f"Telegram sendMessage {busiest([c.at for c in sends])} (limit 30)")
        print(f"chats reached {len(per_chat)}, messages per chat {sorted(set(per_chat.values()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
