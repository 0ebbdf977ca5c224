"""Settings: institution topics, the Kafka client's security (TLS, SASL/SCRAM), the alert
budget."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.alerts.policy import DEFAULT_BUDGET_FLOOR, DEFAULT_BUDGET_SHARE, AlertPolicy
from services.config import Settings

PASSWORD = "s3cret-scram-password"  # noqa: S105 - a test value


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a client certificate signed by it (openssl, as an operator would make them)."""
    directory = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=amlscreen test CA",
    )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
        "-subj", "/CN=amlscreen-worker",
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "client.pem",
    )  # fmt: skip
    (directory / "client-with-key.pem").write_bytes(
        (directory / "client.pem").read_bytes() + (directory / "client.key").read_bytes()
    )
    return {
        name: directory / f"{name}.pem" if name != "key" else directory / "client.key"
        for name in ("ca", "client", "key", "client-with-key")
    }


def _sasl(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "kafka_bootstrap": "kafka-0.example:9093",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_username": "amlscreen-worker",
        "kafka_sasl_password": PASSWORD,
    }
    values.update(overrides)
    return Settings(**values)


class TestKafkaSecurity:
    def test_plaintext_by_default(self) -> None:
        assert Settings().kafka_security() == {"security_protocol": "PLAINTEXT"}

    def test_sasl_ssl_with_the_operators_ca(self, pki) -> None:
        config = _sasl(kafka_ssl_cafile=pki["ca"]).kafka_security()
        context = config.pop("ssl_context")
        assert config == {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": "amlscreen-worker",
            "sasl_plain_password": PASSWORD,
        }
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode is ssl.CERT_REQUIRED
        assert context.check_hostname is True
        assert context.minimum_version is ssl.TLSVersion.TLSv1_2
        # kafka-python 2.3.3 and TLS 1.3 session tickets: tests/streaming/test_kafka_tls.py.
        assert context.maximum_version is ssl.TLSVersion.TLSv1_2
        assert [ca["subject"] for ca in context.get_ca_certs()] == [
            ((("commonName", "amlscreen test CA"),),)
        ]

    def test_scram_sha_256(self) -> None:
        config = _sasl(kafka_sasl_mechanism="SCRAM-SHA-256").kafka_security()
        assert config["sasl_mechanism"] == "SCRAM-SHA-256"
        # No CA file: the system's trust store, still verified.
        assert config["ssl_context"].verify_mode is ssl.CERT_REQUIRED

    @pytest.mark.parametrize("key_apart", [True, False], ids=["key-file", "key-in-cert"])
    def test_mutual_tls(self, pki, key_apart: bool) -> None:
        settings = Settings(
            kafka_bootstrap="kafka-0.example:9093",
            kafka_security_protocol="SSL",
            kafka_ssl_cafile=pki["ca"],
            kafka_ssl_certfile=pki["client"] if key_apart else pki["client-with-key"],
            kafka_ssl_keyfile=pki["key"] if key_apart else None,
        )
        config = settings.kafka_security()
        assert set(config) == {"security_protocol", "ssl_context"}
        assert config["security_protocol"] == "SSL"

    def test_read_from_the_environment(self, monkeypatch, pki) -> None:
        for name, value in {
            "KAFKA_BOOTSTRAP": "kafka-0.example:9093",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "amlscreen-api",
            "KAFKA_SASL_PASSWORD": PASSWORD,
            "KAFKA_SSL_CAFILE": str(pki["ca"]),
        }.items():
            monkeypatch.setenv(f"AMLSCREEN_{name}", value)
        config = Settings().kafka_security()
        assert config["sasl_plain_username"] == "amlscreen-api"
        assert config["sasl_plain_password"] == PASSWORD

    def test_the_password_is_never_shown(self) -> None:
        settings = _sasl()
        assert PASSWORD not in repr(settings)
        assert PASSWORD not in str(settings)
        assert PASSWORD not in str(settings.model_dump())

    @pytest.mark.parametrize(
        ("values", "message"),
        [
            (
                {"kafka_sasl_username": None},
                "SASL_SSL needs AMLSCREEN_KAFKA_SASL_USERNAME and AMLSCREEN_KAFKA_SASL_PASSWORD",
            ),
            (
                {"kafka_sasl_password": None},
                "SASL_SSL needs AMLSCREEN_KAFKA_SASL_USERNAME and AMLSCREEN_KAFKA_SASL_PASSWORD",
            ),
            (
                {"kafka_security_protocol": "PLAINTEXT"},
                "AMLSCREEN_KAFKA_SASL_USERNAME/PASSWORD are set but"
                " AMLSCREEN_KAFKA_SECURITY_PROTOCOL is PLAINTEXT",
            ),
            (
                {"kafka_security_protocol": "SSL"},
                "AMLSCREEN_KAFKA_SECURITY_PROTOCOL is SSL; set it to SASL_SSL",
            ),
            ({"kafka_security_protocol": "SASL_PLAINTEXT"}, "kafka_security_protocol"),
            ({"kafka_sasl_mechanism": "PLAIN"}, "kafka_sasl_mechanism"),
            (
                {"kafka_ssl_cafile": Path("/nonexistent/ca.pem")},
                "AMLSCREEN_KAFKA_SSL_CAFILE: no such file: /nonexistent/ca.pem",
            ),
            (
                {"kafka_bootstrap": ""},
                "AMLSCREEN_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs a broker",
            ),
        ],
    )
    def test_invalid_combinations_stop_the_process_at_start(
        self, values: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
            _sasl(**values)

    def test_files_without_tls_are_refused(self, pki) -> None:
        with pytest.raises(ValidationError, match="AMLSCREEN_KAFKA_SSL_CAFILE is set but"):
            Settings(kafka_bootstrap="kafka:9092", kafka_ssl_cafile=pki["ca"])

    def test_a_key_without_its_certificate_is_refused(self, pki) -> None:
        with pytest.raises(ValidationError, match="KEYFILE needs AMLSCREEN_KAFKA_SSL_CERTFILE"):
            _sasl(kafka_ssl_keyfile=pki["key"])


class TestInstitutionTopics:
    def test_topic_and_owner(self) -> None:
        settings = Settings()
        assert settings.institution_topic("US-FI-0001") == "aml.reports.from.US-FI-0001"
        assert settings.topic_institution("aml.reports.from.US-FI-0001") == "US-FI-0001"
        for shared in ("aml.reports", "aml.reports.dlq", "aml.reports.fincen", "aml.alerts"):
            assert settings.topic_institution(shared) is None
        assert settings.topic_institution("aml.reports.from.") is None

    def test_an_institution_id_kafka_cannot_name(self) -> None:
        # Institution ids may hold ':', topic names may not.
        with pytest.raises(ValueError, match="cannot have a topic"):
            Settings().institution_topic("US:FI:1")

    def test_a_prefix_another_topic_starts_with_is_refused(self) -> None:
        with pytest.raises(
            ValidationError,
            match="topic 'aml.reports.dlq' starts with AMLSCREEN_TOPIC_INSTITUTION_PREFIX",
        ):
            Settings(topic_institution_prefix="aml.reports.")

    def test_a_prefix_kafka_cannot_name_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="may hold only letters"):
            Settings(topic_institution_prefix="aml reports/")

    def test_off(self) -> None:
        settings = Settings(topic_institution_prefix="")
        assert settings.topic_institution("aml.reports.from.US-FI-0001") is None
        with pytest.raises(ValueError, match="institution topics are off"):
            settings.institution_topic("US-FI-0001")

    def test_production_needs_institution_topics(self) -> None:
        with pytest.raises(ValidationError, match="needs institution topics"):
            Settings(kafka_require_institution_topics=True, topic_institution_prefix="")


class TestAlertBudget:
    """The service screens with an alert budget unless told otherwise (docs/detection.md)."""

    def test_a_share_of_active_subjects_by_default(self) -> None:
        policy = AlertPolicy.from_settings(Settings())
        assert policy.budgeted
        assert (policy.budget_share, policy.budget_per_day) == (DEFAULT_BUDGET_SHARE, None)
        assert policy.describe()["budget"] == f"{DEFAULT_BUDGET_SHARE:g} of active subjects"

    def test_the_default_floor_keeps_a_quiet_windows_allowance(self, monkeypatch) -> None:
        policy = AlertPolicy.from_settings(Settings())
        assert policy.budget_floor == DEFAULT_BUDGET_FLOOR == 0.3
        assert policy.describe()["budget_floor"] == 0.3
        monkeypatch.setenv("AMLSCREEN_ALERT_BUDGET_FLOOR", "0.05")
        assert AlertPolicy.from_settings(Settings()).budget_floor == 0.05

    def test_ranked_spending_by_default_threshold_on_request(self, monkeypatch) -> None:
        policy = AlertPolicy.from_settings(Settings())
        assert policy.budget_spending == "ranked"
        assert policy.ranked
        assert policy.describe()["budget_spending"] == "ranked"
        monkeypatch.setenv("AMLSCREEN_ALERT_BUDGET_SPENDING", "threshold")
        assert not AlertPolicy.from_settings(Settings()).ranked
        monkeypatch.setenv("AMLSCREEN_ALERT_BUDGET_SPENDING", "first-come")
        with pytest.raises(ValidationError, match="ranked"):
            Settings()

    def test_quiet_institutions_are_swept_after_five_minutes_by_default(self, monkeypatch) -> None:
        assert Settings().alert_budget_quiet_seconds == 300.0
        monkeypatch.setenv("AMLSCREEN_ALERT_BUDGET_QUIET_SECONDS", "30")
        assert Settings().alert_budget_quiet_seconds == 30.0
        monkeypatch.setenv("AMLSCREEN_ALERT_BUDGET_QUIET_SECONDS", "0")
        with pytest.raises(ValidationError, match="greater than 0"):
            Settings()

    def test_a_budget_per_day_replaces_the_default_share(self, monkeypatch) -> None:
        monkeypatch.setenv("AMLSCREEN_ALERT_BUDGET_PER_DAY", "4")
        policy = AlertPolicy.from_settings(Settings())
        assert (policy.budget_per_day, policy.budget_share) == (4.0, None)

    def test_both_stated_is_an_error(self, monkeypatch) -> None:
        monkeypatch.setenv("AMLSCREEN_ALERT_BUDGET_PER_DAY", "4")
        monkeypatch.setenv("AMLSCREEN_ALERT_BUDGET_SHARE", "0.01")
        with pytest.raises(ValidationError, match="not both"):
            Settings()

    def test_off(self, monkeypatch) -> None:
        monkeypatch.setenv("AMLSCREEN_ALERT_BUDGET", "false")
        policy = AlertPolicy.from_settings(Settings())
        assert not policy.budgeted
        assert policy.describe()["budget"] is None
