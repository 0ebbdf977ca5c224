"""``amlscreen up``: everything on one machine, stopped cleanly by Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

from amlscreen.synthetic import ensure_default_model
from models.registry import ModelArtefactError
from services.auth.enums import Role
from services.auth.service import replace_labelled_token
from services.config import Settings
from services.db import make_engine, transaction
from services.migrate import upgrade
from services.orm_registry import make_sessionmaker
from streaming.broker import EmbeddedBroker, ensure_topics

BOOTSTRAP_LABEL = "bootstrap admin (amlscreen up)"


def _say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - this is the command's console output


def _child_env(settings: Settings, bootstrap: str) -> dict[str, str]:
    env = dict(os.environ)
    env["AMLSCREEN_KAFKA_BOOTSTRAP"] = bootstrap
    env["AMLSCREEN_DATABASE_URL"] = settings.effective_database_url
    env["AMLSCREEN_DATA_DIR"] = str(settings.data_dir)
    env["AMLSCREEN_MODEL_PATH"] = str(settings.effective_model_path)
    return env


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _ensure_model(settings: Settings) -> None:
    """A verified model at the configured path, trained from the generator on first start."""
    path = settings.effective_model_path
    if not path.exists():
        _say(
            f"no scoring model at {path}: training the default model from the synthetic"
            " generator (first start only, about three minutes on two cores)"
        )
    # Training takes a while: Ctrl-C must stop it rather than wait for it.
    previous = signal.signal(signal.SIGINT, _interrupt), signal.signal(signal.SIGTERM, _interrupt)
    try:
        ensure_default_model(path)
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


def run_all(settings: Settings) -> int:
    """Starts broker (if none configured), migrates, then runs the API and one worker."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    broker: EmbeddedBroker | None = None
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if settings.embedded_broker:
            broker = EmbeddedBroker(settings.embedded_broker_port)
            broker.start()
        bootstrap = broker.bootstrap if broker else settings.bootstrap_servers
        ensure_topics(
            bootstrap,
            {
                settings.topic_reports: settings.topic_partitions,
                settings.topic_dlq: settings.topic_partitions,
                settings.topic_alerts: settings.topic_partitions,
                **dict.fromkeys(settings.format_topics, settings.topic_partitions),
            },
            security=settings.kafka_security(),
        )
        upgrade(settings.effective_database_url)
        try:
            _ensure_model(settings)
        except KeyboardInterrupt:
            return 130
        except ModelArtefactError as error:
            print(f"error: the scoring model cannot be used: {error}", file=sys.stderr)  # noqa: T201
            return 2
        engine = make_engine(settings.effective_database_url)
        try:
            with transaction(make_sessionmaker(engine)) as session:
                # The previous start's bootstrap token is revoked: one live admin token.
                admin_token = replace_labelled_token(
                    session,
                    role=Role.ADMIN,
                    label=BOOTSTRAP_LABEL,
                    token=settings.admin_token.get_secret_value() if settings.admin_token else None,
                )
        finally:
            engine.dispose()

        env = _child_env(settings, bootstrap)
        for command in ("api", "worker"):
            children.append(
                subprocess.Popen([sys.executable, "-m", "amlscreen.cli", command], env=env)
            )

        base = f"http://{settings.api_host}:{settings.api_port}"
        _say(
            "\n".join(
                [
                    "amlscreen is up",
                    f"  API            {base}  (OpenAPI docs at {base}/docs)",
                    f"  API metrics    {base}/metrics",
                    f"  worker metrics http://127.0.0.1:{settings.worker_metrics_port}/metrics",
                    f"  broker         {bootstrap}"
                    + ("  (embedded, memory only)" if broker else ""),
                    f"  database       {_redact(settings.effective_database_url)}",
                    f"  admin token    {admin_token}",
                    "Ctrl-C stops everything.",
                ]
            )
        )
        while not stopping:
            broker_code = broker.exit_code() if broker is not None else None
            if broker_code is not None:
                # API and worker would go on against a broker that is gone, with its messages.
                how = EmbeddedBroker.describe_exit(broker_code)
                _say(f"the embedded broker exited unexpectedly ({how}); stopping")
                return 1
            for child in children:
                if child.poll() is not None:
                    _say(f"a child process exited with code {child.returncode}; stopping")
                    return 1
            time.sleep(0.2)
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        if broker is not None:
            broker.stop()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
