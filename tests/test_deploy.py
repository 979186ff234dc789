"""The deployment files say only what Vigil understands: every VIGIL_* variable they set is a setting
with a valid value, and each process runs the command it should."""

from __future__ import annotations

from pathlib import Path

import yaml

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
