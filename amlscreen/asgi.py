"""ASGI factory for running the API under a process manager with several workers.

``amlscreen api`` runs one process. For several processes on one host::

    PROMETHEUS_MULTIPROC_DIR=/run/amlscreen-metrics \\
        uvicorn --factory amlscreen.asgi:create --host 0.0.0.0 --port 8000 --workers 4

Each worker process calls :func:`create` and reads its own ``Settings`` from the environment.
With ``PROMETHEUS_MULTIPROC_DIR`` set (an empty directory), ``/metrics`` answers for all
processes together (see ``services.metrics``).
"""

from __future__ import annotations

from fastapi import FastAPI

from services.app import create_app
from services.config import Settings
from services.kit.logs import install_redaction
from streaming.producer import KafkaReportPublisher


def _publisher(settings: Settings) -> KafkaReportPublisher:
    return KafkaReportPublisher.from_settings(settings)


def create() -> FastAPI:
    """Builds the API app exactly as ``amlscreen api`` does, from the environment."""
    install_redaction()  # as amlscreen's main does: database errors logged by kind only
    return create_app(Settings(), _publisher)
