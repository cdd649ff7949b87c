"""Who a campaign's day-before reminders reach: the chat alone (before the delivery plan) against chat →
ZNS → SMS, on the same scripted campaign (tests/support/reminder_world.py): residents who booked on
Zalo for a session three days ahead, whose chats last wrote at ages spread over two weeks, one in four
with a number not on Zalo, one in ten who said no to reminders, one in ten who agreed to the chat only.
Everything outside runs as local fakes (Zalo OA and ZNS, the SMS provider) behind the real gateway and
API.

    .venv/bin/python bench/reminders.py [--residents 100]

Prints, for each plan, the share reached by each way, the residents not reached, duplicates and sends by
a way the resident did not agree to (both must be 0), and the time of the whole scripted run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from api.content.service import seed_messages  # noqa: E402
from api.core.db import Database  # noqa: E402
from api.core.migrate import upgrade  # noqa: E402
from api.main import create_app  # noqa: E402
from api.notifications import templates  # noqa: E402
from api.staff.service import create_staff  # noqa: E402
from tests.support.env import TEST_SECRET, make_settings, service_credential  # noqa: E402
from tests.support.reminder_world import EVERY_WAY, Campaign, campaign, running_services  # noqa: E402
from tests.support.world import World  # noqa: E402


def run(residents: int, reach: list[str], workdir: Path) -> tuple[Campaign, float]:
    settings = make_settings(f"sqlite:///{workdir / 'api.db'}", workdir)
    database = Database.from_settings(settings)
    upgrade(database.writer)
    with database.write() as db:
        seed_messages(db)
        create_staff(db=db, actor=None, username="bench-admin", password="mat-khau-123", role="admin")
        for kind in templates.KINDS:  # an approved ZNS template per kind, as staff would configure it
            templates.save(db, templates.TemplateSet(kind, "231456", {"gio_kham": "time", "noi_kham": "place"},
                                                     templates.DEFAULT_SMS[kind]), actor=None)
    headers = {"Authorization": f"Bearer {service_credential(database)}"}
    with TestClient(create_app(settings, database), headers=headers) as client, \
            running_services(settings, database, workdir) as services:
        token = client.post("/api/v1/auth/token", data={"username": "bench-admin", "password": "mat-khau-123"})
        world = World(client, {"Authorization": f"Bearer {token.json()['access_token']}"})
        started = time.perf_counter()
        result = campaign(client, world, settings, database, services, size=residents, reach=reach)
        elapsed = time.perf_counter() - started
    database.dispose()
    return result, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=100)
    args = parser.parse_args()
    os.environ["SECRET_KEY"] = TEST_SECRET
    print(f"{args.residents} residents booked on Zalo; day-before reminders")
    print(f"{'plan':<22}{'chat':>7}{'ZNS':>7}{'SMS':>7}{'not reached':>13}{'duplicates':>12}{'no consent':>12}"
          f"{'s (booking+send)':>18}")
    for name, reach in (("chat only (before)", ["chat"]), ("chat → ZNS → SMS", EVERY_WAY)):
        with tempfile.TemporaryDirectory(prefix=f"ksk-reminders-{uuid.uuid4().hex[:4]}-") as workdir:
            result, elapsed = run(args.residents, reach, Path(workdir))
        share = {way: 100 * result.reached[way] / result.residents for way in ("chat", "zns", "sms", "not reached")}
        print(f"{name:<22}{share['chat']:>6.0f}%{share['zns']:>6.0f}%{share['sms']:>6.0f}%"
              f"{share['not reached']:>12.0f}%{result.duplicates:>12}{result.without_consent:>12}{elapsed:>18.1f}")


if __name__ == "__main__":
    main()
