"""Authenticated Kafka ingest in deploy/ (DESIGN.md §8): SASL/SCRAM over TLS, ACLs.

Compose (deploy/kafka/) and Kubernetes (Strimzi resources in deploy/k8s/): every institution
principal may write its own topic and nothing else, the API and the worker have exactly what
they need, and passwords are referenced, never written in the manifests. What the workers read
and write is taken from the code (``streaming.worker.subscription``, the settings), so a
change of topics that the ACLs do not follow fails here. Nothing here runs Kafka: the broker
configuration is checked as text, deploy/kafka/setup.sh against stand-ins of Kafka's tools.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.config import Settings
from streaming.worker import subscription
from tests.deploy.conftest import (
    COMPOSE,
    DEPLOY,
    K8S,
    KAFKA,
    SETUP_PASSWORDS,
    kafka_properties,
    run_setup,
)

# An ACL as (resource type, name, pattern: literal | prefix, operation).
Acl = tuple[str, str, str, str]
INSTITUTION = "US-FI-0001"


def _grants(read: set[str], write: set[str], prefix: str, group: str) -> set[Acl]:
    """What the worker needs, as ACLs (Describe comes with every topic it touches)."""
    acls: set[Acl] = {("group", group, "literal", "Read")}
    for topic in read | write:
        acls.add(("topic", topic, "literal", "Describe"))
    acls |= {("topic", topic, "literal", "Read") for topic in read}
    acls |= {("topic", topic, "literal", "Write") for topic in write}
    acls |= {("topic", prefix, "prefix", operation) for operation in ("Read", "Describe")}
    return acls


def _needs(settings: Settings) -> tuple[set[Acl], set[Acl]]:
    """The ACLs of (the API, the worker) for these settings, derived from the code."""
    pattern = subscription(settings)
    assert isinstance(pattern, str), "production subscribes by pattern"
    compiled = re.compile(pattern)
    prefix = settings.topic_institution_prefix
    assert compiled.match(settings.institution_topic(INSTITUTION))
    # The shared topics the worker reads: what the pattern matches of the configured ones.
    read = {
        topic
        for topic in [settings.topic_reports, *settings.format_topics]
        if compiled.match(topic)
    }
    # Dead letters, alerts, and the reports it relays (files, institution topics).
    write = {settings.topic_dlq, settings.topic_alerts, settings.topic_reports}
    api = {
        ("topic", settings.topic_reports, "literal", "Write"),
        ("topic", settings.topic_reports, "literal", "Describe"),
    }
    return api, _grants(read, write, prefix, settings.consumer_group)


# ---- compose ------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _compose_settings(service: str) -> Settings:
    environment = {
        key: value
        for key, value in _compose()["services"][service]["environment"].items()
        if key.startswith("AMLSCREEN_")
        # Connection secrets and files of the running container: not needed to derive topics.
        and not key.startswith(("AMLSCREEN_KAFKA_S", "AMLSCREEN_DATABASE"))
    }
    environment["AMLSCREEN_TOPIC_PARTITIONS"] = "4"
    return Settings(**{key.removeprefix("AMLSCREEN_").lower(): v for key, v in environment.items()})


def _setup_acls(calls: list) -> dict[str, set[Acl]]:
    acls: dict[str, set[Acl]] = {}
    for call in calls:
        if call.tool != "kafka-acls.sh":
            continue
        assert "--add" in call.args
        assert not call.options("--deny-principal")
        [principal] = call.options("--allow-principal")
        kind = "topic" if call.options("--topic") else "group"
        name = call.option(f"--{kind}")
        pattern_types = call.options("--resource-pattern-type")
        pattern = {"prefixed": "prefix"}[pattern_types[0]] if pattern_types else "literal"
        for operation in call.options("--operation"):
            acls.setdefault(principal.removeprefix("User:"), set()).add(
                (kind, name, pattern, operation)
            )
    return acls


class TestComposeBroker:
    def test_clients_authenticate_by_scram_over_tls(self) -> None:
        properties = kafka_properties()
        protocols = dict(
            entry.split(":") for entry in properties["listener.security.protocol.map"].split(",")
        )
        listeners = {
            entry.split("://")[0]: entry.split("://")[1]
            for entry in properties["listeners"].split(",")
        }
        assert set(protocols) == set(listeners)
        for name, address in listeners.items():
            if protocols[name] != "SASL_SSL":
                # The node's own listeners: unreachable from outside its container.
                assert address.startswith("localhost:"), name
                assert name in {
                    properties["controller.listener.names"],
                    properties["inter.broker.listener.name"],
                }
            else:
                assert f"listener.name.{name.lower()}.scram-sha-512.sasl.jaas.config" in (
                    properties
                )
        assert {name for name, p in protocols.items() if p == "SASL_SSL"} == {
            "SASL_SSL",
            "EXTERNAL",
        }
        assert properties["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
        assert properties["ssl.enabled.protocols"] == "TLSv1.3,TLSv1.2"

    def test_everything_not_allowed_is_refused(self) -> None:
        properties = kafka_properties()
        assert properties["authorizer.class.name"].endswith("StandardAuthorizer")
        assert properties["allow.everyone.if.no.acl.found"] == "false"
        assert properties["super.users"] == "User:admin;User:ANONYMOUS"

    def test_no_secret_is_written_in_the_broker_configuration(self) -> None:
        for key, value in kafka_properties().items():
            if "password" in key:
                assert re.fullmatch(r"\$\{env:[A-Z_]+\}", value), key

    def test_the_admin_is_created_with_the_storage(self) -> None:
        script = (KAFKA / "start.sh").read_text()
        assert "--add-scram" in script
        assert "name=admin,password=$KAFKA_ADMIN_PASSWORD" in script
        kafka = _compose()["services"]["kafka"]
        assert kafka["entrypoint"][-1] == "/etc/kafka/amlscreen/start.sh"
        assert kafka["environment"]["KAFKA_ADMIN_PASSWORD"].startswith("${KAFKA_ADMIN_PASSWORD:?")


class TestComposePrincipals:
    def test_api_and_worker_have_exactly_what_they_need(self, tmp_path: Path) -> None:
        acls = _setup_acls(run_setup(tmp_path))
        api, worker = _needs(_compose_settings("worker"))
        assert acls == {"amlscreen-api": api, "amlscreen-worker": worker}

    def test_an_institution_writes_its_own_topic_only(self, tmp_path: Path) -> None:
        calls = run_setup(tmp_path, "institution", INSTITUTION)
        assert _setup_acls(calls) == {
            "institution-us-fi-0001": {
                ("topic", f"aml.reports.from.{INSTITUTION}", "literal", "Write"),
                ("topic", f"aml.reports.from.{INSTITUTION}", "literal", "Describe"),
            }
        }
        [topic] = [call for call in calls if call.tool == "kafka-topics.sh"]
        assert topic.option("--topic") == _compose_settings("worker").institution_topic(INSTITUTION)
        [user] = [call for call in calls if call.tool == "kafka-configs.sh"]
        assert user.option("--entity-name") == "institution-us-fi-0001"
        assert user.option("--add-config") == (
            f"SCRAM-SHA-512=[iterations=8192,password={SETUP_PASSWORDS['INSTITUTION_PASSWORD']}]"
        )

    @pytest.mark.parametrize("institution", ["US:FI:1", "aml reports", ""])
    def test_an_institution_kafka_cannot_name_is_refused(
        self, tmp_path: Path, institution: str
    ) -> None:
        assert run_setup(tmp_path, "institution", institution, check=False) == []

    @pytest.mark.parametrize(
        "variable", ["KAFKA_ADMIN_PASSWORD", "KAFKA_API_PASSWORD", "KAFKA_WORKER_PASSWORD"]
    )
    def test_a_password_kafka_configs_would_misread_is_refused(
        self, tmp_path: Path, variable: str
    ) -> None:
        calls = run_setup(tmp_path, check=False, **{variable: "a,b]c"})
        assert not [call for call in calls if call.tool == "kafka-configs.sh"]

    def test_passwords_come_from_the_environment(self, tmp_path: Path) -> None:
        calls = run_setup(tmp_path)
        users = {
            call.option("--entity-name"): call.option("--add-config")
            for call in calls
            if call.tool == "kafka-configs.sh"
        }
        assert users == {
            "amlscreen-api": "SCRAM-SHA-512=[iterations=8192,password=api-secret-2]",
            "amlscreen-worker": "SCRAM-SHA-512=[iterations=8192,password=worker-secret-3]",
        }
        for password in SETUP_PASSWORDS.values():
            assert password not in (KAFKA / "setup.sh").read_text()


class TestComposeClients:
    @pytest.mark.parametrize(
        ("service", "principal", "variable"),
        [("api", "amlscreen-api", "KAFKA_API_PASSWORD"),
         ("worker", "amlscreen-worker", "KAFKA_WORKER_PASSWORD")],
    )  # fmt: skip
    def test_each_connects_as_its_own_principal(
        self, tmp_path: Path, service: str, principal: str, variable: str
    ) -> None:
        spec = _compose()["services"][service]
        environment = spec["environment"]
        assert environment["AMLSCREEN_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert environment["AMLSCREEN_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert environment["AMLSCREEN_KAFKA_SASL_USERNAME"] == principal
        assert environment["AMLSCREEN_KAFKA_SASL_PASSWORD"] == (
            f"${{{variable}:?set {variable} in deploy/.env}}"
        )
        assert environment["AMLSCREEN_KAFKA_REQUIRE_INSTITUTION_TOPICS"] == "true"
        # The CA certificate alone is mounted, never the broker's key store.
        ca = Path(environment["AMLSCREEN_KAFKA_SSL_CAFILE"])
        mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in spec["volumes"]}
        assert mounts["kafka-ca"] == str(ca.parent)
        assert "kafka-tls" not in mounts
        assert principal in _setup_acls(run_setup(tmp_path))

    def test_processes_without_a_principal_stay_plaintext(self) -> None:
        environment = _compose()["services"]["migrate"]["environment"]
        assert not [key for key in environment if key.startswith("AMLSCREEN_KAFKA_S")]

    def test_no_kafka_password_is_written_in_compose(self) -> None:
        """Required from deploy/.env or the shell; no default to forget to change."""
        seen = 0
        for name, spec in _compose()["services"].items():
            for key, value in (spec.get("environment") or {}).items():
                if "PASSWORD" in key and "KAFKA" in key:
                    seen += 1
                    assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(value)), (name, key)
        assert seen >= 8

    def test_the_ca_is_made_where_the_clients_read_it(self) -> None:
        services = _compose()["services"]
        tls = services["kafka-tls"]
        assert tls["entrypoint"][-1] == "/etc/kafka/amlscreen/tls.sh"
        assert "kafka-ca:/etc/amlscreen-kafka" in tls["volumes"]
        assert "kafka-tls:/var/lib/kafka/tls" in tls["volumes"]
        assert kafka_properties()["ssl.keystore.location"] == "/var/lib/kafka/tls/broker.p12"
        for name in ("kafka", "topics"):
            assert services[name]["depends_on"], name


def test_the_compose_tls_script_makes_a_certificate_clients_accept(tmp_path: Path) -> None:
    """deploy/kafka/tls.sh with the JDK's keytool (as in the Kafka image): the broker's
    certificate is signed by the CA the clients get, for the names they connect to."""
    keytool = "/usr/bin/keytool"
    assert Path(keytool).exists(), "keytool is missing: apt-get install -y default-jre-headless"
    env = {
        "KAFKA_TLS_PASSWORD": "tls-secret-5",
        "TLS_DIR": str(tmp_path / "tls"),
        "CA_DIR": str(tmp_path / "ca"),
        "KEYTOOL": keytool,
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["sh", str(KAFKA / "tls.sh")], env=env, check=True, capture_output=True)
    chain = subprocess.run(
        ["openssl", "pkcs12", "-in", str(tmp_path / "tls" / "broker.p12"), "-nokeys",
         "-passin", "pass:tls-secret-5"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    (tmp_path / "chain.pem").write_text(chain)
    for host in ("kafka", "localhost"):
        verified = subprocess.run(
            ["openssl", "verify", "-CAfile", str(tmp_path / "ca" / "ca.pem"),
             "-untrusted", str(tmp_path / "chain.pem"), "-verify_hostname", host,
             str(tmp_path / "chain.pem")],
            capture_output=True, text=True,
        )  # fmt: skip
        assert verified.returncode == 0, verified.stdout + verified.stderr
    # A second run keeps what it made (a restart of the stack must not change the CA).
    ca = (tmp_path / "ca" / "ca.pem").read_bytes()
    subprocess.run(["sh", str(KAFKA / "tls.sh")], env=env, check=True, capture_output=True)
    assert (tmp_path / "ca" / "ca.pem").read_bytes() == ca


# ---- Kubernetes (Strimzi) -----------------------------------------------------------------


def _k8s(kind: str) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc is not None and doc["kind"] == kind
    ]


def _one(kind: str, name: str) -> dict[str, Any]:
    [found] = [doc for doc in _k8s(kind) if doc["metadata"]["name"] == name]
    return found


def _user_acls(user: dict[str, Any]) -> set[Acl]:
    acls: set[Acl] = set()
    for rule in user["spec"]["authorization"]["acls"]:
        resource = rule["resource"]
        assert rule.get("type", "allow") == "allow"
        assert resource["type"] in {"topic", "group"}
        assert resource["name"] != "*"
        for operation in rule["operations"]:
            acls.add((resource["type"], resource["name"], resource["patternType"], operation))
    return acls


def _k8s_settings() -> Settings:
    data = _one("ConfigMap", "amlscreen")["data"]
    return Settings(
        **{
            key.removeprefix("AMLSCREEN_").lower(): value
            for key, value in data.items()
            if key.startswith(("AMLSCREEN_TOPIC", "AMLSCREEN_KAFKA", "AMLSCREEN_CONSUMER"))
        }
    )


CLUSTER = "amlscreen-kafka"


class TestStrimzi:
    def test_every_listener_is_tls_with_scram(self) -> None:
        kafka = _one("Kafka", CLUSTER)["spec"]["kafka"]
        assert kafka["listeners"]
        for listener in kafka["listeners"]:
            assert listener["tls"] is True, listener["name"]
            assert listener["authentication"] == {"type": "scram-sha-512"}, listener["name"]
        assert kafka["authorization"]["type"] == "simple"
        assert "superUsers" not in kafka["authorization"]
        [pool] = _k8s("KafkaNodePool")
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == CLUSTER

    def test_every_user_authenticates_by_scram_and_belongs_to_the_cluster(self) -> None:
        for user in _k8s("KafkaUser") + _k8s("KafkaTopic"):
            assert user["metadata"]["labels"]["strimzi.io/cluster"] == CLUSTER
        for user in _k8s("KafkaUser"):
            assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
            assert user["spec"]["authorization"]["type"] == "simple"

    def test_api_and_worker_have_exactly_what_they_need(self) -> None:
        api, worker = _needs(_k8s_settings())
        assert _user_acls(_one("KafkaUser", "amlscreen-api")) == api
        assert _user_acls(_one("KafkaUser", "amlscreen-worker")) == worker

    def test_every_institution_writes_its_own_topic_only(self) -> None:
        settings = _k8s_settings()
        topics = {
            doc["spec"]["topicName"]: doc["metadata"]["labels"].get("amlscreen.io/institution")
            for doc in _k8s("KafkaTopic")
        }
        institutions = [
            user
            for user in _k8s("KafkaUser")
            if user["metadata"]["name"] not in {"amlscreen-api", "amlscreen-worker"}
        ]
        assert institutions, "kafka-institutions.yaml shows at least one institution"
        for user in institutions:
            institution = user["metadata"]["labels"]["amlscreen.io/institution"]
            assert user["metadata"]["name"] == f"institution-{institution.lower()}"
            topic = settings.institution_topic(institution)
            assert _user_acls(user) == {
                ("topic", topic, "literal", "Write"),
                ("topic", topic, "literal", "Describe"),
            }
            assert topics[topic] == institution
            assert settings.topic_institution(topic) == institution

    def test_no_one_else_writes_a_topic_the_worker_trusts(self) -> None:
        """aml.reports is trusted (the worker cannot tell its producer): the API and the worker
        alone write it. An institution topic is written by its institution alone."""
        settings = _k8s_settings()
        for user in _k8s("KafkaUser"):
            name = user["metadata"]["name"]
            for kind, resource, pattern, operation in _user_acls(user):
                if kind != "topic" or operation not in {"Write", "All"}:
                    continue
                if resource == settings.topic_reports:
                    assert name in {"amlscreen-api", "amlscreen-worker"}
                owner = settings.topic_institution(resource)
                if owner is not None or pattern == "prefix":
                    assert pattern == "literal", (name, resource)
                    assert name == f"institution-{owner.lower()}", (name, resource)

    def test_the_shared_topics_match_the_partition_count(self) -> None:
        settings = _k8s_settings()
        partitions = {
            doc["spec"]["topicName"]: doc["spec"]["partitions"] for doc in _k8s("KafkaTopic")
        }
        for topic in (settings.topic_reports, settings.topic_dlq, settings.topic_alerts):
            assert partitions[topic] == settings.topic_partitions, topic
        assert settings.kafka_require_institution_topics is True
        for topic in settings.format_topics:
            assert topic not in partitions, "the workers do not read the file-format topics"

    @pytest.mark.parametrize(
        ("deployment", "principal"),
        [("amlscreen-api", "amlscreen-api"), ("amlscreen-worker", "amlscreen-worker")],
    )
    def test_each_connects_as_its_own_principal(self, deployment: str, principal: str) -> None:
        pod = _one("Deployment", deployment)["spec"]["template"]["spec"]
        [container] = pod["containers"]
        env = {variable["name"]: variable for variable in container["env"]}
        assert env["AMLSCREEN_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
        assert env["AMLSCREEN_KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512"
        assert env["AMLSCREEN_KAFKA_SASL_USERNAME"]["value"] == principal
        # The password: referenced from the Secret Strimzi writes for the user, never inlined.
        password = env["AMLSCREEN_KAFKA_SASL_PASSWORD"]
        assert "value" not in password
        assert password["valueFrom"] == {"secretKeyRef": {"name": principal, "key": "password"}}
        _one("KafkaUser", principal)
        # The cluster CA from Strimzi's Secret, mounted where the settings read it.
        ca = Path(env["AMLSCREEN_KAFKA_SSL_CAFILE"]["value"])
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(ca.parent)]
        assert mount["readOnly"] is True
        secret = volumes[mount["name"]]["secret"]
        assert secret["secretName"] == f"{CLUSTER}-cluster-ca-cert"
        assert secret["items"] == [{"key": "ca.crt", "path": ca.name}]

    def test_the_configmap_holds_no_kafka_secret_and_points_at_the_tls_listener(self) -> None:
        data = _one("ConfigMap", "amlscreen")["data"]
        assert not [key for key in data if "PASSWORD" in key or "SASL" in key]
        host, port = data["AMLSCREEN_KAFKA_BOOTSTRAP"].split(":")
        assert host == f"{CLUSTER}-kafka-bootstrap"
        [tls] = [
            listener
            for listener in _one("Kafka", CLUSTER)["spec"]["kafka"]["listeners"]
            if listener["type"] == "internal"
        ]
        assert int(port) == tls["port"]
        # The migration Job has no principal: nothing in it asks for one.
        job = _one("Job", "amlscreen-migrate")["spec"]["template"]["spec"]["containers"][0]
        assert "env" not in job

    def test_no_secret_in_any_manifest(self) -> None:
        for path in sorted(DEPLOY.rglob("*")):
            if path.suffix in {".yaml", ".yml", ".properties", ".sh"}:
                text = path.read_text()
                assert "BEGIN PRIVATE KEY" not in text, path
                assert not re.search(r"sasl_plain_password|password=[A-Za-z0-9]", text), path
