"""The Kubernetes manifests (deploy/k8s), checked without a cluster: each overlay renders with kubectl's
kustomize, every object validates strictly against the Kubernetes API schema, and the workloads hold
what issue 22 asks — resources from the measured figures, probes on the services' health and readiness
paths, non-root pods, pinned images, Rasa's replicas with the Redis lock store, one scheduler, the
migrations before the API serves, the purges as CronJobs, no secret value in git, and a `local`
overlay that `podman kube play` can run. Who may reach whom is tests/deploy/test_exposure.py."""

from __future__ import annotations

import ipaddress
import re

import kubernetes_validate
import pytest
import yaml

from tests.deploy.manifests import (
    K8S,
    KUBERNETES_VERSION,
    OVERLAYS,
    ROOT,
    Doc,
    config_data,
    container,
    containers,
    env_names,
    named,
    of_kind,
    pod_specs,
    render,
    secret_refs,
)

# Liveness and readiness paths per service (api/main.py mounts its health router under /api/v1;
# gateway/app.py; Rasa's root and the gateway channel, 503 until the model is loaded; rasa_sdk's /health).
# The gateway's readiness leaves Rasa out (?rasa=false): a Rasa outage must not take every gateway out of
# its Service (webhooks, the "busy, try again" reply) — tests/gateway/test_scale.py shows what it answers.
PROBES = {
    "api": ("/api/v1/health", "/api/v1/ready"),
    "gateway": ("/health", "/ready?rasa=false"),
    "rasa": ("/", "/webhooks/gateway/"),
    "actions": ("/health", "/health"),
}
# The port each service's command listens on (deploy/images/README.md).
PORTS = {"api": 8000, "gateway": 8080, "rasa": 5005, "actions": 5055}
# What each container may read from the Secret (least privilege: the action server holds no master
# secret and no database). Optional keys included.
SECRET_KEYS = {
    ("api", "prepare"): {"DATABASE_URL", "SECRET_KEY", "PREVIOUS_SECRET_KEYS", "API_SERVICE_CREDENTIAL"},
    ("api", "api"): {"DATABASE_URL", "SECRET_KEY", "PREVIOUS_SECRET_KEYS"},
    ("scheduler", "scheduler"): {"DATABASE_URL", "SECRET_KEY", "PREVIOUS_SECRET_KEYS"},
    ("gateway", "gateway"): {"GATEWAY_DATABASE_URL", "SECRET_KEY", "PREVIOUS_SECRET_KEYS", "REDIS_PASSWORD"},
    ("rasa", "rasa"): {"TRACKER_STORE_URL", "SECRET_KEY", "PREVIOUS_SECRET_KEYS", "API_SERVICE_CREDENTIAL",
                       "RASA_TOKEN", "REDIS_PASSWORD"},
    ("actions", "actions"): {"API_SERVICE_CREDENTIAL"},
}
# The settings scripts/run_all.py --profile production gives each service (beside the secrets above).
SETTINGS = {
    "api": {"LOG_FORMAT", "GATEWAY_PUBLIC_URL", "GATEWAY_INTERNAL_URL", "PUBLIC_BASE_URL"},
    "scheduler": {"LOG_FORMAT", "GATEWAY_INTERNAL_URL", "PUBLIC_BASE_URL"},
    "gateway": {"LOG_FORMAT", "RASA_URL", "API_URL", "PUBLIC_URL", "GATEWAY_REDIS_URL"},
    "rasa": {"LOG_FORMAT", "ACTION_ENDPOINT_URL", "API_URL", "CONVERSATION_PURGE_AT_START", "TICKET_LOCK_LIFETIME",
             "REDIS_HOST", "REDIS_PORT", "REDIS_LOCK_DB"},
    "actions": {"LOG_FORMAT", "API_URL", "PUBLIC_BASE_URL", "ACTION_SERVER_SANIC_WORKERS"},
}
# What podman kube play runs (it rejects CronJob, Job, DaemonSet, NetworkPolicy, Ingress, PDB, HPA and
# ignores Services — measured with podman 4.3).
KUBE_PLAY_KINDS = {"Pod", "Deployment", "ConfigMap", "PersistentVolumeClaim"}
SECRET_NAME, CHANNELS_SECRET = "khamsuckhoe-secrets", "khamsuckhoe-channels"


def quantity(value: str | int) -> float:
    """A CPU or memory quantity as a number (cores, bytes)."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_strictly(overlay: str) -> None:
    docs = render(overlay)
    assert docs
    errors = []
    for doc in docs:
        # strict: a field the API does not know (a typo, a misplaced key) is an error, not ignored.
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {where}: {str(error.message)[:300]}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_mount_and_claim_exists(overlay: str) -> None:
    docs = render(overlay)
    claims = {doc["metadata"]["name"] for doc in of_kind(docs, "PersistentVolumeClaim")}
    for where, spec in pod_specs(docs):
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for item in containers(spec):
            for mount in item.get("volumeMounts", []):
                assert mount["name"] in volumes, f"{where} {item['name']} mounts {mount['name']}"
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_requests_and_limits(overlay: str) -> None:
    for where, spec in pod_specs(render(overlay)):
        for item in containers(spec):
            resources = item.get("resources", {})
            for side in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(side, {})), f"{where} {item['name']}: {side}"
            for what in ("cpu", "memory"):
                assert quantity(resources["requests"][what]) <= quantity(resources["limits"][what]), where


def test_rasa_resources_follow_the_capacity_plan() -> None:
    # README "Capacity plan": a replica is at most one core and ≈ 1.2 GB resident (1,166 MiB measured).
    resources = container(render("production"), "rasa", "rasa")["resources"]
    assert quantity(resources["requests"]["memory"]) >= 1166 * 2**20
    assert quantity(resources["limits"]["cpu"]) >= 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_are_on_the_services_health_and_readiness_paths(overlay: str) -> None:
    docs = render(overlay)
    for name, (live, ready) in PROBES.items():
        item = container(docs, name, name)
        assert item["livenessProbe"]["httpGet"]["path"] == live, name
        assert item["readinessProbe"]["httpGet"]["path"] == ready, name
        # By number: the local overlay declares no ports (podman would publish them on the host).
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if probe in item:
                assert item[probe]["httpGet"]["port"] == PORTS[name], f"{name} {probe} on a port it does not open"
        assert [port["containerPort"] for port in item.get("ports", [])] in ([], [PORTS[name]]), name
        assert overlay == "local" or item["ports"], f"{name}: a cluster's Service needs its port"
    # Rasa answers nothing while it loads its model (a minute or more): liveness must wait for it.
    startup = container(docs, "rasa", "rasa")["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
    sources = (ROOT / "api" / "main.py").read_text() + (ROOT / "gateway" / "app.py").read_text()
    for path in ('get("/health")', 'get("/ready")', 'API_PREFIX = "/api/v1"'):
        assert path in sources, f"{path}: the probes above follow the code's paths"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_as_non_root_without_privileges(overlay: str) -> None:
    for where, spec in pod_specs(render(overlay)):
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] >= 1000, where
        assert context["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        # Service links would set RASA_PORT=tcp://… in every pod, which the Rasa image reads as its port.
        assert spec["enableServiceLinks"] is False, where
        for item in containers(spec):
            own = item["securityContext"]
            assert own["allowPrivilegeEscalation"] is False, f"{where} {item['name']}"
            assert own["capabilities"]["drop"] == ["ALL"], f"{where} {item['name']}"


def test_production_images_are_pinned_in_the_provinces_registry() -> None:
    kustomization = yaml.safe_load((K8S / "overlays" / "production" / "kustomization.yaml").read_text())
    assert {image["name"] for image in kustomization["images"]} == {"khamsuckhoe-main", "khamsuckhoe-rasa"}
    for where, spec in pod_specs(render("production")):
        for item in containers(spec):
            image = item["image"]
            repository, _, tag = image.rpartition(":")
            assert "." in image.split("/")[0], f"{where}: {image} names no registry"
            assert "@sha256:" in image or (repository and tag and tag != "latest" and "/" not in tag), \
                f"{where}: {image} is not pinned"
            assert item["imagePullPolicy"] == "IfNotPresent", where


def test_local_images_are_this_machines() -> None:
    for where, spec in pod_specs(render("local")):
        for item in containers(spec):
            assert item["image"].startswith("localhost/khamsuckhoe-"), where
            assert item["imagePullPolicy"] == "IfNotPresent", f"{where}: kube play would try to pull"


# Deployments an autoscaler sizes in a cluster (components/cluster/availability.yaml).
AUTOSCALED = ("rasa", "gateway")


def _autoscaler(docs: tuple[Doc, ...], name: str) -> Doc:
    scalers = [h for h in of_kind(docs, "HorizontalPodAutoscaler")
               if h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}]
    assert len(scalers) == 1, name
    return scalers[0]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rasa_has_replicas_sharing_conversations_and_the_redis_lock_store(overlay: str) -> None:
    docs = render(overlay)
    if overlay == "production":  # the autoscaler's floor (the Deployment names no count: see below)
        assert _autoscaler(docs, "rasa")["spec"]["minReplicas"] >= 2
    else:  # kube play has no autoscaler: two replicas behind the balancer, as in a cluster
        assert named(docs, "Deployment", "rasa")["spec"]["replicas"] == 2
    rasa = container(docs, "rasa", "rasa")
    assert secret_refs(rasa)["TRACKER_STORE_URL"] == ("TRACKER_STORE_URL", False)
    # The image runs Rasa with deploy/endpoints.yml: its lock store is our Redis lock (bot/lock_store.py),
    # and every variable it names is in the container's environment.
    endpoints_text = (ROOT / "deploy" / "endpoints.yml").read_text()
    endpoints = yaml.safe_load(endpoints_text)
    assert endpoints["lock_store"]["type"] == "bot.lock_store.ConversationLockStore"
    wanted = set(re.findall(r"\$\{(\w+)\}", endpoints_text))
    assert {"REDIS_HOST", "REDIS_PORT"} <= wanted
    assert wanted <= env_names(docs, rasa), wanted - env_names(docs, rasa)
    strategy = named(docs, "Deployment", "rasa")["spec"]["strategy"]
    # A model update never leaves fewer ready replicas than asked.
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_scheduler_replaced_not_rolled(overlay: str) -> None:
    scheduler = named(render(overlay), "Deployment", "scheduler")["spec"]
    assert scheduler["replicas"] == 1
    assert scheduler["strategy"]["type"] == "Recreate"


def test_rasa_and_the_gateways_survive_drains_and_scale() -> None:
    docs = render("production")
    for name in AUTOSCALED:
        deployment = named(docs, "Deployment", name)
        pods = deployment["spec"]["template"]["metadata"]["labels"]
        budgets = [b for b in of_kind(docs, "PodDisruptionBudget")
                   if b["spec"]["selector"]["matchLabels"].items() <= pods.items()]
        assert len(budgets) == 1, name
        scaler = _autoscaler(docs, name)["spec"]
        # A drain takes one replica at a time, however many the autoscaler runs (minAvailable: 1 would let
        # it evict 5 of 6 Rasa replicas at once in a campaign).
        assert budgets[0]["spec"] == {**budgets[0]["spec"], "maxUnavailable": 1}, name
        assert "minAvailable" not in budgets[0]["spec"], name
        assert scaler["minReplicas"] >= 2, name  # so the one a drain takes is never the last
        assert scaler["maxReplicas"] > scaler["minReplicas"], name
        # CPU utilisation is measured against the request: there must be one (checked above for all).
        assert scaler["metrics"][0]["resource"]["name"] == "cpu"


def test_autoscaled_deployments_leave_the_count_to_the_autoscaler() -> None:
    # A `replicas:` in the manifest is set again by every `kubectl apply -k` (model update, key rotation,
    # restore in the RUNBOOK): a campaign's 6 Rasa replicas would drop to 2 at once.
    docs = render("production")
    for name in AUTOSCALED:
        assert "replicas" not in named(docs, "Deployment", name)["spec"], name
    # The rest are not autoscaled and keep their count.
    for deployment in of_kind(docs, "Deployment"):
        if deployment["metadata"]["name"] not in AUTOSCALED:
            assert deployment["spec"]["replicas"] >= 1, deployment["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_and_gateway_leave_the_service_before_they_stop(overlay: str) -> None:
    # Endpoint removal races SIGTERM; ingress-nginx does not retry a POST whose connection broke, so a
    # pod stopping at once (rollout, scale-down) would answer 502 to chat messages and webhooks.
    docs = render(overlay)
    for name in ("api", "gateway", "rasa"):
        item = container(docs, name, name)
        command = item["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep" and 5 <= int(command[1]) <= 15, name
        spec = named(docs, "Deployment", name)["spec"]["template"]["spec"]
        grace = spec.get("terminationGracePeriodSeconds", 30)
        # The grace period counts the preStop wait too: what is left finishes the requests in hand.
        assert grace - int(command[1]) >= 30, name
    # The gateway's web chat answer waits up to 80 s (RASA_RETRY_S + RASA_TIMEOUT_S).
    gateway = named(docs, "Deployment", "gateway")["spec"]["template"]["spec"]
    assert gateway["terminationGracePeriodSeconds"] - 10 >= 80


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_gets_its_settings_and_only_its_secrets(overlay: str) -> None:
    docs = render(overlay)
    for (deployment, name), keys in SECRET_KEYS.items():
        item = container(docs, deployment, name)
        refs = secret_refs(item)
        assert {key for key, _optional in refs.values()} == keys, f"{deployment}/{name}"
        assert all(variable == key for variable, (key, _optional) in refs.items())
        if name in SETTINGS:
            assert SETTINGS[name] <= env_names(docs, item), SETTINGS[name] - env_names(docs, item)
    # Channel credentials: the gateway only.
    for where, spec in pod_specs(docs):
        for item in containers(spec):
            names = {s["secretRef"]["name"] for s in item.get("envFrom", []) if "secretRef" in s}
            assert names <= ({CHANNELS_SECRET} if where == "Deployment/gateway" else set()), where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migrations_run_before_the_api_serves(overlay: str) -> None:
    docs = render(overlay)
    migrating = "Deployment/api" if overlay == "production" else "Pod/prepare"
    if overlay == "production":
        init = named(docs, "Deployment", "api")["spec"]["template"]["spec"]["initContainers"]
        assert init[-1]["name"] == "prepare" and init[-1]["command"] == ["ksk-prepare"]
    else:  # podman restarts a Deployment's init containers: a run-once Pod, the base's step field for field
        base = named(render("production"), "Deployment", "api")["spec"]["template"]["spec"]["initContainers"][-1]
        pod = named(docs, "Pod", "prepare")["spec"]
        assert pod["restartPolicy"] == "OnFailure"
        step = pod["containers"][0]
        assert step["image"].startswith("localhost/khamsuckhoe-main:")
        for field in ("command", "env", "resources", "securityContext"):
            assert step[field] == base[field], field
        assert step["envFrom"] == container(docs, "api", "api")["envFrom"]  # this overlay's configuration
        assert [m["mountPath"] for m in step["volumeMounts"]] == [m["mountPath"] for m in base["volumeMounts"]]
        assert "initContainers" not in named(docs, "Deployment", "api")["spec"]["template"]["spec"]
    # One place migrates: nothing else runs the init step.
    for where, spec in pod_specs(docs):
        if where != migrating:
            assert all(item.get("command") != ["ksk-prepare"] for item in containers(spec)), where


def test_daily_purges_are_cronjobs() -> None:
    jobs = {tuple(named(render("production"), "CronJob", name)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                  ["containers"][0]["command"]) for name in ("purge-personal-data", "purge-conversations")}
    # `python -m api purge` and `python -m bot.tracker_store purge` (the Rasa image's `ksk-rasa purge`),
    # the two run_all.py runs once at start.
    assert jobs == {("python", "-m", "api", "purge"), ("ksk-rasa", "purge")}
    run_all = (ROOT / "scripts" / "run_all.py").read_text()
    assert '"bot.tracker_store", "purge"' in run_all and '["purge"]' in run_all
    for cronjob in of_kind(render("production"), "CronJob"):
        assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
        # Written out: the RUNBOOK's key rotation suspends them with `kubectl patch`, and only a field
        # the manifest names is set back by `kubectl apply -k` (absent, they would stay suspended).
        assert cronjob["spec"].get("suspend") is False, cronjob["metadata"]["name"]
    # The API's purge deletes unused synthesised speech from the shared audio volume.
    personal = named(render("production"), "CronJob", "purge-personal-data")["spec"]["jobTemplate"]["spec"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in personal["template"]["spec"]["volumes"]
              if "persistentVolumeClaim" in v}
    assert claims == {"khamsuckhoe-audio"}


def _example_keys(name: str) -> dict[str, str]:
    """KEY → value of an .env.example, commented optional keys included."""
    text = (K8S / "overlays" / "production" / name).read_text()
    return dict(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", text, re.MULTILINE))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_value_is_in_git(overlay: str) -> None:
    docs = render(overlay)
    # Secrets are created beside the manifests (production) or as podman secrets (local), never rendered.
    assert not of_kind(docs, "Secret")
    for key, value in config_data(docs).items():
        assert not re.search(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|_KEY$", key), key
        # redis://:password@host too (no user name).
        assert not re.search(r"://[^/@]*:[^/@]+@", value), f"{key} carries a password"
    for where, spec in pod_specs(docs):
        for item in containers(spec):
            for variable in item.get("env", []):
                if re.search(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|_KEY$|DATABASE_URL|STORE_URL", variable["name"]):
                    assert "valueFrom" in variable, f"{where}: {variable['name']} written in the manifest"
    for example in ("secrets.env.example", "channels.env.example"):
        for key, value in _example_keys(example).items():
            assert not value or "CHANGE-ME" in value or "example.invalid" in value or value == "old-secret", key


def test_the_secret_example_lists_exactly_what_the_manifests_read() -> None:
    read = {key for _where, spec in pod_specs(render("production")) for item in containers(spec)
            for key, _optional in secret_refs(item).values()}
    assert read == set(_example_keys("secrets.env.example"))
    # The local overlay's podman secret: the same keys, plus its own PostgreSQL's password.
    local = {key for _where, spec in pod_specs(render("local")) for item in containers(spec)
             for key, _optional in secret_refs(item).values()}
    assert local == read | {"POSTGRES_PASSWORD"}
    names = {ref["name"] for _where, spec in pod_specs(render("local")) for item in containers(spec)
             for variable in item.get("env", []) if (ref := variable.get("valueFrom", {}).get("secretKeyRef"))}
    assert names == {SECRET_NAME}


def test_local_overlay_holds_only_what_podman_kube_play_runs() -> None:
    docs = render("local")
    assert {doc["kind"] for doc in docs} <= KUBE_PLAY_KINDS
    # Names that resolve on the pod network: each Pod's, and <deployment>-pod-<i> for each replica.
    pods = {doc["metadata"]["name"] for doc in of_kind(docs, "Pod")}
    for deployment in of_kind(docs, "Deployment"):
        pods |= {f"{deployment['metadata']['name']}-pod-{i}" for i in range(deployment["spec"]["replicas"])}
    hosts = {re.sub(r"^\w+://([^:/]+).*$", r"\1", value) for value in config_data(docs).values() if "://" in value}
    hosts |= {config_data(docs)["REDIS_HOST"]}
    balancer = named(docs, "Pod", "rasa")["spec"]["containers"][0]["env"]
    hosts |= set(re.findall(r"([\w-]+):\d+", next(v["value"] for v in balancer if v["name"] == "BALANCE")))
    assert hosts - {"127.0.0.1"} <= pods, f"not a pod kube play creates: {hosts - {'127.0.0.1'} - pods}"
    # Every Rasa replica is behind the balancer.
    assert {f"rasa-pod-{i}" for i in range(named(docs, "Deployment", "rasa")["spec"]["replicas"])} <= hosts


def test_local_pods_publish_no_port_on_the_host() -> None:
    # kube play publishes every containerPort on the host: PostgreSQL and Redis would collide with this
    # machine's servers and the second Rasa replica with the first (measured with podman 4.3).
    for where, spec in pod_specs(render("local")):
        for item in containers(spec):
            assert "ports" not in item, f"{where}/{item['name']}"


def test_local_pods_start_after_what_they_wait_for() -> None:
    # scripts/test_deploy.py plays the data stores, then the run-once pods, then the services, each part
    # in the order given: the audio volume before what mounts it.
    order = [f"{doc['kind']}/{doc['metadata']['name']}" for doc in render("local")]
    for mounting in ("Pod/prepare", "Deployment/api"):
        assert order.index("PersistentVolumeClaim/khamsuckhoe-audio") < order.index(mounting)
    run_once = [f"Pod/{doc['metadata']['name']}" for doc in of_kind(render("local"), "Pod")
                if doc["spec"].get("restartPolicy", "Always") != "Always"]
    assert run_once == ["Pod/prepare"]


def test_local_scratch_volumes_are_not_shared_by_accident() -> None:
    # kube play turns an emptyDir into a podman volume of the same name: two pods with a volume `tmp`
    # would share one directory.
    seen: dict[str, str] = {}
    for where, spec in pod_specs(render("local")):
        for volume in spec.get("volumes", []):
            if "emptyDir" in volume:
                assert seen.setdefault(volume["name"], where) == where, f"{volume['name']}: {where}, {seen}"


def test_trusted_proxies_are_narrowed_to_the_ingress_controller() -> None:
    # TRUSTED_PROXIES (api/core/clientaddr.py): whose X-Forwarded-For the API and the gateway believe, so
    # the per-address limits (bookings, staff logins, lookups, web voice) count residents, not a node.
    # A private range trusted wholesale lets any pod in it claim any address; the template holds a
    # documentation network (TEST-NET-1, matching nothing) that the province replaces (RUNBOOK step 3).
    value = config_data(render("production"))["TRUSTED_PROXIES"]
    networks = [ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()]
    assert networks, "TRUSTED_PROXIES is empty"
    for network in networks:
        widest = 16 if network.version == 4 else 48
        assert network.prefixlen >= widest, f"{network} trusts too much: narrow it to the controller's pods"
    config = (K8S / "overlays" / "production" / "config.env").read_text()
    assert re.search(r"CHANGE-ME.*\n(#.*\n)*TRUSTED_PROXIES=", config), "mark the placeholder CHANGE-ME"


# Variables Rasa and rasa_sdk read themselves, not our code: looked up in their installed sources.
READ_BY_RASA = {"TICKET_LOCK_LIFETIME": "rasa", "ACTION_SERVER_SANIC_WORKERS": "rasa_sdk"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_configuration_key_is_read_by_something(overlay: str) -> None:
    # A misspelt key (REDIS_LOCKDB) would validate, render and deploy, and silently leave the default.
    code = (path for folder in ("api", "gateway", "common", "bot", "actions") for path in (ROOT / folder).rglob("*.py"))
    ours = [*code, ROOT / "deploy" / "endpoints.yml", *(ROOT / "deploy" / "images").glob("ksk-*")]
    sources = "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in ours)
    site = next((ROOT / ".venv-rasa" / "lib").glob("python3*/site-packages"))
    for key in config_data(render(overlay)):
        if key in READ_BY_RASA:
            package = (site / READ_BY_RASA[key]).rglob("*.py")
            assert any(key in path.read_text(encoding="utf-8", errors="replace") for path in package), key
            continue
        # By name (os.environ, ${KEY} in endpoints.yml, the images' scripts) or as a settings field.
        read = re.search(rf"\b{key}\b", sources) or re.search(rf"^\s+{key.lower()}\s*:", sources, re.MULTILINE)
        assert read, f"{key}: nothing reads it"
