"""compose, Kubernetes, Grafana provisioning and the Dockerfile: they parse and agree."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.filings.profile import parse_profile
from services.filings.readiness import profile_status, template
from tests.deploy.conftest import (
    COMPOSE,
    DEPLOY,
    K8S,
    OPERATIONS,
    ROOT,
    kafka_properties,
    known_env,
    run_setup,
)

# Variables that are not amlscreen settings but that our containers may legitimately get.
STANDARD_ENV = {"PROMETHEUS_MULTIPROC_DIR", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PATH"}
# compose interpolation variables (docs/operations.md, "Compose").
COMPOSE_VARIABLES = {
    "TAG",
    "PARTITIONS",
    "WORKERS",
    "API_PROCESSES",
    "POSTGRES_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
    "FILING_PROFILE",
    "KAFKA_ADMIN_PASSWORD",
    "KAFKA_API_PASSWORD",
    "KAFKA_WORKER_PASSWORD",
    "KAFKA_TLS_PASSWORD",
}


# The Kubernetes version the manifests are validated against (autoscaling/v2, policy/v1, …).
KUBERNETES_VERSION = "1.30.0"
# Custom resources of the Prometheus Operator, Strimzi and kustomize: no schema bundled; their
# structure is checked by the tests below and in test_kafka_security.py.
CUSTOM_KINDS = {
    "ServiceMonitor",
    "PrometheusRule",
    "Kustomization",
    "Kafka",
    "KafkaNodePool",
    "KafkaTopic",
    "KafkaUser",
}


def _tool(name: str) -> str:
    """A console script of the dev dependencies, next to this interpreter."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is missing: pip install -e '.[dev]'"
    return str(path)


def _k8s_documents() -> dict[str, list[dict[str, Any]]]:
    return {
        path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        for path in sorted(K8S.glob("*.yaml"))
    }


def _k8s(kind: str, name: str) -> dict[str, Any]:
    for documents in _k8s_documents().values():
        for doc in documents:
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return doc
    raise AssertionError(f"no {kind} {name} in deploy/k8s")


def _default(value: Any) -> int:
    """The default of a compose ``${VAR:-default}`` value, or the value itself."""
    match = re.fullmatch(r"\$\{\w+:-(\d+)\}", str(value))
    return int(match.group(1) if match else value)


class TestEnvironment:
    def test_every_amlscreen_variable_mentioned_anywhere_exists(self) -> None:
        known = known_env()
        files = [
            path
            for path in DEPLOY.rglob("*")
            if path.is_file() and path.suffix in {".yaml", ".yml", ".json", ".md", ""}
        ]
        files += [DEPLOY / "docker" / "Dockerfile", OPERATIONS]
        for path in files:
            for name in set(re.findall(r"\bAMLSCREEN_[A-Z0-9_]+", path.read_text())):
                assert name in known, f"{path.relative_to(ROOT)}: {name} is not a setting"

    def test_an_unknown_variable_is_caught(self) -> None:
        assert "AMLSCREEN_KAFKA_BOOTSTRAP" in known_env()
        assert "AMLSCREEN_KAFKA_BROKERS" not in known_env()


class TestCompose:
    def _compose(self) -> dict[str, Any]:
        return yaml.safe_load(COMPOSE.read_text())

    def test_services(self) -> None:
        services = self._compose()["services"]
        assert {
            "kafka",
            "topics",
            "postgres",
            "migrate",
            "api",
            "worker",
            "prometheus",
            "grafana",
        } <= (set(services))
        kafka = kafka_properties()
        assert kafka["process.roles"] == "broker,controller", "Kafka runs in KRaft mode"
        assert "zookeeper.connect" not in kafka
        assert services["migrate"]["command"] == ["db", "upgrade"]
        assert services["worker"]["command"] == ["worker"]
        for name in ("api", "worker"):
            assert services[name]["depends_on"]["migrate"]["condition"] == (
                "service_completed_successfully"
            )

    def test_compose_specification_schema(self) -> None:
        result = subprocess.run(
            [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def test_amlscreen_containers_get_only_known_variables(self) -> None:
        known = known_env() | STANDARD_ENV
        services = self._compose()["services"]
        ours = [name for name, spec in services.items() if "amlscreen" in str(spec.get("image"))]
        assert set(ours) == {"migrate", "api", "worker"}
        for name in ours:
            unknown = set(services[name]["environment"]) - known
            assert not unknown, f"compose service {name}: {unknown}"

    def test_only_documented_interpolation_variables(self) -> None:
        used = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
        assert used <= COMPOSE_VARIABLES, used - COMPOSE_VARIABLES
        guide = OPERATIONS.read_text()
        for variable in COMPOSE_VARIABLES:
            assert f"`{variable}`" in guide, f"docs/operations.md does not explain {variable}"

    def test_workers_do_not_outnumber_partitions(self) -> None:
        services = self._compose()["services"]
        partitions = _default(services["worker"]["environment"]["AMLSCREEN_TOPIC_PARTITIONS"])
        assert _default(services["worker"]["deploy"]["replicas"]) <= partitions
        assert services["topics"]["environment"]["PARTITIONS"] == "${PARTITIONS:-4}"
        assert str(partitions) == "4"

    def test_the_api_runs_several_processes_with_a_multiprocess_directory(self) -> None:
        api = self._compose()["services"]["api"]
        directory = api["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert any(mount.startswith(f"{directory}:") for mount in api["tmpfs"])
        assert "--workers" in api["command"]
        assert "amlscreen.asgi:create" in api["command"]

    def test_the_filing_profile_is_mounted_and_valid(self) -> None:
        """A fresh configuration mounts a profile that validates (the template: every export
        says what it still needs until the operator fills it in)."""
        compose = self._compose()
        services = compose["services"]
        for name in ("api", "worker"):
            path = services[name]["environment"]["AMLSCREEN_FILING_PROFILE"]
            mounts = [v for v in services[name]["volumes"] if v.split(":")[-2] == path]
            assert len(mounts) == 1, (name, services[name]["volumes"])
            assert mounts[0].endswith(":ro")
        source = compose["x-amlscreen"]["volumes"][1].split(":")[0]
        assert source == "${FILING_PROFILE"
        default = COMPOSE.parent / "filing-profile.json"
        profile = parse_profile(default, default.read_bytes())
        assert json.loads(default.read_text()) == template()
        status = profile_status(profile)
        assert status["ready"] is False
        assert (
            "transmitter.tcc (placeholder)"
            in (status["institutions"]["US-FI-0001"]["fincen-sar"]["needs"])
        )

    def test_every_topic_is_created(self, tmp_path: Path) -> None:
        """Every topic the workers are told of, with PARTITIONS partitions (deploy/kafka/setup.sh
        run against stand-ins of Kafka's tools)."""
        services = self._compose()["services"]
        assert services["topics"]["entrypoint"][-1] == "/etc/kafka/amlscreen/setup.sh"
        created = {
            call.option("--topic"): int(call.option("--partitions"))
            for call in run_setup(tmp_path, PARTITIONS="7")
            if call.tool == "kafka-topics.sh"
        }
        environment = services["worker"]["environment"]
        named = {
            topic
            for variable, topic in environment.items()
            if variable.startswith("AMLSCREEN_TOPIC_")
            and variable not in {"AMLSCREEN_TOPIC_PARTITIONS", "AMLSCREEN_TOPIC_INSTITUTION_PREFIX"}
        }
        assert named == {"aml.reports", "aml.reports.dlq", "aml.alerts"}
        assert created == dict.fromkeys(named, 7)

    def test_mounted_files_exist(self) -> None:
        for name, spec in self._compose()["services"].items():
            for volume in spec.get("volumes", []):
                source = volume.split(":", 1)[0]
                if source.startswith("."):
                    assert (COMPOSE.parent / source).exists(), f"{name}: {source}"
        build = self._compose()["x-amlscreen"]["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()


class TestKubernetes:
    def test_every_manifest_parses_and_is_listed(self) -> None:
        documents = _k8s_documents()
        kustomization = documents.pop("kustomization.yaml")[0]
        assert sorted(kustomization["resources"]) == sorted(documents)
        for name, docs in documents.items():
            assert docs, name
            for doc in docs:
                for key in ("apiVersion", "kind"):
                    assert doc[key], name
                assert doc["metadata"]["name"], name

    def test_every_object_matches_the_kubernetes_schema(self) -> None:
        """Strict: an unknown or misspelt field (readynessProbe) fails."""
        checked = 0
        for documents in _k8s_documents().values():
            for doc in documents:
                if doc["kind"] in CUSTOM_KINDS:
                    continue
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
                checked += 1
        assert checked >= 12

    def test_a_misspelt_field_is_refused(self) -> None:
        deployment = _k8s("Deployment", "amlscreen-api")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        container["readynessProbe"] = container.pop("readinessProbe")
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)

    def _containers(self) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for documents in _k8s_documents().values():
            for doc in documents:
                if doc["kind"] in {"Deployment", "Job"}:
                    pod = doc["spec"]["template"]["spec"]
                    assert pod["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
                    for container in pod["containers"]:
                        found.append((doc["metadata"]["name"], container))
        return found

    def test_containers_read_only_known_settings(self) -> None:
        configmap = _k8s("ConfigMap", "amlscreen")
        secret = _k8s("Secret", "amlscreen")
        known = known_env() | STANDARD_ENV
        assert set(configmap["data"]) <= known, set(configmap["data"]) - known
        assert set(secret["stringData"]) <= known
        assert "AMLSCREEN_DATABASE_URL" in secret["stringData"]
        assert "AMLSCREEN_DATABASE_URL" not in configmap["data"], "credentials belong in the Secret"
        containers = self._containers()
        assert {name for name, _ in containers} == {
            "amlscreen-api",
            "amlscreen-worker",
            "amlscreen-migrate",
        }
        for name, container in containers:
            assert container["image"] == "amlscreen", name  # kustomize sets registry and tag
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            refs = {next(iter(source.values()))["name"] for source in container.get("envFrom", [])}
            assert refs == {"amlscreen"}, name
            for variable in container.get("env", []):
                assert variable["name"] in known, f"{name}: {variable['name']}"

    def test_the_filing_profile_secret_is_mounted_into_api_and_worker(self) -> None:
        path = Path(_k8s("ConfigMap", "amlscreen")["data"]["AMLSCREEN_FILING_PROFILE"])
        secret = _k8s("Secret", "amlscreen-filing-profile")
        content = secret["stringData"][path.name].encode()
        parse_profile(path, content)
        assert json.loads(content) == template()
        for name in ("amlscreen-api", "amlscreen-worker"):
            pod = _k8s("Deployment", name)["spec"]["template"]["spec"]
            volumes = {v["name"]: v for v in pod["volumes"]}
            mounts = [
                m
                for m in pod["containers"][0]["volumeMounts"]
                if m["mountPath"] == str(path.parent)
            ]
            assert len(mounts) == 1, name
            assert mounts[0]["readOnly"] is True
            assert volumes[mounts[0]["name"]]["secret"]["secretName"] == "amlscreen-filing-profile"

    def test_worker_replicas_are_capped_by_partitions(self) -> None:
        partitions = int(_k8s("ConfigMap", "amlscreen")["data"]["AMLSCREEN_TOPIC_PARTITIONS"])
        worker = _k8s("Deployment", "amlscreen-worker")
        hpa = _k8s("HorizontalPodAutoscaler", "amlscreen-worker")
        assert worker["spec"]["replicas"] <= partitions
        assert hpa["spec"]["scaleTargetRef"]["name"] == "amlscreen-worker"
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] == partitions
        api_hpa = _k8s("HorizontalPodAutoscaler", "amlscreen-api")
        assert api_hpa["spec"]["scaleTargetRef"]["name"] == "amlscreen-api"

    def test_ports_services_and_monitors_agree(self) -> None:
        data = _k8s("ConfigMap", "amlscreen")["data"]
        ports = {
            name: {port["name"]: port["containerPort"] for port in container["ports"]}
            for name, container in self._containers()
            if "ports" in container
        }
        assert ports["amlscreen-api"] == {"http": int(data["AMLSCREEN_API_PORT"])}
        assert ports["amlscreen-worker"] == {"metrics": int(data["AMLSCREEN_WORKER_METRICS_PORT"])}
        for component, port_name in (("api", "http"), ("worker", "metrics")):
            deployment = _k8s("Deployment", f"amlscreen-{component}")
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
            # The Service name becomes the job label the rules and the dashboard use.
            service = _k8s("Service", f"amlscreen-{component}")
            assert service["spec"]["selector"].items() <= labels.items()
            assert [port["name"] for port in service["spec"]["ports"]] == [port_name]
            monitor = _k8s("ServiceMonitor", f"amlscreen-{component}")
            assert monitor["spec"]["selector"]["matchLabels"].items() <= (
                service["metadata"]["labels"].items()
            )
            assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == [port_name]
        readiness = _k8s("Deployment", "amlscreen-api")["spec"]["template"]["spec"]["containers"][0]
        assert readiness["readinessProbe"]["httpGet"]["path"] == "/readyz"

    def test_the_migration_job_upgrades(self) -> None:
        job = _k8s("Job", "amlscreen-migrate")
        assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


class TestGrafana:
    def test_provisioning(self) -> None:
        grafana = DEPLOY / "grafana" / "provisioning"
        datasources = yaml.safe_load((grafana / "datasources" / "prometheus.yml").read_text())
        assert datasources["datasources"][0]["type"] == "prometheus"
        assert datasources["datasources"][0]["url"] == "http://prometheus:9090"
        providers = yaml.safe_load((grafana / "dashboards" / "amlscreen.yml").read_text())
        path = providers["providers"][0]["options"]["path"]
        grafana_service = yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]
        assert f"./grafana/dashboards:{path}:ro" in grafana_service["volumes"]
        json.loads((DEPLOY / "grafana" / "dashboards" / "amlscreen.json").read_text())


class TestDockerfile:
    def _lines(self) -> list[str]:
        text = (DEPLOY / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
        return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]

    def test_multi_stage_slim_non_root(self) -> None:
        lines = self._lines()
        stages = [line for line in lines if line.startswith("FROM ")]
        assert len(stages) >= 2
        assert any("slim" in line for line in lines if line.startswith("ARG PYTHON_IMAGE"))
        users = [line.split()[1] for line in lines if line.startswith("USER ")]
        assert users
        assert users[-1].split(":")[0] not in {"0", "root"}
        assert lines.index(next(line for line in lines if line.startswith("USER "))) > (
            lines.index(stages[-1])
        ), "USER must be set in the final stage"
        assert 'ENTRYPOINT ["amlscreen"]' in lines

    def test_env_and_copies(self) -> None:
        lines = self._lines()
        for line in lines:
            if line.startswith("ENV "):
                for name in re.findall(r"\b([A-Z][A-Z0-9_]*)=", line):
                    assert name in known_env() | STANDARD_ENV | {
                        "PIP_DISABLE_PIP_VERSION_CHECK",
                        "PIP_NO_CACHE_DIR",
                    }, name
            if line.startswith("COPY ") and "--from" not in line:
                for source in line.split()[1:-1]:
                    assert (ROOT / source).exists(), source
        ignore = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text()
        wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
        packages = wheel["targets"]["wheel"]["packages"]
        assert {"amlscreen", "services", "streaming", "models", "refdata"} <= set(packages)
        for package in packages:
            assert f"!{package}/**" in ignore
            assert f"COPY {package} ./{package}" in lines

    def test_hadolint(self) -> None:
        result = subprocess.run(
            [_tool("hadolint"), str(DEPLOY / "docker" / "Dockerfile")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def test_the_user_matches_the_kubernetes_security_context(self) -> None:
        uid = int(
            next(line for line in self._lines() if line.startswith("USER "))
            .split()[1]
            .split(":")[0]
        )
        for name in ("amlscreen-api", "amlscreen-worker"):
            pod = _k8s("Deployment", name)["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsUser"] == uid


def test_deploy_readme_points_to_the_guide() -> None:
    assert "docs/operations.md" in (DEPLOY / "README.md").read_text()
    assert Path(OPERATIONS).is_file()
