"""Who reaches what in a cluster (README "Security on the open internet"): NetworkPolicies keep Rasa and
the action server internal — Rasa accepts only the gateways, the actions only Rasa — and the Ingress
exposes the gateway's public paths and the API's staff pages and public data, the same set as nginx's
public server in the one-machine profile (deploy/nginx.conf.j2), nothing that nginx refuses."""

from __future__ import annotations

import re

import pytest

from tests.deploy.manifests import (
    ROOT,
    Doc,
    Peer,
    allowed_peers,
    container,
    filled,
    gateway_routes,
    ingress_backend,
    named,
    nginx_public_locations,
    of_kind,
    render,
)

APP = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
NAMESPACE = (("kubernetes.io/metadata.name", "khamsuckhoe"),)
COMPONENTS = ("api", "gateway", "rasa", "actions", "scheduler", "purge")
PEERS = [
    *(Peer(name, NAMESPACE, ((APP, "khamsuckhoe"), (COMPONENT, name)), same_namespace=True) for name in COMPONENTS),
    Peer("other pod of the namespace", NAMESPACE, (), same_namespace=True),
    Peer("ingress controller", (("kubernetes.io/metadata.name", "ingress-nginx"),),
         (("app.kubernetes.io/name", "ingress-nginx"),), same_namespace=False),
    Peer("monitoring", (("kubernetes.io/metadata.name", "monitoring"),),
         (("app.kubernetes.io/name", "prometheus"),), same_namespace=False),
    Peer("pod of another namespace", (("kubernetes.io/metadata.name", "elsewhere"),),
         ((APP, "khamsuckhoe"), (COMPONENT, "gateway")), same_namespace=False),
]
# Who must be able to open a connection to each service, and nobody else.
REACHED_BY = {
    ("rasa", 5005): {"gateway"},
    ("actions", 5055): {"rasa"},
    # The monitoring namespace scrapes /api/v1/metrics and the gateway's /metrics (same ports).
    ("api", 8000): {"ingress controller", "gateway", "rasa", "actions", "scheduler", "monitoring"},
    ("gateway", 8080): {"ingress controller", "scheduler", "api", "monitoring"},
}


def _labels(component: str) -> dict[str, str]:
    return {APP: "khamsuckhoe", COMPONENT: component}


@pytest.mark.parametrize(("service", "port"), list(REACHED_BY))
def test_network_policies_admit_only_the_services_callers(service: str, port: int) -> None:
    docs = render("production")
    policies = of_kind(docs, "NetworkPolicy")
    # The pod template's labels are what the policies select.
    assert named(docs, "Deployment", service)["spec"]["template"]["metadata"]["labels"].items() >= \
        _labels(service).items()
    assert allowed_peers(policies, _labels(service), port, PEERS) == REACHED_BY[(service, port)]


def test_everything_else_is_isolated() -> None:
    policies = of_kind(render("production"), "NetworkPolicy")
    for component in ("scheduler", "purge", "some future pod"):
        assert allowed_peers(policies, _labels(component), 8000, PEERS) == set(), component


def test_the_services_ports_are_the_ones_the_policies_open() -> None:
    docs = render("production")
    for (service, port) in REACHED_BY:
        assert port in {p["containerPort"] for p in container(docs, service, service)["ports"]}
        assert port in {p["port"] for p in named(docs, "Service", service)["spec"]["ports"]}


def _ingresses() -> list[Doc]:
    return of_kind(render("production"), "Ingress")


def test_ingress_leads_to_the_gateway_and_the_api_only() -> None:
    backends = {item["backend"]["service"]["name"] for ingress in _ingresses()
                for rule in ingress["spec"]["rules"] for item in rule["http"]["paths"]}
    assert backends == {"gateway", "api", "internal-only"}
    # The Service for refused paths has no pods behind it.
    blocked = named(render("production"), "Service", "internal-only")["spec"]
    assert "selector" not in blocked
    assert not [d for d in render("production") if d["kind"] == "Endpoints"]


def test_ingress_exposes_what_nginx_sends_to_the_api() -> None:
    locations = [loc for loc in nginx_public_locations() if loc.upstream == "api" and not loc.denied]
    assert {loc.path for loc in locations} >= {"/api/", "/studio", "/docs", "/openapi.json"}
    for location in locations:
        for path in location.samples():
            assert ingress_backend(_ingresses(), path) == "api", path


def test_ingress_refuses_what_nginx_refuses() -> None:
    denied = [loc for loc in nginx_public_locations() if loc.denied]
    assert len(denied) >= 4  # the API's and the gateway's /metrics, /notify, the reminders' reports
    for location in denied:
        for path in location.samples():
            assert location.matches(path), (location, path)
            assert ingress_backend(_ingresses(), path) in (None, "internal-only"), path


def test_ingress_exposes_exactly_the_gateways_public_routes() -> None:
    denied = [loc for loc in nginx_public_locations() if loc.denied]
    gateway = container(render("production"), "gateway", "gateway")
    # Health and readiness are internal whichever one the probes use.
    probes = {gateway[probe]["httpGet"]["path"].split("?")[0] for probe in ("livenessProbe", "readinessProbe")}
    probes |= {"/health", "/ready"}
    routes = gateway_routes()
    assert {"/chat", "/webhooks/telegram", "/webhooks/zalo", "/r/{code}", "/notify", "/metrics"} <= set(routes)
    for route in routes:
        path = filled(route)
        internal = route in probes or any(loc.matches(path) for loc in denied)
        reached = ingress_backend(_ingresses(), path)
        if internal:
            assert reached != "gateway", f"{route} is internal but the Ingress exposes it"
        else:
            assert reached == "gateway", f"{route} is public but the Ingress sends it to {reached}"


def test_every_ingress_path_serves_a_known_route() -> None:
    # No stray rule: each path leads somewhere nginx or the gateway's routes know.
    nginx = nginx_public_locations()
    gateway = [filled(route) for route in gateway_routes()]
    for ingress in _ingresses():
        for item in ingress["spec"]["rules"][0]["http"]["paths"]:
            path = item["path"] if item["pathType"] == "Exact" else item["path"].rstrip("/") + "/sample"
            known = any(loc.matches(path) for loc in nginx if loc.upstream == "api" or loc.denied)
            known |= any(route == item["path"] or route.startswith(item["path"].rstrip("/") + "/")
                         for route in gateway)
            assert known, item["path"]


def test_ingress_keeps_no_access_log_of_secret_paths() -> None:
    # nginx.conf.j2 masks these segments in its access log (booking codes, the SMS webhook's secret,
    # recording invitations) and drops the query string; ingress-nginx's default log format writes the
    # whole "$request" and the referer, so its access log is off for this Ingress (the services' own
    # access logs are masked).
    template = (ROOT / "deploy" / "nginx.conf.j2").read_text(encoding="utf-8")
    masked = re.findall(r"\(\?<before>\.\*(/[\w/]+/)\)", template)
    assert set(masked) >= {"/bookings/", "/webhooks/sms/", "/studio/voice/"}, masked
    exposed = [segment for segment in masked
               if ingress_backend(_ingresses(), f"/api/v1{segment}CODE") in ("api", "gateway")
               or ingress_backend(_ingresses(), f"{segment}CODE") in ("api", "gateway")]
    assert exposed, "the Ingress exposes none of the masked paths: is this test still reading them?"
    for ingress in _ingresses():
        annotations = ingress["metadata"].get("annotations", {})
        assert annotations.get("nginx.ingress.kubernetes.io/enable-access-log") == "false", exposed
