"""Every Kafka client the project builds gets the configured security (TLS, SASL/SCRAM).

The client classes are replaced by recorders (a process boundary): what is checked is the
arguments they are built with. Whether kafka-python then authenticates is not tested here: the
embedded broker cannot take SCRAM users (docs/onboarding-kafka.md, "What is tested").
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import amlscreen.asgi
import amlscreen.simulate
import streaming.broker
import streaming.producer
import streaming.worker
from services.config import Settings
from streaming.broker import ensure_topics
from streaming.producer import KafkaReportPublisher, make_producer
from streaming.worker import make_consumer

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-scram-password"  # noqa: S105 - a test value


class Recorder:
    """Stands in for KafkaProducer / KafkaConsumer / KafkaAdminClient."""

    built: list[tuple[str, dict[str, Any]]] = []

    def __init__(self, *topics: str, **config: Any) -> None:
        Recorder.built.append((type(self).__name__, config))

    def topics(self) -> set[str]:
        return set()

    def create_topics(self, topics: Any) -> None:
        pass

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass


class Producer(Recorder):
    pass


class Consumer(Recorder):
    pass


class Admin(Recorder):
    pass


@pytest.fixture
def built(monkeypatch) -> list[tuple[str, dict[str, Any]]]:
    Recorder.built = []
    monkeypatch.setattr(streaming.producer, "KafkaProducer", Producer)
    monkeypatch.setattr(streaming.worker, "KafkaConsumer", Consumer)
    monkeypatch.setattr(streaming.broker, "KafkaConsumer", Consumer)
    monkeypatch.setattr(streaming.broker, "KafkaAdminClient", Admin)
    return Recorder.built


@pytest.fixture
def settings() -> Settings:
    return Settings(
        kafka_bootstrap="kafka-0.example:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="amlscreen-worker",
        kafka_sasl_password=PASSWORD,
    )


def _secured(config: dict[str, Any]) -> bool:
    return (
        config["bootstrap_servers"] == "kafka-0.example:9093"
        and config["security_protocol"] == "SASL_SSL"
        and config["sasl_mechanism"] == "SCRAM-SHA-512"
        and config["sasl_plain_username"] == "amlscreen-worker"
        and config["sasl_plain_password"] == PASSWORD
        and config["ssl_context"].verify_mode.name == "CERT_REQUIRED"
    )


def test_the_workers_consumer(built, settings) -> None:
    make_consumer(settings)
    [(kind, config)] = built
    assert kind == "Consumer"
    assert _secured(config)
    assert config["group_id"] == "amlscreen-worker"


def test_a_producer(built, settings) -> None:
    make_producer(settings.bootstrap_servers, security=settings.kafka_security(), linger_ms=1)
    [(kind, config)] = built
    assert kind == "Producer"
    assert _secured(config)
    assert config["acks"] == "all"
    assert config["linger_ms"] == 1


def test_the_apis_publisher(built, settings) -> None:
    KafkaReportPublisher.from_settings(settings)
    amlscreen.asgi._publisher(settings)
    assert [kind for kind, _ in built] == ["Producer", "Producer"]
    assert all(_secured(config) for _, config in built)


def test_topic_creation(built, settings) -> None:
    ensure_topics(
        settings.bootstrap_servers, {"aml.reports": 4}, security=settings.kafka_security()
    )
    assert [kind for kind, _ in built] == ["Admin", "Consumer"]
    assert all(_secured(config) for _, config in built)


def test_the_simulators_producer(built, settings, monkeypatch) -> None:
    monkeypatch.setattr(amlscreen.simulate, "_reachable", lambda *_: True)
    amlscreen.simulate.KafkaSink.from_settings(settings)
    assert [kind for kind, _ in built] == ["Admin", "Consumer", "Producer"]
    assert all(_secured(config) for _, config in built)


def test_plaintext_stays_as_it_was(built) -> None:
    settings = Settings(kafka_bootstrap="kafka:9092")
    make_consumer(settings)
    make_producer(settings.bootstrap_servers, security=settings.kafka_security())
    for _, config in built:
        assert config["security_protocol"] == "PLAINTEXT"
        assert not {"ssl_context", "sasl_mechanism", "sasl_plain_password"} & set(config)


# Calls in the shipped code that build a client without the settings' security: only those
# that talk to the embedded broker, which speaks PLAINTEXT only.
_EMBEDDED_ONLY = {("amlscreen/cli.py", "ensure_topics")}
_BUILDERS = {"make_producer", "ensure_topics"}
_CLIENTS = {"KafkaProducer", "KafkaConsumer", "KafkaAdminClient"}
# Where the client classes themselves may be built: the builders above.
_CLIENT_HOMES = {"streaming/producer.py", "streaming/worker.py", "streaming/broker.py"}


def test_every_client_in_the_shipped_code_gets_the_security() -> None:
    """A new call site that forgets ``security=`` would connect in PLAINTEXT: caught here."""
    seen = 0
    for package in ("amlscreen", "services", "streaming"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name in _CLIENTS:
                    assert relative in _CLIENT_HOMES, f"{relative}: {name} built directly"
                if name in _BUILDERS and (relative, name) not in _EMBEDDED_ONLY:
                    seen += 1
                    keywords = {keyword.arg for keyword in node.keywords}
                    assert "security" in keywords, f"{relative}:{node.lineno}: {name}"
    assert seen >= 4
