"""The programme results report: every figure from data whose answer is known."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from services.alerts.orm import Alert
from services.assets import flows
from services.assets import service as assets
from services.assets.enums import AssetStatus
from services.assets.orm import Asset
from services.assets.schemas import (
    AssetCreate,
    DisbursementRequest,
    ParticipantCreate,
    TransitionRequest,
)
from services.auth.service import Principal
from services.cases.schemas import CaseCreate
from services.cases.service import create_case
from services.errors import Forbidden, ServiceError
from services.filings import service as filings
from services.filings.profile import FilingProfile
from services.kit.time import utc_now
from services.ledger import service as ledger
from services.programme.service import Period, build_report, programme_report, to_csv
from tests.fixtures.alerts import create_alerts, unique_index
from tests.fixtures.reports import make_report
from tests.services.filings.conftest import PROFILE
from tests.services.ledger.support import People, key, people

__all__ = ["people"]

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _move(
    session: Session, who: Principal, asset: Asset, to: AssetStatus, **fields: Any
) -> flows.Change:
    change = flows.transition(
        session,
        principal=who,
        asset_id=asset.id,
        request=TransitionRequest(to=to, **fields),
        idempotency_key=key(),
    )
    return change


def _approve(session: Session, people: People, change: Any) -> None:
    for view in change.entries:
        ledger.decide(
            session,
            principal=people.supervisor,
            seq=view.entry.seq,
            approve=True,
            idempotency_key=key(),
        )


def _cash(session: Session, people: People, value: int, case_number: str) -> Asset:
    asset, _ = assets.register(
        session,
        principal=people.investigator,
        data=AssetCreate(
            asset_type="currency",
            description="bulk cash",
            value_minor=value,
            currency="USD",
            jurisdiction="US",
            case_number=case_number,
        ),
    )
    _move(
        session, people.investigator, asset, AssetStatus.SEIZED, at=T, seizing_authority="federal"
    )
    _move(session, people.investigator, asset, AssetStatus.NOTICED, at=T + timedelta(days=5))
    change = _move(
        session, people.investigator, asset, AssetStatus.FORFEITED_ADMIN, at=T + timedelta(days=40)
    )
    _approve(session, people, change)
    return asset


def _shared_and_paid(session: Session, people: People) -> Asset:
    """Example 1 of docs/ledger.md §6: $100,000 shared between DEA, Texas DPS and Houston PD."""
    asset = _cash(session, people, 100_000_00, "TX-2026-0042")
    for agency, role, hours, originated in (
        ("DEA-HOU", "federal", 1000, False),
        ("TXDPS", "state", 2000, True),
        ("HPD", "local", 1000, False),
    ):
        assets.add_participant(
            session,
            principal=people.investigator,
            asset_id=asset.id,
            data=ParticipantCreate(
                agency_id=agency,
                agency_name=agency,
                country="US",
                role=role,
                work_hours=hours,
                originated_info=originated,
            ),
        )
    _move(
        session,
        people.investigator,
        asset,
        AssetStatus.SHARING_REQUESTED,
        at=T + timedelta(days=50),
    )
    decided = _move(
        session, people.investigator, asset, AssetStatus.SHARING_DECIDED, rationale="DAG-71 hours"
    )
    _approve(session, people, decided)
    for payable in ("agency:TXDPS:payable", "agency:HPD:payable"):
        paid = flows.disburse(
            session,
            principal=people.investigator,
            asset_id=asset.id,
            request=DisbursementRequest(account=payable),
            idempotency_key=key(),
        )
        _approve(session, people, paid)
    _move(session, people.investigator, asset, AssetStatus.DISBURSED, at=T + timedelta(days=70))
    return asset


def _remitted(session: Session, people: People) -> None:
    asset = _cash(session, people, 10_000_00, "TX-2026-0077")
    _move(session, people.investigator, asset, AssetStatus.REMISSION_PENDING, claimant="victim-1")
    change = _move(session, people.investigator, asset, AssetStatus.REMITTED, amount_minor=2_500_00)
    _approve(session, people, change)


def _decided_alerts(session: Session, people: People) -> list[Alert]:
    """Three US alerts raised at T (one closed after 2 h, one filed after 6 h, one open) and
    one MX alert, open."""
    us = create_alerts(session, [make_report(unique_index()) for _ in range(3)])
    mx_report = make_report(unique_index(), institution_id="MX-FI-0001", jurisdiction="MX")
    mx_report["transaction"].update(currency="MXN", location={"country": "MX"})
    mx_report["report_type"] = "TXN"
    (mx,) = create_alerts(session, [mx_report])
    for alert, decided, status, disposition in (
        (us[0], T + timedelta(hours=2), "CLOSED", "FALSE_POSITIVE"),
        (us[1], T + timedelta(hours=6), "FILED", None),
    ):
        session.execute(
            update(Alert)
            .where(Alert.id == alert.id)
            .values(created_at=T, decided_at=decided, status=status, disposition=disposition)
        )
    for alert in (us[2], mx):
        session.execute(update(Alert).where(Alert.id == alert.id).values(created_at=T))
    session.flush()
    session.expire_all()
    return [*us, mx]


@pytest.fixture
def period() -> Period:
    return Period.of(date(2026, 3, 1), utc_now().date())


class TestFigures:
    def test_a_period_of_screening_filing_and_forfeiture(
        self, session: Session, people: People, period: Period
    ) -> None:
        alerts = _decided_alerts(session, people)
        case = create_case(
            session,
            principal=people.investigator,
            request=CaseCreate(
                title="structuring", alert_ids=[alerts[2].id], narrative="Four deposits."
            ),
        )
        filings.export_fincen_sar(
            session,
            principal=people.investigator,
            case_id=case.id,
            profile=FilingProfile.model_validate(PROFILE),
            options=filings.SarOptions(),
        )
        _shared_and_paid(session, people)
        _remitted(session, people)

        report = build_report(session, period)
        us = next(item for item in report.countries if item.country == "US")
        mx = next(item for item in report.countries if item.country == "MX")
        assert us.reports_received == {"LVTR": 3}
        assert mx.reports_received == {"TXN": 1}
        assert report.total.reports_received == {"LVTR": 3, "TXN": 1}
        assert (us.subjects_screened, mx.subjects_screened) == (3, 1)
        assert (us.alerts_raised, mx.alerts_raised, report.total.alerts_raised) == (3, 1, 4)
        assert us.alert_decisions == {"CLOSED:FALSE_POSITIVE": 1, "FILED": 1}
        assert us.alert_to_decision.median == 4.0
        assert us.alert_to_decision.unit == "hours"
        assert mx.alert_decisions == {}
        assert us.exports == {"fincen-sar": 1}
        assert [(t.currency, t.count, t.amount_minor) for t in us.assets_seized] == [
            ("USD", 2, 110_000_00)
        ]
        assert [(t.count, t.amount_minor) for t in us.assets_forfeited] == [(2, 110_000_00)]
        assert [(t.count, t.amount_minor) for t in us.remitted] == [(1, 2_500_00)]
        assert [(s.key, s.amount_minor) for s in us.shared_by_agency] == [
            ("HPD", 22_222_22),
            ("TXDPS", 55_555_56),
            ("federal:US", 22_222_22),
        ]
        assert [(s.key, s.amount_minor) for s in us.shared_by_country] == [("US", 100_000_00)]
        assert us.seizure_to_disbursement.count == 1
        assert us.seizure_to_disbursement.median == 70.0
        assert report.total.shared_by_agency == us.shared_by_agency

    def test_alerts_count_in_the_period_they_were_raised(
        self, session: Session, people: People
    ) -> None:
        _decided_alerts(session, people)
        march = build_report(session, Period.of(date(2026, 3, 2), date(2026, 3, 2)))
        assert march.total.alerts_raised == 4
        assert march.total.alert_decisions == {"CLOSED:FALSE_POSITIVE": 1, "FILED": 1}
        april = build_report(session, Period.of(date(2026, 4, 1), date(2026, 4, 30)))
        assert april.total.alerts_raised == 0
        assert april.total.alert_decisions == {}
        assert april.total.alert_to_decision.median is None

    def test_csv_has_one_row_per_figure(self, session: Session, people: People) -> None:
        _decided_alerts(session, people)
        report = build_report(session, Period.of(date(2026, 3, 2), date(2026, 3, 2)))
        rows = list(csv.DictReader(io.StringIO(to_csv(report))))
        found = {(row["country"], row["metric"], row["key"]): row["value"] for row in rows}
        assert found[("US", "alerts_raised", "")] == "3"
        assert found[("MX", "alerts_raised", "")] == "1"
        assert found[("ALL", "alert_decisions", "FILED")] == "1"
        assert found[("US", "alert_to_decision_median_hours", "")] == "4.0"


class TestAccess:
    def test_reporters_never_see_it(self, session: Session, people: People, period: Period) -> None:
        with pytest.raises(Forbidden):
            programme_report(session, principal=people.reporter, period=period)
        assert programme_report(session, principal=people.auditor, period=period).total

    def test_a_backwards_period_is_a_422(self) -> None:
        with pytest.raises(ServiceError) as error:
            Period.of(date(2026, 3, 2), date(2026, 3, 1))
        assert error.value.status_code == 422
