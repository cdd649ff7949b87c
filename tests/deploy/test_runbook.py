"""deploy/k8s/RUNBOOK.md against the manifests it operates (review of issue 22): its commands work as
written — with kubectl only, on the objects as rendered — and it names the steps a cluster admin must
take outside these manifests (the client's real address, the ingress log, monitoring, Redis)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.deploy.manifests import K8S, named, render

RUNBOOK = (K8S / "RUNBOOK.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    """The shell commands of the runbook: fenced blocks' lines (continuations joined) and inline `k …`."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", RUNBOOK, re.DOTALL):
        commands += [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    commands += re.findall(r"`((?:k|kubectl) [^`]+)`", RUNBOOK)
    return commands


def test_commands_need_kubectl_only() -> None:
    # The runbook assumes kubectl (its own kustomize), not the kustomize binary.
    assert not [c for c in _commands() if re.match(r"kustomize\b", c)]


def test_interactive_commands_get_a_terminal() -> None:
    # create-staff asks for the password (getpass): without -it there is no TTY and no stdin.
    staff = [c for c in _commands() if "create-staff" in c]
    assert staff
    assert all(re.search(r"\bexec -it\b", c) for c in staff), staff


def test_no_command_is_undone_by_the_next_apply() -> None:
    # `kubectl apply -k` sets every field the manifests name: an HPA floor patched by hand would go back
    # at the next model update. Campaign floors are an overlay patch.
    assert not [c for c in _commands() if re.search(r"\bpatch (hpa|horizontalpodautoscaler)\b", c)]
    assert "minReplicas" in RUNBOOK


def test_refusals_are_described_as_the_ingress_answers_them() -> None:
    # /api/v1/metrics routes to the Service without endpoints (503); /notify has no rule at all (404).
    assert re.search(r"`/notify`[^.]*404", RUNBOOK), "the gateway's /notify has no Ingress rule: 404"
    assert re.search(r"`/api/v1/metrics`[^.]*503", RUNBOOK)


@pytest.mark.skipif(not shutil.which("sed"), reason="sed")
def test_the_rotate_keys_job_is_the_purge_template_running_rotate_keys_without_its_deadline() -> None:
    # The runbook derives the Job from the purge CronJob with sed: apply its sed to that template.
    block = next(c for c in _commands() if "create job rotate-keys" in c)
    scripts = re.findall(r"sed ((?:-e )?'[^']+'(?: -e '[^']+')*)", block)
    assert scripts, block
    cronjob = named(render("production"), "CronJob", "purge-personal-data")
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "rotate-keys"},
           "spec": cronjob["spec"]["jobTemplate"]["spec"]}
    text = yaml.safe_dump(job, sort_keys=False)
    for script in scripts:
        arguments = re.findall(r"'([^']+)'", script)
        command = ["sed"] + [part for argument in arguments for part in ("-e", argument)]
        text = subprocess.run(command, input=text, capture_output=True, text=True, check=True).stdout
    spec = yaml.safe_load(text)["spec"]
    assert spec["template"]["spec"]["containers"][0]["command"] == ["python", "-m", "api", "rotate-keys"]
    # A rotation may take longer than the purge's hour: no deadline kills it while the runbook waits.
    assert "activeDeadlineSeconds" not in spec, "the purge's 1 h deadline would kill a long rotation"
    # The wait ends when the Job fails too, not only when it completes.
    wait = [c for c in _commands() if "rotate-keys" in c and ("wait" in c or "until" in c)]
    assert wait and any("Failed" in c for c in wait), wait


def test_the_steps_outside_the_manifests_are_named() -> None:
    # The resident's real address (ingress-nginx ConfigMap keys or the controller Service's policy).
    for key in ("use-forwarded-headers", "compute-full-forwarded-for", "proxy-real-ip-cidr",
                "externalTrafficPolicy: Local", "TRUSTED_PROXIES"):
        assert key in RUNBOOK, key
    # The controller's own access log: secrets in URLs.
    assert "enable-access-log" in RUNBOOK and "log-format-upstream" in RUNBOOK
    # Monitoring reaches the metrics only from its namespace.
    assert "kubernetes.io/metadata.name: monitoring" in RUNBOOK
    # A managed Redis' password comes from the Secret; TLS to Redis is not configured yet.
    assert "`REDIS_PASSWORD`" in RUNBOOK
    assert re.search(r"TLS to Redis is not supported", RUNBOOK)


def test_the_conversation_purge_is_described_as_the_manifests_run_it() -> None:
    # `ksk-rasa purge` is the nightly CronJob (and once by hand at the first deployment), not an init step.
    assert "purge-conversations" in RUNBOOK
    assert not re.search(r"ksk-rasa purge`?[^.;]*init", RUNBOOK)
    assert named(render("production"), "CronJob", "purge-conversations")["spec"]["jobTemplate"]["spec"][
        "template"]["spec"]["containers"][0]["command"] == ["ksk-rasa", "purge"]
