from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, func, inspect, select, text

from api.bookings.models import Booking
from api.communes.models import Commune
from api.core.config import Settings
from api.core.db import Database
from api.core.migrate import alembic_config
from api.models import Base
from api.sessions.models import ExamSession
from tests.support.env import postgres_schema
from tests.support.servers import api_env


def test_migrations_match_the_models(database: Database) -> None:
    with database.writer.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    from alembic import command

    db = Database.from_settings(Settings(database_url=f"sqlite:///{tmp_path / 'm.db'}", secret_key="x" * 40))
    config = alembic_config()
    for target, action in (("head", command.upgrade), ("base", command.downgrade), ("head", command.upgrade)):
        with db.writer.begin() as conn:
            config.attributes["connection"] = conn
            action(config, target)
    assert "bookings" in inspect(db.writer).get_table_names()
    db.dispose()


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api", *args], env=env, capture_output=True, text=True)


def test_cli_migrate_seed_and_create_staff(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'cli.db'}"
    env = api_env(url)
    assert run_cli(env, "migrate").returncode == 0
    first = run_cli(env, "seed-demo")
    assert first.returncode == 0 and "MẪU" in first.stdout
    assert run_cli(env, "seed-demo").stdout.count("đã có sẵn") == 1

    no_commune = run_cli(env, "create-staff", "--username", "tram.x", "--password", "mat-khau-123",
                         "--role", "station")
    assert no_commune.returncode == 2 and "xã/phường" in no_commune.stderr
    created = run_cli(env, "create-staff", "--username", "tram.huulien", "--password", "mat-khau-123",
                      "--role", "station", "--commune-id", "1")
    assert created.returncode == 0, created.stderr
    duplicate = run_cli(env, "create-staff", "--username", "tram.huulien", "--password", "mat-khau-123",
                        "--role", "station", "--commune-id", "1")
    assert duplicate.returncode == 2 and "đã có người dùng" in duplicate.stderr
    weak = run_cli(env, "create-staff", "--username", "x.y", "--password", "ngan", "--role", "admin")
    assert weak.returncode == 2

    db = Database.from_settings(Settings(database_url=url, secret_key="unused" * 8))
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Commune)) >= 10
        exams = session.scalars(select(ExamSession)).all()
        assert any(e.capacity - e.booked <= 3 for e in exams), "some demo sessions are nearly full"
        assert all(e.note.startswith("[DỮ LIỆU MẪU]") for e in exams)
        confirmed = session.scalar(select(func.count()).where(Booking.status == "confirmed"))
        assert confirmed == sum(e.booked for e in exams)
    db.dispose()


def test_raw_sql_errors_join_sqlalchemys_exception_tree(database: Database) -> None:
    import pytest
    from sqlalchemy.exc import IntegrityError

    from api.core.rawsql import Raw

    sql = "INSERT INTO provinces (code, name) VALUES (:code, :name)"
    with pytest.raises(IntegrityError), database.write() as db:
        raw = Raw(db.connection())
        raw.run(sql, {"code": "99", "name": "A"})
        raw.run(sql, {"code": "99", "name": "B"})


@pytest.mark.postgres
def test_api_pods_migrating_an_empty_postgresql_at_once_take_turns(tmp_path: Path) -> None:
    # Kubernetes: every API pod's init step migrates (deploy/k8s/base/api.yaml); on a first deployment two
    # start together. Without the advisory lock the second fails on the first's uncommitted tables.
    with postgres_schema("ksk_mig") as url:
        env = api_env(url, audio_dir=tmp_path / "audio")
        pods = [subprocess.Popen([sys.executable, "-m", "api", "migrate"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _pod in range(3)]
        errors = [pod.communicate(timeout=120)[1] for pod in pods]
        assert [pod.returncode for pod in pods] == [0, 0, 0], [error[-500:] for error in errors]
        engine = create_engine(url)
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        engine.dispose()
        assert len(versions) == 1
