"""`create-service-credential --from-env VAR`: a deployment's init step registers the credential that a
Kubernetes Secret gives the action server and Rasa (deploy/images/README.md), again at every start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from api.core.config import Settings
from api.core.db import Database
from api.security.models import ServiceCredential
from tests.support.servers import api_env

GIVEN = "ksk_svc_" + "k" * 43


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api", *args], env=env, capture_output=True, text=True)


def test_the_credential_of_a_secret_is_registered_once_and_replaces_the_others(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**api_env(url), "SERVICE_CREDENTIAL": GIVEN}
    assert run_cli(env, "migrate").returncode == 0
    printed = run_cli(env, "create-service-credential", "--name", "action-server").stdout.strip()
    for _start in range(2):  # the init step of every deployment, and of every restart
        registered = run_cli(env, "create-service-credential", "--name", "action-server", "--replace",
                             "--from-env", "SERVICE_CREDENTIAL")
        assert registered.returncode == 0, registered.stderr
        assert GIVEN not in registered.stdout  # whoever set the variable knows it; logs need not
    assert run_cli(env, "create-service-credential", "--name", "other", "--from-env", "SERVICE_CREDENTIAL"
                   ).returncode == 2
    assert run_cli({**env, "SERVICE_CREDENTIAL": "short"}, "create-service-credential", "--name", "action-server",
                   "--from-env", "SERVICE_CREDENTIAL").returncode == 2
    assert run_cli({**env, "SERVICE_CREDENTIAL": ""}, "create-service-credential", "--name", "action-server",
                   "--from-env", "SERVICE_CREDENTIAL").returncode == 2

    db = Database.from_settings(Settings(database_url=url, secret_key="unused" * 8))
    with db.read() as session:
        rows = session.execute(select(ServiceCredential.name, ServiceCredential.active)
                               .order_by(ServiceCredential.id)).all()
    db.dispose()
    assert printed.startswith("ksk_svc_")
    assert [tuple(row) for row in rows] == [("action-server", False), ("action-server", True)]


def test_a_revoked_credential_in_the_secret_stays_revoked(tmp_path: Path) -> None:
    # A leaked credential revoked by an admin must not come back at the next pod start, and a pod of the
    # previous rollout restarting with the old Secret must not revoke the new one.
    env = {**api_env(f"sqlite:///{tmp_path / 'cli.db'}"), "OLD": GIVEN, "NEW": "ksk_svc_" + "n" * 43}
    assert run_cli(env, "migrate").returncode == 0
    register = ("create-service-credential", "--name", "action-server", "--replace", "--from-env")
    assert run_cli(env, *register, "OLD").returncode == 0
    assert run_cli(env, *register, "NEW").returncode == 0  # the rotation: OLD revoked
    old_pod = run_cli(env, *register, "OLD")
    assert old_pod.returncode == 2 and "thu hồi" in old_pod.stderr
    assert run_cli(env, "revoke-service-credential", "--name", "action-server").returncode == 0
    assert run_cli(env, *register, "NEW").returncode == 2

    db = Database.from_settings(Settings(database_url=f"sqlite:///{tmp_path / 'cli.db'}", secret_key="unused" * 8))
    with db.read() as session:
        assert session.scalars(select(ServiceCredential).where(ServiceCredential.active)).all() == []
    db.dispose()
