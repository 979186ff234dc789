"""The deployment files say only what Vigil understands: every VIGIL_* variable they set is a setting
with a valid value, and each process runs the command it should. The Kubernetes manifests are valid
objects of the Kubernetes API (checked offline against its published schemas, strictly: an unknown or
misspelt field fails), probe the health endpoints, request the resources docs/capacity.md sizes, keep
every secret in a Secret, run without root or a writable root filesystem, survive a drain, and let an
autoscaler size the workers by cameras."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from tests.helpers.prometheus import metric_names

from vigil.settings import FORMER_NAMES, VigilSettings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"


def _check_settings(env: dict[str, str]) -> None:
    fields = set(VigilSettings.model_fields)
    values = {}
    for name, value in env.items():
        assert name.startswith("VIGIL_"), name
        field = FORMER_NAMES.get(name) or name.removeprefix("VIGIL_").lower()  # a former name is still read
        assert field in fields, f"{name} is not a Vigil setting"
        values[field] = value
    VigilSettings(**values)  # valid values (raises otherwise)


def test_compose_runs_postgres_redis_web_and_workers() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker"} <= set(services)
    assert services["web"]["command"][0] == "serve"
    assert services["worker"]["command"] == ["worker"]
    assert services["worker"]["environment"]["VIGIL_THREADS"] == "1"
    for name in ("web", "worker"):
        env = services[name]["environment"]
        _check_settings(
            {
                k: str(v)
                .replace("${POSTGRES_PASSWORD:-vigil}", "vigil")
                .replace("${REDIS_PASSWORD:?set REDIS_PASSWORD}", "pw")
                for k, v in env.items()
            }
        )
        assert env["VIGIL_REDIS_URL"].startswith("redis://:${REDIS_PASSWORD")  # Redis asks for a password
        assert env["VIGIL_DATABASE_URL"].startswith("postgresql://")
        assert env["VIGIL_MEDIA_STORE"] == "database"  # no shared disk between containers
    assert compose["secrets"]["audit_key"]["file"] == "./deploy/secrets/audit.key"
    assert "--requirepass" in services["redis"]["command"]


def _k8s_documents() -> list[dict]:  # type: ignore[type-arg]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    documents = []
    for resource in kustomization["resources"]:
        documents += [d for d in yaml.safe_load_all((K8S / resource).read_text()) if d]
    return documents


def test_k8s_manifests_web_and_workers_use_only_settings() -> None:
    documents = _k8s_documents()
    config = next(d for d in documents if d["kind"] == "ConfigMap")
    env = dict(config["data"])
    env["VIGIL_DATABASE_URL"] = "postgresql://vigil:x@postgres:5432/vigil"
    _check_settings(env)
    deployments = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Deployment"}
    for name, command in (("vigil-web", "serve"), ("vigil-worker", "worker")):
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"][0] == command
        assert container["envFrom"] == [{"configMapRef": {"name": "vigil-config"}}]
        assert container["env"][0]["name"] == "VIGIL_DATABASE_URL"
        _check_settings({**env, **{e["name"]: e["value"] for e in container["env"] if "value" in e}})
    assert deployments["vigil-web"]["spec"]["replicas"] >= 2  # behind a load balancer
    redis = deployments["redis"]["spec"]["template"]["spec"]["containers"][0]
    assert "--requirepass" in redis["args"]  # issue 14: a forged bus message needs the password now
    for name in ("vigil-web", "vigil-worker"):
        env_names = [e["name"] for e in deployments[name]["spec"]["template"]["spec"]["containers"][0]["env"]]
        assert "VIGIL_REDIS_URL" in env_names and "VIGIL_REDIS_URL" not in config["data"]


# The oldest Kubernetes still in wide use and the newest the validator knows: a manifest valid on both.
K8S_VERSIONS = ("1.28", kubernetes_validate.latest_version())
WORKLOADS = ("Deployment", "StatefulSet")


def _pod_specs(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in documents if d["kind"] in WORKLOADS}


def _container(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return dict(_pod_specs(documents)[name]["containers"][0])


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_manifests_are_valid_kubernetes_objects(version: str) -> None:
    documents = _k8s_documents() + [d for d in yaml.safe_load_all((K8S / "secret.example.yaml").read_text()) if d]
    kinds = sorted({d["kind"] for d in documents})
    assert {"Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret", "Service"} <= set(kinds)
    for document in documents:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(
                f"{document['kind']} {document['metadata']['name']} (Kubernetes {version}): {exc}"
            ) from None


def test_k8s_validation_catches_a_wrong_manifest() -> None:
    """The validator really checks: a misspelt field and a wrong type are refused."""
    deployment = next(d for d in _k8s_documents() if d["metadata"]["name"] == "vigil-web")
    misspelt = yaml.safe_load(yaml.safe_dump(deployment))
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    wrong_type = yaml.safe_load(yaml.safe_dump(deployment))
    wrong_type["spec"]["replicas"] = "two"
    for bad in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, K8S_VERSIONS[-1], strict=True)


def test_k8s_web_and_workers_are_probed_on_healthz_and_readyz() -> None:
    documents = _k8s_documents()
    web, worker = _container(documents, "vigil-web"), _container(documents, "vigil-worker")
    ports = {
        "vigil-web": {p["name"]: p["containerPort"] for p in web["ports"]},
        "vigil-worker": {p["name"]: p["containerPort"] for p in worker["ports"]},
    }
    assert ports["vigil-web"]["http"] == int(web["args"][web["args"].index("--port") + 1])
    health_port = next(e["value"] for e in worker["env"] if e["name"] == "VIGIL_WORKER_HEALTH_PORT")
    assert ports["vigil-worker"]["health"] == int(health_port)
    for name, container in (("vigil-web", web), ("vigil-worker", worker)):
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            get = container[probe]["httpGet"]
            assert get["path"] == path, (name, probe)
            assert ports[name][get["port"]], (name, probe)


def test_k8s_resources_are_sized_from_the_capacity_plan() -> None:
    """Every container requests CPU and memory; a worker requests one core and takes as many cameras as
    docs/capacity.md plans per core at a crowded peak (the manifest says so in a comment)."""
    documents = _k8s_documents()
    for name, spec in _pod_specs(documents).items():
        for container in spec["containers"]:
            requests = container["resources"]["requests"]
            assert "cpu" in requests and "memory" in requests, name
            assert "memory" in container["resources"]["limits"], name
    capacity = (ROOT / "docs" / "capacity.md").read_text()
    row = re.search(
        r"\| crowded peak \(every camera like the crowd scene\), adaptive \| ([\d.]+) \| .*?= (\d+) \|", capacity
    )
    assert row, "docs/capacity.md's crowded-peak plan row"
    per_core = int(row.group(2))
    worker = _container(documents, "vigil-worker")
    assert worker["resources"]["requests"]["cpu"] == "1"
    max_cameras = next(e["value"] for e in worker["env"] if e["name"] == "VIGIL_WORKER_MAX_CAMERAS")
    assert int(max_cameras) == per_core
    assert per_core * float(row.group(1)) <= 0.8  # the plan's rule: a core at most 80 % busy
    text = (K8S / "worker.yaml").read_text()
    assert "docs/capacity.md" in text and "0.22 core" in text


def test_k8s_every_secret_is_in_a_secret_and_none_in_a_configmap() -> None:
    documents = _k8s_documents()
    assert not [d for d in documents if d["kind"] == "Secret"], "no Secret with values is applied from the repo"
    secret_settings = {
        f"VIGIL_{name.upper()}"
        for name, field in VigilSettings.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("secret")
    }
    assert {"VIGIL_DATABASE_URL", "VIGIL_REDIS_URL", "VIGIL_METRICS_TOKEN"} <= secret_settings
    credential = re.compile(r"://[^/\s]*:[^@/\s]+@|BEGIN .*PRIVATE KEY|^[0-9a-fA-F]{32,}$|password=")
    for config in (d for d in documents if d["kind"] == "ConfigMap"):
        for key, value in config["data"].items():
            assert key not in secret_settings, f"{key} is a secret: it belongs in the Secret"
            assert not re.search("PASSWORD|TOKEN|SECRET", key), f"{key} names a secret"
            assert not credential.search(value), f"{key}'s value looks like a credential"
    example = next(yaml.safe_load_all((K8S / "secret.example.yaml").read_text()))
    secret_keys = set(example["stringData"])
    config = next(d for d in documents if d["kind"] == "ConfigMap")["data"]
    for name, spec in _pod_specs(documents).items():
        for container in spec["containers"]:
            for env in container.get("env", []):
                assert env["name"] not in secret_settings or "secretKeyRef" in env.get("valueFrom", {}), (name, env)
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "vigil-secrets" and ref["key"] in secret_keys, (name, env)
            if container["image"] == "vigil":
                names = {e["name"] for e in container["env"]}
                assert secret_settings - {"VIGIL_AUDIT_ANCHOR"} <= names, name  # anchoring is optional
                # the key files are read from the Secret's volume, mounted read-only
                mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
                volumes = {v["name"]: v for v in spec["volumes"]}
                for setting in ("VIGIL_AUDIT_KEY_FILE", "VIGIL_EVIDENCE_KEY_FILE"):
                    folder, file = config[setting].rsplit("/", 1)
                    mount = mounts[folder]
                    assert mount["readOnly"] is True
                    items = volumes[mount["name"]]["secret"]["items"]
                    assert {"key": file, "path": file} in items and file in secret_keys


def test_k8s_pods_run_without_root_privileges_or_a_writable_root() -> None:
    documents = _k8s_documents()
    for name, spec in _pod_specs(documents).items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0, name
        assert spec["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in documents_claims(documents, name)}
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            writable = {
                m["mountPath"]
                for m in container.get("volumeMounts", [])
                if not m.get("readOnly") and ("emptyDir" in volumes.get(m["name"], {}) or m["name"] in claims)
            }
            assert "/tmp" in writable or container["image"] == "redis:7", name
            if container["image"] == "vigil":  # where a Vigil process writes: the on-disk alert queue
                assert "/var/lib/vigil/pending-alerts" in writable, name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "VIGIL_DATA_DIR=/var/lib/vigil" in dockerfile  # the queue's folder is <data-dir>/pending-alerts


def documents_claims(documents: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    workload = next(d for d in documents if d["kind"] in WORKLOADS and d["metadata"]["name"] == name)
    return list(workload["spec"].get("volumeClaimTemplates", []))


def test_k8s_web_and_workers_have_disruption_budgets_and_workers_scale_by_cameras() -> None:
    documents = _k8s_documents()
    budgets = {d["metadata"]["name"]: d["spec"] for d in documents if d["kind"] == "PodDisruptionBudget"}
    deployments = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Deployment"}
    for name in ("vigil-web", "vigil-worker"):
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert budgets[name]["selector"]["matchLabels"].items() <= labels.items(), name
    assert budgets["vigil-web"]["minAvailable"] >= 1 and budgets["vigil-worker"]["maxUnavailable"] == 1
    hpa = next(d for d in documents if d["kind"] == "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "vigil-worker"}
    assert "replicas" not in deployments["vigil-worker"]["spec"]  # the autoscaler owns them
    metric = hpa["metrics"][0]["external"]
    assert metric["metric"]["name"] == "vigil_cameras_registered"  # exported by the web server (test_observability)
    per_worker = float(metric["target"]["averageValue"].removesuffix("m")) / 1000
    worker = _container(documents, "vigil-worker")
    max_cameras = int(next(e["value"] for e in worker["env"] if e["name"] == "VIGIL_WORKER_MAX_CAMERAS"))
    assert per_worker < max_cameras  # room on every worker for a failed one's cameras
    assert hpa["minReplicas"] >= 2


def test_the_metric_name_reader_reads_promql() -> None:
    """tests/test_observability.py checks the alerting rules' names with it, so it must be right: names
    inside label matchers, grouping, ranges, strings and functions are not metric names; every selected
    metric is."""
    expr = (
        'max by (camera, instance) (rate(vigil_a_total{state=~"x|y", camera!="by"}[5m] offset 1h)) '
        "/ on (instance) group_left vigil_b > 0.5 and time() - max(vigil_c) > 3 * 3600 or absent(vigil_d)"
    )
    assert metric_names(expr) == {"vigil_a_total", "vigil_b", "vigil_c", "vigil_d"}


def _defaults(value: object) -> str:
    """A Compose value with each ${VAR:-default} read as its default and each ${VAR:?why} as "x"."""
    text = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))
    return re.sub(r"\$\{[A-Z0-9_]+:\?[^}]*\}", "x", text)


def test_compose_host_override_runs_every_service_on_its_own_port_of_the_hosts_network() -> None:
    """docker-compose.host.yml (what deploy/rehearse.sh runs): host networking, PostgreSQL and Redis from the
    local base image, and no port this machine's own PostgreSQL, Redis, Mosquitto or web server holds."""
    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    override = yaml.safe_load((ROOT / "docker-compose.host.yml").read_text())["services"]
    assert set(override) == {"postgres", "redis", "web", "worker", "worker-2"}
    assert all(s["network_mode"] == "host" for s in override.values())
    assert override["postgres"]["image"].startswith("${VIGIL_BASE_IMAGE:?")
    assert override["redis"]["image"].startswith("${VIGIL_BASE_IMAGE:?")
    assert "--requirepass" in override["redis"]["command"]
    postgres = _defaults(" ".join(override["postgres"]["command"]))
    redis = _defaults(" ".join(override["redis"]["command"]))
    web = [_defaults(a) for a in override["web"]["command"]]
    assert web[0] == "serve"
    ports = {
        "postgres": int(postgres.split("-p ")[1].split()[0]),
        "redis": int(redis.split("--port ")[1].split()[0]),
        "web": int(web[web.index("--port") + 1]),
    }
    for name in ("worker", "worker-2"):
        service = {**base["worker"], **override[name]}
        assert service["command"][0] == "worker"
        env = {k: _defaults(v) for k, v in service["environment"].items()}
        _check_settings(env)
        assert env["VIGIL_DATABASE_URL"].endswith(f"@127.0.0.1:{ports['postgres']}/vigil")
        assert env["VIGIL_REDIS_URL"].endswith(f"@127.0.0.1:{ports['redis']}/0")
        ports[name] = int(env["VIGIL_WORKER_HEALTH_PORT"])
        assert f":{ports[name]}/readyz" in _defaults(service["healthcheck"]["test"][-1])
    web_env = {k: _defaults(v) for k, v in override["web"]["environment"].items()}
    _check_settings(web_env)
    assert f":{ports['web']}/readyz" in _defaults(override["web"]["healthcheck"]["test"][-1])
    assert f"-p {ports['postgres']}" in _defaults(" ".join(override["postgres"]["healthcheck"]["test"]))
    assert len(set(ports.values())) == len(ports)  # each on its own port
    assert not set(ports.values()) & {5432, 6379, 1883, 8000, 8081}  # this machine's services, the defaults
    # nothing published: Docker refuses port bindings on the host's network; on a bridge network the file
    # Compose reads by itself (no -f) publishes the control room
    assert all("ports" not in s for s in [*base.values(), *override.values()])
    published = yaml.safe_load((ROOT / "docker-compose.override.yml").read_text())["services"]
    assert published == {"web": {"ports": ["8000:8000"]}}


def test_images_take_the_base_image_as_a_build_argument_and_install_dependencies_before_the_source() -> None:
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())  # continuation lines joined
    dockerfile = [line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert dockerfile[0] == ["ARG", "BASE_IMAGE=python:3.11-slim"]  # public images stay the default
    steps = [" ".join(s) for s in dockerfile]
    assert steps[1] == "FROM ${BASE_IMAGE} AS requirements"  # the dependency list read from pyproject.toml
    image = steps.index("FROM ${BASE_IMAGE}")
    dependencies = next(i for i, s in enumerate(steps) if "pip install --no-cache-dir -r requirements.txt" in s)
    source = steps.index("COPY src ./src")
    # the dependencies' layer hangs on their list alone: a change to the source or elsewhere in
    # pyproject.toml keeps it
    assert image < steps.index("COPY --from=requirements /tmp/requirements.txt ./") < dependencies < source
    assert "pyproject.toml" not in " ".join(steps[image:dependencies])
    assert steps[steps.index("USER 10001:10001") - 1].startswith("RUN pip install")  # not root, numeric (k8s)
    web = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]
    assert _defaults(web["build"]["args"]["BASE_IMAGE"]) == "python:3.11-slim"
    base = (ROOT / "deploy" / "base" / "Dockerfile").read_text()
    for package in ("python3-venv", "postgresql-15", "redis-server", "fonts-lohit-deva", "libpango-1.0-0"):
        assert package in base
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ignored[ignored.index("*") :][:4] == ["*", "!pyproject.toml", "!README.md", "!src"]


def test_ci_runs_the_deployment_rehearsal_after_the_tests() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("\nmake test") < ci.index("\ndeploy/rehearse.sh")  # the commands, in that order
    script = ROOT / "deploy" / "rehearse.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True)  # it parses
