"""The alert page's comparison: the subject's week against its own baseline and its peers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from services.alerts.repository import AlertRepository
from services.console.comparison import compare
from services.console.repository import QueueRepository
from tests.fixtures.alerts import create_alerts, store_reports, unique_index
from tests.fixtures.reports import make_report

AT = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def _report(subject: int, at: datetime, amount: str, **transaction: object) -> dict:
    index = unique_index()
    document = make_report(index)
    document["subject"]["subject_id"] = f"S-{subject}"
    document["subject"]["identifiers"] = [
        {"type": "SSN", "value": f"900-11-{subject:04d}", "country": "US"}
    ]
    document["transaction"].update(
        timestamp=at.isoformat().replace("+00:00", "Z"), amount=amount, **transaction
    )
    return document


def test_the_week_against_its_baseline_and_peers(session: Session) -> None:
    # The subject: 3 cash deposits of 1,000 in the week, 23 days before it 2 of 500 (one
    # cross-border); outside the 30 days, one that must not count.
    history = [
        _report(1, AT - timedelta(days=10), "500.00"),
        _report(1, AT - timedelta(days=20), "500.00", counterparty={"country": "MX"}),
        _report(1, AT - timedelta(days=40), "9000.00"),
        _report(1, AT - timedelta(days=2), "1000.00"),
        _report(1, AT - timedelta(days=1), "1000.00"),
    ]
    store_reports(session, history)
    (alert,) = create_alerts(session, [_report(1, AT, "1000.00")])
    # Peers of the same institution in the same week: 100 and 300 (median 200).
    store_reports(
        session,
        [
            _report(2, AT - timedelta(days=3), "100.00"),
            _report(3, AT - timedelta(days=4), "300.00"),
        ],
    )
    result = compare(session, alert, AlertRepository(session).report_of(alert))
    measures = {measure.key: measure for measure in result.measures}
    assert result.peers_compared == 2
    assert measures["reports"].current == 3
    assert measures["reports"].baseline == round(2 * 7 / 23, 2)
    assert measures["reports"].peers == 1
    assert measures["amount"].current == 3000_00
    assert measures["amount"].baseline == round(1000_00 * 7 / 23, 2)
    assert measures["amount"].peers == 200_00
    assert measures["cash"].current == 3000_00
    assert measures["cross_border"].baseline == round(500_00 * 7 / 23, 2)
    assert measures["cross_border"].current == 0


def test_distinct_values_walk_the_index(session: Session) -> None:
    create_alerts(session, [make_report(unique_index())], typology="fan_in")
    create_alerts(session, [make_report(unique_index()) for _ in range(3)], typology="fan_out")
    create_alerts(session, [make_report(unique_index())], typology=None)
    values = QueueRepository(session).distinct_values("typology")
    assert values == ["fan_in", "fan_out"]
