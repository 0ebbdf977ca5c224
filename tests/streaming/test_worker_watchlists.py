"""The worker screens every report's subject and counterparty against the loaded lists
(embedded broker, real database): a hand-made SDN file, reports that name its trafficker and
front company in other spellings, near misses, and a dismissed false match that stays quiet."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from models.registry import load_bundle
from models.scoring import Scorer
from refdata.wire import ReportV1
from services.alerts.orm import Alert
from services.auth.enums import Role
from services.auth.service import Principal
from services.config import Settings
from services.db import transaction
from services.reports.orm import Report
from services.watchlists import service as watchlist_service
from services.watchlists.formats import ListFormat
from services.watchlists.orm import WatchlistMatch
from services.watchlists.service import IndexHolder
from streaming.detection import Detector
from streaming.metrics import WorkerMetrics
from streaming.producer import make_producer
from streaming.worker import Worker, make_consumer
from tests.fixtures.reports import make_report
from tests.models.test_registry import tiny_model

SDN = Path(__file__).parents[1] / "services" / "watchlists" / "data"


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(load_bundle(tiny_model()), threshold=1.01)  # only rule-forced alerts


def _report(index: int, name: str, *, counterparty: dict | None = None, **subject: object) -> dict:
    document = make_report(index, jurisdiction="MX", institution_id="MX-FI-0001")
    document["subject"] = {
        "subject_id": f"WL-{index}",
        "type": "person",
        "name": name,
        "country": "MX",
        "identifiers": [],
        **subject,
    }
    document["transaction"]["currency"] = "MXN"
    document["transaction"]["instrument"] = "wire"
    if counterparty is not None:
        document["transaction"]["counterparty"] = counterparty
    return document


def _produce(settings: Settings, documents: list[dict]) -> None:
    producer = make_producer(settings.bootstrap_servers)
    for document in documents:
        key = ReportV1.model_validate(document).subject_key.encode()
        producer.send(settings.topic_reports, key=key, value=orjson.dumps(document))
    producer.flush(timeout=30)
    producer.close()


def _run_worker(settings: Settings, sessions, scorer: Scorer) -> None:
    metrics = WorkerMetrics()
    consumer = make_consumer(settings)
    Worker(
        settings=settings,
        sessions=sessions,
        consumer=consumer,
        producer=make_producer(settings.bootstrap_servers),
        metrics=metrics,
        detector=Detector(
            scorer,
            assignment=consumer.assignment,
            metrics=metrics,
            watchlists=IndexHolder(refresh_s=0),
        ),
    ).run(idle_exit_s=6.0)


def _alerted(sessions) -> dict[str, list[str]]:
    with sessions() as session:
        return {
            alert.report_id: [
                hit["reason"] for hit in alert.rule_hits if hit["rule"] == "watchlist"
            ]
            for alert in session.scalars(select(Alert))
        }


@pytest.mark.parametrize("list_format", [ListFormat.SDN_CSV, ListFormat.SDN_XML])
def test_reports_naming_listed_parties_alert(
    settings, sessions, scorer, list_format: ListFormat
) -> None:
    path = SDN / ("sdn" if list_format is ListFormat.SDN_CSV else "sdn.xml")
    with transaction(sessions) as session:
        watchlist_service.load_version(
            session,
            name="ofac-sdn",
            parsed=watchlist_service.parse_file(path, list_format),
            list_format=list_format,
            loaded_by="cli:test",
        )
    documents = [
        # the trafficker, given names first, accents dropped
        _report(1, "Jose Ramon Mendez Avila"),
        # the front company as a counterparty, with another legal form
        _report(
            2,
            "Ana Lucia Torres",
            counterparty={"name": "Inmobiliaria Los Alamos del Pacifico LLC", "type": "entity"},
        ),
        # the trafficker's alias in Cyrillic as a counterparty
        _report(3, "Pablo Ortega", counterparty={"name": "Мендес Рамон", "country": "MX"}),
        # near misses: the listed common name with another date of birth; a namesake
        _report(4, "Juan Garcia Lopez", birth_date="1988-07-02"),
        _report(5, "Maria Garcia Lopez"),
        # nobody
        _report(6, "Luis Fernando Rivas"),
    ]
    _produce(settings, documents)
    _run_worker(settings, sessions, scorer)

    alerted = _alerted(sessions)
    assert sorted(alerted) == ["R-00000001", "R-00000002", "R-00000003"]
    assert "ofac-sdn entry 9001 'MENDEZ AVILA, Jose Ramon'" in alerted["R-00000001"][0]
    assert alerted["R-00000001"][0].startswith("Subject matches")
    assert "ofac-sdn entry 9002" in alerted["R-00000002"][0]
    assert alerted["R-00000002"][0].startswith("Counterparty matches")
    assert "ofac-sdn entry 9001" in alerted["R-00000003"][0]
    with sessions() as session:
        matches = {
            (row.report_id, row.entry_key, row.role, row.strength)
            for row in session.scalars(select(WatchlistMatch))
        }
        near_miss = session.scalars(select(Report).where(Report.report_id == "R-00000004")).one()
    assert matches == {
        ("R-00000001", "9001", "subject", "strong"),
        ("R-00000002", "9002", "counterparty", "strong"),
        ("R-00000003", "9001", "counterparty", "strong"),
    }
    assert not any("ofac-sdn" in reason for reason in near_miss.reasons or [])


def test_a_weak_match_is_a_reason_only_and_a_dismissed_match_stays_quiet(
    settings_factory, sessions, scorer
) -> None:
    with transaction(sessions) as session:
        watchlist_service.load_version(
            session,
            name="ofac-sdn",
            parsed=watchlist_service.parse_file(SDN / "sdn", ListFormat.SDN_CSV),
            list_format=ListFormat.SDN_CSV,
            loaded_by="cli:test",
        )
    first = settings_factory()
    # "Juan Garcia" without a date of birth: a weak match; the full name: a strong one.
    _produce(first, [_report(11, "Juan Garcia"), _report(12, "Juan Garcia Lopez")])
    _run_worker(first, sessions, scorer)
    assert sorted(_alerted(sessions)) == ["R-00000012"]
    with sessions() as session:
        weak = session.scalars(select(Report).where(Report.report_id == "R-00000011")).one()
        assert any("ofac-sdn entry 9003" in reason and "weak" in reason for reason in weak.reasons)
        strong = session.scalars(
            select(WatchlistMatch).where(WatchlistMatch.report_id == "R-00000012")
        ).one()
    with transaction(sessions) as session:
        watchlist_service.dismiss_match(
            session,
            principal=Principal(1, Role.INVESTIGATOR, None),
            match_id=strong.id,
            reason="a namesake: born 1990, RFC on file differs",
        )

    second = settings_factory()
    again = _report(13, "Juan Garcia Lopez")
    again["subject"]["subject_id"] = "WL-12"  # the same subject as R-00000012
    _produce(second, [again])
    _run_worker(second, sessions, scorer)
    assert sorted(_alerted(sessions)) == ["R-00000012"]  # no alert for R-00000013
    with sessions() as session:
        quiet = session.scalars(select(Report).where(Report.report_id == "R-00000013")).one()
    assert not any("ofac-sdn" in reason for reason in quiet.reasons or [])
