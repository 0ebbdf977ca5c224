"""Process settings: one ``Settings`` object per process, read from ``AMLSCREEN_*``."""

from __future__ import annotations

import re
import ssl
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from refdata.fx import load_rates
from services.alerts.policy import (
    DEFAULT_BUDGET_FLOOR,
    DEFAULT_BUDGET_MIN_SUBJECTS,
    DEFAULT_BUDGET_SHARE,
    DEFAULT_BUDGET_SPENDING,
    BudgetSpending,
)

if TYPE_CHECKING:
    from models.rules import RuleConfig

# Characters of a Kafka topic name.
_TOPIC_CHARS = re.compile(r"[A-Za-z0-9._-]+")


class Settings(BaseSettings):
    """Everything a process needs to know about its surroundings (DESIGN.md §4)."""

    model_config = SettingsConfigDict(env_prefix="AMLSCREEN_", extra="ignore", frozen=True)

    data_dir: Path = Path("./var")
    database_url: str = ""
    kafka_bootstrap: str = ""
    embedded_broker_port: int = Field(default=9092, ge=1, le=65535)
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    model_path: Path | None = None
    topic_reports: str = "aml.reports"
    topic_dlq: str = "aml.reports.dlq"
    topic_alerts: str = "aml.alerts"
    # One topic per file format (docs/usage.md): a message is one whole file.
    topic_reports_fincen: str = "aml.reports.fincen"
    topic_reports_iso20022: str = "aml.reports.iso20022"
    topic_reports_goaml: str = "aml.reports.goaml"
    topic_reports_csv: str = "aml.reports.csv"
    topic_partitions: int = Field(default=4, ge=1, le=1024)
    # Institution topics (docs/onboarding-kafka.md): institution X produces to
    # <prefix>X as its own Kafka principal; the worker refuses (DLQ, unauthorized) a report of
    # another institution there. Empty: no institution topics are consumed.
    topic_institution_prefix: str = "aml.reports.from."
    # Production: Kafka producers are institutions, each on its own topic. The worker then does
    # not consume the shared file-format topics (a file there names whichever institution it
    # likes); aml.reports stays, and the broker's ACLs must leave it to the API's principal.
    kafka_require_institution_topics: bool = False
    admin_token: SecretStr | None = None

    # Client security of every Kafka client we build (Settings.kafka_security). SASL_PLAINTEXT
    # is not offered: it would send reports in the clear after authenticating.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    # The CA that signed the brokers' certificates (default: the system's trust store), and a
    # client certificate (with its key, or the key in its own file) when the brokers ask for
    # one (mutual TLS).
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None

    consumer_group: str = "amlscreen-worker"
    worker_batch_size: int = Field(default=5000, ge=1, le=100_000)
    worker_poll_timeout_ms: int = Field(default=500, ge=10)
    # A worker that stops heartbeating (SIGKILL, OOM, a hung host) keeps its partitions this
    # long before the group moves them (kafka-python's default; heartbeats every third of it).
    worker_session_timeout_ms: int = Field(default=10_000, ge=1000, le=300_000)
    # Seconds a batch may spend expanding files from the format topics; the rest wait for the
    # next batch (a batch must end well inside the consumer's max_poll_interval_ms).
    worker_file_budget_s: float = Field(default=30.0, gt=0)
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)
    # Loopback by default; 0.0.0.0 in containers so Prometheus can scrape the worker.
    worker_metrics_host: str = "127.0.0.1"
    # A single message larger than this is refused to the DLQ without being parsed.
    max_message_bytes: int = Field(default=256 * 1024, ge=1024)
    ingest_max_items: int = Field(default=1000, ge=1)
    ingest_max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # POST /v1/reports/files streams the upload to a temporary file up to this size.
    ingest_max_file_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)
    # A message on a file-format topic (one whole file) may be this large.
    max_file_message_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # Official ISO 20022 schemas (pacs.008.001.NN.xsd) to validate pacs.008 against, if any.
    iso20022_xsd_dir: Path | None = None
    # The filing profile (default: filing-profile.json in the data directory).
    filing_profile: Path | None = None
    # The API replays the ledger at start and then this often (seconds; 0 = never).
    ledger_verify_interval_s: float = Field(default=3600.0, ge=0)
    # Closing as a FALSE_POSITIVE an alert scored at or above this (or a case holding one)
    # takes two people (services.alerts.approvals); None: one person may.
    false_positive_second_approval_score: float | None = Field(default=0.95, ge=0, le=1)
    # The operator's anchor from an earlier ledger verification (seq and hash of an entry):
    # the scheduled check verifies against it, and only a check against it (or none when
    # unset) moves the amlscreen_ledger_verification_ok alarm.
    ledger_anchor_seq: int | None = Field(default=None, ge=1)
    ledger_anchor_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    log_level: str = "INFO"
    # Exchange rates of detection (CSV currency,units_per_usd; refdata.fx). Unset: the shipped
    # approximate table. models.features reads the same variable (refdata.fx.configured_rates),
    # so the worker and `amlscreen score` convert alike.
    fx_rates_file: Path | None = None
    # The operator's rule file (models.rule_file: rules on or off, which force alerts, the
    # country lists; `amlscreen rules init` writes one). Unset: the shipped rules. The worker
    # and `amlscreen score` read the same file.
    rules_file: Path | None = None

    # The alert policy (services.alerts.policy): episodes, suppression, budget.
    # A FALSE_POSITIVE closure holds the same pattern on the same subject back this many days.
    alert_suppression_days: int = Field(default=30, ge=0, le=3650)
    # A score this much above the closed (or published) one is a material rise.
    alert_material_margin: float = Field(default=0.1, ge=0, le=1)
    # The volume the team can work: new alerts per day per institution, or a share of the
    # institution's active subjects over the window. By default a share: a model meets
    # populations it was never trained on, where its own threshold can alert a third of the
    # subjects (docs/detection.md); the budget keeps the queue workable. A share needs enough
    # subjects to mean something: for an institution with fewer active subjects in the window
    # than alert_budget_min_subjects no budget threshold is computed (the model's, or its last
    # one, stands). AMLSCREEN_ALERT_BUDGET_PER_DAY replaces the default share;
    # AMLSCREEN_ALERT_BUDGET=false turns the budget off.
    alert_budget: bool = True
    alert_budget_per_day: float | None = Field(default=None, gt=0)
    alert_budget_share: float | None = Field(default=DEFAULT_BUDGET_SHARE, gt=0, le=1)
    alert_budget_min_subjects: int = Field(default=DEFAULT_BUDGET_MIN_SUBJECTS, ge=1)
    alert_budget_window_days: int = Field(default=14, ge=1, le=365)
    alert_budget_recompute_hours: float = Field(default=6.0, gt=0)
    # The budget never lowers the threshold below this score.
    alert_budget_floor: float = Field(default=DEFAULT_BUDGET_FLOOR, ge=0, le=1)
    # "ranked": each recompute opens the alerts of the window's best subjects; "threshold": a
    # report opens one as it arrives above the live threshold (services.alerts.policy).
    alert_budget_spending: BudgetSpending = DEFAULT_BUDGET_SPENDING
    # Ranked spending recomputes when one of the institution's candidates arrives; once an
    # institution has held none for this many seconds (wall clock), the worker recomputes it
    # anyway, so that its last held reports are not left waiting (services.alerts.flows).
    alert_budget_quiet_seconds: float = Field(default=300.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _per_day_replaces_default_share(cls, data: Any) -> Any:
        """A budget per day stated alone replaces the default share (both stated: an error)."""
        if (
            isinstance(data, dict)
            and data.get("alert_budget_per_day") is not None
            and "alert_budget_share" not in data
        ):
            return {**data, "alert_budget_share": None}
        return data

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.admin_token is not None and len(self.admin_token.get_secret_value()) < 24:
            raise ValueError("AMLSCREEN_ADMIN_TOKEN must be at least 24 characters long")
        if self.fx_rates_file is not None:
            load_rates(self.fx_rates_file)  # a bad rate file stops the process at start
        if self.rules_file is not None:
            _ = self.rule_config  # and so does a bad rule file
        if self.alert_budget_per_day is not None and self.alert_budget_share is not None:
            raise ValueError(
                "set AMLSCREEN_ALERT_BUDGET_PER_DAY or AMLSCREEN_ALERT_BUDGET_SHARE, not both"
            )
        self._check_institution_topics()
        self._check_kafka_security()
        return self

    def _check_institution_topics(self) -> None:
        prefix = self.topic_institution_prefix
        if prefix and not _TOPIC_CHARS.fullmatch(prefix):
            raise ValueError(
                "AMLSCREEN_TOPIC_INSTITUTION_PREFIX may hold only letters, digits, '.', '_' and"
                f" '-' (Kafka topic names): {prefix!r}"
            )
        if prefix:
            for topic in self.shared_topics:
                if topic.startswith(prefix):
                    raise ValueError(
                        f"topic {topic!r} starts with AMLSCREEN_TOPIC_INSTITUTION_PREFIX"
                        f" {prefix!r}: it would be read as the topic of institution"
                        f" {topic[len(prefix) :]!r}; choose a prefix no other topic starts with"
                    )
        if self.kafka_require_institution_topics and not prefix:
            raise ValueError(
                "AMLSCREEN_KAFKA_REQUIRE_INSTITUTION_TOPICS needs institution topics:"
                " AMLSCREEN_TOPIC_INSTITUTION_PREFIX is empty"
            )

    def _check_kafka_security(self) -> None:
        protocol = self.kafka_security_protocol
        sasl = protocol == "SASL_SSL"
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(
                "AMLSCREEN_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs AMLSCREEN_KAFKA_SASL_USERNAME"
                " and AMLSCREEN_KAFKA_SASL_PASSWORD"
            )
        if not sasl and (self.kafka_sasl_username or self.kafka_sasl_password is not None):
            # Credentials that would be silently unused: the client would connect anonymously.
            raise ValueError(
                "AMLSCREEN_KAFKA_SASL_USERNAME/PASSWORD are set but"
                f" AMLSCREEN_KAFKA_SECURITY_PROTOCOL is {protocol}; set it to SASL_SSL"
            )
        files = {
            "AMLSCREEN_KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "AMLSCREEN_KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
            "AMLSCREEN_KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
        }
        for name, path in files.items():
            if path is None:
                continue
            if protocol == "PLAINTEXT":
                raise ValueError(
                    f"{name} is set but AMLSCREEN_KAFKA_SECURITY_PROTOCOL is PLAINTEXT;"
                    " set it to SSL or SASL_SSL"
                )
            if not path.is_file():
                raise ValueError(f"{name}: no such file: {path}")
        if self.kafka_ssl_keyfile is not None and self.kafka_ssl_certfile is None:
            raise ValueError("AMLSCREEN_KAFKA_SSL_KEYFILE needs AMLSCREEN_KAFKA_SSL_CERTFILE")
        if protocol != "PLAINTEXT" and self.embedded_broker:
            raise ValueError(
                f"AMLSCREEN_KAFKA_SECURITY_PROTOCOL={protocol} needs a broker:"
                " AMLSCREEN_KAFKA_BOOTSTRAP is empty, and the embedded broker speaks PLAINTEXT"
                " only (docs/onboarding-kafka.md)"
            )

    @cached_property
    def rule_config(self) -> RuleConfig:
        """The rules of ``AMLSCREEN_RULES_FILE``, or the shipped ones (RuleFileError if bad).

        Read once, when the settings are checked: the process screens with what it checked."""
        # Imported here: the rules bring Polars, which a process reading only its settings
        # (the API's start, the CLI's help) should not pay for.
        from models.rule_file import load_rule_file

        return load_rule_file(self.rules_file)

    @property
    def shared_topics(self) -> list[str]:
        """Every configured topic that is not an institution topic."""
        return [
            self.topic_reports,
            self.topic_dlq,
            self.topic_alerts,
            *self.format_topics,
        ]

    def institution_topic(self, institution_id: str) -> str:
        """The topic institution ``institution_id`` produces to."""
        if not self.topic_institution_prefix:
            raise ValueError(
                "institution topics are off: AMLSCREEN_TOPIC_INSTITUTION_PREFIX is empty"
            )
        if not _TOPIC_CHARS.fullmatch(institution_id):
            raise ValueError(
                f"institution {institution_id!r} cannot have a topic: Kafka topic names hold"
                " only letters, digits, '.', '_' and '-'"
            )
        return f"{self.topic_institution_prefix}{institution_id}"

    def topic_institution(self, topic: str) -> str | None:
        """The institution that owns ``topic``, or None for a shared topic."""
        prefix = self.topic_institution_prefix
        if prefix and topic.startswith(prefix) and len(topic) > len(prefix):
            return topic[len(prefix) :]
        return None

    def kafka_security(self) -> dict[str, Any]:
        """The security arguments of every kafka-python client (producer, consumer, admin).

        TLS goes through a context of our own: kafka-python 2.3's default one accepts TLS 1.0
        and loads a client certificate only when a separate key file is given. It stops at
        TLS 1.2: under TLS 1.3 a server sends its session tickets after the handshake, and
        kafka-python 2.3.3 closes a connection on which they arrive before its first request
        ("Socket EVENT_READ without in-flight-requests"), again and again
        (tests/streaming/test_kafka_tls.py). Kafka brokers accept TLS 1.2 unless told not to.
        Holds the SASL password in clear: never log it.
        """
        protocol = self.kafka_security_protocol
        config: dict[str, Any] = {"security_protocol": protocol}
        if protocol == "PLAINTEXT":
            return config
        context = ssl.create_default_context(
            cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        if self.kafka_ssl_certfile is not None:
            context.load_cert_chain(
                str(self.kafka_ssl_certfile),
                str(self.kafka_ssl_keyfile) if self.kafka_ssl_keyfile else None,
            )
        config["ssl_context"] = context
        if protocol == "SASL_SSL":
            assert self.kafka_sasl_password is not None  # _check_kafka_security
            config["sasl_mechanism"] = self.kafka_sasl_mechanism
            config["sasl_plain_username"] = self.kafka_sasl_username
            config["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        return config

    @cached_property
    def effective_database_url(self) -> str:
        """The configured database URL, or a SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'amlscreen.db').resolve()}"

    @property
    def filing_profile_path(self) -> Path:
        """Where the filing profile is read from."""
        return self.filing_profile or self.data_dir / "filing-profile.json"

    @property
    def format_topics(self) -> dict[str, str]:
        """File-format topic → format name (``services.reports.formats.FileFormat`` values);
        a topic set to the empty string is not consumed."""
        topics = {
            self.topic_reports_fincen: "fincen",
            self.topic_reports_iso20022: "iso20022",
            self.topic_reports_goaml: "goaml",
            self.topic_reports_csv: "csv",
        }
        return {topic: name for topic, name in topics.items() if topic}

    @property
    def embedded_broker(self) -> bool:
        """True when no external broker is configured and the embedded one is used."""
        return not self.kafka_bootstrap

    @property
    def bootstrap_servers(self) -> str:
        """The bootstrap address clients connect to."""
        return self.kafka_bootstrap or f"127.0.0.1:{self.embedded_broker_port}"

    @property
    def effective_model_path(self) -> Path:
        """Where the scoring model artefact lives."""
        return self.model_path or self.data_dir / "model" / "model.skops"
